"""rr.kernel and rr.randomization on the experiment protocol: smoke presets, resume, the
features against independent computations, and test labels that are never corrupted."""

import dataclasses
import importlib.util
import json
import math
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import convolve2d

from overparam.common.outputs import check_output_set
from overparam.experiments import datasets, rr_kernel, rr_randomization
from overparam.experiments.datasets import per_image_standardization
from overparam.experiments.protocol import reproduce
from overparam.experiments.registry import get_experiment
from overparam.experiments.runner import point_key

sys.path.insert(0, str(Path(__file__).parent))
from sweep_points import check_phase_timing  # noqa: E402

U = 2.0**-53


def counting(experiment, calls):
    def compute(point, scratch=None):
        calls.append(point_key(point))
        return experiment.compute_point(point, scratch)

    return dataclasses.replace(experiment, compute_point=compute)


def untimed(value):
    """A result without its wall-clock timings (the only thing a recomputation changes)."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items()
                if "seconds" not in k and k != "phases"}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def check_resume(experiment, out, first):
    """Remove one finished point: only it is computed again, the rest are read back."""
    victim = sorted((out / "points").glob("*.json"))[0]
    lost = json.loads(victim.read_text())["key"]
    victim.unlink()
    calls = []
    again = reproduce(counting(experiment, calls), out, preset="smoke", progress=False)
    assert calls == [lost]
    assert [untimed(r["result"]) for r in again["points"]] == [
        untimed(r["result"]) for r in first["points"]]
    calls.clear()
    reproduce(counting(experiment, calls), out, preset="smoke", progress=False)
    assert calls == []


def test_kernel_smoke_interpolates_and_resumes(tmp_path):
    calls = []
    out = reproduce(counting(rr_kernel.EXPERIMENT, calls), tmp_path, preset="smoke",
                    progress=False)
    cfg = rr_kernel.PRESETS["smoke"]
    # Table 3's rows, the ridge sweep, the same ridges on the validation split, the controls
    assert len(calls) == (len(cfg["rows"]) + len([r for r in cfg["ridges"] if r > 0])
                          + len(cfg["ridges"]) + 1)
    assert set(check_output_set(tmp_path)["files"]) == {
        "results.json", "results.csv", "summary.md", "ridge.png"}
    # the solver's phases for the solves, and the controls' kernel work and measurements
    check_phase_timing(tmp_path, {"kernel", "factor", "solve", "residual", "checkpoint",
                                  "backward_error", "measurements"})
    for row in out["points"]:
        p, res = row["point"], row["result"]
        if p["part"] == "controls":
            for name in ("min_norm", "random_centres", "random_test_labels"):
                assert res[name]["residual"] <= 1e-6
            assert res["random_test_labels"]["error_on_forced_points"] > 0.5
            continue
        if "skipped" in res:
            # the Gabor row needs the optional scikit-image; skipped (and said) only without it
            assert p["row"] == "gabor" and importlib.util.find_spec("skimage") is None
            continue
        assert res["solver"]["relative_residual"] <= 1e-6
        # an interpolant reproduces its training labels; a ridge of 1 on a kernel whose
        # diagonal is 1 need not
        if p["ridge"] == 0:
            assert res["train_error"] == 0.0
        assert 0.0 <= res["test_error"] < 0.9  # better than chance on 300 test images
    text = out["summary"]
    for needle in ("Table 3", "Ridge sweep", "random centres", "1.2 %", "≈ 220", "≈ 390",
                   "float64 kernel"):
        assert needle in text
    assert "nan" not in text.lower()
    check_resume(rr_kernel.EXPERIMENT, tmp_path, out)


def test_gabor_features_match_direct_convolution():
    pytest.importorskip("skimage", reason="the Gabor row needs overparam[data] (scikit-image)")
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(2, 784))
    got = rr_kernel.gabor_features(X)
    bank = rr_kernel.gabor_bank()
    assert got.shape == (2, len(bank) * 196)
    for i in range(2):
        img = X[i].reshape(28, 28)
        want = []
        for g in bank:
            mag = np.abs(convolve2d(img, g, mode="same"))  # direct sum, not FFT
            want.append(mag.reshape(14, 2, 14, 2).mean(axis=(1, 3)).ravel())
        # FFT vs direct: both sum ≤ 28·28 products of |g| ≤ 1 and pixels ≤ 1, the FFT with
        # O(log N) rounding per term
        np.testing.assert_allclose(got[i], np.concatenate(want), rtol=0, atol=1e-11)


def test_random_fourier_features_approximate_the_rbf_kernel():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, size=(6, 10))
    gamma, D = 0.3, 40000
    F = rr_kernel.random_fourier_features(X, D, gamma, seed=0)
    d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    K = np.exp(-gamma * d2)
    # each entry is a mean of D terms 2cos(·)cos(·) of variance ≤ 1 (≤ 2 on the diagonal):
    # 5 standard errors √(2/D)
    assert np.abs(F @ F.T - K).max() <= 5 * math.sqrt(2 / D)


def test_randomization_smoke_runs_and_resumes(tmp_path):
    calls = []
    out = reproduce(counting(rr_randomization.EXPERIMENT, calls), tmp_path, preset="smoke",
                    progress=False)
    assert len(calls) == len(rr_randomization.points("smoke", 0, "numpy"))
    assert set(check_output_set(tmp_path)["files"]) == {
        "results.json", "results.csv", "summary.md", "fig1.png"}
    check_phase_timing(tmp_path, {"training", "measurements"})
    for row in out["points"]:
        res = row["result"]
        assert res["status"] in ("fitted", "epoch cap", "diverged")
        h = res["history"]
        assert [e["step"] for e in h] == [k * res["steps_per_epoch"] for k in range(len(h))]
        if res["status"] == "fitted":
            assert h[-1]["train_acc"] >= rr_randomization.FIT_THRESHOLD
            assert res["fit_step"] == h[-1]["step"]
        else:
            assert res["fit_step"] is None
    text = out["summary"]
    for needle in ("Table 1", "53.35", "50.51", "lost in text extraction", "Test labels are "
                   "the dataset's own"):
        assert needle in text
    check_resume(rr_randomization.EXPERIMENT, tmp_path, out)


def test_a_fitted_network_records_its_step(tmp_path, monkeypatch):
    # 16 images are fitted by a 32-unit MLP within a few epochs
    cfg = dict(rr_randomization.PRESETS["smoke"], n_train=16, batch=8, max_epochs=200)
    monkeypatch.setitem(rr_randomization.PRESETS, "smoke", cfg)
    point = {"arch": "1x512", "seed": 0, "preset": "smoke", "backend": "numpy",
             "condition": "random labels", "corruption": 1.0, "weight_decay": False}
    res = rr_randomization.train_point(point, tmp_path)
    assert res["status"] == "fitted" and res["train_acc"] == 1.0
    assert res["fit_step"] == res["epochs"] * 2 and res["fit_step"] > 0
    assert all(e["train_acc"] < 1.0 for e in res["history"][:-1])


@pytest.mark.parametrize("condition,p", [("random labels", 1.0), ("corrupted labels", 0.4),
                                         ("true labels", 0.0)])
def test_test_labels_are_never_corrupted(condition, p):
    cfg = {"n_train": 1000, "n_test": 500}
    point = {"seed": 3, "condition": condition, "corruption": p}
    d = rr_randomization.prepare(point, cfg)
    # every returned test image, looked up among all 10,000 standardised test images (an
    # independent load), carries the dataset's own label
    images, labels = datasets.load_fashion_mnist("test")
    table = {row.tobytes(): int(lab) for row, lab in zip(
        per_image_standardization(images.reshape(len(images), -1) / 255.0), labels,
        strict=True)}
    assert [table[row.tobytes()] for row in d["X_test"]] == d["y_test"].tolist()
    # the training labels are corrupted as stated: a label is redrawn with probability p
    # and the redraw differs from it with probability 9/10; 4 binomial standard errors
    q = 0.9 * p
    assert abs(d["corrupted"].mean() - q) <= 4 * math.sqrt(max(q * (1 - q), 1e-9) / 1000)
    assert np.array_equal(d["y"] != d["y_true"], d["corrupted"])


def test_pixel_conditions_change_train_and_test_alike():
    cfg = {"n_train": 50, "n_test": 40}
    base = rr_randomization.prepare({"seed": 0, "condition": "true labels"}, cfg)
    shuf = rr_randomization.prepare({"seed": 0, "condition": "shuffled pixels"}, cfg)
    # one permutation for all images: sorting each row undoes it
    np.testing.assert_allclose(np.sort(shuf["X"], axis=1), np.sort(base["X"], axis=1))
    np.testing.assert_allclose(np.sort(shuf["X_test"], axis=1), np.sort(base["X_test"], axis=1))
    gauss = rr_randomization.prepare({"seed": 0, "condition": "gaussian"}, cfg)
    assert np.array_equal(gauss["y_test"], base["y_test"])
    assert np.abs(gauss["X"].mean(axis=1)).max() <= 1e-12 * 784  # standardised per image


def _fake_cifar10(root, n_per_batch, seed=0):
    """CIFAR-10's python format: six pickled batches of (N, 3072) channel-major pixels."""
    rng = np.random.default_rng(seed)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n_per_batch)]}
        with open(root / name, "wb") as fh:
            pickle.dump(batch, fh)
        batches[name] = batch
    return batches


