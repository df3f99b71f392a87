"""One training step of ``overparam.numerics.models`` (``loss_and_grad`` + an in-place SGD
update) against PyTorch's CPU autograd step (forward, ``backward()``, ``torch.optim.SGD``) on
the same network, batch, dtype, initial weights and thread count (issues 13 and 26):

- MLP 784-512-10, ReLU, no biases, softmax cross-entropy, batch 128;
- IC's CNN (5×5 kernels, 32 channels, ReLU, no biases, stride 1, "same" padding, one output
  channel) at depths 5 and 12, MSE to its input, one 28×28×1 image;
- EM's sin MLP 784-1024-10, no biases, softmax cross-entropy, batch 256;
- RR's MLP 1×512 (784-512-10 with biases, ReLU), softmax cross-entropy, batch 128;

each in float32 and float64, at 1 and 2 threads. Before timing, both engines' losses and
gradients at the same weights are compared (the table is only meaningful if they compute the
same step). Beside each step, each engine's BLAS alone: the median time of the case's
representative matrix product (``GEMMS``: the first layer's forward product, a CNN layer's as
one im2col product) by NumPy (OpenBLAS) and by ``torch.mm`` (PyTorch's x86 wheels link MKL):
a step ratio that follows the GEMM ratio is the libraries' difference, not the engine's.

Beside the ratio of the two medians, each row gives the paired one: in every round the ratio
of the two engines' block medians (the blocks run back to back, so the machine's drift
between rounds cancels), their median and its distribution-free 95 % interval
(``paired_ratio_interval``), and a verdict: "faster" or "slower" when the interval excludes
1, "tied" when it holds 1 (the run cannot tell the two engines apart).

Each engine runs in a process of its own (its BLAS/OpenMP threads set by environment before
the libraries load) and the two take turns in blocks of ``--block`` steps, alternating which
goes first, with a pause between blocks: in one process, OpenBLAS's idle workers spin for up
to ~0.1 s after a call and torch's OpenMP workers spin too, so at two threads each engine ate
the other's cores (steps of 3 ms measured 90 ms). The machine's load (other users) reaches both
engines alike through the alternation; the medians and quartiles come from every step timed.

Our process runs with ``OPENBLAS_THREAD_TIMEOUT=20`` (``--openblas-thread-timeout``): an
idle OpenBLAS worker spins for 2^20 cycles (~0.35 ms) after a call before it sleeps. Measured
at two threads on the idle 2-core machine (IC CNN depth 12, float32, ours / torch): 1.43× with
4 (every small GEMM of a step then wakes a sleeping worker), 1.08× with 20, 2.3–3.6× across the
cases with OpenBLAS's default 28 (~0.1 s of spinning: the two engines' processes take each
other's cores and steps quantise to the scheduler's 4 ms). Torch's OpenMP workers also spin
briefly after each parallel region. Set the same variable when training with more than one
BLAS thread: 4 on a machine shared with other jobs (a spinning worker takes the core a step's
own non-BLAS work needs), 20 on an idle one.

PyTorch is a peer for this benchmark only, never a dependency of overparam (the ``bench``
extra names it; plain ``pip install torch`` on Linux fetches a multi-GB CUDA build, so take
the CPU wheel: ``pip install torch --index-url https://download.pytorch.org/whl/cpu``):

    python benchmarks/bench_engine.py [--threads 1 2] [--rounds 30] [--block 10]

Without torch the benchmark says so and exits 0 (nothing timed, nothing written). Writes
results/engine_numpy.json (median step times, quartiles, ratios, load, machine) and prints the
Markdown table the README quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "engine_numpy.json"
LR = 1e-3
DTYPES = ("float32", "float64")
#: seconds between two blocks: longer than the idle spin of either engine's worker threads
PAUSE = 0.15


# --- the cases (built in the worker processes) ---------------------------------------------

def _mlp(dtype: str, hidden: int, batch: int, act: str, bias: bool):
    from overparam.numerics import models

    model = models.serial(models.dense(hidden, bias=bias), models.activation(act),
                          models.dense(10, bias=bias))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 784)).astype(dtype)
    return model, (784,), x, rng.integers(0, 10, batch), "softmax_ce"


def _cnn(dtype: str, depth: int):
    from overparam.numerics import models

    layers = []
    for _ in range(depth - 1):
        layers += [models.conv2d(32, 5), models.relu()]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 28, 28, 1)).astype(dtype)
    return models.serial(*layers, models.conv2d(1, 5)), (28, 28, 1), x, x, "mse"


#: each case's representative matrix product (m, k, n): the first layer's forward product
#: (a CNN's as one im2col product, 28·28 × 5·5·32 by 32) — what the BLAS alone does
GEMMS = {
    "MLP 784-512-10, batch 128": (128, 784, 512),
    "IC CNN depth 5 (5×5, 32 ch), 28×28×1, batch 1": (784, 800, 32),
    "IC CNN depth 12 (5×5, 32 ch), 28×28×1, batch 1": (784, 800, 32),
    "EM sin MLP 784-1024-10, batch 256": (256, 784, 1024),
    "RR MLP 1×512 (biases), batch 128": (128, 784, 512),
}

CASES = {
    "MLP 784-512-10, batch 128": lambda dt: _mlp(dt, 512, 128, "relu", False),
    "IC CNN depth 5 (5×5, 32 ch), 28×28×1, batch 1": lambda dt: _cnn(dt, 5),
    "IC CNN depth 12 (5×5, 32 ch), 28×28×1, batch 1": lambda dt: _cnn(dt, 12),
    "EM sin MLP 784-1024-10, batch 256": lambda dt: _mlp(dt, 1024, 256, "sin", False),
    "RR MLP 1×512 (biases), batch 128": lambda dt: _mlp(dt, 512, 128, "relu", True),
}


def _torch_network(torch, model, params: dict, dtype):
    """The same network in PyTorch with our initial weights (dense W (out, in) as nn.Linear;
    conv W (K_H, K_W, C_in, C_out) → (C_out, C_in, K_H, K_W))."""
    from overparam.numerics import models

    class Sin(torch.nn.Module):
        def forward(self, x):
            return torch.sin(x)

    mods = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, models.Dense):
            m = torch.nn.Linear(*params[f"{i}/W"].shape[::-1], bias=layer.bias)
            m.weight.data = torch.from_numpy(params[f"{i}/W"].copy())
            if layer.bias:
                m.bias.data = torch.from_numpy(params[f"{i}/b"].copy())
        elif isinstance(layer, models.Conv2D):
            kh, kw, cin, cout = params[f"{i}/W"].shape
            m = torch.nn.Conv2d(cin, cout, (kh, kw), padding="same", bias=False)
            m.weight.data = torch.from_numpy(params[f"{i}/W"].transpose(3, 2, 0, 1).copy())
        else:
            m = Sin() if layer.name == "sin" else torch.nn.ReLU()
        mods.append(m)
    return torch.nn.Sequential(*mods).to(dtype)


def _single_threaded_scipy_blas() -> None:
    """Limit SciPy's BLAS to one thread where it is a library of its own beside NumPy's.

    The SciPy and NumPy wheels each bundle an OpenBLAS, each with its own worker pool. At two
    threads, SciPy's axpy right after a NumPy matrix product woke SciPy's worker onto the
    core NumPy's idle worker was still spinning on: 0.48–0.55 ms for RR's 784×512 float32
    update, 0.13 ms with both idle, 0.06 ms on one thread (2-core machine, medians of 300).
    An axpy is memory-bound, so one thread loses nothing; NumPy's pool keeps its threads.
    Where the two share one BLAS, nothing is limited."""
    import scipy
    import scipy.linalg  # noqa: F401 (loads SciPy's BLAS)
    from threadpoolctl import ThreadpoolController

    def bundled_in(package) -> list[str]:  # wheels keep theirs in site-packages/<name>.libs
        root = os.path.dirname(package.__file__)
        return [i["filepath"] for i in controller.select(user_api="blas").info()
                if i["filepath"].startswith((root + os.sep, root + ".libs" + os.sep))]

    controller = ThreadpoolController()
    if bundled_in(np) and bundled_in(scipy):
        controller.select(filepath=bundled_in(scipy)).limit(limits=1)


def _ours_step(case: str, dtype: str):
    """Our step: loss_and_grad, then p ← p − lr·g in place (one BLAS axpy per parameter, as
    torch.optim.SGD's fused add_; SciPy's BLAS on one thread, ``_single_threaded_scipy_blas``)."""
    from scipy.linalg.blas import get_blas_funcs

    _single_threaded_scipy_blas()
    model, shape, x, y, loss = CASES[case](dtype)
    params = model.init(shape, seed=0, dtype=dtype, init="kaiming-normal")
    axpy = get_blas_funcs("axpy", dtype=np.dtype(dtype))
    flat = {k: p.reshape(-1) for k, p in params.items()}  # views: axpy updates params

    def step():
        _, g = model.loss_and_grad(params, x, y, loss=loss)
        for k, p in flat.items():
            axpy(g[k].reshape(-1), p, a=-LR)
    return step


def _torch_step(torch, case: str, dtype: str):
    """(torch's step, agreement with ours at the same initial weights)."""
    model, shape, x, y, loss = CASES[case](dtype)
    params = model.init(shape, seed=0, dtype=dtype, init="kaiming-normal")
    net = _torch_network(torch, model, params, getattr(torch, dtype))
    tx = torch.from_numpy(x if x.ndim == 2 else x.transpose(0, 3, 1, 2).copy())
    if loss == "mse":
        ty, loss_fn = tx, torch.nn.MSELoss()
    else:
        ty, loss_fn = torch.from_numpy(y), torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=LR)

    ours_loss, grads = model.loss_and_grad(params, x, y, loss=loss)
    opt.zero_grad()
    theirs = loss_fn(net(tx), ty)
    theirs.backward()
    gdiff = 0.0
    for k, w in zip(grads, net.parameters(), strict=True):
        tg = w.grad.numpy()
        tg = tg.transpose(2, 3, 1, 0) if tg.ndim == 4 else tg
        gdiff = max(gdiff, float(np.abs(grads[k] - tg).max() / np.abs(grads[k]).max()))
    agreement = {"loss_ours": ours_loss, "loss_torch": float(theirs.detach()),
                 "max_relative_gradient_difference": gdiff}

    def step():
        opt.zero_grad()
        out = loss_fn(net(tx), ty)
        out.backward()
        opt.step()
        return out.item()
    return step, agreement


