"""Writing one file so that a reader never sees it half-written: a temporary file in the same
directory, flushed and fsynced, then renamed over the target (POSIX rename is atomic).

The one primitive every writer of the package uses (checkpoints here; reports and
reproductions through ``overparam.common.outputs``). A replaced file keeps its mode; a new
file is 0644 (readable by the rest of a team, unlike ``mkstemp``'s 0600); a symlink is
followed, so the file it points to is replaced and the link stays a link.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["NEW_FILE_MODE", "fsync_dir", "resolve_target", "write_atomic", "write_text_atomic"]

#: mode of a file that did not exist before
NEW_FILE_MODE = 0o644


def resolve_target(path: str | Path) -> Path:
    """The file a write to ``path`` must replace: ``path`` itself, or where its symlink
    (chain) points."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; a file system that cannot fsync a directory is
    left as is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, write: Callable[[BinaryIO], object] | bytes) -> Path:
    """Replace ``path`` with new content in one step.

    Args:
        path: the file to write (its directory must exist).
        write: the content as bytes, or a function that writes it to a binary file object
            (e.g. ``lambda fh: np.savez(fh, ...)`` or ``fig.savefig``).

    Returns:
        The path actually written (the symlink's target when ``path`` is a symlink).

    On any exception, including KeyboardInterrupt, the temporary file is removed and the
    previous content of ``path`` is untouched."""
    target = resolve_target(path)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    # a short temporary name, so that a name near the file system's limit still fits
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:32]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(write, bytes):
                fh.write(write)
            else:
                write(fh)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return target


def write_text_atomic(path: str | Path, text: str) -> Path:
    """``write_atomic`` for text, always UTF-8 (whatever the locale)."""
    return write_atomic(path, text.encode("utf-8"))
