"""The two-layer bias-free MLP z = W2 φ(W1 x) of EM (Sec. 3–4): forward pass, logit
gradients of its three losses, and per-example parameter gradients in closed form, batched
(no loop over examples).

Shapes: X (n, d), W1 (h, d), W2 (k, h), labels y (n,) integers in [0, k).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from overparam.numerics import models
from overparam.numerics.backend import get_xp
from overparam.numerics.layers import (  # re-exported: EM's losses and activations live there
    ACTIVATION_ALIASES,
    activation,
    loss_and_logit_gradient,
    one_hot,
    softmax,
)
from overparam.numerics.layers import ACTIVATIONS as _LAYER_ACTIVATIONS
from overparam.numerics.validation import check_array, check_choice, check_labels, check_scalar

__all__ = ["ACTIVATIONS", "LOSSES", "activation", "forward", "loss_and_logit_gradient",
           "mean_loss_and_gradients", "one_hot", "per_example_factors",
           "per_example_gradients", "softmax"]

ACTIVATIONS = ("sin", "relu", "linear", "sigmoid")
LOSSES = ("softmax_ce", "hinge", "squared")
_ACT_NAMES = (*_LAYER_ACTIVATIONS, *ACTIVATION_ALIASES)


def _checked_network(X: Any, W1: Any, W2: Any, act: str) -> tuple[Any, Any, Any]:
    """X, W1, W2 as finite 2-D float arrays of one dtype whose shapes chain (X (n, d),
    W1 (h, d), W2 (k, h)); ``act`` one of the activations. Errors name the argument."""
    if not isinstance(act, str) or act not in _ACT_NAMES:
        raise ValueError(f"act: expected an activation in {_ACT_NAMES}, got {act!r}")
    X = check_array(X, "X", ndim=2)
    W1 = check_array(W1, "W1", shape=(None, X.shape[1]))
    W2 = check_array(W2, "W2", shape=(None, W1.shape[0]))
    # models.apply wants one dtype for the weights; mixed float32/float64 is computed in the
    # wider one rather than refused
    dtype = np.result_type(X.dtype, W1.dtype, W2.dtype)
    return X.astype(dtype, copy=False), W1.astype(dtype, copy=False), W2.astype(dtype,
                                                                               copy=False)


def _forward(X: Any, W1: Any, W2: Any, act: str) -> tuple[Any, Any, Any]:
    model = models.serial(models.dense(W1.shape[0]), models.activation(act),
                          models.dense(W2.shape[0]))
    try:
        _, (H, R, Z) = model.apply({"0/W": W1, "2/W": W2}, X, return_activations=True)
    except ValueError as exc:
        # the only failure left after the checks: logits beyond the dtype's range
        raise ValueError(f"W1, W2: {str(exc).split(': ', 1)[-1]}") from exc
    return H, R, Z


def forward(X: Any, W1: Any, W2: Any, act: str) -> tuple[Any, Any, Any]:
    """Pre-activations H = XW1ᵀ (n, h), representations R = φ(H) (n, h), logits
    Z = RW2ᵀ (n, k): the per-layer activations of ``models.serial(dense(h), φ, dense(k))``
    (EM Sec. 3). X (n, d), W1 (h, d), W2 (k, h), finite real arrays (float32 kept, mixed
    dtypes computed in the wider one); ``act`` one of ACTIVATIONS (or "identity"). Bad input
    raises ValueError/TypeError naming ``X``, ``W1``, ``W2`` or ``act``; logits beyond the
    dtype's range a ValueError naming ``W1, W2``."""
    return _forward(*_checked_network(X, W1, W2, act), act)


def per_example_factors(X: Any, W1: Any, W2: Any, y: Any, *, act: str, loss: str,
                        margin: float = 1.0) -> dict:
    """The factors of every example's gradient: dW2_i = G_i R_iᵀ and dW1_i = δ_i x_iᵀ with
    G = dℓ/dz (n, k), R = φ(W1x) (n, h), δ = (G W2) ⊙ φ'(H) (n, h). Each per-example gradient
    is a sum of two rank-one matrices, so inner products between examples factor:
    ⟨g_i, g_j⟩ = ⟨G_i, G_j⟩⟨R_i, R_j⟩ + ⟨δ_i, δ_j⟩⟨x_i, x_j⟩.

    Shapes as ``forward``; y (n,) integer labels in [0, k); ``loss`` one of LOSSES;
    ``margin`` (hinge's Δ) finite. Bad input raises ValueError/TypeError naming the argument.
    Returns {"X", "R", "G", "delta", "losses" (n,), "logits" Z (n, k)}."""
    check_choice(loss, "loss", LOSSES)
    margin = check_scalar(margin, "margin")
    X, W1, W2 = _checked_network(X, W1, W2, act)
    y = check_labels(y, "y", n=X.shape[0], n_classes=W2.shape[0])
    H, R, Z = _forward(X, W1, W2, act)
    losses, G = loss_and_logit_gradient(loss, Z, y, margin=margin)
    _, dphi = activation(act, H)
    delta = (G @ W2) * dphi
    return {"X": X, "R": R, "G": G, "delta": delta, "losses": losses, "logits": Z}


def per_example_gradients(X: Any, W1: Any, W2: Any, y: Any, *, act: str, loss: str,
                          margin: float = 1.0) -> Any:
    """Every example's gradient, flattened as [vec(dW1_i), vec(dW2_i)]: (n, h·d + k·h).
    Materialises n·(hd + kh) numbers; the alignment functions avoid that for large n.
    Arguments and their checks as ``per_example_factors``."""
    f = per_example_factors(X, W1, W2, y, act=act, loss=loss, margin=margin)
    X, delta, G, R = f["X"], f["delta"], f["G"], f["R"]
    xp = get_xp(X)
    n, (h, d), k = X.shape[0], delta.shape[1:] + X.shape[1:], G.shape[1]
    # the outer products written straight into their columns (a row's column blocks reshape
    # without a copy): one pass over the n·(hd + kh) numbers instead of two
    out = xp.empty((n, h * d + k * h), dtype=xp.result_type(delta, X, G, R))
    xp.multiply(delta[:, :, None], X[:, None, :], out=out[:, :h * d].reshape(n, h, d))
    xp.multiply(G[:, :, None], R[:, None, :], out=out[:, h * d:].reshape(n, k, h))
    return out


def mean_loss_and_gradients(X: Any, W1: Any, W2: Any, y: Any, *, act: str, loss: str,
                            margin: float = 1.0) -> tuple[float, dict]:
    """Mean loss over the batch and its gradients {"W1", "W2"} (for the shared trainer).
    Arguments and their checks as ``per_example_factors``."""
    f = per_example_factors(X, W1, W2, y, act=act, loss=loss, margin=margin)
    X = f["X"]
    n = X.shape[0]
    return float(f["losses"].mean()), {"W1": f["delta"].T @ X / n, "W2": f["G"].T @ f["R"] / n}