def _gemm_seconds(torch, shape: list[int], dtype: str, reps: int = 50) -> float:
    """Median seconds of one (m, k) @ (k, n) product: NumPy's (this process's OpenBLAS) when
    ``torch`` is None, else torch.mm (PyTorch's BLAS)."""
    m, k, n = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    if torch is None:
        out = np.empty((m, n), dtype=dtype)

        def mm():
            np.matmul(a, b, out=out)
    else:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)

        def mm():
            torch.mm(ta, tb)
    for _ in range(5):
        mm()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        mm()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def worker(engine: str, threads: int) -> None:
    """Serve the parent: one JSON command a line on stdin, one JSON answer a line on stdout.
    {"case", "dtype"} builds that case's step (the torch worker answers the agreement);
    {"run": n} times n steps and answers their seconds."""
    torch = None
    if engine == "torch":
        import torch
        torch.set_num_threads(threads)
    step = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if "case" in cmd:
            if torch is None:
                step, answer = _ours_step(cmd["case"], cmd["dtype"]), {}
            else:
                step, answer = _torch_step(torch, cmd["case"], cmd["dtype"])
        elif "gemm" in cmd:
            answer = {"seconds": _gemm_seconds(torch, cmd["gemm"], cmd["dtype"])}
        else:
            times = []
            for _ in range(cmd["run"]):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            answer = {"times": times}
        print(json.dumps(answer), flush=True)


