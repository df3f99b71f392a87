"""Higher-precision re-checks: plain gradient descent on ½‖XW − Y‖² and closed forms in
mpmath (50 significant digits by default), or exact rationals through sympy."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import sympy

__all__ = ["mp_gd_least_squares", "mp_norm", "to_mp", "to_rational", "with_precision"]


def to_mp(a: Any) -> mpmath.matrix:
    """A NumPy array (1-D as a column, or 2-D) as an mpmath matrix, converted exactly."""
    arr = np.asarray(a, dtype=np.float64)
    arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
    return mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in arr])


def to_rational(a: Any) -> sympy.Matrix:
    """A float array as a sympy Matrix of exact rationals (every float is a dyadic rational)."""
    arr = np.asarray(a, dtype=np.float64)
    arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
    return sympy.Matrix([[sympy.Rational(Fraction(float(v))) for v in row] for row in arr])


def mp_norm(M: mpmath.matrix) -> mpmath.mpf:
    """Frobenius norm of an mpmath matrix."""
    return mpmath.sqrt(sum(M[i, j] ** 2 for i in range(M.rows) for j in range(M.cols)))


def mp_gd_least_squares(X: Any, Y: Any, W0: Any, lr: float, steps: int) -> mpmath.matrix:
    """``steps`` plain GD steps W ← W − ηXᵀ(XW − Y) in mpmath, from float inputs."""
    Xm, Ym, W = to_mp(X), to_mp(Y), to_mp(W0)
    Xt = Xm.T
    eta = mpmath.mpf(lr)
    for _ in range(steps):
        W = W - eta * (Xt * (Xm * W - Ym))
    return W


def with_precision(dps: int, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with mpmath at ``dps`` decimal digits."""
    with mpmath.workdps(dps):
        return fn()
