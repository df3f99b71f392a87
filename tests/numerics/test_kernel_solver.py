"""The 60k-capable kernel solver (numerics.kernel_solver) against SciPy's float64 Cholesky on
systems small enough to hold in float64, with tolerances derived from the conditioning."""

import warnings

import numpy as np
import pytest
import scipy.linalg
from threadpoolctl import threadpool_limits

from overparam.numerics import kernel_solver as ks
from overparam.numerics.kernels import kernel_matrix

U64 = 2.0**-53


def data(n, d=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, size=(n, d))
    y = np.eye(10)[rng.integers(0, 10, n)]
    return X, y


def reference(X, y, gamma, ridge=0.0):
    """SciPy's float64 Cholesky solve on the whole K from numerics.kernels.kernel_matrix (a
    different implementation: row blocks of exp(−γ d²) with power-of-two scaling)."""
    K = kernel_matrix(X, X.copy(), kind="rbf", gamma=gamma) + ridge * np.eye(len(X))
    return K, scipy.linalg.cho_solve(scipy.linalg.cho_factor(K, lower=True), y)


@pytest.mark.parametrize("n", [500, 1200])
def test_float32_factor_with_refinement_matches_scipy_float64(n):
    X, y = data(n)
    gamma = 1.0 / X.shape[1]
    alpha, info = ks.solve_kernel_interpolation(X, y, gamma=gamma, progress=False,
                                                block_bytes=8 * n * 37)  # uneven panels
    K, ref = reference(X, y, gamma)
    res = np.linalg.norm(K @ alpha - y) / np.linalg.norm(y)
    res_ref = np.linalg.norm(K @ ref - y) / np.linalg.norm(y)
    # the residual recomputed here with an independent K agrees with the reported one up to
    # the rounding of K @ alpha: n·u·‖K‖‖α‖/‖y‖
    slack = n * U64 * np.linalg.norm(K, 2) * np.linalg.norm(alpha) / np.linalg.norm(y)
    assert info.converged and info.relative_residual <= 1e-6
    assert res <= 1e-6 + slack
    assert abs(res - info.relative_residual) <= slack
    # ‖α − α*‖ ≤ ‖K⁻¹‖ (‖Kα − y‖ + ‖Kα* − y‖), λ_min from an independent eigvalsh
    lam_min = scipy.linalg.eigvalsh(K, subset_by_index=[0, 0])[0]
    bound = (res + res_ref + 2 * slack) * np.linalg.norm(y) / lam_min
    assert np.linalg.norm(alpha - ref) <= bound
    # the norm √(αᵀKα) from the solver's last residual pass vs the reference solution's
    quad_ref = float(np.sum(ref * (K @ ref)))
    assert info.norm == pytest.approx(np.sqrt(quad_ref), rel=1e-5)
    assert info.factor_dtype == "float32"
    assert "float64" in info.residual_reference


def test_refinement_is_needed_and_counted():
    # γ = 0.2 in 20 dimensions: K's eigenvalues spread over ~1e5, so one float32 solve
    # leaves a residual of order u32·cond ≫ 1e-6 and refinement must run
    X, y = data(800, seed=1)
    gamma = 0.2
    K, _ = reference(X, y, gamma)
    lam = scipy.linalg.eigvalsh(K)
    assert lam[-1] / lam[0] > 1e4
    _, once = ks.solve_kernel_interpolation(X, y, gamma=gamma, max_refinement=0,
                                            progress=False)
    assert once.refinement_steps == 0 and not once.converged
    assert once.relative_residual > 1e-6
    _, info = ks.solve_kernel_interpolation(X, y, gamma=gamma, progress=False)
    h = info.residual_history
    assert info.converged and info.refinement_steps >= 1
    assert len(h) == info.refinement_steps + 1
    assert h[0] == pytest.approx(once.relative_residual, rel=1e-12)
    assert all(a > 1e-6 for a in h[:-1]) and h[-1] <= 1e-6
    assert all(b < a for a, b in zip(h, h[1:], strict=False))
    # with a float64 factor one solve already reaches the target: n·u64·cond ≪ 1e-6
    _, exact = ks.solve_kernel_interpolation(X, y, gamma=gamma, factor_dtype="float64",
                                             progress=False)
    assert exact.refinement_steps == 0 and exact.converged


