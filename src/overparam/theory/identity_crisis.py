"""Identity Crisis (Zhang, Bengio, Hardt, Mozer, Singer, ICLR 2020): closed forms and
constructions.

- ``fcn1_predict`` / ``fcn1_limit_weights``: Theorem 1 (Sec. 3.1, proof App. C).
- ``lemma1_limit``, ``lemma2_limit``, ``gd_limit_least_squares``: Lemmas 1–2 (App. D) and the
  rank-agnostic limit they specialise.
- identity realisations of App. B.1–B.3 and their forward passes.
- ``param_count`` and ``TABLE1_PARAM_COUNTS``: Table 1 (App. M).
- ``rho_image``: the test images of Sec. 3.2 with train–test correlation ρ.
- ``conv1_predict``, ``conv1_mse_bound`` and their helpers: Theorem 2 (Sec. 3.2, App. D),
  the one-layer CNN trained on one image.
"""

from __future__ import annotations

import hashlib
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq

from overparam.numerics import models
from overparam.numerics.backend import default_rng, get_xp, to_numpy
from overparam.numerics.layers import conv2d
from overparam.numerics.linalg import (
    binary_exponent,
    numerical_rank,
    pinv_apply,
    project_onto_span,
    scaled_norm,
    unit_vector,
)
from overparam.numerics.patches import extract_patches
from overparam.numerics.validation import (
    check_array,
    check_choice,
    check_scalar,
    memory_for,
)

__all__ = [
    "TABLE1_PARAM_COUNTS",
    "Conv1Dims",
    "conv2d_same",
    "extract_patches",
    "chi2_union_m",
    "conv1_dims",
    "conv1_limit_weights",
    "conv1_mse_bound",
    "conv1_predict",
    "conv1_rank",
    "conv1_regression",
    "identity_kernel",
    "thm2_proof_case",
    "cnn_forward",
    "conv_identity_kernel",
    "fcn1_limit_weights",
    "fcn1_predict",
    "fcn_forward",
    "gd_limit_least_squares",
    "lemma1_limit",
    "lemma2_limit",
    "linear_identity_weights",
    "param_count",
    "pearson_correlation",
    "relu_cnn_identity_kernels",
    "relu_fcn_identity_weights",
    "rho_image",
    "rho_mixture",
]

#: The stride-1 "same" convolution of App. B.3 and Thm 2 (``numerics.layers.conv2d``):
#: image (H, W, C_in) or a batch (N, H, W, C_in), weights (K_H, K_W, C_in, C_out).
conv2d_same = conv2d


def _positive_int(value: Any, name: str, low: int = 1, high: int | None = sys.maxsize) -> int:
    # sizes beyond the address space are refused here, not by NumPy's TypeError/OverflowError
    return check_scalar(value, name, integer=True, low=low, high=high)


def _check_fcn1(W0: Any, X: Any) -> tuple[Any, Any, Any]:
    xp = get_xp(W0, X)
    X = check_array(X, "X", xp=xp, ndim=1, dtype="float64")
    W0 = check_array(W0, "W0", xp=xp, ndim=2, dtype="float64")
    d = X.shape[0]
    if tuple(W0.shape) != (d, d):
        raise ValueError(f"W0: expected shape ({d}, {d}) to match X, got {tuple(W0.shape)}")
    if not bool(xp.any(X != 0)):
        raise ValueError("X: Theorem 1 needs a non-zero training example")
    return xp, W0, X


def fcn1_limit_weights(W0: Any, X: Any) -> Any:
    """IC Theorem 1 (App. C): the limit of GD on ½‖WX − X‖² from W0,
    W∞ = W0 + (X − W0X)Xᵀ/‖X‖².

    Shapes: W0 (d, d), X (d,) non-zero. Returns W∞ (d, d) on the inputs' backend.
    """
    xp, W0, X = _check_fcn1(W0, X)
    u = unit_vector(X)
    return W0 + xp.outer(u - W0 @ u, u)


def fcn1_predict(W0: Any, X: Any, x: Any) -> Any:
    """IC Theorem 1, eq. (1): the trained one-layer linear net's prediction
    f(x) = Π∥(x) + W0 Π⊥(x), Π∥ the projection onto span{X}, Π⊥ = I − Π∥.

    Shapes: W0 (d, d), X (d,) non-zero, x (d,) or a batch (n, d). Returns f(x), shaped like x.
    """
    xp, W0, X = _check_fcn1(W0, X)
    x = check_array(x, "x", xp=xp, ndim=(1, 2), dtype="float64")
    if x.shape[-1] != X.shape[0]:
        raise ValueError(f"x: expected last dimension {X.shape[0]}, got shape {tuple(x.shape)}")
    par = project_onto_span(x, X)
    with np.errstate(over="ignore", invalid="ignore"):
        f = par + (x - par) @ W0.T
    return _finite_output(f, "x")


