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
