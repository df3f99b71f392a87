"""overparam.numerics.models: gradients against central differences (every layer, random
compositions, every loss, float32 and float64), a hand-derived exact case (IC Thm 1), IC
Table 1's parameter counts, initialisers, and input checks.

How the finite-difference tolerance is derived (``fd_tolerance``). The reference is always a
float64 central difference D(h) = (f(θ + h) − f(θ − h)) / (θ₊ − θ₋) of an independent float64
loss (written out here with NumPy/SciPy, not the package's) on the same parameters, so a
float32 model is judged against float64 arithmetic on the very numbers it holds. Its error is

- truncation h²|f'''|/6, estimated by Richardson from the step-2h difference:
  |D(2h) − D(h)|/3 (doubled for the O(h⁴) remainder);
- rounding 2δf/(θ₊ − θ₋), δf the float64 error bound of one loss evaluation;

and the model's own gradient is off by its rounding, u_dtype times a bound propagated through
the layers. Both rounding bounds come from |fl(Σ aᵢbᵢ) − Σ aᵢbᵢ| ≤ γₙ Σ|aᵢbᵢ|, γₙ ≈ nu, with
every magnitude bounded by max-abs recurrences over the layers (``_bounds``). A stencil that
crosses a ReLU or hinge kink (the function is not differentiable there) is not a test case.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.signal import correlate
from scipy.special import logsumexp

from overparam.numerics import init as ninit
from overparam.numerics import mlp, models
from overparam.numerics.convergence import least_squares_rounding_bound, quadratic_error_factors
from overparam.numerics.optimizers import GradientDescent
from overparam.numerics.schedules import Constant
from overparam.numerics.trainer import train
from overparam.theory import identity_crisis as ic

U = {"float32": 2.0**-24, "float64": 2.0**-53}
H = 2.0**-17  # central-difference step, ≈ (u₆₄)^(1/3) balances h² against u/h
MARGIN = 1.0


# --- an independent float64 reference -----------------------------------------------------

def reference_loss(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    """The losses as models.loss_and_grad's docstring states them, written out in float64."""
    n = out.shape[0]
    if loss == "mse":
        return float(np.mean((out - y) ** 2))
    rows = np.arange(n)
    if loss == "softmax_ce":
        return float(np.mean(logsumexp(out, axis=1) - out[rows, y]))
    if loss == "hinge":
        m = MARGIN + out - out[rows, y][:, None]
        m[rows, y] = 0.0
        return float(np.mean(np.maximum(m, 0).sum(axis=1)))
    target = np.zeros_like(out)
    target[rows, y] = 1.0
    return float(np.mean(0.5 * ((out - target) ** 2).sum(axis=1)))


def kink_signature(model, params, x, y, loss) -> tuple:
    """Which side of every kink the point is on: the sign of each ReLU's input (those inside
    residual blocks included) and the hinge's active margins."""
    _, acts = model.apply(params, x, return_activations=True)
    inputs = [x] + acts[:-1]
    sig = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, models.Activation) and layer.name == "relu":
            sig.append(inputs[i] > 0)
        if isinstance(layer, models.Residual):
            h1 = inputs[i] @ params[f"{i}/W1"].T
            sig.append(h1 > 0)
            if layer.output_relu:
                sig.append(np.maximum(h1, 0) @ params[f"{i}/W2"].T > 0)
    if loss == "hinge":
        out = acts[-1]
        sig.append(MARGIN + out - out[np.arange(len(y)), y][:, None] > 0)
    return tuple(s.tobytes() for s in sig)


