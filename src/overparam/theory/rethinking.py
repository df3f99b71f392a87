"""Understanding Deep Learning Requires Rethinking Generalization (Zhang, Bengio, Hardt,
Recht, Vinyals, ICLR 2017): finite-sample expressivity (Thm 1, Lemma 1, App. C) and the
minimum-norm interpolant of Sec. 5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from overparam.numerics.backend import as_float_array, default_rng, get_xp, to_numpy
from overparam.numerics.linalg import gd_limit_least_squares

__all__ = [
    "Depth2Interpolant",
    "depth2_interpolant",
    "interleaved_relu_matrix",
    "min_norm_interpolant",
    "solve_interleaved",
]


def interleaved_relu_matrix(x: Any, b: Any) -> np.ndarray:
    """RR Lemma 1's A = [max(x_i − b_j, 0)]_{ij} for x, b (n,). Works on floats or on object
    arrays of Fractions (exact)."""
    x, b = np.asarray(x), np.asarray(b)
    A = x[:, None] - b[None, :]
    return np.where(A > 0, A, A * 0)


def _check_interleaving(x: Any, b: Any) -> None:
    seq = [v for pair in zip(b, x, strict=True) for v in pair]
    if any(not (p < q) for p, q in zip(seq, seq[1:], strict=False)):
        raise ValueError("x, b: expected interleaving b_1 < x_1 < b_2 < … < b_n < x_n")


def solve_interleaved(x: Any, b: Any, y: Any) -> np.ndarray:
    """w with A w = y for RR Lemma 1's lower-triangular A, by the O(n) recurrence
    w_i = (y_i − x_i·S_{i−1} + T_{i−1}) / (x_i − b_i), S_i = Σ_{j≤i} w_j, T_i = Σ_{j≤i} w_j b_j
    (row i of A w is x_i S_i − T_i). Floats, or Fractions for exact arithmetic.

    Raises ValueError unless b_1 < x_1 < b_2 < … < b_n < x_n."""
    exact = any(isinstance(v, Fraction) for v in list(x) + list(b) + list(y))
    if not exact:
        x, b, y = (np.asarray(as_float_array(v, n, ndim=1)) for v, n in
                   ((x, "x"), (b, "b"), (y, "y")))
    if not len(x) == len(b) == len(y):
        raise ValueError(f"x, b, y: expected equal lengths, got {len(x)}, {len(b)}, {len(y)}")
    _check_interleaving(x, b)
    zero = Fraction(0) if exact else 0.0
    S, T = zero, zero
    w = []
    for xi, bi, yi in zip(x, b, y, strict=True):
        wi = (yi - xi * S + T) / (xi - bi)
        S, T = S + wi, T + wi * bi
        w.append(wi)
    return np.array(w, dtype=object if exact else float)


def _duplicates(Z: np.ndarray) -> list[tuple[int, int]]:
    order = np.lexsort(Z.T[::-1])
    S = Z[order]
    same = np.all(S[1:] == S[:-1], axis=1)
    return [(int(order[i]), int(order[i + 1])) for i in np.flatnonzero(same)]


@dataclass
class Depth2Interpolant:
    """c(z) = Σ_j w_j max(⟨a, z⟩ − b_j, 0) (RR Thm 1): ``a`` (d,), ``b`` and ``w`` (n,) in
    the order of increasing projection; 2n + d weights. ``exact`` holds the same in
    Fractions when built with mode="exact". ``smallest_gap`` is min_i (x_i − b_i)."""

    a: np.ndarray
    b: np.ndarray
    w: np.ndarray
    smallest_gap: float
    exact: dict | None = field(default=None, repr=False)

    @property
    def weight_count(self) -> int:
        return self.a.size + self.b.size + self.w.size

    def __call__(self, Z: Any) -> Any:
        """c(z) for rows of Z (m, d) (NumPy or CuPy); returns (m,). c is piecewise linear in
        t = ⟨a, z⟩: with k knots b_j < t, c = (Σ_{j≤k} w_j)·t − Σ_{j≤k} w_j b_j, so it is
        evaluated by a binary search and prefix sums in O((m + n) log n), not O(m·n)."""
        xp = get_xp(Z)
        a, b, w = xp.asarray(self.a), xp.asarray(self.b), xp.asarray(self.w)
        t = xp.asarray(Z) @ a
        S = xp.concatenate([xp.zeros(1), xp.cumsum(w)])
        T = xp.concatenate([xp.zeros(1), xp.cumsum(w * b)])
        k = xp.searchsorted(b, t, side="left")
        return S[k] * t - T[k]

    def exact_values(self, Z: Any) -> list[Fraction]:
        """c(z) for rows of Z in exact rational arithmetic (mode="exact" only)."""
        if self.exact is None:
            raise ValueError("exact_values needs an interpolant built with mode='exact'")
        a, b, w = self.exact["a"], self.exact["b"], self.exact["w"]
        out = []
        for z in np.asarray(Z, dtype=float):
            x = sum(ai * Fraction(float(zi)) for ai, zi in zip(a, z, strict=True))
            out.append(sum(wj * max(x - bj, Fraction(0)) for wj, bj in zip(w, b, strict=True)))
        return out


def depth2_interpolant(Z: Any, y: Any, *, mode: str = "float", candidates: int = 16,
                       seed: int = 0) -> Depth2Interpolant:
    """RR Thm 1's construction (App. C): a two-layer ReLU net with 2n + d weights that fits
    ``y`` (n,) on the n distinct rows of ``Z`` (n, d).

    a: of ``candidates`` random Gaussian directions (and the coordinate axes), the one whose
    sorted projections have the largest smallest gap relative to their spread. b: interleaved
    — b_1 = x_1 − g (g the smallest gap), b_i the midpoint of x_{i−1} and x_i. w: the O(n)
    recurrence of ``solve_interleaved``. ``mode="exact"`` repeats the projections and the
    recurrence in rational arithmetic (the float a is exact as a rational), so the fit can be
    verified exactly. Raises ValueError naming duplicate rows, or if no direction separates
    the projections."""
    Zn = to_numpy(as_float_array(Z, "Z", ndim=2))
    yn = to_numpy(as_float_array(y, "y", ndim=1))
    n, d = Zn.shape
    if yn.shape[0] != n:
        raise ValueError(f"y: expected {n} labels, got {yn.shape[0]}")
    if mode not in ("float", "exact"):
        raise ValueError(f"mode: expected 'float' or 'exact', got {mode!r}")
    dups = _duplicates(Zn)
    if dups:
        raise ValueError(f"Z: rows must be distinct; duplicate pairs (indices) {dups[:10]}")
    rng = default_rng(seed)
    dirs = np.vstack([rng.standard_normal((candidates, d)), np.eye(d)])
    best, best_score = None, -1.0
    for a in dirs:
        a = a / np.linalg.norm(a)
        x = np.sort(Zn @ a)
        gap = float(np.min(np.diff(x))) if n > 1 else 1.0
        score = gap / (float(x[-1] - x[0]) or 1.0)
        if score > best_score:
            best, best_score = a, score
    a = best
    xs = Zn @ a
    order = np.argsort(xs, kind="stable")
    if mode == "exact":
        ar = [Fraction(float(v)) for v in a]
        xr = [sum(ai * Fraction(float(zi)) for ai, zi in zip(ar, Zn[i], strict=True))
              for i in order]
        pairs = sorted(zip(xr, order, strict=True))
        xr, order = [p[0] for p in pairs], np.array([p[1] for p in pairs])
        gr = min(q - p for p, q in zip(xr, xr[1:], strict=False)) if n > 1 else Fraction(1)
        if gr <= 0:
            raise ValueError("Z: no candidate direction separates the projections exactly; "
                             "raise `candidates`")
        br = [xr[0] - gr] + [(p + q) / 2 for p, q in zip(xr, xr[1:], strict=False)]
        wr = solve_interleaved(xr, br, [Fraction(float(yn[i])) for i in order])
        exact = {"a": ar, "b": br, "w": list(wr), "x": xr}
        b = np.array([float(v) for v in br])
        w = np.array([float(v) for v in wr])
        gap_min = float(min(xi - bi for xi, bi in zip(xr, br, strict=True)))
        return Depth2Interpolant(a=a, b=b, w=w, smallest_gap=gap_min, exact=exact)
    x = xs[order]
    gap = float(np.min(np.diff(x))) if n > 1 else 1.0
    b = np.concatenate([[x[0] - gap], (x[:-1] + x[1:]) / 2])
    seq = np.ravel(np.column_stack([b, x]))
    if gap <= 0 or np.any(np.diff(seq) <= 0):
        raise ValueError(f"Z: float64 cannot interleave knots between the projections "
                         f"(smallest gap {gap:.3g} is below their rounding); "
                         f"use mode='exact' or raise `candidates`")
    w = solve_interleaved(x, b, yn[order])
    return Depth2Interpolant(a=a, b=b, w=w, smallest_gap=float(np.min(x - b)))


def min_norm_interpolant(X: Any, y: Any) -> Any:
    """RR Sec. 5: the minimum ℓ2-norm solution of Xw = y, w = Xᵀα with XXᵀα = y when X has
    full row rank — in general X⁺y (the least-squares solution of least norm). X (n, d),
    y (n,) or (n, k); returns w on the inputs' backend."""
    xp = get_xp(X, y)
    X = as_float_array(X, "X", xp=xp, ndim=2)
    y = as_float_array(y, "y", xp=xp, ndim=(1, 2))
    return gd_limit_least_squares(X, y, xp.zeros((X.shape[1],) + tuple(y.shape[1:])))
