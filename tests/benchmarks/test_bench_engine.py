"""The engine benchmark's paired ratio interval (``benchmarks/bench_engine.py``): order
statistics from the binomial table, its verdicts, and its coverage by simulation."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_engine.py"
_SPEC = importlib.util.spec_from_file_location("bench_engine", _PATH)
bench_engine = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_engine)
interval = bench_engine.paired_ratio_interval


def test_thirty_rounds_use_the_10th_and_21st_order_statistics():
    # the textbook table for n = 30 at 95 %: P(X ≤ 9) = 0.0214 ≤ 0.025 < P(X ≤ 10) = 0.0494
    ratios = np.random.default_rng(0).permutation(0.5 + np.arange(30) / 100)
    got = interval(list(ratios))
    assert (got["low"], got["high"]) == (0.5 + 9 / 100, 0.5 + 20 / 100)
    assert got["median"] == pytest.approx(0.645)
    assert got["verdict"] == "faster" and got["rounds"] == 30


def test_six_rounds_span_min_to_max_and_five_give_no_interval():
    # n = 6: P(X = 0) = 1/64 ≤ 0.025 < P(X ≤ 1) = 7/64; n = 5: P(X = 0) = 1/32 > 0.025
    six = interval([1.3, 1.1, 1.2, 1.25, 1.15, 1.05])
    assert (six["low"], six["high"], six["verdict"]) == (1.05, 1.3, "slower")
    five = interval([0.5, 0.6, 0.7, 0.8, 0.9])
    assert (five["low"], five["high"], five["verdict"]) == (0.0, float("inf"), "tied")


def test_an_interval_containing_one_is_a_tie():
    ratios = [0.9, 0.95, 0.97, 0.99, 1.0, 1.01, 1.02, 1.05, 1.1, 1.2] * 3
    assert interval(ratios)["verdict"] == "tied"
    with pytest.raises(ValueError):
        interval([])


def test_coverage_of_the_true_median_is_at_least_the_level():
    # 4,000 samples of 30 ratios from a skewed law with median 1 (lognormal): the interval
    # holds 1 in ≥ 95 % of them, up to 3 Monte Carlo standard errors (0.35 %)
    rng = np.random.default_rng(1)
    hits = sum(interval(list(rng.lognormal(0.0, 0.1, 30)))["verdict"] == "tied"
               for _ in range(4000))
    se = np.sqrt(0.95 * 0.05 / 4000)
    assert hits / 4000 >= 0.95 - 3 * se