def _bounds(model, params, x, y, loss) -> tuple[float, dict[str, float]]:
    """(δf/u: the rounding bound of one loss evaluation in units of u, {name: the rounding
    bound of that parameter's gradient entries in units of u}), from max-abs recurrences:
    a bounds |activations|, e their error/u; b bounds |dL/d activation|, eb its error/u."""
    n = x.shape[0]
    a, e = float(np.abs(x).max()), 0.0
    fwd = []  # (a, e) at each layer's input
    for i, layer in enumerate(model.layers):
        fwd.append((a, e))
        if isinstance(layer, models.Dense):
            W = np.abs(params[f"{i}/W"])
            k, w = W.shape[1], W.max()
            a = k * w * a + (np.abs(params[f"{i}/b"]).max() if layer.bias else 0.0)
            e = k * w * e + (k + 2) * a
        elif isinstance(layer, models.Conv2D):
            W = np.abs(params[f"{i}/W"])
            k, w = math.prod(W.shape[:3]), W.max()
            a, e = k * w * a, k * w * e + (k + 2) * k * w * a
        elif isinstance(layer, models.Residual):
            w1, w2 = np.abs(params[f"{i}/W1"]), np.abs(params[f"{i}/W2"])
            d, h = w1.shape[1], w1.shape[0]
            t1, e1 = d * w1.max() * a, d * w1.max() * e + (d + 2) * d * w1.max() * a
            t2, e2 = h * w2.max() * t1, h * w2.max() * e1 + (h + 2) * h * w2.max() * t1
            a, e = a + t2, e + e2 + a + t2
        elif isinstance(layer, models.Activation):
            # 1-Lipschitz; sin, exp, 1/x in libm are within 1 ulp = 2u each
            a, e = {"relu": (a, e), "identity": (a, e), "sin": (min(a, 1.0), e + 2),
                    "sigmoid": (1.0, e + 8)}[layer.name]
    out = model.apply(params, x)
    k = out.shape[1] if out.ndim == 2 else 1
    if loss == "mse":
        rho = float(np.abs(out - y).max())
        M = out.size
        df = 2 * rho * (e + a + np.abs(y).max() + 1) + (M + 3) * rho**2
        b, eb = 2 * rho / M, (2 * (e + a + np.abs(y).max() + 1) + 4 * rho) / M
    elif loss == "softmax_ce":
        df = 2 * e + (k + n + 8) * (2 * a + math.log(k) + 2)
        b, eb = 1.0 / n, (2 * e + k + 8) / n
    elif loss == "hinge":
        df = 2 * (k - 1) * e + (k + n + 3) * k * (MARGIN + 2 * a + 1)
        b, eb = (k - 1) / n, (k + 4) / n
    else:
        df = k * (a + 1) * e + (k + n + 3) * k * (a + 1) ** 2
        b, eb = (a + 1) / n, (e + a + 4) / n
    grads = {}
    for i in range(len(model.layers) - 1, -1, -1):
        layer, (a_in, e_in) = model.layers[i], fwd[i]
        if isinstance(layer, models.Dense):
            W = np.abs(params[f"{i}/W"])
            g = n * b * a_in
            grads[f"{i}/W"] = (n + 1) * g + n * (eb * a_in + b * e_in)
            if layer.bias:
                grads[f"{i}/b"] = (n + 1) * n * b + n * eb
            b, eb = W.shape[0] * W.max() * b, W.shape[0] * W.max() * eb + (W.shape[0] + 1) * \
                W.shape[0] * W.max() * b
        elif isinstance(layer, models.Conv2D):
            W = np.abs(params[f"{i}/W"])
            pos = n * x.shape[1] * x.shape[2]
            grads[f"{i}/W"] = (pos + 1) * pos * b * a_in + pos * (eb * a_in + b * e_in)
            k = W.shape[0] * W.shape[1] * W.shape[3]
            b, eb = k * W.max() * b, k * W.max() * eb + (k + 1) * k * W.max() * b
        elif isinstance(layer, models.Residual):
            w1, w2 = np.abs(params[f"{i}/W1"]), np.abs(params[f"{i}/W2"])
            d, h = w1.shape[1], w1.shape[0]
            t1 = d * w1.max() * a_in
            e1 = d * w1.max() * e_in + (d + 2) * t1
            grads[f"{i}/W2"] = (n + 1) * n * b * t1 + n * (eb * t1 + b * e1)
            b1, eb1 = d * w2.max() * b, d * w2.max() * eb + (d + 1) * d * w2.max() * b
            grads[f"{i}/W1"] = (n + 1) * n * b1 * a_in + n * (eb1 * a_in + b1 * e_in)
            b, eb = b + h * w1.max() * b1, eb + h * w1.max() * eb1 + (h + 2) * (
                b + h * w1.max() * b1)
        elif isinstance(layer, models.Activation) and layer.name in ("sin", "sigmoid"):
            eb = eb + b * (e_in + 8)
    return df, grads


