"""Sequential networks as functions over explicit parameter dicts, in the spirit of
neural-tangents' ``stax.serial``: ``serial(*layers)`` composes layers into a ``Model`` whose
``init`` draws a parameter dict and whose ``apply`` / ``loss_and_grad`` are pure functions of
(params, data). Nothing is stored in the model but its architecture.

    model = serial(conv2d(32, 5), relu(), conv2d(1, 5))          # IC's CNN, depth 2
    params = model.init((28, 28, 1), seed=0, dtype="float32")   # {"0/W": …, "2/W": …}
    out, acts = model.apply(params, x, return_activations=True)  # x (N, 28, 28, 1)
    loss, grads = model.loss_and_grad(params, x, x, loss="mse")

Parameters are named "<layer index>/<name>": "3/W" is the weight of layer 3 (dense W is
(out, in), applied as x Wᵀ; a convolution kernel is (K_H, K_W, C_in, C_out)), "3/b" a dense
bias, "3/W1", "3/W2" a residual block's weights. Inputs are batches (N, …); ``input_shape``
is the shape of one example. Arrays are NumPy or CuPy (the parameters' backend), float32 or
float64 (the parameters' dtype; inputs are cast to it, so a float32 network computes in
float32 throughout). Every layer's backward pass is the one in ``numerics.layers``,
gradient-checked by finite differences in the tests.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from overparam.numerics import layers as nl
from overparam.numerics.backend import default_rng, get_xp
from overparam.numerics.init import SCHEMES, initialize
from overparam.numerics.validation import check_array, check_choice, check_labels, check_scalar

__all__ = ["DTYPES", "INITS", "LOSSES", "Layer", "Model", "activation", "conv2d", "dense",
           "flatten", "identity", "relu", "residual", "serial", "sigmoid", "sin"]

#: Losses of ``Model.loss_and_grad``; their normalisations are stated there.
LOSSES = ("mse",) + nl.LOSSES
#: Initialisers of ``Model.init``: IC App. I's schemes (``numerics.init.SCHEMES``) and "em".
INITS = SCHEMES + ("em",)
DTYPES = ("float32", "float64")
_FLOAT_DTYPES = tuple(np.dtype(d) for d in DTYPES)

Params = dict[str, Any]
Shape = tuple[int, ...]


# --- layers --------------------------------------------------------------------------------
# Each layer maps the shape of one example to its output shape, names its parameters, and has
# forward(params, x, x_free, train, workspace) -> (y, cache, y_free) and backward(params, dy,
# cache, need_dx, workspace) -> (dx, grads). ``x_free``: x is a temporary no cache refers to,
# so the layer may overwrite it; ``y_free`` says the same of y. dy is always such a temporary.
# ``workspace``: a dict of scratch arrays kept between calls, shared by all layers.

class Layer:
    """Base of the layers ``serial`` composes (use the constructor functions below)."""

    kind = "layer"
    weights: tuple[str, ...] = ()  # initialised by the scheme; other parameters start at 0

    def output_shape(self, in_shape: Shape) -> Shape:
        """One example's output shape for one example's input shape."""
        return in_shape

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """{local name: shape} of this layer's parameters for that input shape."""
        return {}

    def forward(self, p: Params, x: Any, x_free: bool, train: bool,
                workspace: dict | None = None) -> tuple[Any, Any, bool]:
        """(y, cache or None unless ``train``, whether y is free), see the comment above."""
        raise NotImplementedError

    def backward(self, p: Params, dy: Any, cache: Any, need_dx: bool,
                 workspace: dict | None = None) -> tuple[Any, Params]:
        """(dL/dx or None unless ``need_dx``, {local name: dL/dparam}); may overwrite dy."""
        raise NotImplementedError


def _flat_input(kind: str, in_shape: Shape) -> int:
    if len(in_shape) != 1:
        raise ValueError(f"{kind}: expected a flat input (d,), got {in_shape}; "
                         f"put flatten() before it")
    return in_shape[0]


