"""The kernel system Kα = y (RR Sec. 5, eq. 3) at the size RR solves it — 60,000 points — on a
machine whose memory holds K only in float32.

RR solved the 60,000-image MNIST system "in under 3 minutes on 24 cores, 256 GB" with one
LAPACK call; in float64 K alone is 28.8 GB. Here:

1. K is formed in float32, in place, tile by tile over its lower triangle (each tile
   computed in float64 from X and rounded once), on one worker thread per BLAS thread with a
   one-thread BLAS each: a tile's GEMM and its exp (about 6 ns an entry in float64, serial
   in NumPy) then run side by side on every core. Each GEMM multiplies X by a *fresh* array
   (the scaled rows of the other side), never by a view of itself: NumPy's ``X @ X.T``
   shortcut (SYRK) has segfaulted at n ≥ 16,000 on two OpenBLAS threads (NumPy #19685,
   OpenBLAS #2821). Only the lower triangle is ever written, so the upper half of the
   allocation is never touched and takes no physical memory.
2. A Cholesky factor in float32 overwrites K: ``numerics.blocked_cholesky`` (diagonal blocks
   factored in float64, panels by ``strsm``, trailing updates by ``ssyrk`` on the diagonal
   squares (1024 × 1024, far below the sizes of the SYRK failure above) and ``sgemm`` below
   them, on all BLAS threads; a breakdown is reported at the block where it happens).
3. Iterative refinement: r = y − Kα with K's tiles recomputed in float64 from X (never
   stored, on the workers of step 1), α ← α + L⁻ᵀL⁻¹r, until ‖r‖_F/‖y‖_F ≤ ``tol`` (default
   1e-6). The residual is measured against the **float64 kernel** (each entry computed in
   float64 from X), not against its float32 rounding that was factored. Each pass contracts
   the residual by about ‖I − (L̂L̂ᵀ)⁻¹K‖ ≲ c·n·u₃₂·cond(K); measured on Fashion-MNIST at
   60k: 6.2e-4 → 7.5e-6 → 3.3e-7. The first pass also carries ``PROBES`` random columns,
   which give the factor's backward error along them at no extra pass.
4. When K is positive definite but its float32 Cholesky is not — a pivot lost to rounding,
   for instance points too close together for float32 — K is rebuilt with a
   diagonal shift σ = n·u·max diag(K) (u the factor's unit roundoff: the size of the
   rounding a pivot can accumulate over n terms), ×4 while the factor still fails, and
   Kα = y itself (unshifted) is solved by conjugate gradients preconditioned with the
   shifted factor, residuals again in float64. Its eigenvalues λ/(λ + σ) lie in
   (λ_min/(λ_min + σ), 1], so CG converges in a few dozen passes where plain refinement,
   contracting only by σ/(λ_min + σ) per pass, would not. A K that is singular in float64
   (duplicate points, a linear kernel with more points than features) makes CG stall, and
   is refused with ValueError; so does a K too ill-conditioned for CG in float64 (measured:
   near-duplicate points with cond(K) ≈ 6e12 at n = 1,500).

Two OpenBLAS threads and LAPACK ``spotrf``: on 2026-11-29 (another host, which ran float32
LAPACK at 225 GFLOP/s on two cores — AVX-512 rates), ``spotrf`` with two threads reported
the 60k Fashion-MNIST K not positive definite at the minor of order 37,451, even shifted,
where one thread factored it. On this host (AMD EPYC family 25 model 1, AVX2 without
AVX-512: OpenBLAS's Haswell kernels) the same call with SciPy 1.17.1's OpenBLAS 0.3.30 and
two threads factors that K, lower triangle only, in 528 s with info = 0
(``benchmarks/repro_spotrf_threads.py``, results/spotrf_threads.json): not reproduced, and
the first host's library versions were not recorded. The blocked factor does not depend on
LAPACK's threaded ``potrf`` driver (OpenBLAS's own recursive parallel code, a different path
from its one-thread one); its flops are in ``sgemm``, and a factor gone wrong shows in the
probed backward error (2.1e-6 at 60k).

Peak memory: 4n² bytes for the float32 triangle that is touched (≈ 7.2 GB of the 14.4 GB
allocation at n = 60,000), X, and one float64 tile per worker (at most ``TILE_BYTES``).
With ``checkpoint_dir`` the factor is saved (``.npy``, written atomically, on a thread of
its own while the refinement runs) and α after every refinement pass, so an interruption
loses only the phase in flight.
On CuPy (arrays passed as CuPy), the factor is float64 when K and its factor fit in the GPU's
free memory, float32 with the same refinement otherwise (not exercised on this machine: no
GPU here).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from overparam.numerics.atomic import write_atomic, write_text_atomic
from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.blocked_cholesky import (
    NotPositiveDefiniteError,
    blas_provenance,
    blocked_cholesky_in_place,
)
from overparam.numerics.grid_gram import GridRows, grid_layout, grid_rbf_block, grid_rows
from overparam.numerics.kernels import KERNELS
from overparam.numerics.validation import check_array, check_choice, check_scalar, memory_for

#: RR Sec. 5's system solved "exactly": the relative residual every solve aims for
RESIDUAL_TOLERANCE = 1e-6
#: what the reported residual is measured against
RESIDUAL_REFERENCE = ("the float64 kernel: every entry recomputed in float64 from X, "
                      "blockwise, never stored")
FACTOR_DTYPES = ("auto", "float32", "float64")
#: diagonal shifts tried after the unshifted factor fails, in units of n·u·max diag(K)
SHIFT_FACTORS = (1.0, 4.0, 16.0, 64.0)
#: CG stops as stalled when its residual has not fallen by 0.1 % in this many passes
CG_STALL_PASSES = 5
#: file names inside ``checkpoint_dir``
FACTOR_FILE, FACTOR_META, SOLUTION_FILE = "factor.npy", "factor.json", "solution.npz"


class FactorWarning(UserWarning):
    """A checkpointed factor or solution could not be used and is recomputed."""


@dataclass
class KernelSolveInfo:
    """How ``solve_kernel_interpolation`` went.

    ``residual_history``: ‖y − (K + ridge·I)α‖_F/‖y‖_F after the first solve and after each
    refinement pass (``method`` "refinement"), or after each conjugate-gradient pass and then
    recomputed from α (``method`` "pcg" when the factor needed a diagonal ``shift`` σ > 0;
    "refinement, then pcg" when refinement with an unshifted factor stopped contracting),
    against ``residual_reference`` (the float64 kernel); ``refinement_steps`` corrections were
    applied; ``converged``: the last residual is ≤ ``tolerance``. ``factor_attempts``: the
    factorisations tried (1 when the unshifted factor succeeded).
    ``norm``: √(trace αᵀKα) (the RKHS norm of the interpolant, summed over the columns of y).
    ``seconds``: wall time per phase ("kernel", "factor", "solve", "residual" summed over
    passes, "backward_error", "checkpoint": the factor's, written on a thread of its own
    beside the refinement, and the solution's); ``resumed``: phases taken from
    ``checkpoint_dir``. Provenance: ``factor_backward_error`` max over ``PROBES`` Gaussian v of
    ‖(K + σI)v − L̂L̂ᵀv‖/‖(K + σI)v‖ (None when no kernel pass ran: a resumed solution);
    ``threads`` the BLAS threads (and kernel-pass workers); ``factor_routine``;
    ``kernel_gemm``: how the kernel's distances were computed; ``blas``:
    each loaded BLAS's library, version, threads and architecture (threadpoolctl) with
    NumPy's and SciPy's versions."""

    n: int
    outputs: int
    kind: str
    gamma: float
    ridge: float
    factor_dtype: str
    tolerance: float
    residual_history: list[float]
    refinement_steps: int
    converged: bool
    norm: float
    method: str = "refinement"
    shift: float = 0.0
    factor_attempts: int = 1
    residual_reference: str = RESIDUAL_REFERENCE
    seconds: dict[str, float] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    factor_backward_error: float | None = None
    threads: int = 1
    factor_routine: str = ""
    kernel_gemm: str = "float64 GEMMs"
    blas: dict = field(default_factory=dict)

    @property
    def relative_residual(self) -> float:
        """The final relative residual against the float64 kernel."""
        return self.residual_history[-1]

    def as_dict(self) -> dict:
        """JSON-ready fields (with ``relative_residual``)."""
        out = dict(self.__dict__)
        out["relative_residual"] = self.relative_residual
        return out


# --- kernel blocks ------------------------------------------------------------------------

def bandwidth_rule(X: Any) -> float:
    """γ = 1/(d · mean per-feature variance) for the RBF kernel exp(−γ‖x − x′‖²) on X (n, d):
    two independent rows are 2·d·(mean variance) apart in squared distance on average, so
    γ·E‖x − x′‖² = 2 (measured with this rule on Fashion-MNIST pixels /255: cond(K) ≈
    2.6e5 → 2.1e6 from n = 2k to 10k). RR does not state its bandwidth.
    Raises ValueError when every feature is constant (no scale to take)."""
    X = check_array(X, "X", ndim=2, dtype="float64")
    xp = get_xp(X)
    v = float(xp.var(X, axis=0).mean())
    if not v > 0:
        raise ValueError("X: expected features that vary across rows, got constant columns")
    return 1.0 / (X.shape[1] * v)


def squared_norms(X: Any) -> Any:
    """‖x_i‖² of the rows of X (n, d), float64 — computed once, reused by every block."""
    xp = get_xp(X)
    return xp.einsum("ij,ij->i", X, X)


def kernel_block(A: Any, B: Any, sq_a: Any, sq_b: Any, *, kind: str, gamma: float) -> Any:
    """K[i, j] = k(a_i, b_j) in float64 for rows of A (m, d) and B (p, d) with their squared
    norms ``sq_a`` (m,), ``sq_b`` (p,): "linear" ⟨a, b⟩, "rbf" exp(−γ‖a − b‖²) with
    ‖a − b‖² = ‖a‖² + ‖b‖² − 2⟨a, b⟩ (clipped at 0). B must not share memory with A (pass
    a ``.copy()``): the product is then a plain GEMM, never NumPy's SYRK shortcut. Inputs
    are trusted (the public entry points check them); one (m, p) temporary is made."""
    xp = get_xp(A, B)
    if kind != "rbf":
        return A @ B.copy().T
    # −γ‖a − b‖² = 2γ⟨a, b⟩ − γ‖a‖² − γ‖b‖²: B scaled once (an m×d copy, not m×p passes)
    G = A @ (B * (2.0 * gamma)).T
    G -= (gamma * sq_a)[:, None]
    G -= (gamma * sq_b)[None, :]
    xp.minimum(G, 0.0, out=G)
    xp.exp(G, out=G)
    return G


def _panel_width(n: int, block_bytes: int) -> int:
    """Columns per panel so that an n-row float64 panel stays within ``block_bytes``."""
    return int(max(1, min(n, block_bytes // (8 * n))))


def _panels(n: int, width: int) -> list[tuple[int, int]]:
    return [(c, min(n, c + width)) for c in range(0, n, width)]


#: a tile's target size: a float64 tile this large keeps the element-wise passes (the exp is
#: most of their time: about 6 ns an entry in float64 on this machine's NumPy, against 0.2 ns
#: for the GEMM's share) out of main memory's way; ``block_bytes`` caps it further
TILE_BYTES = 16 * 2**20
#: a tile's most columns: the width of a GEMM that runs at full rate on one thread
TILE_WIDTH = 512


def _lower_tiles(n: int, block_bytes: int) -> list[tuple[int, int, int, int]]:
    """(r0, r1, c0, c1) tiles covering the lower triangle of an (n, n) matrix: column panels
    of at most ``TILE_WIDTH`` columns, each cut into row blocks from its diagonal down; the
    first block of a panel holds the panel's whole diagonal square (r0 = c0, r1 ≥ c1). Each
    float64 tile stays within min(``TILE_BYTES``, ``block_bytes``)."""
    budget = min(TILE_BYTES, block_bytes) // 8  # float64 entries
    width = max(1, min(n, TILE_WIDTH, math.isqrt(budget)))
    height = max(width, budget // width)
    return [(r0, min(n, r0 + height), c0, min(n, c0 + width))
            for c0 in range(0, n, width) for r0 in range(c0, n, height)]


def blas_threads() -> int:
    """The thread count NumPy's BLAS runs with in this process (threadpoolctl; the CPU count
    when it reports none)."""
    from threadpoolctl import threadpool_info

    counts = [info.get("num_threads") or 0 for info in threadpool_info()
              if info.get("user_api") == "blas"]
    return max(1, max(counts, default=0) or (os.cpu_count() or 1))


def _over_tiles(tiles: list, work: Any, *, threads: int, bar: Any) -> None:
    """``work(tile, worker)`` for every tile, on ``threads`` worker threads pulling tiles in
    order (the big tiles first, so the last ones balance), each with a one-thread BLAS: a
    tile's GEMM and its element-wise passes (NumPy releases the GIL in both) run side by side
    on every core, where a threaded GEMM would leave all but one core idle during the exp."""
    if threads <= 1:
        for tile in tiles:
            work(tile, 0)
            bar.update(1)
        return
    import queue
    import threading

    from threadpoolctl import threadpool_limits

    todo: queue.SimpleQueue = queue.SimpleQueue()
    for tile in tiles:
        todo.put(tile)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        while not errors:
            try:
                tile = todo.get_nowait()
            except queue.Empty:
                return
            try:
                work(tile, index)
            except BaseException as exc:  # re-raised in the calling thread below
                errors.append(exc)
                return
            with lock:
                bar.update(1)

    with threadpool_limits(limits=1, user_api="blas"):
        pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if errors:
        raise errors[0]


def _lower_tile(X: Any, sq: Any, tile: tuple[int, int, int, int], kind: str, gamma: float,
                ridge: float, grid: GridRows | None = None) -> Any:
    """K[r0:r1, c0:c1] + ridge·I (its diagonal part) in float64 for a tile of
    ``_lower_tiles``; RBF entries from ``grid``'s exact float32 GEMMs when given."""
    r0, r1, c0, c1 = tile
    if grid is not None and kind == "rbf":
        T = grid_rbf_block(grid, r0, r1, grid, c0, c1, gamma)
    else:
        T = kernel_block(X[r0:r1], X[c0:c1], sq[r0:r1], sq[c0:c1], kind=kind, gamma=gamma)
    if ridge and r0 < c1:
        xp = get_xp(X)
        idx = xp.arange(max(r0, c0), min(r1, c1))
        T[idx - r0, idx - c0] += ridge
    return T