def fd_tolerance(f, theta: np.ndarray, idx: tuple, df: float) -> tuple[float, float]:
    """(D(h), its error bound) for the float64 function f of the array theta at idx."""
    def shifted(step):
        t = theta.copy()
        t[idx] += step
        return f(t), t[idx]
    (fp, tp), (fm, tm) = shifted(H), shifted(-H)
    (fp2, tp2), (fm2, tm2) = shifted(2 * H), shifted(-2 * H)
    d1, d2 = (fp - fm) / (tp - tm), (fp2 - fm2) / (tp2 - tm2)
    return d1, 2 * abs(d2 - d1) / 3 + 2 * df * U["float64"] / (tp - tm)


def check_gradients(model, input_shape, dtype, loss, seed, n, per_param=2):
    rng = np.random.default_rng(seed)
    params = model.init(input_shape, seed=seed, dtype=dtype, init="normal", sigma=0.7)
    for k, v in params.items():  # biases start at 0: give them values to test
        if k.endswith("/b"):
            v[...] = rng.normal(size=v.shape).astype(dtype)
    x = rng.normal(size=(n, *input_shape)).astype(dtype)
    out_shape = model.output_shape(input_shape)
    y = (rng.normal(size=(n, *out_shape)) if loss == "mse"
         else rng.integers(0, out_shape[0], size=n))
    value, grads = model.loss_and_grad(params, x, y, loss=loss)
    assert set(grads) == set(params)
    assert all(grads[k].dtype == np.dtype(dtype) and grads[k].shape == params[k].shape
               for k in grads)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    x64 = x.astype(np.float64)
    sig = kink_signature(model, p64, x64, y, loss)
    df, gbound = _bounds(model, p64, x64, y, loss)
    if dtype == "float32":  # the model's own kinks must fall as float64's do
        assume(kink_signature(model, params, x, y, loss) == sig)
    ref = reference_loss(model.apply(p64, x64), y, loss)
    assert abs(value - ref) <= df * U[dtype] + df * U["float64"]
    for name in params:
        for _ in range(per_param):
            idx = tuple(int(rng.integers(0, s)) for s in params[name].shape)

            def f(t, name=name):
                q = dict(p64)
                q[name] = t
                assume(kink_signature(model, q, x64, y, loss) == sig)
                return reference_loss(model.apply(q, x64), y, loss)
            fd, err = fd_tolerance(f, p64[name], idx, df)
            tol = err + gbound[name] * U[dtype]
            assert abs(float(grads[name][idx]) - fd) <= tol, (name, idx, fd, grads[name][idx],
                                                              tol)


# --- every layer, alone ------------------------------------------------------------------

LAYER_CASES = {
    "dense": lambda r: (models.serial(models.dense(r[1])), (r[0],)),
    "dense+bias": lambda r: (models.serial(models.dense(r[1], bias=True)), (r[0],)),
    "conv2d": lambda r: (models.serial(models.conv2d(r[2], (r[3], r[4]))), (r[0], r[1], r[2])),
    "relu": lambda r: (models.serial(models.dense(r[1]), models.relu()), (r[0],)),
    "sin": lambda r: (models.serial(models.dense(r[1]), models.sin()), (r[0],)),
    "sigmoid": lambda r: (models.serial(models.dense(r[1]), models.sigmoid()), (r[0],)),
    "identity": lambda r: (models.serial(models.dense(r[1]), models.identity()), (r[0],)),
    "flatten": lambda r: (models.serial(models.conv2d(2, r[3]), models.flatten()),
                          (r[0], r[1], r[2])),
    "residual": lambda r: (models.serial(models.residual(r[1])), (r[0],)),
    "residual, linear output": lambda r: (
        models.serial(models.residual(r[1], output_relu=False)), (r[0],)),
}
sizes = st.tuples(*[st.integers(1, 4)] * 5)


