"""The counterexample search run inside ``overparam verify``.

A property is a function ``measure(example) -> (ratio, metrics)`` where ``ratio`` is the
discrepancy divided by its derived tolerance: ``ratio > 1`` is a violation in floating point.
Hypothesis generates examples from a strategy over the statement's domain, keeps searching
for a violation within the budget, and shrinks one it finds. The shrunk example is then
re-checked at higher precision (exact rationals or mpmath) by ``recheck(example)``; only a
confirmed violation becomes a ``falsified`` verdict with a re-runnable counterexample.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from overparam.verify.types import Counterexample, Evidence

Measure = Callable[[Any], tuple[float, dict]]
Recheck = Callable[[Any], tuple[bool, dict]]


@dataclass
class _Tracker:
    examples: int = 0
    worst_ratio: float = 0.0
    worst_metrics: dict = field(default_factory=dict)


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
) -> Evidence:
    """Search ``strategy`` for an example with ``measure(example)[0] > 1``.

    Args:
        strategy: hypothesis strategy over the statement's whole domain.
        measure: example → (discrepancy / tolerance, metrics).
        recheck: example → (confirmed at higher precision?, metrics).
        entry_point: "module:function" the counterexample re-runs.
        arguments: example → the entry point's keyword arguments.
        max_examples: the search budget (set by ``--level``).
        seed: makes the search reproducible.
        domain: the domain searched, in words, for the report.
        tolerance: how the tolerance is derived, for the report.

    Returns:
        Evidence of kind ``counterexample-search``: ``verified`` if nothing was found,
        ``falsified`` with the counterexample if the re-check confirms it, ``inconclusive``
        if float precision flagged an example the re-check cleared.
    """
    tracker = _Tracker()

    def violated(example: Any) -> bool:
        ratio, metrics = measure(example)
        tracker.examples += 1
        if not math.isfinite(ratio):
            ratio = math.inf
        if ratio >= tracker.worst_ratio:
            tracker.worst_ratio, tracker.worst_metrics = ratio, metrics
        return ratio > 1.0

    config = settings(
        max_examples=max_examples, database=None, deadline=None,
        phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
    )
    base = {"examples": 0, "max_examples": max_examples, "seed": seed}
    try:
        example = find(strategy, violated, settings=config, random=random.Random(seed))
    except (NoSuchExample, Unsatisfiable):
        return Evidence(
            kind="counterexample-search", verdict="verified",
            metrics={**base, "examples": tracker.examples,
                     "worst_ratio_to_tolerance": tracker.worst_ratio,
                     "worst_case": tracker.worst_metrics},
            tolerance=tolerance,
            details=f"hypothesis searched {tracker.examples} examples over {domain}; "
                    f"none exceeded its tolerance (worst discrepancy/tolerance = "
                    f"{tracker.worst_ratio:.3g}).")
    ratio, metrics = measure(example)
    confirmed, recheck_metrics = recheck(example)
    metrics = {**base, "examples": tracker.examples, "ratio_to_tolerance": ratio, **metrics}
    if not confirmed:
        return Evidence(
            kind="counterexample-search", verdict="inconclusive", metrics=metrics,
            tolerance=tolerance,
            details=f"float precision flagged an example over {domain} that the "
                    f"higher-precision re-check did not confirm: {recheck_metrics}")
    cx = Counterexample(entry_point=entry_point, arguments=arguments(example),
                        violation=metrics, recheck=recheck_metrics)
    return Evidence(
        kind="counterexample-search", verdict="falsified", metrics=metrics,
        tolerance=tolerance, counterexample=cx,
        details=f"hypothesis found and shrank a violation over {domain}, confirmed at higher "
                f"precision; re-run it as {entry_point}(**arguments).")
