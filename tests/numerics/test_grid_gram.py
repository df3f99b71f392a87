"""Exact RBF blocks of grid data (numerics.grid_gram) against integer arithmetic, and the kernel
solver's grid path against its float64 path and SciPy."""

import numpy as np
import pytest
import scipy.linalg

from overparam.numerics import grid_gram as gg
from overparam.numerics import kernel_solver as ks
from overparam.numerics.kernels import kernel_matrix

GRID = 1.0 / 255.0


def pixels(n, d=784, seed=0, top=255):
    """Images as integer levels 0…top (half of them saturated at top, as bright pixels are)
    and their float64 form /255."""
    rng = np.random.default_rng(seed)
    P = rng.integers(0, top + 1, size=(n, d))
    P[:, : d // 2] = np.where(rng.random((n, d // 2)) < 0.5, top, P[:, : d // 2])
    return P, P / 255.0


def exact_block(Pa, Pb, gamma):
    """exp(−γ·grid²·‖p − q‖²) from int64 arithmetic (exact distances)."""
    d2 = (Pa * Pa).sum(1)[:, None] + (Pb * Pb).sum(1)[None, :] - 2 * (Pa @ Pb.T)
    return np.exp(d2.astype(np.float64) * (-gamma * GRID * GRID))


def test_blocks_are_exact_where_one_float32_gemm_is_not():
    P, X = pixels(300)
    rows = gg.grid_rows(X, GRID)
    # each feature centred midway (0…255: 127, |p − 127| ≤ 128): 784·128² ≈ 1.3e7 ≤ 2²⁴,
    # one chunk
    assert np.array_equal(rows.layout.centre, (P.min(0) + P.max(0)) // 2)
    assert gg.chunk_bounds(rows) == [(0, 784)]
    gamma = 0.0147
    got = gg.grid_rbf_block(rows, 10, 200, rows, 0, 120, gamma)
    want = exact_block(P[10:200], P[0:120], gamma)
    assert np.array_equal(got, want)  # the same float64 argument, the same exp
    # independently: a single float32 GEMM of the raw levels over all 784 features loses
    # integers (784·255² ≈ 5.1e7 > 2²⁴)
    one = P[:50].astype(np.float32) @ P[:50].astype(np.float32).T
    assert not np.array_equal(one.astype(np.int64), P[:50] @ P[:50].T)


@pytest.mark.parametrize("d, chunks", [(2000, 2), (4000, 4)])
def test_blocks_over_several_chunks_are_exact(d, chunks):
    # 2000 centred features of 128² ≈ 3.3e7 > 2²⁴: the chunks' sums are combined in float64
    P, X = pixels(120, d=d, seed=1)
    rows = gg.grid_rows(X, GRID)
    assert len(rows.chunks) == chunks
    for f0, f1 in gg.chunk_bounds(rows):
        centred = P[:, f0:f1] - rows.layout.centre[f0:f1]
        assert (centred.astype(np.float64) ** 2).max(axis=0).sum() <= gg.EXACT_FLOAT32
    gamma = 2e-4
    got = gg.grid_rbf_block(rows, 0, 70, rows, 30, 120, gamma)
    assert np.array_equal(got, exact_block(P[:70], P[30:120], gamma))


def test_the_centre_follows_each_features_range():
    # levels 100…255 in one feature, 0…9 in another, constant 40 in a third
    rng = np.random.default_rng(2)
    P = np.stack([rng.integers(100, 256, 50), rng.integers(0, 10, 50), np.full(50, 40)], 1)
    P[0] = [100, 0, 40]
    P[1] = [255, 9, 40]
    layout = gg.grid_layout(GRID, {"X": P / 255.0})
    assert layout.centre.tolist() == [177.0, 4.0, 40.0]
    rows = gg.grid_rows(P / 255.0, GRID, layout=layout)
    assert np.array_equal(rows.sq, ((P - [177, 4, 40]) ** 2).sum(1).astype(np.float64))
    assert np.array_equal(gg.grid_rbf_block(rows, 0, 50, rows, 0, 50, 1.0),
                          exact_block(P, P, 1.0))


def test_chunks_are_cut_at_the_float32_limit():
    m = np.full(10, 2.0**22)  # four features per chunk: 4 · 2²² = 2²⁴
    assert gg.feature_chunks(m) == [(0, 4), (4, 8), (8, 10)]
    assert gg.feature_chunks(np.array([2.0**24, 1.0])) == [(0, 1), (1, 2)]


def test_data_off_the_grid_or_beyond_float32_is_refused():
    _, X = pixels(20, d=30)
    with pytest.raises(ValueError, match="X: expected entries on the grid"):
        gg.grid_rows(X + 1e-4, GRID)
    wide = np.array([[0.0, 0.0], [8192.0, 1.0]])
    gg.grid_rows(wide, 1.0)  # centred on 4096: 4096² = 2²⁴, still exact
    with pytest.raises(ValueError, match="X: a feature spans 8193 grid steps, beyond float32"):
        gg.grid_rows(wide + [[0.0, 0.0], [1.0, 0.0]], 1.0)
    rows = gg.grid_rows(X, GRID)
    with pytest.raises(ValueError, match="X_new: larger values"):
        gg.grid_rows(X * 40, GRID, "X_new", layout=rows.layout)
    other = gg.grid_rows(X[:, ::-1].copy(), GRID)
    with pytest.raises(ValueError, match="different layouts"):
        gg.grid_rbf_block(rows, 0, 5, other, 0, 5, 1.0)


def test_solver_on_the_grid_matches_scipy_and_the_float64_path():
    _, X = pixels(900, d=196, seed=3)
    y = np.eye(10)[np.random.default_rng(4).integers(0, 10, 900)]
    gamma = ks.bandwidth_rule(X)
    a_grid, info = ks.solve_kernel_interpolation(X, y, gamma=gamma, grid=GRID, progress=False)
    a_f64, _ = ks.solve_kernel_interpolation(X, y, gamma=gamma, progress=False)
    assert info.converged and "exact float32" in info.kernel_gemm
    K = kernel_matrix(X, X.copy(), kind="rbf", gamma=gamma)
    ref = scipy.linalg.cho_solve(scipy.linalg.cho_factor(K, lower=True), y)
    lam_min = scipy.linalg.eigvalsh(K, subset_by_index=[0, 0])[0]
    # both residuals ≤ 1e-6‖y‖ against K (up to K's own rounding, n·u·‖K‖‖α‖)
    slack = 900 * 2.0**-53 * np.linalg.norm(K, 2) * np.linalg.norm(a_grid)
    for a in (a_grid, a_f64):
        res = np.linalg.norm(K @ a - y)
        assert res <= 1e-6 * np.linalg.norm(y) + slack
        assert np.linalg.norm(a - ref) <= (res + np.linalg.norm(K @ ref - y) + slack) / lam_min
    Xt = pixels(50, d=196, seed=5)[1]
    p_grid = ks.kernel_predict(Xt, X, a_grid, kind="rbf", gamma=gamma, grid=GRID)
    p_f64 = ks.kernel_predict(Xt, X, a_grid, kind="rbf", gamma=gamma)
    # the two forms of K(X_t, X) differ by the float64 GEMM's cancellation, u·‖x‖²·γ per entry
    tol = 200 * 2.0**-53 * gamma * 2 * (X * X).sum(1).max() * np.abs(a_grid).sum(0).max()
    assert np.abs(p_grid - p_f64).max() <= tol


def test_predictions_on_test_data_brighter_than_the_training_data_stay_exact():
    # dim training images (levels ≤ 30, centred on 15) and bright test images (levels to 255,
    # 240 from that centre): the centre and chunks must be chosen for both, or the test
    # side's products overflow float32's exact integers (the full run at 300 training images
    # met this with uncentred chunks)
    rng = np.random.default_rng(7)
    P = rng.integers(0, 31, size=(200, 784))
    Pt = rng.integers(0, 256, size=(40, 784))
    alpha = rng.normal(size=(200, 3))
    gamma = 1e-2
    got = ks.kernel_predict(Pt / 255.0, P / 255.0, alpha, kind="rbf", gamma=gamma, grid=GRID)
    want = exact_block(Pt, P, gamma) @ alpha
    # the same exact entries; only the product with α is summed in another order
    tol = 200 * 4 * 2.0**-53 * (np.abs(exact_block(Pt, P, gamma)) @ np.abs(alpha)).max()
    assert np.abs(got - want).max() <= tol
    assert gg.grid_layout(GRID, {"X": P / 255.0}).centre.max() == 15.0
    both = gg.grid_layout(GRID, {"X": P / 255.0, "X_new": Pt / 255.0})
    lo = np.minimum(P.min(0), Pt.min(0))
    assert np.array_equal(both.centre, (lo + np.maximum(P.max(0), Pt.max(0))) // 2)
    assert both.bounds == ((0, 784),)
    with pytest.raises(ValueError, match="X_new: larger values"):
        gg.grid_rows(Pt / 255.0, GRID, "X_new", layout=gg.grid_layout(GRID, {"X": P / 255.0}))