class _Worker:
    def __init__(self, engine: str, threads: int, blas_timeout: int) -> None:
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        if engine == "ours":
            env["OPENBLAS_THREAD_TIMEOUT"] = str(blas_timeout)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", engine, "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("bench_engine: a worker process ended early")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def paired_ratio_interval(ratios: list[float], level: float = 0.95) -> dict:
    """The median of the per-round ratios (ours / torch, each the ratio of the two engines'
    block medians in one round, so the machine's drift between rounds cancels) and its
    distribution-free confidence interval: SciPy's ``quantile_test`` interval for the median,
    the order statistics r_(k) and r_(n+1−k) that cover it with probability ≥ level whatever
    the ratios' distribution (Conover, Practical Nonparametric Statistics, §3.2). ``verdict``:
    "faster" when the interval lies below 1, "slower" above 1, "tied" when it contains 1 (or
    when too few rounds give no interval at this level: then it is (0, inf))."""
    from scipy.stats import quantile_test

    r = np.asarray(ratios, dtype=float)
    if r.size == 0:
        raise ValueError("paired_ratio_interval: expected at least one ratio")
    ci = quantile_test(r, q=1.0, p=0.5).confidence_interval(level)
    low, high = (0.0, float("inf")) if np.isnan(ci.low) else (float(ci.low), float(ci.high))
    verdict = "faster" if high < 1 else "slower" if low > 1 else "tied"
    return {"median": float(np.median(r)), "low": low, "high": high, "level": level,
            "rounds": int(r.size), "verdict": verdict}


