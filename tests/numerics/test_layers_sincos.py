"""The float64 sin/cos path of the sin activation (``layers._sin_cos``: table + polynomial over
chunks) against 200-bit mpmath values, the C library where it falls back, and the gradient
of a sin network through it against central differences."""

import mpmath
import numpy as np
import pytest

from overparam.numerics import layers as nl
from overparam.numerics import models


def _ulps(got: np.ndarray, x: np.ndarray, fn) -> float:
    """The largest |got − f(x)| in units of the last place of the exact f(x) (200 bits)."""
    with mpmath.workprec(200):
        exact = np.array([float(fn(mpmath.mpf(float(v)))) for v in x.ravel()])
    return float((np.abs(got.ravel() - exact) / np.spacing(np.abs(exact))).max())


@pytest.mark.parametrize("size", [nl._SC_MIN, nl._SC_CHUNK + 1, 3 * nl._SC_CHUNK - 5])
def test_within_two_ulps_of_the_exact_values(size):
    rng = np.random.default_rng(size)
    x = rng.standard_normal(size) * 3
    x[: size // 4] = rng.uniform(-2e4, 2e4, size // 4)
    x[size // 4: size // 4 + 8] = [0.0, -0.0, 1e-300, -1e-12, 0.5, np.pi, 2e5, -2e5]
    s, c = nl._sin_cos(x)
    assert _ulps(s, x, mpmath.sin) <= 2
    assert _ulps(c, x, mpmath.cos) <= 2


def test_next_to_the_zeros_of_sin_and_cos():
    # the doubles nearest k·π/2 and their neighbours: d = x − k·h cancels almost entirely
    with mpmath.workprec(200):
        near = np.array([float(k * mpmath.pi / 2) for k in range(1, 1500)])
    x = np.concatenate([near, np.nextafter(near, 0), np.nextafter(near, np.inf), -near])
    s, c = nl._sin_cos(x)
    assert _ulps(s, x, mpmath.sin) <= 2
    assert _ulps(c, x, mpmath.cos) <= 2


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e9])
def test_out_of_range_entries_fall_back_to_the_c_library(bad):
    x = np.random.default_rng(0).standard_normal(2 * nl._SC_MIN)
    x[7] = bad
    with np.errstate(invalid="ignore"):  # sin(inf) is NaN, with NumPy's warning
        s, c = nl._sin_cos(x)
        np.testing.assert_array_equal(s, np.sin(x))
        np.testing.assert_array_equal(c, np.cos(x))


def test_float32_and_small_arrays_use_numpy_exactly():
    x = np.random.default_rng(1).standard_normal((64, 128))
    for arr in (x.astype(np.float32), x[:3, :5]):
        s, c = nl._sin_cos(arr)
        np.testing.assert_array_equal(s, np.sin(arr))
        np.testing.assert_array_equal(c, np.cos(arr))


def test_sin_out_in_place_and_strided_equal_the_fresh_result():
    x = np.random.default_rng(2).standard_normal((96, 128))
    s, c = nl._sin_cos(x)
    y = x.copy()
    s2, c2 = nl._sin_cos(y, y)  # overwrites its own input
    assert s2 is y
    np.testing.assert_array_equal(y, s)
    np.testing.assert_array_equal(c2, c)
    out = np.empty((128, 96)).T  # not C-contiguous
    s3, _ = nl._sin_cos(x, out)
    assert s3 is out
    np.testing.assert_array_equal(out, s)
    # activation() and activation_forward() give the same values
    phi, dphi = nl.activation("sin", x)
    y, (_, cached) = nl.activation_forward("sin", x.copy(), inplace=True)
    np.testing.assert_array_equal(phi, s)
    np.testing.assert_array_equal(dphi, c)
    np.testing.assert_array_equal(y, s)
    np.testing.assert_array_equal(cached, c)


def test_sin_network_gradient_through_the_table_path_matches_central_differences():
    # 48 examples × 128 hidden units = 6144 pre-activations ≥ _SC_MIN: the table path
    model = models.serial(models.dense(128), models.sin(), models.dense(5))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((48, 20))
    y = rng.integers(0, 5, 48)
    params = model.init((20,), seed=0, init="normal", sigma=1.0)
    _, grads = model.loss_and_grad(params, x, y, loss="softmax_ce")
    eps = 1e-6
    for key in params:
        for idx in [tuple(rng.integers(0, n) for n in params[key].shape) for _ in range(4)]:
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][idx] += eps
            minus[key][idx] -= eps
            fd = (model.loss_and_grad(plus, x, y, loss="softmax_ce")[0]
                  - model.loss_and_grad(minus, x, y, loss="softmax_ce")[0]) / (2 * eps)
            assert abs(grads[key][idx] - fd) <= 1e-7 * max(1.0, abs(fd))
