"""The claims overparam checks, keyed by the ids listed on the docs' claim pages
(papers/ic.md, em.md, rr.md), and how one is run.

The checks package builds the list (``CLAIM_MODULES``); each check module imports only the
vocabulary of ``verify.types``, so imports flow one way: registry → checks → types."""

from __future__ import annotations

import fnmatch
import time
import traceback
from collections.abc import Iterable

from overparam.verify.checks import CLAIM_MODULES
from overparam.verify.types import Check, Claim, ClaimResult, Context, Evidence

__all__ = ["Claim", "Context", "all_claims", "run_check", "run_claim", "select_claims"]

def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` came out of a KeyboardInterrupt (Ctrl-C, or the CLI's SIGTERM): found
    in its cause or context chain or, for an exception group, its members — a library that
    wraps the interruption (hypothesis reports one that lands while it runs a test case as a
    FlakyFailure) must not turn the user's stop into a check's error."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, KeyboardInterrupt):
            return True
        todo += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]
    return False


def run_check(check: Check, ctx: Context) -> list[Evidence]:
    """One check's evidence as a list; a check that raises yields one ``error`` item with its
    traceback instead of stopping the report — but for an interruption, which stops the run
    (KeyboardInterrupt, also when a library wrapped it in another exception)."""
    try:
        out = check(ctx)
    except Exception as exc:  # a failing check is reported, never hidden
        if _interrupted(exc):
            raise KeyboardInterrupt from exc
        return [Evidence(
            kind=getattr(check, "__name__", "check"), verdict="error",
            details=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}")]
    return out if isinstance(out, list) else [out]


def run_claim(claim: Claim, ctx: Context) -> ClaimResult:
    """Run every check of ``claim`` (:func:`run_check`)."""
    start = time.perf_counter()
    evidence: list[Evidence] = []
    for check in claim.checks:
        evidence.extend(run_check(check, ctx))
    return ClaimResult(claim.id, claim.paper, claim.where, claim.statement, evidence,
                       time.perf_counter() - start, claim.exercises)


def all_claims() -> list[Claim]:
    """Every registered claim, in the order of the docs' claim pages (IC, EM, RR)."""
    return [c for module in CLAIM_MODULES for c in module.CLAIMS]


def select_claims(ids: list[str] | None, pool: Iterable[Claim] | None = None) -> list[Claim]:
    """The claims of ``pool`` (default: every registered claim) named by ``ids`` — exact ids or
    shell-style patterns such as ``ic.*`` — in the order the ids are given; the whole pool
    when ``ids`` is empty. Raises ValueError naming any id that matches nothing."""
    claims = all_claims() if pool is None else list(pool)
    if not ids:
        return claims
    chosen: list[Claim] = []
    for wanted in ids:
        match = [c for c in claims if fnmatch.fnmatchcase(c.id, wanted)]
        if not match:
            known = ", ".join(c.id for c in claims)
            raise ValueError(f"unknown claim id {wanted!r}; known: {known}")
        chosen.extend(c for c in match if c not in chosen)
    return chosen
