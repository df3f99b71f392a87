"""Sets of output files that belong together — a report's JSON, Markdown and figures; a
reproduction's results, CSV, summary and figures — written so that a reader never sees two
runs mixed and an interrupted run leaves the previous outputs untouched.

How: every file of a run is written into a staging directory inside the output directory
(``.staging-<pid>-<random>``). Only when the run has written all of them does ``commit``

1. fsync every staged file and write ``manifest.json`` (each file's size and SHA-256) into
   the staging directory,
2. write a journal (``.outputs-commit.json``, atomically) naming the staging directory, its
   files and the previous run's files that the new set no longer has,
3. rename each staged file over its target (keeping the mode of a file it replaces, 0644 for
   a new one, following a symlink), the manifest last, then remove the journal.

An interruption before step 2 leaves the previous outputs as they were (the staging directory
is removed by the next run); after step 2, the next run — or ``recover`` — completes the
commit from the journal (redo log). ``check_output_set`` tells a reader whether a directory
holds one complete set.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from overparam.numerics.atomic import (
    NEW_FILE_MODE,
    resolve_target,
    write_atomic,
    write_text_atomic,
)

__all__ = ["JOURNAL", "MANIFEST", "OutputDirError", "OutputSet", "check_output_set", "output_set",
           "preflight", "read_manifest", "recover"]

MANIFEST = "manifest.json"
JOURNAL = ".outputs-commit.json"
_STAGING = ".staging-"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_plain(name: object) -> bool:
    return (isinstance(name, str) and bool(name) and "/" not in name and os.sep not in name
            and not name.startswith(".") and name not in (MANIFEST, JOURNAL))


def _check_name(name: str) -> str:
    if not _is_plain(name):
        raise ValueError(f"name: expected a plain file name of the output set, got {name!r}")
    return name


def read_manifest(out_dir: str | Path) -> dict | None:
    """The manifest of the set in ``out_dir``; None when there is none (no set committed yet,
    or outputs written before manifests existed). ValueError naming the file if it is not a
    manifest."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable manifest ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValueError(f"{path}: not a manifest (expected an object with 'files')")
    return manifest


def check_output_set(out_dir: str | Path) -> dict:
    """Check that ``out_dir`` holds one complete, unmixed set: every file its manifest lists
    exists with the listed size and SHA-256. Returns the manifest; ValueError naming the
    first file that differs."""
    out = Path(out_dir)
    manifest = read_manifest(out)
    if manifest is None:
        raise ValueError(f"{out / MANIFEST}: missing — no complete output set in {out}")
    for name, entry in manifest["files"].items():
        path = out / name
        if not path.is_file():
            raise ValueError(f"{path}: listed in {MANIFEST} but missing")
        if path.stat().st_size != entry["bytes"] or _sha256(path) != entry["sha256"]:
            raise ValueError(f"{path}: differs from {MANIFEST} (another run's file)")
    return manifest


def _place(staged: Path, target: Path) -> None:
    """Rename ``staged`` over ``target`` (the symlink's target when ``target`` is a symlink),
    keeping the replaced file's mode."""
    real = resolve_target(target)
    try:
        mode = real.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    os.chmod(staged, mode)
    try:
        os.replace(staged, real)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: a symlink into another file system
            raise
        write_atomic(real, staged.read_bytes())
        staged.unlink()


def _apply(out: Path, journal: dict) -> None:
    """Complete a commit described by ``journal`` (idempotent: files already moved are
    skipped), then remove the journal."""
    staging = out / journal["staging"]
    for name in [*journal["files"], MANIFEST]:
        staged = staging / name
        if staged.exists():
            _place(staged, out / name)
    for name in journal["remove"]:
        path = out / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    (out / JOURNAL).unlink(missing_ok=True)


