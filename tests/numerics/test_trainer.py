import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overparam.numerics.convergence import quadratic_error_factors
from overparam.numerics.optimizers import (
    Adagrad,
    Adam,
    Adamax,
    GradientDescent,
    Momentum,
    RMSprop,
    make_optimizer,
)
from overparam.numerics.schedules import Constant, Stagewise, ic_appendix_a
from overparam.numerics.trainer import train


def quadratic(lam):
    """½λw² on a scalar stored as a length-1 array."""
    def f(p):
        w = p["w"]
        return 0.5 * lam * float(w @ w), {"w": lam * w}
    return f


def test_gd_on_a_quadratic_follows_the_hand_derived_recursion():
    lam, lr, T = 2.0, 0.1, 7
    res = train({"w": np.array([1.0])}, quadratic(lam), GradientDescent(), Constant(lr),
                max_steps=T)
    assert res.params["w"][0] == pytest.approx((1 - lr * lam) ** T, rel=1e-14)
    assert res.steps == T and res.status == "max_steps"


def test_heavy_ball_and_nesterov_two_steps_by_hand():
    # λ = 1, η = 0.5, β = 0.9, w0 = 1:
    # heavy ball: v1 = 1, w1 = 0.5; v2 = 0.9 + 0.5 = 1.4, w2 = 0.5 − 0.7 = −0.2
    hb = train({"w": np.array([1.0])}, quadratic(1.0), Momentum(0.9), Constant(0.5),
               max_steps=2)
    assert hb.params["w"][0] == pytest.approx(-0.2, abs=1e-15)
    # Nesterov: v1 = 1, w1 = 1 − 0.5(1 + 0.9) = 0.05
    nv = train({"w": np.array([1.0])}, quadratic(1.0), Momentum(0.9, nesterov=True),
               Constant(0.5), max_steps=1)
    assert nv.params["w"][0] == pytest.approx(0.05, abs=1e-15)


@pytest.mark.parametrize("opt, factor", [
    (Adam(eps=0.0), 1.0), (Adamax(eps=0.0), 1.0), (Adagrad(eps=0.0), 1.0),
    (RMSprop(rho=0.99, eps=0.0), 10.0),
])
def test_adaptive_first_step_is_sign_of_gradient(opt, factor):
    # first step of each: lr·g/|g| (RMSprop: lr·g/sqrt(0.01 g²) = 10·lr·sign g)
    res = train({"w": np.array([3.0, -2.0])}, quadratic(1.0), opt, Constant(0.01), max_steps=1)
    # a handful of roundings of numbers of size ≤ 3: 8u relative
    np.testing.assert_allclose(res.params["w"], [3.0 - 0.01 * factor, -2.0 + 0.01 * factor],
                               rtol=8 * 2.0**-53)


def test_divergence_is_detected_and_no_nan_leaks():
    res = train({"w": np.array([1.0])}, quadratic(1.0), GradientDescent(), Constant(3.0),
                max_steps=10_000)
    assert res.diverged and res.diverged_at is not None
    assert np.all(np.isfinite(res.params["w"])) and math.isfinite(res.final_loss)
    # |1 − 3| = 2 per step: the loss grows 4× a step and passes 1e8× after ⌈log(1e8)/log 4⌉
    assert res.diverged_at == math.ceil(math.log(1e8) / math.log(4))


def test_convergence_by_gradient_tolerance():
    res = train({"w": np.array([1.0])}, quadratic(1.0), GradientDescent(), Constant(0.5),
                max_steps=1000, grad_tol=1e-6)
    # |w_t| = 0.5^t ≤ 1e-6 first at t = 20
    assert res.converged and res.steps == 20


def test_stagewise_schedule_of_ic_appendix_a():
    s = ic_appendix_a(100, lr=0.01)
    assert s.boundaries() == (30, 60, 80)
    assert [s(t) for t in (0, 29, 30, 59, 60, 79, 80, 99)] == pytest.approx(
        [0.01, 0.01, 0.002, 0.002, 0.0004, 0.0004, 0.00008, 0.00008])


def test_bad_schedules_and_optimizer_names():
    with pytest.raises(ValueError, match="lr"):
        Constant(0.0)
    with pytest.raises(ValueError, match="milestones"):
        Stagewise(0.1, 10, milestones=(0.5, 0.2))
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("sgdw")


@settings(max_examples=50, deadline=None)
@given(lam=st.floats(0.0, 10.0), lrs=st.lists(st.floats(0.0, 0.3), min_size=1, max_size=40),
       beta=st.sampled_from([0.0, 0.5, 0.9]), nesterov=st.booleans())
def test_error_factors_match_a_direct_scalar_run(lam, lrs, beta, nesterov):
    e, v = 1.0, 0.0
    for lr in lrs:
        g = lam * e
        v = beta * v + g
        e = e - lr * (g + beta * v) if nesterov else e - lr * v
    got = quadratic_error_factors(np.array([lam]), lrs, beta=beta, nesterov=nesterov)[0]
    assert got == pytest.approx(abs(e), rel=1e-9, abs=1e-12)
