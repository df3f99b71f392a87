from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from overparam.numerics.backend import unit_roundoff
from overparam.numerics.linalg import (
    gd_limit_least_squares,
    lemma1_limit,
    lemma2_limit,
    numerical_rank,
    unit_vector,
)

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
    if full_rank and sympy.Matrix(X.astype(int)).rank() != min(n, d):
        X[: min(n, d), : min(n, d)] += 7 * np.eye(min(n, d))
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