@pytest.mark.parametrize("case", list(LAYER_CASES))
@settings(max_examples=25, deadline=None)
@given(r=sizes, n=st.integers(1, 3), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 2**31))
def test_every_layer_matches_central_differences(case, r, n, dtype, seed):
    model, shape = LAYER_CASES[case](r)
    check_gradients(model, shape, dtype, "mse", seed, n)


# --- random compositions, every loss ---------------------------------------------------------

ACTS = st.sampled_from([models.relu, models.sin, models.sigmoid, models.identity])


@st.composite
def networks(draw):
    """A random network: optionally convolutions on an image, then flatten, then dense or
    residual layers, each followed by an activation, and a dense output of k classes."""
    layers = []
    if draw(st.booleans()):
        shape = (draw(st.integers(2, 4)), draw(st.integers(2, 4)), draw(st.integers(1, 2)))
        for _ in range(draw(st.integers(1, 2))):
            layers += [models.conv2d(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                       draw(ACTS)()]
        layers.append(models.flatten())
    else:
        shape = (draw(st.integers(1, 5)),)
    for _ in range(draw(st.integers(0, 2))):
        layers.append(draw(st.sampled_from([
            models.dense(draw(st.integers(1, 5)), bias=draw(st.booleans())),
            models.residual(draw(st.integers(1, 4)), output_relu=draw(st.booleans()))])))
        layers.append(draw(ACTS)())
    layers.append(models.dense(draw(st.integers(2, 4)), bias=draw(st.booleans())))
    return models.serial(*layers), shape


@settings(max_examples=100, deadline=None)
@given(net=networks(), loss=st.sampled_from(models.LOSSES), n=st.integers(1, 3),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**31))
def test_compositions_match_central_differences(net, loss, n, dtype, seed):
    model, shape = net
    check_gradients(model, shape, dtype, loss, seed, n)


# --- forward passes against independent computations ---------------------------------------

@settings(max_examples=30, deadline=None)
@given(st.tuples(*[st.integers(1, 5)] * 2), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31))
def test_conv_layer_matches_scipy_correlate(hw, cin, cout, kh, kw, seed):
    rng = np.random.default_rng(seed)
    model = models.serial(models.conv2d(cout, (kh, kw)))
    params = model.init((*hw, cin), seed=seed)
    x = rng.normal(size=(2, *hw, cin))
    top, left = (kh - 1) // 2, (kw - 1) // 2  # "same": the extra row/column after
    xp = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    W = params["0/W"]
    want = np.stack([np.stack([correlate(xp[i], W[:, :, :, o], mode="valid")[:, :, 0]
                               for o in range(cout)], axis=-1) for i in range(2)])
    # both sum kh·kw·cin products: each within γ_k·Σ|products| of the exact value
    magnitude = max(correlate(np.abs(xp[i]), np.abs(W[:, :, :, o]), mode="valid").max()
                    for i in range(2) for o in range(cout))
    bound = 2 * (kh * kw * cin + 2) * U["float64"] * magnitude
    np.testing.assert_allclose(model.apply(params, x), want, rtol=0, atol=bound)


def test_apply_returns_every_layer_output_unchanged_by_later_layers():
    rng = np.random.default_rng(0)
    model = models.serial(models.dense(6), models.relu(), models.dense(5), models.sigmoid(),
                          models.dense(3))
    params = model.init((4,), seed=1)
    x = rng.normal(size=(7, 4))
    out, acts = model.apply(params, x, return_activations=True)
    h0 = x @ params["0/W"].T
    h2 = np.maximum(h0, 0) @ params["2/W"].T
    by_hand = [h0, np.maximum(h0, 0), h2, 1 / (1 + np.exp(-h2)),
               1 / (1 + np.exp(-h2)) @ params["4/W"].T]
    assert len(acts) == 5 and out is acts[-1]
    # per dense layer of fan-in k: fresh rounding (k + 2)u·max(|a||W|ᵀ) plus the incoming
    # error times k·max|W|; ReLU is exact, the sigmoid 1/4-Lipschitz plus 3 roundings
    err, a = 0.0, np.abs(x)
    for i, (got, want) in enumerate(zip(acts, by_hand, strict=True)):
        if i % 2 == 0:
            W = np.abs(params[f"{i}/W"])
            err = W.shape[1] * W.max() * err + (W.shape[1] + 2) * U["float64"] * (a @ W.T).max()
            a = a @ W.T
        elif i == 3:
            err, a = err + 6 * U["float64"], np.ones_like(a)
        np.testing.assert_allclose(got, want, rtol=0, atol=2 * err)
    assert np.array_equal(model.apply(params, x), out)


