"""Linear algebra for the gradient-descent limits of least squares (IC App. C, App. D).

All functions take NumPy or CuPy arrays and return arrays on the same backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp, unit_roundoff
from overparam.numerics.validation import check_array

__all__ = ["RankInfo", "binary_exponent", "gd_limit_least_squares", "lemma1_limit", "lemma2_limit",
           "numerical_rank", "project_onto_span", "rank_from_singular_values", "scaled_norm",
           "unit_vector"]


@dataclass(frozen=True)
class RankInfo:
    """Numerical rank of a matrix and how it was decided.

    ``threshold`` is ``max(shape) * eps * sigma_max`` (NumPy's ``matrix_rank`` default, the
    standard backward-error threshold for float SVD); singular values at or below it count
    as zero.
    """

    rank: int
    singular_values: Any
    threshold: float
    rule: str = "max(N, D) * eps(dtype) * sigma_max"

    @property
    def condition(self) -> float:
        """sigma_max / sigma_rank (the conditioning on the range), inf for the zero matrix."""
        if self.rank == 0:
            return float("inf")
        s = self.singular_values
        return float(s[0] / s[self.rank - 1])


def rank_from_singular_values(s: Any, shape: tuple[int, int], dtype: Any) -> RankInfo:
    """RankInfo from the singular values ``s`` (descending) of a matrix of ``shape``."""
    s = check_array(s, "s", ndim=1, allow_empty=True)
    if s.size and (bool((s < 0).any()) or bool((s[1:] > s[:-1]).any())):
        raise ValueError("s: expected non-negative singular values in descending order")
    xp = get_xp(s)
    eps = 2.0 * unit_roundoff(dtype)
    threshold = float(max(shape) * eps * float(s[0])) if s.size else 0.0
    rank = int(xp.sum(s > threshold))
    return RankInfo(rank=rank, singular_values=s, threshold=threshold)


def numerical_rank(X: Any) -> RankInfo:
    """Numerical rank of a 2-D array ``X`` (N, D) from its singular values (see RankInfo)."""
    X = check_array(X, "X", ndim=2)
    xp = get_xp(X)
    # the SVD of subnormal or huge entries is inaccurate: decompose X·2^−e (exact), scale back
    e = binary_exponent(X)
    info = rank_from_singular_values(xp.linalg.svd(xp.ldexp(X, -e), compute_uv=False),
                                     X.shape, X.dtype)
    return RankInfo(rank=info.rank, singular_values=xp.ldexp(info.singular_values, e),
                    threshold=math.ldexp(info.threshold, e))


def binary_exponent(A: Any) -> int:
    """e with max|A| = f·2^e, f ∈ [½, 1) (0 for a zero or empty array): scaling A by 2^−e
    (``ldexp``) is exact and brings its largest entry into [½, 1), so subnormal or huge
    entries can be worked with at full precision. A: any shape, finite real values."""
    A = check_array(A, "A", allow_empty=True, dtype="numeric")
    m = float(get_xp(A).abs(A).max()) if A.size else 0.0
    return math.frexp(m)[1] if m > 0 else 0


def _check_system(X: Any, Y: Any, W0: Any | None) -> tuple[Any, Any, Any, Any]:
    xp = get_xp(X, Y, *([] if W0 is None else [W0]))
    X = check_array(X, "X", xp=xp, ndim=2)
    Y = check_array(Y, "Y", xp=xp, ndim=(1, 2))
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"Y: expected {X.shape[0]} rows to match X {tuple(X.shape)}, "
                         f"got shape {tuple(Y.shape)}")
    if W0 is not None:
        W0 = check_array(W0, "W0", xp=xp, ndim=Y.ndim)
        expected = (X.shape[1],) + tuple(Y.shape[1:])
        if tuple(W0.shape) != expected:
            raise ValueError(f"W0: expected shape {expected}, got {tuple(W0.shape)}")
    return xp, X, Y, W0


def gd_limit_least_squares(X: Any, Y: Any, W0: Any) -> Any:
    """Limit of gradient descent on ½‖XW − Y‖² from ``W0``, for any rank of ``X``.

    GD moves W only inside W0 + range(Xᵀ) and converges (for a stable step) to the
    least-squares solution in that affine set: W∞ = W0 + X⁺(Y − X W0). IC Lemmas 1 and 2
    (App. D) are its full-rank special cases.

    Shapes: X (N, D), Y (N, d) or (N,), W0 (D, d) or (D,). Returns W∞ with W0's shape.
    The pseudo-inverse is applied through an SVD truncated at ``numerical_rank``'s threshold.
    """
    _, X, Y, W0 = _check_system(X, Y, W0)
    return W0 + _pinv_apply(X, Y - X @ W0, None)


def _pinv_apply(X: Any, R: Any, need_rank: int | None) -> Any:
    """X⁺R through an SVD truncated at ``numerical_rank``'s threshold. With ``need_rank``,
    returns None when the numerical rank is below it (the caller raises).

    X and R are scaled exactly by powers of two first (the SVD of subnormal entries is
    inaccurate), and the result scaled back by ``ldexp``, which saturates to ±inf rather
    than forming inf − inf; a solution beyond float64 raises ValueError."""
    xp = get_xp(X)
    ex, er = binary_exponent(X), binary_exponent(R)
    U, s, Vt = xp.linalg.svd(xp.ldexp(X, -ex), full_matrices=False)
    r = rank_from_singular_values(s, X.shape, X.dtype).rank
    if need_rank is not None and r < need_rank:
        return None
    Rs = xp.ldexp(R, -er)
    coeff = (U[:, :r].T @ Rs) / (s[:r] if R.ndim == 1 else s[:r, None])
    with np.errstate(over="ignore"):
        out = xp.ldexp(Vt[:r].T @ coeff, er - ex)
    if not bool(xp.all(xp.isfinite(out))):
        raise ValueError("Y: the least-squares solution X⁺Y exceeds the float64 range "
                         "(X is too close to rank-deficient at this scale of Y)")
    return out


def lemma1_limit(X: Any, Y: Any, W0: Any) -> Any:
    """IC Lemma 1 (App. D): for N ≤ D and rank X = N, GD on ½‖XW − Y‖² from W0 converges to
    W0 + Xᵀ(XXᵀ)⁻¹(Y − XW0).

    Shapes: X (N, D), Y (N, d), W0 (D, d). Raises ValueError when N > D or X is numerically
    rank-deficient (the Gram matrix XXᵀ would be singular). Xᵀ(XXᵀ)⁻¹ = X⁺ for full row rank,
    and it is applied through X's SVD, never by forming XXᵀ (whose condition number is κ²):
    the forward error is O(max(N, D)·eps·κ) relative, κ = σ_max/σ_min of X.
    """
    _, X, Y, W0 = _check_system(X, Y, W0)
    N, D = X.shape
    if N > D:
        raise ValueError(f"X: Lemma 1 needs N <= D, got N={N}, D={D} (use lemma2_limit)")
    step = _pinv_apply(X, Y - X @ W0, N)
    if step is None:
        raise _rank_error(X, "Lemma 1", "N", N, "XXᵀ")
    return W0 + step


def lemma2_limit(X: Any, Y: Any) -> Any:
    """IC Lemma 2 (App. D): for N > D and rank X = D, GD on ½‖XW − Y‖² converges to
    (XᵀX)⁻¹XᵀY whatever W0 is.

    Shapes: X (N, D), Y (N, d). Raises ValueError when N ≤ D or X is numerically
    rank-deficient (XᵀX would be singular). (XᵀX)⁻¹Xᵀ = X⁺ for full column rank, applied
    through X's SVD rather than the normal equations (condition κ² there, κ here).
    """
    _, X, Y, _ = _check_system(X, Y, None)
    N, D = X.shape
    if N <= D:
        raise ValueError(f"X: Lemma 2 needs N > D, got N={N}, D={D} (use lemma1_limit)")
    W = _pinv_apply(X, Y, D)
    if W is None:
        raise _rank_error(X, "Lemma 2", "D", D, "XᵀX")
    return W


def _rank_error(X: Any, lemma: str, symbol: str, needed: int, gram: str) -> ValueError:
    info = numerical_rank(X)
    return ValueError(f"X: {lemma} needs rank X = {symbol} = {needed}, numerical rank is "
                      f"{info.rank} (singular values <= {info.threshold:.3g} = max(N, D)·eps·"
                      f"σ_max count as zero); the rank condition fails and {gram} is singular")


def scaled_norm(a: Any) -> Any:
    """Euclidean norm of all entries of ``a``, computed as m·‖a/m‖ with m = max|a| so that it
    neither underflows (entries ~1e-161 square to 0) nor overflows; 0 for the zero array."""
    a = check_array(a, "a")
    xp = get_xp(a)
    m = xp.max(xp.abs(a))
    if float(m) == 0.0:
        return m
    return m * xp.linalg.norm((a / m).ravel())


def unit_vector(X: Any) -> Any:
    """X/‖X‖ for a non-zero vector, scaled by max|X| first: ‖X‖ itself underflows to 0 for
    X of magnitude ~1e-161 and overflows for ~1e155, while X/‖X‖ is always representable.
    Raises ValueError for the zero vector (it has no direction)."""
    X = check_array(X, "X")
    xp = get_xp(X)
    if not bool(xp.any(X != 0)):
        raise ValueError("X: expected a non-zero vector, got all zeros (no direction)")
    Xs = X / xp.max(xp.abs(X))
    return Xs / xp.linalg.norm(Xs)


def project_onto_span(v: Any, X: Any) -> Any:
    """Orthogonal projection of the rows of ``v`` (n, d) or a vector (d,) onto span{X}, X (d,)
    non-zero (through ``unit_vector``, so any non-zero magnitude works). v is scaled by a
    power of two while projecting, so ⟨v, u⟩ cannot overflow for entries near 1.8e308."""
    u = unit_vector(check_array(X, "X", ndim=1))
    v = check_array(v, "v", xp=get_xp(u), ndim=(1, 2))
    if v.shape[-1] != u.shape[0]:
        raise ValueError(f"v: expected last dimension {u.shape[0]}, got shape {tuple(v.shape)}")
    xp = get_xp(u)
    e = binary_exponent(v)
    vs = xp.ldexp(v, -e)
    par = (vs @ u)[..., None] * u if v.ndim == 2 else (vs @ u) * u
    with np.errstate(over="ignore"):
        return xp.ldexp(par, e)
