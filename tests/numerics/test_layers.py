import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from overparam.numerics.backend import unit_roundoff
from overparam.numerics.layers import conv2d_backward, conv2d_forward
from overparam.numerics.patches import extract_patches, scatter_patches

U = unit_roundoff(np.float64)

shapes = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3),
                   st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31))


@settings(max_examples=40, deadline=None)
@given(shapes)
def test_conv2d_gradients_match_central_differences(shape):
    n, h, w, cin, cout, kh, kw, seed = shape
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal((n, h, w, cin)), rng.standard_normal((kh, kw, cin, cout))
    G = rng.standard_normal((n, h, w, cout))  # L = <G, conv(x, W)>, so dL/dy = G
    _, cache = conv2d_forward(x, W)
    dx, dW = conv2d_backward(G, cache)

    def loss(xx, WW):
        return float(np.sum(G * conv2d_forward(xx, WW)[0]))

    # L is bilinear, so a central difference is exact up to rounding: error ≈ u·|terms|/eps
    eps = 1e-3
    scale = np.abs(G).sum() * (np.abs(x).max() + 1) * (np.abs(W).max() + 1) * kh * kw * cin
    tol = 8 * U * scale / eps
    for arr, grad in ((x, dx), (W, dW)):
        idx = tuple(rng.integers(0, s) for s in arr.shape)
        plus, minus = arr.copy(), arr.copy()
        plus[idx] += eps
        minus[idx] -= eps
        fd = (loss(plus, W) - loss(minus, W)) / (2 * eps) if arr is x else \
            (loss(x, plus) - loss(x, minus)) / (2 * eps)
        assert abs(fd - grad[idx]) <= tol


@settings(max_examples=40, deadline=None)
@given(shapes)
def test_scatter_is_the_adjoint_of_extract(shape):
    n, h, w, c, _, kh, kw, seed = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c))
    P = extract_patches(x, (kh, kw))
    Q = rng.standard_normal(P.shape)
    lhs = float(np.sum(P * Q))
    rhs = float(np.sum(x * scatter_patches(Q, x.shape, (kh, kw))))
    assert abs(lhs - rhs) <= 8 * U * P.size * (np.abs(P).max() + 1) * (np.abs(Q).max() + 1)


def test_extract_patches_by_hand():
    # 2×2 single-channel image, 2×2 kernel, "same" padding puts the extra row/column after:
    # patch (i, j) = x[i:i+2, j:j+2] with zeros outside
    x = np.array([[1.0, 2.0], [3.0, 4.0]])[:, :, None]
    P = extract_patches(x, (2, 2))
    np.testing.assert_array_equal(P, [[1, 2, 3, 4], [2, 0, 4, 0], [3, 4, 0, 0], [4, 0, 0, 0]])
