"""The planted-bug suite: every claim must catch small bugs in every function it exercises.

For every claim and every function of its ``exercises``, each standard mutation of
``verify.planted`` (a relative error of ±1e-3 — the second a bound made too small —, a sign
error, a transposition or swap, an off-by-one) is planted and the claim's checks run at
``--level quick``, seed 0: some evidence item that is not already ``falsified`` on the correct
code must say ``falsified``. A mutation that changes no return value on any call (transposing
a scalar) is equivalent to the correct code and is not counted; every claim must still catch
at least three effective planted bugs.

The whole suite is slow (a few minutes): ``pytest -m slow``. The default suite plants one
bug per claim (a relative error of 1e-3 in its first function). That every voting check on
its own can fail is the audit set, ``pytest -m audit`` (about five more minutes, outside CI).
"""

import functools

import numpy as np
import pytest

from overparam.verify.planted import MUTATIONS, bugs_for, check_can_fail, falsified_items, hunt
from overparam.verify.registry import all_claims
from overparam.verify.types import Context

CLAIMS = {c.id: c for c in all_claims()}
#: Every claim must catch at least this many effective planted bugs.
MIN_BUGS = 3


def _ctx() -> Context:
    return Context(level="quick", seed=0, xp=np)


_BASELINE: dict[str, set] = {}


def _already_falsified(claim_id: str) -> set:
    if claim_id not in _BASELINE:
        _BASELINE[claim_id] = falsified_items(CLAIMS[claim_id], _ctx())
    return _BASELINE[claim_id]


@functools.cache
def _hunt(claim_id: str, target: str, kind: str):
    bug = bugs_for(target, (kind,))[0]
    return hunt(CLAIMS[claim_id], bug, _ctx(), _already_falsified(claim_id))


def _describe(result) -> str:
    lines = [f"{result.bug} was not caught ({result.effective_calls} calls changed):"]
    lines += [f"  {e.kind}: {e.verdict} — {e.details[:200]}" for e in result.evidence]
    return "\n".join(lines)


def test_every_claim_names_the_functions_it_exercises():
    missing = [cid for cid, c in CLAIMS.items() if not c.exercises]
    assert not missing


def test_every_public_closed_form_is_exercised_by_a_claim():
    import overparam.theory.extreme_memorization as em
    import overparam.theory.identity_crisis as ic
    import overparam.theory.rethinking as rr

    exercised = {t for c in CLAIMS.values() for t in c.exercises}
    public = {f"{m.__name__}:{name}" for m in (ic, em, rr) for name in m.__all__
              if callable(getattr(m, name)) and not isinstance(getattr(m, name), type)}
    assert public - exercised == set()


@pytest.mark.parametrize("claim_id", sorted(CLAIMS))
def test_a_relative_error_in_the_first_exercised_function_is_caught(claim_id):
    claim = CLAIMS[claim_id]
    bug = bugs_for(claim.exercises[0], ("relative +1e-3",))[0]
    result = hunt(claim, bug, _ctx(), _already_falsified(claim_id))
    assert result.effective_calls > 0, f"{bug} changed nothing"
    assert result.caught, _describe(result)
    assert result.caught_by.verdict == "falsified"


def _all_bugs():
    for cid in sorted(CLAIMS):
        for target in CLAIMS[cid].exercises:
            for kind in MUTATIONS:
                yield pytest.param(cid, target, kind, id=f"{cid}:{target.split(':')[1]}:{kind}")


@pytest.mark.slow
@pytest.mark.parametrize(("claim_id", "target", "kind"), list(_all_bugs()))
def test_every_planted_bug_is_caught(claim_id, target, kind):
    result = _hunt(claim_id, target, kind)
    if result.effective_calls == 0:
        pytest.skip(f"{result.bug} is equivalent to the correct code here (changed no value)")
    assert result.caught, _describe(result)


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", sorted(CLAIMS))
def test_every_claim_catches_at_least_three_effective_bugs(claim_id):
    caught = sum(result.effective_calls > 0 and result.caught
                 for target in CLAIMS[claim_id].exercises for kind in MUTATIONS
                 if (result := _hunt(claim_id, target, kind)))
    assert caught >= MIN_BUGS, f"{claim_id} caught only {caught} effective planted bugs"


def test_the_pytest_items_fail_on_a_planted_bug_with_the_counterexample():
    from overparam.testing import ClaimCheckError, claim_checks
    from overparam.verify.planted import planted

    bug = bugs_for("overparam.theory.identity_crisis:lemma2_limit", ("relative +1e-3",))[0]
    training = claim_checks(["ic.lemma2"])[0]
    with planted(bug), pytest.raises(ClaimCheckError) as info:
        training()
    assert "falsified" in str(info.value)
    assert "counterexample: overparam.theory.identity_crisis:lemma2_limit" in str(info.value)
    training()  # the bug is gone once the block ends


def _checks():
    for cid in sorted(CLAIMS):
        for i, check in enumerate(CLAIMS[cid].checks):
            name = getattr(check, "__name__", "check").lstrip("_")
            yield pytest.param(cid, i, id=f"{cid}:{name}")


@pytest.mark.audit
@pytest.mark.parametrize(("claim_id", "index"), list(_checks()))
def test_every_voting_check_can_fail(claim_id, index):
    # a check already falsified on the correct code fails by definition, one that caught a
    # hunted bug has shown it can; every other voting check must say falsified for some
    # planted bug in the claim's functions
    claim = CLAIMS[claim_id]
    if any(_hunt(claim_id, t, k).check_index == index for t in claim.exercises
           for k in MUTATIONS):
        return
    bug, votes = check_can_fail(claim, index, _ctx())
    if not votes:
        pytest.skip("an observation: it does not vote")
    already = {i for i, _ in _already_falsified(claim_id)}
    assert bug is not None or index in already, \
        f"no planted bug makes {claim_id}'s check {index} say falsified"