def recover(out_dir: str | Path) -> None:
    """Finish a commit that an interruption cut short (from its journal) and remove staging
    directories of runs that died before committing. Safe to call at any time."""
    out = Path(out_dir)
    if not out.is_dir():
        return
    journal_path = out / JOURNAL
    if journal_path.exists():
        try:
            journal = json.loads(journal_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            journal = None  # written atomically, so unreadable means not ours: drop it
        if isinstance(journal, dict) and {"staging", "files", "remove"} <= set(journal):
            _apply(out, journal)
        else:
            journal_path.unlink()
    for staging in out.glob(f"{_STAGING}*"):
        pid = staging.name[len(_STAGING):].split("-")[0]
        if staging.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


class OutputSet:
    """The files of one run, staged until ``commit``; use through ``output_set``."""

    def __init__(self, out_dir: str | Path, kind: str) -> None:
        self.out = Path(out_dir)
        self.kind = kind
        self.directory = self.out / f"{_STAGING}{os.getpid()}-{secrets.token_hex(4)}"
        self.swapping = False

    def begin(self) -> None:
        """Finish an earlier interrupted commit (``recover``) and create the staging
        directory."""
        self.out.mkdir(parents=True, exist_ok=True)
        recover(self.out)
        self.directory.mkdir()

    def path(self, name: str) -> Path:
        """Where to write the set's file ``name`` (in the staging directory), for writers
        that need a path, e.g. a figure's ``save``."""
        return self.directory / _check_name(name)

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Stage ``data`` as the set's file ``name``."""
        return write_atomic(self.path(name), data)

    def write_text(self, name: str, text: str) -> Path:
        """Stage ``text`` (UTF-8) as the set's file ``name``."""
        return write_text_atomic(self.path(name), text)

    def files(self) -> list[str]:
        """The names staged so far."""
        return sorted(p.name for p in self.directory.iterdir()
                      if p.is_file() and not p.name.startswith("."))

    def commit(self) -> list[Path]:
        """Swap the staged files in as one set (see the module's docstring); returns the
        paths of the set's files in the output directory."""
        try:
            journal = self._prepare()
        except BaseException:
            # nothing of the previous set has moved yet (even if our journal was written):
            # roll back, so an interrupted commit leaves the previous outputs and no staging
            (self.out / JOURNAL).unlink(missing_ok=True)
            self.discard()
            raise
        with _signals_deferred():
            # the swap has begun: Ctrl-C or SIGTERM now would leave it half-done, so they
            # wait until one whole set is in place
            self.swapping = True
            _apply(self.out, journal)
        return [self.out / n for n in journal["files"]]

    def _prepare(self) -> dict:
        """Steps 1–2 of the commit: fsync and checksum the staged files, write the manifest
        into the staging directory and the journal beside the outputs; returns the journal."""
        names = self.files()
        files = {}
        for name in names:
            staged = self.directory / name
            with open(staged, "rb") as fh:
                os.fsync(fh.fileno())
            files[name] = {"bytes": staged.stat().st_size, "sha256": _sha256(staged)}
        try:
            previous = read_manifest(self.out)
        except ValueError:
            previous = None
        old = set(previous["files"]) if previous else set()
        write_text_atomic(self.directory / MANIFEST, json.dumps(
            {"kind": self.kind, "created": _dt.datetime.now(_dt.UTC).isoformat(
                timespec="seconds"), "files": files}, indent=1, sort_keys=True) + "\n")
        journal = {"staging": self.directory.name, "files": names,
                   "remove": sorted(n for n in old - set(names) if _is_plain(n))}
        write_text_atomic(self.out / JOURNAL, json.dumps(journal))
        return journal

    def discard(self) -> None:
        """Remove the staged files; the previous outputs stay as they were."""
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this (main) thread for the block; a signal that arrives
    meanwhile is delivered when it ends. Elsewhere (other threads, no pthread_sigmask) the
    block runs as it is."""
    wanted = {signal.SIGINT, signal.SIGTERM}
    if (threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "pthread_sigmask")):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def output_set(out_dir: str | Path, kind: str) -> Iterator[OutputSet]:
    """Stage a run's files in ``out_dir`` and swap them in as one set when the block ends
    without an exception; on any exception (KeyboardInterrupt included) discard them and
    leave the previous outputs untouched. ``kind`` names the set in its manifest (e.g.
    "verify report", "reproduction ic.fcn-depth")."""
    staged = OutputSet(out_dir, kind)
    # everything that creates or fills the staging directory runs inside the try, so a
    # signal landing between two statements still discards it; once the swap has begun the
    # staged files belong to the journal (``recover`` finishes the swap from them)
    try:
        staged.begin()
        yield staged
        staged.commit()
    except BaseException:
        if not staged.swapping:
            staged.discard()
        raise


class OutputDirError(ValueError):
    """The output directory cannot take this run's outputs; the message names the path and
    what to do."""


def _human(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GiB"


def preflight(out_dir: str | Path, *, need_bytes: int, files: tuple[str, ...] = (),
              folders: tuple[str, ...] = ()) -> None:
    """Check, before any work, that ``out_dir`` can take a run's outputs: it is a directory
    or can be created, a file can be written in it, each of ``files`` is a file if present
    and each of ``folders`` a directory if present, and ``need_bytes`` (the run's stated
    estimate) are free. Creates ``out_dir``; raises ``OutputDirError`` naming the path."""
    out = Path(out_dir)
    try:
        if out.exists() and not out.is_dir():
            raise OutputDirError(f"--out {out}: is a file, not a directory; choose a directory")
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".overparam-preflight-{os.getpid()}"
        write_atomic(probe, b"x")
        probe.unlink()
    except OSError as exc:
        where = exc.filename or out
        raise OutputDirError(f"--out {out}: cannot write there ({exc.strerror}: {where}); "
                                "choose a writable directory") from None
    for name in files:
        if (out / name).is_dir():
            raise OutputDirError(f"{out / name}: is a directory where this run writes a "
                                    "file; move it away or choose another --out")
    for name in folders:
        if (out / name).exists() and not (out / name).is_dir():
            raise OutputDirError(f"{out / name}: is a file where this run keeps a "
                                    "directory; move it away or choose another --out")
    free = shutil.disk_usage(out).free
    if free < need_bytes:
        raise OutputDirError(f"--out {out}: {_human(free)} free, this run writes up to about "
                                f"{_human(need_bytes)}; free space or choose another --out")
