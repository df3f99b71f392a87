"""overparam.compare: each record against an independent computation (hand-written GD loops,
closed forms in their own formulas, direct patch extraction), the status rules, the tables
and the plot. Sizes are small: every call here trains in well under a second."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from overparam import compare

U = 2.0**-53


def test_ic_thm1_record_matches_a_hand_written_gd_and_the_projection_formula():
    rng = np.random.default_rng(1)
    d = 12
    X = rng.standard_normal(d)
    W0 = rng.standard_normal((d, d)) / math.sqrt(d)
    test = rng.standard_normal((5, d))
    rec = compare.ic_thm1(X, W0=W0, test=test)
    # IC Thm 1 in its own words: Π∥x + W0 Π⊥x
    par = np.outer(test @ X / (X @ X), X)
    expected = par + (test - par) @ W0.T
    assert np.abs(rec.predicted - expected).max() <= 64 * d * U * (1 + np.abs(expected).max())
    # plain GD on ½‖WX − X‖² with η = 1/‖X‖², written out here
    W = W0.copy()
    for _ in range(rec.steps):
        W -= np.outer(W @ X - X, X) / (X @ X)
    assert np.abs(rec.trained - test @ W.T).max() <= rec.tolerance
    assert rec.gap <= rec.tolerance and rec.status == "agrees"
    # the step given to the trainer: η × (1·d)/2 for the model's mean over d outputs
    assert rec.lr == pytest.approx(d / (2 * (X @ X)), rel=4 * U)
    assert "½‖·‖²" in rec.lr_rule and rec.bound is None


def test_ic_lemmas_pick_the_lemma_by_shape_and_fall_back_without_full_rank():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((3, 8)), rng.standard_normal((3, 2))
    W0, test = rng.standard_normal((8, 2)) / 3, rng.standard_normal((4, 8))
    rec = compare.ic_lemmas(X, Y, W0=W0, test=test)
    lemma1 = W0 + X.T @ np.linalg.solve(X @ X.T, Y - X @ W0)   # Lemma 1's formula
    assert rec.details["lemma"].startswith("Lemma 1")
    assert np.abs(rec.predicted - test @ lemma1).max() <= 1e-12 * np.abs(test @ lemma1).max()
    assert rec.status == "agrees" and rec.theorem == "ic.lemma1"
    assert rec.lr == pytest.approx(3 * 2 / (2 * np.linalg.norm(X, 2) ** 2), rel=1e-12)

    X2, Y2 = rng.standard_normal((10, 4)), rng.standard_normal(10)
    rec2 = compare.ic_lemmas(X2, Y2, test=test[:, :4])
    lemma2 = np.linalg.lstsq(X2, Y2, rcond=None)[0]            # (XᵀX)⁻¹XᵀY by QR/SVD
    assert rec2.details["lemma"].startswith("Lemma 2") and rec2.theorem == "ic.lemma2"
    assert np.abs(rec2.predicted[:, 0] - test[:, :4] @ lemma2).max() <= 1e-12 * 10
    assert rec2.status == "agrees"

    X3 = np.outer(rng.standard_normal(4), rng.standard_normal(6))   # rank 1
    rec3 = compare.ic_lemmas(X3, rng.standard_normal((4, 1)))
    assert "neither lemma" in rec3.details["lemma"] and rec3.details["rank"] == 1
    assert rec3.theorem == "ic.lemmas.general"
    assert rec3.gap <= rec3.tolerance


def _patch_matrix(image, k):
    """Same-padded k×k patches by sliding windows (independent of numerics.patches)."""
    lo = (k - 1) // 2
    pad = np.pad(image, ((lo, k - 1 - lo), (lo, k - 1 - lo), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(pad, (k, k), axis=(0, 1))
    return win.transpose(0, 1, 3, 4, 2).reshape(image.shape[0] * image.shape[1], -1)


def test_ic_thm2_learns_the_identity_when_n_is_zero_and_states_its_step():
    rng = np.random.default_rng(3)
    image, test = rng.random((7, 6, 1)), rng.uniform(-1, 1, (7, 6, 1))
    rec = compare.ic_thm2(image, 3, sigma=0.1, test=test)
    # a random image's 3×3 patches span R^9: r = m/C, n = 0, the identity is learned
    assert rec.details["n"] == 0 and rec.bound == 0.0
    assert np.abs(rec.trained - test).max() <= rec.tolerance
    assert rec.status == "agrees; within bound"
    s_max = np.linalg.norm(_patch_matrix(image, 3), 2)
    assert rec.lr == pytest.approx(image.size / (2 * s_max**2), rel=1e-12)


def test_ic_thm2_with_a_nullspace_stays_within_its_bound():
    rng = np.random.default_rng(4)
    image = rng.random((4, 4, 1))                 # 16 patches of length 25: n ≥ 9
    test = rng.uniform(-1, 1, image.shape)
    rec = compare.ic_thm2(image, 5, sigma=0.05, delta=0.05, test=test, seed=4,
                          method="heavy-ball")
    r = np.linalg.matrix_rank(_patch_matrix(image, 5))
    assert rec.details["r"] == r and rec.details["n"] == 25 - r > 0
    assert rec.details["B"] == np.abs(test).max()
    assert rec.empirical == pytest.approx(np.mean((rec.trained - test) ** 2), rel=1e-15)
    assert rec.bound > 0 and rec.status == "agrees; within bound"


def test_em_thm1_monte_carlo_agrees_with_the_exact_kernel_and_breaks_the_stated_bound():
    rec = compare.em_thm1([1.0], [-1.0], sigma=1.0, draws=4000, seed=5)
    exact = 0.5 * (math.exp(-2.0) - 1.0)          # ½(e^{−σ²‖x−x′‖²/2} − e^{−σ²‖x+x′‖²/2})
    assert rec.predicted[0] == pytest.approx(exact, rel=1e-14)
    assert rec.bound == pytest.approx(math.exp(-2.0), rel=1e-14)
    # |MC − exact| ≤ 4 s.e., and |E| = 0.432 > e^{-2} = 0.135 by far more than 4 s.e.
    assert rec.gap <= rec.tolerance
    assert rec.status == "agrees; exceeds bound"
    proved = compare.em_thm1_proved([1.0], [-1.0], sigma=1.0, draws=4000, seed=5)
    # collinear inputs: Δ = 0, the proved bound is h = 1
    assert proved.bound == 1.0 and proved.status == "agrees; within bound"


def test_em_thm1_with_h_units_scales_the_kernel_by_h():
    x, x2 = np.array([0.3, -0.2, 0.5]), np.array([0.1, 0.4, -0.3])
    rec = compare.em_thm1(x, x2, sigma=1.5, h=4, draws=3000, seed=6)
    a = 1.5**2 * np.sum((x - x2) ** 2) / 2
    b = 1.5**2 * np.sum((x + x2) ** 2) / 2
    assert rec.predicted[0] == pytest.approx(4 * (math.exp(-a) - math.exp(-b)) / 2, rel=1e-13)
    assert rec.gap <= rec.tolerance


def test_rr_min_norm_sgd_reaches_the_minimum_norm_solution():
    rng = np.random.default_rng(7)
    X, y, test = rng.standard_normal((4, 9)), rng.standard_normal(4), rng.standard_normal((3, 9))
    rec = compare.rr_min_norm_sgd(X, y, test=test)
    w_star = X.T @ np.linalg.solve(X @ X.T, y)      # Xᵀα with XXᵀα = y
    assert np.abs(rec.predicted - test @ w_star).max() <= 1e-12 * np.abs(test @ w_star).max()
    assert rec.gap <= rec.tolerance and rec.status == "agrees"
    assert rec.empirical <= 1e-8 and rec.steps == rec.params["epochs"] * 4
    assert rec.lr == pytest.approx(0.5 / np.max(np.sum(X * X, axis=1)), rel=1e-15)
    with pytest.raises(ValueError, match="X: expected full row rank"):
        compare.rr_min_norm_sgd(rng.standard_normal((6, 3)), rng.standard_normal(6))


def test_rr_thm1_network_fits_within_its_float_error_with_2n_plus_d_weights():
    rng = np.random.default_rng(8)
    Z, y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    rec = compare.rr_thm1(Z, y)
    assert rec.details["exact_fit"] is True
    assert rec.gap <= rec.tolerance and rec.status == "agrees; within bound"
    assert rec.bound == 2 * 30 + 4 == rec.empirical
    with pytest.raises(ValueError, match="Z: rows must be distinct"):
        compare.rr_thm1(np.vstack([Z, Z[:1]]), np.append(y, 0.0))


def _record(theorem="t", x=1.0, bound=1.0, empirical=0.5, gap=0.0, tolerance=1.0, lr=None,
            predicted=1.0):
    return compare.Comparison(
        theorem=theorem, where="w", params={"x": x}, predicted=np.array([predicted]),
        trained=np.array([predicted]), gap=gap, tolerance=tolerance, tolerance_rule="r",
        quantity="q|v", bound=bound, empirical=empirical, steps=1, training="sampled", lr=lr,
        lr_rule="")


def test_status_rules():
    assert _record().status == "agrees; within bound"
    assert _record(gap=2.0).status == "disagrees; within bound"
    assert _record(empirical=2.0).status == "agrees; exceeds bound"
    assert _record(bound=None).status == "agrees"
    # a training run whose tolerance is above 1% of its predictions says little
    assert _record(lr=0.1, tolerance=0.5, bound=None).status == "uninformative"


def test_tables_csv_markdown_and_dataframe():
    recs = [_record(x=v, empirical=v / 4) for v in (1.0, 2.0)]
    rows = list(csv.DictReader(io.StringIO(compare.to_csv(recs))))
    assert [float(r["x"]) for r in rows] == [1.0, 2.0]
    assert [float(r["empirical"]) for r in rows] == [0.25, 0.5]
    md = compare.to_markdown(recs).splitlines()
    assert len(md) == 4 and md[0].startswith("| theorem | x |")
    assert "q\\|v" in md[2]                          # a | inside a cell is escaped
    pd = pytest.importorskip("pandas")
    df = compare.to_dataframe(recs)
    assert isinstance(df, pd.DataFrame) and df.shape[0] == 2
    with pytest.raises(ValueError, match="records: expected at least one"):
        compare.to_csv([])
    with pytest.raises(TypeError, match="records: expected Comparison records"):
        compare.table([{"x": 1}])


def test_plot_uses_log_axes_only_where_values_span_decades(tmp_path):
    wide = [_record(x=10.0**k, bound=10.0**k, empirical=10.0 ** (k - 1)) for k in range(4)]
    fig = compare.plot(wide, x="x", path=tmp_path / "wide.png")
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert (tmp_path / "wide.png").stat().st_size > 0
    narrow = [_record(x=v, bound=1.0, empirical=0.5) for v in (1.0, 2.0, 3.0)]
    ax2 = compare.plot(narrow, x="x").axes[0]
    assert (ax2.get_xscale(), ax2.get_yscale()) == ("linear", "linear")
    assert len(ax2.get_lines()) == 2                 # bound and empirical
    with pytest.raises(ValueError, match="x: expected a parameter every record has"):
        compare.plot(narrow, x="sigma")


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="X: expected a non-zero"):
        compare.ic_thm1(np.zeros(3))
    with pytest.raises(ValueError, match="method"):
        compare.ic_thm1(np.ones(3), method="adam")
    with pytest.raises(ValueError, match="kernel"):
        compare.ic_thm2(np.ones((4, 4, 1)), 0)
    with pytest.raises(ValueError, match="delta"):
        compare.ic_thm2(np.ones((4, 4, 1)), 3, delta=1.5)
    with pytest.raises(ValueError, match="Y: expected 3 rows"):
        compare.ic_lemmas(np.ones((3, 4)), np.ones((2, 1)))
    with pytest.raises(ValueError, match="x2"):
        compare.em_thm1([1.0, 2.0], [1.0], sigma=1.0)
    with pytest.raises(ValueError, match="sigma"):
        compare.em_thm1([1.0], [1.0], sigma=-1.0)
    with pytest.raises(ValueError, match="W0"):
        compare.ic_thm1(np.ones(3), W0=np.ones((2, 2)))
