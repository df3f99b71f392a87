"""RR Sec. 5's kernel system Kα = y on the first n Fashion-MNIST training images (pixels /255,
one-hot targets, RBF kernel with ``kernel_solver.bandwidth_rule``): time and peak memory of
``overparam.numerics.kernel_solver`` (float32 K built in place, float32 Cholesky, float64
refinement to ‖r‖/‖y‖ ≤ 1e-6) against SciPy's ``cho_factor``/``cho_solve`` in float64 on the
whole K (where 8n² bytes fit), in the same run (issues 16 and 26), and against the machine's
limit measured in the same run: float32 GEMM GFLOP/s, and LAPACK ``spotrf`` beside our
blocked factor on a small K (``--limit-n``).

    python benchmarks/bench_kernel.py [--sizes 5000 10000 20000 40000] [--threads 2]
                                      [--scipy-max-n 40000] [--timeout 3600]

Each (method, n) runs in a child process of its own, so its peak resident memory
(``ru_maxrss``) is its own and a crash (the segfault hazard of NumPy's SYRK and of two-thread
OpenBLAS ``dpotrf`` at n ≥ 16,000, NumPy #19685 / OpenBLAS #2821) is recorded, not fatal.
Both get ``--threads`` BLAS threads (default 2, the machine's cores). Both residuals are
measured against the float64 kernel. A row's factor rate is (n³/3)/factor seconds. The
scaling exponent is the least-squares slope of log(time) on log(n). The 60k row is the full
``rr.kernel --full`` run, added with ``--add-full-run``. Writes results/kernel_numpy.json and
prints a table; the 60k row sits beside RR's "under 3 minutes on 24 cores, 256 GB" and
EigenPro 2's published ~9 s on one GPU (approximate: different machines, MNIST vs
Fashion-MNIST, EigenPro iterates rather than factors).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "kernel_numpy.json"
PAPER_SECONDS = 180.0  # RR Sec. 5: "under 3 minutes", 24 cores, 256 GB, one LAPACK call
EIGENPRO2_SECONDS = 9.0  # EigenPro 2 (Ma & Belkin 2019), MNIST 60k, one GPU, approximate


def _data(n: int):
    from overparam.experiments.datasets import load_fashion_mnist
    from overparam.numerics.kernel_solver import bandwidth_rule

    images, labels = load_fashion_mnist("train")
    X = images[:n].reshape(n, -1) / 255.0
    return X, np.eye(10)[labels[:n]], bandwidth_rule(X)


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def child_ours(n: int) -> dict:
    from overparam.numerics.kernel_solver import solve_kernel_interpolation

    X, Y, gamma = _data(n)
    t0 = time.perf_counter()
    _, info = solve_kernel_interpolation(X, Y, gamma=gamma, progress=False)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "phases": info.seconds, "relative_residual":
            info.relative_residual, "residual_history": info.residual_history,
            "refinement_steps": info.refinement_steps, "norm": info.norm, "gamma": gamma,
            "method_path": info.method, "factor_backward_error": info.factor_backward_error,
            "threads": info.threads, "factor_gflops": n**3 / 3 / info.seconds["factor"] / 1e9,
            "blas": info.blas}


def child_limit(n: int) -> dict:
    """The machine's rates at this thread count: float32 GEMM (4000², best of 3), and LAPACK
    ``spotrf`` against ``blocked_cholesky`` on the same n×n float32 RBF kernel."""
    from scipy.linalg import lapack

    from overparam.numerics.blocked_cholesky import blocked_cholesky_in_place
    from overparam.numerics.kernel_solver import build_lower, squared_norms

    a = np.random.default_rng(0).random((4000, 4000), dtype=np.float32)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    X, _, gamma = _data(n)
    K = build_lower(X, squared_norms(X), kind="rbf", gamma=gamma, ridge=0.0,
                    dtype=np.float32, block_bytes=256 * 2**20, progress=False)
    work = np.empty_like(K, order="F")
    rates = {}
    for name in ("spotrf", "blocked", "spotrf", "blocked"):
        work[...] = K
        t0 = time.perf_counter()
        if name == "spotrf":
            _, info = lapack.spotrf(work, lower=1, clean=0, overwrite_a=1)
            assert info == 0, info
        else:
            blocked_cholesky_in_place(work)
        rates.setdefault(name, []).append(n**3 / 3 / (time.perf_counter() - t0) / 1e9)
    return {"sgemm_gflops": 2 * 4000**3 / best / 1e9, "factor_n": n,
            "spotrf_gflops": max(rates["spotrf"]), "blocked_gflops": max(rates["blocked"])}


def child_scipy(n: int) -> dict:
    import scipy.linalg

    from overparam.numerics.kernel_solver import build_lower, kernel_times, squared_norms

    X, Y, gamma = _data(n)
    t0 = time.perf_counter()
    sq = squared_norms(X)
    K = build_lower(X, sq, kind="rbf", gamma=gamma, ridge=0.0, dtype=np.float64,
                    block_bytes=256 * 2**20, progress=False)
    t_build = time.perf_counter() - t0
    c = scipy.linalg.cho_factor(K, lower=True, overwrite_a=True, check_finite=False)
    t_factor = time.perf_counter() - t0 - t_build
    alpha = scipy.linalg.cho_solve(c, Y, check_finite=False)
    seconds = time.perf_counter() - t0
    del c, K
    r = Y - kernel_times(X, sq, alpha, kind="rbf", gamma=gamma, ridge=0.0,
                         block_bytes=256 * 2**20)
    return {"seconds": seconds, "phases": {"kernel": t_build, "factor": t_factor,
                                           "solve": seconds - t_build - t_factor},
            "relative_residual": float(np.linalg.norm(r) / np.linalg.norm(Y)),
            "gamma": gamma, "blas_threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0"))}


def run_child(method: str, n: int, timeout: float, threads: int) -> dict:
    """One measurement in a fresh process with ``threads`` BLAS threads; a crash or timeout
    is recorded as such."""
    cmd = [sys.executable, __file__, "--child", method, str(n)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "status": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"method": method, "n": n, "status": f"exit {proc.returncode}",
                "stderr_tail": proc.stderr[-2000:], "wall_seconds": time.perf_counter() - t0}
    return {"method": method, "n": n, "status": "ok", **json.loads(proc.stdout.splitlines()[-1])}


def scaling_exponent(rows: list[dict]) -> float | None:
    """Least-squares slope of log(seconds) on log(n) over the successful rows."""
    ok = [(r["n"], r["seconds"]) for r in rows if r.get("status") == "ok"]
    if len(ok) < 2:
        return None
    n, t = np.log([o[0] for o in ok]), np.log([o[1] for o in ok])
    return float(np.polyfit(n, t, 1)[0])


def _available_bytes() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[5000, 10000, 20000, 40000])
    parser.add_argument("--scipy-max-n", type=int, default=40000,
                        help="largest n for SciPy float64 (8n² bytes must fit)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--threads", type=int, default=2,
                        help="BLAS threads for both (default 2: this machine's cores; run it "
                             "on an idle machine)")
    parser.add_argument("--limit-n", type=int, default=8000,
                        help="the K on which spotrf and the blocked factor are timed")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--add-full-run", type=Path, default=None, metavar="DIR",
                        help="instead of measuring, put the full run's DIR/results.json "
                             "(python -m overparam.experiments.rr_kernel --full DIR) into "
                             "--out's comparison_60k, marked as a separate run")
    args = parser.parse_args()
    if args.add_full_run is not None:
        add_full_run(args.out, args.add_full_run)
        return
    load_start = os.getloadavg()
    limit = run_child("limit", args.limit_n, args.timeout, args.threads)
    print(json.dumps(limit), flush=True)
    rows = []
    for n in args.sizes:
        rows.append(run_child("ours", n, args.timeout, args.threads))
        if n <= args.scipy_max_n and 8 * n * n * 1.1 < _available_bytes():
            rows.append(run_child("scipy", n, args.timeout, args.threads))
        else:
            rows.append({"method": "scipy", "n": n, "status": "skipped: float64 K "
                         f"({8 * n * n / 1e9:.1f} GB) does not fit beside the other users"})
        print(json.dumps(rows[-2]), json.dumps(rows[-1]), sep="\n", flush=True)
    ours = [r for r in rows if r["method"] == "ours"]
    scipy_rows = [r for r in rows if r["method"] == "scipy"]
    at_60k = next((r for r in ours if r["n"] == 60000 and r["status"] == "ok"), None)
    result = {
        "benchmark": "RR Sec. 5 kernel system, Fashion-MNIST /255, RBF (bandwidth_rule), "
                     "one-hot targets",
        "blas_threads": {"ours": args.threads, "scipy": args.threads},
        "machine_limit": limit,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "numpy": np.__version__},
        "load_average_1min": {"start": load_start[0], "end": os.getloadavg()[0]},
        "rows": rows,
        "scaling_exponent": {"ours": scaling_exponent(ours),
                             "scipy": scaling_exponent(scipy_rows)},
        "comparison_60k": {
            "ours_seconds": at_60k["seconds"] if at_60k else None,
            "rr_paper_seconds": PAPER_SECONDS, "rr_paper_machine": "24 cores, 256 GB",
            "eigenpro2_seconds": EIGENPRO2_SECONDS,
            "note": "approximate: other machines, MNIST not Fashion-MNIST; EigenPro 2 is an "
                    "iterative solver on a GPU"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("\n| n | ours s | factor GFLOP/s | ours peak GiB | ours residual | SciPy f64 s | "
          "SciPy peak GiB | SciPy residual |\n|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        o = next(r for r in ours if r["n"] == n)
        s = next(r for r in scipy_rows if r["n"] == n)

        def cell(r, key, fmt):
            return format(r[key], fmt) if r.get("status") == "ok" else r.get("status", "—")

        print(f"| {n} | {cell(o, 'seconds', '.1f')} | {cell(o, 'factor_gflops', '.0f')} | "
              f"{_gib(o)} | "
              f"{cell(o, 'relative_residual', '.1e')} | {cell(s, 'seconds', '.1f')} | "
              f"{_gib(s)} | {cell(s, 'relative_residual', '.1e')} |")
    if limit.get("status") == "ok":
        print(f"machine limit at {args.threads} threads: sgemm {limit['sgemm_gflops']:.0f} "
              f"GFLOP/s; at n = {limit['factor_n']}: spotrf {limit['spotrf_gflops']:.0f}, "
              f"blocked {limit['blocked_gflops']:.0f} GFLOP/s")
    print(f"scaling exponents: {result['scaling_exponent']}; 60k: ours "
          f"{result['comparison_60k']['ours_seconds']} s, RR < {PAPER_SECONDS:.0f} s on 24 "
          f"cores, EigenPro 2 ≈ {EIGENPRO2_SECONDS:.0f} s on a GPU")


def add_full_run(out: Path, folder: Path) -> None:
    """Record the full kernel run (its wall time, phases, peak memory, residual) beside RR's
    and EigenPro 2's times in ``out``; it ran separately, which the entry says."""
    result = json.loads(out.read_text())
    full = json.loads((folder / "results.json").read_text())
    solver = full["solver"]
    result["comparison_60k"].update({
        "ours_seconds": full["wall_seconds"], "ours_n": full["n_train"],
        "ours_phases": solver["seconds"], "ours_peak_bytes": full["peak_rss_bytes"],
        "ours_relative_residual": solver["relative_residual"],
        "ours_blas_threads": full["blas_threads"],
        "ours_load_average_1min_at_end": full["load_average_1min"],
        "ours_source": f"{folder}/results.json: the full rr.kernel run (data loading, solve "
                       f"and test predictions), a separate run from the rows above"})
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["comparison_60k"], indent=1))


def _gib(row: dict) -> str:
    return f"{row['peak_bytes'] / 2**30:.2f}" if row.get("status") == "ok" else "—"


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        method, size = sys.argv[2], int(sys.argv[3])
        out = {"ours": child_ours, "scipy": child_scipy, "limit": child_limit}[method](size)
        out["peak_bytes"] = _peak_bytes()
        print(json.dumps(out))
    else:
        main()
