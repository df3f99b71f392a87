"""The reproductions, found by module: every module of ``overparam.experiments`` that defines
a module-level ``EXPERIMENT`` (an ``Experiment``) is one, so adding a reproduction touches only
its own module."""

from __future__ import annotations

import importlib
import pkgutil

from overparam import experiments
from overparam.experiments.protocol import Experiment

__all__ = ["all_experiments", "get_experiment"]

#: modules of the package that are infrastructure, not reproductions (skipped unimported)
_INFRASTRUCTURE = frozenset({"datasets", "findings", "protocol", "registry", "runner"})


def all_experiments() -> list[Experiment]:
    """Every reproduction, sorted by id (imports the experiment modules)."""
    found = []
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name in _INFRASTRUCTURE or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{experiments.__name__}.{info.name}")
        declared = getattr(module, "EXPERIMENT", None)
        if isinstance(declared, Experiment):
            found.append(declared)
    ids = [e.id for e in found]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"two experiment modules declare the same id: {sorted(ids)}")
    return sorted(found, key=lambda e: e.id)


def get_experiment(experiment_id: str) -> Experiment:
    """The reproduction with this id; ValueError listing the known ids otherwise."""
    known = all_experiments()
    for e in known:
        if e.id == experiment_id:
            return e
    raise ValueError(f"experiment: expected one of {[e.id for e in known]}, "
                     f"got {experiment_id!r}")
