"""The two-layer bias-free MLP z = W2 φ(W1 x) of EM (Sec. 3–4): forward pass, logit
gradients of its three losses, and per-example parameter gradients in closed form, batched
(no loop over examples).

Shapes: X (n, d), W1 (h, d), W2 (k, h), labels y (n,) integers in [0, k).
"""

from __future__ import annotations

from typing import Any

from overparam.numerics import models
from overparam.numerics.backend import get_xp
from overparam.numerics.layers import (  # re-exported: EM's losses and activations live there
    activation,
    loss_and_logit_gradient,
    one_hot,
    softmax,
)

__all__ = ["ACTIVATIONS", "LOSSES", "activation", "forward", "loss_and_logit_gradient",
           "mean_loss_and_gradients", "one_hot", "per_example_factors",
           "per_example_gradients", "softmax"]

ACTIVATIONS = ("sin", "relu", "linear", "sigmoid")
LOSSES = ("softmax_ce", "hinge", "squared")


def forward(X: Any, W1: Any, W2: Any, act: str) -> tuple[Any, Any, Any]:
    """Pre-activations H = XW1ᵀ (n, h), representations R = φ(H) (n, h), logits
    Z = RW2ᵀ (n, k): the per-layer activations of ``models.serial(dense(h), φ, dense(k))``.
    ``act`` is one of ACTIVATIONS; another name raises ValueError."""
    model = models.serial(models.dense(W1.shape[0]), models.activation(act),
                          models.dense(W2.shape[0]))
    _, (H, R, Z) = model.apply({"0/W": W1, "2/W": W2}, X, return_activations=True)
    return H, R, Z


def per_example_factors(X: Any, W1: Any, W2: Any, y: Any, *, act: str, loss: str,
                        margin: float = 1.0) -> dict:
    """The factors of every example's gradient: dW2_i = G_i R_iᵀ and dW1_i = δ_i x_iᵀ with
    G = dℓ/dz (n, k), R = φ(W1x) (n, h), δ = (G W2) ⊙ φ'(H) (n, h). Each per-example gradient
    is a sum of two rank-one matrices, so inner products between examples factor:
    ⟨g_i, g_j⟩ = ⟨G_i, G_j⟩⟨R_i, R_j⟩ + ⟨δ_i, δ_j⟩⟨x_i, x_j⟩."""
    H, R, Z = forward(X, W1, W2, act)
    losses, G = loss_and_logit_gradient(loss, Z, y, margin=margin)
    _, dphi = activation(act, H)
    delta = (G @ W2) * dphi
    return {"X": X, "R": R, "G": G, "delta": delta, "losses": losses, "logits": Z}


def per_example_gradients(X: Any, W1: Any, W2: Any, y: Any, *, act: str, loss: str,
                          margin: float = 1.0) -> Any:
    """Every example's gradient, flattened as [vec(dW1_i), vec(dW2_i)]: (n, h·d + k·h).
    Materialises n·(hd + kh) numbers; the alignment functions avoid that for large n."""
    xp = get_xp(X)
    f = per_example_factors(X, W1, W2, y, act=act, loss=loss, margin=margin)
    n = X.shape[0]
    dW1 = f["delta"][:, :, None] * X[:, None, :]
    dW2 = f["G"][:, :, None] * f["R"][:, None, :]
    return xp.concatenate([dW1.reshape(n, -1), dW2.reshape(n, -1)], axis=1)


def mean_loss_and_gradients(X: Any, W1: Any, W2: Any, y: Any, *, act: str, loss: str,
                            margin: float = 1.0) -> tuple[float, dict]:
    """Mean loss over the batch and its gradients {"W1", "W2"} (for the shared trainer)."""
    f = per_example_factors(X, W1, W2, y, act=act, loss=loss, margin=margin)
    n = X.shape[0]
    return float(f["losses"].mean()), {"W1": f["delta"].T @ X / n, "W2": f["G"].T @ f["R"] / n}