def test_mlp_forward_is_the_model_and_refuses_unknown_activations():
    rng = np.random.default_rng(2)
    X, W1, W2 = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.normal(size=(2, 4))
    H_, R, Z = mlp.forward(X, W1, W2, "sin")
    assert np.array_equal(H_, X @ W1.T) and np.array_equal(R, np.sin(X @ W1.T))
    assert np.array_equal(Z, np.sin(X @ W1.T) @ W2.T)
    with pytest.raises(ValueError, match="activation"):
        mlp.forward(X, W1, W2, "tanh")


# --- the hand-derived exact case: IC Thm 1 --------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(st.integers(2, 12), st.integers(0, 2**31))
def test_one_layer_linear_gd_limit_is_ic_thm1(d, seed):
    """GD on the MSE of a bias-free d×d linear layer trained on one example X reaches
    W∞ = W0 + (X − W0X)Xᵀ/‖X‖² (IC Thm 1), so its predictions are fcn1_predict's.

    L = (1/d)‖W X − X‖² has gradient (2/d)(WX − X)Xᵀ: GD with step η is GD on ½‖WX − X‖²
    with step η' = 2η/d, whose error W − W∞ = q^t (W0 − W∞), q = 1 − η'‖X‖² (exactly: the
    error is rank one along Xᵀ). With η' = 1/(2‖X‖²) (q = ½), after T steps the prediction
    gap is q^T‖W0 − W∞‖₂‖x‖ plus the rounding of T steps (convergence's bound, doubled: our
    gradient rounds once more, scaling by 2/d) and of fcn1_predict itself."""
    rng = np.random.default_rng(seed)
    X, W0, tests = rng.normal(size=d), rng.normal(size=(d, d)) / d, rng.normal(size=(4, d))
    model = models.serial(models.dense(d))
    eta_half = 1.0 / (2 * X @ X)
    T = 80
    res = train({"0/W": W0.copy()}, lambda p: model.loss_and_grad(p, X[None], X[None],
                                                                  loss="mse"),
                GradientDescent(), Constant(eta_half * d / 2), max_steps=T)
    q = float(quadratic_error_factors(np.array([X @ X]), [eta_half] * res.steps)[0])
    assert q <= 0.5**res.steps * (1 + 1e-12) and (res.steps == T or res.converged)
    gap0 = np.linalg.norm(W0 - ic.fcn1_limit_weights(W0, X), 2)
    rounding = 2 * least_squares_rounding_bound(
        steps=T, n=1, d=d, x_norm=np.linalg.norm(X), y_norm=np.linalg.norm(X),
        max_lr=eta_half, max_param_norm=res.max_param_norm,
        max_update_norm=res.max_update_norm)
    for x in tests:
        predict_rounding = 4 * (d + 2) * U["float64"] * (
            np.abs(W0).sum(axis=1).max() + 1) * np.abs(x).sum() * 2
        bound = (q * gap0 + rounding) * np.linalg.norm(x) + predict_rounding
        gap = np.abs(model.apply(res.params, x[None])[0] - ic.fcn1_predict(W0, X, x)).max()
        assert gap <= bound, (gap, bound)


# --- parameter counts: IC Table 1 ------------------------------------------------------------

def ic_network(arch: str, depth: int, kw: dict) -> models.Model:
    """IC's networks for 28×28×1 inputs: ReLU FCNs (hidden width kw["hidden"]) and ReLU CNNs
    (kw["channels"] channels, kw["kernel"]² kernels, one output channel), no biases."""
    if arch == "fcn":
        widths = [kw["hidden"]] * (depth - 1) + [784]
        layers = [models.flatten()]
    else:
        widths = [kw["channels"]] * (depth - 1) + [1]
        layers = []
    for i, w in enumerate(widths):
        layers.append(models.dense(w) if arch == "fcn" else models.conv2d(w, kw["kernel"]))
        if i < depth - 1:
            layers.append(models.relu())
    return models.serial(*layers)