def _bar(total: int, desc: str, progress: bool, unit: str = "tile"):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True,
                disable=not progress)


def _lower_only_matrix(n: int, dtype: Any) -> np.ndarray:
    """An uninitialised (n, n) Fortran-order array whose pages become resident only when
    written. NumPy asks for transparent huge pages on large arrays (2 MiB, about 9 columns of
    a 60k float32 matrix), and writing one column's lower part then makes the upper part
    beside it resident too: at n = 60,000 the whole 14.4 GB instead of its lower half. An
    anonymous mapping advised against huge pages keeps the untouched upper triangle at zero
    cost (measured at 60k: 15.1 GB resident with NumPy's allocation)."""
    import mmap

    size = n * n * np.dtype(dtype).itemsize
    # private: reading a never-written page of a private anonymous mapping maps the shared
    # zero page, whereas a shared one (mmap's default) allocates it — saving the factor
    # reads the whole array (measured at 60k: 14.9 GiB resident with a shared mapping)
    buf = mmap.mmap(-1, max(size, 1), flags=mmap.MAP_PRIVATE)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        buf.madvise(mmap.MADV_NOHUGEPAGE)
    return np.ndarray((n, n), dtype=dtype, buffer=buf, order="F")


def build_lower(X: Any, sq: Any, *, kind: str, gamma: float, ridge: float, dtype: Any,
                block_bytes: int, progress: bool, threads: int | None = None,
                grid: GridRows | None = None) -> Any:
    """The lower triangle of K + ridge·I in ``dtype``, Fortran order (what LAPACK factors in
    place), each entry computed in float64 from X and rounded once; the strict upper triangle
    is left unwritten (never touched on NumPy, so it takes no physical memory, but for the
    diagonal squares). ``threads``: worker threads (default: NumPy's BLAS thread count);
    ``grid``: X's rows on a grid (``grid_gram.grid_rows``), for exact float32 GEMMs."""
    xp = get_xp(X)
    n = X.shape[0]
    with memory_for("X", f"a {n}×{n} {np.dtype(dtype).name} kernel matrix"):
        K = _lower_only_matrix(n, dtype) if xp is np else xp.empty((n, n), dtype=dtype,
                                                                   order="F")
    tiles = _lower_tiles(n, block_bytes)

    def work(tile: tuple[int, int, int, int], _worker: int) -> None:
        r0, r1, c0, c1 = tile
        K[r0:r1, c0:c1] = _lower_tile(X, sq, tile, kind, gamma, ridge, grid)

    with _bar(len(tiles), f"kernel {np.dtype(dtype).name} n={n}", progress) as bar:
        _over_tiles(tiles, work, threads=_threads(threads, xp), bar=bar)
    return K