@dataclass(frozen=True)
class Dense(Layer):
    """y = x Wᵀ (+ b), W (width, d)."""

    width: int
    bias: bool = False
    kind = "dense"
    weights = ("W",)

    def output_shape(self, in_shape: Shape) -> Shape:
        _flat_input(self.kind, in_shape)
        return (self.width,)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        d = _flat_input(self.kind, in_shape)
        shapes = {"W": (self.width, d)}
        if self.bias:
            shapes["b"] = (self.width,)
        return shapes

    def forward(self, p, x, x_free, train, workspace=None):
        y, cache = nl.dense_forward(x, p["W"], p.get("b"))
        return y, cache, True

    def backward(self, p, dy, cache, need_dx, workspace=None):
        return nl.dense_backward(dy, cache, need_dx=need_dx)


@dataclass(frozen=True)
class Conv2D(Layer):
    """Stride-1 "same" convolution, no bias, kernel W (K_H, K_W, C_in, channels)."""

    channels: int
    kernel: tuple[int, int]
    kind = "conv2d"
    weights = ("W",)

    def _check(self, in_shape: Shape) -> None:
        if len(in_shape) != 3:
            raise ValueError(f"conv2d: expected an image input (H, W, C), got {in_shape}")

    def output_shape(self, in_shape: Shape) -> Shape:
        self._check(in_shape)
        return (in_shape[0], in_shape[1], self.channels)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        self._check(in_shape)
        return {"W": (*self.kernel, in_shape[2], self.channels)}

    def forward(self, p, x, x_free, train, workspace=None):
        y, cache = nl.conv2d_forward(x, p["W"], workspace=workspace)
        return y, (cache if train else None), True

    def backward(self, p, dy, cache, need_dx, workspace=None):
        dx, dW = nl.conv2d_backward(dy, cache, need_dx=need_dx, workspace=workspace)
        return dx, {"W": dW}


@dataclass(frozen=True)
class Activation(Layer):
    """An elementwise φ in ``layers.ACTIVATIONS``."""

    name: str
    kind = "activation"

    def forward(self, p, x, x_free, train, workspace=None):
        y, cache = nl.activation_forward(self.name, x, inplace=x_free, workspace=workspace)
        # ReLU's and sigmoid's caches hold y itself: nothing may overwrite it while training
        free = x_free if self.name == "identity" else (
            not train or self.name not in ("relu", "sigmoid"))
        return y, cache, free

    def backward(self, p, dy, cache, need_dx, workspace=None):
        return nl.activation_backward(dy, cache, inplace=True), {}


@dataclass(frozen=True)
class Flatten(Layer):
    """(N, …) → (N, prod(…))."""

    kind = "flatten"

    def output_shape(self, in_shape: Shape) -> Shape:
        return (math.prod(in_shape),)

    def forward(self, p, x, x_free, train, workspace=None):
        y, cache = nl.flatten_forward(x)
        return y, cache, x_free

    def backward(self, p, dy, cache, need_dx, workspace=None):
        return nl.flatten_backward(dy, cache), {}


@dataclass(frozen=True)
class Residual(Layer):
    """IC App. N's block x ↦ x + ReLU(W2 ReLU(W1 x)); W1 (hidden, d), W2 (d, hidden)."""

    hidden: int | None = None
    output_relu: bool = True
    kind = "residual"
    weights = ("W1", "W2")

    def output_shape(self, in_shape: Shape) -> Shape:
        _flat_input(self.kind, in_shape)
        return in_shape

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        d = _flat_input(self.kind, in_shape)
        h = d if self.hidden is None else self.hidden
        return {"W1": (h, d), "W2": (d, h)}

    def forward(self, p, x, x_free, train, workspace=None):
        y, cache = nl.residual_forward(x, p["W1"], p["W2"], output_relu=self.output_relu)
        return y, cache, True

    def backward(self, p, dy, cache, need_dx, workspace=None):
        return nl.residual_backward(dy, cache, need_dx=need_dx)


def _positive_int(value: Any, name: str) -> int:
    return int(check_scalar(value, name, integer=True, low=1))


def dense(width: int, *, bias: bool = False) -> Dense:
    """A fully connected layer y = x Wᵀ (+ b) with ``width`` outputs, on flat inputs (d,).
    IC's and EM's networks have no biases (the default); a bias starts at zero."""
    if not isinstance(bias, bool):
        raise TypeError(f"bias: expected a bool, got {type(bias).__name__}")
    return Dense(_positive_int(width, "width"), bias)


