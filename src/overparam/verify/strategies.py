"""Hypothesis strategies for property-based tests of over-parameterization claims.

Public: import them into your own test suites, for example:

```python
from hypothesis import given
from overparam.verify import strategies as ost

@given(ost.full_rank_matrices(rows=3, cols=5))
def test_gram_is_invertible(X): ...
```

Every strategy yields float64 NumPy arrays (or plain Python values) with finite entries.
Elements default to ``ost.reals()``: finite floats in [-1e3, 1e3], zero and tiny magnitudes
included, subnormals excluded (they cannot carry a derived relative tolerance).

Every value is drawn through hypothesis (no array is generated from a drawn seed), so a
failing example shrinks entry by entry. Bad arguments raise
``hypothesis.errors.InvalidArgument`` naming the argument and what was expected: at once for
plain values, at the first draw for a size given as a strategy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from overparam.numerics.schedules import Constant, Stagewise

__all__ = [
    "IMAGE_KINDS",
    "full_rank_matrices",
    "images",
    "matrices",
    "rank_deficient_matrices",
    "reals",
    "seeds",
    "spd_matrices",
    "step_size_schedules",
    "vectors",
]

#: Largest pivot magnitude of ``full_rank_matrices``.
MAX_PIVOT = 1e3
#: Smallest ``max_lr`` whose 1e-6 fraction (the smallest rate drawn) is still a normal float.
MIN_MAX_LR = 1e-290


def _invalid(name: str, value: Any, expected: str) -> InvalidArgument:
    return InvalidArgument(f"{name}={value!r}: expected {expected}")


def _real(value: Any, name: str, *, low: float, high: float = math.inf) -> float:
    """``value`` as a float in [low, high], finite; InvalidArgument naming ``name`` else."""
    expected = f"a finite real number in [{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise _invalid(name, value, expected)
    if not (math.isfinite(value) and low <= value <= high):
        raise _invalid(name, value, expected)
    return float(value)


def _size(value: int, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise _invalid(name, value, f"an int ≥ {low} (or a strategy of such ints)")
    return int(value)


def _dim(value: int | st.SearchStrategy[int], name: str, low: int = 1) -> st.SearchStrategy[int]:
    """A size argument as a strategy: a plain int is checked now, a strategy's draws when
    they are drawn."""
    if isinstance(value, st.SearchStrategy):
        return value.map(lambda v: _size(v, name, low))
    return st.just(_size(value, name, low))


def _elements(value: st.SearchStrategy[float] | None, default: float) -> st.SearchStrategy:
    if value is None:
        return reals(default)
    if not isinstance(value, st.SearchStrategy):
        raise _invalid("elements", value, "a hypothesis strategy of floats, or None")
    return value


def reals(max_abs: float = 1e3) -> st.SearchStrategy[float]:
    """Finite floats in [−max_abs, max_abs], no subnormals (zero included).

    ``max_abs`` is a finite real number ≥ 2.2250738585072014e-308 (the smallest normal float,
    so that the range holds a non-zero normal value).

    For example:

    ```python
    @given(ost.reals(10.0))
    def test_abs_is_at_most_ten(v):
        assert abs(v) <= 10.0
    ```
    """
    max_abs = _real(max_abs, "max_abs", low=np.finfo(np.float64).tiny,
                    high=np.finfo(np.float64).max)
    return st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False)


def vectors(
    dim: int | st.SearchStrategy[int] = st.integers(1, 8),
    *,
    elements: st.SearchStrategy[float] | None = None,
    nonzero: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """1-D float64 arrays of length ``dim`` (an int ≥ 1 or a strategy of such ints) with
    entries from ``elements`` (default ``reals()``); ``nonzero`` (a bool) excludes the zero
    vector.

    For example:

    ```python
    @given(ost.vectors(3, nonzero=True))
    def test_normalised_has_unit_norm(v):
        assert abs(np.linalg.norm(v / np.linalg.norm(v)) - 1) <= 4 * np.finfo(float).eps
    ```
    """
    size = _dim(dim, "dim")
    elements = _elements(elements, 1e3)
    if not isinstance(nonzero, bool):
        raise _invalid("nonzero", nonzero, "a bool")
    strat = size.flatmap(lambda d: hnp.arrays(np.float64, (d,), elements=elements))
    return strat.filter(lambda v: bool(np.any(v != 0))) if nonzero else strat


def matrices(
    rows: int | st.SearchStrategy[int] = st.integers(1, 6),
    cols: int | st.SearchStrategy[int] = st.integers(1, 6),
    *,
    elements: st.SearchStrategy[float] | None = None,
) -> st.SearchStrategy[np.ndarray]:
    """Arbitrary rows×cols float64 matrices (each size an int ≥ 1 or a strategy of such
    ints) with entries from ``elements`` (default ``reals()``).

    For example:

    ```python
    @given(ost.matrices(st.integers(1, 4), 3, elements=ost.reals(10.0)))
    def test_transpose_twice(A):
        assert (A.T.T == A).all() and A.shape[1] == 3
    ```
    """
    rows_, cols_ = _dim(rows, "rows"), _dim(cols, "cols")
    elements = _elements(elements, 1e3)
    return st.tuples(rows_, cols_).flatmap(
        lambda rc: hnp.arrays(np.float64, rc, elements=elements))


@st.composite
def _full_rank(draw: Any, rows: st.SearchStrategy[int], cols: st.SearchStrategy[int],
               elements: st.SearchStrategy[float], min_pivot: float) -> np.ndarray:
    n, d = draw(rows), draw(cols)
    k = min(n, d)
    # L·U with unit-lower L and pivots bounded away from 0 is invertible in exact arithmetic;
    # [A | A·C] padded then column-permuted keeps the rank k for rectangular shapes.
    lower = np.tril(draw(hnp.arrays(np.float64, (k, k), elements=elements)), -1) + np.eye(k)
    upper = np.triu(draw(hnp.arrays(np.float64, (k, k), elements=elements)), 1)
    pivots = draw(hnp.arrays(np.float64, (k,), elements=st.floats(min_pivot, MAX_PIVOT)))
    signs = draw(hnp.arrays(np.int8, (k,), elements=st.sampled_from([-1, 1])))
    square = lower @ (upper + np.diag(pivots * signs))
    extra = draw(hnp.arrays(np.float64, (k, max(n, d) - k), elements=elements))
    wide = np.hstack([square, extra])
    perm = draw(st.permutations(range(max(n, d))))
    wide = wide[:, list(perm)]
    return wide if n <= d else wide.T


def full_rank_matrices(
    rows: int | st.SearchStrategy[int] = st.integers(1, 6),
    cols: int | st.SearchStrategy[int] = st.integers(1, 6),
    *,
    elements: st.SearchStrategy[float] | None = None,
    min_pivot: float = 1e-3,
) -> st.SearchStrategy[np.ndarray]:
    """rows×cols matrices of full rank min(rows, cols), built as permuted L·U products with
    pivots of magnitude in [``min_pivot``, 1e3] (``min_pivot`` a finite real in (0, 1e3];
    sizes ints ≥ 1 or strategies of such ints; entries of L, U and the padding from
    ``elements``, default ``reals(10.0)``). Rank is exact in rational arithmetic; the
    numerical conditioning varies widely, so checks should derive tolerances from it.

    For example:

    ```python
    import sympy

    @given(ost.full_rank_matrices(3, 5))
    def test_exact_rank_is_three(X):
        # rank in exact rational arithmetic: a float rank test would need X's conditioning
        exact = sympy.Matrix([[sympy.Rational(v) for v in row] for row in X.tolist()])
        assert exact.rank() == 3
    ```
    """
    rows_, cols_ = _dim(rows, "rows"), _dim(cols, "cols")
    elements = _elements(elements, 10.0)
    if isinstance(min_pivot, bool) or not isinstance(min_pivot, Real) or not (
            0 < min_pivot <= MAX_PIVOT):
        raise _invalid("min_pivot", min_pivot, f"a real number in (0, {MAX_PIVOT:g}]")
    return _full_rank(rows_, cols_, elements, float(min_pivot))


@st.composite
def _rank_deficient(draw: Any, rows: st.SearchStrategy[int], cols: st.SearchStrategy[int],
                    elements: st.SearchStrategy[float]) -> np.ndarray:
    n, d = draw(rows), draw(cols)
    r = draw(st.integers(0, min(n, d) - 1))
    left = draw(hnp.arrays(np.float64, (n, r), elements=elements))
    right = draw(hnp.arrays(np.float64, (r, d), elements=elements))
    return left @ right


def rank_deficient_matrices(
    rows: int | st.SearchStrategy[int] = st.integers(2, 6),
    cols: int | st.SearchStrategy[int] = st.integers(2, 6),
    *,
    elements: st.SearchStrategy[float] | None = None,
) -> st.SearchStrategy[np.ndarray]:
    """rows×cols matrices of rank < min(rows, cols) in exact arithmetic (a product of an n×r
    and an r×d factor with r < min(rows, cols); the zero matrix included). Sizes are ints ≥ 1
    or strategies of such ints (a size of 1 gives the zero matrix); factor entries come from
    ``elements``, default ``reals(10.0)``.

    For example:

    ```python
    @given(ost.rank_deficient_matrices(4, 4, elements=st.integers(-3, 3).map(float)))
    def test_singular_square_has_zero_determinant(A):
        # integer factors: the product is exact, so the determinant rounds to 0
        assert round(np.linalg.det(A)) == 0
    ```
    """
    rows_, cols_ = _dim(rows, "rows"), _dim(cols, "cols")
    return _rank_deficient(rows_, cols_, _elements(elements, 10.0))


#: Default condition-number range of ``spd_matrices``.
SPD_CONDITION = (1.0, 1e8)


@st.composite
def _householder_product(draw: Any, n: int) -> np.ndarray:
    """An orthogonal n×n matrix as a product of n Householder reflections, each from a drawn
    non-zero vector (orthogonal to rounding: every factor is)."""
    Q = np.eye(n)
    for _ in range(n):
        v = draw(vectors(n, elements=reals(1.0), nonzero=True))
        v = v / np.abs(v).max()  # exact, and the norm below cannot underflow
        v = v / np.linalg.norm(v)
        Q = Q - 2.0 * np.outer(Q @ v, v)
    return Q


@st.composite
def _spectral_spd(draw: Any, size: st.SearchStrategy[int], low: float, high: float,
                  dtype: Any) -> np.ndarray:
    n = draw(size)
    kappa = 1.0 if n == 1 else draw(st.floats(low, high))
    # smallest eigenvalue 1 and largest κ exactly; the rest log-uniform between them
    inner = draw(hnp.arrays(np.float64, (max(n - 2, 0),), elements=st.floats(0.0, 1.0)))
    lam = np.concatenate([[1.0], kappa ** inner, [kappa]])[:n] if n > 1 else np.ones(1)
    scale = draw(st.floats(1e-3, 1e3))
    Q = draw(_householder_product(n))
    A = (Q * (scale * lam)) @ Q.T
    return ((A + A.T) / 2).astype(dtype)


@st.composite
def _kernel_spd(draw: Any, size: st.SearchStrategy[int], dtype: Any) -> np.ndarray:
    n = draw(size)
    d = draw(st.integers(1, 4))
    X = draw(hnp.arrays(np.float64, (n, d), elements=st.floats(-3.0, 3.0)))
    # ⌈n/4⌉ rows moved next to another row: δ apart, δ ∈ [1e-9, 1e-3] (relative to the unit
    # length scale of the kernel), so K is positive definite in exact arithmetic whenever the
    # points are distinct, and as ill-conditioned as a kernel solver meets in practice
    for _ in range(-(-n // 4) if n > 1 else 0):
        i = draw(st.integers(0, n - 1))
        j = (i + 1 + draw(st.integers(0, n - 2))) % n
        direction = draw(vectors(d, elements=reals(1.0), nonzero=True))
        direction = direction / np.abs(direction).max()
        delta = draw(st.floats(1e-9, 1e-3))
        X[i] = X[j] + delta * direction / np.linalg.norm(direction)
    sq = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    return np.exp(-sq / 2).astype(dtype)


def spd_matrices(
    size: int | st.SearchStrategy[int] = st.integers(1, 8),
    *,
    dtype: Any = np.float64,
    condition: tuple[float, float] = SPD_CONDITION,
    near_duplicates: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Symmetric positive-definite size×size matrices (hypothesis ships none).

    By default A = s·Q·diag(λ)·Qᵀ: Q a product of drawn Householder reflections, λ_min = 1 and
    λ_max = κ exactly with κ drawn from ``condition`` = (low, high) (1 ≤ low ≤ high ≤ 1e12,
    so float64 can hold the spectrum: the realised κ(A) is within n·u·κ² of κ, relatively),
    the other eigenvalues log-uniform between them, s ∈ [1e-3, 1e3]; symmetrised exactly.

    With ``near_duplicates=True`` the matrix is an RBF kernel K_ij = exp(−‖x_i − x_j‖²/2) of
    points in R^1…R^4 of which ⌈size/4⌉ sit 1e-9…1e-3 from another point: positive definite
    in exact arithmetic when the points are distinct, and near singular in floating point —
    the matrices on which a kernel solver's Cholesky factor breaks down (``condition`` does
    not apply). Points may coincide exactly (then K is only semi-definite).

    ``size`` is an int ≥ 1 or a strategy of such ints; ``dtype`` float64 or float32 (the
    float64 matrix rounded; for float32 keep ``condition``'s high end below 1e5, where the
    rounding keeps A positive definite).

    For example:

    ```python
    @given(ost.spd_matrices(st.integers(1, 6), condition=(1.0, 1e6)))
    def test_cholesky_succeeds(A):
        L = np.linalg.cholesky(A)
        assert np.allclose(L @ L.T, A, rtol=1e-8, atol=0)
    ```
    """
    size_ = _dim(size, "size")
    if np.dtype(dtype) not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise _invalid("dtype", dtype, "numpy.float64 or numpy.float32")
    if not isinstance(near_duplicates, bool):
        raise _invalid("near_duplicates", near_duplicates, "a bool")
    if near_duplicates:
        if condition != SPD_CONDITION:
            raise _invalid("condition", condition, "the default when near_duplicates=True "
                           "(a kernel's conditioning follows from its points)")
        return _kernel_spd(size_, np.dtype(dtype))
    if not (isinstance(condition, tuple) and len(condition) == 2):
        raise _invalid("condition", condition, "a pair (low, high) with 1 ≤ low ≤ high ≤ 1e12")
    low = _real(condition[0], "condition[0]", low=1.0, high=1e12)
    high = _real(condition[1], "condition[1]", low=low, high=1e12)
    return _spectral_spd(size_, low, high, np.dtype(dtype))


