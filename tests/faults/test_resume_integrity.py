"""--resume never trusts a file by its name: point files and checkpoints that are truncated,
empty, garbage, tampered or another point's give a warning naming the file, and the point is
computed again — never used silently, never a traceback."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from overparam.cli import main
from overparam.experiments.runner import ResumeWarning, point_key, run_sweep

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
from sweep_points import computed, install_tiny_experiment, noisy_square  # noqa: E402


def pts(log):
    return [{"x": x, "seed": 10 + x, "log": str(log)} for x in range(4)]


def damage(path: Path, how: str, other: Path) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 20)
    elif how == "foreign":
        path.write_bytes(other.read_bytes())  # another point's (valid) file
    elif how == "tampered":
        record = json.loads(data)
        record["result"]["value"] += 1.0  # valid JSON, right point, wrong number
        path.write_text(json.dumps(record), encoding="utf-8")
    elif how == "old-format":
        record = json.loads(data)
        path.write_text(json.dumps({"point": record["point"], "result": record["result"]}),
                        encoding="utf-8")
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage", "foreign", "tampered",
                                 "old-format"])
def test_a_bad_point_file_is_named_and_its_point_recomputed(tmp_path, how):
    log, out = tmp_path / "log", tmp_path / "out"
    first = run_sweep(pts(log), noisy_square, out, progress=False)
    folder = out / "points"
    bad = folder / f"{point_key(pts(log)[2])}.json"
    damage(bad, how, other=folder / f"{point_key(pts(log)[0])}.json")
    with pytest.warns(ResumeWarning, match=str(bad)):
        again = run_sweep(pts(log), noisy_square, out, progress=False)
    assert computed(log) == [0, 1, 2, 3, 2]  # only the damaged point ran again
    assert again == first
    assert json.loads(bad.read_text(encoding="utf-8"))["point"] == pts(log)[2]  # rewritten


def test_reproduce_resume_with_a_truncated_point_file_warns_in_one_line(tmp_path, monkeypatch,
                                                                        capsys):
    log = install_tiny_experiment(tmp_path, monkeypatch)
    out = tmp_path / "out"
    args = ["reproduce", "tiny.squares", "--preset", "smoke", "--out", str(out)]
    assert main(args) == 0
    before = (out / "results.json").read_bytes()
    bad = sorted((out / "points").glob("*.json"))[0]
    bad.write_bytes(bad.read_bytes()[:25])
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    warnings_shown = [line for line in capsys.readouterr().err.splitlines()
                      if line.startswith("overparam: warning:")]
    assert len(warnings_shown) == 1 and str(bad) in warnings_shown[0]
    assert "computed again" in warnings_shown[0]
    assert len(computed(log)) == 3 + 1
    after = json.loads((out / "results.json").read_bytes())
    assert after["points"] == json.loads(before)["points"]


def test_another_points_checkpoint_in_a_scratch_is_named_and_training_starts_afresh(
        tmp_path, monkeypatch):
    """End to end in ic.fcn-depth, on a 20-step smoke preset to stay fast (truncated, empty,
    garbage and tampered checkpoints: tests/numerics/test_checkpoint.py)."""
    from overparam.experiments import fcn_depth
    from overparam.numerics.checkpoint import CheckpointWarning, save_training_state

    monkeypatch.setitem(fcn_depth.PRESETS, "smoke",
                        {**fcn_depth.PRESETS["smoke"], "steps": 20, "rhos": [0.0]})
    point = fcn_depth.points("smoke", 0, "numpy")[1]  # depth 2: no Thm 1 comparison
    clean = fcn_depth.compute_point(point)
    ckpt = tmp_path / "train.npz"
    # a well-formed checkpoint of the right shapes, but another point's (key) and far along
    model = fcn_depth.network(point["depth"], 784, fcn_depth.PRESETS["smoke"]["hidden"],
                              point["activation"])
    params = {name: np.full(s, 0.5) for name, s in model.param_shapes((784,)).items()}
    save_training_state(ckpt, {"params": params, "state": {}, "losses": np.ones(3),
                               "lrs": np.ones(2)},
                        {"step": 100, "initial_loss": 1.0, "max_param_norm": 1.0,
                         "max_update_norm": 1.0}, key="another point")
    with pytest.warns(CheckpointWarning, match=str(ckpt)):
        result = fcn_depth.compute_point(point, scratch=tmp_path)
    # the phases are this call's own seconds, not part of what the point computes
    assert {k: v for k, v in result.items() if k != "phases"} == \
        {k: v for k, v in clean.items() if k != "phases"}
