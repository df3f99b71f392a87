import re
import textwrap
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

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


# ---------------------------------------------------------------- argument validation

NAN, INF = float("nan"), float("inf")
BAD_ARGUMENTS = [
    (ost.reals, {"max_abs": 0.0}, "max_abs"),
    (ost.reals, {"max_abs": -1.0}, "max_abs"),
    (ost.reals, {"max_abs": NAN}, "max_abs"),
    (ost.reals, {"max_abs": INF}, "max_abs"),
    (ost.reals, {"max_abs": "1"}, "max_abs"),
    (ost.reals, {"max_abs": True}, "max_abs"),
    (ost.vectors, {"dim": 0}, "dim"),
    (ost.vectors, {"dim": 2.5}, "dim"),
    (ost.vectors, {"dim": True}, "dim"),
    (ost.vectors, {"dim": 3, "elements": [1.0]}, "elements"),
    (ost.vectors, {"dim": 3, "nonzero": "yes"}, "nonzero"),
    (ost.matrices, {"rows": 0}, "rows"),
    (ost.matrices, {"cols": -1}, "cols"),
    (ost.matrices, {"elements": 1.0}, "elements"),
    (ost.full_rank_matrices, {"rows": 0}, "rows"),
    (ost.full_rank_matrices, {"min_pivot": 0.0}, "min_pivot"),
    (ost.full_rank_matrices, {"min_pivot": 2e3}, "min_pivot"),
    (ost.full_rank_matrices, {"min_pivot": NAN}, "min_pivot"),
    (ost.rank_deficient_matrices, {"rows": 0}, "rows"),
    (ost.rank_deficient_matrices, {"cols": "3"}, "cols"),
    (ost.images, {"height": 0}, "height"),
    (ost.images, {"width": 1.5}, "width"),
    (ost.images, {"channels": 0}, "channels"),
    (ost.images, {"kinds": ()}, "kinds"),
    (ost.images, {"kinds": "random"}, "kinds"),
    (ost.images, {"kinds": ("random", "noise")}, "kinds"),
    (ost.spd_matrices, {"size": 0}, "size"),
    (ost.spd_matrices, {"dtype": np.int64}, "dtype"),
    (ost.spd_matrices, {"condition": (0.5, 10.0)}, r"condition\[0\]"),
    (ost.spd_matrices, {"condition": (10.0, 2.0)}, r"condition\[1\]"),
    (ost.spd_matrices, {"condition": (1.0, 1e13)}, r"condition\[1\]"),
    (ost.spd_matrices, {"condition": 10.0}, "condition"),
    (ost.spd_matrices, {"near_duplicates": 1}, "near_duplicates"),
    (ost.spd_matrices, {"near_duplicates": True, "condition": (1.0, 10.0)}, "condition"),
    (ost.step_size_schedules, {"max_lr": 0.0}, "max_lr"),
    (ost.step_size_schedules, {"max_lr": INF}, "max_lr"),
    (ost.step_size_schedules, {"total_steps": 0}, "total_steps"),
]


@pytest.mark.parametrize(("strategy", "kwargs", "name"), BAD_ARGUMENTS,
                         ids=[f"{s.__name__}-{k}" for s, k, _ in BAD_ARGUMENTS])
def test_bad_arguments_raise_invalid_argument_naming_them(strategy, kwargs, name):
    with pytest.raises(InvalidArgument, match=rf"^{name}=.*: expected "):
        strategy(**kwargs)


def test_a_size_strategy_is_checked_when_drawn():
    strategy = ost.matrices(st.just(2), st.integers(-3, 0))    # no valid column count
    with pytest.raises(InvalidArgument, match=r"^cols=-?\d+: expected an int ≥ 1"):
        find(strategy, lambda _: True, settings=settings(database=None, max_examples=5))


def test_a_size_of_one_gives_the_zero_rank_deficient_matrix():
    A = find(ost.rank_deficient_matrices(1, 4), lambda _: True,
             settings=settings(database=None))
    assert A.shape == (1, 4) and not A.any()


# ----------------------------------------------------- shrinking through the drawn values

FIND = settings(database=None, derandomize=True, max_examples=500)


