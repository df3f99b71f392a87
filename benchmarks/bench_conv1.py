"""Closed form vs training for the one-layer CNN of IC Thm 2 (issue: the closed form replaces
training). For each setting, in one run: the time of ``conv1_limit_weights`` (one SVD of the
patch matrix), and the time our convolution layer needs, trained by gradient descent with
the shared trainer, to reach the same accuracy — a relative gradient norm
‖Pᵀ(PW − Y)‖/‖PᵀY‖ no larger than the closed form's. Writes results/conv1.json and prints a
Markdown table that the README quotes.

    python benchmarks/bench_conv1.py [--backend numpy|cupy] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np

from overparam.common.patterns import channels, digit_seven
from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.optimizers import GradientDescent, Momentum
from overparam.numerics.schedules import Constant
from overparam.numerics.trainer import train
from overparam.theory import identity_crisis as ic
from overparam.verify.checks.ic_conv import conv_loss

SETTINGS = {"28x28x1, 5x5": (digit_seven(28)[:, :, None], 5),
            "32x32x3, 5x5": (None, 5)}


def _sync(xp) -> None:
    if xp.__name__ == "cupy":
        xp.cuda.Stream.null.synchronize()


def relative_gradient(P, Y, W) -> float:
    G = P.T @ (P @ W - Y)
    return float(np.linalg.norm(to_numpy(G)) / np.linalg.norm(to_numpy(P.T @ Y)))


def bench(name: str, img: np.ndarray, K: int, xp, repeats: int, max_steps: int) -> dict:
    rng = np.random.default_rng(0)
    C = img.shape[2]
    W0 = rng.normal(0, 0.1, (K, K, C, C))
    img_x, W0_x = xp.asarray(img), xp.asarray(W0)
    times = []
    for _ in range(repeats):
        _sync(xp)
        t = time.perf_counter()
        W_cf = ic.conv1_limit_weights(W0_x, img_x)
        _sync(xp)
        times.append(time.perf_counter() - t)
    P, Y = ic.conv1_regression(img_x, K)
    D = P.shape[1]
    target = relative_gradient(P, Y, W_cf.reshape(D, C))
    s = np.linalg.svd(to_numpy(P), compute_uv=False)
    L, mu = float(s[0] ** 2), float(s[s > 1e-10 * s[0]][-1] ** 2)
    grad_tol = target * float(np.linalg.norm(to_numpy(P.T @ Y)))
    runs = {}
    for label, opt, lr in (
        ("gd", GradientDescent(), 1.0 / L),
        # heavy ball tuned for the quadratic: the fastest first-order GD variant here
        ("momentum-tuned", Momentum(((math.sqrt(L) - math.sqrt(mu)) /
                                     (math.sqrt(L) + math.sqrt(mu))) ** 2),
         4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2),
    ):
        _sync(xp)
        t = time.perf_counter()
        res = train({"W": W0_x}, conv_loss(img_x), opt, Constant(lr), max_steps=max_steps,
                    grad_tol=grad_tol)
        _sync(xp)
        runs[label] = {"seconds": time.perf_counter() - t, "steps": res.steps,
                       "reached_target": res.converged,
                       "relative_gradient": relative_gradient(
                           P, Y, res.params["W"].reshape(D, C))}
    cf = float(np.median(times))
    best = min(runs.values(), key=lambda r: r["seconds"])
    return {"setting": name, "backend": xp.__name__, "closed_form_seconds": cf,
            "closed_form_relative_gradient": target, "condition_number": math.sqrt(L / mu),
            "training": runs, "speedup_vs_fastest_training": best["seconds"] / cf}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="numpy", choices=("numpy", "cupy"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    xp = get_xp(backend=args.backend)
    rng = np.random.default_rng(1)
    rows = []
    for name, (img, K) in SETTINGS.items():
        if img is None:
            img = channels(digit_seven(32), 3) * 0.5 + 0.5 * rng.random((32, 32, 3))
        rows.append(bench(name, img, K, xp, args.repeats, args.max_steps))
    out = {"machine": platform.platform(), "processor": platform.processor(),
           "backend": args.backend, "results": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"conv1_{args.backend}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print("| setting | backend | closed form (s) | GD (s, steps) | tuned momentum (s, steps) "
          "| speed-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        g, m = r["training"]["gd"], r["training"]["momentum-tuned"]
        print(f"| {r['setting']} | {r['backend']} | {r['closed_form_seconds']:.4f} | "
              f"{g['seconds']:.2f}, {g['steps']}{'' if g['reached_target'] else ' (cap)'} | "
              f"{m['seconds']:.2f}, {m['steps']}{'' if m['reached_target'] else ' (cap)'} | "
              f"{r['speedup_vs_fastest_training']:.0f}× |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
