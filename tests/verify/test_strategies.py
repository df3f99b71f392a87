from fractions import Fraction

import numpy as np
import sympy
from hypothesis import given, settings

from overparam.numerics.schedules import Constant, Stagewise
from overparam.verify import strategies as ost


def exact_rank(a):
    return sympy.Matrix([[sympy.Rational(Fraction(float(v))) for v in row] for row in a]).rank()


@settings(max_examples=40, deadline=None)
@given(ost.full_rank_matrices())
def test_full_rank_matrices_have_full_exact_rank(X):
    assert exact_rank(X) == min(X.shape)


@settings(max_examples=40, deadline=None)
@given(ost.rank_deficient_matrices(elements=ost.reals(10.0).map(round)))
def test_rank_deficient_matrices_are_rank_deficient(X):
    # integer factors keep the product exact, so the exact rank is the construction's
    assert exact_rank(X) < min(X.shape)


@settings(max_examples=40, deadline=None)
@given(ost.images())
def test_images_are_hwc_with_pixels_at_most_one(img):
    assert img.ndim == 3 and np.all(np.isfinite(img)) and np.abs(img).max() <= 1.0


@settings(max_examples=30, deadline=None)
@given(ost.vectors(3, nonzero=True))
def test_nonzero_vectors(v):
    assert v.shape == (3,) and np.any(v != 0)


@settings(max_examples=30, deadline=None)
@given(ost.step_size_schedules(max_lr=0.5))
def test_schedules_give_positive_rates_not_above_the_maximum(s):
    assert isinstance(s, (Constant, Stagewise))
    rates = [s(t) for t in range(0, 50)]
    assert all(0 < r <= 0.5 for r in rates)