def conv2d(channels: int, kernel: int | tuple[int, int]) -> Conv2D:
    """A stride-1 convolution with "same" zero padding and no bias (IC Sec. 3.2's layers),
    ``channels`` output channels and a K×K (or K_H×K_W) ``kernel``, on images (H, W, C)."""
    ks = (kernel, kernel) if not isinstance(kernel, tuple | list) else tuple(kernel)
    if len(ks) != 2:
        raise ValueError(f"kernel: expected K or (K_H, K_W), got {kernel!r}")
    return Conv2D(_positive_int(channels, "channels"),
                  (_positive_int(ks[0], "kernel"), _positive_int(ks[1], "kernel")))


def activation(name: str) -> Activation:
    """The elementwise layer φ = ``name`` (relu, sin, sigmoid, identity; "linear" is identity).
    Unknown names raise ValueError."""
    return Activation(nl._activation_name(name))


def relu() -> Activation:
    """ReLU, max(x, 0) (derivative 0 at 0)."""
    return Activation("relu")


def sin() -> Activation:
    """sin x (EM's activation)."""
    return Activation("sin")


def sigmoid() -> Activation:
    """The logistic sigmoid 1/(1 + e^(−x))."""
    return Activation("sigmoid")


def identity() -> Activation:
    """φ(x) = x (a linear network's "activation")."""
    return Activation("identity")


def flatten() -> Flatten:
    """Flattens each example: (N, H, W, C) → (N, H·W·C)."""
    return Flatten()


def residual(hidden: int | None = None, *, output_relu: bool = True) -> Residual:
    """IC App. N's residual block x ↦ x + ReLU(W2 ReLU(W1 x)) on flat inputs (d,), hidden
    width ``hidden`` (default d, as App. N's 784). ``output_relu=False``: x + W2 ReLU(W1 x),
    App. N's output block ("no ReLU is applied at the output layer")."""
    if not isinstance(output_relu, bool):
        raise TypeError(f"output_relu: expected a bool, got {type(output_relu).__name__}")
    return Residual(None if hidden is None else _positive_int(hidden, "hidden"), output_relu)


# --- the model -----------------------------------------------------------------------------

def _shape(input_shape: Any) -> Shape:
    if isinstance(input_shape, int | np.integer):
        input_shape = (input_shape,)
    if not isinstance(input_shape, tuple | list) or not input_shape:
        raise TypeError(f"input_shape: expected a tuple of sizes (one example's shape), "
                        f"got {input_shape!r}")
    return tuple(_positive_int(s, "input_shape") for s in input_shape)