def measure(threads: int, rounds: int, block: int, warmup: int, cases: list[str],
            blas_timeout: int) -> list:
    """Rows of one thread count: each case and dtype timed in ``rounds`` alternating blocks."""
    ours = _Worker("ours", threads, blas_timeout)
    theirs = _Worker("torch", threads, blas_timeout)
    rows = []
    try:
        for case in cases:
            for dtype in DTYPES:
                ours.ask(case=case, dtype=dtype)
                agreement = theirs.ask(case=case, dtype=dtype)
                ours.ask(run=warmup)
                theirs.ask(run=warmup)
                ta, tb, round_ratios = [], [], []
                load = os.getloadavg()[0]
                for r in range(rounds):
                    medians = {}
                    for name, w, ts in (("ours", ours, ta),
                                        ("torch", theirs, tb))[::1 if r % 2 == 0 else -1]:
                        time.sleep(PAUSE)
                        times = w.ask(run=block)["times"]
                        ts += times
                        medians[name] = float(np.median(times))
                    round_ratios.append(medians["ours"] / medians["torch"])
                paired = paired_ratio_interval(round_ratios)
                qa = np.percentile(ta, [25, 50, 75]) * 1e3
                qb = np.percentile(tb, [25, 50, 75]) * 1e3
                shape = list(GEMMS[case])
                gemm = [w.ask(gemm=shape, dtype=dtype)["seconds"] for w in (ours, theirs)]
                row = {"case": case, "dtype": dtype, "threads": threads,
                       "ours_ms": qa[1], "torch_ms": qb[1], "ratio": qa[1] / qb[1],
                       "ours_quartiles_ms": [qa[0], qa[2]],
                       "torch_quartiles_ms": [qb[0], qb[2]],
                       "round_ratios": round_ratios, "paired_ratio": paired,
                       "load_average_1min": [load, os.getloadavg()[0]],
                       "gemm": {"shape_mkn": shape, "ours_ms": gemm[0] * 1e3,
                                "torch_ms": gemm[1] * 1e3, "ratio": gemm[0] / gemm[1]},
                       "agreement": agreement}
                rows.append(row)
                print(f"{threads} thread(s) | {case} {dtype}: ours {qa[1]:.2f} ms "
                      f"[{qa[0]:.2f}, {qa[2]:.2f}], torch {qb[1]:.2f} ms [{qb[0]:.2f}, "
                      f"{qb[2]:.2f}], ratio {qa[1] / qb[1]:.2f} (paired {paired['median']:.2f} "
                      f"[{paired['low']:.2f}, {paired['high']:.2f}]: {paired['verdict']}); "
                      f"its GEMM alone "
                      f"{gemm[0] / gemm[1]:.2f} (load {load:.1f})", flush=True)
    finally:
        ours.close()
        theirs.close()
    return rows


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
    return [{k: d.get(k) for k in ("internal_api", "version")} for d in threadpool_info()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts, each for BLAS and for PyTorch alike")
    parser.add_argument("--rounds", type=int, default=30,
                        help="blocks per engine (alternating which goes first)")
    parser.add_argument("--block", type=int, default=10, help="steps per block")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--case", action="append", choices=list(CASES),
                        help="only these cases (repeatable; default all)")
    parser.add_argument("--openblas-thread-timeout", type=int, default=20,
                        help="OPENBLAS_THREAD_TIMEOUT of our process (4–30; OpenBLAS's "
                        "default is 28)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", choices=("ours", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.threads[0])
        return
    try:
        import torch
    except ImportError:
        print("bench_engine: PyTorch is not installed (its CPU wheel: see this script's "
              "docstring); nothing timed.")
        return
    load_start = os.getloadavg()
    rows = []
    for threads in args.threads:
        rows += measure(threads, args.rounds, args.block, args.warmup, args.case or list(CASES),
                        args.openblas_thread_timeout)
    result = {
        "benchmark": "engine", "what": "loss_and_grad + in-place SGD (axpy) vs torch autograd "
        "+ torch.optim.SGD, same weights; each engine in its own process, alternating blocks; "
        "medians and quartiles of every step",
        "threads": args.threads, "rounds": args.rounds, "block": args.block,
        "warmup": args.warmup, "blas": _blas(),
        "openblas_thread_timeout": args.openblas_thread_timeout,
        "load_average_1min": {"start": load_start[0], "end": os.getloadavg()[0]},
        "cpu": _cpu_model(), "cpus": os.cpu_count(), "machine": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "torch": torch.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("\n| case | dtype | threads | ours (ms) [IQR] | torch (ms) [IQR] | ours / torch | "
          "paired per round [95 % CI] | GEMM alone: OpenBLAS / torch |\n"
          "|---|---|---|---|---|---|---|---|")
    for r in rows:
        (a0, a1), (b0, b1) = r["ours_quartiles_ms"], r["torch_quartiles_ms"]
        p = r["paired_ratio"]
        print(f"| {r['case']} | {r['dtype']} | {r['threads']} | {r['ours_ms']:.2f} "
              f"[{a0:.2f}–{a1:.2f}] | {r['torch_ms']:.2f} [{b0:.2f}–{b1:.2f}] | "
              f"{r['ratio']:.2f}× | {p['median']:.2f}× [{p['low']:.2f}–{p['high']:.2f}] "
              f"{p['verdict']} | {r['gemm']['ratio']:.2f}× |")
    print(f"\n{args.rounds} alternating blocks of {args.block} steps per engine; "
          f"written to {args.out}")


if __name__ == "__main__":
    main()
