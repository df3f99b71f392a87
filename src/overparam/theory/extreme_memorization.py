"""Extreme Memorization via Scale of Initialization (Mehta, Cutkosky, Neyshabur): the sin
kernel of Thm 1 (Sec. 3.1, App. B), the biased random features of eq. (1), and the logit
gradients behind Sec. 4's loss-scale arguments.

Derivation of the exact kernel (checked symbolically in the report): for a row w ~ N(0, σ²I),
sin(w·x) sin(w·x') = ½[cos(w·(x − x')) − cos(w·(x + x'))] and E cos(w·v) = exp(−σ²‖v‖²/2),
so with h independent rows

    E⟨sin(W1x), sin(W1x')⟩ = (h/2)·[exp(−σ²‖x − x'‖²/2) − exp(−σ²‖x + x'‖²/2)].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp
from overparam.numerics.mlp import loss_and_logit_gradient
from overparam.numerics.validation import check_array

__all__ = [
    "hinge_logit_gradient",
    "rff_kernel",
    "sin_kernel",
    "softmax_logit_gradient",
    "squared_logit_gradient",
    "thm1_bound",
    "thm1_proved_bound",
]


def _pair(x: Any, x2: Any, sigma: float, h: int) -> tuple[Any, Any, Any]:
    xp = get_xp(x, x2)
    x = check_array(x, "x", xp=xp, dtype="float64")
    x2 = check_array(x2, "x2", xp=xp, dtype="float64")
    if x.shape[-1] != x2.shape[-1]:
        raise ValueError(f"x2: expected last dimension {x.shape[-1]}, got {tuple(x2.shape)}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma: expected a positive finite value, got {sigma}")
    if int(h) != h or h < 1:
        raise ValueError(f"h: expected an integer >= 1, got {h}")
    return xp, x, x2


def _sq(xp: Any, v: Any) -> Any:
    return (v * v).sum(axis=-1)


def sin_kernel(x: Any, x2: Any, *, sigma: float, h: int = 1) -> Any:
    """The exact E_{W1}⟨sin(W1x), sin(W1x2)⟩ for W1 (h, d) with iid N(0, σ²) entries:
    (h/2)(exp(−σ²‖x − x2‖²/2) − exp(−σ²‖x + x2‖²/2)). EM Thm 1's left-hand side.

    x, x2: (d,) or batches (..., d) broadcasting together. Returns a float or an array."""
    xp, x, x2 = _pair(x, x2, sigma, h)
    s2 = sigma * sigma
    return h / 2 * (xp.exp(-s2 * _sq(xp, x - x2) / 2) - xp.exp(-s2 * _sq(xp, x + x2) / 2))


def thm1_bound(x: Any, x2: Any, *, sigma: float, h: int = 1) -> Any:
    """EM Thm 1's right-hand side as stated: h·exp(−σ²‖x − x2‖²/2)."""
    xp, x, x2 = _pair(x, x2, sigma, h)
    return h * xp.exp(-sigma * sigma * _sq(xp, x - x2) / 2)


def thm1_proved_bound(x: Any, x2: Any, *, sigma: float, h: int = 1) -> Any:
    """What EM App. B's proof shows: h·exp(−σ²‖Δ‖²/2) with Δ = x2 − (⟨x2, x⟩/‖x‖²)x the part
    of x2 orthogonal to x (Δ = x2 when x = 0). The proof notes ‖Δ‖ ≤ ‖x − x2‖, which makes
    this bound *larger* than the stated one, not smaller."""
    xp, x, x2 = _pair(x, x2, sigma, h)
    nx = _sq(xp, x)
    c = xp.where(nx > 0, (x * x2).sum(axis=-1) / xp.where(nx > 0, nx, 1.0), 0.0)
    delta = x2 - c[..., None] * x if x.ndim > 1 or x2.ndim > 1 else x2 - c * x
    return h * xp.exp(-sigma * sigma * _sq(xp, delta) / 2)


def rff_kernel(x: Any, x2: Any, *, sigma: float, h: int = 1) -> Any:
    """EM eq. (1) with its constant: for W1 with iid N(0, σ²) entries and b ~ U[0, 2π]^h,
    E⟨sin(W1x + b), sin(W1x2 + b)⟩ = (h/2)·exp(−σ²‖x − x2‖²/2) (Rahimi & Recht 2008), since
    E_b sin(u + b) sin(v + b) = ½cos(u − v)."""
    xp, x, x2 = _pair(x, x2, sigma, h)
    return h / 2 * xp.exp(-sigma * sigma * _sq(xp, x - x2) / 2)


def softmax_logit_gradient(z: Any, y: Any) -> Any:
    """EM Sec. 4: d/dz of softmax cross-entropy, p − onehot(y). z (n, k), y (n,)."""
    return loss_and_logit_gradient("softmax_ce", get_xp(z).asarray(z, dtype=float), y)[1]


def hinge_logit_gradient(z: Any, y: Any, *, margin: float = 1.0) -> Any:
    """EM eq. (9): the multiclass hinge loss's logit gradient. z (n, k), y (n,)."""
    return loss_and_logit_gradient("hinge", get_xp(z).asarray(z, dtype=float), y,
                                   margin=margin)[1]


def squared_logit_gradient(z: Any, y: Any) -> Any:
    """EM Sec. 4: the squared loss's logit gradient z − onehot(y). z (n, k), y (n,)."""
    return loss_and_logit_gradient("squared", get_xp(z).asarray(z, dtype=float), y)[1]
