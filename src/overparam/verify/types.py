"""The verification vocabulary: Evidence, Counterexample, ClaimResult, Claim and the Context a
check is given, and how a claim's verdict follows from its evidence."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["LEVELS", "OBSERVATION", "VERDICTS", "Check", "Claim", "ClaimResult", "Context",
           "Counterexample", "Evidence", "combine_verdicts", "jsonable"]

VERDICTS = ("verified", "falsified", "inconclusive", "error")
#: Evidence that informs but does not vote (e.g. optimizers outside a theorem's hypotheses).
OBSERVATION = "observation"


def jsonable(value: Any) -> Any:
    """``value`` with arrays as nested lists and non-finite floats as strings, for JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        from overparam.numerics.backend import to_numpy

        return jsonable(to_numpy(value).tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else str(f)
    return value


@dataclass
class Counterexample:
    """A violation, re-runnable as ``entry_point(**arguments)``.

    ``entry_point`` is "module:function"; ``violation`` holds the float-precision numbers,
    ``recheck`` the higher-precision re-check that confirmed it.
    """

    entry_point: str
    arguments: dict
    violation: dict
    recheck: dict

    def to_json(self) -> dict:
        return jsonable(asdict(self))


@dataclass
class Evidence:
    """One check's outcome: kind (closed-form-vs-training, counterexample-search, exact,
    monte-carlo, observation, ...), verdict, metrics, the derived tolerance and how it was
    derived, free-text details, figure paths, and a counterexample if one was confirmed."""

    kind: str
    verdict: str
    metrics: dict = field(default_factory=dict)
    tolerance: dict | None = None
    details: str = ""
    figures: list[str] = field(default_factory=list)
    counterexample: Counterexample | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS + (OBSERVATION,):
            raise ValueError(f"verdict: expected one of {VERDICTS + (OBSERVATION,)}, "
                             f"got {self.verdict!r}")

    def to_json(self) -> dict:
        return jsonable({
            "kind": self.kind, "verdict": self.verdict, "metrics": self.metrics,
            "tolerance": self.tolerance, "details": self.details, "figures": self.figures,
        })


def combine_verdicts(evidence: list[Evidence]) -> str:
    """A claim's verdict from its evidence: any falsified → falsified; else any error → error;
    else any inconclusive (or no voting evidence at all) → inconclusive; else verified."""
    votes = [e.verdict for e in evidence if e.verdict != OBSERVATION]
    for verdict in ("falsified", "error", "inconclusive"):
        if verdict in votes:
            return verdict
    return "verified" if votes else "inconclusive"


@dataclass
class ClaimResult:
    """A claim's outcome in a report."""

    id: str
    paper: str
    where: str
    statement: str
    evidence: list[Evidence]
    seconds: float
    exercises: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        return combine_verdicts(self.evidence)

    @property
    def counterexample(self) -> Counterexample | None:
        return next((e.counterexample for e in self.evidence if e.counterexample), None)

    def to_json(self) -> dict:
        cx = self.counterexample
        return {
            "id": self.id, "paper": self.paper, "where": self.where,
            "statement": self.statement, "verdict": self.verdict,
            "exercises": list(self.exercises),
            "evidence": [e.to_json() for e in self.evidence],
            "counterexample": None if cx is None else cx.to_json(),
            "seconds": round(self.seconds, 3),
        }


LEVELS = ("quick", "full")


@dataclass(frozen=True)
class Context:
    """What a check is given: the level, the seed, the array module, where figures go.

    ``budget(quick, full)`` picks a number by level; ``rng(salt)`` gives an independent,
    reproducible Generator per use.
    """

    level: str
    seed: int
    xp: ModuleType
    figures_dir: Path | None = None

    def budget(self, quick: int, full: int) -> int:
        return quick if self.level == "quick" else full

    def rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])


Check = Callable[[Context], "Evidence | list[Evidence]"]


@dataclass(frozen=True)
class Claim:
    """A claim (as on the docs' claim pages, papers/*.md): its id, paper, where it stands, the
    statement, its checks, and the public functions ("module:function") its voting evidence
    calls and judges — the functions a planted bug must be caught in."""

    id: str
    paper: str
    where: str
    statement: str
    checks: tuple[Check, ...] = field(default_factory=tuple)
    exercises: tuple[str, ...] = field(default_factory=tuple)