def _check_system(X: Any, Y: Any, W0: Any | None) -> tuple[Any, Any, Any]:
    xp = get_xp(X, Y, *([] if W0 is None else [W0]))
    X = check_array(X, "X", xp=xp, ndim=2)
    Y = check_array(Y, "Y", xp=xp, ndim=(1, 2))
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"Y: expected {X.shape[0]} rows to match X {tuple(X.shape)}, "
                         f"got shape {tuple(Y.shape)}")
    if W0 is not None:
        W0 = check_array(W0, "W0", xp=xp, ndim=Y.ndim)
        expected = (X.shape[1],) + tuple(Y.shape[1:])
        if tuple(W0.shape) != expected:
            raise ValueError(f"W0: expected shape {expected}, got {tuple(W0.shape)}")
    return X, Y, W0


def gd_limit_least_squares(X: Any, Y: Any, W0: Any) -> Any:
    """Limit of gradient descent on ½‖XW − Y‖² from ``W0``, for any rank of ``X``.

    GD moves W only inside W0 + range(Xᵀ) and converges (for a stable step) to the
    least-squares solution in that affine set: W∞ = W0 + X⁺(Y − X W0). IC Lemmas 1 and 2
    (App. D) are its full-rank special cases.

    Shapes: X (N, D), Y (N, d) or (N,), W0 (D, d) or (D,). Returns W∞ with W0's shape.
    The pseudo-inverse is applied through an SVD truncated at ``numerical_rank``'s threshold
    (``numerics.linalg.pinv_apply``).
    """
    X, Y, W0 = _check_system(X, Y, W0)
    return W0 + pinv_apply(X, Y - X @ W0, name="Y")


def lemma1_limit(X: Any, Y: Any, W0: Any) -> Any:
    """IC Lemma 1 (App. D): for N ≤ D and rank X = N, GD on ½‖XW − Y‖² from W0 converges to
    W0 + Xᵀ(XXᵀ)⁻¹(Y − XW0).

    Shapes: X (N, D), Y (N, d), W0 (D, d). Raises ValueError when N > D or X is numerically
    rank-deficient (the Gram matrix XXᵀ would be singular). Xᵀ(XXᵀ)⁻¹ = X⁺ for full row rank,
    and it is applied through X's SVD (``numerics.linalg.pinv_apply``), never by forming XXᵀ
    (whose condition number is κ²): the forward error is O(max(N, D)·eps·κ) relative,
    κ = σ_max/σ_min of X.
    """
    X, Y, W0 = _check_system(X, Y, W0)
    N, D = X.shape
    if N > D:
        raise ValueError(f"X: Lemma 1 needs N <= D, got N={N}, D={D} (use lemma2_limit)")
    step = pinv_apply(X, Y - X @ W0, min_rank=N, name="Y")
    if step is None:
        raise _rank_error(X, "Lemma 1", "N", N, "XXᵀ")
    return W0 + step


def lemma2_limit(X: Any, Y: Any) -> Any:
    """IC Lemma 2 (App. D): for N > D and rank X = D, GD on ½‖XW − Y‖² converges to
    (XᵀX)⁻¹XᵀY whatever W0 is.

    Shapes: X (N, D), Y (N, d). Raises ValueError when N ≤ D or X is numerically
    rank-deficient (XᵀX would be singular). (XᵀX)⁻¹Xᵀ = X⁺ for full column rank, applied
    through X's SVD (``numerics.linalg.pinv_apply``) rather than the normal equations
    (condition κ² there, κ here).
    """
    X, Y, _ = _check_system(X, Y, None)
    N, D = X.shape
    if N <= D:
        raise ValueError(f"X: Lemma 2 needs N > D, got N={N}, D={D} (use lemma1_limit)")
    W = pinv_apply(X, Y, min_rank=D, name="Y")
    if W is None:
        raise _rank_error(X, "Lemma 2", "D", D, "XᵀX")
    return W


def _rank_error(X: Any, lemma: str, symbol: str, needed: int, gram: str) -> ValueError:
    info = numerical_rank(X)
    return ValueError(f"X: {lemma} needs rank X = {symbol} = {needed}, numerical rank is "
                      f"{info.rank} (singular values <= {info.threshold:.3g} = max(N, D)·eps·"
                      f"σ_max count as zero); the rank condition fails and {gram} is singular")


