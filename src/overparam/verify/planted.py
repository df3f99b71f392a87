"""Planted bugs: small, deliberate errors in the functions a claim exercises, to show that the
claim's checks can fail (the way scikit-learn runs its estimator checks against deliberately
broken estimators).

A :class:`PlantedBug` names a public function (``"module:function"``) and a mutation of its
return value — a relative error of 1e-3, a sign error, a transposition or swap, an
off-by-one, a bound made slightly too small. :func:`planted` installs it for the duration of a
``with`` block, in the defining module and in every loaded ``overparam`` module that holds
the same function object under any name, so that callers who imported it by name see the bug
too. :func:`bugs_for` builds the standard set for a function; :func:`hunt` runs a claim's
checks under one bug and says which evidence item caught it; :func:`hunt_claims` and
:func:`markdown_table` do it for every bug of every claim (``python -m
overparam.verify.planted [IDS...]``, your own claims included once registered).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import numbers
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from overparam.verify.types import Claim, Context, Evidence

__all__ = ["GROSS_MUTATIONS", "MUTATIONS", "RELATIVE", "Hunt", "PlantedBug", "bugs_for",
           "check_can_fail", "falsified_items", "hunt", "hunt_claims", "markdown_table",
           "planted", "resolve"]

#: The relative error every claim must detect in the functions it exercises.
RELATIVE = 1e-3


def resolve(target: str) -> tuple[Any, str, Callable]:
    """``"package.module:function"`` → (module, attribute name, the function)."""
    module_name, _, name = target.partition(":")
    if not name:
        raise ValueError(f"target: expected 'module:function', got {target!r}")
    module = importlib.import_module(module_name)
    try:
        return module, name, getattr(module, name)
    except AttributeError:
        raise ValueError(f"target: {module_name} has no attribute {name!r}") from None


def _map_numbers(value: Any, fn: Callable[[Any], Any]) -> Any:
    """Apply ``fn`` to the first numeric part of a return value: a number, an array, the first
    entry of a tuple/list, the first field of a dataclass or value of a dict that ``fn``
    changes (each recursively). Anything else is returned unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Number) or hasattr(value, "__array__"):
        return fn(value)
    if isinstance(value, (tuple, list)) and value:
        first = _map_numbers(value[0], fn)
        rest = list(value[1:])
        return type(value)([first, *rest]) if isinstance(value, list) else (first, *rest)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            mapped = _map_numbers(v, fn)
            if not _same(v, mapped):
                return dataclasses.replace(value, **{f.name: mapped})
        return value
    if isinstance(value, dict):
        for k, v in value.items():
            mapped = _map_numbers(v, fn)
            if not _same(v, mapped):
                return {**value, k: mapped}
    return value


def _relative(v: Any, factor: float) -> Any:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return v + 1 if factor > 1 else v - 1
    if isinstance(v, numbers.Rational):
        return v * Fraction(factor)
    return v * factor


def _negate_first(v: Any) -> Any:
    """The first non-zero entry's sign flipped (a scalar: its sign)."""
    if not hasattr(v, "__array__") or np.ndim(v) == 0:
        return -v
    out = v.copy()
    flat = out.reshape(-1)
    nz = np.flatnonzero(np.asarray(flat != 0).get() if hasattr(flat, "get") else flat != 0)
    flat[int(nz[0]) if nz.size else 0] *= -1
    return out


def _transpose_or_swap(v: Any) -> Any:
    """A square matrix transposed unless symmetric; otherwise the first two entries along the
    first axis swapped (a scalar or a length-1 axis: unchanged, so the mutation is skipped)."""
    if not hasattr(v, "__array__") or np.ndim(v) == 0 or v.shape[0] < 2:
        return v
    if v.ndim == 2 and v.shape[0] == v.shape[1] and not np.array_equal(v, v.T):
        return v.T.copy()
    out = v.copy()
    out[[0, 1]] = out[[1, 0]]
    return out


