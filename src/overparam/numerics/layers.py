"""Layers, activations and losses with forward and backward passes, as pure functions over
arrays (NumPy or CuPy, float32 or float64: every temporary keeps the input's dtype).

Each ``*_forward`` returns (output, cache); ``*_backward(d_output, cache)`` returns the
gradients of the input and of the parameters. ``overparam.numerics.models`` composes them into
networks; they are gradient-checked by finite differences in the tests.

The hot path avoids copies: a convolution copies its input once (an im2col along the width
only, 1/K_H of the full patch matrix) and runs K_H matrix products on overlapping row slices of
it; activations may overwrite a temporary they own (``inplace=True``); the first layer of a
network need not form dL/dx (``need_dx=False``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp
from overparam.numerics.patches import same_padding
from overparam.numerics.validation import check_array, check_choice, check_labels, check_scalar

__all__ = ["ACTIVATIONS", "ACTIVATION_ALIASES", "LOSSES", "WORKSPACE_BYTES", "activation",
           "activation_backward", "activation_forward", "classification_loss", "conv2d",
           "conv2d_backward", "conv2d_forward", "dense_backward", "dense_forward",
           "flatten_backward", "flatten_forward", "loss_and_logit_gradient", "mse_loss", "one_hot",
           "residual_backward", "residual_forward", "softmax"]

ACTIVATIONS = ("relu", "sin", "sigmoid", "identity")
#: "linear" is accepted everywhere as another name for "identity" (EM's and IC's word).
ACTIVATION_ALIASES = {"linear": "identity"}
LOSSES = ("softmax_ce", "hinge", "squared")


def _activation_name(name: str) -> str:
    resolved = ACTIVATION_ALIASES.get(name, name) if isinstance(name, str) else name
    if resolved not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {ACTIVATIONS} (or 'linear'), "
                         f"got {name!r}")
    return resolved


# --- convolution ---------------------------------------------------------------------------

#: The most memory a workspace keeps between calls; larger scratch arrays (an evaluation pass
#: over a big batch) are made afresh each time, where faulting pages in costs little beside
#: the arithmetic.
WORKSPACE_BYTES = 2**27


def _buffer(workspace: dict | None, key: tuple, shape: tuple, dtype: Any, xp: Any, *,
            zero: bool = False) -> Any:
    """A scratch array for ``key`` of this shape, dtype and backend, kept in ``workspace``
    between calls while the workspace holds at most ``WORKSPACE_BYTES`` (a fresh one without
    a workspace or beyond that). A buffer made with ``zero`` starts at zero; callers keep the
    parts they rely on being zero untouched."""
    full_key = (key, shape, dtype, xp.__name__)
    buf = None if workspace is None else workspace.get(full_key)
    if buf is None:
        buf = (xp.zeros if zero else xp.empty)(shape, dtype=dtype)
        if workspace is not None:
            kept = workspace.get("bytes", 0) + buf.nbytes
            if kept <= WORKSPACE_BYTES:
                workspace[full_key], workspace["bytes"] = buf, kept
    return buf


def _kept_zeros(workspace: dict | None, shape: tuple, dtype: Any, xp: Any) -> Any:
    """An all-zero array of this shape kept in ``workspace`` (never written), or None where
    there is no workspace or it cannot hold one more (a fresh one per call would cost more
    than it saves)."""
    if workspace is None:
        return None
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    key = (("zeros",), shape, dtype, xp.__name__)
    if key not in workspace and workspace.get("bytes", 0) + nbytes > WORKSPACE_BYTES:
        return None
    return _buffer(workspace, ("zeros",), shape, dtype, xp, zero=True)


def _row_patches(x: Any, pad: tuple[tuple[int, int], tuple[int, int]], kw: int,
                 workspace: dict | None, tag: str) -> Any:
    """x (N, H, W, C) zero-padded by ``pad`` and unfolded along the width only:
    (N, H_p·W_out, K_W·C) with row (r, j) = x_pad[r, j : j + K_W, :] flattened in (b, c)
    order. Rows a·W_out … a·W_out + H_out·W_out − 1 are then the patch rows of kernel row a."""
    xp = get_xp(x)
    n, h, w, c = x.shape
    (top, bottom), (left, right) = pad
    hp, wp = h + top + bottom, w + left + right
    wo = wp - kw + 1
    # the padded copy's border is zero from its creation and never written
    xpad = _buffer(workspace, (tag, "pad", pad), (n, hp, wp, c), x.dtype, xp, zero=True)
    xpad[:, top:top + h, left:left + w, :] = x
    s = xpad.strides
    shape, strides = (n, hp, wo, kw, c), (s[0], s[1], s[2], s[2], s[3])
    # NumPy's as_strided makes its view through a Python-level array-interface shim (~14 µs,
    # 35 calls a step in IC's depth-12 CNN); the ndarray constructor over the buffer does not
    windows = (np.ndarray(shape, xpad.dtype, buffer=xpad, strides=strides) if xp is np
               else xp.lib.stride_tricks.as_strided(xpad, shape, strides))
    rows = _buffer(workspace, (tag, "rows"), shape, x.dtype, xp)
    xp.copyto(rows, windows)
    return rows.reshape(n, hp * wo, kw * c)


def _correlate_rows(R: Any, Wr: Any, ho: int, wo: int, workspace: dict | None) -> Any:
    """Σ_a R[:, a·W_out : a·W_out + H_out·W_out] @ Wr[a]: the stride-1 correlation from
    ``_row_patches`` output R (N, H_p·W_out, K_W·C_in) and kernel rows Wr (K_H, K_W·C_in,
    C_out). Returns a new array (N, H_out·W_out, C_out)."""
    xp = get_xp(R)
    m = ho * wo
    y = xp.matmul(R[:, :m], Wr[0])
    if Wr.shape[0] > 1:
        term = _buffer(workspace, ("term",), y.shape, y.dtype, xp)
        for a in range(1, Wr.shape[0]):
            xp.matmul(R[:, a * wo:a * wo + m], Wr[a], out=term)
            y += term
    return y


def _check_conv(x: Any, W: Any) -> None:
    if W.ndim != 4:
        raise ValueError(f"W: expected a kernel (K_H, K_W, C_in, C_out), got shape {W.shape}")
    if x.ndim not in (3, 4):
        raise ValueError(f"x: expected (N, H, W, C) or (H, W, C), got shape {x.shape}")
    if x.shape[-1] != W.shape[2]:
        raise ValueError(f"W: expected {x.shape[-1]} input channels to match x, "
                         f"got {W.shape[2]}")


def conv2d(x: Any, W: Any) -> Any:
    """Stride-1 "same" convolution (cross-correlation, as deep-learning frameworks compute it),
    no bias: y[i, j, o] = Σ_{a,b,c} W[a, b, c, o] · x_pad[i + a, j + b, c], padding as
    ``patches.same_padding``. x (N, H, W, C_in) or (H, W, C_in); W (K_H, K_W, C_in, C_out).
    Returns y (..., H, W, C_out). The forward pass alone (no cache). Shapes are checked
    (ValueError naming x or W); finiteness is not (as ``conv2d_forward``)."""
    return conv2d_forward(x, W)[0]


def conv2d_forward(x: Any, W: Any, *, workspace: dict | None = None) -> tuple[Any, tuple]:
    """``conv2d`` and the cache for ``conv2d_backward``.

    One copy of x (the width-unfolded rows, ``_row_patches``), then K_H matrix products
    (H·W, K_W·C_in) @ (K_W·C_in, C_out) on row slices of it — the same products as im2col's
    one (H·W, K_H·K_W·C_in) product, with K_H times fewer patch entries copied.
    ``workspace``: a dict of scratch arrays kept between calls (the padded input and its
    rows: no fresh memory pages to fault in on every step); it may be shared by any number
    of layers, as nothing in it outlives the call. y is always a new array; the cache holds
    x (backward unfolds it again, which is cheaper than keeping every layer's rows: those of
    one layer stay in cache, those of five did not).

    Shapes are checked (ValueError naming x or W). Does not check finiteness (an O(n) scan on
    the training step's hot path): ``models`` validates x and the parameters at
    ``apply``/``loss_and_grad`` entry, and the trainer detects a NaN loss as divergence.
    """
    _check_conv(x, W)
    single = x.ndim == 3
    xb = x[None] if single else x
    kh, kw, cin, cout = W.shape
    pad = same_padding((kh, kw))
    R = _row_patches(xb, pad, kw, workspace, "x")
    n, h, w, _ = xb.shape
    y = _correlate_rows(R, W.reshape(kh, kw * cin, cout), h, w, workspace)
    y = y.reshape(n, h, w, cout)
    return (y[0] if single else y), (xb, single, W, pad)


def conv2d_backward(dy: Any, cache: tuple, *, need_dx: bool = True,
                    workspace: dict | None = None) -> tuple[Any, Any]:
    """Gradients (dx, dW) of ``conv2d_forward`` given dL/dy shaped like its output; dx is None
    when ``need_dx`` is False (a network's first layer). ``workspace``: a dict of scratch
    arrays, as in ``conv2d_forward``.

    dW[a] = Σ_n R_aᵀ dY (one product per kernel row a); dx is the correlation of dy, padded by
    the complementary amounts, with the kernel flipped in space and transposed in channels
    (the adjoint of a "same" correlation), computed as the forward pass is. The cache comes
    from ``conv2d_forward``; like it, no finiteness check (``models`` validates at entry).
    """
    x, single, W, pad = cache
    xp = get_xp(dy)
    kh, kw, cin, cout = W.shape
    x_shape = x.shape
    n, h, w, _ = x_shape
    R = _row_patches(x, pad, kw, workspace, "x")
    m = h * w
    dY = dy.reshape(n, m, cout)
    dW = xp.empty((kh, kw * cin, cout), dtype=dy.dtype)
    for a in range(kh):
        rows = R[:, a * w:a * w + m]
        if n == 1:
            xp.matmul(rows[0].T, dY[0], out=dW[a])
        else:
            per_image = _buffer(workspace, ("dW",), (n, kw * cin, cout), dy.dtype, xp)
            xp.matmul(rows.transpose(0, 2, 1), dY, out=per_image)
            per_image.sum(axis=0, out=dW[a])
    dW = dW.reshape(W.shape)
    if not need_dx:
        return None, dW
    (top, bottom), (left, right) = pad
    adjoint_pad = ((kh - 1 - top, top), (kw - 1 - left, left))
    D = _row_patches(dy.reshape(n, h, w, cout), adjoint_pad, kw, workspace, "dy")
    # kernel rows of the flipped, channel-transposed kernel: (K_H, K_W·C_out, C_in)
    # flipping both spatial axes reverses the flattened (a, b) axis: one reversed axis to copy
    Wt = xp.ascontiguousarray(W.reshape(kh * kw, cin, cout)[::-1].transpose(0, 2, 1)).reshape(
        kh, kw * cout, cin)
    dx = _correlate_rows(D, Wt, h, w, workspace).reshape(x_shape)
    return (dx[0] if single else dx), dW


# --- dense ---------------------------------------------------------------------------------

def dense_forward(x: Any, W: Any, b: Any | None = None) -> tuple[Any, tuple]:
    """y = x Wᵀ (+ b): x (N, in), W (out, in), b (out,) or None (IC's networks have none).

    Shapes are checked (ValueError naming x, W or b). Does not check finiteness (an O(n) scan
    on the training step's hot path): ``models`` validates x and the parameters at
    ``apply``/``loss_and_grad`` entry, and the trainer detects a NaN loss as divergence."""
    if getattr(x, "ndim", None) != 2:
        raise ValueError(f"x: expected a batch (N, in), got shape {getattr(x, 'shape', None)}")
    if getattr(W, "ndim", None) != 2 or W.shape[1] != x.shape[1]:
        raise ValueError(f"W: expected shape (out, {x.shape[1]}) to match x {tuple(x.shape)}, "
                         f"got {getattr(W, 'shape', None)}")
    if b is not None and getattr(b, "shape", None) != (W.shape[0],):
        raise ValueError(f"b: expected shape ({W.shape[0]},) to match W, "
                         f"got {getattr(b, 'shape', None)}")
    y = x @ W.T
    if b is not None:
        y += b
    return y, (x, W, b is not None)


def dense_backward(dy: Any, cache: tuple, *, need_dx: bool = True) -> tuple[Any, dict]:
    """(dx, {"W": dW[, "b": db]}) of ``dense_forward``; dx is None when ``need_dx`` is False."""
    x, W, has_b = cache
    grads = {"W": dy.T @ x}
    if has_b:
        grads["b"] = dy.sum(axis=0)
    return (dy @ W if need_dx else None), grads


# --- activations ---------------------------------------------------------------------------

# sin and cos of float64 NumPy arrays. NumPy evaluates both with the C library, one element at
# a time (its SIMD versions are float32-only on AVX2), ~15 ns per element each on the 2-core
# machine: a third of EM's float64 sin-MLP step. Table plus short polynomial instead, in
# NumPy passes over cache-sized chunks: x = k·h + d, h = 2π/_SC_STEPS, |d| ≤ h/2, so
# sin x = s_k + (c_k·sin d + s_k·(cos d − 1)) and cos x = c_k + (c_k·(cos d − 1) − s_k·sin d)
# with s_k, c_k the correctly rounded table entries and sin d, cos d − 1 to degree 5 and 4
# (the next terms are below 2^-60 relative at |d| ≤ π/1024). Within 2 ulp of the C library.
_SC_STEPS = 1024
#: d = x − k·h1 − k·h2 − k·h3 − k·h4 with h1, h2, h3 of 26 significant bits: those products are
#: exact for |k| < 2^26, so d keeps its relative accuracy next to a zero of sin or cos down to
#: |d| ~ 2^-80·|x| (Cody and Waite's reduction; the double nearest a multiple of π/2 is
#: 2^-54·|x| away or more at the scales that matter); beyond this bound (or for NaN/inf) the
#: C library
_SC_BOUND = 2.0**25 * 2 * math.pi / _SC_STEPS
_SC_CHUNK = 16384  # elements per pass: 0.9× the time of 8192 and 0.55× that of 32768 (measured)
_SC_MIN = 4096  # below this, the C library (fewer calls)
_SC_ROUNDER = 1.5 * 2.0**52  # |k| < 2^25 ≪ 2^51: x/h + this is exact to the unit


@functools.cache
def _sin_cos_constants() -> tuple[Any, Any, float, tuple[float, ...]]:
    """(sin table, cos table, 1/h, (h1, h2, h3, h4)) with h = h1 + h2 + h3 + h4 =
    2π/_SC_STEPS to ~2^-130 relative; the tables correctly rounded from 200-bit values (so
    sin 0, cos π/2, … are exactly 0)."""

    def leading(v: Any) -> float:  # v's leading 26 bits
        m, e = math.frexp(float(v))
        return math.ldexp(math.floor(m * 2**26), e - 26)

    import mpmath

    with mpmath.workprec(200):
        h = 2 * mpmath.pi / _SC_STEPS
        sin_t = np.array([float(mpmath.sin(j * h)) for j in range(_SC_STEPS)])
        cos_t = np.array([float(mpmath.cos(j * h)) for j in range(_SC_STEPS)])
        parts, rest = [], h
        for _ in range(3):
            parts.append(leading(rest))
            rest -= parts[-1]
        return sin_t, cos_t, float(1 / h), (*parts, float(rest))


def _sin_cos_table(xs: Any, so: Any, co: Any) -> None:
    """so[:] = sin xs, co[:] = cos xs by the table path above, over chunks of _SC_CHUNK;
    xs (float64, C-contiguous, 1-D, |xs| < _SC_BOUND) may be so itself."""
    sin_t, cos_t, inv_h, (h1, *h_rest) = _sin_cos_constants()
    m = min(_SC_CHUNK, xs.size)
    k, d, t, z, sd, cm, sa, ca = (np.empty(m) for _ in range(8))
    j = np.empty(m, dtype=np.int64)
    for start in range(0, xs.size, m):
        stop = min(start + m, xs.size)
        n = stop - start
        x_c, kk, dd, tt, zz = xs[start:stop], k[:n], d[:n], t[:n], z[:n]
        sD, cM, sA, cA, jj = sd[:n], cm[:n], sa[:n], ca[:n], j[:n]
        np.multiply(x_c, inv_h, out=kk)
        # + 1.5·2^52 rounds to the nearest integer k (ties to even, as rint) and leaves
        # 2^51 + k in the low mantissa bits: k mod _SC_STEPS (also for k < 0) by one mask
        kk += _SC_ROUNDER
        np.bitwise_and(kk.view(np.int64), _SC_STEPS - 1, out=jj)
        kk -= _SC_ROUNDER
        np.multiply(kk, h1, out=tt)
        np.subtract(x_c, tt, out=dd)
        for h_part in h_rest:
            np.multiply(kk, h_part, out=tt)
            dd -= tt
        # indices already in range: "clip" skips the bounds check (a third of the time)
        np.take(sin_t, jj, out=sA, mode="clip")
        np.take(cos_t, jj, out=cA, mode="clip")
        np.multiply(dd, dd, out=zz)
        np.multiply(zz, 1 / 120, out=sD)  # sin d = d + d·z·(−1/6 + z/120)
        sD -= 1 / 6
        sD *= zz
        sD *= dd
        sD += dd
        np.multiply(zz, 1 / 24, out=cM)  # cos d − 1 = z·(−1/2 + z/24)
        cM -= 0.5
        cM *= zz
        # x is read for the last time above, so sin x may now overwrite it
        c_c, s_c = co[start:stop], so[start:stop]
        np.multiply(cA, cM, out=c_c)
        np.multiply(sA, sD, out=tt)
        c_c -= tt
        c_c += cA
        np.multiply(cA, sD, out=tt)
        np.multiply(sA, cM, out=s_c)
        s_c += tt
        s_c += sA


def _sin_cos(x: Any, sin_out: Any = None) -> tuple[Any, Any]:
    """(sin x, cos x) for any array x; ``sin_out`` (x itself allowed) receives sin x. Float64
    NumPy arrays of moderate entries take the table path above, everything else the array
    module's own sin and cos (CuPy's run on the GPU; NumPy's float32 ones are vectorised).

    Not split across threads: on the 2-core machine, two threads each running half of the
    table path's ~30 NumPy passes per chunk took 1.0–1.6× the time of one (every pass hands
    the GIL over, and a thread wake-up costs ~40 µs in this VM)."""
    xp = get_xp(x)
    if (xp is not np or x.dtype != np.float64 or x.size < _SC_MIN
            or not (-_SC_BOUND < x.min() and x.max() < _SC_BOUND)):  # NaN fails both
        c = xp.cos(x)
        return xp.sin(x, out=sin_out), c
    flat = np.ascontiguousarray(x).reshape(-1)
    into = sin_out is not None and sin_out.flags.c_contiguous
    s_flat = sin_out.reshape(-1) if into else np.empty_like(flat)
    c_flat = np.empty_like(flat)
    _sin_cos_table(flat, s_flat, c_flat)
    if sin_out is None:
        return s_flat.reshape(x.shape), c_flat.reshape(x.shape)
    if not into:
        sin_out[...] = s_flat.reshape(x.shape)
    return sin_out, c_flat.reshape(x.shape)


def activation(name: str, H: Any) -> tuple[Any, Any]:
    """φ(H) and φ'(H) for φ in ACTIVATIONS ("linear" = "identity"; ReLU'(0) = 0, the usual
    convention). Unknown names raise ValueError. H: a float array of any shape. Does not check
    finiteness (NaN in, NaN out): callers validate at entry (``mlp``, ``models``)."""
    name = _activation_name(name)
    xp = get_xp(H)
    if name == "sin":
        return _sin_cos(H)
    if name == "relu":
        return xp.maximum(H, 0), (H > 0).astype(H.dtype)
    if name == "identity":
        return H, xp.ones_like(H)
    s = 1 / (1 + xp.exp(-H))
    return s, s * (1 - s)


def activation_forward(name: str, x: Any, *, inplace: bool = False,
                       workspace: dict | None = None) -> tuple[Any, tuple]:
    """φ(x) for φ in ACTIVATIONS and the cache for ``activation_backward``. With ``inplace``
    the result overwrites x (for temporaries the caller owns). Unknown names raise ValueError.
    ``workspace``: a dict of scratch arrays (as in ``conv2d_forward``); ReLU takes its zeros
    from there, since NumPy's maximum against a scalar 0 skips its vectorised loop (float32,
    25k–262k entries: 13–190 µs against 3–43 µs for an array of zeros).

    The cache holds what φ' needs and no more: ReLU keeps its output (φ' = [y > 0]), sin
    keeps cos x, sigmoid its output s (φ' = s(1 − s)), identity nothing. Does not check
    finiteness (hot path): ``models`` validates x and the parameters at entry.
    """
    name = _activation_name(name)
    xp = get_xp(x)
    out = x if inplace else None
    if name == "relu":
        # C-ordered x only: against C-ordered zeros, another x's result would change order
        zeros = _kept_zeros(workspace, x.shape, x.dtype, xp) if x.flags.c_contiguous else None
        y = xp.maximum(x, 0 if zeros is None else zeros, out=out)
        return y, (name, y)
    if name == "sin":
        y, c = _sin_cos(x, out)
        return y, (name, c)
    if name == "sigmoid":
        y = xp.negative(x, out=out)
        xp.exp(y, out=y)
        y += 1
        xp.reciprocal(y, out=y)
        return y, (name, y)
    return x, (name, None)


def activation_backward(dy: Any, cache: tuple, *, inplace: bool = False) -> Any:
    """dL/dx of ``activation_forward`` given dL/dy; with ``inplace`` it overwrites dy."""
    name, saved = cache
    xp = get_xp(dy)
    out = dy if inplace else None
    if name == "relu":
        return xp.multiply(dy, saved > 0, out=out)
    if name == "sin":
        return xp.multiply(dy, saved, out=out)
    if name == "sigmoid":
        d = xp.multiply(dy, saved, out=out)
        d -= d * saved  # dy·s − dy·s² = dy·s(1 − s)
        return d
    return dy


# --- shape and residual --------------------------------------------------------------------

def flatten_forward(x: Any) -> tuple[Any, tuple]:
    """(N, …) → (N, prod(…)); x needs a batch axis (ValueError naming x otherwise)."""
    if getattr(x, "ndim", 0) < 1:
        raise ValueError(f"x: expected a batch (N, …), got shape {getattr(x, 'shape', None)}")
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dy: Any, cache: tuple) -> Any:
    """dL/dx of ``flatten_forward``: dy reshaped to the input's shape."""
    return dy.reshape(cache)


def residual_forward(x: Any, W1: Any, W2: Any, *, output_relu: bool = True) -> tuple[Any, tuple]:
    """IC App. N's block x ↦ x + ReLU(W2 ReLU(W1 x)) (dense, no biases): x (N, d), W1 (h, d),
    W2 (d, h). ``output_relu=False`` gives x + W2 ReLU(W1 x) (App. N: "no ReLU is applied at
    the output layer"). Returns the block's output (N, d) and the cache for
    ``residual_backward``. Shapes are checked (ValueError naming x, W1 or W2); finiteness is
    not (hot path: ``models`` validates at entry)."""
    if getattr(x, "ndim", None) != 2:
        raise ValueError(f"x: expected a batch (N, d), got shape {getattr(x, 'shape', None)}")
    d = x.shape[1]
    if getattr(W1, "ndim", None) != 2 or W1.shape[1] != d:
        raise ValueError(f"W1: expected shape (h, {d}) to match x, "
                         f"got {getattr(W1, 'shape', None)}")
    if getattr(W2, "shape", None) != (d, W1.shape[0]):
        raise ValueError(f"W2: expected shape ({d}, {W1.shape[0]}) to match x and W1, "
                         f"got {getattr(W2, 'shape', None)}")
    xp = get_xp(x)
    a1 = x @ W1.T
    xp.maximum(a1, 0, out=a1)
    a2 = a1 @ W2.T
    if output_relu:
        xp.maximum(a2, 0, out=a2)
    return x + a2, (x, W1, a1, W2, a2 if output_relu else None)


def residual_backward(dy: Any, cache: tuple, *, need_dx: bool = True) -> tuple[Any, dict]:
    """(dx, {"W1": dW1, "W2": dW2}) of ``residual_forward``; dx is None when ``need_dx`` is
    False."""
    x, W1, a1, W2, a2 = cache
    xp = get_xp(dy)
    d2 = dy if a2 is None else xp.multiply(dy, a2 > 0)
    d1 = d2 @ W2
    xp.multiply(d1, a1 > 0, out=d1)
    grads = {"W1": d1.T @ x, "W2": d2.T @ a1}
    if not need_dx:
        return None, grads
    dx = d1 @ W1
    dx += dy
    return dx, grads


# --- losses --------------------------------------------------------------------------------

def mse_loss(pred: Any, target: Any) -> tuple[float, Any]:
    """IC's training loss, the mean over all N·m entries: L = (1/(N m)) Σ (pred − target)², and
    dL/dpred = 2 (pred − target)/(N m). pred and target of one shape (ValueError naming target
    otherwise). Does not check finiteness (hot path): ``models.loss_and_grad`` validates y at
    entry, and a non-finite loss is the trainer's divergence test."""
    if getattr(target, "shape", None) != getattr(pred, "shape", None):
        raise ValueError(f"target: expected the shape of pred {getattr(pred, 'shape', None)}, "
                         f"got {getattr(target, 'shape', None)}")
    diff = pred - target
    loss = float((diff * diff).mean())
    # in place, rounded as 2.0 * diff / size (the results of earlier runs stay bit-identical)
    diff *= 2.0
    diff /= diff.size
    return loss, diff


def one_hot(y: Any, k: int, dtype: Any = None) -> Any:
    """(n, k) one-hot rows for integer labels y (n,) in [0, k), k ≥ 1, float64 unless ``dtype``
    says otherwise. Bad y or k raises ValueError/TypeError naming it."""
    k = int(check_scalar(k, "k", integer=True, low=1))
    y = check_labels(y, "y", n_classes=k)
    xp = get_xp(y)
    return (y[:, None] == xp.arange(k)[None, :]).astype(
        xp.float64 if dtype is None else dtype)


def softmax(Z: Any) -> Any:
    """Row-wise softmax of Z (n, k), shifted by the row maximum so large logits do not
    overflow. Does not check finiteness (NaN in, NaN out): callers validate at entry."""
    if getattr(Z, "ndim", None) != 2:
        raise ValueError(f"Z: expected logits (n, k), got shape {getattr(Z, 'shape', None)}")
    xp = get_xp(Z)
    E = xp.exp(Z - Z.max(axis=1, keepdims=True))
    E /= E.sum(axis=1, keepdims=True)
    return E


def loss_and_logit_gradient(name: str, Z: Any, y: Any, *,
                            margin: float = 1.0) -> tuple[Any, Any]:
    """Per-example losses (n,) and dℓ/dz (n, k) for EM Sec. 4's losses, in Z's dtype.

    softmax_ce: −log p_y, gradient p − e_y. hinge (eq. 8): Σ_{i≠y} max(0, Δ + z_i − z_y),
    gradient eq. (9) (the subgradient 0 at the kink). squared: ½‖z − e_y‖², gradient
    z − e_y. Z (n, k); y (n,) integer labels in [0, k); ``margin`` Δ finite. Unknown names,
    bad labels or margin, and a Z that is not 2-D raise ValueError/TypeError naming the
    argument. Does not check Z's finiteness (an O(nk) scan on the training step's hot path:
    ``models`` validates at entry and the trainer detects a NaN loss as divergence).
    """
    check_choice(name, "name (the loss)", LOSSES)
    Z = check_array(Z, "Z", ndim=2, finite=False)
    y = check_labels(y, "y", n=Z.shape[0], n_classes=Z.shape[1])
    margin = check_scalar(margin, "margin")
    return _loss_and_logit_gradient(name, Z, y, margin)


def _loss_and_logit_gradient(name: str, Z: Any, y: Any, margin: float) -> tuple[Any, Any]:
    """``loss_and_logit_gradient`` on checked arguments."""
    xp = get_xp(Z)
    n = Z.shape[0]
    rows = xp.arange(n)
    if name == "softmax_ce":
        G = Z - Z.max(axis=1, keepdims=True)
        shifted_y = G[rows, y]
        xp.exp(G, out=G)
        total = G.sum(axis=1)
        G /= total[:, None]
        G[rows, y] -= 1
        return xp.log(total) - shifted_y, G
    if name == "hinge":
        m = Z - Z[rows, y][:, None]
        m += margin
        m[rows, y] = 0
        active = (m > 0).astype(Z.dtype)
        xp.maximum(m, 0, out=m)
        active[rows, y] = -active.sum(axis=1)
        return m.sum(axis=1), active
    R = Z.copy()
    R[rows, y] -= 1
    return 0.5 * (R * R).sum(axis=1), R


def classification_loss(name: str, logits: Any, labels: Any, *,
                        margin: float = 1.0) -> tuple[float, Any]:
    """The batch mean of ``loss_and_logit_gradient``'s per-example losses and its gradient
    dL/dlogits = G/N: logits (N, k), labels (N,) integers in [0, k). Checks as
    ``loss_and_logit_gradient``, with errors naming ``logits`` and ``labels``; no finiteness
    scan of the logits (``models.loss_and_grad`` validates at entry)."""
    check_choice(name, "name (the loss)", LOSSES)
    logits = check_array(logits, "logits", ndim=2, finite=False)
    labels = check_labels(labels, "labels", n=logits.shape[0], n_classes=logits.shape[1])
    margin = check_scalar(margin, "margin")
    losses, G = _loss_and_logit_gradient(name, logits, labels, margin)
    G /= logits.shape[0]
    return float(losses.mean()), G