@pytest.mark.parametrize("row", ic.TABLE1_PARAM_COUNTS,
                         ids=[f"{a}-{d}-{'-'.join(map(str, k.values()))}"
                              for a, d, k, _ in ic.TABLE1_PARAM_COUNTS])
def test_param_count_is_ic_table1(row):
    arch, depth, kw, count = row
    model = ic_network(arch, depth, kw)
    assert model.param_count((28, 28, 1)) == count == ic.param_count(arch, depth, **kw)


def test_param_count_equals_the_arrays_init_draws():
    model = models.serial(models.conv2d(3, (3, 2)), models.relu(), models.flatten(),
                          models.dense(5, bias=True), models.residual(7), models.dense(2))
    params = model.init((4, 5, 2), seed=0, dtype="float32")
    assert model.param_count((4, 5, 2)) == sum(v.size for v in params.values())
    assert list(params) == ["0/W", "3/W", "3/b", "4/W1", "4/W2", "5/W"]
    assert all(v.dtype == np.float32 for v in params.values())


# --- initialisers ---------------------------------------------------------------------------

def test_em_init_is_em_initialize_and_schemes_are_by_name():
    model = models.serial(models.dense(30), models.sin(), models.dense(4))
    params = model.init((12,), seed=5, init="em", sigma=3.0)
    W1, W2 = ninit.em_initialize([(30, 12), (4, 30)], sigma=3.0, layer=0, seed=5)
    assert np.array_equal(params["0/W"], W1) and np.array_equal(params["2/W"], W2)
    on_last = model.init((12,), seed=5, init="em", sigma=3.0, normal_layer=2)
    W1, W2 = ninit.em_initialize([(30, 12), (4, 30)], sigma=3.0, layer=1, seed=5)
    assert np.array_equal(on_last["0/W"], W1) and np.array_equal(on_last["2/W"], W2)
    for scheme in ninit.SCHEMES:
        p = model.init((12,), seed=1, init=scheme, sigma=0.5)
        rng = np.random.default_rng(1)
        first = ninit.initialize((30, 12), scheme, seed=int(rng.integers(2**63 - 1)),
                                 sigma=0.5)
        assert np.array_equal(p["0/W"], first)
    assert np.array_equal(model.init((12,), seed=9)["0/W"], model.init((12,), seed=9)["0/W"])


# --- input checks ---------------------------------------------------------------------------

