"""Training checkpoints: the trainer's whole state (parameters, optimizer state, step, recorded
losses and learning rates, the norms its rounding analysis needs) in one ``.npz`` file, written
atomically, so that a run interrupted at any moment continues from its last checkpoint and ends
exactly where an uninterrupted run would have.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp, to_numpy

_SEP = "/"


@dataclass(frozen=True)
class Checkpoint:
    """Where ``train`` keeps its checkpoint and how often it writes it (wall-clock seconds;
    when it is written does not change the result, only how much work an interruption costs).
    The caller removes the file once it no longer needs it."""

    path: Path
    every_seconds: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if not self.every_seconds >= 0:
            raise ValueError(f"every_seconds: expected >= 0, got {self.every_seconds}")


def _flatten(tree: Any, prefix: str, arrays: dict, scalars: dict) -> None:
    if isinstance(tree, dict):
        for k, v in tree.items():
            if _SEP in str(k):
                raise ValueError(f"checkpoint: key {k!r} contains {_SEP!r}")
            _flatten(v, f"{prefix}{_SEP}{k}" if prefix else str(k), arrays, scalars)
    elif isinstance(tree, (int, float, bool, str)) or tree is None:
        scalars[prefix] = tree
    else:
        arrays[prefix] = to_numpy(tree)


def _unflatten(items: dict) -> dict:
    tree: dict = {}
    for path, value in items.items():
        node = tree
        *parents, leaf = path.split(_SEP)
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def save_training_state(path: Path, tree: dict, meta: dict) -> None:
    """Write ``tree`` (nested dicts of arrays — NumPy or CuPy — and scalars; ``tree["params"]``
    the parameters) and ``meta`` (JSON-serialisable) to ``path`` atomically (temporary file,
    fsync, rename)."""
    arrays: dict = {}
    scalars: dict = {}
    _flatten(tree, "", arrays, scalars)
    header = json.dumps({"scalars": scalars, "meta": meta})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __header__=np.array(header), **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_training_state(path: Path, like: dict) -> tuple[dict, dict]:
    """(tree, meta) as saved by ``save_training_state``; arrays on the backend of ``like`` (the
    run's initial parameters), whose names and shapes ``tree["params"]`` must match
    (ValueError if not)."""
    xp = get_xp(*like.values())
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["__header__"]))
        items = {k: xp.asarray(data[k]) for k in data.files if k != "__header__"}
    items.update(header["scalars"])
    tree = _unflatten(items)
    shapes = {k: tuple(v.shape) for k, v in tree.get("params", {}).items()}
    if shapes != {k: tuple(v.shape) for k, v in like.items()}:
        raise ValueError(f"{path}: the checkpoint's parameters {shapes} do not match this run's")
    return tree, header["meta"]
