"""Kernel matrices and the minimum-norm kernel interpolant Kα = y (RR Sec. 5, eq. 3).

``kernel_matrix`` assembles K in row blocks under a memory budget; ``solve_kernel_system``
factors it by Cholesky and, where K is singular in floating point, falls back to an
eigendecomposition pseudo-inverse — reported in the returned info, never silently. A K that
is not symmetric, or is indefinite beyond rounding, is refused (no α solves the problem the
caller meant).
Optionally the factorisation runs in float32 and iterative refinement in float64 brings the
solution back to float64 accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp, unit_roundoff
from overparam.numerics.linalg import binary_exponent, scaled_norm
from overparam.numerics.validation import check_array, check_choice, check_scalar, memory_for

__all__ = ["KERNELS", "SYMMETRY_TOLERANCE", "SolveInfo", "kernel_matrix", "solve_kernel_system"]

KERNELS = ("linear", "rbf")


def kernel_matrix(A: Any, B: Any | None = None, *, kind: str = "linear", gamma: float = 1.0,
                  memory_budget_bytes: int = 512 * 2**20) -> Any:
    """K[i, j] = k(a_i, b_j) for rows of A (n, d) and B (m, d) (B = A if omitted):
    "linear" ⟨a, b⟩ or "rbf" exp(−γ‖a − b‖²). Rows are assembled in blocks whose temporaries
    stay within ``memory_budget_bytes``. ``gamma`` ≥ 0 (γ < 0 is no kernel: exp(+|γ|d²)
    is not positive semi-definite)."""
    xp = get_xp(A, *([] if B is None else [B]))
    A = check_array(A, "A", xp=xp, ndim=2, dtype="float64")
    B = A if B is None else check_array(B, "B", xp=xp, ndim=2, dtype="float64")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"B: expected {A.shape[1]} columns to match A, got {B.shape[1]}")
    check_choice(kind, "kind", KERNELS)
    gamma = check_scalar(gamma, "gamma", low=0.0)
    memory_budget_bytes = check_scalar(memory_budget_bytes, "memory_budget_bytes",
                                       integer=True, low=1)
    n, m = A.shape[0], B.shape[0]
    rows = max(1, int(memory_budget_bytes // (8 * (2 * m + A.shape[1]))))
    with memory_for("A", f"a {n}×{m} kernel matrix"):
        K = xp.empty((n, m))
    if kind == "rbf":
        # scaled exactly by a power of two so that ‖a‖² cannot overflow (inf − inf = NaN for
        # entries ~1e200); γ·d²·2^2e is then formed by ldexp, which saturates to inf (K = 0)
        e = max(binary_exponent(A), binary_exponent(B))
        A, B = xp.ldexp(A, -e), xp.ldexp(B, -e)
        b_sq = (B * B).sum(axis=1)
    for s in range(0, n, rows):
        with np.errstate(over="ignore"):  # a linear kernel's overflow is reported below
            blk = A[s:s + rows] @ B.T
        if kind == "rbf":
            a_sq = (A[s:s + rows] * A[s:s + rows]).sum(axis=1)
            d2 = xp.maximum(a_sq[:, None] + b_sq[None, :] - 2 * blk, 0.0)
            with np.errstate(over="ignore"):
                blk = xp.exp(-xp.ldexp(gamma * d2, 2 * e))
        K[s:s + rows] = blk
    if kind == "linear" and not bool(xp.all(xp.isfinite(K))):
        raise ValueError("A: inner products overflow float64 (entries too large for a linear "
                         "kernel); rescale the data")
    return K


@dataclass(frozen=True)
class SolveInfo:
    """How ``solve_kernel_system`` solved: "cholesky" or "eigh-pinv", the float32
    refinement steps used, the relative residual ‖Kα − y‖/‖y‖, and (for eigh) how many
    eigenvalues were dropped as zero and the threshold."""

    method: str
    refinement_steps: int
    relative_residual: float
    dropped_eigenvalues: int = 0
    threshold: float = 0.0


def _cholesky_solve(K: Any, y: Any, xp: Any) -> Any | None:
    """A solver with K's Cholesky factor, or None when K is singular at K's precision: the
    factor fails, or it "succeeds" with a pivot L_ii² ≤ n·eps·max K_ii — at the rounding
    level of an exactly singular K (e.g. a duplicated point), where whether LAPACK fails
    depends on the rounding (the same threshold as the eigendecomposition's)."""
    n = K.shape[0]
    floor = n * float(xp.finfo(K.dtype).eps) * float(xp.abs(xp.diagonal(K)).max()) if n else 0.0
    try:
        if xp is np:
            import scipy.linalg

            c = scipy.linalg.cho_factor(K, lower=True, check_finite=False)
            if n and float(np.min(np.diagonal(c[0]) ** 2)) <= floor:
                return None
            return lambda r: scipy.linalg.cho_solve(c, r, check_finite=False)
        L = xp.linalg.cholesky(K)
        if not bool(xp.all(xp.isfinite(L))) or (n and float(xp.min(xp.diagonal(L) ** 2))
                                                <= floor):
            return None
        import cupyx.scipy.linalg as cla

        return lambda r: cla.solve_triangular(L.T, cla.solve_triangular(L, r, lower=True),
                                              lower=False)
    except np.linalg.LinAlgError:
        return None


#: Relative asymmetry max|K − Kᵀ|/max|K| above which K is not a rounded symmetric kernel.
#: Evaluating a kernel entry rounds it by about 4(d + 2)·u·γ·max‖z‖² (u = 2⁻⁵³), below 1e-9
#: even for d = 10⁴ and γ·max‖z‖² = 10²; an input that is really not symmetric is refused.
SYMMETRY_TOLERANCE = 1e-6


def _check_symmetric(K: Any, xp: Any) -> None:
    scale = float(xp.abs(K).max())
    gap = float(xp.abs(K - K.T).max())
    if gap > SYMMETRY_TOLERANCE * scale:
        raise ValueError(f"K: expected a symmetric matrix, max|K − Kᵀ| = {gap:.3g} exceeds "
                         f"{SYMMETRY_TOLERANCE:g}·max|K| = {SYMMETRY_TOLERANCE * scale:.3g}")


def _norm(v: Any) -> float:
    """‖v‖ without overflow of the squares (entries ~1e154 and above); inf if v is not
    finite (a failed solve), so comparisons and residual ratios stay NaN-free."""
    xp = get_xp(v)
    return float(scaled_norm(v)) if bool(xp.all(xp.isfinite(v))) else float("inf")


def _relative_residual(r: Any, y: Any) -> float:
    """‖r‖/‖y‖ (‖r‖ if y = 0), both scaled by the same power of two first: ‖y‖ itself may
    exceed float64 when its entries are near 1.8e308."""
    xp = get_xp(y)
    e = binary_exponent(y)
    return _norm(xp.ldexp(r, -e)) / (_norm(xp.ldexp(y, -e)) or 1.0)


def solve_kernel_system(K: Any, y: Any, *, float32: bool = False,
                        max_refinement: int = 10) -> tuple[Any, SolveInfo]:
    """Solve Kα = y for a symmetric positive semi-definite K (n, n), y (n,) or (n, k).

    Cholesky first. If it fails (K singular in floating point), the minimum-norm solution
    through K's eigendecomposition with eigenvalues ≤ n·eps·λ_max treated as zero — and
    ``SolveInfo.method`` says so. Raises ValueError when K is not symmetric (beyond
    ``SYMMETRY_TOLERANCE``) or has an eigenvalue below −n·eps·max|λ| (indefinite).
    With ``float32`` the Cholesky factor is computed in float32 and iterative refinement
    (residuals in float64) runs until the correction stops shrinking or ``max_refinement``
    steps."""
    xp = get_xp(K, y)
    K = check_array(K, "K", xp=xp, ndim=2, dtype="float64")
    y = check_array(y, "y", xp=xp, ndim=(1, 2), dtype="float64")
    n = K.shape[0]
    if K.shape != (n, n) or y.shape[0] != n:
        raise ValueError(f"K, y: expected K (n, n) and y (n, ...), got {K.shape}, {y.shape}")
    max_refinement = check_scalar(max_refinement, "max_refinement", integer=True, low=0)
    _check_symmetric(K, xp)
    solve = _cholesky_solve(K.astype(xp.float32) if float32 else K, y, xp)
    if solve is not None:
        alpha = solve(y.astype(xp.float32) if float32 else y).astype(xp.float64)
        steps = 0
        if float32:
            prev = np.inf
            for step in range(1, max_refinement + 1):
                steps = step
                r = y - K @ alpha
                d = solve(r.astype(xp.float32)).astype(xp.float64)
                alpha = alpha + d
                size = _norm(d)
                if size >= prev or size <= unit_roundoff(np.float64) * _norm(alpha):
                    break
                prev = size
        res = _relative_residual(K @ alpha - y, y)
        if bool(xp.all(xp.isfinite(alpha))):
            return alpha, SolveInfo("cholesky", steps, res)
    lam, V = xp.linalg.eigh(K)
    thr = n * 2 * unit_roundoff(np.float64) * float(xp.abs(lam).max())
    if float(lam[0]) < -thr:
        raise ValueError(f"K: expected a positive semi-definite matrix, smallest eigenvalue "
                         f"{float(lam[0]):.3g} is below -n·eps·max|λ| = {-thr:.3g}")
    keep = lam > thr
    inv = xp.where(keep, 1.0 / xp.where(keep, lam, 1.0), 0.0)
    coef = V.T @ y
    with np.errstate(over="ignore", invalid="ignore"):
        alpha = V @ (inv[:, None] * coef if y.ndim == 2 else inv * coef)
    if not bool(xp.all(xp.isfinite(alpha))):
        raise ValueError("y: the minimum-norm solution α exceeds the float64 range (K's "
                         "smallest kept eigenvalues are too small for this y)")
    res = _relative_residual(K @ alpha - y, y)
    return alpha, SolveInfo("eigh-pinv", 0, res, int((~keep).sum()), thr)
