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


def test_an_unconfirmed_float_violation_is_inconclusive_not_falsified():
    ev = search_counterexample(
        st.floats(0, 1), lambda x: (2.0 if x > 0.5 else 0.0, {}),
        recheck=lambda x: (False, {"exact": "fine"}), arguments=lambda x: {"x": x}, **COMMON)
    assert ev.verdict == "inconclusive" and ev.counterexample is None


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