def _off_by_one(v: Any) -> Any:
    """An integer one too large; an array shifted by one position along its first axis."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return v + 1
    if isinstance(v, numbers.Rational):
        return v + 1
    if hasattr(v, "__array__") and np.ndim(v) >= 1 and v.shape[0] >= 2:
        xp = sys.modules.get(type(v).__module__.split(".")[0], np)
        return xp.roll(v, 1, axis=0)
    return v


def _same(a: Any, b: Any) -> bool:
    """Whether a mutation left a return value unchanged (compared part by part)."""
    if a is b:
        return True
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return all(_same(getattr(a, f.name), getattr(b, f.name))
                   for f in dataclasses.fields(a))
    if isinstance(a, numbers.Rational) and not isinstance(a, (int, np.integer)):
        return a == b and type(a) is type(b)
    if hasattr(a, "__array__") or isinstance(a, (int, float, np.number)):
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        return bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))
    return a == b


#: The standard mutations: name → value → wrong value.
MUTATIONS: dict[str, Callable[[Any], Any]] = {
    "relative +1e-3": lambda v: _relative(v, 1 + RELATIVE),
    "relative -1e-3 (a bound too small)": lambda v: _relative(v, 1 - RELATIVE),
    "sign": _negate_first,
    "transposition": _transpose_or_swap,
    "off-by-one": _off_by_one,
}


#: Gross mutations, for showing that a check which tolerates small errors by design (a loose
#: bound sampled by Monte Carlo) still fails on a wrong function.
GROSS_MUTATIONS: dict[str, Callable[[Any], Any]] = {
    "far too small (×1e-6)": lambda v: _relative(v, 1e-6) if not isinstance(
        v, (int, np.integer)) else v // 2,
    "zeros": lambda v: v * 0,
}


@dataclass(frozen=True)
class PlantedBug:
    """A mutation of ``target``'s return value ("module:function"), named by ``kind``."""

    target: str
    kind: str
    mutate: Callable[[Any], Any]

    def __str__(self) -> str:
        return f"{self.target} [{self.kind}]"

    def wrap(self, fn: Callable) -> Callable:
        """``fn`` with its return value mutated; ``buggy.called`` counts its calls and
        ``buggy.effective`` those whose value the mutation changed (a transposition of a
        scalar changes nothing)."""
        mutate = self.mutate

        @functools.wraps(fn)
        def buggy(*args: Any, **kwargs: Any) -> Any:
            buggy.called += 1  # type: ignore[attr-defined]
            value = fn(*args, **kwargs)
            wrong = _map_numbers(value, mutate)
            if not _same(value, wrong):
                buggy.effective += 1  # type: ignore[attr-defined]
            return wrong
        buggy.__planted__ = self  # type: ignore[attr-defined]
        buggy.called = 0  # type: ignore[attr-defined]
        buggy.effective = 0  # type: ignore[attr-defined]
        return buggy


@contextmanager
def planted(bug: PlantedBug) -> Iterator[Callable]:
    """Install ``bug`` for the duration of the block: the target is replaced in its module
    and wherever a loaded ``overparam`` module holds the same function object. Yields the
    buggy function; restores every replaced reference on exit."""
    module, name, original = resolve(bug.target)
    buggy = bug.wrap(original)
    replaced: list[tuple[Any, str]] = [(module, name)]
    for mod in list(sys.modules.values()):
        if mod is None or mod is module or not getattr(mod, "__name__", "").startswith(
                "overparam"):
            continue
        for attr, val in list(vars(mod).items()):
            if val is original:
                replaced.append((mod, attr))
    try:
        for mod, attr in replaced:
            setattr(mod, attr, buggy)
        yield buggy
    finally:
        for mod, attr in replaced:
            setattr(mod, attr, original)


def bugs_for(target: str, kinds: tuple[str, ...] | None = None) -> list[PlantedBug]:
    """The standard planted bugs of ``target`` (every mutation of ``MUTATIONS`` unless
    ``kinds`` names some, from ``MUTATIONS`` or ``GROSS_MUTATIONS``)."""
    resolve(target)
    known = {**MUTATIONS, **GROSS_MUTATIONS}
    chosen = MUTATIONS if kinds is None else {k: known[k] for k in kinds}
    return [PlantedBug(target, kind, fn) for kind, fn in chosen.items()]


def check_can_fail(claim: Claim, index: int, ctx: Context) -> tuple[PlantedBug | None, bool]:
    """Whether check ``index`` of ``claim`` says ``falsified`` for some planted bug in the
    functions the claim exercises (the gross mutations first, then the standard ones; a
    target the check never calls is skipped after one run). Returns
    the first such bug (None when none does) and whether the check votes at all (a check
    whose evidence is all ``observation`` does not)."""
    from overparam.verify.registry import run_check

    check = claim.checks[index]
    correct = run_check(check, ctx)
    if all(e.verdict == "observation" for e in correct):
        return None, False
    if any(e.verdict == "falsified" for e in correct):
        return None, True
    # the gross bugs first: the question is whether the check can fail at all (the claim's
    # hunts show which small bugs it catches), and they settle it in one run
    kinds = (*GROSS_MUTATIONS, *MUTATIONS)
    for target in claim.exercises:
        for bug in bugs_for(target, kinds):
            with planted(bug) as buggy:
                if any(e.verdict == "falsified" for e in run_check(check, ctx)):
                    return bug, True
                if buggy.called == 0:
                    break  # this check never calls the target: no bug in it can show
    return None, True


