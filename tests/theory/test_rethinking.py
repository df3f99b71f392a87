from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from overparam.theory import rethinking as rr


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, (n, 3), elements=st.integers(-6, 6).map(float), unique=False),
    hnp.arrays(np.float64, (n,), elements=st.floats(-100, 100)))))
def test_exact_construction_fits_distinct_samples(case):
    Z, y = case
    if len({tuple(r) for r in Z}) < len(Z):
        with pytest.raises(ValueError, match="duplicate"):
            rr.depth2_interpolant(Z, y)
        return
    f = rr.depth2_interpolant(Z, y, mode="exact")
    assert f.exact_values(Z) == [Fraction(float(v)) for v in y]
    assert f.weight_count == 2 * len(y) + 3


def test_duplicates_are_named():
    Z = np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"\(0, 2\)|\(2, 0\)"):
        rr.depth2_interpolant(Z, np.zeros(3))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 10), min_size=2, max_size=20),
       st.lists(st.floats(-10, 10), min_size=10, max_size=10))
def test_recurrence_matches_triangular_solve(gaps, ys):
    n = len(gaps) // 2
    seq = np.cumsum(gaps[:2 * n])
    b, x = seq[0::2], seq[1::2]
    y = np.array(ys[:n] + [0.0] * max(0, n - len(ys)))[:n]
    A = rr.interleaved_relu_matrix(x, b)
    ref = scipy.linalg.solve_triangular(A, y, lower=True)
    w = rr.solve_interleaved(x, b, y)
    # forward substitution and the recurrence both err by ~n·u·cond(A)
    cond = np.linalg.cond(A)
    assert np.linalg.norm(w - ref) <= 16 * n * 2**-53 * cond * (1 + np.linalg.norm(ref))


def test_lemma1_matrix_by_hand_and_weight_bound_counterexample():
    x, b = [Fraction(2), Fraction(4)], [Fraction(1), Fraction(3)]
    A = rr.interleaved_relu_matrix(np.array(x, dtype=object), np.array(b, dtype=object))
    assert A.tolist() == [[1, 0], [3, 1]]
    w = rr.solve_interleaved(x, b, [Fraction(1), Fraction(0)])
    assert list(w) == [1, -3]  # ‖w‖ = √10 > ‖y‖ / min gap = 1


def test_interleaving_is_required():
    with pytest.raises(ValueError, match="interleaving"):
        rr.solve_interleaved([1.0, 2.0], [1.5, 1.8], [0.0, 0.0])


def test_min_norm_interpolant_matches_exact_pseudo_inverse():
    rng = np.random.default_rng(0)
    X = rng.integers(-5, 6, (3, 6)).astype(float)
    y = rng.integers(-5, 6, 3).astype(float)
    Xr = sympy.Matrix(X.astype(int).tolist())
    exact = np.array((Xr.pinv() * sympy.Matrix(y.astype(int).tolist())).evalf(30).tolist(),
                     dtype=float).ravel()
    s = np.linalg.svd(X, compute_uv=False)
    bound = 16 * sum(X.shape) * 2.0**-53 * (s[0] / s[-1]) ** 2 * np.linalg.norm(exact)
    np.testing.assert_allclose(rr.min_norm_interpolant(X, y), exact, atol=bound)
    np.testing.assert_allclose(rr.min_norm_interpolant(X, y), np.linalg.pinv(X) @ y,
                               atol=2 * bound)


def test_float_mode_reports_limits_instead_of_failing_silently():
    Z = np.array([[4.2e-307], [0.0], [-1.0]])
    with pytest.raises(ValueError, match="float64 cannot interleave"):
        rr.depth2_interpolant(Z, np.zeros(3))
    f = rr.depth2_interpolant(Z, np.array([1.0, 2.0, 3.0]), mode="exact")
    assert f.exact_values(Z) == [1, 2, 3]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 9), st.integers(1, 4), st.integers(2, 7), st.integers(0, 2**31))