@pytest.mark.parametrize("build, match", [
    (lambda: models.activation("tanh"), "activation"),
    (lambda: models.dense(0), "width"),
    (lambda: models.dense(3.5), "width"),
    (lambda: models.conv2d(2, (3, 3, 3)), "kernel"),
    (lambda: models.serial(), "layers"),
    (lambda: models.serial(models.dense(2), "relu"), "layers"),
    (lambda: models.serial(models.dense(2)).init((3,), seed=0, init="glorot"), "init"),
    (lambda: models.serial(models.dense(2)).init((3,), seed=0, dtype="float16"), "dtype"),
    (lambda: models.serial(models.dense(2)).init((3,), seed=0, init="em"), "sigma"),
    (lambda: models.serial(models.dense(2)).init((3,), seed=None), "seed"),
    (lambda: models.serial(models.dense(2)).init((28, 28, 1), seed=0), "flatten"),
    (lambda: models.serial(models.conv2d(2, 3)).init((28, 28), seed=0), "conv2d"),
])
def test_bad_arguments_raise_naming_them(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


def test_bad_data_and_params_raise_naming_them():
    model = models.serial(models.dense(3), models.relu(), models.dense(2))
    params = model.init((4,), seed=0)
    x, y = np.ones((5, 4)), np.array([0, 1, 1, 0, 1])
    for bad_x, match in ((np.full((5, 4), np.nan), "x"), (np.ones((5, 3)), "params"),
                         (np.ones(4), "x")):
        with pytest.raises(ValueError, match=match):
            model.apply(params, bad_x)
    with pytest.raises(ValueError, match="loss"):
        model.loss_and_grad(params, x, y, loss="l1")
    with pytest.raises(ValueError, match="y"):
        model.loss_and_grad(params, x, np.array([0, 1, 2, 0, 1]), loss="softmax_ce")
    with pytest.raises(ValueError, match="y"):
        model.loss_and_grad(params, x, np.ones((5, 3)), loss="mse")
    with pytest.raises(ValueError, match="params"):
        model.apply({k: v for k, v in params.items() if k != "2/W"}, x)
    with pytest.raises(TypeError, match="params"):
        model.apply({"0/W": params["0/W"].astype(np.float32), "2/W": params["2/W"]}, x)
    huge = {k: v * 1e200 for k, v in params.items()}  # |output| ~ 1e400: beyond float64
    with np.errstate(over="ignore"), pytest.raises(ValueError,
                                                  match="params: expected a finite output"):
        model.apply(huge, x)
    for not_float in (params["0/W"].tolist(), params["0/W"].astype(int)):
        with pytest.raises(TypeError, match="params"):
            model.apply({"0/W": not_float, "2/W": params["2/W"]}, x)


# --- workspace and dtype hygiene --------------------------------------------------------------

def test_scratch_space_never_leaks_between_calls_or_shapes():
    model = models.serial(models.conv2d(3, 3), models.relu(), models.conv2d(1, (2, 3)))
    params = model.init((5, 6, 2), seed=0)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5, 6, 2)), rng.normal(size=(1, 5, 6, 2))
    first = model.loss_and_grad(params, a, a[..., :1], loss="mse")
    model.loss_and_grad(params, b, b[..., :1], loss="mse")
    fresh = pickle.loads(pickle.dumps(model))  # a copy without the scratch space
    again = fresh.loss_and_grad(params, a, a[..., :1], loss="mse")
    assert first[0] == again[0]
    assert all(np.array_equal(first[1][k], again[1][k]) for k in params)
    out1 = model.apply(params, a)
    out2 = model.apply(params, b)
    assert not np.shares_memory(out1, out2) and np.array_equal(out1, fresh.apply(params, a))


@pytest.mark.parametrize("loss", models.LOSSES)
def test_float32_step_stays_float32(loss):
    model = models.serial(models.conv2d(2, 3), models.sigmoid(), models.flatten(),
                          models.residual(4), models.sin(), models.dense(3, bias=True))
    params = model.init((4, 4, 1), seed=0, dtype="float32")
    x = np.random.default_rng(1).normal(size=(3, 4, 4, 1))  # float64 data is cast
    y = np.ones((3, 3)) if loss == "mse" else np.array([0, 2, 1])
    value, grads = model.loss_and_grad(params, x, y, loss=loss)
    assert isinstance(value, float) and math.isfinite(value)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert model.apply(params, x).dtype == np.float32


@pytest.mark.gpu
def test_cupy_step_matches_numpy_within_rounding():
    import cupy as cp

    model = models.serial(models.conv2d(4, 3), models.relu(), models.flatten(),
                          models.residual(6), models.dense(3, bias=True))
    params = model.init((5, 5, 2), seed=3)
    on_gpu = model.init((5, 5, 2), seed=3, backend="cupy")
    assert all(isinstance(v, cp.ndarray) and np.array_equal(cp.asnumpy(v), params[k])
               for k, v in on_gpu.items())
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(3, 5, 5, 2)), np.array([2, 0, 1])
    value, grads = model.loss_and_grad(params, x, y, loss="softmax_ce")
    gvalue, ggrads = model.loss_and_grad(on_gpu, cp.asarray(x), cp.asarray(y),
                                         loss="softmax_ce")
    # each backend is within its rounding bound of the exact value: twice that apart
    df, gbound = _bounds(model, params, x, y, "softmax_ce")
    assert abs(value - gvalue) <= 2 * df * U["float64"]
    for k in params:
        assert isinstance(ggrads[k], cp.ndarray)
        assert np.abs(cp.asnumpy(ggrads[k]) - grads[k]).max() <= 2 * gbound[k] * U["float64"]