def test_ridge_and_linear_kernel_and_vector_targets():
    X, y = data(300, d=400, seed=2)  # d > n: the linear kernel XXᵀ is positive definite
    alpha, info = ks.solve_kernel_interpolation(X, y[:, 3], kind="linear", progress=False)
    K = X @ X.T.copy()
    ref = np.linalg.solve(K, y[:, 3])
    assert alpha.shape == (300,)
    lam_min = np.linalg.eigvalsh(K)[0]
    assert np.linalg.norm(alpha - ref) <= 4 * 1e-6 * np.linalg.norm(y[:, 3]) / lam_min
    Xr, yr = data(400, seed=3)
    alpha, info = ks.solve_kernel_interpolation(Xr, yr, gamma=0.1, ridge=0.5, progress=False)
    K, ref = reference(Xr, yr, 0.1, ridge=0.5)
    assert info.converged
    # (K + λI) has λ_min ≥ 0.5: the bound on ‖α − α*‖ is tight
    assert np.linalg.norm(alpha - ref) <= 2e-6 * np.linalg.norm(yr) / 0.5
    Kp = K - 0.5 * np.eye(400)
    assert info.norm == pytest.approx(np.sqrt(np.sum(ref * (Kp @ ref))), rel=1e-5)


def test_predict_matches_the_full_kernel():
    X, y = data(300, seed=4)
    Xt, _ = data(70, seed=5)
    alpha = np.random.default_rng(6).normal(size=(300, 3))
    got = ks.kernel_predict(Xt, X, alpha, kind="rbf", gamma=0.2, block_bytes=8 * 300 * 9)
    want = kernel_matrix(Xt, X, kind="rbf", gamma=0.2) @ alpha
    # entries of K agree to ~d·u relative; the sum over 300 terms adds n·u·Σ|K||α|
    tol = 300 * 40 * U64 * np.abs(alpha).sum(axis=0).max()
    assert np.abs(got - want).max() <= tol
    assert ks.kernel_predict(Xt, X, alpha[:, 0], kind="rbf", gamma=0.2).shape == (70,)
    lin = ks.kernel_predict(Xt, X, alpha, kind="linear")
    want = (Xt @ X.T.copy()) @ alpha
    assert np.abs(lin - want).max() <= 300 * 20 * U64 * np.abs(Xt).sum(1).max() * np.abs(
        X).max() * np.abs(alpha).sum(axis=0).max()


def test_checkpoint_resume_recomputes_nothing(tmp_path, monkeypatch):
    X, y = data(400, seed=7)
    a1, i1 = ks.solve_kernel_interpolation(X, y, gamma=0.2, checkpoint_dir=tmp_path,
                                           progress=False)
    assert {p.name for p in tmp_path.iterdir()} >= {ks.FACTOR_FILE, ks.FACTOR_META,
                                                     ks.SOLUTION_FILE}
    calls = []
    real_factor, real_times = ks._factor_in_place, ks.kernel_times
    monkeypatch.setattr(ks, "_factor_in_place", lambda *a: calls.append("factor"))
    monkeypatch.setattr(ks, "kernel_times", lambda *a, **k: calls.append("residual"))
    a2, i2 = ks.solve_kernel_interpolation(X, y, gamma=0.2, checkpoint_dir=tmp_path,
                                           progress=False)
    assert calls == [] and i2.resumed == ["factor", "solution"]
    np.testing.assert_array_equal(a1, a2)
    assert i2.residual_history == i1.residual_history
    # interrupted after the factor: only the refinement runs again, to the same α
    (tmp_path / ks.SOLUTION_FILE).unlink()
    monkeypatch.setattr(ks, "kernel_times", real_times)
    a3, i3 = ks.solve_kernel_interpolation(X, y, gamma=0.2, checkpoint_dir=tmp_path,
                                           progress=False)
    assert calls == [] and i3.resumed == ["factor"]
    np.testing.assert_array_equal(a1, a3)
    # another bandwidth: the stored factor is not this system's and is recomputed
    monkeypatch.setattr(ks, "_factor_in_place", real_factor)
    _, i4 = ks.solve_kernel_interpolation(X, y, gamma=0.25, checkpoint_dir=tmp_path,
                                          progress=False)
    assert i4.resumed == []


