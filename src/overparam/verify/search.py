"""The counterexample search run inside ``overparam verify``.

A property is a function ``measure(example) -> (ratio, metrics)`` where ``ratio`` is the
discrepancy divided by its derived tolerance: ``ratio > 1`` is a violation in floating point.
Hypothesis generates examples from a strategy over the statement's domain and keeps searching
for a violation within the budget. A flagged example is re-checked at higher precision (exact
rationals or mpmath) by ``recheck(example)``; only a confirmed violation counts and becomes a
``falsified`` verdict with a re-runnable counterexample, and a cleared flag makes the search go
on, deciding every later flag at higher precision. A search that decided fewer distinct
examples than its floor is ``inconclusive``, never ``verified``.

The contract (``verify.contract``): ``measure`` and ``recheck`` call the function under test
and judge its output against an independent reference. An example whose tolerance cannot
separate right from wrong (``metrics["decisive"]`` is False: the tolerance exceeds
``contract.RESOLUTION`` of the reference's size) is counted apart and does not count toward
the floor; it is still flagged if it exceeds its tolerance.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from overparam.verify.types import Counterexample, Evidence

__all__ = ["MAX_PHASES", "Measure", "Recheck", "search_counterexample"]

Measure = Callable[[Any], tuple[float, dict]]
Recheck = Callable[[Any], tuple[bool, dict]]


#: Phases a search may run (each with its own derived seed) before it gives up reaching its
#: floor of distinct examples.
MAX_PHASES = 6


@dataclass
class _Tracker:
    examples: int = 0
    seen: set = field(default_factory=set)
    undecided: set = field(default_factory=set)
    worst_ratio: float = 0.0
    worst_metrics: dict = field(default_factory=dict)
    cleared: int = 0
    worst_cleared_ratio: float = -1.0
    worst_cleared: dict = field(default_factory=dict)
    confirmed: dict = field(default_factory=dict)

    def decided(self) -> int:
        return len(self.seen - self.undecided)


def _fingerprint(example: Any) -> str:
    """A stable key for an example (arrays included), to count distinct examples."""
    try:
        return hashlib.sha256(pickle.dumps(example, protocol=4)).hexdigest()
    except (pickle.PicklingError, TypeError, AttributeError):
        return repr(example)


def search_counterexample(
    strategy: st.SearchStrategy,
    measure: Measure,
    *,
    recheck: Recheck,
    entry_point: str,
    arguments: Callable[[Any], dict],
    max_examples: int,
    seed: int,
    domain: str,
    tolerance: dict,
    min_examples: int | None = None,
) -> Evidence:
    """Search ``strategy`` for an example with ``measure(example)[0] > 1`` that the
    higher-precision ``recheck`` confirms.

    The first phase searches and shrinks in float precision (fast), then re-checks the shrunk
    example: confirmed, it is the counterexample. Cleared, the float tolerance was not
    decisive there, so every later phase decides each flagged example on the spot by the
    re-check (a cleared one keeps the search going): a flag never turns into a different
    verdict, it gets more precision. A phase that falls short of the floor of distinct
    examples (filters rejected too much, hypothesis gave up) is followed by another phase with
    a derived seed, up to ``MAX_PHASES``; a phase that draws examples but no new distinct one
    means the domain was exhausted, which is decisive too.

    Args:
        strategy: hypothesis strategy over the statement's whole domain.
        measure: example → (discrepancy / tolerance, metrics).
        recheck: example → (confirmed at higher precision?, metrics).
        entry_point: "module:function" the counterexample re-runs.
        arguments: example → the entry point's keyword arguments.
        max_examples: the search budget per phase (set by ``--level``).
        seed: makes the search reproducible within one process state. Hypothesis
            (≥ 6.131) also mixes in constants parsed from the source of the local modules
            imported so far, under a time limit, so another process (the CLI against pytest,
            a loaded machine) can draw other examples at the same seed; budgets are sized so
            that a verdict does not hinge on which, and a counterexample re-runs from its
            recorded arguments.
        domain: the domain searched, in words, for the report.
        tolerance: how the tolerance is derived, for the report.
        min_examples: the floor of distinct examples below which a search that found nothing
            is ``inconclusive`` (default: half the budget).

    Returns:
        Evidence of kind ``counterexample-search``: ``falsified`` with the counterexample when a
        violation is confirmed at higher precision; ``verified`` when at least the floor of
        distinct examples (or the whole domain) was checked and none was confirmed;
        ``inconclusive`` (with the reason) when fewer were checked.
    """
    if max_examples < 1:
        raise ValueError(f"max_examples: expected ≥ 1, got {max_examples}")
    floor = max(1, max_examples // 2) if min_examples is None else min_examples
    tracker = _Tracker()
    strict = {"on": False}

    def clear(ratio: float, metrics: dict, recheck_metrics: dict) -> None:
        tracker.cleared += 1
        if ratio >= tracker.worst_cleared_ratio:
            tracker.worst_cleared_ratio = ratio
            tracker.worst_cleared = {"float_ratio": ratio, **metrics, "recheck": recheck_metrics}

    def violated(example: Any) -> bool:
        ratio, metrics = measure(example)
        tracker.examples += 1
        key = _fingerprint(example)
        tracker.seen.add(key)
        if not metrics.get("decisive", True):
            tracker.undecided.add(key)
        if not math.isfinite(ratio):
            ratio = math.inf
        if ratio >= tracker.worst_ratio:
            tracker.worst_ratio, tracker.worst_metrics = ratio, metrics
        if ratio <= 1.0:
            return False
        if not strict["on"]:
            tracker.confirmed = {"ratio": ratio, "metrics": metrics}
            return True
        confirmed, recheck_metrics = recheck(example)
        if not confirmed:
            clear(ratio, metrics, recheck_metrics)
            return False
        tracker.confirmed = {"ratio": ratio, "metrics": metrics, "recheck": recheck_metrics}
        return True

    config = settings(
        max_examples=max_examples, database=None, deadline=None,
        phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
    )
    exhausted, phases, example = False, 0, None
    for phase in range(MAX_PHASES):
        phases = phase + 1
        before, drawn = len(tracker.seen), tracker.examples
        try:
            example = find(strategy, violated, settings=config,
                           random=random.Random(f"{seed}/{phase}"))
        except (NoSuchExample, Unsatisfiable):
            example = None
        if example is not None:
            if strict["on"]:
                break
            confirmed, recheck_metrics = recheck(example)
            if confirmed:
                tracker.confirmed["recheck"] = recheck_metrics
                break
            clear(tracker.confirmed["ratio"], tracker.confirmed["metrics"], recheck_metrics)
            strict["on"], example = True, None
            continue
        if tracker.decided() >= floor:
            break
        if phase > 0 and len(tracker.seen) == before and tracker.examples > drawn:
            # examples were drawn, none new: everything the strategy can produce was checked
            exhausted = True
            break
    decided = tracker.decided()
    base = {"examples": tracker.examples, "distinct_examples": len(tracker.seen),
            "decided_examples": decided, "undecided_examples": len(tracker.undecided),
            "floor": floor, "phases": phases, "max_examples": max_examples, "seed": seed,
            "flagged_in_float_cleared_at_higher_precision": tracker.cleared}
    if tracker.cleared:
        base["worst_cleared"] = tracker.worst_cleared
    if example is not None:
        # the shrunk example is the last one confirmed
        metrics = {**base, "ratio_to_tolerance": tracker.confirmed["ratio"],
                   **tracker.confirmed["metrics"]}
        cx = Counterexample(entry_point=entry_point, arguments=arguments(example),
                            violation=metrics, recheck=tracker.confirmed["recheck"])
        return Evidence(
            kind="counterexample-search", verdict="falsified", metrics=metrics,
            tolerance=tolerance, counterexample=cx,
            details=f"hypothesis found and shrank a violation over {domain}, confirmed at "
                    f"higher precision; re-run it as {entry_point}(**arguments).")
    metrics = {**base, "worst_ratio_to_tolerance": tracker.worst_ratio,
               "worst_case": tracker.worst_metrics}
    cleared = (f"; {tracker.cleared} example(s) exceeded their float tolerance and were "
               f"cleared by the re-check of the function's own output against the exact "
               f"reference (worst float discrepancy/tolerance "
               f"{tracker.worst_cleared_ratio:.3g})" if tracker.cleared else "")
    undecided = (f"; {len(tracker.undecided)} example(s) whose tolerance could not separate "
                 f"right from wrong were counted apart" if tracker.undecided else "")
    if decided < floor and not exhausted:
        return Evidence(
            kind="counterexample-search", verdict="inconclusive", metrics=metrics,
            tolerance=tolerance,
            details=f"hypothesis decided only {decided} distinct examples over {domain} in "
                    f"{phases} phases, below the floor of {floor}{undecided}{cleared}.")
    scope = ("the whole (finite) domain" if exhausted
             else f"{decided} decided distinct examples")
    outcome = ("none exceeded its tolerance" if not tracker.cleared
               else "none was confirmed as a violation")
    return Evidence(
        kind="counterexample-search", verdict="verified", metrics=metrics,
        tolerance=tolerance,
        details=f"hypothesis searched {scope} over {domain}; {outcome} "
                f"(worst discrepancy/tolerance = {tracker.worst_ratio:.3g}){undecided}"
                f"{cleared}.")
