"""Claims' checks as test cases in your own pytest suite, in the spirit of scikit-learn's
``parametrize_with_checks``:

    from overparam.testing import parametrize_with_claims

    @parametrize_with_claims(["ic.params", "em.rff", "user.*"], claims="my_pkg.my_claims")
    def test_claim(claim, check):
        check()          # runs one check of one claim; fails on a falsified verdict

Each (claim, check) pair is one test with a readable id, ``em.rff:rff_monte_carlo``. A check
passes when its evidence is ``verified`` (or an ``observation``, which does not vote), fails
with the evidence (and any counterexample) when it is ``falsified`` or ``error``, and is
skipped with the reason when ``inconclusive`` (failed under ``strict=True``). The same
items run from the command line through the pytest plugin: ``pytest --overparam 'ic.*'``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overparam.verify.types import LEVELS, Claim, Context, Evidence, jsonable

__all__ = ["ClaimCheck", "ClaimCheckError", "claim_checks", "parametrize_with_claims"]

#: Verdicts that make a check fail (``inconclusive`` too, under strict).
FAILING = ("falsified", "error")


class ClaimCheckError(AssertionError):
    """A claim's check gave a falsified or error verdict (or inconclusive, under strict);
    the message holds the evidence and any counterexample."""


def check_name(check: Any) -> str:
    """A check's readable name: its ``__name__`` without leading underscores."""
    return getattr(check, "__name__", type(check).__name__).lstrip("_") or "check"


def _describe(claim: Claim, evidence: list[Evidence]) -> str:
    lines = [f"{claim.id} ({claim.paper}, {claim.where}): {claim.statement}"]
    for ev in evidence:
        lines.append(f"- {ev.kind}: {ev.verdict}. {ev.details}")
        if ev.tolerance:
            lines.append(f"  tolerance: {json.dumps(jsonable(ev.tolerance), ensure_ascii=False)}")
        summary = {k: v for k, v in ev.metrics.items() if k not in ("per_run", "per_point",
                                                                     "per_setting")}
        lines.append(f"  metrics: {json.dumps(jsonable(summary), ensure_ascii=False)}"[:2000])
        if ev.counterexample is not None:
            cx = ev.counterexample
            call = json.dumps(jsonable(cx.arguments))
            lines.append(f"  counterexample: {cx.entry_point}(**{call})")
            lines.append(f"  re-checked: {json.dumps(jsonable(cx.recheck), ensure_ascii=False)}")
    return "\n".join(lines)


@dataclass(frozen=True)
class ClaimCheck:
    """One check of one claim, runnable as a test: ``ClaimCheck(claim, check)()``.

    ``id`` is ``"<claim id>:<check name>"`` (a name repeated within a claim gets ``-2``,
    ``-3``…)."""

    claim: Claim
    check: Any
    name: str

    @property
    def id(self) -> str:
        return f"{self.claim.id}:{self.name}"

    def __call__(self, *, level: str = "quick", seed: int = 0, backend: str = "numpy",
                 strict: bool = False, figures_dir: str | Path | None = None) -> list[Evidence]:
        """Run the check at ``level`` ("quick" or "full") and ``seed`` on ``backend``, as
        ``overparam verify`` would; figures go to ``figures_dir`` (default: a temporary
        folder, removed afterwards). Returns the evidence when it passes.

        Raises ClaimCheckError when a verdict is falsified or error (or inconclusive, with
        ``strict``); calls ``pytest.skip`` with the reason when inconclusive otherwise.
        Exceptions raised inside the check propagate (pytest reports them as errors)."""
        from overparam.numerics.backend import get_xp

        if level not in LEVELS:
            raise ValueError(f"level: expected one of {LEVELS}, got {level!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
        xp = get_xp(backend=backend)
        if figures_dir is None:
            with tempfile.TemporaryDirectory(prefix="overparam-figures-") as tmp:
                out = self.check(Context(level=level, seed=seed, xp=xp, figures_dir=Path(tmp)))
        else:
            out = self.check(Context(level=level, seed=seed, xp=xp,
                                     figures_dir=Path(figures_dir)))
        evidence = out if isinstance(out, list) else [out]
        verdicts = [e.verdict for e in evidence]
        if any(v in FAILING for v in verdicts) or (strict and "inconclusive" in verdicts):
            raise ClaimCheckError(_describe(self.claim, evidence))
        if "inconclusive" in verdicts:
            import pytest

            pytest.skip(f"{self.id} inconclusive: " +
                        "; ".join(e.details for e in evidence if e.verdict == "inconclusive"))
        return evidence


def _as_list(value: Any, name: str) -> list:
    if value is None:
        return []
    if isinstance(value, str | Claim):
        return [value]
    if not isinstance(value, Iterable):
        raise TypeError(f"{name}: expected a string, a Claim or a list of them, got "
                        f"{type(value).__name__}")
    return list(value)


def claim_checks(selection: Any = None, *, claims: Any = None) -> list[ClaimCheck]:
    """Every (claim, check) pair of the selected claims, as ``ClaimCheck`` objects.

    Args:
        selection: claim ids or patterns (``"ic.*"``) — overparam's, installed plugins'
            (``overparam.claims`` entry points) and those of ``claims`` — and/or ``Claim``
            objects; None or empty selects every claim.
        claims: module names (``"my_pkg.my_claims"``) or ``.py`` paths whose ``CLAIMS``
            join the pool the ids select from (``claims.load_user_claims``).

    Raises ValueError naming an id that matches nothing (``claims.select_all_claims``)."""
    from overparam.claims import select_all_claims

    items = _as_list(selection, "selection")
    specs = _as_list(claims, "claims")
    for i, spec in enumerate(specs):
        if not isinstance(spec, str):
            raise TypeError(f"claims: expected module names or .py paths, got "
                            f"{type(spec).__name__} at position {i}")
    chosen: list[Claim] = []
    patterns = [s for s in items if isinstance(s, str)]
    for i, item in enumerate(items):
        if not isinstance(item, str | Claim):
            raise TypeError(f"selection: expected ids, patterns or Claim objects, got "
                            f"{type(item).__name__} at position {i}")
    if patterns or not items:
        chosen.extend(select_all_claims(patterns, specs))
    chosen.extend(c for c in items if isinstance(c, Claim) and c not in chosen)
    out: list[ClaimCheck] = []
    for claim in chosen:
        seen: dict[str, int] = {}
        for check in claim.checks:
            name = check_name(check)
            seen[name] = seen.get(name, 0) + 1
            out.append(ClaimCheck(claim, check,
                                  name if seen[name] == 1 else f"{name}-{seen[name]}"))
    return out


def parametrize_with_claims(selection: Any = None, *, claims: Any = None) -> Any:
    """A ``pytest.mark.parametrize`` over every (claim, check) pair of the selection, with
    argument names ``claim, check`` and ids ``"<claim id>:<check name>"``.

    ``check`` is a ``ClaimCheck``: call it (``check()``, or ``check(level="full",
    seed=1)``) to run it as a test. Arguments as ``claim_checks``; the selection is resolved
    when the decorator is applied (at collection), so an unknown id is a collection error
    naming it."""
    import pytest

    pairs = claim_checks(selection, claims=claims)
    return pytest.mark.parametrize(("claim", "check"), [(p.claim, p) for p in pairs],
                                   ids=[p.id for p in pairs])
