"""The blocked in-place Cholesky (numerics.blocked_cholesky) against NumPy's float64 Cholesky,
a hand-placed breakdown, and the leading-dimension arithmetic of its BLAS calls."""

import numpy as np
import pytest
import scipy.linalg  # noqa: F401  (loads SciPy's BLAS before threadpool_limits is entered)
from threadpoolctl import threadpool_limits

from overparam.numerics.blocked_cholesky import (
    NotPositiveDefiniteError,
    blas_provenance,
    blocked_cholesky_in_place,
)


def spd(n, seed=0):
    """An RBF kernel matrix of n points in 12 dimensions (condition number ~1e3–1e4)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 12))
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / 2.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,block", [(300, 64), (129, 64), (257, 256), (50, 128), (1, 4)])
@pytest.mark.parametrize("threads", [1, 2])
def test_factor_matches_numpy_float64_cholesky(dtype, n, block, threads):
    K = spd(n, seed=n)
    A = np.asfortranarray(K.astype(dtype))
    with threadpool_limits(threads):
        blocked_cholesky_in_place(A, block=block)
    L = np.tril(A).astype(np.float64)
    ref = np.linalg.cholesky(K)  # LAPACK dpotrf on the whole float64 K
    u = np.finfo(dtype).eps / 2
    # backward error of a Cholesky factor (Higham, Thm 10.3): |LLᵀ − K| ≤ (n+1)u/(1−(n+1)u)
    # |L||Lᵀ| entrywise, plus the rounding of K itself to dtype (u|K|)
    bound = 2 * (n + 1) * u * (np.abs(L) @ np.abs(L).T) + u * np.abs(K)
    assert np.all(np.abs(L @ L.T - K) <= bound)
    # forward: ‖L − L*‖/‖L*‖ ≲ cond(K)·(n+1)·u
    cond = np.linalg.cond(K)
    assert np.linalg.norm(L - ref) / np.linalg.norm(ref) <= 4 * cond * (n + 1) * u
    # the strict upper part of the diagonal blocks is zeroed, the rest is never written
    A_upper = np.triu(A, 1)
    for k0 in range(0, n, block):
        k1 = min(n, k0 + block)
        assert not A_upper[k0:k1, k0:k1].any()
        assert np.array_equal(A_upper[k0:k1, k1:], np.triu(K.astype(dtype), 1)[k0:k1, k1:])


@pytest.mark.parametrize("bad", [0, 5, 63, 64, 65, 199])
def test_breakdown_is_reported_at_its_column(bad):
    # identity but for the 2×2 block [[1, 2], [2, 1]] at (bad−1, bad): positive definite
    # through column bad−1, pivot 1 − 4 = −3 at column bad (bad = 0: the first pivot is −1)
    n = 200
    K = np.eye(n)
    if bad == 0:
        K[0, 0] = -1.0
    else:
        K[bad - 1, bad] = K[bad, bad - 1] = 2.0
    A = np.asfortranarray(K.astype(np.float32))
    with pytest.raises(NotPositiveDefiniteError, match=f"order {bad + 1} of {n}") as err:
        blocked_cholesky_in_place(A, block=64)
    assert err.value.index == bad


def test_nan_is_a_breakdown_not_a_nan_factor():
    K = spd(100)
    K[70, 70] = np.nan
    A = np.asfortranarray(K.astype(np.float32))
    with pytest.raises(NotPositiveDefiniteError) as err:
        blocked_cholesky_in_place(A, block=32)
    assert err.value.index is not None and 64 <= err.value.index <= 70


def test_a_strided_view_is_refused_not_written_through_the_wrong_stride():
    # the BLAS calls take the leading dimension from A's shape: a view into a taller parent
    # (leading dimension 300, not 200) must be refused, never factored as if contiguous
    parent = np.asfortranarray(np.zeros((300, 200), dtype=np.float32))
    parent[:200] = spd(200).astype(np.float32)
    with pytest.raises(ValueError, match="Fortran-ordered"):
        blocked_cholesky_in_place(parent[:200])
    assert not parent[200:].any()


@pytest.mark.parametrize("A,match", [
    (np.zeros((3, 4), dtype=np.float32, order="F"), "square"),
    (np.arange(9, dtype=np.float32).reshape(3, 3), "Fortran-ordered"),
    (np.asfortranarray(np.eye(3, dtype=np.int64)), "float32 or float64"),
])
def test_bad_inputs(A, match):
    with pytest.raises(ValueError, match=match):
        blocked_cholesky_in_place(A)


def test_provenance_names_scipys_blas():
    info = blas_provenance()
    assert info["scipy"] and info["numpy"] == np.__version__
    assert info["blas"] and all(lib["version"] for lib in info["blas"])
