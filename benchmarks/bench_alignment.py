"""In-class gradient alignment Ω_in-class (EM eq. 5–6) over the per-example gradients of a
3072-1024-10 MLP (sin activation, softmax cross-entropy), three ways, in one run:

- streaming: minibatches of per-example gradient *factors* (G, R, δ, x), per class only
  Σg, Σ‖g‖², Σ‖g‖ kept — O(n), never forming a per-example gradient;
- pairwise: the O(n²) definition, class by class, with the n_c × n_c Gram matrix of
  per-example gradients formed from the factors
  (⟨g_i, g_j⟩ = ⟨G_i, G_j⟩⟨R_i, R_j⟩ + ⟨δ_i, δ_j⟩⟨x_i, x_j⟩);
- per-example loop: what an autodiff framework without vectorised per-example gradients does
  — one example at a time, its full 3.16M-entry gradient formed and accumulated. Timed on
  ``--loop-examples`` examples and extrapolated linearly to n (stated in the output).

Time (wall) and peak memory (tracemalloc, which sees NumPy's allocations; CuPy: the memory
pool's peak) go to results/alignment_<backend>.json.

    python benchmarks/bench_alignment.py [--n 50000] [--backend numpy|cupy]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np

from overparam.numerics import alignment as al
from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.mlp import per_example_factors


def _sync(xp) -> None:
    if xp.__name__ == "cupy":
        xp.cuda.Stream.null.synchronize()


def measured(xp, fn):
    """(result, seconds, peak bytes) of fn()."""
    _sync(xp)
    if xp.__name__ == "cupy":
        pool = xp.get_default_memory_pool()
        pool.free_all_blocks()
        start_bytes = pool.used_bytes()
    else:
        tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    _sync(xp)
    seconds = time.perf_counter() - t
    if xp.__name__ == "cupy":
        peak = pool.total_bytes() - start_bytes
    else:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out, seconds, peak


def streaming(xp, X, y, W1, W2, batch):
    acc = al.AlignmentAccumulator()
    for s in range(0, X.shape[0], batch):
        f = per_example_factors(X[s:s + batch], W1, W2, y[s:s + batch], act="sin",
                                loss="softmax_ce")
        acc.update_mlp(f, to_numpy(y[s:s + batch]))
    return acc.result().mean


def pairwise(xp, X, y, W1, W2, batch):
    parts = [per_example_factors(X[s:s + batch], W1, W2, y[s:s + batch], act="sin",
                                 loss="softmax_ce") for s in range(0, X.shape[0], batch)]
    F = {k: xp.concatenate([p[k] for p in parts]) for k in ("X", "R", "G", "delta")}
    labels = to_numpy(y)
    vals = []
    for c in np.unique(labels):
        m = xp.asarray(labels == c)
        Xc, Rc, Gc, Dc = F["X"][m], F["R"][m], F["G"][m], F["delta"][m]
        gram = (Gc @ Gc.T) * (Rc @ Rc.T) + (Dc @ Dc.T) * (Xc @ Xc.T)
        n = gram.shape[0]
        diag = xp.diag(gram)
        vals.append(n * float(gram.sum() - diag.sum()) /
                    ((n - 1) * float(xp.sqrt(diag).sum()) ** 2))
    return float(np.mean(vals))


def per_example_loop(xp, X, y, W1, W2, count):
    sums, sq, norms, counts = {}, {}, {}, {}
    for i in range(count):
        f = per_example_factors(X[i:i + 1], W1, W2, y[i:i + 1], act="sin", loss="softmax_ce")
        g = xp.concatenate([xp.outer(f["delta"][0], f["X"][0]).ravel(),
                            xp.outer(f["G"][0], f["R"][0]).ravel()])
        c = int(y[i])
        sums[c] = sums.get(c, 0) + g
        sq[c] = sq.get(c, 0.0) + float(g @ g)
        norms[c] = norms.get(c, 0.0) + math.sqrt(float(g @ g))
        counts[c] = counts.get(c, 0) + 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--backend", default="numpy", choices=("numpy", "cupy"))
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--loop-examples", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    xp = get_xp(backend=args.backend)
    rng = np.random.default_rng(0)
    d, h, k = 3072, 1024, 10
    X = xp.asarray(rng.normal(0, 1, (args.n, d)) / math.sqrt(d))
    y = xp.asarray(rng.integers(0, k, args.n))
    W1 = xp.asarray(rng.normal(0, 1.0, (h, d)))
    lim = math.sqrt(6 / (h + k))
    W2 = xp.asarray(rng.uniform(-lim, lim, (k, h)))
    rows = {}
    # warm-up on a slice: CuPy compiles its kernels on first use, NumPy touches its BLAS
    warm = min(2 * args.batch, args.n)
    streaming(xp, X[:warm], y[:warm], W1, W2, args.batch)
    pairwise(xp, X[:warm], y[:warm], W1, W2, args.batch)
    per_example_loop(xp, X, y, W1, W2, 2)
    val, s, peak = measured(xp, lambda: streaming(xp, X, y, W1, W2, args.batch))
    rows["streaming"] = {"seconds": s, "peak_bytes": peak, "omega_in_class": val}
    val, s, peak = measured(xp, lambda: pairwise(xp, X, y, W1, W2, args.batch))
    rows["pairwise"] = {"seconds": s, "peak_bytes": peak, "omega_in_class": val}
    _, s, peak = measured(xp, lambda: per_example_loop(xp, X, y, W1, W2, args.loop_examples))
    rows["per_example_loop"] = {"seconds_measured": s, "examples_measured": args.loop_examples,
                                "seconds_extrapolated": s * args.n / args.loop_examples,
                                "peak_bytes": peak}
    out = {"machine": platform.platform(), "backend": args.backend, "n": args.n,
           "mlp": [d, h, k], "gradient_entries_per_example": h * d + k * h, "results": rows,
           "agreement_streaming_vs_pairwise": abs(rows["streaming"]["omega_in_class"]
                                                  - rows["pairwise"]["omega_in_class"])}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"alignment_{args.backend}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    st, pw, lp = rows["streaming"], rows["pairwise"], rows["per_example_loop"]
    print("| method | backend | time (s) | peak memory (MB) | vs streaming |")
    print("|---|---|---|---|---|")
    print(f"| streaming O(n) | {args.backend} | {st['seconds']:.1f} | "
          f"{st['peak_bytes'] / 2**20:.0f} | 1× |")
    print(f"| pairwise O(n²) | {args.backend} | {pw['seconds']:.1f} | "
          f"{pw['peak_bytes'] / 2**20:.0f} | {pw['seconds'] / st['seconds']:.1f}× |")
    print(f"| per-example loop | {args.backend} | {lp['seconds_extrapolated']:.0f} "
          f"(extrapolated from {lp['examples_measured']}) | {lp['peak_bytes'] / 2**20:.0f} | "
          f"{lp['seconds_extrapolated'] / st['seconds']:.0f}× |")
    print(f"\nΩ_in-class: streaming {st['omega_in_class']:.6g}, pairwise "
          f"{pw['omega_in_class']:.6g}; wrote {path}")


if __name__ == "__main__":
    main()
