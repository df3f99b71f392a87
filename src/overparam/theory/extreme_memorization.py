"""Extreme Memorization via Scale of Initialization (Mehta, Cutkosky, Neyshabur): the sin
kernel of Thm 1 (Sec. 3.1, App. B), the biased random features of eq. (1), and the logit
gradients behind Sec. 4's loss-scale arguments.

Derivation of the exact kernel (checked symbolically in the report): for a row w ~ N(0, σ²I),
sin(w·x) sin(w·x') = ½[cos(w·(x − x')) − cos(w·(x + x'))] and E cos(w·v) = exp(−σ²‖v‖²/2),
so with h independent rows

    E⟨sin(W1x), sin(W1x')⟩ = (h/2)·[exp(−σ²‖x − x'‖²/2) − exp(−σ²‖x + x'‖²/2)].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.mlp import loss_and_logit_gradient
from overparam.numerics.validation import check_array, check_labels, check_scalar

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
    x = check_array(x, "x", xp=xp, ndim=tuple(range(1, 33)), dtype="float64")
    x2 = check_array(x2, "x2", xp=xp, ndim=tuple(range(1, 33)), dtype="float64")
    if x.shape[-1] != x2.shape[-1]:
        raise ValueError(f"x2: expected last dimension {x.shape[-1]} to match x, "
                         f"got shape {tuple(x2.shape)}")
    try:
        np.broadcast_shapes(tuple(x.shape), tuple(x2.shape))
    except ValueError as exc:
        raise ValueError(f"x2: expected a shape broadcasting with x {tuple(x.shape)}, "
                         f"got {tuple(x2.shape)}") from exc
    check_scalar(sigma, "sigma", low=0.0, low_open=True)
    # widths beyond 2^53 are not exactly representable in float64 (the kernel scales by h)
    check_scalar(h, "h", integer=True, low=1, high=2**53)
    return xp, x, x2


#: a last axis this short is reduced slice by slice: NumPy reduces a length-2 last axis (the
#: plane coordinates ``sin_kernel_matrix`` hands ``sin_kernel``) ~60× slower than it takes the
#: maximum of two slices and ~13× slower than it adds them (512×1000×2, measured)
_SHORT_AXIS = 7


def _max_abs_last(xp: Any, v: Any) -> Any:
    """max |v| over the last axis (a short one by elementwise maxima: max is exact, so the
    same values)."""
    if not 0 < v.shape[-1] <= _SHORT_AXIS:
        return xp.max(xp.abs(v), axis=-1)
    m = xp.abs(v[..., 0])
    for j in range(1, v.shape[-1]):
        m = xp.maximum(m, xp.abs(v[..., j]))
    return m


def _sum_last(xp: Any, v: Any) -> Any:
    """Σ v over the last axis; a short one as ((0 + v₀) + v₁) + … in that order. NumPy's own
    reduction of fewer than eight entries adds them in that order and starts from +0 (so a sum
    of −0s is +0): the same bits on NumPy arrays (CuPy's reduction may order them otherwise)."""
    if not 0 < v.shape[-1] <= _SHORT_AXIS:
        return v.sum(axis=-1)
    s = v[..., 0] + 0.0
    for j in range(1, v.shape[-1]):
        s += v[..., j]
    return s


def _row_scale(xp: Any, v: Any) -> tuple[Any, Any, Any]:
    """v scaled exactly by a power of two per row, v̂ = v·2^−e with max|v̂| ∈ [½, 1) (rows of
    zeros unchanged, e = 0), the exponents e, and which rows are non-zero."""
    m = _max_abs_last(xp, v)
    e = xp.frexp(m)[1]
    return xp.ldexp(v, -e[..., None]), e, m > 0


def _half_sigma_sq_norm_sq(xp: Any, sigma: float, v: Any) -> Any:
    """σ²‖v‖²/2 over the last axis, as ldexp(f²‖v̂‖²/2, 2(k + e)) with σ = f·2^k and v = v̂·2^e
    scaled exactly: ‖v‖² never underflows (v ~ 1e-200) and σ² never overflows (σ ~ 1e200);
    the one rounding that can leave the float range is the last, so the exponent is 0, inf
    or accurate to a few ulps — never NaN (σ²·‖v‖² would be inf·0 there)."""
    f, k = math.frexp(sigma)
    vs, e, _ = _row_scale(xp, v)
    with np.errstate(over="ignore", under="ignore"):
        return xp.ldexp(f * f * _sum_last(xp, vs * vs) / 2, 2 * (k + e))


def _two_sigma_sq_dot(xp: Any, sigma: float, x: Any, x2: Any) -> Any:
    """2σ²⟨x, x2⟩ over the last axis in the same way: ldexp(2f²⟨x̂, x̂2⟩, 2k + e + e2)."""
    f, k = math.frexp(sigma)
    xs, ex, _ = _row_scale(xp, x)
    ys, ey, _ = _row_scale(xp, x2)
    with np.errstate(over="ignore", under="ignore"):
        return xp.ldexp(2 * f * f * _sum_last(xp, xs * ys), 2 * k + ex + ey)


def _scalar_or_array(v: Any) -> Any:
    return v[()] if getattr(v, "ndim", 1) == 0 else v


def sin_kernel(x: Any, x2: Any, *, sigma: float, h: int = 1) -> Any:
    """The exact E_{W1}⟨sin(W1x), sin(W1x2)⟩ for W1 (h, d) with iid N(0, σ²) entries:
    (h/2)(exp(−σ²‖x − x2‖²/2) − exp(−σ²‖x + x2‖²/2)). EM Thm 1's left-hand side.

    Evaluated without cancellation or overflow: with a = −σ²‖x − x2‖²/2, b = −σ²‖x + x2‖²/2
    and z = a − b = 2σ²⟨x, x2⟩, e^a − e^b = −e^a·expm1(−z) for z ≥ 0 and e^b·expm1(z) for
    z < 0; every exponent is formed from exactly rescaled mantissas (see
    ``_half_sigma_sq_norm_sq``), so σ = 1e200 or x ~ 1e-200 give the right value, not NaN.

    x, x2: (d,) or batches (..., d) broadcasting together. Returns a float or an array."""
    xp, x, x2 = _pair(x, x2, sigma, h)
    a = -_half_sigma_sq_norm_sq(xp, sigma, x - x2)
    b = -_half_sigma_sq_norm_sq(xp, sigma, x + x2)
    z = _two_sigma_sq_dot(xp, sigma, x, x2)
    diff = xp.where(z >= 0, -xp.exp(a) * xp.expm1(-xp.abs(z)), xp.exp(b) * xp.expm1(-xp.abs(z)))
    return _scalar_or_array(h / 2 * diff)


def thm1_bound(x: Any, x2: Any, *, sigma: float, h: int = 1) -> Any:
    """EM Thm 1's right-hand side as stated: h·exp(−σ²‖x − x2‖²/2) (exponent formed from
    exactly rescaled mantissas: no NaN at huge σ or tiny x)."""
    xp, x, x2 = _pair(x, x2, sigma, h)
    return _scalar_or_array(h * xp.exp(-_half_sigma_sq_norm_sq(xp, sigma, x - x2)))


def thm1_proved_bound(x: Any, x2: Any, *, sigma: float, h: int = 1) -> Any:
    """What EM App. B's proof shows: h·exp(−σ²‖Δ‖²/2) with Δ = x2 − ⟨x2, x̂⟩x̂ the part
    of x2 orthogonal to x (x̂ = x/‖x‖, formed after scaling x by max|x| so that ‖x‖² cannot
    underflow at x ~ 1e-200; Δ = x2 when x = 0). The proof notes ‖Δ‖ ≤ ‖x − x2‖, which makes
    this bound *larger* than the stated one, not smaller."""
    xp, x, x2 = _pair(x, x2, sigma, h)
    xs, _, nonzero = _row_scale(xp, x)
    norm = xp.sqrt((xs * xs).sum(axis=-1))  # ≥ ½ on non-zero rows
    u = xs / xp.where(nonzero, norm, 1.0)[..., None]  # zero rows stay zero
    delta = x2 - (x2 * u).sum(axis=-1)[..., None] * u
    return _scalar_or_array(h * xp.exp(-_half_sigma_sq_norm_sq(xp, sigma, delta)))


def rff_kernel(x: Any, x2: Any, *, sigma: float, h: int = 1) -> Any:
    """EM eq. (1) with its constant: for W1 with iid N(0, σ²) entries and b ~ U[0, 2π]^h,
    E⟨sin(W1x + b), sin(W1x2 + b)⟩ = (h/2)·exp(−σ²‖x − x2‖²/2) (Rahimi & Recht 2008), since
    E_b sin(u + b) sin(v + b) = ½cos(u − v)."""
    xp, x, x2 = _pair(x, x2, sigma, h)
    return _scalar_or_array(h / 2 * xp.exp(-_half_sigma_sq_norm_sq(xp, sigma, x - x2)))


def _logits(z: Any, y: Any) -> tuple[Any, Any]:
    z = check_array(z, "z", ndim=2, dtype="float64")
    y = check_labels(to_numpy(y), "y", n=z.shape[0], n_classes=z.shape[1])
    return z, get_xp(z).asarray(y)


def softmax_logit_gradient(z: Any, y: Any) -> Any:
    """EM Sec. 4: d/dz of softmax cross-entropy, p − onehot(y). z (n, k) finite logits,
    y (n,) integer labels in [0, k)."""
    return loss_and_logit_gradient("softmax_ce", *_logits(z, y))[1]


def hinge_logit_gradient(z: Any, y: Any, *, margin: float = 1.0) -> Any:
    """EM eq. (9): the multiclass hinge loss's logit gradient. z (n, k) finite logits,
    y (n,) integer labels in [0, k), ``margin`` Δ ≥ 0 finite."""
    margin = check_scalar(margin, "margin", low=0.0)
    return loss_and_logit_gradient("hinge", *_logits(z, y), margin=margin)[1]


def squared_logit_gradient(z: Any, y: Any) -> Any:
    """EM Sec. 4: the squared loss's logit gradient z − onehot(y). z (n, k) finite logits,
    y (n,) integer labels in [0, k)."""
    return loss_and_logit_gradient("squared", *_logits(z, y))[1]
