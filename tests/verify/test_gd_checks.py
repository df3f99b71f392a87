"""The shared closed-form-vs-training machinery: the budget growth of an uninformative run
(hand-derived step sequences) and the derived tolerance on runs whose iterates are known in
closed form."""

import numpy as np
import pytest

from overparam.verify.gd_checks import (
    INFORMATIVE,
    MAX_REDRAWS,
    MAX_STEP_FACTOR,
    GDConfig,
    compare_run,
    draw_until_informative,
    informative,
    run_until_informative,
)


def _fake_run(calls: list[int], floor: float):
    """A run whose contraction term halves every 100 steps above a constant ``floor``."""
    def run(steps: int) -> dict:
        calls.append(steps)
        contraction = 0.5 ** (steps / 100)
        return {"tolerance": {"total": contraction + floor, "contraction": contraction},
                "movement": 1.0}
    return run


def test_steps_double_until_the_tolerance_is_informative():
    # 0.5**(T/100) + 1e-6 ≤ 1e-4 needs T ≥ 100·log2(1/(1e-4 − 1e-6)) ≈ 1328.8: 100 → 1600
    assert INFORMATIVE == 1e-4
    calls: list[int] = []
    result = run_until_informative(_fake_run(calls, 1e-6), 100)
    assert calls == [100, 200, 400, 800, 1600]
    assert informative(result)


def test_steps_stop_doubling_at_the_cap():
    calls: list[int] = []
    result = run_until_informative(_fake_run(calls, 1e-6), 10)
    assert calls == [10 * 2**k for k in range(5)]
    assert calls[-1] == MAX_STEP_FACTOR * 10
    assert not informative(result)


def test_a_tolerance_steps_cannot_shrink_is_returned_at_once():
    # the floor (rounding, conditioning) is ≥ half the total: more steps would not help
    calls: list[int] = []
    result = run_until_informative(_fake_run(calls, 0.9), 100)
    assert calls == [100]
    assert not informative(result)


def _runs(total: float) -> list[dict]:
    return [{"tolerance": {"total": total, "contraction": total}, "movement": 1.0}]


def test_an_instance_is_drawn_again_until_its_runs_inform():
    # draws 0, 1 uninformative, 2 informative; then 3 informative: two instances, 2 redraws
    draws = iter([1.0, 1.0, 1e-9, 1e-9])
    instances, runs, redraws = draw_until_informative(
        lambda: (total := next(draws), _runs(total)), 2)
    assert instances == [1e-9, 1e-9]
    assert redraws == 2
    assert all(informative(r) for these in runs for r in these)


def test_redraws_stop_after_max_redraws_and_keep_the_last_draw():
    seen: list[int] = []

    def attempt():
        seen.append(len(seen))
        return seen[-1], _runs(1.0)

    instances, runs, redraws = draw_until_informative(attempt, 1)
    assert seen == list(range(MAX_REDRAWS + 1))
    assert instances == [MAX_REDRAWS]
    assert redraws == MAX_REDRAWS
    assert not informative(runs[0][0])


def test_informative_is_relative_to_the_distance_moved():
    run = {"tolerance": {"total": INFORMATIVE * 3.0}, "movement": 3.0}
    assert informative(run)
    assert not informative({**run, "movement": 2.999})


@pytest.mark.parametrize("steps", [5, 40, 400])
def test_tolerance_covers_gd_at_every_stage_of_convergence(steps):
    # X = diag(1, 0.1) on rows, Y = 0: with η = 1/λ_max plain GD gives, per column,
    # W_T = diag(1 − 1, 1 − 0.01)^T W0 exactly, and W∞ = 0 (full rank, zero targets); the
    # contraction term bounds it by the slowest factor times ‖W0 − W∞‖ = √2
    X = np.diag([1.0, 0.1])
    Y = np.zeros((2, 1))
    W0 = np.array([[1.0], [1.0]])
    run = compare_run(X, Y, W0, np.zeros((2, 1)), GDConfig("gd"), steps)
    exact_gap = 0.99**steps
    assert run["gap"] == pytest.approx(exact_gap, rel=4 * steps * np.finfo(float).eps)
    assert run["tolerance"]["contraction"] == pytest.approx(np.sqrt(2) * exact_gap,
                                                           rel=4 * steps * np.finfo(float).eps)
    assert run["ratio"] <= 1
    assert informative(run) == (run["tolerance"]["total"] <= INFORMATIVE * np.sqrt(2))
