"""Output sets under faults, in-process and deterministic: an interruption at every step of a
commit, a full disk, a read-only directory, modes and symlinks."""

import errno
import os
import shutil
import stat

import pytest
from faultkit import assert_whole, killed_at, plain_set, previous_set, snapshot, staging_dirs

from overparam.common import outputs
from overparam.common.outputs import check_output_set, output_set, recover

NAMES = ("results.json", "results.csv", "summary.md", "figure.png")


def write_new_set(folder, names=NAMES):
    with output_set(folder, "the new run") as staged:
        for name in names:
            staged.write_text(name, f"new run: {name}\n")


def _copied_following_links(folder):
    """A folder holding a set, copied as ``shutil.copytree`` and ``cp -rL`` copy it: every
    link followed (the set link becomes a directory, the names plain files)."""
    previous_set(folder.with_name("original"), ("results.json", "old-figure.png"))
    shutil.copytree(folder.with_name("original"), folder)
    return snapshot(folder)


SCENARIOS = {
    "a previous set": lambda d: previous_set(d, ("results.json", "old-figure.png")),
    "plain files of an older version": lambda d: plain_set(d, ("results.json", "summary.md",
                                                               "old-figure.png")),
    "nothing yet": lambda d: snapshot(d) if d.mkdir() is None else None,
    "a copy made by following links": _copied_following_links,
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_kill_at_every_moment_leaves_one_whole_set_for_every_reader(tmp_path, scenario):
    """kill -9 just before each change a run makes to the directory, from its first staged
    file to its last tidying step: a reader who opens the folder right after the kill — before
    any run tidies it — sees the previous set untouched or the new one complete, never files
    of both; once the new one is seen, every later moment shows it too. The next run's
    tidying then leaves nothing of the killed run behind."""
    base = tmp_path / "base"
    previous = SCENARIOS[scenario](base)
    seen, moment = [], 0
    while True:
        moment += 1
        folder = tmp_path / f"moment-{moment}"
        shutil.copytree(base, folder, symlinks=True)
        killed = killed_at(moment, lambda f=folder: write_new_set(f))
        seen.append(assert_whole(folder, previous))
        recover(folder)
        assert assert_whole(folder, previous) == seen[-1]
        assert not staging_dirs(folder) and not list(folder.glob(".link-*"))
        assert len(list(folder.glob(".set-*"))) <= 1
        if not killed:
            break
    assert seen[-1] == "new" and snapshot(folder)["summary.md"] == b"new run: summary.md\n"
    assert "old-figure.png" not in snapshot(folder)  # the earlier run's figure is gone
    switch = seen.index("new")
    assert seen[switch:] == ["new"] * (len(seen) - switch), seen
    assert moment > 10  # every staged file, the manifest, the links and the swap were hit


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
    assert not staging_dirs(tmp_path) and len(list(tmp_path.glob(".set-*"))) == 1
    assert snapshot(tmp_path) == previous
