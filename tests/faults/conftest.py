"""The fault suite's fixture: a small tmpfs when the suite runs as root where mount works."""

import os
import subprocess

import pytest


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 512 KiB tmpfs (a disk that fills up) when running as root where mount works; None
    otherwise (those tests then make a write raise ENOSPC instead)."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    if os.geteuid() != 0:
        yield None
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)],
                          capture_output=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
