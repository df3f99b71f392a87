"""experiments.findings: the Finding's rules and the statistics behind verdicts."""

import math

import numpy as np
import pytest

from overparam.experiments import findings as fd


def _finding(met: bool, verdict: str) -> fd.Finding:
    return fd.Finding(key="k", statement="s", where="Fig. 1",
                      precondition=fd.Precondition("fits", {"fitted": 0}, met),
                      statistic="x", value=0.5, test="t", threshold="> 0", verdict=verdict,
                      seeds=[0, 1, 2])


def test_shown_or_not_shown_is_refused_with_an_unmet_precondition():
    for verdict in (fd.SHOWN, fd.NOT_SHOWN):
        with pytest.raises(ValueError, match="precondition unmet"):
            _finding(False, verdict)
    assert _finding(False, fd.NOT_ASSESSABLE).verdict == fd.NOT_ASSESSABLE
    assert _finding(True, fd.SHOWN).verdict == fd.SHOWN
    with pytest.raises(ValueError, match="verdict"):
        _finding(True, "probably")


def test_decide_and_the_json_round_trip():
    met, unmet = fd.Precondition("p", {}, True), fd.Precondition("p", {}, False)
    assert fd.decide(True, met) == fd.SHOWN and fd.decide(False, met) == fd.NOT_SHOWN
    assert fd.decide(True, unmet) == fd.NOT_ASSESSABLE == fd.decide(None, met)
    f = _finding(True, fd.SHOWN)
    back = fd.from_json(f.to_json())
    assert back == f and fd.render(back) == fd.render(f)
    assert "**shown**" in fd.render(f) and "seeds 0, 1, 2" in fd.render(f)


def test_seed_stats_by_hand():
    st = fd.seed_stats([1.0, 2.0, 3.0])
    # mean 2, sd 1, t_{0.975, 2} = 4.302653 → half-width 4.302653/√3 = 2.484138
    assert st["mean"] == 2.0 and st["sd"] == 1.0
    assert st["ci"] == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    assert fd.seed_stats([0.3])["ci"] is None


def test_t_test_sides():
    assert fd.t_test([0.9, 0.95, 0.92], 0.5) < 0.01
    assert fd.t_test([0.9, 0.95, 0.92], 0.5, greater=False) > 0.99
    assert fd.t_test([0.7], 0.5) is None
    assert fd.t_test([0.7, 0.7], 0.5) == 0.0 and fd.t_test([0.3, 0.3], 0.5) == 1.0


def test_partial_spearman_holds_the_control_out():
    """Two quantities that both just follow a swept control correlate perfectly, and not at
    all once the control is held out; a real link beyond the control survives."""
    rng = np.random.default_rng(0)
    control = np.repeat(np.arange(6.0), 3)
    a = control + 0.01 * rng.standard_normal(control.size)
    b = -control + 0.01 * rng.standard_normal(control.size)
    raw, _ = fd.spearman(a, b)
    assert raw < -0.95
    r, p = fd.partial_spearman(a, b, control)
    assert abs(r) < 0.6 and p > 0.01
    noise = rng.standard_normal(control.size)
    shared = control * 10 + noise
    r2, p2 = fd.partial_spearman(shared, shared + 0.1 * rng.standard_normal(control.size),
                                 control)
    assert r2 > 0.8 and p2 < 1e-3
    assert fd.partial_spearman([1, 2, 3], [1, 2, 3], [1, 2, 3]) == (None, None)
    assert not math.isnan(r)
