"""Hypothesis strategies for property-based tests of over-parameterization claims.

Public: import them into your own test suites, e.g.

    from hypothesis import given
    from overparam.verify import strategies as ost

    @given(ost.full_rank_matrices(rows=3, cols=5))
    def test_gram_is_invertible(X): ...

Every strategy yields float64 NumPy arrays (or plain Python values) with finite entries.
Elements default to ``ost.reals()``: finite floats in [-1e3, 1e3], zero and tiny magnitudes
included, subnormals excluded (they cannot carry a derived relative tolerance).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from overparam.numerics.schedules import Constant, Stagewise

__all__ = [
    "full_rank_matrices",
    "images",
    "matrices",
    "rank_deficient_matrices",
    "reals",
    "seeds",
    "step_size_schedules",
    "vectors",
]


def reals(max_abs: float = 1e3) -> st.SearchStrategy[float]:
    """Finite floats in [−max_abs, max_abs], no subnormals."""
    return st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False)


def _dim(value: int | st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def vectors(
    dim: int | st.SearchStrategy[int] = st.integers(1, 8),
    *,
    elements: st.SearchStrategy[float] | None = None,
    nonzero: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Vectors of length ``dim`` (an int or a strategy); ``nonzero`` excludes the zero vector."""
    elements = reals() if elements is None else elements
    strat = _dim(dim).flatmap(lambda d: hnp.arrays(np.float64, (d,), elements=elements))
    return strat.filter(lambda v: bool(np.any(v != 0))) if nonzero else strat


def matrices(
    rows: int | st.SearchStrategy[int] = st.integers(1, 6),
    cols: int | st.SearchStrategy[int] = st.integers(1, 6),
    *,
    elements: st.SearchStrategy[float] | None = None,
) -> st.SearchStrategy[np.ndarray]:
    """Arbitrary rows×cols matrices."""
    elements = reals() if elements is None else elements
    return st.tuples(_dim(rows), _dim(cols)).flatmap(
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
    pivots = draw(hnp.arrays(np.float64, (k,), elements=st.floats(min_pivot, 1e3)))
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
    pivots of magnitude ≥ ``min_pivot``. Rank is exact in rational arithmetic; the numerical
    conditioning varies widely, so checks should derive tolerances from it."""
    elements = reals(10.0) if elements is None else elements
    return _full_rank(_dim(rows), _dim(cols), elements, min_pivot)


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
    and an r×d factor with r < min(rows, cols); the zero matrix included)."""
    elements = reals(10.0) if elements is None else elements
    return _rank_deficient(_dim(rows), _dim(cols), elements)


IMAGE_KINDS = ("random", "smooth", "sparse", "tiny", "digit-like")


@st.composite
def _images(draw: Any, height: st.SearchStrategy[int], width: st.SearchStrategy[int],
            channels: st.SearchStrategy[int], kinds: tuple[str, ...]) -> np.ndarray:
    h, w, c = draw(height), draw(width), draw(channels)
    kind = draw(st.sampled_from(kinds))
    seed = draw(seeds())
    rng = np.random.default_rng(seed)
    if kind == "random":
        return draw(hnp.arrays(np.float64, (h, w, c), elements=st.floats(-1, 1)))
    if kind == "smooth":
        yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
        f = rng.uniform(0.5, 3, size=(2, c))
        return np.stack([np.sin(np.pi * f[0, k] * yy) * np.cos(np.pi * f[1, k] * xx)
                         for k in range(c)], axis=-1)
    if kind == "sparse":
        img = np.zeros((h, w, c))
        mask = rng.random((h, w, c)) < 0.1
        img[mask] = rng.uniform(-1, 1, size=int(mask.sum()))
        return img
    if kind == "tiny":
        return rng.uniform(-1, 1, size=(h, w, c)) * 1e-150
    img = np.zeros((h, w, c))
    for _ in range(int(rng.integers(1, 4))):
        r0, r1 = sorted(rng.integers(0, h, size=2))
        c0, c1 = sorted(rng.integers(0, w, size=2))
        img[r0:r1 + 1, c0, :] = 1.0
        img[r0, c0:c1 + 1, :] = 1.0
    return img


def images(
    height: int | st.SearchStrategy[int] = st.integers(1, 12),
    width: int | st.SearchStrategy[int] = st.integers(1, 12),
    channels: int | st.SearchStrategy[int] = st.integers(1, 3),
    *,
    kinds: tuple[str, ...] = IMAGE_KINDS,
) -> st.SearchStrategy[np.ndarray]:
    """H×W×C images of the given ``kinds``: "random" pixels in [−1, 1], "smooth" sinusoids,
    "sparse" (~10% non-zero), "tiny" (magnitudes ~1e−150), "digit-like" strokes. Pixel
    magnitudes are ≤ 1 for every kind."""
    bad = set(kinds) - set(IMAGE_KINDS)
    if bad:
        raise ValueError(f"kinds: unknown {sorted(bad)}; expected some of {IMAGE_KINDS}")
    return _images(_dim(height), _dim(width), _dim(channels), tuple(kinds))


def seeds() -> st.SearchStrategy[int]:
    """Integer seeds for ``numpy.random.default_rng``."""
    return st.integers(0, 2**32 - 1)


def step_size_schedules(
    max_lr: float = 1.0, total_steps: int | st.SearchStrategy[int] = st.integers(1, 1000)
) -> st.SearchStrategy[Constant | Stagewise]:
    """Constant or stagewise step-size schedules with base rate in (0, max_lr]."""
    lr = st.floats(max_lr * 1e-6, max_lr, exclude_min=False)
    constant = lr.map(Constant)
    stagewise = st.builds(
        Stagewise, lr=lr, total_steps=_dim(total_steps),
        milestones=st.lists(st.floats(0.01, 0.99), min_size=1, max_size=4, unique=True)
        .map(lambda m: tuple(sorted(m))),
        factor=st.floats(0.01, 1.0))
    return st.one_of(constant, stagewise)
