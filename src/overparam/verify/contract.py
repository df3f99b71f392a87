"""The property contract every voting check follows.

A piece of evidence that votes names its function under test (the public entry point the
claim cites, ``Claim.exercises``) and an independent reference (exact or higher-precision
arithmetic, a trained network, quadrature, a different algorithm). It calls the function
under test and judges that function's output against the reference with a derived tolerance:

- **decisive**: the tolerance is at most ``RESOLUTION`` of the reference's size, so the
  comparison can tell a correct implementation from one off by a relative 1e-3 (ten times
  ``RESOLUTION``). Examples that are not decisive are counted apart and never make a
  verdict of ``verified`` on their own.
- **disagreement is a finding**: a decisive comparison beyond its tolerance says
  ``falsified``, with the instance saved as a re-runnable counterexample; evidence still not
  decisive after its budget grew says ``inconclusive``.

:func:`reference_check` is the engine for a function against a reference on a list of
instances; ``verify.search`` is the engine for a hypothesis search; ``verify.gd_checks`` for a
closed form against gradient descent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from overparam.numerics.backend import to_numpy
from overparam.verify.types import Counterexample, Evidence

__all__ = ["MONTE_CARLO_Z", "RESOLUTION", "decisive", "judge", "ratio", "reference_check",
           "reference_search"]

#: The relative error a decisive comparison resolves: a tenth of the 1e-3 relative error
#: every claim must catch in the functions it exercises.
RESOLUTION = 1e-4

#: Monte Carlo evidence: a deviation beyond this many standard errors is a finding. Each
#: comparison of a correct closed form reaches it with probability 2Φ(−5) ≈ 5.7e-7; across the
#: ≤ 40 Monte Carlo comparisons of a report, ≤ 2.3e-5 (Bonferroni), so that a verdict does not
#: depend on the seed.
MONTE_CARLO_Z = 5.0


def ratio(gap: float, tolerance: float) -> float:
    """gap / tolerance, with 0/0 = 0 and x/0 = inf for x > 0."""
    if tolerance > 0:
        return gap / tolerance
    return 0.0 if gap == 0 else math.inf


def decisive(tolerance: float, scale: float) -> bool:
    """Whether a tolerance can separate right from wrong: ≤ ``RESOLUTION`` × ``scale`` (the
    size of the reference value). A reference of size 0 is judged absolutely, so any
    tolerance below ``RESOLUTION`` counts."""
    return tolerance <= RESOLUTION * (scale if scale > 0 else 1.0)


def _norm(a: Any) -> float:
    return float(np.linalg.norm(np.asarray(to_numpy(a), dtype=np.float64).ravel()))


def judge(output: Any, reference: Any, tolerance: float) -> dict:
    """The comparison of a function's output with its reference: the gap ‖output −
    reference‖ (Euclidean over every entry), the tolerance, their ratio and whether the
    tolerance is decisive for this reference."""
    out = np.asarray(to_numpy(output), dtype=np.float64)
    ref = np.asarray(to_numpy(reference), dtype=np.float64)
    if out.shape != ref.shape:
        return {"gap": math.inf, "tolerance": tolerance, "ratio": math.inf, "decisive": True,
                "shape_mismatch": [list(out.shape), list(ref.shape)]}
    with np.errstate(over="ignore", invalid="ignore"):
        gap = _norm(out - ref) if np.all(np.isfinite(out)) else math.inf
        scale = _norm(ref)
    if math.isinf(tolerance):
        return {"gap": gap, "tolerance": tolerance, "ratio": 0.0, "decisive": False}
    return {"gap": gap, "tolerance": tolerance, "ratio": ratio(gap, tolerance),
            "decisive": decisive(tolerance, scale)}


def reference_check(
    instances: Iterable[Any],
    evaluate: Callable[[Any], tuple[Any, Any, float]],
    *,
    kind: str,
    function: str,
    reference: str,
    rule: str,
    arguments: Callable[[Any], dict],
    min_decisive: int = 1,
    details: str = "",
) -> Evidence:
    """The function under test against an independent reference on ``instances``.

    ``evaluate(instance)`` calls the function under test and returns (its output, the
    reference value, the derived tolerance of the comparison). The evidence is
    ``falsified`` at the first instance whose gap exceeds its tolerance (the instance is the
    counterexample, re-runnable as ``function(**arguments(instance))``), ``inconclusive``
    when fewer than ``min_decisive`` instances were decisive, else ``verified``.
    """
    rows, worst, n_decisive = [], 0.0, 0
    for instance in instances:
        out, ref, tol = evaluate(instance)
        row = judge(out, ref, tol)
        rows.append(row)
        worst = max(worst, row["ratio"])
        n_decisive += row["decisive"]
        if row["ratio"] > 1:
            cx = Counterexample(entry_point=function, arguments=arguments(instance),
                                violation=row, recheck={"reference": reference})
            return Evidence(
                kind=kind, verdict="falsified",
                metrics={"function": function, "instances": len(rows), **row},
                tolerance={"rule": rule}, counterexample=cx,
                details=f"{function} disagrees with {reference} beyond the derived "
                        f"tolerance (gap {row['gap']:.3g} > {tol:.3g}). {details}")
    metrics = {"function": function, "instances": len(rows), "decisive_instances": n_decisive,
               "worst_ratio_to_tolerance": worst,
               "largest_tolerance": max((r["tolerance"] for r in rows), default=0.0)}
    if n_decisive < min_decisive:
        return Evidence(
            kind=kind, verdict="inconclusive", metrics=metrics, tolerance={"rule": rule},
            details=f"only {n_decisive} of {len(rows)} instances had a tolerance within "
                    f"{RESOLUTION} of the reference's size (needed {min_decisive}). {details}")
    return Evidence(
        kind=kind, verdict="verified", metrics=metrics, tolerance={"rule": rule},
        details=f"{function} agrees with {reference} on {len(rows)} instances "
                f"({n_decisive} decisive; worst gap/tolerance {worst:.3g}). {details}")


def reference_search(
    strategy: Any,
    evaluate: Callable[[Any], tuple[Any, Any, float]],
    *,
    function: str,
    reference: str,
    rule: str,
    arguments: Callable[[Any], dict],
    max_examples: int,
    seed: int,
    domain: str,
    min_examples: int | None = None,
) -> Evidence:
    """A hypothesis search for an example where the function under test disagrees with its
    independent reference: ``evaluate(example)`` calls the function and returns (its output,
    the reference value — exact or higher-precision —, the derived tolerance). A flagged
    example is re-evaluated (the function's own output against the reference again) before it
    counts; examples whose tolerance is not decisive (:func:`decisive`) are counted apart.
    Built on ``verify.search.search_counterexample``."""
    from overparam.verify.search import search_counterexample

    def measure(example: Any) -> tuple[float, dict]:
        out, ref, tol = evaluate(example)
        row = judge(out, ref, tol)
        return row["ratio"], row

    def recheck(example: Any) -> tuple[bool, dict]:
        ratio_, row = measure(example)
        return ratio_ > 1, {**row, "re-evaluated": True}

    evidence = search_counterexample(
        strategy, measure, recheck=recheck, entry_point=function, arguments=arguments,
        max_examples=max_examples, seed=seed, domain=domain, min_examples=min_examples,
        tolerance={"rule": rule, "reference": reference})
    evidence.kind = "reference-search"
    evidence.metrics["function"] = function
    return evidence
