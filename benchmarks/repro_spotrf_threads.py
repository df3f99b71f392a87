"""Reproducer for issue 26's failure: LAPACK ``spotrf`` (lower, SciPy's OpenBLAS) with two
threads reports the 60,000-image Fashion-MNIST RBF kernel not positive definite, where one
thread factors it.

    OPENBLAS_NUM_THREADS=2 python benchmarks/repro_spotrf_threads.py --n 60000 --layout lower

K is built exactly as ``kernel_solver`` builds it (float32, Fortran order, each entry computed
in float64 from X and rounded; ``--layout lower`` writes only the lower triangle into a lazily
mapped array whose upper half reads as zeros, ``--layout full`` mirrors it into the upper half
as well), then factored by one ``scipy.linalg.lapack.spotrf`` call and by
``numerics.blocked_cholesky`` (the same thread count), each on a fresh K. The run records the
library versions (threadpoolctl), the thread count, each routine's ``info`` (0: factored; k:
the leading minor of order k failed) and its seconds. Appends one JSON record per run to
results/spotrf_threads.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "spotrf_threads.json"


def build(n: int, layout: str) -> tuple[np.ndarray, np.ndarray, float]:
    from overparam.experiments.datasets import load_fashion_mnist
    from overparam.numerics.kernel_solver import bandwidth_rule, build_lower, squared_norms

    images, _ = load_fashion_mnist("train")
    X = images[:n].reshape(n, -1) / 255.0
    gamma = bandwidth_rule(X)
    K = build_lower(X, squared_norms(X), kind="rbf", gamma=gamma, ridge=0.0,
                    dtype=np.float32, block_bytes=256 * 2**20, progress=False)
    if layout == "full":
        for c0 in range(0, n, 1024):
            c1 = min(n, c0 + 1024)
            K[c0:c1, c1:] = K[c1:, c0:c1].T
            block = K[c0:c1, c0:c1]
            block[np.triu_indices(c1 - c0, 1)] = block.T[np.triu_indices(c1 - c0, 1)]
    return K, X, gamma


def _cpu() -> dict:
    """The CPU's model and whether it has AVX-512 (OpenBLAS picks its kernels by these)."""
    info: dict = {}
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "flags") and key not in info:
                info[key] = value.strip()
    flags = info.pop("flags", "").split()
    info["avx512f"], info["avx2"] = "avx512f" in flags, "avx2" in flags
    return info


def main() -> None:
    from scipy.linalg import lapack

    from overparam.numerics.blocked_cholesky import blas_provenance, blocked_cholesky_in_place

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--layout", choices=("lower", "full"), default="lower")
    ap.add_argument("--routines", nargs="+", default=["spotrf", "blocked"],
                    choices=("spotrf", "blocked"))
    args = ap.parse_args()
    record = {"n": args.n, "layout": args.layout, "cpu": _cpu(),
              "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
              "provenance": blas_provenance(), "runs": []}
    for routine in args.routines:
        t0 = time.perf_counter()
        K, _, gamma = build(args.n, args.layout)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        if routine == "spotrf":
            _, info = lapack.spotrf(K, lower=1, clean=0, overwrite_a=1)
        else:
            try:
                blocked_cholesky_in_place(K)
                info = 0
            except ValueError as exc:
                info = getattr(exc, "index", -2) + 1
        run = {"routine": routine, "info": int(info), "gamma": gamma,
               "build_seconds": built, "factor_seconds": time.perf_counter() - t0}
        print(json.dumps(run), flush=True)
        record["runs"].append(run)
        del K
    RESULTS.parent.mkdir(exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps(old + [record], indent=1) + "\n")


if __name__ == "__main__":
    main()
