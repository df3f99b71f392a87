"""Training checkpoints: the trainer's whole state (parameters, optimizer state, step, recorded
losses and learning rates, the norms its rounding analysis needs) in one ``.npz`` file, written
atomically, so that a run interrupted at any moment continues from its last checkpoint and ends
exactly where an uninterrupted run would have.

A checkpoint records the key of the run it belongs to (e.g. a sweep point's key) and a SHA-256
of its content: a truncated, empty, garbage or foreign file is never used — loading it raises
``CheckpointError`` naming the file, and ``Checkpoint.load`` turns that into a warning and a
fresh start.

Names may contain any character: each level of a tree's names is stored percent-escaped
("/" as "%2F", "%" as "%25"), so the models' parameter names ("0/W") round-trip. Files written
before names were escaped (their header has no ``"escaped_names"``) are read with their names
as stored, as they were written.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from overparam.numerics.atomic import write_atomic
from overparam.numerics.backend import get_xp, to_numpy

__all__ = ["Checkpoint", "CheckpointError", "CheckpointWarning", "load_training_state",
           "save_training_state"]

_SEP = "/"
_ESCAPES = {"%": "%25", _SEP: "%2F"}
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}


def _escape(name: str) -> str:
    """``name`` with "%" and the separator percent-escaped, so it never contains the separator."""
    return re.sub("[%/]", lambda m: _ESCAPES[m[0]], name)


def _unescape(name: str) -> str:
    """The inverse of ``_escape``."""
    return re.sub("%(?:25|2F)", lambda m: _UNESCAPES[m[0]], name)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, truncated, corrupt, or another
    run's. The message names the file."""


class CheckpointWarning(UserWarning):
    """A checkpoint was discarded and its run starts afresh."""


@dataclass(frozen=True)
class Checkpoint:
    """Where ``train`` keeps its checkpoint and how often it writes it (wall-clock seconds;
    when it is written does not change the result, only how much work an interruption costs).
    ``key`` names the run it belongs to (recorded in the file and checked when loading).
    The caller removes the file once it no longer needs it."""

    path: Path
    every_seconds: float = 60.0
    key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if not self.every_seconds >= 0:
            raise ValueError(f"every_seconds: expected >= 0, got {self.every_seconds}")
        if self.key is not None and not isinstance(self.key, str):
            raise TypeError(f"key: expected a str or None, got {type(self.key).__name__}")

    def save(self, tree: dict, meta: dict) -> None:
        """``save_training_state`` to this checkpoint's path, recording its key."""
        save_training_state(self.path, tree, meta, key=self.key)

    def load(self, like: dict) -> tuple[dict, dict] | None:
        """(tree, meta) of this checkpoint; None when there is no file, or — with a
        ``CheckpointWarning`` naming the file — when it cannot be used (it is then removed,
        so the run starts afresh)."""
        return self._load_or_discard(like, lenient_key=False)

    def discard_if_unusable(self, like: dict) -> bool:
        """Remove the file (with a ``CheckpointWarning``) when it cannot be used; True when
        a usable checkpoint remains. A file recording no key passes the key check (files
        written by ``save_training_state`` without one)."""
        return self._load_or_discard(like, lenient_key=True) is not None

    def _load_or_discard(self, like: dict, *, lenient_key: bool) -> tuple[dict, dict] | None:
        if not self.path.exists():
            return None
        try:
            return load_training_state(self.path, like, key=self.key, lenient_key=lenient_key)
        except CheckpointError as exc:
            warnings.warn(f"{exc}; discarded, the run starts from its beginning",
                          CheckpointWarning, stacklevel=3)
            self.path.unlink(missing_ok=True)
            return None


def _flatten(tree: Any, prefix: str, arrays: dict, scalars: dict) -> None:
    if isinstance(tree, dict):
        for k, v in tree.items():
            name = _escape(str(k))
            _flatten(v, f"{prefix}{_SEP}{name}" if prefix else name, arrays, scalars)
    elif isinstance(tree, (int, float, bool, str)) or tree is None:
        scalars[prefix] = tree
    else:
        arrays[prefix] = to_numpy(tree)


def _unflatten(items: dict, escaped: bool) -> dict:
    tree: dict = {}
    for path, value in items.items():
        node = tree
        *parents, leaf = (_unescape(n) if escaped else n for n in path.split(_SEP))
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _digest(header: dict, arrays: dict) -> str:
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode("utf-8"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def save_training_state(path: Path, tree: dict, meta: dict, *, key: str | None = None) -> None:
    """Write ``tree`` (nested dicts of arrays — NumPy or CuPy — and scalars; ``tree["params"]``
    the parameters; names may contain any character, "/" included), ``meta``
    (JSON-serialisable), ``key`` (the run's, or None) and a SHA-256 of all of it to ``path``
    atomically (temporary file, fsync, rename)."""
    arrays: dict = {}
    scalars: dict = {}
    _flatten(tree, "", arrays, scalars)
    header = {"scalars": scalars, "meta": meta, "key": key, "escaped_names": True}
    header["sha256"] = _digest(header, arrays)
    text = json.dumps(header)
    write_atomic(Path(path), lambda fh: np.savez(fh, __header__=np.array(text), **arrays))


def load_training_state(path: Path, like: dict, *, key: str | None = None,
                        lenient_key: bool = False) -> tuple[dict, dict]:
    """(tree, meta) as saved by ``save_training_state``; arrays on the backend of ``like`` (the
    run's initial parameters), whose names and shapes ``tree["params"]`` must match.

    ``CheckpointError`` naming the file when it is unreadable, truncated, empty, not a
    checkpoint, fails its checksum, records another ``key`` than the one given (with
    ``lenient_key``, a file recording no key passes), or its parameters do not match."""
    path = Path(path)
    xp = get_xp(*like.values())
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["__header__"]))
            arrays = {k: data[k] for k in data.files if k != "__header__"}
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile,
            io.UnsupportedOperation) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint "
                              f"({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or not {"scalars", "meta", "sha256"} <= set(header):
        raise CheckpointError(f"{path}: not a checkpoint of overparam (no checksummed header)")
    stored = header.pop("sha256")
    header.setdefault("key", None)
    if _digest(header, arrays) != stored:
        raise CheckpointError(f"{path}: checksum mismatch (a corrupt checkpoint)")
    if key is not None and header["key"] != key and not (lenient_key and header["key"] is None):
        raise CheckpointError(f"{path}: belongs to run {header['key']!r}, not to {key!r}")
    items = {k: xp.asarray(v) for k, v in arrays.items()}
    items.update(header["scalars"])
    tree = _unflatten(items, header.get("escaped_names") is True)
    shapes = {k: tuple(v.shape) for k, v in tree.get("params", {}).items()}
    if shapes != {k: tuple(v.shape) for k, v in like.items()}:
        raise CheckpointError(f"{path}: the checkpoint's parameters {shapes} do not match this "
                              "run's")
    return tree, header["meta"]
