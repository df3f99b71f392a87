"""Patch extraction (im2col) and the stride-1 convolution built on it.

Images are H×W×C; kernels are (K_H, K_W, C_in, C_out); the layer is a cross-correlation
y[i, j, o] = Σ_{a,b,c} W[a, b, c, o] · x_pad[i + a, j + b, c] (as deep-learning frameworks
compute it).
"""

from __future__ import annotations

from typing import Any

from overparam.numerics.backend import get_xp


def same_padding(kernel: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Zero padding ((top, bottom), (left, right)) that keeps H×W at stride 1.

    Odd K pads K//2 on each side; even K pads (K−1)//2 before and K//2 after (the extra row
    or column goes at the end, as TensorFlow's "SAME" does).
    """
    return tuple(((k - 1) // 2, k // 2) for k in kernel)  # type: ignore[return-value]


def extract_patches(image: Any, kernel: tuple[int, int], padding: Any = "same") -> Any:
    """All K_H×K_W×C patches of ``image`` (H, W, C), flattened in (a, b, c) order.

    ``padding`` is "same" (see ``same_padding``) or ((top, bottom), (left, right)).
    Returns (H_out·W_out, K_H·K_W·C), rows in raster order of the output pixel.
    """
    xp = get_xp(image)
    kh, kw = kernel
    pad = same_padding(kernel) if isinstance(padding, str) and padding == "same" else padding
    x = xp.pad(image, (tuple(pad[0]), tuple(pad[1]), (0, 0)))
    win = xp.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(0, 1))
    # win: (H_out, W_out, C, kh, kw) -> (H_out, W_out, kh, kw, C)
    win = xp.moveaxis(win, 2, -1)
    ho, wo = win.shape[:2]
    return win.reshape(ho * wo, kh * kw * image.shape[2])


def conv2d_same(image: Any, weights: Any) -> Any:
    """Stride-1 cross-correlation of ``image`` (H, W, C_in) with ``weights``
    (K_H, K_W, C_in, C_out) and "same" zero padding. Returns (H, W, C_out)."""
    kh, kw, cin, cout = weights.shape
    if image.shape[2] != cin:
        raise ValueError(f"weights: expected {image.shape[2]} input channels to match the "
                         f"image, got {cin}")
    P = extract_patches(image, (kh, kw))
    return (P @ weights.reshape(kh * kw * cin, cout)).reshape(image.shape[0], image.shape[1],
                                                              cout)
