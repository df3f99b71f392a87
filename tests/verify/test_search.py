from hypothesis import strategies as st

from overparam.verify.search import search_counterexample
from overparam.verify.types import Evidence, combine_verdicts


def identity(x):
    return x


COMMON = dict(entry_point="test_search:identity", max_examples=200, seed=0,
              domain="integers", tolerance={"rule": "exact"})


def test_a_false_statement_is_falsified_with_the_shrunk_counterexample():
    # "every integer n satisfies n ≤ 10" is false; the minimal violation is 11
    ev = search_counterexample(
        st.integers(0, 10**6), lambda n: (n / 10.0, {"n": n}),
        recheck=lambda n: (n > 10, {"exact": n > 10}),
        arguments=lambda n: {"x": n}, **COMMON)
    assert ev.verdict == "falsified"
    assert ev.counterexample.arguments == {"x": 11}
    assert identity(**ev.counterexample.arguments) == 11  # re-runnable as f(**arguments)


def test_a_true_statement_is_verified_and_the_worst_ratio_reported():
    ev = search_counterexample(
        st.integers(0, 10), lambda n: (n / 10.0, {"n": n}),
        recheck=lambda n: (False, {}), arguments=lambda n: {"x": n}, **COMMON)
    assert ev.verdict == "verified"
    assert ev.metrics["worst_ratio_to_tolerance"] == 1.0  # n = 10 is reached, and is allowed
    assert ev.counterexample is None


def test_a_float_flag_cleared_at_higher_precision_is_not_a_violation_and_search_goes_on():
    # every x > 0.5 is flagged in float and cleared by the re-check: the search must keep
    # going and decide on the re-checked evidence, whatever the seed
    for seed in range(5):
        ev = search_counterexample(
            st.floats(0, 1), lambda x: (2.0 if x > 0.5 else 0.0, {}),
            recheck=lambda x: (False, {"exact": "fine"}), arguments=lambda x: {"x": x},
            **{**COMMON, "seed": seed})
        assert ev.verdict == "verified" and ev.counterexample is None
        assert ev.metrics["flagged_in_float_cleared_at_higher_precision"] > 0


def test_only_a_confirmed_flag_is_shrunk_into_the_counterexample():
    # float flags every n > 10, but only n > 1000 is confirmed: the minimal confirmed is 1001
    ev = search_counterexample(
        st.integers(0, 10**6), lambda n: (n / 10.0, {"n": n}),
        recheck=lambda n: (n > 1000, {}), arguments=lambda n: {"x": n}, **COMMON)
    assert ev.verdict == "falsified"
    assert ev.counterexample.arguments == {"x": 1001}


def test_a_search_that_checked_nothing_is_never_verified():
    # every example is rejected by the filter: hypothesis raises Unsatisfiable in each phase
    ev = search_counterexample(
        st.integers(0, 10**6).filter(lambda n: False), lambda n: (0.0, {}),
        recheck=lambda n: (False, {}), arguments=lambda n: {"x": n}, **COMMON)
    assert ev.verdict == "inconclusive"
    assert ev.metrics["distinct_examples"] == 0 and ev.metrics["phases"] > 1


def test_a_search_below_its_floor_is_inconclusive_and_reports_its_count():
    # a filter that passes about 1 in 50 draws leaves far fewer than the floor of 200
    ev = search_counterexample(
        st.integers(0, 10**6).filter(lambda n: n % 50 == 0), lambda n: (0.0, {}),
        recheck=lambda n: (False, {}), arguments=lambda n: {"x": n},
        **{**COMMON, "max_examples": 20}, min_examples=10**4)
    assert ev.verdict == "inconclusive"
    assert ev.metrics["distinct_examples"] < 10**4
    assert str(ev.metrics["distinct_examples"]) in ev.details


def test_an_exhausted_finite_domain_is_decisive():
    # 11 values cannot reach the default floor of 100, but all of them were checked
    ev = search_counterexample(
        st.integers(0, 10), lambda n: (n / 10.0, {}), recheck=lambda n: (False, {}),
        arguments=lambda n: {"x": n}, **COMMON)
    assert ev.verdict == "verified" and ev.metrics["distinct_examples"] == 11


def test_nan_ratio_counts_as_a_violation():
    ev = search_counterexample(
        st.just(1), lambda n: (float("nan"), {}), recheck=lambda n: (True, {}),
        arguments=lambda n: {"x": n}, **COMMON)
    assert ev.verdict == "falsified"


def test_verdict_combination_rules():
    def e(v):
        return Evidence(kind="k", verdict=v)
    assert combine_verdicts([e("verified"), e("verified")]) == "verified"
    assert combine_verdicts([e("verified"), e("inconclusive")]) == "inconclusive"
    assert combine_verdicts([e("error"), e("inconclusive")]) == "error"
    assert combine_verdicts([e("error"), e("falsified")]) == "falsified"
    assert combine_verdicts([e("observation")]) == "inconclusive"
    assert combine_verdicts([e("verified"), e("observation")]) == "verified"


def test_undecided_examples_do_not_count_toward_the_floor():
    ev = search_counterexample(
        st.integers(0, 10**6), lambda n: (0.0, {"decisive": n % 2 == 0}),
        recheck=lambda n: (False, {}), arguments=lambda n: {"x": n},
        **{**COMMON, "max_examples": 40}, min_examples=40)
    assert ev.metrics["undecided_examples"] > 0
    assert ev.metrics["decided_examples"] == (ev.metrics["distinct_examples"]
                                              - ev.metrics["undecided_examples"])
    if ev.verdict == "verified":
        assert ev.metrics["decided_examples"] >= 40


def test_the_worst_ratio_includes_flagged_examples_and_the_worst_cleared_is_kept():
    # every n > 5 is flagged with ratio n/5 and cleared: the worst ratio and the worst cleared
    # example are the largest n drawn, and the text does not say that none exceeded
    ev = search_counterexample(
        st.integers(0, 50), lambda n: (n / 5.0, {"n": n}), recheck=lambda n: (False, {}),
        arguments=lambda n: {"x": n}, **COMMON)
    assert ev.verdict == "verified"
    assert ev.metrics["worst_ratio_to_tolerance"] == 10.0
    assert ev.metrics["worst_cleared"]["n"] == 50
    assert "none exceeded" not in ev.details and "cleared" in ev.details
