"""``verify.planted``: the mutations change what they say (checked against values computed by
hand), a planted bug reaches every reference to the function and is removed afterwards, and
a hunt reports which evidence caught it."""

from fractions import Fraction

import numpy as np
import pytest

import overparam.theory.identity_crisis as ic
from overparam.verify.planted import MUTATIONS, PlantedBug, bugs_for, hunt, planted
from overparam.verify.types import Claim, Context, Evidence

TARGET = "overparam.theory.identity_crisis:lemma2_limit"


def test_relative_errors_scale_floats_and_step_integers():
    assert MUTATIONS["relative +1e-3"](2.0) == 2.0 * 1.001
    assert MUTATIONS["relative -1e-3 (a bound too small)"](2.0) == 2.0 * 0.999
    assert MUTATIONS["relative +1e-3"](7) == 8
    assert MUTATIONS["relative +1e-3"](Fraction(1, 3)) == Fraction(1, 3) * Fraction(1.001)


def test_sign_flips_the_first_non_zero_entry_only():
    out = MUTATIONS["sign"](np.array([0.0, 2.0, 3.0]))
    assert out.tolist() == [0.0, -2.0, 3.0]


def test_transposition_transposes_a_non_symmetric_square_and_swaps_otherwise():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert MUTATIONS["transposition"](A).tolist() == [[1.0, 3.0], [2.0, 4.0]]
    S = np.array([[1.0, 2.0], [2.0, 5.0]])
    assert MUTATIONS["transposition"](S).tolist() == [[2.0, 5.0], [1.0, 2.0]]
    assert MUTATIONS["transposition"](3.5) == 3.5  # nothing to transpose: equivalent


def test_off_by_one_shifts_arrays_and_steps_integers():
    assert MUTATIONS["off-by-one"](np.array([1.0, 2.0, 3.0])).tolist() == [3.0, 1.0, 2.0]
    assert MUTATIONS["off-by-one"](4) == 5


def test_planted_bug_reaches_aliases_and_is_removed_afterwards():
    import overparam.verify.checks.ic_linear as checks

    X, Y = np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [4.0], [6.0]])
    right = ic.lemma2_limit(X, Y)
    assert right[0, 0] == pytest.approx(2.0, rel=1e-15)
    bug = bugs_for(TARGET, ("relative +1e-3",))[0]
    with planted(bug) as buggy:
        assert ic.lemma2_limit(X, Y)[0, 0] == pytest.approx(2.002, rel=1e-15)
        assert checks.ic.lemma2_limit is buggy
        assert buggy.effective == 1
    assert ic.lemma2_limit(X, Y)[0, 0] == right[0, 0]


def test_structured_outputs_have_their_first_changed_part_mutated():
    dims = ic.conv1_dims(np.ones((3, 3, 1)), 1)
    bug = bugs_for("overparam.theory.identity_crisis:conv1_dims", ("off-by-one",))[0]
    with planted(bug):
        wrong = ic.conv1_dims(np.ones((3, 3, 1)), 1)
    assert (wrong.m, wrong.D) == (dims.m + 1, dims.D)


def test_hunt_reports_the_evidence_that_caught_the_bug_and_skips_known_falsified_items():
    def check(ctx):
        v = ic.lemma2_limit(np.array([[1.0], [1.0]]), np.array([[1.0], [1.0]]))[0, 0]
        return [Evidence("always-false", "falsified"),
                Evidence("exact", "verified" if abs(v - 1.0) <= 1e-12 else "falsified")]

    claim = Claim("t.c", "T", "here", "lemma2 of ones is 1", (check,), (TARGET,))
    ctx = Context("quick", 0, np)
    bug = PlantedBug(TARGET, "relative +1e-3", MUTATIONS["relative +1e-3"])
    result = hunt(claim, bug, ctx, {(0, 0)})
    assert result.caught and result.caught_by.kind == "exact"
    no_bug = PlantedBug(TARGET, "identity", lambda v: v)
    missed = hunt(claim, no_bug, ctx, {(0, 0)})
    assert not missed.caught and missed.effective_calls == 0


def test_a_target_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="no attribute"):
        bugs_for("overparam.theory.identity_crisis:no_such_function")
    with pytest.raises(ValueError, match="module:function"):
        bugs_for("overparam.theory.identity_crisis")
