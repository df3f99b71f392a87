import dataclasses
import json
import math

import numpy as np
import pytest

from overparam.common.outputs import check_output_set
from overparam.experiments import em_relu_scale, em_scale, em_sin_scale
from overparam.experiments.protocol import reproduce
from overparam.experiments.registry import get_experiment

U = 2.0**-53


def counting(experiment, calls):
    """The experiment with a compute_point that records every point it computes (the serial
    executor calls it in this process, so nothing needs pickling)."""

    def compute(point, scratch=None):
        calls.append(point["sigma"])
        return experiment.compute_point(point, scratch)

    return dataclasses.replace(experiment, compute_point=compute)


def untimed(result):
    return {k: v for k, v in result.items() if k not in ("seconds", "phases")}


def test_sin_smoke_runs_serially_and_resume_recomputes_no_finished_point(tmp_path):
    calls = []
    a = reproduce(counting(em_sin_scale.EXPERIMENT, calls), tmp_path / "a", preset="smoke",
                  progress=False)
    assert sorted(calls) == sorted(em_sin_scale.PRESETS["smoke"]["sigmas"])
    assert set(check_output_set(tmp_path / "a")["files"]) == {
        "results.json", "results.csv", "fig1.png", "fig2.png", "summary.md"}
    text = a["summary"]
    for needle in ("Where this differs from the paper", "Spearman", "chance band",
                   "Exact sin-kernel interpolant", "streaming Ω_in-class", "all agree"):
        assert needle in text
    assert "nan" not in text.lower()
    for row in a["points"]:
        res = row["result"]
        assert res["status"] in ("fitted", "epoch cap", "diverged")
        assert [h["epoch"] for h in res["history"]] == list(range(res["epochs"] + 1))
        for which in ("check_initial", "check_final"):
            assert res[which]["grad"]["agree"] and res[which]["rep"]["agree"]
        assert 0.0 <= res["kernel_test_acc"] <= 1.0
    # an interrupted sweep: one point's file lost, the rest finished
    victim = sorted((tmp_path / "a" / "points").glob("*.json"))[0]
    lost = json.loads(victim.read_text())["point"]["sigma"]
    victim.unlink()
    calls.clear()
    b = reproduce(counting(em_sin_scale.EXPERIMENT, calls), tmp_path / "a", preset="smoke",
                  progress=False)
    assert calls == [lost]  # only the lost point ran again
    # the recomputed point is the same but for its timings
    assert [untimed(r["result"]) for r in b["points"]] == \
        [untimed(r["result"]) for r in a["points"]]
    calls.clear()
    reproduce(counting(em_sin_scale.EXPERIMENT, calls), tmp_path / "a", preset="smoke",
              progress=False)
    assert calls == []


def test_relu_smoke_runs_every_loss(tmp_path):
    calls = []
    out = reproduce(counting(em_relu_scale.EXPERIMENT, calls), tmp_path, preset="smoke",
                    progress=False)
    grids = em_relu_scale.PRESETS["smoke"]["sigmas"]
    assert len(calls) == sum(len(v) for v in grids.values())
    assert {r["point"]["loss"] for r in out["points"]} == set(em_relu_scale.LOSSES)
    assert {r["point"]["hidden"] for r in out["points"] if r["point"]["loss"] == "squared"} \
        == {em_relu_scale.PRESETS["smoke"]["hidden_squared"]}
    assert "curves_squared.png" in check_output_set(tmp_path)["files"]
    assert "kernel_test_acc" not in out["points"][0]["result"]  # the kernel is sin's
    calls.clear()
    reproduce(counting(em_relu_scale.EXPERIMENT, calls), tmp_path, preset="smoke",
              progress=False)
    assert calls == []


def test_registry_finds_both_reproductions():
    assert get_experiment("em.sin-scale") is em_sin_scale.EXPERIMENT
    assert get_experiment("em.relu-scale") is em_relu_scale.EXPERIMENT


def direct_sin_kernel(a, b, sigma):
    """E sin(w·a) sin(w·b), w ~ N(0, σ²I), from the product-to-sum identity and the Gaussian
    characteristic function, element by element in plain Python."""
    d2 = sum((p - q) ** 2 for p, q in zip(a, b, strict=True))
    s2 = sum((p + q) ** 2 for p, q in zip(a, b, strict=True))
    return 0.5 * (math.exp(-sigma**2 * d2 / 2) - math.exp(-sigma**2 * s2 / 2))


def test_kernel_interpolant_on_three_points_matches_a_hand_solve():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3, 4))
    Y = np.eye(3)
    t = rng.normal(size=(2, 4))
    sigma = 0.7
    K = np.array([[direct_sin_kernel(a, b, sigma) for b in X] for a in X])
    k_test = np.array([[direct_sin_kernel(a, b, sigma) for b in X] for a in t])
    expected = k_test @ np.linalg.solve(K, Y)
    train_pred, test_pred, info = em_scale.kernel_interpolant(X, Y, t, sigma)
    # both solves are backward stable: relative error ≤ c·n·cond(K)·u; c = 10 covers the
    # kernel entries' own rounding (a few u each, amplified by the same cond(K))
    cond = np.linalg.cond(K)
    tol = 10 * 3 * cond * U * np.abs(expected).max()
    assert np.abs(test_pred - expected).max() <= tol
    assert np.abs(train_pred - Y).max() <= 10 * 3 * cond * U  # it interpolates
    assert info.method == "cholesky"
    # the plane embedding hands sin_kernel the same pairs: equal to the direct formula
    direct = np.array([[direct_sin_kernel(a, b, 3.0) for b in X] for a in t])
    assert np.abs(em_scale.sin_kernel_matrix(t, X, 3.0) - direct).max() <= 64 * U