def _on_grid(X: Any, grid: float | None, xp: Any, name: str) -> GridRows | None:
    """X's ``GridRows`` when ``grid`` is given (on NumPy; CuPy keeps the float64 GEMMs)."""
    if grid is None or xp is not np:
        return None
    grid = check_scalar(grid, "grid", low=0.0, low_open=True)
    return grid_rows(X, grid, name)


def _threads(threads: int | None, xp: Any) -> int:
    return 1 if xp is not np else (blas_threads() if threads is None else max(1, threads))


def kernel_times(X: Any, sq: Any, alpha: Any, *, kind: str, gamma: float, ridge: float,
                 block_bytes: int, progress: bool = False, threads: int | None = None,
                 grid: GridRows | None = None) -> Any:
    """(K + ridge·I) α in float64 for α (n, k), K's entries computed in float64 from X tile
    by tile and never stored: each lower tile K[r0:r1, c0:c1] serves its own rows and, by
    symmetry, the rows c0..c1 (its diagonal square once) — every entry is computed once. The
    tiles run on ``threads`` workers (default: NumPy's BLAS thread count), each summing into
    its own copy of the result (``grid``: as in ``build_lower``). The linear kernel is
    applied as X(Xᵀα), without forming K."""
    xp = get_xp(X, alpha)
    if kind == "linear":
        # XXᵀα = X(Xᵀα): O(n·d·k) instead of O(n²·d)
        return X @ (X.T @ alpha) + ridge * alpha
    n = X.shape[0]
    threads = _threads(threads, xp)
    partial = [xp.zeros(alpha.shape, dtype=xp.float64) for _ in range(threads)]
    tiles = _lower_tiles(n, block_bytes)

    def work(tile: tuple[int, int, int, int], worker: int) -> None:
        r0, r1, c0, c1 = tile
        T = _lower_tile(X, sq, tile, kind, gamma, ridge, grid)
        out = partial[worker]
        out[r0:r1] += T @ alpha[c0:c1]
        s0 = max(c1, r0)  # rows below the diagonal square act on the columns by symmetry
        if s0 < r1:
            out[c0:c1] += T[s0 - r0:].T @ alpha[s0:r1]

    with _bar(len(tiles), f"residual float64 n={n}", progress) as bar:
        _over_tiles(tiles, work, threads=threads, bar=bar)
    return sum(partial[1:], partial[0])


