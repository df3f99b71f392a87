"""The two-layer bias-free MLP z = W2 φ(W1 x) of EM (Sec. 3–4): forward pass, logit
gradients of its three losses, and per-example parameter gradients in closed form, batched
(no loop over examples).

Shapes: X (n, d), W1 (h, d), W2 (k, h), labels y (n,) integers in [0, k).
"""

from __future__ import annotations

from typing import Any

from overparam.numerics.backend import get_xp

ACTIVATIONS = ("sin", "relu", "linear", "sigmoid")
LOSSES = ("softmax_ce", "hinge", "squared")


def activation(name: str, H: Any) -> tuple[Any, Any]:
    """φ(H) and φ'(H) for φ in ACTIVATIONS (ReLU'(0) = 0, the usual convention)."""
    xp = get_xp(H)
    if name == "sin":
        return xp.sin(H), xp.cos(H)
    if name == "relu":
        return xp.maximum(H, 0), (H > 0).astype(H.dtype)
    if name == "linear":
        return H, xp.ones_like(H)
    if name == "sigmoid":
        s = 1 / (1 + xp.exp(-H))
        return s, s * (1 - s)
    raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {name!r}")


def one_hot(y: Any, k: int) -> Any:
    """(n, k) one-hot rows for integer labels y (n,)."""
    xp = get_xp(y)
    return (xp.asarray(y)[:, None] == xp.arange(k)[None, :]).astype(xp.float64)


def softmax(Z: Any) -> Any:
    """Row-wise softmax, shifted by the row maximum so large logits do not overflow."""
    xp = get_xp(Z)
    E = xp.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def loss_and_logit_gradient(name: str, Z: Any, y: Any, *, margin: float = 1.0):
    """Per-example losses (n,) and dℓ/dz (n, k) for EM Sec. 4's losses.

    softmax_ce: −log p_y, gradient p − y. hinge (eq. 8): Σ_{i≠y} max(0, Δ + z_i − z_y),
    gradient eq. (9) (the subgradient 0 at the kink). squared: ½‖z − onehot(y)‖², gradient
    z − onehot(y).
    """
    xp = get_xp(Z)
    n, k = Z.shape
    Y = one_hot(y, k)
    if name == "softmax_ce":
        P = softmax(Z)
        shifted = Z - Z.max(axis=1, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        return -(logp * Y).sum(axis=1), P - Y
    if name == "hinge":
        zy = (Z * Y).sum(axis=1, keepdims=True)
        m = (margin + Z - zy) * (1 - Y)
        active = (m > 0).astype(Z.dtype) * (1 - Y)
        return xp.maximum(m, 0).sum(axis=1), active - Y * active.sum(axis=1, keepdims=True)
    if name == "squared":
        R = Z - Y
        return 0.5 * (R * R).sum(axis=1), R
    raise ValueError(f"loss: expected one of {LOSSES}, got {name!r}")


def forward(X: Any, W1: Any, W2: Any, act: str) -> tuple[Any, Any, Any]:
    """Pre-activations H = XW1ᵀ (n, h), representations R = φ(H) (n, h), logits
    Z = RW2ᵀ (n, k)."""
    H = X @ W1.T
    R, _ = activation(act, H)
    return H, R, R @ W2.T


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
