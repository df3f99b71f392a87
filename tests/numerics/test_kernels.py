import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from overparam.numerics.kernels import kernel_matrix, solve_kernel_system
from overparam.numerics.schedules import InverseTime


def test_kernel_matrix_blocks_match_a_direct_computation():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(37, 5)), rng.normal(size=(11, 5))
    tiny_budget = 8 * (2 * 11 + 5) * 3  # three rows per block
    d2 = cdist(A, B, "sqeuclidean")
    u = 2.0**-53
    # ‖a‖² + ‖b‖² − 2⟨a, b⟩ errs by ≤ 4(d + 2)u·(‖a‖² + ‖b‖²); exp(−γ·) passes γ× that on
    scale = (A * A).sum(1).max() + (B * B).sum(1).max()
    np.testing.assert_allclose(kernel_matrix(A, B, kind="rbf", gamma=0.3,
                                             memory_budget_bytes=tiny_budget),
                               np.exp(-0.3 * d2), atol=0.3 * 4 * (5 + 2) * u * scale + 4 * u)
    np.testing.assert_allclose(kernel_matrix(A, kind="linear", memory_budget_bytes=tiny_budget),
                               A @ A.T, atol=4 * (5 + 2) * u * (A * A).sum(1).max())


def test_cholesky_and_float32_refinement_match_scipy():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(300, 8))
    K = kernel_matrix(Z, kind="rbf", gamma=0.1)
    y = rng.normal(size=300)
    ref = scipy.linalg.solve(K, y, assume_a="pos")
    cond = np.linalg.cond(K)
    a64, i64 = solve_kernel_system(K, y)
    a32, i32 = solve_kernel_system(K, y, float32=True)
    assert i64.method == "cholesky" and i32.refinement_steps >= 1
    tol = 16 * 300 * 2**-53 * cond * np.linalg.norm(ref)
    assert np.linalg.norm(a64 - ref) <= tol
    assert np.linalg.norm(a32 - ref) <= tol


def test_singular_kernel_falls_back_and_says_so():
    Z = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    alpha, info = solve_kernel_system(kernel_matrix(Z, kind="rbf"), np.array([1.0, 2.0, 1.0]))
    assert info.method == "eigh-pinv" and info.dropped_eigenvalues == 1
    assert np.all(np.isfinite(alpha)) and info.relative_residual < 1e-12


def test_bad_kernel_inputs():
    with pytest.raises(ValueError, match="kind"):
        kernel_matrix(np.ones((2, 2)), kind="poly")
    with pytest.raises(ValueError, match="K, y"):
        solve_kernel_system(np.eye(3), np.ones(2))


def test_inverse_time_schedule():
    s = InverseTime(0.5, t0=10)
    assert [s(0), s(10), s(30)] == [0.5, 0.25, 0.125]