def test_corrupt_factor_checkpoint_is_recomputed_with_a_warning(tmp_path):
    X, y = data(300, seed=8)
    a1, _ = ks.solve_kernel_interpolation(X, y, gamma=0.2, checkpoint_dir=tmp_path,
                                          progress=False)
    (tmp_path / ks.SOLUTION_FILE).unlink()
    raw = (tmp_path / ks.FACTOR_FILE).read_bytes()
    (tmp_path / ks.FACTOR_FILE).write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.warns(ks.FactorWarning, match="factor.npy"):
        a2, info = ks.solve_kernel_interpolation(X, y, gamma=0.2, checkpoint_dir=tmp_path,
                                                 progress=False)
    assert info.resumed == []
    np.testing.assert_array_equal(a1, a2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, again = ks.solve_kernel_interpolation(X, y, gamma=0.2, checkpoint_dir=tmp_path,
                                                 progress=False)
    assert again.resumed == ["factor", "solution"]


def bad(**kw):
    X, y = data(50, seed=9)
    args = {"X": X, "y": y, "gamma": 0.1, "progress": False, **kw}
    return ks.solve_kernel_interpolation(args.pop("X"), args.pop("y"), **args)


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"X": np.full((5, 3), np.nan)}, ValueError, "X: expected finite"),
    ({"X": np.ones(5)}, ValueError, "X: expected 2 dimensions"),
    ({"X": np.ones((5, 2), dtype=complex)}, TypeError, "X: expected a real"),
    ({"y": np.ones(49)}, ValueError, "y: expected 50 rows"),
    ({"y": np.zeros(50)}, ValueError, "y: expected a non-zero"),
    ({"kind": "poly"}, ValueError, "kind: expected one of"),
    ({"gamma": 0.0}, ValueError, "gamma: expected a value > 0"),
    ({"gamma": -1.0}, ValueError, "gamma"),
    ({"ridge": -1e-3}, ValueError, "ridge: expected a value >= 0"),
    ({"tol": 0.0}, ValueError, "tol"),
    ({"max_refinement": 1.5}, TypeError, "max_refinement: expected an integer"),
    ({"factor_dtype": "float16"}, ValueError, "factor_dtype"),
    ({"checkpoint_dir": "/nonexistent/dir"}, ValueError, "checkpoint_dir"),
])
def test_bad_inputs_name_the_argument(kw, exc, match):
    with pytest.raises(exc, match=match):
        bad(**kw)


def near_duplicates(t, n=300, d=20, seed=0):
    """Uniform points in [0, 1]^d with 5 pairs at squared distance ≈ t/γ (γ = 1/d): the RBF
    kernel is positive definite in float64 but nearly singular (λ_min ≪ t)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, d))
    gamma = 1.0 / d
    for k in range(5):
        X[2 * k + 1] = X[2 * k] + rng.normal(size=d) * np.sqrt(t / (gamma * d))
    return X, np.eye(10)[rng.integers(0, 10, n)], gamma


def check_solution(X, y, gamma, alpha, info):
    """The solver's claimed residual, recomputed from an independent float64 K."""
    K, _ = reference(X, y, gamma)
    res = np.linalg.norm(K @ alpha - y) / np.linalg.norm(y)
    slack = len(X) * U64 * np.linalg.norm(K, 2) * np.linalg.norm(alpha) / np.linalg.norm(y)
    assert info.converged and info.relative_residual <= 1e-6
    assert res <= 1e-6 + slack and abs(res - info.relative_residual) <= slack
    return K


def test_a_failing_float32_factor_falls_back_to_a_shift_and_conjugate_gradients():
    X, y, gamma = near_duplicates(1e-7)
    K, _ = reference(X, y, gamma)
    # independently: SciPy's float32 Cholesky of this K fails, its float64 one does not
    with pytest.raises(np.linalg.LinAlgError):
        scipy.linalg.cho_factor(K.astype(np.float32), lower=True)
    assert scipy.linalg.eigvalsh(K, subset_by_index=[0, 0])[0] > 0
    alpha, info = ks.solve_kernel_interpolation(X, y, gamma=gamma, progress=False)
    check_solution(X, y, gamma, alpha, info)
    # the first shift: n·u32·max diag(K) = 300 · 2⁻²⁴ · 1
    assert info.method == "pcg" and info.factor_attempts >= 2
    assert info.shift == pytest.approx(300 * 2.0**-24 * ks.SHIFT_FACTORS[info.factor_attempts - 2])


