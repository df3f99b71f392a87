"""Patch extraction (im2col) and its adjoint; "same" padding. The convolution layer itself is
``numerics.layers.conv2d``.

Images are H×W×C; kernels are (K_H, K_W, C_in, C_out); the layer is a cross-correlation
y[i, j, o] = Σ_{a,b,c} W[a, b, c, o] · x_pad[i + a, j + b, c] (as deep-learning frameworks
compute it).

These are primitives of the training loops' forward and backward passes: shapes and dtypes
are checked, but non-finite values propagate (a diverging run's inf/NaN must reach the
trainer's divergence test, not stop it with an exception).
"""

from __future__ import annotations

import sys
from typing import Any

from overparam.numerics.backend import get_xp
from overparam.numerics.validation import check_array, check_scalar, memory_for

__all__ = ["MAX_SIZE", "extract_patches", "same_padding", "scatter_patches"]

#: Sizes and paddings beyond the address space are refused by value, not by NumPy's TypeError.
MAX_SIZE = sys.maxsize


def _kernel(kernel: Any) -> tuple[int, int]:
    if not isinstance(kernel, tuple | list) or len(kernel) != 2:
        raise TypeError(f"kernel: expected a pair (K_H, K_W), got {kernel!r}")
    return tuple(check_scalar(k, "kernel", integer=True, low=1, high=MAX_SIZE) for k in kernel)


def same_padding(kernel: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Zero padding ((top, bottom), (left, right)) that keeps H×W at stride 1.

    Odd K pads K//2 on each side; even K pads (K−1)//2 before and K//2 after (the extra row
    or column goes at the end, as TensorFlow's "SAME" does).
    """
    kernel = _kernel(kernel)
    return tuple(((k - 1) // 2, k // 2) for k in kernel)  # type: ignore[return-value]


def _resolve_padding(kernel: tuple[int, int], padding: Any) -> tuple:
    if isinstance(padding, str):
        if padding != "same":
            raise ValueError(f"padding: expected 'same' or ((top, bottom), (left, right)), "
                             f"got {padding!r}")
        return same_padding(kernel)
    try:
        (t, b), (left, right) = padding
    except (TypeError, ValueError) as exc:
        raise TypeError(f"padding: expected 'same' or ((top, bottom), (left, right)), "
                        f"got {padding!r}") from exc
    t, b, left, right = (check_scalar(v, "padding", integer=True, low=0, high=MAX_SIZE)
                         for v in (t, b, left, right))
    return ((t, b), (left, right))


def extract_patches(image: Any, kernel: tuple[int, int], padding: Any = "same") -> Any:
    """All K_H×K_W×C patches of ``image`` (H, W, C) or of a batch (N, H, W, C), flattened in
    (a, b, c) order — im2col, one strided view and one copy, no loop over pixels.

    ``padding`` is "same" (see ``same_padding``) or ((top, bottom), (left, right)) zeros.
    Returns (H_out·W_out, K_H·K_W·C) for one image, (N, H_out·W_out, K_H·K_W·C) for a batch;
    rows in raster order of the output pixel.
    """
    image = check_array(image, "image", ndim=(3, 4), finite=False)
    xp = get_xp(image)
    kh, kw = kernel = _kernel(kernel)
    pad = _resolve_padding(kernel, padding)
    lead = image.ndim - 3
    with memory_for("kernel" if padding == "same" else "padding", "the padded image"):
        x = xp.pad(image, ((0, 0),) * lead + (pad[0], pad[1], (0, 0)))
    if x.shape[lead] < kh or x.shape[lead + 1] < kw:
        raise ValueError(f"kernel: {kernel} is larger than the padded image "
                         f"{tuple(x.shape[lead:lead + 2])}")
    win = xp.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(lead, lead + 1))
    # win: (..., H_out, W_out, C, kh, kw) -> (..., H_out, W_out, kh, kw, C)
    win = xp.moveaxis(win, -3, -1)
    ho, wo = win.shape[lead], win.shape[lead + 1]
    return win.reshape(image.shape[:lead] + (ho * wo, kh * kw * image.shape[-1]))


def scatter_patches(dpatches: Any, image_shape: tuple[int, ...], kernel: tuple[int, int],
                    padding: Any = "same") -> Any:
    """The adjoint of ``extract_patches`` (col2im): sums each patch-gradient back onto the
    pixels it came from. ``dpatches`` is shaped like ``extract_patches``'s output; returns an
    array of ``image_shape``. One vectorised add per kernel tap (K_H·K_W of them)."""
    dpatches = check_array(dpatches, "dpatches", ndim=(2, 3), finite=False)
    xp = get_xp(dpatches)
    kh, kw = kernel = _kernel(kernel)
    pad = _resolve_padding(kernel, padding)
    if not isinstance(image_shape, tuple | list) or len(image_shape) not in (3, 4):
        raise ValueError(f"image_shape: expected (H, W, C) or (N, H, W, C), got {image_shape!r}")
    image_shape = tuple(check_scalar(v, "image_shape", integer=True, low=1)
                        for v in image_shape)
    lead = len(image_shape) - 3
    H, W, C = image_shape[lead:]
    Hp, Wp = H + pad[0][0] + pad[0][1], W + pad[1][0] + pad[1][1]
    ho, wo = Hp - kh + 1, Wp - kw + 1
    expected = tuple(image_shape[:lead]) + (ho * wo, kh * kw * C)
    if ho < 1 or wo < 1 or tuple(dpatches.shape) != expected:
        raise ValueError(f"dpatches: expected shape {expected} for image_shape {image_shape} "
                         f"and kernel {kernel}, got {tuple(dpatches.shape)}")
    d = dpatches.reshape(tuple(image_shape[:lead]) + (ho, wo, kh, kw, C))
    out = xp.zeros(tuple(image_shape[:lead]) + (Hp, Wp, C), dtype=dpatches.dtype)
    for a in range(kh):
        for b in range(kw):
            out[..., a:a + ho, b:b + wo, :] += d[..., a, b, :]
    return out[..., pad[0][0]:pad[0][0] + H, pad[1][0]:pad[1][0] + W, :]