def test_depth_k_construction_fits_exactly_with_depth_k_and_width_n_over_k(n, d, k, seed):
    rng = np.random.default_rng(seed)
    Z = rng.integers(-3, 4, (n, d)).astype(float) + rng.random((n, d))
    y = rng.integers(-9, 10, n).astype(float)
    net = rr.depthk_interpolant(Z, y, k)
    assert net.exact_values(Z) == [Fraction(float(v)) for v in y]
    assert net.depth == k
    if k > 2:
        assert net.width <= -(-n // min(k - 2, n)) + 5


@pytest.mark.parametrize("Z, y", [
    # the verification search's inputs that raised OverflowError ("integer division result
    # too large for a float") in exact mode: weights ~3/2.94e-308 exceeded float64
    (np.array([[2.94e-308], [0.0]]), np.array([3.0, 3.0])),
    (np.array([[5.7e-307, -5.7e-307], [0.0, 5.7e-307], [1e-307, 0.0]]),
     np.array([1.0, -2.0, 1e3])),
    (np.array([[5e-324], [0.0]]), np.array([1e3, -1e3])),  # the smallest subnormal
    (np.array([[1e300], [-1e300], [0.0]]), np.array([1.0, 2.0, 3.0])),
])
def test_exact_mode_fits_subnormal_and_huge_samples(Z, y):
    f = rr.depth2_interpolant(Z, y, mode="exact")
    assert f.exact_values(Z) == [Fraction(float(v)) for v in y]
    # the projections are rescaled by a power of two, so the float copy is usable too:
    # |c(z_i) − y_i| ≤ 8n·u·Σ|w_j|·max|t| (the prefix sums' rounding)
    t = np.abs(Z @ f.a).max()
    np.testing.assert_allclose(f(Z), y, rtol=0,
                               atol=8 * len(y) * 2**-53 * np.abs(f.w).sum() * t + 1e-300)
    for k in (2, 3, 5, 8):
        net = rr.depthk_interpolant(Z, y, k)
        assert net.exact_values(Z) == [Fraction(float(v)) for v in y] and net.depth == k


def test_weights_beyond_float64_are_exact_and_float_evaluation_refuses():
    Z, y = np.array([[5e-324], [0.0]]), np.array([1e300, -1e300])
    f = rr.depth2_interpolant(Z, y, mode="exact")
    assert f.exact_values(Z) == [Fraction(1e300), Fraction(-1e300)]
    assert not np.all(np.isfinite(f.w))
    with pytest.raises(ValueError, match="^Z: this interpolant's weights exceed the float64"):
        f(Z)
    net = rr.depthk_interpolant(Z, y, 3)
    assert net.exact_values(Z) == [Fraction(1e300), Fraction(-1e300)]
    with pytest.raises(ValueError, match="^Z: this network's weights exceed the float64"):
        net(Z)


def test_depth_beyond_what_the_sample_uses_is_refused_at_once():
    Z, y = np.eye(3), np.ones(3)
    with pytest.raises(ValueError, match=r"^k: expected 2 <= k <= n \+ 2 \+ 1024 = 1029"):
        rr.depthk_interpolant(Z, y, 10**8)
    net = rr.depthk_interpolant(Z, y, 3 + 2 + rr.MAX_CARRY_LAYERS, mode="float")
    assert net.depth == 1029 and np.allclose(net(Z), y)
    with pytest.raises(TypeError, match="^k: expected an integer"):
        rr.depthk_interpolant(Z, y, 3.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_interpolants_refuse_non_finite_inputs(bad):
    Z, y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1.0, 2.0])
    f = rr.depth2_interpolant(Z, y)
    with pytest.raises(ValueError, match="^Z: expected finite values"):
        f(np.array([[bad, 0.0]]))  # used to return NaN
    with pytest.raises(ValueError, match="^y: expected finite values"):
        rr.depth2_interpolant(Z, np.array([1.0, bad]))
    with pytest.raises(ValueError, match=r"^Z: expected shape \(\*, 2\)"):
        f(np.ones((1, 3)))
    with pytest.raises(ValueError, match="^mode: expected one of"):
        rr.depth2_interpolant(Z, y, mode="fast")
    with pytest.raises(ValueError, match="^x: expected finite values"):
        rr.solve_interleaved([bad, 2.0], [0.0, 1.5], [0.0, 0.0])
    with pytest.raises(ValueError, match="^x: expected finite values"):
        rr.solve_interleaved([Fraction(1), bad], [0.0, 1.5], [0.0, 0.0])
    with pytest.raises(TypeError, match="^y: expected Fractions"):
        rr.solve_interleaved([Fraction(1), Fraction(2)], [0.0, 1.5], ["a", 0.0])