def linear_identity_weights(d: int, depth: int, *, hidden: int | None = None) -> list[np.ndarray]:
    """IC App. B.1: weights of a depth-``depth`` linear net computing the identity on R^d.

    Every layer is an identity; with ``hidden`` > d the hidden layers are padded identities
    (hidden must be ≥ d: no bottleneck). Returns matrices W_l (out, in), applied as W_l x.
    """
    d, depth = _positive_int(d, "d"), _positive_int(depth, "depth")
    hidden = d if hidden is None else _positive_int(hidden, "hidden")
    if hidden < d:
        raise ValueError(f"hidden: the construction needs hidden >= d = {d}, got {hidden}")
    with memory_for("depth" if depth > hidden else ("d" if hidden == d else "hidden"),
                    f"{depth} layers of {hidden}×{d} identity weights"):
        if depth == 1:
            return [np.eye(d)]
        return [np.eye(hidden, d)] + [np.eye(hidden)] * (depth - 2) + [np.eye(d, hidden)]


def relu_fcn_identity_weights(d: int, depth: int) -> list[np.ndarray]:
    """IC App. B.2: a depth-``depth`` (≥ 2) ReLU FCN with hidden width 2d computing the identity:
    W1 = [I; −I], identities in between, W_L = [I, −I]. Returns matrices (out, in)."""
    d, depth = _positive_int(d, "d"), _positive_int(depth, "depth", 2)
    with memory_for("depth" if depth > 2 * d else "d",
                    f"{depth} layers of {2 * d}×{d} identity weights"):
        eye = np.eye(d)
        return ([np.vstack([eye, -eye])] + [np.eye(2 * d)] * (depth - 2)
                + [np.hstack([eye, -eye])])


def fcn_forward(weights: list[Any], x: Any, *, activation: str = "relu") -> Any:
    """Forward pass of a bias-free FCN: x ↦ W_L σ(… σ(W_1 x)), σ = ``activation`` (relu,
    "linear", or another of ``models``' activations), as a ``models.serial`` of dense layers.

    ``x`` is (d,) or a batch (n, d); no activation after the last layer. Weights are
    (out, in) matrices chaining from d; NaN/inf anywhere and unknown activations raise.
    """
    act = models.activation(activation)
    weights = _layer_list(weights, "weights", 2)
    xp = get_xp(x, *weights)
    h = check_array(x, "x", xp=xp, ndim=(1, 2), dtype="float64")
    _check_chain(weights, "weights", h.shape[-1], "input columns", 1, 0)
    out = _serial_forward([models.dense(W.shape[0]) for W in weights],
                          [xp.asarray(W) for W in weights], act, h if h.ndim == 2 else h[None],
                          "x")
    return out if h.ndim == 2 else out[0]


