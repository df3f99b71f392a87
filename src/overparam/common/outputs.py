"""Sets of output files that belong together — a report's JSON, Markdown and figures; a
reproduction's results, CSV, summary and figures — replaced as one unit for every reader: at
any moment, even after kill -9 at any point of a run, a reader of the output directory sees
one whole set, never files of two runs.

How: the files of a set live in a hidden directory of their own (``.set-<pid>-<random>``);
the names a reader opens (``report.json``, ``summary.md``, …) are symbolic links
``NAME -> .overparam-current/NAME``, and ``.overparam-current`` is one symbolic link to the
current set's directory. A run writes its files into a staging directory
(``.staging-<pid>-<random>``); ``commit`` then

1. fsyncs every staged file and writes ``manifest.json`` (each file's size and SHA-256) into
   it, gives each file the mode of the file it replaces (0644 for a new one), and renames the
   staging directory to a set directory;
2. moves each plain file of outputs written before sets were swapped this way into the
   current set (a hard link, then a link renamed over the plain name: a reader sees the same
   bytes throughout), then makes a link for each name the new set adds (it points through
   ``.overparam-current``, so it shows nothing until the swap);
3. swaps: one rename of a new ``.overparam-current`` over the old — the whole new set at once;
4. tidies: removes the links of names the new set no longer has and the previous set's
   directory; a name the user made a symbolic link of their own is written through (that
   file follows the swap instead of being part of it).

A kill before step 3 leaves the previous set as every reader saw it; after it, the new one.
Steps 2–4 and the tidying below hold a lock (``.overparam-lock``, ``flock``), so two runs
writing into one directory swap one after the other.
What an interrupted run leaves behind (its staging directory, links that show nothing) is
removed by the next run (``recover``). ``check_output_set`` tells a reader whether a
directory holds one complete set.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from overparam.numerics.atomic import (
    NEW_FILE_MODE,
    fsync_dir,
    write_atomic,
    write_text_atomic,
)

__all__ = ["CURRENT", "MANIFEST", "OutputDirError", "OutputSet", "check_output_set",
           "current_set", "output_set", "preflight", "read_manifest", "recover"]

MANIFEST = "manifest.json"
#: the one symbolic link whose rename swaps a whole set in
CURRENT = ".overparam-current"
#: held while a set is swapped in or the directory tidied
LOCK = ".overparam-lock"
_STAGING = ".staging-"
_SET = ".set-"
#: a link being made, renamed over its name the moment it is complete
_NEW_LINK = ".link-"


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
            and not name.startswith(".") and name != MANIFEST)


def _check_name(name: str) -> str:
    if not _is_plain(name):
        raise ValueError(f"name: expected a plain file name of the output set, got {name!r}")
    return name


def _tag() -> str:
    """``<pid>-<random>``: whose a hidden entry is (``recover`` keeps a live run's)."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


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


def _link_text(name: str) -> str:
    return f"{CURRENT}/{name}"


def _is_set_link(path: Path) -> bool:
    """Whether ``path`` is one of the set's names (a link through ``CURRENT``), as opposed to
    a plain file or a link the user made."""
    return path.is_symlink() and os.readlink(path) == _link_text(path.name)


def current_set(out_dir: str | Path) -> str | None:
    """Which set a reader of ``out_dir`` sees now: the SHA-256 of the manifest it reads (None
    when there is none). It changes when a run swaps its set in, and only then — not when a
    commit moves older plain files into a set directory, which a reader cannot tell."""
    try:
        return hashlib.sha256((Path(out_dir) / MANIFEST).read_bytes()).hexdigest()
    except OSError:  # no set, no directory, or not a directory
        return None


def _current_dir(out: Path) -> Path | None:
    link = out / CURRENT
    return out / os.readlink(link) if link.is_symlink() else None


def _link(path: Path, text: str) -> None:
    """Make ``path`` a symbolic link to ``text`` in one rename (whatever was there before is
    replaced at once)."""
    new = path.parent / f"{_NEW_LINK}{_tag()}"
    os.symlink(text, new)
    try:
        os.replace(new, path)
    except BaseException:
        new.unlink(missing_ok=True)
        raise


def _repair_current(out: Path) -> None:
    """A copy of the folder that followed the links (``shutil.copytree``, ``cp -rL``) turns
    the set link into a plain directory (and the names into plain files): make that
    directory a set again and the link a link, so that the next swap can replace it."""
    link = out / CURRENT
    if link.is_dir() and not link.is_symlink():
        name = f"{_SET}{_tag()}"
        os.rename(link, out / name)
        _link(link, name)


def _adopt_plain_files(out: Path, current: Path | None, names: set[str]) -> Path | None:
    """Move each of ``names`` that is a plain file in ``out`` (outputs written before sets
    were swapped by one rename) into the current set, so that the swap replaces it with the
    rest: a hard link (or copy) in the set's directory, then the name renamed to a link to
    it — a reader sees the same bytes at every moment. Returns the current set's directory
    (made when there was none)."""
    plain = sorted(n for n in names if (out / n).is_file() and not (out / n).is_symlink())
    if not plain:
        return current
    if current is None:
        # no name points through CURRENT yet, so pointing it at an empty set changes nothing
        # a reader sees
        current = out / f"{_SET}{_tag()}"
        current.mkdir()
        _link(out / CURRENT, current.name)
    for name in plain:
        kept = current / f"{_NEW_LINK}{_tag()}"
        try:
            os.link(out / name, kept)
        except OSError:  # a file system without hard links
            shutil.copy2(out / name, kept)
        os.replace(kept, current / name)
        _link(out / name, _link_text(name))
    return current


def _remove_dangling_links(out: Path) -> None:
    """Remove the set's names that show nothing (made by a run that died before its swap,
    or left by one that died before tidying)."""
    for entry in out.iterdir():
        if _is_set_link(entry) and not entry.exists():
            entry.unlink()


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock: one swap or tidying at a time in a directory (the lock goes with
    its process, even one killed with -9, so a crash never leaves it held)."""
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, NEW_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def recover(out_dir: str | Path) -> None:
    """Remove what interrupted runs left in ``out_dir``: staging directories of runs that are
    gone, set directories no longer current, half-made links, and the set's names that show
    nothing. Never changes what a reader sees; safe to call at any time (it waits while
    another run swaps its set in)."""
    out = Path(out_dir)
    if not out.is_dir():
        return
    with _locked(out):
        # under the lock no swap is under way, so every set but the current one is
        # superseded and every link being made was abandoned
        current = _current_dir(out)
        for entry in out.iterdir():
            name = entry.name
            if name.startswith(_STAGING):
                pid = name[len(_STAGING):].split("-")[0]
                if not (pid.isdigit() and _pid_alive(int(pid))):  # a live run is staging
                    shutil.rmtree(entry, ignore_errors=True)
            elif name.startswith(_SET) and (current is None or name != current.name):
                shutil.rmtree(entry, ignore_errors=True)
            elif name.startswith(_NEW_LINK):
                entry.unlink(missing_ok=True)
        _remove_dangling_links(out)


class OutputSet:
    """The files of one run, staged until ``commit``; use through ``output_set``."""

    def __init__(self, out_dir: str | Path, kind: str) -> None:
        self.out = Path(out_dir)
        self.kind = kind
        self.directory = self.out / f"{_STAGING}{_tag()}"
        self.swapping = False

    def begin(self) -> None:
        """Tidy what interrupted runs left (``recover``) and create the staging directory."""
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
            names, previous = self._prepare()
        except BaseException:
            self.discard()  # nothing a reader sees has changed
            raise
        with _signals_deferred():
            # Ctrl-C or SIGTERM now would only leave tidying undone; they wait for it
            self.swapping = True
            self._swap(names, previous)
        return [self.out / n for n in names]

    def _prepare(self) -> tuple[list[str], set[str]]:
        """Step 1 of the commit: fsync, checksum and give modes to the staged files, write the
        manifest; returns the staged names and the previous set's."""
        names = self.files()
        files = {}
        for name in names:
            staged = self.directory / name
            with open(staged, "rb") as fh:
                os.fsync(fh.fileno())
            files[name] = {"bytes": staged.stat().st_size, "sha256": _sha256(staged)}
        write_text_atomic(self.directory / MANIFEST, json.dumps(
            {"kind": self.kind, "created": _dt.datetime.now(_dt.UTC).isoformat(
                timespec="seconds"), "files": files}, indent=1, sort_keys=True) + "\n")
        for name in [*names, MANIFEST]:
            replaced = self.out / name  # followed: the previous set's file, or the user's
            os.chmod(self.directory / name, stat.S_IMODE(replaced.stat().st_mode)
                     if replaced.is_file() else NEW_FILE_MODE)
        try:
            previous = read_manifest(self.out)
        except ValueError:
            previous = None
        return names, {n for n in (previous or {"files": {}})["files"] if _is_plain(n)}

    def _swap(self, names: list[str], previous: set[str]) -> None:
        """Steps 2–4 of the commit (the module's docstring)."""
        with _locked(self.out):
            self._swap_locked(names, previous)

    def _swap_locked(self, names: list[str], previous: set[str]) -> None:
        out = self.out
        final = out / f"{_SET}{self.directory.name[len(_STAGING):]}"
        os.rename(self.directory, final)
        self.directory = final
        _repair_current(out)
        current = _current_dir(out)
        try:
            current = _adopt_plain_files(out, current, {*names, *previous, MANIFEST})
            for name in [*names, MANIFEST]:
                if not os.path.lexists(out / name):
                    _link(out / name, _link_text(name))
            _link(out / CURRENT, final.name)  # the swap
        except BaseException:
            # the previous set is still what every reader sees: drop the new one
            shutil.rmtree(final, ignore_errors=True)
            _remove_dangling_links(out)
            raise
        fsync_dir(out)
        for name in sorted(previous - set(names)):
            if _is_set_link(out / name):
                (out / name).unlink()
        for name in names:
            if (out / name).is_symlink() and not _is_set_link(out / name):
                write_atomic(out / name, (final / name).read_bytes())  # the user's own link
        if current is not None and current.name.startswith(_SET):
            shutil.rmtree(current, ignore_errors=True)

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
    # signal landing between two statements still discards it; once the swap has begun,
    # ``commit`` itself cleans up whatever a failure leaves
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
    or can be created, a file and a symbolic link can be written in it, each of ``files`` is
    a file if present and each of ``folders`` a directory if present, and ``need_bytes`` (the
    run's stated estimate) are free. Creates ``out_dir``; raises ``OutputDirError`` naming
    the path."""
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
    link = out / f"{_NEW_LINK}{_tag()}"
    try:
        os.symlink(MANIFEST, link)
        link.unlink()
    except OSError as exc:
        raise OutputDirError(f"--out {out}: this file system cannot hold symbolic links "
                             f"({exc.strerror}), which swap an output set in as one unit; "
                             "choose a directory on another file system") from None
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
