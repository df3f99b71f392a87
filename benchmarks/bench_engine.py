"""One training step of ``overparam.numerics.models`` (``loss_and_grad`` + an in-place SGD
update) against PyTorch's CPU autograd step (forward, ``backward()``, ``torch.optim.SGD``) on
the same network, batch, dtype, initial weights and thread count, timed in the same run with
interleaved repetitions (issue 13):

- MLP 784-512-10, ReLU, no biases, softmax cross-entropy, batch 128;
- CNN of 5 layers, 5×5 kernels, 32 channels, ReLU, no biases (IC's CNN: stride 1, "same"
  padding, one output channel), MSE to its input, one 28×28×1 image;

each in float32 and float64. Before timing, both engines' losses and gradients at the same
weights are compared (the table is only meaningful if they compute the same step).

PyTorch is a peer for this benchmark only, never a dependency of overparam. Install it into the
project's virtual environment first:

    pip install torch
    python benchmarks/bench_engine.py [--threads 1] [--repeats 300] [--warmup 30]

Without torch the benchmark says so and exits 0 (nothing timed, nothing written). BLAS (NumPy)
and PyTorch both get ``--threads`` threads (default 1: the 2-core development machine is shared).
Writes results/engine_numpy.json (absolute median times, quartiles, ratios, machine, threads)
and prints the Markdown table the README quotes.
"""

from __future__ import annotations

import os
import sys


def _threads_from_argv(argv: list[str]) -> int:
    # BLAS reads its thread count when NumPy loads, so it is set before the imports below
    for i, arg in enumerate(argv):
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
    return 1


THREADS = _threads_from_argv(sys.argv[1:])
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from overparam.numerics import models  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "engine_numpy.json"
LR = 1e-3


def mlp_case(dtype: str):
    model = models.serial(models.dense(512), models.relu(), models.dense(10))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 784)).astype(dtype)
    y = rng.integers(0, 10, 128)
    return model, (784,), x, y, "softmax_ce"


def cnn_case(dtype: str):
    layers = []
    for i in range(5):
        layers.append(models.conv2d(32 if i < 4 else 1, 5))
        if i < 4:
            layers.append(models.relu())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 28, 28, 1)).astype(dtype)
    return models.serial(*layers), (28, 28, 1), x, x, "mse"


CASES = {"MLP 784-512-10, batch 128": mlp_case, "CNN 5×(5×5, 32 ch), 28×28×1, batch 1": cnn_case}


def torch_network(torch, model: models.Model, params: dict, dtype):
    """The same network in PyTorch with our initial weights (dense W (out, in) as nn.Linear;
    conv W (K_H, K_W, C_in, C_out) → (C_out, C_in, K_H, K_W))."""
    mods = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, models.Dense):
            m = torch.nn.Linear(*params[f"{i}/W"].shape[::-1], bias=False)
            m.weight.data = torch.from_numpy(params[f"{i}/W"].copy())
        elif isinstance(layer, models.Conv2D):
            kh, kw, cin, cout = params[f"{i}/W"].shape
            m = torch.nn.Conv2d(cin, cout, (kh, kw), padding="same", bias=False)
            m.weight.data = torch.from_numpy(params[f"{i}/W"].transpose(3, 2, 0, 1).copy())
        else:
            m = torch.nn.ReLU()
        mods.append(m)
    return torch.nn.Sequential(*mods).to(dtype)


def steps(torch, name: str, dtype: str):
    """(our step, torch's step, agreement) on the same initial weights."""
    model, shape, x, y, loss = CASES[name](dtype)
    params = model.init(shape, seed=0, dtype=dtype, init="kaiming-normal")
    tdt = getattr(torch, dtype)
    net = torch_network(torch, model, params, tdt)
    tx = torch.from_numpy(x if x.ndim == 2 else x.transpose(0, 3, 1, 2).copy())
    if loss == "mse":
        ty, loss_fn = tx, torch.nn.MSELoss()
    else:
        ty, loss_fn = torch.from_numpy(y), torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=LR)

    # agreement at the initial weights: losses and the largest gradient difference
    ours_loss, grads = model.loss_and_grad(params, x, y, loss=loss)
    opt.zero_grad()
    theirs = loss_fn(net(tx), ty)
    theirs.backward()
    weights = [m.weight for m in net if hasattr(m, "weight")]
    gdiff = max(float(np.abs(grads[k] - (w.grad.numpy() if w.grad.ndim == 2 else
                                         w.grad.numpy().transpose(2, 3, 1, 0))).max()
                      / np.abs(grads[k]).max())
                for k, w in zip(grads, weights, strict=True))
    agreement = {"loss_ours": ours_loss, "loss_torch": float(theirs.detach()),
                 "max_relative_gradient_difference": gdiff}

    lr = np.asarray(LR, dtype=dtype)

    def ours():
        _, g = model.loss_and_grad(params, x, y, loss=loss)
        for k, p in params.items():
            gk = g[k]
            gk *= lr
            p -= gk

    def torch_step():
        opt.zero_grad()
        out = loss_fn(net(tx), ty)
        out.backward()
        opt.step()
        return out.item()

    return ours, torch_step, agreement


def interleaved(a, b, repeats: int, warmup: int) -> tuple[list[float], list[float]]:
    """Times of a and b, alternating which goes first, so both see the same machine load."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for r in range(repeats):
        for f, ts in ((a, ta), (b, tb)) if r % 2 == 0 else ((b, tb), (a, ta)):
            start = time.perf_counter()
            f()
            ts.append(time.perf_counter() - start)
    return ta, tb


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _blas() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: d.get(k) for k in ("internal_api", "version", "num_threads")}
            for d in threadpool_info()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for BLAS and for PyTorch (the same for both)")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("bench_engine: PyTorch is not installed (pip install torch); nothing timed.")
        return
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    rows = []
    for name in CASES:
        for dtype in ("float32", "float64"):
            ours, theirs, agreement = steps(torch, name, dtype)
            ta, tb = interleaved(ours, theirs, args.repeats, args.warmup)
            qa, qb = np.percentile(ta, [25, 50, 75]) * 1e3, np.percentile(tb, [25, 50, 75]) * 1e3
            rows.append({"case": name, "dtype": dtype, "ours_ms": qa[1], "torch_ms": qb[1],
                         "ratio": qa[1] / qb[1], "ours_quartiles_ms": [qa[0], qa[2]],
                         "torch_quartiles_ms": [qb[0], qb[2]], "agreement": agreement})
            print(f"{name} {dtype}: ours {qa[1]:.2f} ms, torch {qb[1]:.2f} ms, "
                  f"ratio {qa[1] / qb[1]:.2f}", flush=True)
    result = {
        "benchmark": "engine", "what": "loss_and_grad + in-place SGD vs torch autograd + "
        "torch.optim.SGD, same weights, interleaved, medians",
        "threads": args.threads, "torch_threads": torch.get_num_threads(), "blas": _blas(),
        "repeats": args.repeats, "warmup": args.warmup,
        "load_average_1min": {"start": load_start[0], "end": os.getloadavg()[0]},
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(), "machine": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "torch": torch.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("\n| case | dtype | ours (ms) | torch (ms) | ratio |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['dtype']} | {r['ours_ms']:.2f} | {r['torch_ms']:.2f} | "
              f"{r['ratio']:.2f}× |")
    print(f"\n{args.threads} thread(s) each; {args.repeats} interleaved repetitions; "
          f"written to {args.out}")


if __name__ == "__main__":
    main()
