import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from overparam.numerics.kernels import kernel_matrix, solve_kernel_system
from overparam.numerics.schedules import InverseTime
from overparam.verify import strategies as ost


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


def test_non_symmetric_or_indefinite_kernels_are_refused():
    # Cholesky reads one triangle only: a non-symmetric K used to give the α of another matrix
    K = np.array([[2.0, 1.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match="^K: expected a symmetric matrix"):
        solve_kernel_system(K, np.ones(2))
    # eigenvalues 3 and −1: the pseudo-inverse used to drop −1 and return a wrong α
    K = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="^K: expected a positive semi-definite matrix"):
        solve_kernel_system(K, np.ones(2))
    with pytest.raises(ValueError, match="^K: expected a positive semi-definite matrix"):
        solve_kernel_system(K, np.ones(2), float32=True)
    # asymmetry at the rounding level of a computed kernel is accepted
    Z = np.random.default_rng(2).normal(size=(5, 3))
    Kr = kernel_matrix(Z, kind="rbf", gamma=0.5)
    Kr[0, 1] *= 1 + 1e-12
    alpha, info = solve_kernel_system(Kr, np.ones(5))
    assert info.method == "cholesky" and info.relative_residual < 1e-10


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "rbf", "gamma": -0.5}, r"^gamma: expected a value >= 0"),
    ({"kind": "rbf", "gamma": float("nan")}, r"^gamma: expected a number, got NaN"),
    ({"kind": "linear", "memory_budget_bytes": 0}, r"^memory_budget_bytes: expected a value"),
])
def test_kernel_parameters_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kernel_matrix(np.ones((2, 2)), **kwargs)


def test_rbf_with_gamma_zero_is_all_ones():
    np.testing.assert_array_equal(kernel_matrix(np.eye(3), kind="rbf", gamma=0.0),
                                  np.ones((3, 3)))


def test_residuals_of_huge_right_hand_sides_are_not_nan():
    # ‖y‖ for entries 7.7e153 overflowed numpy's norm (the squares), giving inf/inf = NaN
    alpha, info = solve_kernel_system(np.zeros((3, 3)), np.full(3, 7.7e153))
    assert np.array_equal(alpha, np.zeros(3)) and info.relative_residual == 1.0
    alpha, info = solve_kernel_system(np.eye(3), np.full(3, 1.7e308))
    assert np.array_equal(alpha, np.full(3, 1.7e308)) and info.relative_residual == 0.0


def test_a_solution_beyond_float64_is_refused():
    # α = 7e8 / 4e-300 ≈ 1.8e308 along the one kept eigenvector: not representable
    K = np.diag([3.97e-300, 0.0, 0.0])
    with pytest.raises(ValueError, match="^y: the minimum-norm solution α exceeds"):
        solve_kernel_system(K, np.full(3, 7.2e8))


@given(ost.spd_matrices(st.integers(1, 40), condition=(1.0, 1e8)),
       st.integers(0, 2**32 - 1))
def test_solve_matches_scipy_within_the_conditioning_bound(K, seed):
    y = np.random.default_rng(seed).normal(size=len(K))
    alpha, info = solve_kernel_system(K, y)
    ref = scipy.linalg.solve(K, y, assume_a="pos")
    # both backward stable: ‖α − α*‖ ≤ 2·16n·u·κ(K)·‖α*‖ (κ from an independent eigvalsh)
    lam = scipy.linalg.eigvalsh(K)
    bound = 32 * len(K) * 2.0**-53 * lam[-1] / lam[0] * np.linalg.norm(ref)
    assert np.linalg.norm(alpha - ref) <= bound


@given(ost.spd_matrices(st.integers(2, 40), near_duplicates=True))
def test_near_duplicate_kernels_are_solved_or_refused_never_nan(K):
    y = np.linspace(-1.0, 1.0, len(K))
    try:
        alpha, info = solve_kernel_system(K, y)
    except ValueError as exc:  # a K singular at float64 precision is refused by name
        assert "K" in str(exc)
        return
    assert np.all(np.isfinite(alpha))
    # the solution's residual is within the backward-stable bound, or the eigendecomposition
    # fallback dropped the near-null directions and says so
    if info.method == "eigh-pinv":
        assert info.dropped_eigenvalues > 0
    else:
        res = np.linalg.norm(K @ alpha - y)
        assert res <= 16 * len(K) * 2.0**-53 * np.linalg.norm(K) * np.linalg.norm(alpha)