def kernel_predict(X_new: Any, X: Any, alpha: Any, *, kind: str, gamma: float = 1.0,
                   block_bytes: int = 256 * 2**20, progress: bool = False,
                   grid: float | None = None) -> Any:
    """f(x) = Σ_i α_i k(x, x_i) for the rows of X_new (m, d): K(X_new, X) α in float64, in
    tiles of at most ``block_bytes`` on the workers of ``kernel_times``. X (n, d), α (n,) or
    (n, k); returns (m,) or (m, k). ``grid``: X and X_new are integer multiples of it
    (8-bit images /255: 1/255); the RBF distances are then exact, from float32 GEMMs
    (``grid_gram``)."""
    xp = get_xp(X_new, X, alpha)
    X_new = check_array(X_new, "X_new", xp=xp, ndim=2, dtype="float64")
    X = check_array(X, "X", xp=xp, ndim=2, dtype="float64")
    alpha = check_array(alpha, "alpha", xp=xp, ndim=(1, 2), dtype="float64")
    if X_new.shape[1] != X.shape[1]:
        raise ValueError(f"X_new: expected {X.shape[1]} columns like X, got {X_new.shape[1]}")
    if alpha.shape[0] != X.shape[0]:
        raise ValueError(f"alpha: expected {X.shape[0]} rows (one per row of X), "
                         f"got {alpha.shape[0]}")
    check_choice(kind, "kind", KERNELS)
    gamma = check_scalar(gamma, "gamma", low=0.0, low_open=kind == "rbf")
    block_bytes = check_scalar(block_bytes, "block_bytes", integer=True, low=1)
    sq, sq_new = squared_norms(X), squared_norms(X_new)
    a2 = alpha.reshape(X.shape[0], -1)
    if kind == "linear":
        out = X_new @ (X.T @ a2)  # K(X_new, X)α = X_new(Xᵀα), no m×n block
        return out if alpha.ndim == 2 else out[:, 0]
    m, n = X_new.shape[0], X.shape[0]
    budget = min(block_bytes, TILE_BYTES) // 8
    cols = max(1, min(n, 4 * TILE_WIDTH, math.isqrt(budget)))
    tiles = [(r0, r1, c0, c1) for r0, r1 in _panels(m, max(1, budget // cols))
             for c0, c1 in _panels(n, cols)]
    threads = _threads(None, xp)
    partial = [xp.zeros((m, a2.shape[1])) for _ in range(threads)]
    on_grid = new_on_grid = None
    if grid is not None and xp is np:
        grid = check_scalar(grid, "grid", low=0.0, low_open=True)
        # one centre and chunks for both sides: X_new may be brighter than X in some feature
        layout = grid_layout(grid, {"X": X, "X_new": X_new})
        on_grid = grid_rows(X, grid, "X", layout=layout)
        new_on_grid = grid_rows(X_new, grid, "X_new", layout=layout)

    def work(tile: tuple[int, int, int, int], worker: int) -> None:
        r0, r1, c0, c1 = tile
        if on_grid is not None:
            block = grid_rbf_block(new_on_grid, r0, r1, on_grid, c0, c1, gamma)
        else:
            block = kernel_block(X_new[r0:r1], X[c0:c1], sq_new[r0:r1], sq[c0:c1], kind=kind,
                                 gamma=gamma)
        partial[worker][r0:r1] += block @ a2[c0:c1]

    with _bar(len(tiles), "predict", progress) as bar:
        _over_tiles(tiles, work, threads=threads, bar=bar)
    out = sum(partial[1:], partial[0])
    return out if alpha.ndim == 2 else out[:, 0]


# --- factor and solve ---------------------------------------------------------------------

def _factor_in_place(K: Any, xp: Any, progress: Any = None) -> Any:
    """The lower Cholesky factor of K (only its lower triangle is read): on NumPy overwriting
    K by ``blocked_cholesky.blocked_cholesky_in_place`` (a breakdown is reported at the block
    where it happens; ``progress`` is given the columns done); a new array on CuPy.
    NotPositiveDefiniteError when K is not positive definite at this precision."""
    if xp is np:
        return blocked_cholesky_in_place(K, progress=progress)
    # CuPy's cholesky reads the whole matrix: mirror the lower triangle first
    L = xp.linalg.cholesky(xp.tril(K) + xp.tril(K, -1).T)
    if not bool(xp.all(xp.isfinite(L))):
        raise NotPositiveDefiniteError(
            f"X: the kernel matrix is not positive definite in {K.dtype} (the factor has "
            f"non-finite entries)")
    return L


SINGULAR_HINT = ("points too close together for this bandwidth or a linear kernel with more "
                 "points than features; pass ridge > 0 or use "
                 "numerics.kernels.solve_kernel_system's pseudo-inverse")


def _max_diagonal(X: Any, sq: Any, kind: str, ridge: float) -> float:
    """max_i (K + ridge·I)_ii: 1 + ridge for the RBF kernel, max‖x_i‖² + ridge for the linear."""
    return (1.0 if kind == "rbf" else float(sq.max())) + ridge


def _factor_shifted(X: Any, sq: Any, *, kind: str, gamma: float, ridge: float, dtype: str,
                    block_bytes: int, progress: bool, seconds: dict,
                    grid: GridRows | None = None) -> tuple[Any, float, int]:
    """(L, σ, attempts): the Cholesky factor of K + (ridge + σ)·I built and factored in
    place, σ = 0 first, then σ = c·n·u·max diag for c in ``SHIFT_FACTORS`` while the factor
    fails (u: the unit roundoff of ``dtype``). ValueError when every shift fails."""
    xp = get_xp(X)
    n = X.shape[0]
    unit = n * float(np.finfo(dtype).eps) / 2 * _max_diagonal(X, sq, kind, ridge)
    shifts = [0.0] + [c * unit for c in SHIFT_FACTORS]
    failures = []
    for attempt, shift in enumerate(shifts, start=1):
        t0 = time.perf_counter()
        K = build_lower(X, sq, kind=kind, gamma=gamma, ridge=ridge + shift, dtype=dtype,
                        block_bytes=block_bytes, progress=progress, grid=grid)
        seconds["kernel"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        desc = f"Cholesky {dtype} n={n}" + (f" shift {shift:.2g}" if shift else "")
        try:
            with _bar(n, desc, progress, unit="column") as bar:
                L = _factor_in_place(K, xp, bar.update)
            return L, shift, attempt
        except NotPositiveDefiniteError as exc:
            failures.append(f"shift {shift:.3g}: {exc}")
        finally:
            seconds["factor"] += time.perf_counter() - t0
            del K
    raise ValueError(f"X: no Cholesky factor of K + σI in {dtype} for σ up to "
                     f"{shifts[-1]:.3g} ({'; '.join(failures)}): {SINGULAR_HINT}")


def _solve_with_factor(L: Any, b: Any, xp: Any) -> Any:
    """(L Lᵀ)⁻¹ b in float64 for b (n, k) float64, the triangular solves in L's dtype. b is
    scaled by a power of two first, so casting it to float32 neither underflows nor
    overflows (the solve is linear: the scaling is undone exactly)."""
    top = float(xp.abs(b).max()) if b.size else 0.0
    if top == 0.0:
        return xp.zeros(b.shape)
    e = math.frexp(top)[1]
    rhs = xp.asfortranarray(xp.ldexp(b, -e).astype(L.dtype))
    if xp is np:
        from scipy.linalg import lapack

        potrs = lapack.spotrs if L.dtype == np.float32 else lapack.dpotrs
        x, info = potrs(L, rhs, lower=1)
        if info != 0:
            raise RuntimeError(f"LAPACK potrs: info = {info}")
    else:
        import cupyx.scipy.linalg as cla

        x = cla.solve_triangular(L.T, cla.solve_triangular(L, rhs, lower=True), lower=False)
    return xp.ldexp(x.astype(xp.float64), e)


def _norm(a: Any) -> float:
    xp = get_xp(a)
    top = float(xp.abs(a).max()) if a.size else 0.0
    return 0.0 if top == 0.0 else top * float(xp.linalg.norm((a / top).ravel()))


def _auto_dtype(n: int, xp: Any) -> str:
    """float32 on NumPy (this machine's memory); on CuPy float64 when K, its mirrored copy,
    a temporary and the factor (4·8n² bytes) fit in 90 % of the GPU's free memory."""
    if xp is np:
        return "float32"
    free, _ = xp.cuda.runtime.memGetInfo()
    return "float64" if 4 * 8 * n * n <= 0.9 * free else "float32"


# --- checkpoints --------------------------------------------------------------------------

def _digest(*arrays: Any, **scalars: Any) -> str:
    h = hashlib.sha256(json.dumps(scalars, sort_keys=True).encode())
    for a in arrays:
        a = np.ascontiguousarray(to_numpy(a))
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def _load_factor(folder: Path, key: str, n: int, dtype: str
                 ) -> tuple[np.ndarray, float, int] | None:
    """(factor, its diagonal shift, the attempts it took) if ``folder`` holds one of this
    system (same key, shape and dtype, complete); None otherwise (with a FactorWarning when a
    file was there but unusable). Only the lower triangle is copied into memory."""
    path, meta_path = folder / FACTOR_FILE, folder / FACTOR_META
    if not path.exists() or not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") != key:
            return None  # another system's factor: not this run's to use
        stored = np.load(path, mmap_mode="r")
        if stored.shape != (n, n) or stored.dtype != np.dtype(dtype) \
                or not stored.flags.f_contiguous:
            raise ValueError(f"holds {stored.dtype} {stored.shape}, expected {dtype} {(n, n)}")
        if meta.get("sha256_diagonal") != _digest(np.diagonal(stored).copy()):
            raise ValueError("its diagonal does not match the recorded checksum")
        shift, attempts = float(meta.get("shift", 0.0)), int(meta.get("attempts", 1))
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        warnings.warn(f"{path}: unusable factor checkpoint ({exc}); the factor is recomputed",
                      FactorWarning, stacklevel=3)
        return None
    L = _lower_only_matrix(n, dtype)
    for c0, c1 in _panels(n, _panel_width(n, 256 * 2**20)):
        L[c0:, c0:c1] = stored[c0:, c0:c1]
    return L, shift, attempts


def _save_factor(folder: Path, key: str, L: np.ndarray, shift: float, attempts: int) -> None:
    """factor.npy (atomically: a reader never sees half a file), then factor.json naming the
    system it belongs to — written last, so a factor without it is never trusted."""
    (folder / FACTOR_META).unlink(missing_ok=True)
    write_atomic(folder / FACTOR_FILE, lambda fh: np.save(fh, L))
    write_text_atomic(folder / FACTOR_META, json.dumps({
        "key": key, "n": L.shape[0], "dtype": L.dtype.name, "shift": shift,
        "attempts": attempts, "sha256_diagonal": _digest(np.diagonal(L).copy())}))


def _load_solution(folder: Path, key: str
                   ) -> tuple[np.ndarray, np.ndarray, list[float], int] | None:
    """(α, its residual y − (K + λI)α, the residual history, passes) checkpointed for this
    system; None when there is none (FactorWarning when the file is unusable)."""
    path = folder / SOLUTION_FILE
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            if str(data["key"]) != key:
                return None
            return (data["alpha"].copy(), data["residual"].copy(), data["history"].tolist(),
                    int(data["steps"]))
    except (OSError, ValueError, KeyError, EOFError) as exc:
        warnings.warn(f"{path}: unusable solution checkpoint ({exc}); refinement restarts "
                      f"from the factor", FactorWarning, stacklevel=3)
        return None


def _save_solution(folder: Path, key: str, alpha: Any, r: Any, history: list[float],
                   steps: int) -> None:
    write_atomic(folder / SOLUTION_FILE, lambda fh: np.savez(
        fh, key=np.array(key), alpha=to_numpy(alpha), residual=to_numpy(r),
        history=np.array(history), steps=np.array(steps)))


#: what factors K on NumPy
FACTOR_ROUTINE = ("numerics.blocked_cholesky: float64 diagonal blocks (LAPACK dpotrf), "
                  "panels by ?trsm, trailing updates by ?syrk (diagonal squares) and ?gemm, "
                  "on BLAS threads")
#: Gaussian probes of the factor's backward error
PROBES = 4


def _probes(n: int, xp: Any) -> Any:
    """``PROBES`` Gaussian columns (n, PROBES), the same for every run of a given n."""
    return xp.asarray(np.random.default_rng(n).standard_normal((n, PROBES)))


def _backward_error(L: Any, V: Any, KV: Any, xp: Any) -> float:
    """max over the probes v of ‖(K + σI)v − L̂L̂ᵀv‖/‖(K + σI)v‖ (``KV`` = (K + σI)V from a
    float64 kernel pass): the factor's relative backward error seen along random directions
    (a lower estimate of its normwise one). L̂ is read in float64 column panels: column
    block c of L̂ gives (L̂ᵀv)[c] and, at once, its share L̂[:, c](L̂ᵀv)[c] of L̂L̂ᵀv."""
    n = L.shape[0]
    LLv = xp.zeros_like(V)
    for c0, c1 in _panels(n, 256):
        P = L[c0:, c0:c1].astype(xp.float64)
        P[xp.triu_indices(c1 - c0, 1)] = 0.0  # the diagonal square's upper part is not L's
        LLv[c0:] += P @ (P.T @ V[c0:])
    num = xp.sqrt(((KV - LLv) ** 2).sum(axis=0))
    den = xp.sqrt((KV**2).sum(axis=0))
    return float((num / den).max())


class _Background:
    """``job()`` on a thread of its own; ``join()`` waits for it, re-raises what it raised
    and returns the seconds it took."""

    def __init__(self, job: Any):
        import threading

        self._error: list[BaseException] = []
        self._seconds = 0.0

        def run() -> None:
            t0 = time.perf_counter()
            try:
                job()
            except BaseException as exc:  # re-raised by join()
                self._error.append(exc)
            self._seconds = time.perf_counter() - t0

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def join(self) -> float:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._seconds


# --- the solver ---------------------------------------------------------------------------

def _refine(Y: Any, start: tuple | None, apply_kernel: Any, precondition: Any, checkpoint: Any, *,
            tol: float, max_steps: int) -> tuple[Any, Any, list[float], int]:
    """Iterative refinement with a factor of K itself: α ← α + (L̂L̂ᵀ)⁻¹(y − Kα) from
    α = (L̂L̂ᵀ)⁻¹y (or ``start``), until the float64 residual is ≤ ``tol``, stops
    decreasing (a factor too inexact to contract: the best α so far is kept), or
    ``max_steps`` corrections. Returns (α, y − Kα, history, corrections)."""
    y_norm = _norm(Y)
    alpha, r, history, steps = (precondition(Y), None, [], 0) if start is None else start
    best = None
    while True:
        if r is None:
            r = Y - apply_kernel(alpha)
            history.append(_norm(r) / y_norm)
            checkpoint(alpha, r, history, steps)
        if len(history) >= 2 and history[-1] >= history[-2]:
            return (*best, history, steps) if best is not None else (alpha, r, history, steps)
        if history[-1] <= tol or steps >= max_steps:
            return alpha, r, history, steps
        best = (alpha, r)
        alpha = alpha + precondition(r)
        steps, r = steps + 1, None


def _conjugate_gradients(Y: Any, start: tuple | None, apply_kernel: Any, precondition: Any,
                         checkpoint: Any, *, tol: float, max_steps: int
                         ) -> tuple[Any, Any, list[float], int]:
    """Preconditioned conjugate gradients on Kα = y, one independent CG per column of y
    (Golub & Van Loan, Alg. 11.5.1), from α = 0 (or ``start``: a restart from its α and
    residual). Stops at ``tol``, after ``max_steps`` passes, when the residual has not
    fallen by 0.1 % in ``CG_STALL_PASSES`` passes, or at a direction of non-positive
    curvature (K not positive definite in float64). The recurrence's residual drifts from
    y − Kα by rounding, so the last one is recomputed from α (and CG restarts from it if only
    the recurrence had met ``tol``). Returns (α, y − Kα, history, passes)."""
    xp = get_xp(Y)
    y_norm = _norm(Y)
    alpha, r, history, steps = (xp.zeros_like(Y), Y.copy(), [], 0) if start is None \
        else start
    for _restart in range(3):
        if history and history[-1] <= tol:
            break
        best, since = math.inf, 0
        z = precondition(r)
        p, rz = z.copy(), (r * z).sum(axis=0)
        while steps < max_steps:
            Kp = apply_kernel(p)
            pKp = (p * Kp).sum(axis=0)
            if bool(xp.any((pKp < 0) | ((pKp == 0) & (rz > 0)))):
                break
            a = xp.where(pKp > 0, rz / xp.where(pKp > 0, pKp, 1.0), 0.0)
            alpha, r, steps = alpha + a * p, r - a * Kp, steps + 1
            history.append(_norm(r) / y_norm)
            checkpoint(alpha, r, history, steps)
            if history[-1] <= tol:
                break
            best, since = (history[-1], 0) if history[-1] < best * (1 - 1e-3) \
                else (best, since + 1)
            if since >= CG_STALL_PASSES:
                break
            z = precondition(r)
            rz_new = (r * z).sum(axis=0)
            p = z + xp.where(rz > 0, rz_new / xp.where(rz > 0, rz, 1.0), 0.0) * p
            rz = rz_new
        met = bool(history) and history[-1] <= tol
        r = Y - apply_kernel(alpha)
        history.append(_norm(r) / y_norm)
        checkpoint(alpha, r, history, steps)
        if not met or history[-1] <= tol or steps >= max_steps:
            break
    return alpha, r, history, steps


def _checked(X, y, kind, gamma, ridge, tol, max_refinement, factor_dtype, block_bytes):
    xp = get_xp(X, y)
    X = check_array(X, "X", xp=xp, ndim=2, dtype="float64")
    y = check_array(y, "y", xp=xp, ndim=(1, 2), dtype="float64")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y: expected {X.shape[0]} rows (one per row of X), got {y.shape[0]}")
    check_choice(kind, "kind", KERNELS)
    gamma = check_scalar(gamma, "gamma", low=0.0, low_open=kind == "rbf")
    ridge = check_scalar(ridge, "ridge", low=0.0)
    tol = check_scalar(tol, "tol", low=0.0, high=1.0, low_open=True, high_open=True)
    max_refinement = check_scalar(max_refinement, "max_refinement", integer=True, low=0)
    check_choice(factor_dtype, "factor_dtype", FACTOR_DTYPES)
    block_bytes = check_scalar(block_bytes, "block_bytes", integer=True, low=1)
    if _norm(y) == 0.0:
        raise ValueError("y: expected a non-zero right-hand side (α = 0 solves y = 0)")
    return xp, X, y, gamma, ridge, tol, max_refinement, block_bytes


def solve_kernel_interpolation(
    X: Any, y: Any, *, kind: str = "rbf", gamma: float = 1.0, ridge: float = 0.0,
    tol: float = RESIDUAL_TOLERANCE, max_refinement: int = 30, factor_dtype: str = "auto",
    block_bytes: int = 256 * 2**20, checkpoint_dir: str | Path | None = None,
    progress: bool = True, grid: float | None = None, checkpoint_factor: bool = True,
) -> tuple[Any, KernelSolveInfo]:
    """Solve (K + ridge·I) α = y with K[i, j] = k(x_i, x_j) formed from X without ever
    storing K in float64 (RR Sec. 5, eq. 3; ``ridge`` = 0 is RR's interpolation).

    Args:
        X: (n, d) data (NumPy or CuPy; converted to float64).
        y: (n,) or (n, k) targets (e.g. one-hot labels).
        kind: "rbf" (exp(−γ‖x − x′‖²), γ > 0) or "linear" (⟨x, x′⟩; pass random features
            as X for the linear kernel on random features).
        ridge: λ ≥ 0 added to K's diagonal.
        tol: target relative residual ‖y − (K + λI)α‖_F/‖y‖_F against the float64 kernel.
        max_refinement: at most this many refinement passes after the first solve (or
            conjugate-gradient passes, when the factor needed a shift); refinement stops
            once the residual is ≤ ``tol`` or stops decreasing.
        factor_dtype: "float32" (in place, 4n² bytes), "float64" (8n²), or "auto" (float32
            on NumPy; on CuPy float64 when it fits in GPU memory).
        block_bytes: the largest float64 panel made at once.
        checkpoint_dir: an existing directory: the factor (factor.npy + factor.json; unless
            ``checkpoint_factor`` is False) and the solution after each pass (solution.npz)
            are kept there and reused by a later call on the same X, kernel and ridge (same
            y for the solution).
        progress: tqdm bars on stderr for every long phase.
        grid: X's entries are integer multiples of ``grid`` (8-bit images /255: 1/255): the
            RBF kernel's distances are then computed exactly by float32 GEMMs, at twice the
            float64 rate (``grid_gram``). ValueError when X is not on it.

    Returns:
        (α float64 shaped like y, ``KernelSolveInfo``). ``info.converged`` is False when the
        passes ran out or stalled above ``tol`` (the residual history says how far it got).

    A K whose factor fails at its precision is factored again with a diagonal shift and
    solved (unshifted) by preconditioned conjugate gradients (module docstring, step 4).

    Raises ValueError for bad inputs (naming the argument), a K that is singular in float64
    (no factor even with the largest shift, or conjugate gradients stalling), or a K that
    does not fit in memory.
    """
    xp, X, y, gamma, ridge, tol, max_refinement, block_bytes = _checked(
        X, y, kind, gamma, ridge, tol, max_refinement, factor_dtype, block_bytes)
    folder = None
    if checkpoint_dir is not None:
        folder = Path(checkpoint_dir)
        if not folder.is_dir():
            raise ValueError(f"checkpoint_dir: expected an existing directory, got {folder}")
    n = X.shape[0]
    dtype = _auto_dtype(n, xp) if factor_dtype == "auto" else factor_dtype
    Y = y.reshape(n, -1)
    seconds = {"kernel": 0.0, "factor": 0.0, "solve": 0.0, "residual": 0.0, "checkpoint": 0.0}
    resumed: list[str] = []
    sq = squared_norms(X)
    on_grid = _on_grid(X, grid, xp, "X") if kind == "rbf" else None
    fkey = _digest(X, kind=kind, gamma=gamma, ridge=ridge, dtype=dtype, grid=grid) \
        if folder else ""
    skey = _digest(X, Y, kind=kind, gamma=gamma, ridge=ridge, dtype=dtype, tol=tol, grid=grid) \
        if folder else ""

    loaded = _load_factor(folder, fkey, n, dtype) if folder is not None and xp is np else None
    saver = None
    if loaded is not None:
        L, shift, attempts = loaded
        resumed.append("factor")
    else:
        L, shift, attempts = _factor_shifted(X, sq, kind=kind, gamma=gamma, ridge=ridge,
                                             dtype=dtype, block_bytes=block_bytes,
                                             progress=progress, seconds=seconds,
                                             grid=on_grid)
        if folder is not None and xp is np and checkpoint_factor:
            # written beside the refinement (disk, not the cores, bounds it), joined below
            saver = _Background(lambda: _save_factor(folder, fkey, L, shift, attempts))
    probes = _probes(n, xp)
    probe_product: list = []

    def apply_kernel(a: Any) -> Any:
        t0 = time.perf_counter()
        # the first pass also carries the probes of the factor's backward error
        cols = a if probe_product else xp.concatenate([a, probes], axis=1)
        out = kernel_times(X, sq, cols, kind=kind, gamma=gamma, ridge=ridge,
                           block_bytes=block_bytes, progress=progress, grid=on_grid)
        seconds["residual"] += time.perf_counter() - t0
        if not probe_product:
            probe_product.append(out[:, a.shape[1]:] + shift * probes)
            out = out[:, :a.shape[1]]
        return out

    def precondition(b: Any) -> Any:
        t0 = time.perf_counter()
        out = _solve_with_factor(L, b, xp)
        seconds["solve"] += time.perf_counter() - t0
        return out

    def checkpoint(alpha: Any, r: Any, history: list[float], steps: int) -> None:
        if folder is not None:
            t0 = time.perf_counter()
            _save_solution(folder, skey, alpha, r, history, steps)
            seconds["checkpoint"] += time.perf_counter() - t0

    saved = _load_solution(folder, skey) if folder is not None else None
    if saved is not None:
        resumed.append("solution")
        start = (xp.asarray(saved[0]), xp.asarray(saved[1]), saved[2], saved[3])
    else:
        start = None
    method = "pcg"
    if shift == 0.0:
        method = "refinement"
        start = _refine(Y, start, apply_kernel, precondition, checkpoint, tol=tol,
                        max_steps=max_refinement)
        if start[2][-1] > tol and start[3] < max_refinement:
            method = "refinement, then pcg"  # the factor is too inexact to contract
    if method != "refinement":
        start = _conjugate_gradients(Y, start, apply_kernel, precondition, checkpoint, tol=tol,
                                     max_steps=max_refinement)
    alpha, r, history, steps = start
    backward = None
    if probe_product:
        t0 = time.perf_counter()
        backward = _backward_error(L, probes, probe_product[0], xp)
        seconds["backward_error"] = time.perf_counter() - t0
    if saver is not None:
        seconds["checkpoint"] += saver.join()
    if history[-1] > tol and steps < max_refinement:
        raise ValueError(
            f"X: the kernel matrix is not positive definite in float64 (singular or too "
            f"ill-conditioned): conjugate gradients on K, preconditioned by the "
            f"{dtype} factor of K + {shift:.3g}·I, stalled at "
            f"a relative residual of {history[-1]:.3g} after {steps} passes: {SINGULAR_HINT}")
    K_alpha = Y - r
    # αᵀKα = αᵀ(Kα + λα) − λ‖α‖² with (K + λI)α computed in the last pass
    quad = float((alpha * K_alpha).sum()) - ridge * float((alpha * alpha).sum())
    info = KernelSolveInfo(
        n=n, outputs=Y.shape[1], kind=kind, gamma=gamma, ridge=ridge, factor_dtype=dtype,
        tolerance=tol, residual_history=[float(h) for h in history], refinement_steps=steps,
        converged=history[-1] <= tol, norm=math.sqrt(max(quad, 0.0)),
        method=method, shift=shift,
        factor_attempts=attempts, seconds=seconds, resumed=resumed,
        factor_backward_error=backward, threads=_threads(None, xp),
        factor_routine=FACTOR_ROUTINE if xp is np else "cupy.linalg.cholesky",
        kernel_gemm=("exact float32 GEMMs of X/grid (grid " f"{on_grid.grid:.6g})"
                     if on_grid is not None else "float64 GEMMs"),
        blas=blas_provenance() if xp is np else {})
    return (alpha if y.ndim == 2 else alpha[:, 0]), info
