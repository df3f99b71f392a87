"""Sweep executors compared on one sweep (issue 6: a sweep outgrows one process): the
``ic.fcn-depth`` smoke sweep (6 networks) run serially, in local worker processes, and on a
Dask LocalCluster of worker processes, in the same run, each from an empty output directory.
BLAS is held to one thread per process so that the executors, not BLAS threading, share the
cores. Writes results/runner_numpy.json and prints a Markdown table that the README quotes.

    python benchmarks/bench_runner.py [--workers 2] [--repeats 3]
"""

from __future__ import annotations

import os

# before NumPy loads: one BLAS thread per process, inherited by the worker processes
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from overparam.experiments import fcn_depth  # noqa: E402
from overparam.experiments.runner import run_sweep  # noqa: E402


def _points() -> list[dict]:
    cfg = fcn_depth.PRESETS["smoke"]
    return [{"depth": d, "activation": a, "seed": 0, "preset": "smoke", "backend": "numpy"}
            for a in ("linear", "relu") for d in cfg["depths"]]


def timed(executor: str, workers: int, scheduler: str | None) -> tuple[float, list]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        rows = run_sweep(_points(), fcn_depth.compute_point, out, executor=executor,
                         workers=workers, scheduler=scheduler, progress=False)
        return time.perf_counter() - start, [r["result"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from dask.distributed import LocalCluster

    results, reference = {}, None
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        for executor in ("serial", "local", "dask"):
            runs = [timed(executor, args.workers, cluster.scheduler_address)
                    for _ in range(args.repeats)]
            for _, rows in runs:
                reference = rows if reference is None else reference
                if rows != reference:
                    raise SystemExit(f"{executor}: results differ from the serial run's")
            times = sorted(t for t, _ in runs)
            results[executor] = {"median_s": times[len(times) // 2], "times_s": times}
    base = results["serial"]["median_s"]
    for r in results.values():
        r["speedup_vs_serial"] = base / r["median_s"]
    record = {"benchmark": "runner", "sweep": "ic.fcn-depth smoke (6 networks)",
              "workers": args.workers, "repeats": args.repeats, "cpus": os.cpu_count(),
              "machine": platform.platform(), "python": platform.python_version(),
              "results": results}
    path = Path(__file__).parent / "results" / "runner_numpy.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print("| executor | median wall time (s) | vs serial |\n|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['median_s']:.1f} | {r['speedup_vs_serial']:.2f}× |")
    print(f"\nidentical results under every executor; wrote {path}")


if __name__ == "__main__":
    main()
