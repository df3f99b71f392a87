import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from overparam.theory import extreme_memorization as em


@pytest.mark.parametrize("x, x2, sigma", [(0.7, -1.3, 0.8), (2.0, 0.5, 1.5), (1.0, -1.0, 1.0)])
def test_sin_kernel_matches_scipy_quadrature_d1(x, x2, sigma):
    f = lambda w: (np.sin(w * x) * np.sin(w * x2) * np.exp(-w * w / (2 * sigma**2))  # noqa: E731
                   / math.sqrt(2 * math.pi * sigma**2))
    val, err = integrate.quad(f, -12 * sigma, 12 * sigma, epsabs=1e-13, limit=200)
    got = em.sin_kernel(np.array([x]), np.array([x2]), sigma=sigma)
    assert abs(got - val) <= err + 1e-12


def test_sin_kernel_matches_scipy_quadrature_d2():
    x, x2, sigma = np.array([0.4, -0.9]), np.array([-0.6, 0.2]), 1.1

    def f(a, b):
        dens = math.exp(-(a * a + b * b) / (2 * sigma**2)) / (2 * math.pi * sigma**2)
        return math.sin(a * x[0] + b * x[1]) * math.sin(a * x2[0] + b * x2[1]) * dens
    lim = 10 * sigma
    val, err = integrate.dblquad(f, -lim, lim, -lim, lim, epsabs=1e-11)
    assert abs(em.sin_kernel(x, x2, sigma=sigma) - val) <= err + 1e-10


def test_the_stated_bound_fails_at_the_hand_derived_point():
    # x = 1, x' = −1, σ = 1: E = ½(e^{−2} − e^{0}) = −0.4323…, bound e^{−2} = 0.1353…
    k = em.sin_kernel(np.array([1.0]), np.array([-1.0]), sigma=1.0)
    assert k == pytest.approx(0.5 * (math.exp(-2) - 1), rel=1e-15)
    assert abs(k) > em.thm1_bound(np.array([1.0]), np.array([-1.0]), sigma=1.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5).flatmap(lambda d: st.tuples(
    st.lists(st.floats(-5, 5), min_size=d, max_size=d),
    st.lists(st.floats(-5, 5), min_size=d, max_size=d))), st.floats(0.01, 5), st.integers(1, 9))
def test_proved_bound_holds_and_stated_bound_holds_for_nonnegative_correlation(xs, sigma, h):
    x, x2 = np.array(xs[0]), np.array(xs[1])
    k = abs(float(em.sin_kernel(x, x2, sigma=sigma, h=h)))
    slack = 16 * 2**-53 * h
    assert k <= float(em.thm1_proved_bound(x, x2, sigma=sigma, h=h)) + slack
    if x @ x2 >= 0:
        assert k <= float(em.thm1_bound(x, x2, sigma=sigma, h=h)) + slack


def test_rff_constant_is_half_h():
    x, x2 = np.array([0.3, 0.1]), np.array([0.2, -0.4])
    assert em.rff_kernel(x, x2, sigma=2.0, h=6) == pytest.approx(
        3 * math.exp(-4 * np.sum((x - x2) ** 2) / 2), rel=1e-15)


def test_bad_kernel_arguments():
    with pytest.raises(ValueError, match="sigma"):
        em.sin_kernel([1.0], [1.0], sigma=0.0)
    with pytest.raises(ValueError, match="h"):
        em.sin_kernel([1.0], [1.0], sigma=1.0, h=0)
    with pytest.raises(ValueError, match="x2"):
        em.sin_kernel([1.0, 2.0], [1.0], sigma=1.0)


def test_logit_gradients_by_hand():
    z, y = np.array([[2.0, 0.0, 0.0]]), np.array([1])
    p = np.exp(z[0]) / np.exp(z[0]).sum()
    np.testing.assert_allclose(em.softmax_logit_gradient(z, y)[0], p - [0, 1, 0],
                               atol=8 * 2.0**-53)
    # hinge, margin 1: wrong classes 0 (1 + 2 − 0 > 0) and 2 (1 + 0 − 0 > 0) are active
    np.testing.assert_array_equal(em.hinge_logit_gradient(z, y)[0], [1.0, -2.0, 1.0])
    np.testing.assert_array_equal(em.squared_logit_gradient(z, y)[0], [2.0, -1.0, 0.0])


def _mp_sin_kernel(x, x2, sigma, h=1):
    """The closed form in 700-digit arithmetic (independent of the float evaluation; enough
    digits to resolve a difference of two exponentials of size 1e-320)."""
    import mpmath

    with mpmath.workdps(700):
        s2 = mpmath.mpf(sigma) ** 2
        d = sum((mpmath.mpf(a) - mpmath.mpf(b)) ** 2 for a, b in zip(x, x2, strict=True))
        p = sum((mpmath.mpf(a) + mpmath.mpf(b)) ** 2 for a, b in zip(x, x2, strict=True))
        return float(h * (mpmath.exp(-s2 * d / 2) - mpmath.exp(-s2 * p / 2)) / 2)