def test_a_shifted_factor_is_checkpointed_with_its_shift(tmp_path):
    X, y, gamma = near_duplicates(1e-7)
    _, first = ks.solve_kernel_interpolation(X, y, gamma=gamma, progress=False,
                                             checkpoint_dir=tmp_path)
    (tmp_path / ks.SOLUTION_FILE).unlink()  # keep the factor only: CG runs again on it
    alpha, again = ks.solve_kernel_interpolation(X, y, gamma=gamma, progress=False,
                                                 checkpoint_dir=tmp_path)
    assert again.resumed == ["factor"] and again.seconds["factor"] == 0.0
    assert (again.shift, again.factor_attempts, again.method) == (
        first.shift, first.factor_attempts, "pcg")
    check_solution(X, y, gamma, alpha, again)


def _refinement_diverges(t, seed):
    """The instance near_duplicates(t, seed=seed) when, independently (SciPy, float32), its
    float32 factor exists but one refinement step from the first solve increases the residual
    — refinement alone cannot reach 1e-6; None otherwise. Which t does this depends on the
    float32 rounding of this machine's BLAS (its kernels and thread count), so a few are
    tried."""
    X, y, gamma = near_duplicates(t, seed=seed)
    K, _ = reference(X, y, gamma)
    try:
        c = scipy.linalg.cho_factor(K.astype(np.float32), lower=True)
    except np.linalg.LinAlgError:
        return None

    def solve32(b):
        return scipy.linalg.cho_solve(c, b.astype(np.float32)).astype(np.float64)

    a0 = solve32(y)
    a1 = a0 + solve32(y - K @ a0)
    diverges = np.linalg.norm(y - K @ a1) > np.linalg.norm(y - K @ a0)
    return (X, y, gamma) if diverges else None


def test_refinement_that_stops_contracting_continues_with_conjugate_gradients():
    found = next((inst for t in (3e-6, 4e-6, 5e-6, 6e-6, 7e-6, 8e-6) for seed in range(4)
                  if (inst := _refinement_diverges(t, seed)) is not None), None)
    assert found is not None, "no near-duplicate kernel with a float32 factor whose " \
                              "refinement diverges on this machine"
    X, y, gamma = found
    alpha, info = ks.solve_kernel_interpolation(X, y, gamma=gamma, progress=False)
    check_solution(X, y, gamma, alpha, info)
    assert info.method == "refinement, then pcg" and info.shift == 0.0
    assert info.residual_history[1] > info.residual_history[0]


def test_singular_kernel_is_refused_not_nan():
    # a linear kernel on 60 points in 5 dimensions has rank 5: no float32 Cholesky exists
    X, y = data(60, d=5, seed=10)
    with pytest.raises(ValueError, match="not positive definite"):
        ks.solve_kernel_interpolation(X, y, kind="linear", progress=False)
    # with a ridge it is positive definite again, and solved
    _, info = ks.solve_kernel_interpolation(X, y, kind="linear", ridge=1.0, progress=False)
    assert info.converged


class _MatmulSpy(np.ndarray):
    """Records, for every ``a @ b`` on it, whether the operands share memory."""

    seen: list = []

    def __matmul__(self, other):
        _MatmulSpy.seen.append(np.shares_memory(self, other))
        return np.matmul(np.asarray(self), np.asarray(other))


@pytest.mark.parametrize("kind", ["rbf", "linear"])
def test_kernel_products_never_share_memory_with_x(kind):
    # the SYRK hazard: every GEMM multiplies X by a fresh array, never by a view of itself
    X, _ = data(64, seed=11)
    _MatmulSpy.seen = []
    K = ks.build_lower(X.view(_MatmulSpy), ks.squared_norms(X), kind=kind, gamma=0.3,
                       ridge=0.0, dtype=np.float64, block_bytes=8 * 64 * 10, progress=False,
                       threads=1)
    assert len(_MatmulSpy.seen) > 1 and not any(_MatmulSpy.seen)
    K = np.asarray(K)
    if kind == "linear":
        low = np.tril_indices(64)
        assert np.abs(K[low] - (X @ X.T.copy())[low]).max() <= 64 * 4 * U64 * (X * X).sum(1).max()
        return
    want = kernel_matrix(X, kind="rbf", gamma=0.3)
    low = np.tril_indices(64)
    assert np.abs(K[low] - want[low]).max() <= 40 * U64