def test_sparse_images_shrink_to_the_fewest_simplest_pixels():
    img = find(ost.images(st.integers(1, 4), st.integers(1, 4), 1, kinds=("sparse",)),
               lambda im: np.count_nonzero(im) >= 2, settings=FIND)
    # exactly two non-zero pixels left, each shrunk to 1.0 (hypothesis's simplest non-zero
    # float); an image built from a drawn seed would keep its uniform draws
    assert img[img != 0].tolist() == [1.0, 1.0]


def test_digit_like_images_shrink_to_one_stroke_pixel():
    img = find(ost.images(kinds=("digit-like",)),
               lambda im: im.shape[0] >= 3 and im.shape[1] >= 3, settings=FIND)
    expected = np.zeros((3, 3, 1))
    expected[0, 0, 0] = 1.0                    # one stroke with r0 = r1 = c0 = c1 = 0
    np.testing.assert_array_equal(img, expected)


def test_smooth_images_shrink_to_the_simplest_frequencies():
    img = find(ost.images(3, 3, 1, kinds=("smooth",)), lambda _: True, settings=FIND)
    # both frequencies shrink to 1.0 (hypothesis's simplest float in [0.5, 3]):
    # sin(πy)·cos(πx) at y, x ∈ {0, ½, 1}, by hand
    s = np.array([0.0, 1.0, 0.0])
    c = np.array([1.0, 0.0, -1.0])
    np.testing.assert_allclose(img[..., 0], np.outer(s, c), atol=4 * np.finfo(float).eps)


def test_tiny_images_shrink_entrywise():
    img = find(ost.images(2, 1, 1, kinds=("tiny",)), lambda im: np.all(im != 0),
               settings=FIND)
    assert img.tolist() == [[[1e-150]], [[1e-150]]]


@settings(max_examples=60, deadline=None)
@given(ost.images(kinds=("tiny",)))
def test_tiny_images_stay_tiny(img):
    assert np.abs(img).max() <= 1e-150


# ------------------------------------------------------------------ docstring examples

PUBLIC = [name for name in ost.__all__ if callable(getattr(ost, name))]


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_strategy_has_a_docstring_example_that_passes(name):
    doc = getattr(ost, name).__doc__
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert blocks, f"{name}: no example in its docstring"
    scope = {"given": given, "st": st, "np": np, "ost": ost}
    exec(textwrap.dedent(blocks[0]), scope)
    tests = [v for k, v in scope.items() if k.startswith("test_")]
    assert len(tests) == 1
    settings(max_examples=15, deadline=None, database=None)(tests[0])()


@given(ost.spd_matrices(st.integers(1, 8), condition=(10.0, 1e8)))
def test_spd_matrices_are_symmetric_positive_definite_in_their_condition_range(A):
    n = A.shape[0]
    assert A.shape == (n, n) and A.dtype == np.float64 and np.array_equal(A, A.T)
    lam = np.linalg.eigvalsh(A)
    assert lam[0] > 0
    if n > 1:
        # eigenvalues of the rounded A move by ≤ c·n·u·‖A‖ (Weyl), so κ by that relative to
        # λ_min: c = 8 covers the Householder products and the scaling
        kappa, slack = lam[-1] / lam[0], 8 * n * 2.0**-53 * lam[-1] / lam[0]
        assert 10.0 * (1 - slack) <= kappa <= 1e8 * (1 + slack)


@given(ost.spd_matrices(3, dtype=np.float32, condition=(1.0, 1e4)))
def test_float32_spd_matrices_stay_positive_definite(A):
    assert A.dtype == np.float32 and np.array_equal(A, A.T)
    assert np.linalg.eigvalsh(A.astype(np.float64))[0] > 0


@given(ost.spd_matrices(st.integers(2, 12), near_duplicates=True))
def test_near_duplicate_kernels_are_rbf_kernels_of_nearly_coincident_points(K):
    assert np.array_equal(K, K.T) and np.all(np.diag(K) == 1.0)
    assert np.all((K > 0) & (K <= 1))
    # at least one pair of points within 1e-3: an off-diagonal entry ≥ exp(−1e-6/2)
    off = K[~np.eye(len(K), dtype=bool)]
    assert off.max() >= np.exp(-0.5e-6) * (1 - 1e-15)


def test_spd_matrices_reach_the_ends_of_their_condition_range():
    top = find(ost.spd_matrices(4, condition=(1.0, 1e6)),
               lambda A: np.linalg.cond(A) > 0.99e6, settings=settings(database=None))
    assert np.linalg.cond(top) <= 1e6 * (1 + 1e-6)
