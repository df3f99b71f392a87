import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overparam.numerics import layers as nl
from overparam.numerics.init import SCHEMES, em_initialize, fans, initialize

U = 2.0**-53


def central_difference(f, arr, idx, eps=1e-6):
    plus, minus = arr.copy(), arr.copy()
    plus[idx] += eps
    minus[idx] -= eps
    return (f(plus) - f(minus)) / (2 * eps)


shapes = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5),
                   st.integers(0, 2**31))


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from(["relu", "sin", "sigmoid", "identity"]), st.booleans())
def test_dense_and_activation_gradients(shape, act, bias):
    n, din, dout, seed = shape
    rng = np.random.default_rng(seed)
    x, W = rng.normal(size=(n, din)), rng.normal(size=(dout, din))
    b = rng.normal(size=dout) if bias else None
    G = rng.normal(size=(n, dout))

    def loss(xx, WW, bb):
        h, _ = nl.dense_forward(xx, WW, bb)
        return float(np.sum(G * nl.activation_forward(act, h)[0]))
    h, c = nl.dense_forward(x, W, b)
    _, g = nl.activation_forward(act, h)
    dx, grads = nl.dense_backward(nl.activation_backward(G, g), c)
    if act == "relu" and np.min(np.abs(h)) < 1e-4:
        return  # a kink within the difference step: the derivative is not defined there
    # central differences of a smooth function: O(eps²) truncation + O(u·|L|/eps) rounding
    tol = 1e-6 * (1 + np.abs(G).sum() * (1 + np.abs(x).max()) * (1 + np.abs(W).max()))
    idx = tuple(rng.integers(0, s) for s in x.shape)
    assert abs(central_difference(lambda a: loss(a, W, b), x, idx) - dx[idx]) <= tol
    idx = tuple(rng.integers(0, s) for s in W.shape)
    assert abs(central_difference(lambda a: loss(x, a, b), W, idx) - grads["W"][idx]) <= tol
    if bias:
        i = (int(rng.integers(0, dout)),)
        assert abs(central_difference(lambda a: loss(x, W, a), b, i) - grads["b"][i]) <= tol


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_residual_block_and_flatten_gradients(shape):
    n, d, h, seed = shape
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    W1, W2 = rng.normal(size=(h, d)), rng.normal(size=(d, h))
    G = rng.normal(size=(n, d))

    def loss(xx, A, B):
        return float(np.sum(G * nl.residual_forward(xx, A, B)[0]))
    y, cache = nl.residual_forward(x, W1, W2)
    pre1, pre2 = x @ W1.T, np.maximum(x @ W1.T, 0) @ W2.T
    if min(np.abs(pre1).min(), np.abs(pre2).min()) < 1e-4:
        return
    dx, grads = nl.residual_backward(G, cache)
    tol = 1e-6 * (1 + np.abs(G).sum() * (1 + np.abs(x).max()) * (1 + np.abs(W1).max())
                  * (1 + np.abs(W2).max()))
    for arr, grad, f in ((x, dx, lambda a: loss(a, W1, W2)),
                         (W1, grads["W1"], lambda a: loss(x, a, W2)),
                         (W2, grads["W2"], lambda a: loss(x, W1, a))):
        idx = tuple(rng.integers(0, s) for s in arr.shape)
        assert abs(central_difference(f, arr, idx) - grad[idx]) <= tol
    img = rng.normal(size=(n, 2, 3, 1))
    flat, c = nl.flatten_forward(img)
    assert flat.shape == (n, 6) and np.array_equal(nl.flatten_backward(flat, c), img)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(2, 6),
       st.sampled_from(["mse", "softmax_ce", "hinge", "squared"]), st.integers(0, 2**31))