def alpha_error_bound(K, y, alpha, ref, slack):
    """‖α − α*‖ ≤ ‖K⁻¹‖(‖Kα − y‖ + ‖Kα* − y‖) + rounding, λ_min from eigvalsh."""
    lam_min = scipy.linalg.eigvalsh(K, subset_by_index=[0, 0])[0]
    res = np.linalg.norm(K @ alpha - y) + np.linalg.norm(K @ ref - y)
    return (res + 2 * slack * np.linalg.norm(y)) / lam_min


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("instance", ["plain", "near-duplicates"])
def test_one_and_two_threads_give_scipys_float64_solution(threads, instance):
    # issue 26: the factor and the kernel passes at any thread count, including a K whose
    # unshifted float32 factor breaks down (near-duplicate points: shift + CG)
    if instance == "plain":
        X, y = data(2000, seed=21)
        gamma = 1.0 / X.shape[1]
    else:
        X, y, gamma = near_duplicates(1e-7)  # cond(K) 1.3e11; at n = 1500 (6e12) CG stalls
    with threadpool_limits(threads):
        alpha, info = ks.solve_kernel_interpolation(X, y, gamma=gamma, progress=False)
    assert info.threads == threads
    assert (info.method == "pcg") == (instance == "near-duplicates")
    K, ref = reference(X, y, gamma)
    slack = len(X) * U64 * np.linalg.norm(K, 2) * np.linalg.norm(alpha) / np.linalg.norm(y)
    check_solution(X, y, gamma, alpha, info)
    assert np.linalg.norm(alpha - ref) <= alpha_error_bound(K, y, alpha, ref, slack)
    assert info.blas["blas"] and info.factor_routine


def test_kernel_passes_agree_across_thread_counts():
    X, _ = data(900, seed=22)
    sq = ks.squared_norms(X)
    a = np.random.default_rng(3).normal(size=(900, 3))
    kw = dict(kind="rbf", gamma=0.05, ridge=0.1, block_bytes=8 * 900 * 40)
    one = ks.kernel_times(X, sq, a, threads=1, **kw)
    two = ks.kernel_times(X, sq, a, threads=2, **kw)
    K = kernel_matrix(X, X.copy(), kind="rbf", gamma=0.05) + 0.1 * np.eye(900)
    # summation order differs between the workers' partial sums: n·u·|K||a| apart at most
    tol = 900 * 4 * U64 * (np.abs(K) @ np.abs(a)).max()
    assert np.abs(one - K @ a).max() <= tol and np.abs(two - K @ a).max() <= tol
    L1 = ks.build_lower(X, sq, dtype=np.float32, threads=1, progress=False,
                        **{k: kw[k] for k in ("kind", "gamma", "ridge", "block_bytes")})
    L2 = ks.build_lower(X, sq, dtype=np.float32, threads=2, progress=False,
                        **{k: kw[k] for k in ("kind", "gamma", "ridge", "block_bytes")})
    low = np.tril_indices(900)
    assert np.array_equal(np.asarray(L1)[low], np.asarray(L2)[low])


def test_backward_error_is_the_factors_own(tmp_path):
    # recomputed from the checkpointed factor, the dense float64 K and the same probes
    X, y = data(600, seed=23)
    _, info = ks.solve_kernel_interpolation(X, y, gamma=0.05, progress=False,
                                            checkpoint_dir=tmp_path)
    L = np.tril(np.load(tmp_path / ks.FACTOR_FILE)).astype(np.float64)
    K = kernel_matrix(X, X.copy(), kind="rbf", gamma=0.05) + info.shift * np.eye(600)
    V = np.random.default_rng(600).standard_normal((600, ks.PROBES))
    want = (np.linalg.norm(K @ V - L @ (L.T @ V), axis=0) / np.linalg.norm(K @ V, axis=0)).max()
    assert info.factor_backward_error == pytest.approx(want, rel=1e-6)
    # a float32 factor's backward error: above float64 rounding, within (n+1)·u32·‖|L||Lᵀ|‖
    assert 1e-12 < info.factor_backward_error < 601 * 2.0**-24 * 10
