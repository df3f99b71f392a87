"""Helpers of the fault suite: the CLI in a subprocess, snapshots of an output directory,
whether one complete set is there."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from overparam.common.outputs import JOURNAL, MANIFEST, check_output_set, output_set


def cli(*args, env=None, **kwargs) -> subprocess.Popen:
    """``python -m overparam ARGS`` started in the background."""
    return subprocess.Popen([sys.executable, "-m", "overparam", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **kwargs)


def snapshot(folder: Path) -> dict[str, bytes]:
    """The output files of ``folder`` (not the runner's points, not hidden staging)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")}


def previous_set(folder: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """A committed output set standing for an earlier run's outputs; returns its snapshot."""
    with output_set(folder, "an earlier run") as staged:
        for name in names:
            staged.write_text(name, f"earlier run: {name} {uuid.uuid4()}\n")
    return snapshot(folder)


def assert_whole(folder: Path, previous: dict[str, bytes]) -> str:
    """``folder`` holds exactly one complete set: the previous one untouched ("previous"),
    or a new one whose every file is listed in its manifest with its checksum ("new") —
    never a mix. No commit is left half-done."""
    assert not (folder / JOURNAL).exists(), "a commit was left half-done"
    files = snapshot(folder)
    if files == previous:
        return "previous"
    manifest = check_output_set(folder)
    # the manifest is the new run's and checksums every file: nothing else may be there
    assert set(files) == set(manifest["files"]) | {MANIFEST}, "files of two runs mixed"
    return "new"


def wait_for(predicate, timeout: float = 60.0, every: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def staging_dirs(folder: Path) -> list[Path]:
    return list(folder.glob(".staging-*"))