IMAGE_KINDS = ("random", "smooth", "sparse", "tiny", "digit-like")
_SPARSE_ODDS = 10
_TINY_SCALE = 1e-150


def _smooth(draw: Any, h: int, w: int, c: int) -> np.ndarray:
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    f = draw(hnp.arrays(np.float64, (2, c), elements=st.floats(0.5, 3.0)))
    return np.stack([np.sin(np.pi * f[0, k] * yy) * np.cos(np.pi * f[1, k] * xx)
                     for k in range(c)], axis=-1)


def _sparse(draw: Any, h: int, w: int, c: int) -> np.ndarray:
    # each pixel non-zero with probability ~1/_SPARSE_ODDS (a uniform pick among that many
    # cases, one of them a value in [−1, 1]); a pick shrinks toward case 0, i.e. toward 0
    pixel = st.sampled_from(range(_SPARSE_ODDS)).flatmap(
        lambda i: st.floats(-1.0, 1.0) if i == _SPARSE_ODDS - 1 else st.just(0.0))
    return draw(hnp.arrays(np.float64, (h, w, c), elements=pixel))


def _digit_like(draw: Any, h: int, w: int, c: int) -> np.ndarray:
    img = np.zeros((h, w, c))
    for _ in range(draw(st.integers(1, 3))):
        r0, r1 = sorted(draw(st.tuples(st.integers(0, h - 1), st.integers(0, h - 1))))
        c0, c1 = sorted(draw(st.tuples(st.integers(0, w - 1), st.integers(0, w - 1))))
        img[r0:r1 + 1, c0, :] = 1.0
        img[r0, c0:c1 + 1, :] = 1.0
    return img