def tiny_point(**kw):
    point = {"sigma": 0.05, "activation": "sin", "loss": "softmax_ce", "hidden": 64,
             "seed": 0, "preset": "smoke", "backend": "numpy", "dataset": "fashion-mnist",
             "data_dir": ""}
    return {**point, **kw}


def test_a_point_interrupted_inside_training_continues_from_its_checkpoint(tmp_path,
                                                                           monkeypatch):
    cfg = {"n_train": 64, "n_test": 50, "batch": 16, "lr": 0.01, "max_epochs": 3,
           "dtype": "float32", "kernel": 0}
    fresh = em_scale.train_point(tiny_point(), cfg)
    monkeypatch.setattr(em_scale, "CHECKPOINT_SECONDS", 0.0)  # a checkpoint every step
    steps = []
    real_train = em_scale.train

    def stop_after_five(params, loss_and_grad, *args, **kw):
        def counted(p, idx):
            steps.append(1)
            if len(steps) > 6:  # the initial evaluation, then 5 steps: killed mid-epoch 2
                raise KeyboardInterrupt
            return loss_and_grad(p, idx)
        return real_train(params, counted, *args, **kw)

    monkeypatch.setattr(em_scale, "train", stop_after_five)
    with pytest.raises(KeyboardInterrupt):
        em_scale.train_point(tiny_point(), cfg, tmp_path)
    assert (tmp_path / "train.npz").exists()
    steps.clear()

    def counting_train(params, loss_and_grad, *args, **kw):
        def counted(p, idx):
            steps.append(1)
            return loss_and_grad(p, idx)
        return real_train(params, counted, *args, **kw)

    monkeypatch.setattr(em_scale, "train", counting_train)
    resumed = em_scale.train_point(tiny_point(), cfg, tmp_path)
    # 3 epochs of 4 steps: from the step-5 checkpoint, one evaluation there and 7 more steps
    # (a fresh start would take 1 + 12)
    assert len(steps) == 1 + 7
    # the interrupted run ends exactly where an uninterrupted one did (but for its timings)
    assert untimed(resumed) == untimed(fresh)


def test_divergence_is_reported_as_one():
    cfg = {"n_train": 64, "n_test": 50, "batch": 16, "lr": 0.01, "max_epochs": 3,
           "dtype": "float32", "kernel": 0}
    res = em_scale.train_point(tiny_point(activation="relu", loss="squared", sigma=1000.0),
                               cfg)
    assert res["status"] == "diverged" and res["diverged_at_step"] >= 1
    assert all(math.isfinite(h["train_loss"]) for h in res["history"])
    assert em_scale.status_text(res).startswith("diverged at step")


def test_shared_numbers():
    # 1/10 + 3·√(0.1·0.9/900) = 0.1 + 3·0.01
    assert em_scale.chance_band(900) == pytest.approx(0.13, abs=1e-15)
    assert em_scale.chance_sigma([0.1, 1, 10], [0.5, 0.11, 0.1], 0.13) == 1
    assert em_scale.chance_sigma([0.1, 1, 10], [0.5, 0.11, 0.2], 0.13) is None
    # exact p by hand: of the 4! = 24 pairings, ρ = ±1 are 2 of them; |ρ| ≥ 0.8 are those
    # two plus the three adjacent swaps of each (ρ = 1 − 6·2/60 = 0.8), 8 in all
    rho, p = em_scale.spearman([1, 2, 3, 4], [10, 20, 30, 40])
    assert rho == pytest.approx(1.0) and p == pytest.approx(2 / 24)
    rho, p = em_scale.spearman([1, 2, 3, 4], [1, 3, 2, 4])
    assert rho == pytest.approx(0.8) and p == pytest.approx(8 / 24)
    assert em_scale.spearman([1, 2], [3, 4]) == (None, None)
    with pytest.raises(ValueError, match="n_test"):
        em_scale.chance_band(0)
    with pytest.raises(ValueError, match="sigmas, accs"):
        em_scale.chance_sigma([0.1, 1], [0.5], 0.13)
    with pytest.raises(ValueError, match="a, b"):
        em_scale.spearman([1, 2, 3], [1, 2])


def test_a_user_dataset_needs_its_directory(monkeypatch):
    monkeypatch.setenv("OVERPARAM_EM_DATASET", "cifar10")
    monkeypatch.delenv("OVERPARAM_EM_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="OVERPARAM_EM_DATA_DIR"):
        em_sin_scale.points("smoke", 0, "numpy")
    monkeypatch.setenv("OVERPARAM_EM_DATASET", "svhn")
    with pytest.raises(ValueError, match="OVERPARAM_EM_DATASET"):
        em_relu_scale.points("smoke", 0, "numpy")


def test_paper_presets_are_ems_settings():
    """EM App. C, by hand from the text: SGD lr 0.01, batch 256, h = 1024 (2048 for the
    squared loss); σ ∈ {1e-3, …, 10} in the authors' code."""
    for preset in (em_sin_scale.PRESETS["paper"], em_relu_scale.PRESETS["paper"]):
        assert (preset["lr"], preset["batch"], preset["hidden"]) == (0.01, 256, 1024)
    assert em_relu_scale.PRESETS["paper"]["hidden_squared"] == 2048
    assert em_sin_scale.PRESETS["paper"]["sigmas"] == [1e-3, 1e-2, 0.1, 1.0, 10.0]
    squared = em_relu_scale.PRESETS["paper"]["sigmas"]["squared"]
    assert all(b == pytest.approx(2 * a) for a, b in zip(squared, squared[1:], strict=False))
