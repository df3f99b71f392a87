"""Checkpoint files: a round trip is exact, and every file that is not this run's intact
checkpoint (truncated, empty, garbage, tampered, another run's) is refused by name."""

import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest

from overparam.numerics.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointWarning,
    load_training_state,
    save_training_state,
)

PARAMS = {"W0": np.arange(6.0).reshape(2, 3), "b": np.array([0.5, -1.25])}


def tree():
    return {"params": PARAMS, "state": {"v": {"W0": np.ones((2, 3))}},
            "losses": np.array([3.0, 2.0]), "lrs": np.array([0.1])}


def saved(tmp_path, key="point-a"):
    path = tmp_path / "c.npz"
    save_training_state(path, tree(), {"step": 7}, key=key)
    return path


def test_round_trip_is_exact_and_the_file_is_readable_by_the_team(tmp_path):
    path = saved(tmp_path)
    got, meta = load_training_state(path, PARAMS, key="point-a")
    assert meta == {"step": 7}
    for name, value in PARAMS.items():
        assert np.array_equal(got["params"][name], value)
    assert np.array_equal(got["state"]["v"]["W0"], np.ones((2, 3)))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "zip-without-header"])
def test_unreadable_files_are_refused_by_name(tmp_path, damage):
    path = saved(tmp_path)
    data = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    else:
        np.savez(path, W0=np.zeros((2, 3)))
    with pytest.raises(CheckpointError, match=str(path)):
        load_training_state(path, PARAMS)


def test_a_tampered_array_fails_the_checksum(tmp_path):
    path = saved(tmp_path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["params/W0"] = arrays["params/W0"] + 1.0  # same names and shapes, other values
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="checksum"):
        load_training_state(path, PARAMS)


def test_another_runs_checkpoint_is_refused(tmp_path):
    path = saved(tmp_path, key="point-a")
    with pytest.raises(CheckpointError, match="point-b"):
        load_training_state(path, PARAMS, key="point-b")
    # lenient: a file recording no key is accepted, one recording another key is not
    unkeyed = tmp_path / "u.npz"
    save_training_state(unkeyed, tree(), {"step": 1})
    load_training_state(unkeyed, PARAMS, key="point-b", lenient_key=True)
    with pytest.raises(CheckpointError):
        load_training_state(path, PARAMS, key="point-b", lenient_key=True)


def test_checkpoint_load_warns_names_the_file_and_starts_afresh(tmp_path):
    path = saved(tmp_path, key="point-a")
    ckpt = Checkpoint(path, key="point-a")
    assert ckpt.load(PARAMS)[1] == {"step": 7}
    path.write_bytes(b"\0" * 100)
    with pytest.warns(CheckpointWarning, match=str(path)):
        assert ckpt.load(PARAMS) is None
    assert not path.exists()
    assert Checkpoint(path).load(PARAMS) is None  # no file: nothing to warn about


def test_discard_if_unusable_keeps_a_good_file_and_removes_a_foreign_one(tmp_path):
    path = saved(tmp_path, key="point-a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Checkpoint(path, key="point-a").discard_if_unusable(PARAMS)
    with pytest.warns(CheckpointWarning, match="point-a"):
        assert not Checkpoint(path, key="point-z").discard_if_unusable(PARAMS)
    assert not path.exists()


def test_bad_checkpoint_arguments():
    with pytest.raises(ValueError, match="every_seconds"):
        Checkpoint("c.npz", every_seconds=-1)
    with pytest.raises(TypeError, match="key"):
        Checkpoint("c.npz", key=3)


MODEL_PARAMS = {"0/W": np.arange(6.0).reshape(2, 3), "2/W": np.array([[0.5, -1.25]]),
                "50%/b": np.array([2.0]), "%2F": np.array([3.0])}


def test_names_with_slashes_and_percent_signs_round_trip(tmp_path):
    # the models name parameters "<layer>/<name>"; "%2F" as a name must not become "/"
    path = tmp_path / "m.npz"
    state = {"v": {k: -v for k, v in MODEL_PARAMS.items()}}
    save_training_state(path, {"params": MODEL_PARAMS, "state": state}, {"step": 1}, key="p")
    got, _ = load_training_state(path, MODEL_PARAMS, key="p")
    assert list(got["params"]) == list(MODEL_PARAMS)
    assert list(got["state"]["v"]) == list(MODEL_PARAMS)
    for name, value in MODEL_PARAMS.items():
        assert np.array_equal(got["params"][name], value)
        assert np.array_equal(got["state"]["v"][name], -value)


def test_a_file_written_before_names_were_escaped_is_read_as_written():
    # written by the previous version of save_training_state (names stored unescaped, no
    # "escaped_names" in the header): a "%" in a name stays as it is
    path = Path(__file__).parent / "data" / "checkpoint_before_escaping.npz"
    like = {"W0": np.zeros((2, 3)), "b%x": np.zeros(2)}
    got, meta = load_training_state(path, like, key="point-a")
    assert meta == {"step": 7}
    assert np.array_equal(got["params"]["W0"], np.arange(6.0).reshape(2, 3))
    assert np.array_equal(got["params"]["b%x"], np.array([0.5, -1.25]))
    assert np.array_equal(got["state"]["v"]["b%x"], np.zeros(2))