@st.composite
def _images(draw: Any, height: st.SearchStrategy[int], width: st.SearchStrategy[int],
            channels: st.SearchStrategy[int], kinds: tuple[str, ...]) -> np.ndarray:
    h, w, c = draw(height), draw(width), draw(channels)
    kind = draw(st.sampled_from(kinds))
    if kind == "random":
        return draw(hnp.arrays(np.float64, (h, w, c), elements=st.floats(-1, 1)))
    if kind == "smooth":
        return _smooth(draw, h, w, c)
    if kind == "sparse":
        return _sparse(draw, h, w, c)
    if kind == "tiny":
        return draw(hnp.arrays(np.float64, (h, w, c),
                               elements=st.floats(-1, 1).map(lambda v: v * _TINY_SCALE)))
    return _digit_like(draw, h, w, c)


def images(
    height: int | st.SearchStrategy[int] = st.integers(1, 12),
    width: int | st.SearchStrategy[int] = st.integers(1, 12),
    channels: int | st.SearchStrategy[int] = st.integers(1, 3),
    *,
    kinds: Sequence[str] = IMAGE_KINDS,
) -> st.SearchStrategy[np.ndarray]:
    """H×W×C float64 images (sizes ints ≥ 1 or strategies of such ints) of the given
    ``kinds``, a non-empty sequence of names from ``IMAGE_KINDS``: "random" pixels in
    [−1, 1], "smooth" sinusoids (frequencies in [0.5, 3] per axis and channel), "sparse"
    (each pixel non-zero with probability about 1/10, in [−1, 1]), "tiny" (magnitudes
    ≤ 1e−150), "digit-like" strokes of 1–3 L shapes. Pixel magnitudes are ≤ 1 for every
    kind.

    For example:

    ```python
    @given(ost.images(st.integers(3, 8), st.integers(3, 8), 1, kinds=("smooth", "sparse")))
    def test_pixels_are_bounded(img):
        assert img.ndim == 3 and np.abs(img).max() <= 1.0
    ```
    """
    h, w, c = _dim(height, "height"), _dim(width, "width"), _dim(channels, "channels")
    if isinstance(kinds, str) or not isinstance(kinds, Sequence) or not kinds:
        raise _invalid("kinds", kinds, f"a non-empty sequence of names from {IMAGE_KINDS}")
    bad = sorted({k for k in kinds if k not in IMAGE_KINDS}, key=str)
    if bad:
        raise _invalid("kinds", kinds, f"names from {IMAGE_KINDS}; unknown: {bad}")
    return _images(h, w, c, tuple(kinds))