def test_cifar10_when_supplied_is_centre_cropped_to_28(tmp_path, monkeypatch):
    batches = _fake_cifar10(tmp_path, 12)
    monkeypatch.setenv(rr_randomization.CIFAR10_ENV, str(tmp_path))
    pts = rr_randomization.points("smoke", 0, "numpy")
    assert {(p["dataset"], p["data_dir"]) for p in pts} == {("cifar-10", str(tmp_path))}
    d = rr_randomization.prepare(pts[0], {"n_train": 60, "n_test": 12})
    assert d["image_shape"] == (28, 28, 3) and d["X"].shape == (60, 2352)
    # by hand: every training pixel, the rows and columns 2..29 of each 32×32 plane (RR App. A)
    raw = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    crops = raw.reshape(60, 3, 32, 32)[:, :, 2:30, 2:30].transpose(0, 2, 3, 1)
    # the same arithmetic on the same pixels in the same order: bit for bit
    np.testing.assert_array_equal(d["X"], per_image_standardization(crops / 255.0))
    assert d["y_test"].tolist() == batches["test_batch"][b"labels"]


def test_randomization_runs_on_a_supplied_cifar10_with_the_cnn(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    _fake_cifar10(data, 8)
    monkeypatch.setenv(rr_randomization.CIFAR10_ENV, str(data))
    out = reproduce(rr_randomization.EXPERIMENT, tmp_path / "out", preset="smoke",
                    progress=False)
    cnn = [r["result"] for r in out["points"] if r["point"]["arch"] == "cnn"]
    c = rr_randomization.PRESETS["smoke"]["channels"]
    # two 5×5 convolutions (3 → c → c maps) and a dense layer on the 28·28·c flattened maps
    assert cnn and all(r["params"] == 25 * 3 * c + 25 * c * c + 28 * 28 * c * 10 + 10
                       for r in cnn)
    assert all(r["n_train"] == 40 and r["n_test"] == 8 for r in cnn)
    text = out["summary"]
    assert "CIFAR-10 (centre crops 28×28×3)" in text and "small AlexNet" in text
    assert "this run uses Fashion-MNIST" not in text
    meta = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert meta["dataset"] == "cifar-10"


def test_registry_finds_both():
    assert get_experiment("rr.kernel") is rr_kernel.EXPERIMENT
    assert get_experiment("rr.randomization") is rr_randomization.EXPERIMENT


def test_full_run_writes_its_summary_and_removes_its_checkpoint(tmp_path):
    res = rr_kernel.full_run(tmp_path / "out", n_train=300, checkpoint_dir=tmp_path / "ck")
    assert res["solver"]["relative_residual"] <= 1e-6
    # ‖Kα − Y‖_F ≤ 1e-6·√300 < 1/2: every training row's argmax is its label
    assert res["train_error"] == 0.0 and res["train_deviation_bound"] < 0.5
    assert 0.0 < res["test_error"] < 0.9 and res["n_test"] == 10000
    assert res["peak_rss_bytes"] > 0
    text = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "against the float64 kernel" in text and "RR, MNIST: 1.2 %" in text
    assert json.loads((tmp_path / "out" / "results.json").read_text())["norm"] == res["norm"]
    assert not (tmp_path / "ck").exists()


def test_an_interrupted_network_continues_from_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(rr_randomization, "CHECKPOINT_SECONDS", 0.0)  # every step
    point = {"arch": "1x512", "seed": 1, "preset": "smoke", "backend": "numpy",
             "condition": "random labels", "corruption": 1.0, "weight_decay": True}
    for name in "ab":
        (tmp_path / name).mkdir()  # the runner gives every point its scratch folder
    real = rr_randomization._evaluate
    count = {"n": 0, "stop": None}

    def counting_eval(*args):
        count["n"] += 1
        if count["n"] == count["stop"]:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(rr_randomization, "_evaluate", counting_eval)
    whole = rr_randomization.train_point(point, tmp_path / "a")
    calls_whole = count["n"]
    # evaluations: epoch 0 train + test, epoch 1 train (test every 2 epochs), epoch 2 train,
    # then its test: interrupted there, after the step-(2·per_epoch − 1) checkpoint
    count.update(n=0, stop=5)
    with pytest.raises(KeyboardInterrupt):
        rr_randomization.train_point(point, tmp_path / "b")
    assert (tmp_path / "b" / "train.npz").exists()
    count.update(n=0, stop=None)
    resumed = rr_randomization.train_point(point, tmp_path / "b")
    assert untimed(resumed) == untimed(whole)
    # epochs 0 and 1 (three evaluations) were not recomputed: training continued
    assert count["n"] == calls_whole - 3


def test_paired_gain_by_hand():
    def res(bits):
        return {"n_test": len(bits), "test_correct_hex": np.packbits(
            np.array(bits, dtype=bool)).tobytes().hex()}

    base, other = res([1, 1, 0, 0, 1]), res([1, 0, 1, 1, 1])
    gain, se = rr_kernel.paired_gain(base, other)
    # errors 2/5 and 1/5; b = 1 image only base gets right, c = 2 only other gets right
    assert gain == pytest.approx(0.2, abs=1e-15)
    assert se == pytest.approx(math.sqrt(3 - 1 / 5) / 5, rel=1e-15)
