"""Layers with forward and backward passes, as pure functions over arrays (NumPy or CuPy).

Each ``*_forward`` returns (output, cache); ``*_backward(d_output, cache)`` returns the
gradients of the input and of the parameters. Gradient-checked by finite differences in the
tests.
"""

from __future__ import annotations

from typing import Any

from overparam.numerics.patches import extract_patches, scatter_patches


def conv2d_forward(x: Any, W: Any) -> tuple[Any, tuple]:
    """Stride-1 "same" convolution (cross-correlation), no bias, through im2col and one matrix
    product. x (N, H, W, C_in) or (H, W, C_in); W (K_H, K_W, C_in, C_out).
    Returns y shaped (..., H, W, C_out) and the cache for ``conv2d_backward``."""
    kh, kw, cin, cout = W.shape
    if x.shape[-1] != cin:
        raise ValueError(f"W: expected {x.shape[-1]} input channels to match x, got {cin}")
    P = extract_patches(x, (kh, kw))
    y = (P @ W.reshape(kh * kw * cin, cout)).reshape(x.shape[:-1] + (cout,))
    return y, (P, x.shape, W)


def conv2d_backward(dy: Any, cache: tuple) -> tuple[Any, Any]:
    """Gradients (dx, dW) of ``conv2d_forward`` given dL/dy shaped like its output."""
    P, x_shape, W = cache
    kh, kw, cin, cout = W.shape
    dY = dy.reshape(P.shape[:-1] + (cout,))
    Pm = P.reshape(-1, P.shape[-1])
    dW = (Pm.T @ dY.reshape(-1, cout)).reshape(W.shape)
    dP = dY @ W.reshape(kh * kw * cin, cout).T
    dx = scatter_patches(dP, x_shape, (kh, kw))
    return dx, dW


def dense_forward(x: Any, W: Any, b: Any | None = None) -> tuple[Any, tuple]:
    """y = x Wᵀ (+ b): x (N, in), W (out, in), b (out,) or None (IC's networks have none)."""
    y = x @ W.T
    return (y if b is None else y + b), (x, W, b is not None)


def dense_backward(dy: Any, cache: tuple) -> tuple[Any, dict]:
    """(dx, {"W": dW[, "b": db]}) of ``dense_forward``."""
    x, W, has_b = cache
    grads = {"W": dy.T @ x}
    if has_b:
        grads["b"] = dy.sum(axis=0)
    return dy @ W, grads


def activation_forward(name: str, x: Any) -> tuple[Any, Any]:
    """φ(x) for φ in relu, sin, sigmoid, identity (= linear); cache φ'(x)."""
    from overparam.numerics.mlp import activation

    y, dphi = activation("linear" if name == "identity" else name, x)
    return y, dphi


def activation_backward(dy: Any, cache: Any) -> Any:
    """dL/dx of ``activation_forward``."""
    return dy * cache


def flatten_forward(x: Any) -> tuple[Any, tuple]:
    """(N, …) → (N, prod(…))."""
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dy: Any, cache: tuple) -> Any:
    return dy.reshape(cache)


def residual_forward(x: Any, W1: Any, W2: Any) -> tuple[Any, tuple]:
    """IC App. N's block x ↦ x + ReLU(W2 ReLU(W1 x)) (dense, no biases); x (N, d)."""
    h1, c1 = dense_forward(x, W1)
    a1, g1 = activation_forward("relu", h1)
    h2, c2 = dense_forward(a1, W2)
    a2, g2 = activation_forward("relu", h2)
    return x + a2, (c1, g1, c2, g2)


def residual_backward(dy: Any, cache: tuple) -> tuple[Any, dict]:
    c1, g1, c2, g2 = cache
    da1, gr2 = dense_backward(activation_backward(dy, g2), c2)
    dx, gr1 = dense_backward(activation_backward(da1, g1), c1)
    return dy + dx, {"W1": gr1["W"], "W2": gr2["W"]}


def mse_loss(pred: Any, target: Any) -> tuple[float, Any]:
    """Mean squared error over all entries and its gradient (IC's training loss)."""
    diff = pred - target
    return float((diff * diff).mean()), 2.0 * diff / diff.size


def classification_loss(name: str, logits: Any, labels: Any, *, margin: float = 1.0):
    """Mean softmax cross-entropy or multiclass hinge over the batch, and dL/dlogits."""
    from overparam.numerics.mlp import loss_and_logit_gradient

    losses, G = loss_and_logit_gradient(name, logits, labels, margin=margin)
    n = logits.shape[0]
    return float(losses.mean()), G / n