@dataclass(frozen=True)
class Model:
    """A sequential network (build it with ``serial``): its layers, and per thread a scratch
    space for the large temporaries of its convolutions (padded inputs and their unfolded
    rows, one set per distinct shape, at most ``layers.WORKSPACE_BYTES`` in all), kept
    between calls so that a training step does not fault in fresh memory pages (on the
    2-core development machine under load, the copies of the 5-layer CNN benchmark took
    3.3 ms per step in fresh memory, 1.0 ms in reused). Nothing a call returns or caches
    lives there; it is not pickled."""

    layers: tuple[Layer, ...]
    _scratch: threading.local = field(default_factory=threading.local, init=False,
                                      repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {"layers": self.layers}

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "layers", state["layers"])
        object.__setattr__(self, "_scratch", threading.local())

    def _workspace(self) -> dict:
        """This thread's scratch arrays (see the class docstring)."""
        ws = getattr(self._scratch, "ws", None)
        if ws is None:
            ws = self._scratch.ws = {}
        return ws

    def output_shape(self, input_shape: Shape) -> Shape:
        """The shape of one example's output for one example's ``input_shape``."""
        shape = _shape(input_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def param_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        """{"<layer>/<name>": shape} of every parameter, in layer order, for inputs of one
        example's shape ``input_shape`` (e.g. (784,) or (28, 28, 1))."""
        shapes, shape = {}, _shape(input_shape)
        for i, layer in enumerate(self.layers):
            shapes.update({f"{i}/{k}": s for k, s in layer.param_shapes(shape).items()})
            shape = layer.output_shape(shape)
        return shapes

    def param_count(self, input_shape: Shape) -> int:
        """The number of parameters (weights and biases) for inputs of ``input_shape``; IC
        Table 1 counts its bias-free networks so (``theory.identity_crisis.param_count``)."""
        return sum(math.prod(s) for s in self.param_shapes(input_shape).values())

    def init(self, input_shape: Shape, *, seed: Any, dtype: Any = "float64",
             init: str = "xavier-normal", sigma: float | None = None,
             normal_layer: int | None = None, backend: str | None = None) -> Params:
        """A parameter dict for inputs of one example's shape ``input_shape``.

        ``init``: one of IC App. I's schemes (``numerics.init.SCHEMES``: "ic-default",
        "xavier-normal", "xavier-uniform", "kaiming-normal", "kaiming-uniform", "orthogonal",
        and "normal", N(0, σ²) with ``sigma``) for every weight, or "em": EM's N(0, σ²) on the
        weights of layer ``normal_layer`` (default: the first layer with weights) and Glorot
        (Xavier) uniform on every other weight. Biases start at 0. Each weight draws from its
        own seed, taken in layer order from ``seed`` (an int or a Generator), as
        ``numerics.init.em_initialize`` does — "em" on an MLP gives its weights exactly.
        ``dtype``: "float32" or "float64"; ``backend``: "numpy" (default) or "cupy".
        Unknown names raise ValueError.
        """
        check_choice(init, "init", INITS)
        dtype = _dtype(dtype)
        xp = get_xp(backend=backend or "numpy")
        with_weights = [i for i, layer in enumerate(self.layers) if layer.weights]
        if init in ("em", "normal"):
            sigma = check_scalar(sigma, "sigma", low=0, low_open=True) if sigma is not None \
                else None
            if sigma is None:
                raise ValueError(f"sigma: init={init!r} needs sigma > 0, got None")
        if init == "em":
            if normal_layer is None:
                if not with_weights:
                    raise ValueError("init: 'em' needs a layer with weights")
                normal_layer = with_weights[0]
            if normal_layer not in with_weights:
                raise ValueError(f"normal_layer: expected one of the layers with weights "
                                 f"{with_weights}, got {normal_layer!r}")
        elif normal_layer is not None:
            raise ValueError("normal_layer: only init='em' takes it")
        rng = default_rng(seed)
        params, shape = {}, _shape(input_shape)
        for i, layer in enumerate(self.layers):
            for name, s in layer.param_shapes(shape).items():
                if name not in layer.weights:
                    params[f"{i}/{name}"] = xp.zeros(s, dtype=dtype)
                    continue
                scheme = init
                if init == "em":
                    scheme = "normal" if i == normal_layer else "xavier-uniform"
                W = initialize(s, scheme, seed=int(rng.integers(2**63 - 1)), sigma=sigma, xp=xp)
                params[f"{i}/{name}"] = W.astype(dtype)
            shape = layer.output_shape(shape)
        return params

    # -- running it --

    def _prepare(self, params: Mapping[str, Any], x: Any):
        """(xp, dtype, x cast to it, [per-layer params]) after checking params against x."""
        if not isinstance(params, Mapping):
            raise TypeError(f"params: expected a dict of arrays, got {type(params).__name__}")
        if not params:
            xp = get_xp(x)
            x = check_array(x, "x", ndim=tuple(range(2, 6)))
            dtype = x.dtype
        else:
            first = next(iter(params.values()))
            xp = get_xp(first)
            dtype = getattr(first, "dtype", None)
            if not isinstance(dtype, np.dtype) or dtype not in _FLOAT_DTYPES:
                raise TypeError(f"params: expected float32 or float64 arrays, got "
                                f"{type(first).__name__} of dtype {dtype}")
            x = check_array(xp.asarray(x), "x")
            x = x.astype(dtype, copy=False)
        if x.ndim < 2:
            raise ValueError(f"x: expected a batch (N, …) of examples, got shape {x.shape}")
        expected = self.param_shapes(tuple(x.shape[1:]))
        missing = [k for k in expected if k not in params]
        extra = [k for k in params if k not in expected]
        if missing or extra:
            raise ValueError(f"params: expected keys {list(expected)}, missing {missing}, "
                             f"unexpected {extra}")
        per_layer: list[Params] = [{} for _ in self.layers]
        for key, s in expected.items():
            v = params[key]
            if not hasattr(v, "dtype") or v.dtype != dtype or get_xp(v) is not xp:
                raise TypeError(f"params: expected {key!r} as a {dtype} array like the other "
                                f"parameters, got {type(v).__name__} of dtype "
                                f"{getattr(v, 'dtype', None)}")
            if tuple(v.shape) != s:
                raise ValueError(f"params: expected {key!r} of shape {s} for inputs of shape "
                                 f"{tuple(x.shape[1:])}, got {tuple(v.shape)}")
            i, name = key.split("/", 1)
            per_layer[int(i)][name] = v
        return xp, dtype, x, per_layer

    def apply(self, params: Mapping[str, Any], x: Any, *,
              return_activations: bool = False) -> Any:
        """The network's output for a batch x (N, …) — or, with ``return_activations``,
        (output, [the output of each layer]) (what layer probes and representation alignment
        read: the list has one entry per layer, the last is the output). Raises ValueError
        when params do not fit x (names, shapes), when x holds NaN/inf, or when the output is
        not finite (params or x so large that the network leaves the dtype's range: never a
        silent NaN); TypeError for mixed or non-float parameter dtypes."""
        xp, dtype, h, per_layer = self._prepare(params, x)
        acts, free = [], False
        ws = self._workspace()
        for layer, p in zip(self.layers, per_layer, strict=True):
            h, _, free = layer.forward(p, h, free and not return_activations, False, ws)
            acts.append(h)
        if not bool(xp.all(xp.isfinite(h))):
            raise ValueError(f"params: expected a finite output, got overflow: weights and x "
                             f"take the network beyond {dtype}'s range")
        return (h, acts) if return_activations else h

    def loss_and_grad(self, params: Mapping[str, Any], x: Any, y: Any, *, loss: str,
                      margin: float = 1.0) -> tuple[float, Params]:
        """(L, {name: dL/dparam}) on the batch (x, y), N examples, output f (N, m):

        - "mse": L = (1/(N m)) Σ (f − y)², the mean over all N·m entries (IC's training
          loss; ½‖·‖² would be L·N m/2). y: targets shaped like f.
        - "softmax_ce": L = (1/N) Σ_n −log softmax(f_n)[y_n]; y integer labels (N,).
        - "hinge": L = (1/N) Σ_n Σ_{j≠y_n} max(0, margin + f_nj − f_n,y_n) (EM eq. 8).
        - "squared": L = (1/N) Σ_n ½‖f_n − e_{y_n}‖² (EM Sec. 4's squared loss).

        The classification losses need f (N, k) and labels in [0, k). A step size stated for
        another normalisation converts by the ratio: GD on ½‖f − y‖² with step η is GD on
        "mse" with step η·N m/2. Returns the loss as a float (not finite only when params
        are out of range — the trainer's divergence test) and gradients in params' dtype.
        """
        check_choice(loss, "loss", LOSSES)
        xp, dtype, h, per_layer = self._prepare(params, x)
        n = h.shape[0]
        caches, free = [], False
        ws = self._workspace()
        for layer, p in zip(self.layers, per_layer, strict=True):
            h, cache, free = layer.forward(p, h, free, True, ws)
            caches.append(cache)
        if loss == "mse":
            target = check_array(xp.asarray(y), "y", shape=tuple(h.shape)).astype(
                dtype, copy=False)
            value, dh = nl.mse_loss(h, target)
        else:
            if h.ndim != 2:
                raise ValueError(f"loss: {loss!r} needs outputs (N, k), got shape {h.shape}")
            labels = check_labels(xp.asarray(y), "y", n=n, n_classes=h.shape[1])
            margin = check_scalar(margin, "margin")
            value, dh = nl.classification_loss(loss, h, labels, margin=margin)
        grads: Params = {}
        first = next((i for i, p in enumerate(per_layer) if p), len(self.layers))
        for i in range(len(self.layers) - 1, first - 1, -1):
            dh, g = self.layers[i].backward(per_layer[i], dh, caches[i], i > first, ws)
            grads.update({f"{i}/{k}": v for k, v in g.items()})
        return value, {k: grads[k] for k in params}


def _dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype: expected 'float32' or 'float64', got {dtype!r}") from exc
    check_choice(dt.name, "dtype", DTYPES)
    return dt


def serial(*layers: Layer) -> Model:
    """The composition layers[-1] ∘ … ∘ layers[0] as a ``Model`` (stax.serial's idea). Each
    argument is a layer from this module (dense, conv2d, relu, sin, sigmoid, identity,
    activation, flatten, residual)."""
    if not layers:
        raise ValueError("layers: expected at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"layers: expected layers from overparam.numerics.models, got "
                            f"{type(layer).__name__} at position {i}")
    return Model(tuple(layers))
