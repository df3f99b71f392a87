"""``verify.contract``: a function judged against a reference — disagreement beyond the
tolerance is a finding with a re-runnable counterexample, an undecisive tolerance is never
``verified``, and the reference search counts undecisive examples apart."""

import math

import numpy as np
from hypothesis import strategies as st

from overparam.verify.contract import (
    RESOLUTION,
    decisive,
    judge,
    reference_check,
    reference_search,
)


def square(x):
    return x * x


COMMON = dict(kind="reference", function="test_contract:square", reference="x·x by hand",
              rule="exact", arguments=lambda x: {"x": x})


def test_decisive_means_the_tolerance_resolves_a_tenth_of_a_thousandth():
    assert RESOLUTION == 1e-4
    assert decisive(1e-4, 1.0) and not decisive(1.1e-4, 1.0)
    assert decisive(5e-5, 0.0) and not decisive(2e-4, 0.0)  # an absolute judgement at 0


def test_judge_measures_the_euclidean_gap_and_refuses_shape_mismatches():
    row = judge(np.array([3.0, 4.0]), np.zeros(2), 10.0)
    assert row["gap"] == 5.0 and row["ratio"] == 0.5
    assert judge(np.zeros(2), np.zeros(3), 1.0)["ratio"] == math.inf
    assert judge(np.array([np.nan]), np.zeros(1), 1.0)["ratio"] == math.inf
    assert judge(np.zeros(1), np.ones(1), math.inf) == {
        "gap": 1.0, "tolerance": math.inf, "ratio": 0.0, "decisive": False}


def test_a_disagreement_beyond_the_tolerance_is_falsified_with_the_instance():
    ev = reference_check([1.0, 2.0, 3.0], lambda x: (square(x) * (1 + 1e-3 * (x == 2.0)),
                                                    x * x, 1e-12), **COMMON)
    assert ev.verdict == "falsified"
    assert ev.counterexample.arguments == {"x": 2.0}
    assert square(**ev.counterexample.arguments) == 4.0


def test_agreement_is_verified_and_an_undecisive_tolerance_inconclusive():
    ok = reference_check([1.0, 2.0], lambda x: (square(x), x * x, 1e-12), **COMMON,
                         min_decisive=2)
    assert ok.verdict == "verified" and ok.metrics["decisive_instances"] == 2
    loose = reference_check([1.0, 2.0], lambda x: (square(x), x * x, 1.0), **COMMON)
    assert loose.verdict == "inconclusive"


def test_the_reference_search_finds_a_wrong_function_and_counts_undecided_apart():
    def wrong(x):
        return x * x * (1.01 if x > 5 else 1.0)

    ev = reference_search(st.integers(0, 100), lambda x: (wrong(x), float(x * x), 1e-9),
                          function="test_contract:square", reference="x·x", rule="exact",
                          arguments=lambda x: {"x": x}, max_examples=100, seed=0,
                          domain="0…100")
    assert ev.verdict == "falsified" and ev.counterexample.arguments == {"x": 6}
    undecided = reference_search(
        st.integers(1, 100), lambda x: (float(x * x), float(x * x), float(x * x)),
        function="test_contract:square", reference="x·x", rule="loose",
        arguments=lambda x: {"x": x}, max_examples=50, seed=0, domain="1…100")
    assert undecided.verdict == "inconclusive"
    assert undecided.metrics["decided_examples"] == 0
    assert undecided.metrics["undecided_examples"] > 0