@pytest.mark.parametrize("x, x2, sigma", [
    ([1.0, 0.5], [0.3, -1.0], 1e200),   # both exponentials 0: was inf·0 = NaN
    ([1e-200, 0.0], [1e-200, 0.0], 1e200),  # σ‖x‖ = 1: ‖x‖² underflowed, σ² overflowed
    ([1e-160], [3e-160], 1.0),  # tiny difference of two exponentials near 1: no cancellation
    ([3.0, -2.0], [1.0, 0.25], 0.7),
    ([1e150, 0.0], [0.0, 1e150], 1e-150),  # ‖x‖² overflows, σ² underflows
])
def test_sin_kernel_at_extreme_scales_matches_high_precision(x, x2, sigma):
    got = float(em.sin_kernel(np.array(x), np.array(x2), sigma=sigma))
    want = _mp_sin_kernel(x, x2, sigma)
    # expm1/exp in logs: a few ulps of each of ~6 rounded operations, relative
    assert math.isfinite(got)
    assert abs(got - want) <= 16 * 2**-53 * abs(want) + 5e-324


def test_stated_bound_at_huge_sigma_is_zero_not_nan():
    assert float(em.thm1_bound(np.array([1.0]), np.array([2.0]), sigma=1e200)) == 0.0
    assert float(em.rff_kernel(np.array([1.0]), np.array([1.0]), sigma=1e200, h=4)) == 2.0


def test_proved_bound_with_a_tiny_x_normalises_without_underflow():
    # x = [1e-200, 0] points along e1, so Δ = x′ − ⟨x′, e1⟩e1 = [0, 1] and the bound is
    # exp(−1/2) = 0.6065…; ‖x‖² underflowing to 0 used to give Δ = x′ and exp(−1) = 0.368
    got = float(em.thm1_proved_bound(np.array([1e-200, 0.0]), np.array([1.0, 1.0]), sigma=1.0))
    assert got == pytest.approx(math.exp(-0.5), rel=8 * 2**-53)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("func", [em.sin_kernel, em.thm1_bound, em.thm1_proved_bound,
                                  em.rff_kernel])
def test_kernels_refuse_non_finite_points(func, bad):
    with pytest.raises(ValueError, match="^x2: expected finite values"):
        func(np.array([1.0, 0.0]), np.array([bad, 1.0]), sigma=1.0)


@pytest.mark.parametrize("func", [em.softmax_logit_gradient, em.hinge_logit_gradient,
                                  em.squared_logit_gradient])
def test_logit_gradients_check_logits_and_labels(func):
    z = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match="^z: expected finite values, got NaN"):
        func(np.array([[np.nan, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.array([1, 0]))
    with pytest.raises(ValueError, match=r"^y: expected labels in \[0, 3\), got 3"):
        func(z, np.array([1, 3]))
    with pytest.raises(TypeError, match="^y: expected an integer array"):
        func(z, np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match="^y: expected 2 labels, got 1"):
        func(z, np.array([1]))


def test_hinge_gradient_does_not_turn_nan_into_zero():
    # (m > 0) is False for NaN, so a NaN logit used to give a zero gradient entry
    with pytest.raises(ValueError, match="^z: expected finite values"):
        em.hinge_logit_gradient(np.array([[np.nan, 0.0]]), np.array([1]))
    with pytest.raises(ValueError, match="^margin: expected a number, got NaN"):
        em.hinge_logit_gradient(np.array([[1.0, 0.0]]), np.array([1]), margin=float("nan"))


@pytest.mark.parametrize("d", [1, 2, 3, 7, 8, 20])
def test_short_last_axis_reductions_equal_numpys_bit_for_bit(d):
    # the slice-by-slice max and sum behind sin_kernel's exact scaling against NumPy's own
    # reductions (the same order of additions below eight entries; the reduction itself
    # beyond): magnitudes 1e-300…1e300, signed zeros, batches of several shapes
    from overparam.theory.extreme_memorization import _max_abs_last, _sum_last

    rng = np.random.default_rng(d)
    for shape in [(d,), (5, d), (3, 4, d)]:
        v = rng.standard_normal(shape) * 10.0 ** rng.uniform(-300, 300, size=shape)
        v[v > 1] = -0.0
        with np.errstate(over="ignore"):  # squares beyond 1e308 are inf in both: compared too
            squares = v * v
        for got, expected in [(_max_abs_last(np, v), np.max(np.abs(v), axis=-1)),
                              (_sum_last(np, squares), squares.sum(axis=-1)),
                              (_sum_last(np, v), v.sum(axis=-1))]:
            got, expected = np.asarray(got), np.asarray(expected)
            assert got.shape == expected.shape
            assert np.array_equal(got, expected) and np.array_equal(np.signbit(got),
                                                                    np.signbit(expected))
