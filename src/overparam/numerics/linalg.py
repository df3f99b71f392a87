"""Linear algebra for the gradient-descent limits of least squares (IC App. C, App. D): the
pseudo-inverse applied through a truncated SVD, the numerical rank and its threshold, and
scale-safe norms and projections. The limits themselves (IC Lemmas 1–2) are stated in
``theory.identity_crisis``.

All functions take NumPy or CuPy arrays and return arrays on the same backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp, unit_roundoff
from overparam.numerics.validation import check_array, check_scalar

__all__ = ["RankInfo", "binary_exponent", "numerical_rank", "pinv_apply", "project_onto_span",
           "rank_from_singular_values", "scaled_norm", "unit_vector"]


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


def pinv_apply(X: Any, R: Any, *, min_rank: int | None = None, name: str = "R") -> Any:
    """X⁺R, the minimum-norm least-squares solution of X·W = R, through an SVD of X truncated
    at ``numerical_rank``'s threshold (the algorithm behind IC Lemmas 1–2, App. D; the
    statements live in ``theory.identity_crisis``). It never forms XᵀX or XXᵀ (condition
    κ² there, κ here).

    Shapes: X (N, D), R (N, d) or (N,); returns (D, d) or (D,). With ``min_rank``, returns
    None when the numerical rank of X is below it (the caller says what that means).
    X and R are scaled exactly by powers of two first (the SVD of subnormal entries is
    inaccurate), and the result scaled back by ``ldexp``, which saturates to ±inf rather
    than forming inf − inf; a solution beyond float64 raises ValueError naming R as ``name``
    (what the caller calls the right-hand side, e.g. "Y")."""
    xp = get_xp(X, R)
    X = check_array(X, "X", xp=xp, ndim=2)
    R = check_array(R, name, xp=xp, ndim=(1, 2))
    if R.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: expected {X.shape[0]} rows to match X {tuple(X.shape)}, "
                         f"got shape {tuple(R.shape)}")
    if min_rank is not None:
        min_rank = check_scalar(min_rank, "min_rank", integer=True, low=0)
    ex, er = binary_exponent(X), binary_exponent(R)
    U, s, Vt = xp.linalg.svd(xp.ldexp(X, -ex), full_matrices=False)
    r = rank_from_singular_values(s, X.shape, X.dtype).rank
    if min_rank is not None and r < min_rank:
        return None
    Rs = xp.ldexp(R, -er)
    coeff = (U[:, :r].T @ Rs) / (s[:r] if R.ndim == 1 else s[:r, None])
    with np.errstate(over="ignore"):
        out = xp.ldexp(Vt[:r].T @ coeff, er - ex)
    if not bool(xp.all(xp.isfinite(out))):
        raise ValueError(f"{name}: the least-squares solution X⁺{name} exceeds the float64 "
                         f"range (X is too close to rank-deficient at this scale of {name})")
    return out


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
