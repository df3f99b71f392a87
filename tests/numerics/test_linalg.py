from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from overparam.numerics.backend import unit_roundoff
from overparam.numerics.linalg import numerical_rank, unit_vector
from overparam.theory.identity_crisis import gd_limit_least_squares, lemma1_limit, lemma2_limit

small_ints = st.integers(-5, 5)


def _rational(a):
    a = np.atleast_2d(a)
    return sympy.Matrix([[sympy.Rational(Fraction(float(v))) for v in row] for row in a])


def _tolerance(X, *arrays):
    # forward error of a normal-equation / SVD solve: ~ (n + d)·u·κ², relative to the sizes
    info = numerical_rank(X)
    scale = 1 + sum(np.linalg.norm(a) for a in arrays)
    return 8 * sum(X.shape) * unit_roundoff(np.float64) * info.condition**2 * scale * 10


@st.composite
def integer_systems(draw, full_rank):
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    X = draw(hnp.arrays(np.float64, (n, d), elements=small_ints))
    if full_rank:
        # entries in [-5, 5] and at most 3 off-diagonal entries per row: adding 21 on the
        # diagonal makes the leading block strictly diagonally dominant (|d| >= 16 > 15),
        # hence non-singular, so X has rank min(n, d) by construction
        X[: min(n, d), : min(n, d)] += 21 * np.eye(min(n, d))
    Y = draw(hnp.arrays(np.float64, (n, 2), elements=small_ints))
    W0 = draw(hnp.arrays(np.float64, (d, 2), elements=small_ints))
    return X, Y, W0


@settings(max_examples=60, deadline=None)
@given(integer_systems(full_rank=False))
def test_pinv_limit_matches_exact_rational_pseudo_inverse(system):
    X, Y, W0 = system
    Xr = _rational(X)
    expected = _rational(W0) + Xr.pinv() * (_rational(Y) - Xr * _rational(W0))
    got = gd_limit_least_squares(X, Y, W0)
    exp = np.array(expected.evalf(30).tolist(), dtype=float)
    if numerical_rank(X).rank == 0:
        assert np.array_equal(got, W0)
    else:
        assert np.linalg.norm(got - exp) <= _tolerance(X, exp, W0)


@settings(max_examples=60, deadline=None)
@given(integer_systems(full_rank=True))
def test_lemma_forms_match_exact_rational_solution(system):
    X, Y, W0 = system
    n, d = X.shape
    Xr, Yr, Wr = _rational(X), _rational(Y), _rational(W0)
    if n <= d:
        exact = Wr + Xr.T * (Xr * Xr.T).inv() * (Yr - Xr * Wr)
        got = lemma1_limit(X, Y, W0)
    else:
        exact = (Xr.T * Xr).inv() * Xr.T * Yr
        got = lemma2_limit(X, Y)
    exp = np.array(exact.evalf(30).tolist(), dtype=float)
    assert np.linalg.norm(got - exp) <= _tolerance(X, exp, W0)