def falsified_items(claim: Claim, ctx: Context) -> set[tuple[int, int]]:
    """(check index, evidence index) of every item of ``claim`` that says ``falsified`` on
    the code as it is: a claim the paper states wrongly is falsified before any bug."""
    from overparam.verify.registry import run_check

    return {(i, j) for i, check in enumerate(claim.checks)
            for j, e in enumerate(run_check(check, ctx)) if e.verdict == "falsified"}


@dataclass
class Hunt:
    """A planted bug's outcome: the evidence item that caught it (None: uncaught), every
    item produced, and how many calls the mutation actually changed (0: the bug was
    equivalent to the correct code on every call, and nothing could catch it), and the index
    of the check whose evidence caught it."""

    bug: PlantedBug
    caught_by: Evidence | None
    evidence: list[Evidence]
    effective_calls: int
    check_index: int | None = None

    @property
    def caught(self) -> bool:
        return self.caught_by is not None


def hunt(claim: Claim, bug: PlantedBug, ctx: Context,
         already: set[tuple[int, int]] = frozenset()) -> Hunt:
    """Run ``claim``'s checks with ``bug`` planted, stopping at the first evidence item that
    says ``falsified`` and is not in ``already`` (:func:`falsified_items` of the correct
    code). An item that says ``error`` does not count as catching the bug."""
    from overparam.verify.registry import run_check

    seen: list[Evidence] = []
    with planted(bug) as buggy:
        for i, check in enumerate(claim.checks):
            out = run_check(check, ctx)
            seen.extend(out)
            for j, e in enumerate(out):
                if e.verdict == "falsified" and (i, j) not in already:
                    return Hunt(bug, e, seen, buggy.effective, i)
        return Hunt(bug, None, seen, buggy.effective)


def hunt_claims(claims: list[Claim], ctx: Context,
                progress: Callable[[Hunt], None] | None = None) -> dict[str, list[Hunt]]:
    """Every standard planted bug of every function each claim exercises, hunted
    (:func:`hunt`) against the claim's evidence that is not already falsified on the correct
    code. Returns {claim id: hunts}; ``progress`` is called after each hunt."""
    out: dict[str, list[Hunt]] = {}
    for claim in claims:
        already = falsified_items(claim, ctx)
        out[claim.id] = []
        for target in claim.exercises:
            for bug in bugs_for(target):
                result = hunt(claim, bug, ctx, already)
                out[claim.id].append(result)
                if progress is not None:
                    progress(result)
    return out


def markdown_table(results: dict[str, list[Hunt]]) -> str:
    """The planted-bug table: per claim, the functions it exercises, the planted bugs that
    changed a value (effective), how many were caught and by which kinds of evidence; the
    mutations equivalent to the correct code (a transposition of a scalar) are counted
    apart."""
    lines = ["| claim | functions under test | effective planted bugs | caught | caught by |"
             " equivalent (not counted) |", "|---|---|---|---|---|---|"]
    for claim_id, hunts in results.items():
        effective = [h for h in hunts if h.effective_calls]
        caught = [h for h in effective if h.caught]
        kinds = sorted({h.caught_by.kind for h in caught})
        functions = sorted({h.bug.target.split(":")[1] for h in hunts})
        lines.append(f"| `{claim_id}` | {', '.join(f'`{f}`' for f in functions)} | "
                     f"{len(effective)} | {len(caught)} | {', '.join(kinds)} | "
                     f"{len(hunts) - len(effective)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m overparam.verify.planted [IDS...]``: hunt every planted bug of the selected
    claims (default: all) at ``--level quick``, seed 0, and print the markdown table; exit 1
    when an effective bug went uncaught (each is listed)."""
    from overparam.verify.registry import select_claims

    ids = sys.argv[1:] if argv is None else argv
    ctx = Context(level="quick", seed=0, xp=np)
    results = hunt_claims(select_claims(ids), ctx)
    print(markdown_table(results))
    missed = [h for hunts in results.values() for h in hunts
              if h.effective_calls and not h.caught]
    for h in missed:
        print(f"not caught: {h.bug}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