def test_loss_gradients_match_central_differences(n, c, name, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c))
    labels = rng.integers(0, c, size=n)
    target = rng.normal(size=(n, c))

    def loss(zz):
        if name == "mse":
            return nl.mse_loss(zz, target)[0]
        return nl.classification_loss(name, zz, labels)[0]
    if name == "hinge":
        # kinks where margin + z_j − z_y = 0 (j ≠ y): the derivative is undefined there
        gaps = 1.0 + z - z[np.arange(n), labels][:, None]
        gaps[np.arange(n), labels] = np.inf
        if np.abs(gaps).min() < 2e-6:  # inside the ±1e-6 stencil (a gap moves ≤ eps)
            return
    grad = (nl.mse_loss(z, target) if name == "mse"
            else nl.classification_loss(name, z, labels))[1]
    # eps = 1e-6: truncation eps²/6·|L'''| ≤ 2e-13 (|L'''| ≤ 1: zero for MSE, squared and
    # hinge off its kinks, ≤ 1 for softmax CE) plus rounding 2u|L|/eps ≈ 2.2e-10·|L|, with
    # |L| ≤ 2(1 + m)², m = max|z| + max|target|, for all four losses (c ≤ 6 classes)
    m = np.abs(z).max() + np.abs(target).max()
    tol = 2e-13 + 2.2e-10 * 2 * (1 + m) ** 2
    for idx in np.ndindex(z.shape):
        assert abs(central_difference(loss, z, idx) - grad[idx]) <= tol


def test_losses_by_hand():
    loss, g = nl.mse_loss(np.array([[1.0, 3.0]]), np.array([[0.0, 1.0]]))
    assert loss == 2.5 and np.array_equal(g, [[1.0, 2.0]])
    loss, G = nl.classification_loss("squared", np.array([[1.0, 0.0]]), np.array([1]))
    assert loss == 1.0 and np.array_equal(G, [[1.0, -1.0]])


@pytest.mark.parametrize("scheme", [s for s in SCHEMES if s != "orthogonal"])
def test_initialiser_variances_within_monte_carlo_error(scheme):
    shape = (200, 300)
    W = initialize(shape, scheme, seed=0, sigma=0.3)
    fi, fo = fans(shape)
    want = {"ic-default": 1 / (fi * fo), "xavier-normal": 2 / (fi + fo),
            "xavier-uniform": 2 / (fi + fo), "kaiming-normal": 2 / fi,
            "kaiming-uniform": 2 / fi, "normal": 0.09}[scheme]
    # the sample variance of m iid draws has s.e. ≈ var·sqrt((κ − 1)/m), κ ≤ 3 (normal)
    se = want * math.sqrt(2 / W.size)
    assert abs(W.var() - want) <= 5 * se


def test_orthogonal_and_conv_fans():
    W = initialize((20, 50), "orthogonal", seed=1)
    np.testing.assert_allclose(W @ W.T, np.eye(20), atol=64 * 50 * U)
    K = initialize((3, 3, 4, 8), "orthogonal", seed=1)
    M = K.reshape(36, 8)
    np.testing.assert_allclose(M.T @ M, np.eye(8), atol=64 * 36 * U)
    assert fans((5, 5, 3, 7)) == (75, 175)


def test_em_scheme_puts_the_normal_on_one_layer():
    W1, W2 = em_initialize([(256, 100), (10, 256)], sigma=4.0, seed=3)
    assert abs(W1.std() - 4.0) <= 5 * 4.0 / math.sqrt(2 * W1.size)
    assert np.abs(W2).max() <= math.sqrt(6 / 266)