def seeds() -> st.SearchStrategy[int]:
    """Integer seeds in [0, 2³² − 1] for ``numpy.random.default_rng`` — for code under test
    that takes a seed; to shrink well, draw the values themselves rather than a seed.

    For example:

    ```python
    @given(ost.seeds())
    def test_same_seed_same_draws(seed):
        a = np.random.default_rng(seed).random(3)
        assert (a == np.random.default_rng(seed).random(3)).all()
    ```
    """
    return st.integers(0, 2**32 - 1)


def step_size_schedules(
    max_lr: float = 1.0, total_steps: int | st.SearchStrategy[int] = st.integers(1, 1000)
) -> st.SearchStrategy[Constant | Stagewise]:
    """``Constant`` or ``Stagewise`` step-size schedules with base rate in
    [max_lr·1e−6, max_lr] (``max_lr`` a finite real ≥ 1e−290); a stagewise schedule has
    ``total_steps`` steps (an int ≥ 1 or a strategy of such ints), 1–4 milestones in
    [0.01, 0.99] and a decay factor in [0.01, 1].

    For example:

    ```python
    @given(ost.step_size_schedules(max_lr=0.5, total_steps=100))
    def test_rates_stay_positive_and_at_most_half(schedule):
        assert all(0 < schedule(t) <= 0.5 for t in range(100))
    ```
    """
    max_lr = _real(max_lr, "max_lr", low=MIN_MAX_LR, high=np.finfo(np.float64).max)
    lr = st.floats(max_lr * 1e-6, max_lr)
    constant = lr.map(Constant)
    stagewise = st.builds(
        Stagewise, lr=lr, total_steps=_dim(total_steps, "total_steps"),
        milestones=st.lists(st.floats(0.01, 0.99), min_size=1, max_size=4, unique=True)
        .map(lambda m: tuple(sorted(m))),
        factor=st.floats(0.01, 1.0))
    return st.one_of(constant, stagewise)