def conv_identity_kernel(kernel: tuple[int, int], channels: int) -> np.ndarray:
    """IC App. B.3: the one-layer identity convolution — only the centre tap
    (⌊K_H/2⌋, ⌊K_W/2⌋) is the C×C identity. Defined for odd kernels only, as the paper says.

    Returns W (K_H, K_W, C, C) for ``conv2d_same`` (``numerics.layers.conv2d``).
    """
    kh, kw = _kernel_pair(kernel, "kernel")
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel: the centre-tap construction needs odd sizes, got {kernel}")
    channels = _positive_int(channels, "channels")
    with memory_for("channels", f"a {kh}×{kw}×{channels}×{channels} kernel"):
        W = np.zeros((kh, kw, channels, channels))
        W[kh // 2, kw // 2] = np.eye(channels)
    return W


def relu_cnn_identity_kernels(kernel: tuple[int, int], channels: int, depth: int) -> list:
    """IC App. B.3: a depth-``depth`` (≥ 2) ReLU CNN with 2C hidden channels computing the
    identity: the first layer splits x into (x⁺, x⁻) with centre taps [I, −I], middle layers
    are centre-tap identities on 2C channels, the last recombines with [I; −I]."""
    depth = _positive_int(depth, "depth", 2)
    C = _positive_int(channels, "channels")
    kernel = _kernel_pair(kernel, "kernel")
    first = conv_identity_kernel(kernel, 2 * C)[:, :, :C, :].copy()
    first[kernel[0] // 2, kernel[1] // 2] = np.hstack([np.eye(C), -np.eye(C)])
    last = conv_identity_kernel(kernel, 2 * C)[:, :, :, :C].copy()
    last[kernel[0] // 2, kernel[1] // 2] = np.vstack([np.eye(C), -np.eye(C)])
    with memory_for("depth", f"{depth} kernels"):
        return [first] + [conv_identity_kernel(kernel, 2 * C)] * (depth - 2) + [last]


def cnn_forward(kernels: list[Any], image: Any, *, activation: str = "relu") -> Any:
    """Forward pass of a bias-free stride-1 "same" CNN on one image (H, W, C), as a
    ``models.serial`` of conv2d layers with σ = ``activation`` (relu, "linear", or another of
    ``models``' activations) between them, none after the last. Kernels are
    (K_H, K_W, C_in, C_out) chaining from C; NaN/inf anywhere and unknown activations raise."""
    act = models.activation(activation)
    kernels = _layer_list(kernels, "kernels", 4)
    xp = get_xp(image, *kernels)
    h = check_array(image, "image", xp=xp, ndim=3, dtype="float64")
    _check_chain(kernels, "kernels", h.shape[-1], "input channels", 2, 3)
    return _serial_forward([models.conv2d(K.shape[3], tuple(K.shape[:2])) for K in kernels],
                           [xp.asarray(K) for K in kernels], act, h[None], "image")[0]


def _serial_forward(weight_layers: list, weights: list, act: models.Layer, x: Any,
                    name: str) -> Any:
    """The network weight_layers[-1] ∘ act ∘ … ∘ act ∘ weight_layers[0] with those weights
    applied to the batch x (float64); overflow raises ValueError naming ``name``."""
    layers, params = [], {}
    for i, (layer, W) in enumerate(zip(weight_layers, weights, strict=True)):
        if i:
            layers.append(act)
        params[f"{len(layers)}/W"] = W
        layers.append(layer)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow raises below instead
            return models.serial(*layers).apply(params, x)
    except ValueError as exc:
        # names, shapes and finiteness of x and the weights are checked by the callers:
        # what is left is an output beyond float64
        raise _overflow_error(name) from exc


def _overflow_error(name: str) -> ValueError:
    return ValueError(f"{name}: the forward pass overflows float64 (inputs times weights "
                      f"beyond 1.8e308); rescale the input or the weights")


def _finite_output(h: Any, name: str) -> Any:
    """h, unless the forward pass left float64 (then inf − inf gives NaN): ValueError."""
    if not bool(get_xp(h).all(get_xp(h).isfinite(h))):
        raise _overflow_error(name)
    return h


def _layer_list(layers: Any, name: str, ndim: int) -> list:
    if not isinstance(layers, list | tuple) or not layers:
        raise TypeError(f"{name}: expected a non-empty list of arrays, got "
                        f"{type(layers).__name__}")
    return [check_array(W, f"{name}[{i}]", ndim=ndim, dtype="float64")
            for i, W in enumerate(layers)]


def _check_chain(layers: list, name: str, width: int, what: str, axis_in: int,
                 axis_out: int) -> None:
    """Each layer's input size (``axis_in``) equals the previous output size (``axis_out``)."""
    for i, W in enumerate(layers):
        if W.shape[axis_in] != width:
            raise ValueError(f"{name}[{i}]: expected {width} {what}, got shape "
                             f"{tuple(W.shape)}")
        width = W.shape[axis_out]


def param_count(
    arch: str,
    depth: int,
    *,
    hidden: int | None = None,
    channels: int | None = None,
    kernel: int | tuple[int, int] | None = None,
    input_shape: tuple[int, int, int] = (28, 28, 1),
) -> int:
    """Number of weights (no biases) of IC's architectures, counted as Table 1 (App. M) does.

    ``arch="fcn"``: ``depth`` weight layers, hidden width ``hidden`` (default 2048, App. A),
    input and output size H·W·C; depth 1 is the single D×D layer.
    ``arch="cnn"``: ``depth`` convolution layers with a K×K ``kernel`` (default 5) and
    ``channels`` hidden channels (default 128), input and output channels C.
    """
    check_choice(arch, "arch", ("fcn", "cnn"))
    # exact integer arithmetic: any size, however large, has its count
    depth = _positive_int(depth, "depth", high=None)
    if not isinstance(input_shape, tuple | list) or len(input_shape) != 3:
        raise ValueError(f"input_shape: expected (H, W, C), got {input_shape!r}")
    H, W, C = (_positive_int(v, "input_shape", high=None) for v in input_shape)
    if arch == "fcn":
        D = H * W * C
        h = 2048 if hidden is None else _positive_int(hidden, "hidden", high=None)
        return D * D if depth == 1 else 2 * D * h + (depth - 2) * h * h
    kh, kw = (5, 5) if kernel is None else _kernel_pair(kernel, "kernel", high=None)
    c = 128 if channels is None else _positive_int(channels, "channels", high=None)
    taps = kh * kw
    return taps * C * C if depth == 1 else taps * (2 * C * c + (depth - 2) * c * c)


def _cnn_rows(kernel: int, channels: int, counts: dict[int, int]) -> list:
    return [("cnn", d, {"kernel": kernel, "channels": channels}, n) for d, n in counts.items()]


#: IC Table 1 (App. M), transcribed from the paper: (arch, depth, keyword arguments, count).
TABLE1_PARAM_COUNTS: list[tuple[str, int, dict, int]] = (
    [("fcn", d, {"hidden": 784}, n) for d, n in {
        1: 614_656, 2: 1_229_312, 4: 2_458_624, 6: 3_687_936, 8: 4_917_248,
        10: 6_146_560}.items()]
    + [("fcn", d, {"hidden": 2048}, n) for d, n in {
        2: 3_211_264, 4: 11_599_872, 6: 19_988_480, 8: 28_377_088, 10: 36_765_696}.items()]
    + _cnn_rows(5, 3, {
        1: 25, 3: 375, 5: 825, 6: 1_050, 7: 1_275, 8: 1_500, 9: 1_725, 10: 1_950,
        11: 2_175, 12: 2_400, 13: 2_625, 14: 2_850, 15: 3_075, 16: 3_300, 17: 3_525,
        19: 3_975, 20: 4_200, 24: 5_100})
    + _cnn_rows(5, 128, {
        1: 25, 3: 416_000, 5: 1_235_200, 6: 1_644_800, 7: 2_054_400, 8: 2_464_000,
        9: 2_873_600, 10: 3_283_200, 11: 3_692_800, 12: 4_102_400, 13: 4_512_000,
        14: 4_921_600, 15: 5_331_200, 16: 5_740_800, 17: 6_150_400, 19: 6_969_600,
        20: 7_379_200, 24: 9_017_600})
    + _cnn_rows(5, 1024, {
        5: 78_694_400, 7: 131_123_200, 12: 262_195_200, 14: 314_624_000, 20: 471_910_400})
    + _cnn_rows(7, 3, {
        1: 49, 3: 735, 5: 1_617, 6: 2_058, 7: 2_499, 8: 2_940, 9: 3_381, 10: 3_822,
        11: 4_263, 12: 4_704, 13: 5_145, 14: 5_586, 15: 6_027, 16: 6_468, 17: 6_909,
        19: 7_791, 20: 8_232, 24: 9_996})
    + _cnn_rows(7, 128, {
        1: 49, 3: 815_360, 5: 2_420_992, 6: 3_223_808, 7: 4_026_624, 8: 4_829_440,
        9: 5_632_256, 10: 6_435_072, 11: 7_237_888, 12: 8_040_704, 13: 8_843_520,
        14: 9_646_336, 15: 10_449_152, 16: 11_251_968, 17: 12_054_784, 19: 13_660_416,
        20: 14_463_232, 24: 17_674_496})
    + _cnn_rows(7, 1024, {
        5: 154_241_024, 7: 257_001_472, 12: 513_902_592, 14: 616_663_040, 20: 924_944_384})
    + [("cnn", 5, {"kernel": k, "channels": 128}, n) for k, n in {
        9: 4_002_048, 13: 8_349_952, 17: 14_278_912, 25: 30_880_000, 29: 41_552_128,
        57: 160_526_592}.items()]
)


def pearson_correlation(a: Any, b: Any) -> float:
    """Pearson correlation of two images, flattened (the "correlation" of IC Sec. 3.2).

    a, b: arrays of the same number of pixels, finite. Each image is first scaled exactly by
    a power of two to max|·| ∈ [½, 1), so tiny (1e-151, subnormal) or huge pixels lose no
    digits in the centring; only a truly constant image (every pixel equal) is undefined and
    raises ValueError."""
    xp = get_xp(a, b)
    a = xp.ravel(check_array(a, "a", xp=xp, dtype="float64"))
    b = xp.ravel(check_array(b, "b", xp=xp, dtype="float64"))
    if a.size != b.size:
        raise ValueError(f"b: expected {a.size} pixels to match a, got {b.size}")
    a, b = _centred_unit(a, "a"), _centred_unit(b, "b")
    return float(a @ b)


def _is_constant(v: Any) -> bool:
    return bool((v == v.ravel()[0]).all())


def _centred_unit(v: Any, name: str) -> Any:
    """(v − mean)/‖v − mean‖ for a non-constant flat image, after exact power-of-two scaling."""
    if _is_constant(v):
        raise ValueError(f"{name}: the correlation of a constant image is undefined")
    xp = get_xp(v)
    v = xp.ldexp(v, -binary_exponent(v))
    v = v - v.mean()
    return v / scaled_norm(v)


def rho_mixture(X: Any, rho: float, noise: Any) -> Any:
    """IC Sec. 3.2's steps (2)–(3) for given random pixels ``noise`` (shaped like X): the image
    (noise + αX)·‖X‖/‖noise + αX‖ with α chosen so its Pearson correlation to X is ``rho``.

    Writing noise_c = a·X̂ + R⊥ (X̂ the unit centred X), corr(noise + αX, X) = t/√(t² + ‖R⊥‖²)
    with t = a + α‖X_c‖, hence α = (ρ‖R⊥‖/√(1 − ρ²) − a)/‖X_c‖. ρ = 1 returns X (α → ∞).

    Raises ValueError for a constant X (correlation undefined), ρ ∉ [0, 1], or noise whose
    component outside span{1, X} is zero up to the rounding of computing it,
    (2N + 4)·u·‖R‖·(1 + ‖X‖/‖X_c‖) (no α reaches ρ < 1, and float64 cannot tell a smaller
    component from zero; the factor is the centring's loss of digits on a near-constant X).
    """
    xp = get_xp(X, noise)
    X0 = check_array(X, "X", xp=xp, dtype="float64")
    rho = check_scalar(rho, "rho", low=0.0, high=1.0)
    if _is_constant(X0):
        raise ValueError("X: a constant image has no defined correlation")
    if float(rho) == 1.0:
        return X0.copy()
    R = check_array(noise, "noise", xp=xp, dtype="float64")
    if R.shape != X0.shape:
        raise ValueError(f"noise: expected shape {tuple(X0.shape)}, got {tuple(R.shape)}")
    # the image is invariant under X → cX and noise → cR (c > 0): work with both scaled
    # exactly by powers of two, so subnormal or huge pixels lose no digits, and put X's
    # scale back at the end with ldexp (which saturates instead of forming inf·0)
    ex = binary_exponent(X0)
    X, R = xp.ldexp(X0, -ex), xp.ldexp(R, -binary_exponent(R))
    xc = X.ravel() - X.mean()
    nxc = scaled_norm(xc)
    rc = R.ravel() - R.mean()
    xhat = xc / nxc
    a = rc @ xhat
    perp = scaled_norm(rc - a * xhat)
    u = float(np.finfo(np.float64).eps) / 2
    # centring X loses digits in proportion to ‖X‖/‖X_c‖ (a near-constant image), and that
    # error enters R⊥ through X̂: the rounding level scales with it
    amplification = 1.0 + float(scaled_norm(X)) / float(nxc)
    if float(perp) <= (2 * X.size + 4) * u * float(scaled_norm(R)) * amplification:
        raise ValueError("noise: has no component outside span{1, X} (up to rounding); "
                         "no α gives ρ < 1")
    alpha = (rho * perp / np.sqrt(1.0 - rho * rho) - a) / nxc
    img = R + alpha * X
    return xp.ldexp(img * (scaled_norm(X) / scaled_norm(img)), ex)


def rho_image(X: Any, rho: float, *, seed: int | np.random.Generator) -> Any:
    """A test image with Pearson correlation ``rho`` ∈ [0, 1] to the training image ``X`` and
    norm ‖X‖ (IC Sec. 3.2): random pixels R ~ N(0, 1) drawn from ``seed``, then
    ``rho_mixture(X, rho, R)``. Shapes: X any shape, not constant; returns X's shape."""
    xp = get_xp(X)
    X = check_array(X, "X", xp=xp, dtype="float64")
    return rho_mixture(X, rho, default_rng(seed, xp).standard_normal(X.shape))


# ------------------------------------------------------------------ Theorem 2: one-layer CNN


def _kernel_pair(kernel_size: Any, name: str = "kernel_size",
                 high: int | None = sys.maxsize) -> tuple[int, int]:
    if isinstance(kernel_size, tuple | list):
        if len(kernel_size) != 2:
            raise ValueError(f"{name}: expected a size or a pair (K_H, K_W), got {kernel_size!r}")
        kh, kw = kernel_size
    else:
        kh = kw = kernel_size
    return _positive_int(kh, name, high=high), _positive_int(kw, name, high=high)


def _image(image: Any, name: str = "image") -> Any:
    return check_array(image, name, xp=get_xp(image), ndim=3, dtype="float64")


def identity_kernel(kernel_size: int | tuple[int, int], channels: int) -> np.ndarray:
    """Λ, the kernel (K_H, K_W, C, C) whose "same" convolution is the identity: the C×C
    identity at tap ((K_H−1)//2, (K_W−1)//2), the offset of the padding before each axis
    (the centre for odd sizes, as in App. B.3)."""
    kh, kw = _kernel_pair(kernel_size)
    channels = _positive_int(channels, "channels")
    with memory_for("channels", f"a {kh}×{kw}×{channels}×{channels} kernel"):
        L = np.zeros((kh, kw, channels, channels))
        L[(kh - 1) // 2, (kw - 1) // 2] = np.eye(channels)
    return L


def conv1_regression(image: Any, kernel_size: int | tuple[int, int]) -> tuple[Any, Any]:
    """The least-squares problem GD solves when the one-layer CNN learns to reproduce
    ``image`` (H, W, C): P (H·W, K_H·K_W·C), the "same"-padded patches, and Y (H·W, C), the
    pixels; the loss is ½‖P·vec(W) − Y‖² (IC App. D)."""
    img = _image(image)
    kh, kw = _kernel_pair(kernel_size)
    P = extract_patches(img, (kh, kw))
    return P, img.reshape(-1, img.shape[2])


@dataclass(frozen=True)
class Conv1Dims:
    """m = K_H·K_W·C² parameters, D = K_H·K_W·C patch length, r = numerical rank of the patch
    matrix, n = D − r its nullity (IC Thm 2), and N = H·W patches. ``source`` identifies the
    image and kernel size they were computed for (so that they are never used for others)."""

    m: int
    D: int
    r: int
    n: int
    N: int
    rank_threshold: float
    source: str = field(repr=False)


def _conv1_source(image: Any, kernel: tuple[int, int]) -> str:
    """A SHA-256 of the (checked, float64) image's shape and pixels and the kernel size."""
    digest = hashlib.sha256(repr((tuple(image.shape), kernel)).encode())
    digest.update(to_numpy(image).tobytes())
    return digest.hexdigest()


def conv1_dims(image: Any, kernel_size: int | tuple[int, int]) -> Conv1Dims:
    """m, D, r, n, N of IC Thm 2 for ``image`` (H, W, C); r uses ``numerical_rank``'s
    threshold max(N, D)·eps·σ_max on the patch matrix."""
    image = _image(image)
    kernel = _kernel_pair(kernel_size)
    P, _ = conv1_regression(image, kernel)
    info = numerical_rank(P)
    N, D = P.shape
    C = int(image.shape[2])
    return Conv1Dims(m=D * C, D=D, r=info.rank, n=D - info.rank, N=N,
                     rank_threshold=info.threshold, source=_conv1_source(image, kernel))


def conv1_rank(image: Any, kernel_size: int | tuple[int, int], *, pad: int = 0) -> int:
    """r of IC Thm 2 after zero-padding ``image`` by ``pad`` pixels on every boundary (the
    operation IC Sec. 3.2 discusses right after Thm 2)."""
    img = _image(image)
    pad = check_scalar(pad, "pad", integer=True, low=0, high=sys.maxsize)
    xp = get_xp(img)
    with memory_for("pad", "the padded image"):
        img = xp.pad(img, ((pad, pad), (pad, pad), (0, 0)))
    return conv1_dims(img, kernel_size).r


def _check_w0(W0: Any, image: Any) -> tuple[Any, Any, tuple[int, int]]:
    xp = get_xp(W0, image)
    W0 = check_array(W0, "W0", xp=xp, ndim=4, dtype="float64")
    img = check_array(image, "image", xp=xp, ndim=3, dtype="float64")
    C = img.shape[2]
    if W0.shape[2] != C or W0.shape[3] != C:
        raise ValueError(f"W0: expected shape (K_H, K_W, {C}, {C}) to match the image's "
                         f"{C} channels, got {tuple(W0.shape)}")
    return W0, img, (int(W0.shape[0]), int(W0.shape[1]))


def conv1_limit_weights(W0: Any, image: Any) -> Any:
    """The limit of GD on ½‖conv(image; W) − image‖² from W0 (IC Thm 2's setting):
    vec(W∞) = vec(W0) + P⁺(Y − P·vec(W0)), the rank-agnostic form of IC Lemmas 1–2.

    Shapes: W0 (K_H, K_W, C, C), image (H, W, C). Returns W∞ shaped like W0."""
    W0, img, kernel = _check_w0(W0, image)
    P, Y = conv1_regression(img, kernel)
    D, C = P.shape[1], img.shape[2]
    return gd_limit_least_squares(P, Y, W0.reshape(D, C)).reshape(W0.shape)


def conv1_predict(W0: Any, image: Any, x: Any) -> Any:
    """IC Thm 2: the GD limit of the one-layer CNN trained on ``image`` (H, W, C) from W0
    (K_H, K_W, C, C), applied to the test image ``x`` (H', W', C) or a batch (N, H', W', C).
    The layer is y[i, j, o] = Σ_{a,b,c} W[a, b, c, o] · x_pad[i + a, j + b, c]."""
    W = conv1_limit_weights(W0, image)
    xp = get_xp(W, x)
    x = check_array(x, "x", xp=xp, ndim=(3, 4), dtype="float64")
    if x.shape[-1] != W.shape[2]:
        raise ValueError(f"x: expected {W.shape[2]} channels, got shape {tuple(x.shape)}")
    return conv2d(x, W)


def chi2_union_m(n: int, channels: int, delta: float) -> float:
    """The smallest M > 1 with ζ = 2 log(n/δ)/C + 1 + log M ≤ M, i.e. the root of
    M − log M = 1 + 2 log(n/δ)/C (M − log M increases on M > 1), nudged up by ulps until
    ζ ≤ M holds in floating point. ``conv1_mse_bound`` increases with M, so this M makes it
    smallest."""
    n = _positive_int(n, "n", high=None)  # only its logarithm is used: any size works
    channels = _positive_int(channels, "channels", high=None)
    delta = check_scalar(delta, "delta", low=0.0, high=1.0, low_open=True, high_open=True)
    log_ratio = math.log(n) - math.log(delta)  # n/δ itself may exceed float64
    k = 1.0 + 2.0 * log_ratio / channels
    f = lambda M: M - math.log(M) - k  # noqa: E731
    M = k if f(k) >= 0 else brentq(f, k, 2 * k + 2, xtol=1e-300, rtol=4 * np.finfo(float).eps)
    while 2 * log_ratio / channels + 1 + math.log(M) > M:
        M = float(np.nextafter(M, np.inf))
    return M


def conv1_mse_bound(
    image: Any,
    kernel_size: int | tuple[int, int],
    *,
    sigma: float,
    delta: float,
    B: float,
    dims: Conv1Dims | None = None,
) -> float:
    """IC Thm 2, explicit form (docs: papers/ic.md): with probability ≥ 1 − δ over W0 ~ N(0, σ²)
    entries, the MSE over all H·W·C outputs on a test image with |pixel| ≤ B is at most

        n · K_H K_W · B² · (σ·sqrt(2 log(n/δ) + C(1 + log M)) + sqrt(C))²,

    n = K_H K_W C − r the nullity of the training image's patch matrix, at the smallest
    feasible M (``chi2_union_m``). n = 0 gives 0 (the identity is learned exactly).
    ``dims``, if given, is ``conv1_dims(image, kernel_size)`` already computed (it costs an
    SVD of the patch matrix).
    """
    sigma = check_scalar(sigma, "sigma", low=0.0, low_open=True)
    delta = check_scalar(delta, "delta", low=0.0, high=1.0, low_open=True, high_open=True)
    B = check_scalar(B, "B", low=0.0)
    image = _image(image)
    if dims is not None and not isinstance(dims, Conv1Dims):
        raise TypeError(f"dims: expected Conv1Dims from conv1_dims, got {type(dims).__name__}")
    kh, kw = _kernel_pair(kernel_size)
    if dims is None:
        dims = conv1_dims(image, (kh, kw))
    elif dims.source != _conv1_source(image, (kh, kw)):
        # another image's nullity would give a number that bounds nothing about this one
        raise ValueError("dims: computed for another image or kernel size; pass "
                         "conv1_dims(image, kernel_size) of this image, or leave dims out")
    if dims.n == 0:
        return 0.0
    C = int(image.shape[2])
    M = chi2_union_m(dims.n, C, delta)
    inner = 2 * (math.log(dims.n) - math.log(delta)) + C * (1 + math.log(M))
    # products, not **: a bound beyond float64 is inf (vacuous, still true), where float
    # ** raises OverflowError
    root = sigma * math.sqrt(inner) + math.sqrt(C)
    return dims.n * kh * kw * (B * B) * (root * root)


def thm2_proof_case(image: Any, kernel_size: int | tuple[int, int]) -> dict:
    """IC App. D's case split for Thm 2 on ``image``: |Ξ| = N patches against m = K_H K_W C·C
    — Lemma 1 when N ≤ m, else Lemma 2 — and whether the chosen lemma's own preconditions
    hold (Lemma 1: N ≤ D and rank N; Lemma 2: N > D and rank D; D = K_H K_W C)."""
    d = conv1_dims(image, kernel_size)
    lemma = "lemma1" if d.N <= d.m else "lemma2"
    holds = (d.N <= d.D and d.r == d.N) if lemma == "lemma1" else (d.N > d.D and d.r == d.D)
    return {"N": d.N, "D": d.D, "m": d.m, "r": d.r, "lemma": lemma,
            "preconditions_hold": bool(holds)}