@pytest.mark.parametrize("name", ["relu", "sin", "sigmoid", "identity", "linear"])
def test_activations_in_place_compute_the_same_numbers(name):
    # the same operations on the same numbers, in place or not: equal bit for bit
    rng = np.random.default_rng(0)
    x, dy = rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=(4, 5)).astype(np.float32)
    y, cache = nl.activation_forward(name, x)
    dx = nl.activation_backward(dy, cache)
    x2, dy2 = x.copy(), dy.copy()
    y2, cache2 = nl.activation_forward(name, x2, inplace=True)
    dx2 = nl.activation_backward(dy2, cache2, inplace=True)
    assert np.array_equal(y, y2) and np.array_equal(dx, dx2)
    assert y.dtype == dx.dtype == np.float32
    assert y2 is x2 and dx2 is dy2  # in the inputs' memory


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_against_the_workspace_zeros_is_relu(dtype):
    # reference by selection, not by maximum: x where x > 0, else 0; the kept zeros must stay
    # zero across calls (in place, several shapes) and a full workspace falls back to 0
    rng = np.random.default_rng(1)
    ws: dict = {}
    for shape in [(3, 7), (2, 5, 5, 4), (3, 7)]:
        x = rng.normal(size=shape).astype(dtype)
        x.flat[0] = -0.0
        expected = np.where(x > 0, x, dtype(0))
        y, (_, saved) = nl.activation_forward("relu", x, inplace=True, workspace=ws)
        assert y is x and saved is x
        assert np.array_equal(y, expected)
    zeros = [v for k, v in ws.items() if k != "bytes"]
    assert len(zeros) == 2 and all(not z.any() for z in zeros)
    full = {"bytes": nl.WORKSPACE_BYTES}
    x = rng.normal(size=(3, 7)).astype(dtype)
    y, _ = nl.activation_forward("relu", x, workspace=full)
    assert np.array_equal(y, np.where(x > 0, x, dtype(0))) and list(full) == ["bytes"]


def test_unknown_activation_and_loss_names_raise():
    with pytest.raises(ValueError, match="activation"):
        nl.activation_forward("tanh", np.ones(3))
    with pytest.raises(ValueError, match="activation"):
        nl.activation("softplus", np.ones(3))
    with pytest.raises(ValueError, match="loss"):
        nl.loss_and_logit_gradient("l1", np.ones((2, 3)), np.array([0, 1]))


@pytest.mark.parametrize("name", ["softmax_ce", "hinge", "squared"])
def test_classification_losses_keep_float32(name):
    z = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    losses, G = nl.loss_and_logit_gradient(name, z, np.array([0, 3, 1, 1, 2]))
    assert losses.dtype == G.dtype == np.float32


def test_conv_without_dx_and_with_a_workspace_computes_the_same_numbers():
    rng = np.random.default_rng(2)
    x, W = rng.normal(size=(2, 5, 4, 3)), rng.normal(size=(3, 2, 3, 4))
    dy = rng.normal(size=(2, 5, 4, 4))
    y, cache = nl.conv2d_forward(x, W)
    dx, dW = nl.conv2d_backward(dy, cache)
    ws = {}
    for _ in range(2):  # the second pass reuses the scratch arrays of the first
        y2, cache2 = nl.conv2d_forward(x, W, workspace=ws)
        none, dW2 = nl.conv2d_backward(dy, cache2, need_dx=False, workspace=ws)
        _, dW3 = nl.conv2d_backward(dy, cache2, workspace=ws)
        assert none is None
        assert np.array_equal(y, y2) and np.array_equal(dW, dW2) and np.array_equal(dW, dW3)
    assert np.array_equal(nl.conv2d(x[0], W), y[0])
    assert dx.shape == x.shape


def test_workspace_keeps_at_most_its_budget(monkeypatch):
    monkeypatch.setattr(nl, "WORKSPACE_BYTES", 5000)
    x, W = np.ones((1, 6, 6, 4)), np.ones((3, 3, 4, 2))  # rows: 8·6·3·4 doubles = 4608 bytes
    ws = {}
    y, cache = nl.conv2d_forward(x, W, workspace=ws)
    nl.conv2d_backward(np.ones_like(y), cache, workspace=ws)
    kept = [v for k, v in ws.items() if k != "bytes"]
    assert ws["bytes"] == sum(v.nbytes for v in kept) <= 5000
    assert np.array_equal(y, nl.conv2d_forward(x, W)[0])
