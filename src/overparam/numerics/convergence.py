"""Exact error dynamics of gradient methods on quadratics, and floating-point rounding
bounds for them — the ingredients of derived tolerances for "closed form vs training".

On a quadratic with Hessian eigenvalue λ, the error e_t = w_t − w∞ along that eigenvector
evolves linearly. With velocity v (v₀ = 0), step η_t and momentum β:

- heavy ball:  v' = βv + λe,  e' = e − ηv'            → A = [[1 − ηλ, −ηβ], [λ, β]]
- Nesterov:    v' = βv + λe,  e' = e − η(λe + βv')    → A = [[1 − ηλ(1 + β), −ηβ²], [λ, β]]

(plain GD is heavy ball with β = 0), so e_T = (A_T ⋯ A_1)[0, 0] · e_0 exactly.
"""

from __future__ import annotations

import math
from itertools import groupby

import numpy as np

from overparam.numerics.validation import check_array, check_scalar

__all__ = ["least_squares_rounding_bound", "quadratic_error_factors"]


def quadratic_error_factors(
    eigenvalues: np.ndarray, lrs: list[float], *, beta: float = 0.0, nesterov: bool = False
) -> np.ndarray:
    """|φ(λ)| with e_T = φ(λ) e_0 for each Hessian eigenvalue λ, for the step sizes ``lrs``
    (one per step) applied from rest. Returns an array shaped like ``eigenvalues``."""
    lam = np.asarray(check_array(eigenvalues, "eigenvalues", dtype="float64"),
                     dtype=np.float64).ravel()
    lrs = [check_scalar(lr, "lrs", low=0.0) for lr in lrs]
    beta = check_scalar(beta, "beta", low=0.0, high=1.0, high_open=True)
    phi = np.broadcast_to(np.eye(2), (lam.size, 2, 2)).copy()
    with np.errstate(over="ignore", invalid="ignore"):
        phi = _error_matrices(phi, lam, lrs, beta, nesterov)
    if not np.all(np.isfinite(phi)):
        raise ValueError("lrs: the error factors leave float64 (η·λ too large for this many "
                         "steps: the iteration diverges beyond 1.8e308)")
    return np.abs(phi[:, 0, 0]).reshape(np.shape(np.asarray(eigenvalues)))


def _error_matrices(phi: np.ndarray, lam: np.ndarray, lrs: list[float], beta: float,
                    nesterov: bool) -> np.ndarray:
    """A_T ⋯ A_1 · phi for every λ (the iteration matrices of the module docstring)."""
    for lr, run in groupby(lrs):
        count = len(list(run))
        A = np.empty((lam.size, 2, 2))
        if nesterov:
            A[:, 0, 0] = 1 - lr * lam * (1 + beta)
            A[:, 0, 1] = -lr * beta * beta
        else:
            A[:, 0, 0] = 1 - lr * lam
            A[:, 0, 1] = -lr * beta
        A[:, 1, 0] = lam
        A[:, 1, 1] = beta
        phi = np.linalg.matrix_power(A, count) @ phi
    return phi


def least_squares_rounding_bound(
    *,
    steps: int,
    n: int,
    d: int,
    x_norm: float,
    y_norm: float,
    max_lr: float,
    max_param_norm: float,
    max_update_norm: float,
    beta: float = 0.0,
    unit_roundoff: float = 2.0**-53,
) -> float:
    """Bound on the accumulated rounding error (Frobenius) of ``steps`` gradient steps on
    ½‖XW − Y‖², X (n, d), from the standard bound |fl(AB) − AB| ≤ γ_k|A||B|, γ_k ≈ k·u.

    Per step: computing G = Xᵀ(XW − Y) errs by ≤ 2(n + d)u‖X‖_F(‖X‖_F‖W‖_F + ‖Y‖_F), scaled
    by η; forming W − ηv errs by ≤ 2u(‖W‖_F + ‖ηv‖_F). Errors in directions GD does not
    contract (null space) never decay, so they add up over the steps; a momentum buffer
    carries each error forward with total weight ≤ 1/(1 − β).
    """
    steps = check_scalar(steps, "steps", integer=True, low=0)
    n = check_scalar(n, "n", integer=True, low=1)
    d = check_scalar(d, "d", integer=True, low=1)
    for name, value in (("x_norm", x_norm), ("y_norm", y_norm), ("max_lr", max_lr),
                        ("max_param_norm", max_param_norm),
                        ("max_update_norm", max_update_norm)):
        check_scalar(value, name, low=0.0)
    beta = check_scalar(beta, "beta", low=0.0, high=1.0, high_open=True)
    unit_roundoff = check_scalar(unit_roundoff, "unit_roundoff", low=0.0, high=0.5,
                                 low_open=True)
    per_step = (_product(2 * (n + d), max_lr, x_norm, x_norm * max_param_norm + y_norm)
                + 2 * (max_param_norm + max_update_norm)) * unit_roundoff
    return _product(steps, per_step) / (1.0 - beta)


def _product(*factors: float) -> float:
    """The product, 0 when a factor is 0 even if another overflowed to inf (never 0·inf =
    NaN); inf when it exceeds float64."""
    return 0.0 if any(f == 0 for f in factors) else math.prod(factors)
