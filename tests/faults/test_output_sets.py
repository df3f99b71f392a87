"""Output sets under faults, in-process and deterministic: an interruption at every step of a
commit, a full disk, a read-only directory, modes and symlinks."""

import errno
import os
import stat

import pytest
from faultkit import assert_whole, previous_set, snapshot

from overparam.common import outputs
from overparam.common.outputs import check_output_set, output_set, recover

NAMES = ("results.json", "results.csv", "summary.md", "figure.png")


def write_new_set(folder, names=NAMES):
    with output_set(folder, "the new run") as staged:
        for name in names:
            staged.write_text(name, f"new run: {name}\n")


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs (not even except Exception blocks)."""


@pytest.mark.parametrize("crash_at", range(1, len(NAMES) + 4))
def test_a_crash_at_any_rename_of_a_commit_leaves_one_whole_set(tmp_path, monkeypatch,
                                                                 crash_at):
    """Every rename of the commit (staged files, the journal, each file into place, the
    manifest) is a moment a kill can hit; afterwards, recovery (what the next run does
    first) leaves either the previous set untouched or the new set complete."""
    previous = previous_set(tmp_path, ("results.json", "old-figure.png"))
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == crash_at:
            raise Crash
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(Crash):
        write_new_set(tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    recover(tmp_path)
    state = assert_whole(tmp_path, previous)
    if state == "new":
        assert snapshot(tmp_path)["summary.md"] == b"new run: summary.md\n"
        assert "old-figure.png" not in snapshot(tmp_path)  # the earlier run's figure is gone
    assert not list(tmp_path.glob(".staging-*")) and not list(tmp_path.glob("*.tmp"))


def test_an_exception_while_staging_leaves_the_previous_set_untouched(tmp_path):
    previous = previous_set(tmp_path, NAMES)
    with pytest.raises(KeyboardInterrupt), output_set(tmp_path, "interrupted") as staged:
        staged.write_text("results.json", "half of a new run\n")
        raise KeyboardInterrupt
    assert snapshot(tmp_path) == previous
    assert not list(tmp_path.glob(".staging-*"))


def test_a_full_disk_leaves_the_previous_set_untouched(small_tmpfs, tmp_path, monkeypatch):
    folder = small_tmpfs or tmp_path
    previous = previous_set(folder, NAMES)
    if small_tmpfs is None:
        def full(path, data):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        monkeypatch.setattr(outputs, "write_text_atomic", full)
        big = "x"
    else:
        big = "x" * (1 << 20)  # twice the tmpfs
    with pytest.raises(OSError) as info, output_set(folder, "too big") as staged:
        staged.write_text("results.json", big)
    assert info.value.errno == errno.ENOSPC
    assert snapshot(folder) == previous
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert not list(folder.glob(".staging-*"))


def test_modes_are_kept_new_files_are_0644_and_symlinks_followed(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_new_set(out, ("results.json",))
    os.chmod(out / "results.json", 0o640)
    (elsewhere / "summary.md").write_text("old\n")
    (out / "summary.md").symlink_to(elsewhere / "summary.md")
    write_new_set(out, ("results.json", "summary.md", "results.csv"))
    assert stat.S_IMODE((out / "results.json").stat().st_mode) == 0o640
    assert stat.S_IMODE((out / "results.csv").stat().st_mode) == 0o644
    assert (out / "summary.md").is_symlink()
    assert (elsewhere / "summary.md").read_text() == "new run: summary.md\n"
    check_output_set(out)


def test_a_read_only_directory_is_refused_by_the_preflight(tmp_path, monkeypatch):
    def read_only(path, data):
        raise OSError(errno.EROFS, "Read-only file system", str(path))
    monkeypatch.setattr(outputs, "write_atomic", read_only)
    with pytest.raises(outputs.OutputDirError, match="Read-only file system"):
        outputs.preflight(tmp_path / "out", need_bytes=1)


def test_a_file_name_too_long_is_refused_by_the_preflight(tmp_path):
    with pytest.raises(outputs.OutputDirError, match="too long"):
        outputs.preflight(tmp_path / ("x" * 300), need_bytes=1)


def test_a_reader_detects_a_file_of_another_run(tmp_path):
    write_new_set(tmp_path)
    (tmp_path / "summary.md").write_text("another run's summary\n")
    with pytest.raises(ValueError, match="summary.md"):
        check_output_set(tmp_path)


@pytest.mark.parametrize("moment", ["staging just created", "body done, commit not begun"])
def test_a_signal_between_two_statements_leaves_no_staging(tmp_path, monkeypatch, moment):
    """A SIGINT/SIGTERM becomes an exception at whatever statement runs when it lands — also
    right after the staging directory is made, or right after the run's body ends (found by
    the signal tests on a loaded machine). Either way the staging goes and the previous set
    stays."""
    previous = previous_set(tmp_path, ("results.json",))
    cls = outputs.OutputSet
    if moment == "staging just created":
        real_begin = cls.begin

        def begin(self):
            real_begin(self)
            assert self.directory.is_dir()
            raise KeyboardInterrupt

        monkeypatch.setattr(cls, "begin", begin)
    else:
        def commit(self):
            raise KeyboardInterrupt

        monkeypatch.setattr(cls, "commit", commit)
    with pytest.raises(KeyboardInterrupt):
        write_new_set(tmp_path)
    assert not list(tmp_path.glob(".staging-*"))
    assert not (tmp_path / outputs.JOURNAL).exists()
    assert snapshot(tmp_path) == previous