def test_lemma_preconditions_are_enforced():
    X = np.array([[1.0, 2.0], [2.0, 4.0]])  # rank 1
    with pytest.raises(ValueError, match="singular"):
        lemma1_limit(X, np.ones((2, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="N <= D"):
        lemma1_limit(np.ones((3, 2)), np.ones((3, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="N > D"):
        lemma2_limit(np.eye(2), np.ones((2, 1)))
    with pytest.raises(ValueError, match="singular"):
        lemma2_limit(np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]), np.ones((3, 1)))


def test_shape_mismatches_are_named():
    with pytest.raises(ValueError, match="Y: expected 2 rows"):
        gd_limit_least_squares(np.eye(2), np.ones((3, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="W0: expected shape"):
        gd_limit_least_squares(np.eye(2), np.ones((2, 1)), np.zeros((3, 1)))


def test_numerical_rank_hand_cases():
    assert numerical_rank(np.diag([1.0, 1e-20, 0.0])).rank == 1
    assert numerical_rank(np.zeros((2, 3))).rank == 0
    assert numerical_rank(np.array([[3.0, 0], [0, 4]])).condition == pytest.approx(4 / 3)


def test_unit_vector_survives_underflow_and_overflow():
    for scale in (1e-200, 1e200):
        u = unit_vector(np.array([3.0, 4.0]) * scale)
        np.testing.assert_allclose(u, [0.6, 0.8], rtol=4 * unit_roundoff(np.float64))


def _exact_pinv_apply(X, R):
    Xr = _rational(X)
    return np.array((Xr.pinv() * _rational(R)).evalf(40).tolist(), dtype=float)


def test_lemma2_on_an_ill_conditioned_full_rank_matrix_is_solved_not_singular():
    # the verification search's X: rank 3 = D (σ_min = 3.5e-8 ≫ threshold 1.3e-14), but
    # XᵀX has condition 1.8e17 and numpy's solve called it singular (LinAlgError)
    X = np.array([[-1e-3, 0, 0], [9, -1e-3, 0], [9, 9, -3], [0, 0, 0]])
    Y = np.array([[1.0], [2.0], [3.0], [4.0]])
    got = lemma2_limit(X, Y)
    exact = _exact_pinv_apply(X, Y)
    info = numerical_rank(X)
    s = info.singular_values
    # least-squares forward error through an SVD: 8·max(N, D)·u·(κ + κ²·‖r‖/(σ_max‖W‖))
    kappa = info.condition
    r = np.linalg.norm(X @ exact - Y)
    tol = 8 * 4 * unit_roundoff(np.float64) * (kappa + kappa**2 * r / (s[0] * np.linalg.norm(
        exact)))
    assert np.linalg.norm(got - exact) <= tol * np.linalg.norm(exact)


def test_lemma1_with_condition_number_1e12_stays_within_its_forward_error():
    # before: solving with XXᵀ (condition 1e24) gave residual 4.6; through the SVD the error
    # is bounded by 8·max(N, D)·u·κ relative (consistent system, no residual term)
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    V, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    X = U @ np.diag([1.0, 1e-4, 1e-8, 1e-12]) @ V[:4]
    Y, W0 = rng.normal(size=(4, 2)), rng.normal(size=(6, 2))
    got = lemma1_limit(X, Y, W0)
    exact = W0 + _exact_pinv_apply(X, Y - X @ W0)
    kappa = numerical_rank(X).condition
    assert kappa == pytest.approx(1e12, rel=1e-3)
    tol = 8 * 6 * unit_roundoff(np.float64) * kappa
    assert np.linalg.norm(got - exact) <= tol * np.linalg.norm(exact)


def test_rank_failure_is_a_value_error_naming_the_rank_condition():
    X = np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match=r"^X: Lemma 2 needs rank X = D = 2, numerical rank "
                                         r"is 1 .*rank condition fails"):
        lemma2_limit(X, np.ones((3, 1)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_systems_are_refused(bad):
    X = np.array([[1.0, bad], [0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="^X: expected finite values"):
        lemma2_limit(X, np.ones((3, 1)))
    with pytest.raises(ValueError, match="^Y: expected finite values"):
        gd_limit_least_squares(np.eye(2), np.array([1.0, bad]), np.zeros(2))


def test_zero_vector_has_no_direction():
    with pytest.raises(ValueError, match="^X: expected a non-zero vector"):
        unit_vector(np.zeros(3))


def test_subnormal_systems_are_solved_at_full_precision():
    # the SVD of subnormal entries is inaccurate (σ = [1e-323, 5e-324] for the matrix below):
    # the solve works on X·2^1074 (exact) and scales back, so X⁺Y is right to a few ulps of
    # the integer pattern's κ = 3.2 (X⁺Y ~ 6e23 here: Y ~ 3e-300 keeps it in range)
    pattern = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    X, Y = pattern * 5e-324, np.array([[3e-300], [1e-300], [2e-300]])
    got = lemma2_limit(X, Y)
    exact = _exact_pinv_apply(X, Y)
    assert np.linalg.norm(got - exact) <= 64 * unit_roundoff(np.float64) * np.linalg.norm(
        exact)
    assert numerical_rank(X).rank == 2


def test_a_solution_beyond_float64_is_refused():
    X = np.array([[1.0, 0.0], [0.0, 1e-15], [0.0, 0.0]])
    with pytest.raises(ValueError, match="^Y: the least-squares solution X⁺Y exceeds"):
        lemma2_limit(X, np.array([[1e300], [1e300], [0.0]]))
