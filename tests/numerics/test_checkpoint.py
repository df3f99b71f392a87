"""Checkpoint files: a round trip is exact, and every file that is not this run's intact
checkpoint (truncated, empty, garbage, tampered, another run's) is refused by name."""

import os
import stat
import warnings

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
