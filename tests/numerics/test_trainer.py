import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overparam.numerics.convergence import least_squares_rounding_bound, quadratic_error_factors
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov", [False, True])
def test_gd_and_momentum_updates_are_the_textbook_expressions_bit_for_bit(dtype, nesterov):
    # the updates form each array with one temporary; the reference is the plain expression
    # (w − ηg; v ← βv + g, w − ηv or w − η(g + βv)), which must give the same bits
    rng = np.random.default_rng(7)
    shapes = {"a/W": (5, 7), "a/b": (7,), "c": (3, 2, 4)}
    p = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    g = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    v = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    # a Fortran-ordered parameter with C-ordered gradients (a transposed W0): the result's
    # memory order must be the plain expression's too (a later product rounds by it)
    p["a/W"] = np.asfortranarray(p["a/W"])
    v["a/W"] = np.asfortranarray(v["a/W"])
    kept = {k: (p[k].copy(), g[k].copy(), v[k].copy()) for k in p}
    lr, beta = 0.0123, 0.9
    new, _ = GradientDescent().update(p, g, lr, {})
    for k in p:
        ref = p[k] - lr * g[k]
        assert new[k].dtype == dtype and np.array_equal(new[k], ref)
        assert new[k].flags.c_contiguous == ref.flags.c_contiguous
    new, state = Momentum(beta, nesterov=nesterov).update(p, g, lr, {"v": v})
    for k in p:
        v_ref = beta * v[k] + g[k]
        w_ref = p[k] - lr * (g[k] + beta * v_ref) if nesterov else p[k] - lr * v_ref
        assert np.array_equal(state["v"][k], v_ref) and np.array_equal(new[k], w_ref)
        assert state["v"][k].flags.c_contiguous == v_ref.flags.c_contiguous
        assert new[k].flags.c_contiguous == w_ref.flags.c_contiguous
        assert new[k].dtype == state["v"][k].dtype == dtype
    for k in p:  # nothing mutated in place
        assert all(np.array_equal(a, b) for a, b in zip((p[k], g[k], v[k]), kept[k], strict=True))


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
    with pytest.raises(ValueError, match=r"^name: expected one of \('adagrad'"):
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


@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 200), st.integers(0, 3))
def test_minibatches_partition_each_epoch(n, b, step, seed):
    from overparam.numerics.trainer import minibatch_indices

    if b > n:
        with pytest.raises(ValueError):
            minibatch_indices(n, b, step, seed=seed)
        return
    per_epoch = n // b
    epoch = step // per_epoch
    seen = np.concatenate([minibatch_indices(n, b, epoch * per_epoch + k, seed=seed)
                           for k in range(per_epoch)])
    assert len(seen) == per_epoch * b == len(set(seen.tolist()))
    assert seen.min() >= 0 and seen.max() < n
    assert np.array_equal(minibatch_indices(n, b, step, seed=seed),
                          minibatch_indices(n, b, step, seed=seed))


def test_minibatches_are_slices_of_the_seeded_epoch_permutation_and_callers_own_them():
    # the reference draws each epoch's permutation directly; interleaved runs (two seeds, two
    # sizes) must not see each other's cached epochs, and writing into a returned batch must
    # not change a later one
    from overparam.numerics.trainer import minibatch_indices

    for step in [0, 1, 2, 3, 4, 5, 11, 3, 0]:
        for n, b, seed in [(20, 6, 0), (20, 6, 1), (7, 2, 0)]:
            epoch, k = divmod(step, n // b)
            expected = np.random.default_rng([seed, epoch]).permutation(n)[k * b:(k + 1) * b]
            got = minibatch_indices(n, b, step, seed=seed)
            assert np.array_equal(got, expected)
            got[:] = -1


def test_the_largest_update_norm_is_the_largest_step_between_iterates():
    # reference: every iterate kept by the callback (arrays the trainer hands out are never
    # written again), the steps' norms by numpy's norm. The differences are the same
    # subtractions; the two 4-entry norms (BLAS dot vs linalg.norm) are each within
    # γ₄/2 + u ≈ 3u of exact, so within 6u of each other: 8u allowed
    rng = np.random.default_rng(3)
    A = rng.normal(size=(6, 4))

    def f(p):
        r = A @ p["w"] - 1.0
        return 0.5 * float(r @ r), {"w": A.T @ r}

    iterates = []

    def keep(t, p, loss):
        iterates.append(p["w"])

    w0 = rng.normal(size=4)
    res = train({"w": w0}, f, Momentum(0.9), Constant(0.02), max_steps=25, callback=keep)
    steps = [np.linalg.norm(b - a) for a, b in zip([w0, *iterates[:-1]], iterates, strict=True)]
    assert len(iterates) == 25
    assert res.max_update_norm == pytest.approx(max(steps), rel=8 * 2.0**-53)
    assert np.array_equal(iterates[-1], res.params["w"])


def test_minibatch_sgd_reaches_the_min_norm_interpolant():
    """Underdetermined least squares (8 examples, 20 weights) from w = 0: every minibatch
    gradient lies in the row space of X, so the limit is X⁺y; the a-posteriori bound
    ‖w − X⁺y‖ ≤ ‖Xw − y‖/σ_min(X) holds for any w in that row space (plus rounding)."""
    from functools import partial

    from overparam.numerics.trainer import minibatch_indices

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 20)), rng.standard_normal(8)
    calls = []

    def loss_and_grad(p, idx):
        calls.append(idx)
        r = X[idx] @ p["w"] - y[idx]
        return 0.5 * float(r @ r) / len(idx), {"w": X[idx].T @ r / len(idx)}

    res = train({"w": np.zeros(20)}, loss_and_grad, GradientDescent(), Constant(0.05),
                max_steps=4000, batches=partial(minibatch_indices, 8, 2, seed=1))
    assert len(calls) == res.steps + 1 and res.status == "max_steps"
    w = res.params["w"]
    s = np.linalg.svd(X, compute_uv=False)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    u, kappa = np.finfo(float).eps / 2, s[0] / s[-1]
    n, d = X.shape
    residual = np.linalg.norm(X @ w - y)
    # rounding: each step's computed update is off by ≤ (d + 4)u of its size, and only that
    # error can leave the row space (T steps of at most max_update_norm); the residual's own
    # rounding (d + 2)uκ‖w‖; the SVD-based reference's forward error (n + d)uκ‖w*‖
    rounding = (res.steps * (d + 4) * u * res.max_update_norm
                + (d + 2) * u * kappa * np.linalg.norm(w)
                + (n + d) * u * kappa * np.linalg.norm(w_star))
    bound = residual / s[-1] + rounding
    assert np.linalg.norm(w - w_star) <= bound, (np.linalg.norm(w - w_star), bound)
    # not a tolerance: the bound above says something only once the run has interpolated
    assert residual <= 1e-6 * np.linalg.norm(y), residual


def test_loss_target_stops_early_on_minibatch_losses():
    """Six equal targets 2, lr ½: w_t = 2(1 − 2⁻ᵗ), loss ½(2·2⁻ᵗ)² = 2·4⁻ᵗ ≤ 0.01 first at
    t = 4 (by hand), whichever batch is drawn."""
    from functools import partial

    from overparam.numerics.trainer import minibatch_indices

    y = np.full(6, 2.0)

    def loss_and_grad(p, idx):
        r = p["w"] - y[idx]
        return 0.5 * float(r @ r) / len(idx), {"w": np.array([r.sum() / len(idx)])}

    res = train({"w": np.zeros(1)}, loss_and_grad, GradientDescent(), Constant(0.5),
                max_steps=100, loss_tol=0.01, batches=partial(minibatch_indices, 6, 1, seed=0))
    assert res.status == "converged" and res.steps == 4
    assert res.final_loss == 2 * 4.0**-4  # every quantity here is a dyadic rational: exact


class _InterruptError(Exception):
    pass


@pytest.mark.parametrize("opt", [Momentum(0.9), Adam(), GradientDescent()])
def test_a_run_resumed_from_its_checkpoint_equals_an_uninterrupted_one(tmp_path, opt):
    from functools import partial

    from overparam.numerics.checkpoint import Checkpoint
    from overparam.numerics.trainer import minibatch_indices

    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((12, 5)), rng.standard_normal(12)
    calls = []

    def loss_and_grad(p, idx):
        calls.append(1)
        r = X[idx] @ p["w"] + p["b"] - y[idx]
        return 0.5 * float(r @ r) / len(idx), {"w": X[idx].T @ r / len(idx),
                                               "b": np.array([r.mean()])}

    start = {"w": np.zeros(5), "b": np.zeros(1)}
    kw = dict(max_steps=60, record_every=7, batches=partial(minibatch_indices, 12, 4, seed=2))
    whole = train(start, loss_and_grad, opt, ic_appendix_a(60, 0.05), **kw)

    ckpt = Checkpoint(tmp_path / "run.npz", every_seconds=0)

    def stop_at_35(step, params, loss):
        if step >= 35:
            raise _InterruptError
    with pytest.raises(_InterruptError):
        train(start, loss_and_grad, opt, ic_appendix_a(60, 0.05), checkpoint=ckpt,
              callback=stop_at_35, **kw)
    assert ckpt.path.exists() and not list(tmp_path.glob(".*.tmp"))
    calls.clear()
    resumed = train(start, loss_and_grad, opt, ic_appendix_a(60, 0.05), checkpoint=ckpt, **kw)
    # interrupted in step 35's callback, before its checkpoint: the last one holds step 34;
    # the resumed run computes the gradient there, then the 26 steps left
    assert len(calls) == 1 + (60 - 34)
    for k in start:
        assert np.array_equal(resumed.params[k], whole.params[k])
    assert resumed.losses.tolist() == whole.losses.tolist() and resumed.lrs == whole.lrs
    assert (resumed.steps, resumed.status, resumed.max_param_norm, resumed.max_update_norm) == (
        whole.steps, whole.status, whole.max_param_norm, whole.max_update_norm)


def test_a_checkpoint_from_another_model_is_discarded_with_a_warning(tmp_path):
    from overparam.numerics.checkpoint import Checkpoint, CheckpointWarning

    ckpt = Checkpoint(tmp_path / "c.npz", every_seconds=0)
    train({"w": np.ones(3)}, quadratic(1.0), GradientDescent(), Constant(0.1), max_steps=2,
          checkpoint=ckpt)
    with pytest.warns(CheckpointWarning, match="do not match"):
        res = train({"w": np.ones(4)}, quadratic(1.0), GradientDescent(), Constant(0.1),
                    max_steps=2, checkpoint=ckpt)
    # a fresh start: what the same run gives without a checkpoint
    fresh = train({"w": np.ones(4)}, quadratic(1.0), GradientDescent(), Constant(0.1),
                  max_steps=2)
    assert res.params["w"].tolist() == fresh.params["w"].tolist() and res.steps == 2
    assert np.allclose(res.params["w"], 0.81, rtol=4 * 2.0**-53, atol=0)  # (1 − 0.1)² by hand


def test_another_points_checkpoint_with_the_same_shapes_is_not_used(tmp_path):
    from overparam.numerics.checkpoint import Checkpoint, CheckpointWarning

    path = tmp_path / "c.npz"
    # point "a" stops after step 3 with its checkpoint (every step) at w = 0.9³ on disk
    train({"w": np.ones(2)}, quadratic(1.0), GradientDescent(), Constant(0.1), max_steps=3,
          checkpoint=Checkpoint(path, every_seconds=0, key="a"))
    with pytest.warns(CheckpointWarning, match="'a', not to 'b'"):
        res = train({"w": np.full(2, 2.0)}, quadratic(1.0), GradientDescent(), Constant(0.1),
                    max_steps=3, checkpoint=Checkpoint(path, every_seconds=0, key="b"))
    fresh = train({"w": np.full(2, 2.0)}, quadratic(1.0), GradientDescent(), Constant(0.1),
                  max_steps=3)
    assert res.params["w"].tolist() == fresh.params["w"].tolist()
    assert res.losses.tolist() == fresh.losses.tolist() and len(res.losses) == 4
    # and point "b"'s own file is used by point "b": nothing left to do at max_steps
    calls = []

    def counted(p):
        calls.append(1)
        return quadratic(1.0)(p)
    again = train({"w": np.full(2, 2.0)}, counted, GradientDescent(), Constant(0.1),
                  max_steps=3, checkpoint=Checkpoint(path, every_seconds=0, key="b"))
    assert len(calls) == 1 and again.params["w"].tolist() == fresh.params["w"].tolist()


def test_a_callback_returning_stop_ends_training_at_that_step():
    from overparam.numerics.trainer import STOP

    seen = []

    def stop_below(step, params, loss):
        seen.append(step)
        return STOP if loss < 0.1 else None
    # GD with η = 0.5 on ½w² from w = 1 halves w: loss 0.5·4^-t, first below 0.1 at t = 2
    res = train({"w": np.array([1.0])}, quadratic(1.0), GradientDescent(), Constant(0.5),
                max_steps=50, callback=stop_below)
    assert res.status == "stopped" and res.steps == 2 and seen == [1, 2]
    assert res.params["w"].tolist() == [0.25] and res.final_loss == 0.5 * 0.25**2
    assert res.losses.tolist() == [0.5, 0.125, 0.03125]
    # any other return value is ignored
    res = train({"w": np.array([1.0])}, quadratic(1.0), GradientDescent(), Constant(0.5),
                max_steps=5, callback=lambda *a: True)
    assert res.status == "max_steps" and res.steps == 5


def _quadratic_with_nan_gradient_at(bad_step):
    """½w² whose gradient becomes NaN from parameter value 0.5**bad_step on (GD with η = ½
    halves w each step, so that is iterate ``bad_step``); the loss itself stays finite."""
    def f(p):
        w = p["w"]
        g = w if abs(float(w[0])) > 0.5**bad_step * 1.0000001 else w * np.nan
        return 0.5 * float(w @ w), {"w": g}
    return f


def test_a_nan_gradient_is_divergence_and_no_nan_leaves():
    res = train({"w": np.array([1.0])}, _quadratic_with_nan_gradient_at(3), GradientDescent(),
                Constant(0.5), max_steps=10)
    # iterate 3 has a NaN gradient: no step from it can be taken; it is returned (finite)
    assert res.diverged and res.diverged_at == 4 and res.steps == 3
    assert res.params["w"][0] == 0.125 and res.final_grad_norm == math.inf
    # the same when the NaN gradient appears at the very last iterate, or with a loss target
    last = train({"w": np.array([1.0])}, _quadratic_with_nan_gradient_at(3), GradientDescent(),
                 Constant(0.5), max_steps=3)
    assert last.diverged and last.steps == 3 and last.final_grad_norm == math.inf
    target = train({"w": np.array([1.0])}, _quadratic_with_nan_gradient_at(3),
                   GradientDescent(), Constant(0.5), max_steps=10, loss_tol=0.5 * 0.125**2)
    assert target.diverged and target.steps == 3
    with pytest.raises(ValueError, match="^params: the gradient at the initial parameters"):
        train({"w": np.array([1.0])}, _quadratic_with_nan_gradient_at(0), GradientDescent(),
              Constant(0.5), max_steps=10)


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -0.1, "0.1"])
def test_a_schedule_yielding_a_bad_learning_rate_names_the_step(lr):
    def schedule(t):
        return 0.1 if t < 2 else lr
    error = TypeError if isinstance(lr, str) else ValueError
    with pytest.raises(error, match=r"^schedule: expected .*\(the learning rate at step 2\)"):
        train({"w": np.array([1.0])}, quadratic(1.0), GradientDescent(), schedule,
              max_steps=5)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"grad_tol": float("nan")}, ValueError, "^grad_tol: expected a number, got NaN"),
    ({"grad_tol": -1.0}, ValueError, "^grad_tol: expected a value >= 0"),
    ({"record_every": 0}, ValueError, "^record_every: expected a value >= 1"),
    ({"record_every": 1.5}, TypeError, "^record_every: expected an integer"),
    ({"max_steps": -1}, ValueError, "^max_steps: expected a value >= 0"),
    ({"max_steps": 10.0}, TypeError, "^max_steps: expected an integer"),
    ({"loss_tol": float("nan")}, ValueError, "^loss_tol: expected a number, got NaN"),
    ({"divergence_factor": 1.0}, ValueError, "^divergence_factor: expected a value > 1"),
])
def test_bad_training_arguments_are_named(kwargs, error, match):
    args = {"max_steps": 5, **kwargs}
    with pytest.raises(error, match=match):
        train({"w": np.array([1.0])}, quadratic(1.0), GradientDescent(), Constant(0.1), **args)


def test_bad_parameters_and_hyperparameters_are_named():
    with pytest.raises(ValueError, match=r"^params\['w'\]: expected finite values, got NaN"):
        train({"w": np.array([np.nan])}, quadratic(1.0), GradientDescent(), Constant(0.1),
              max_steps=5)
    with pytest.raises(TypeError, match="^params: expected a non-empty dict"):
        train([np.ones(1)], quadratic(1.0), GradientDescent(), Constant(0.1), max_steps=5)
    for make, match in ((lambda: Momentum(beta=1.0), "^beta: expected a value < 1"),
                        (lambda: Adam(beta2=float("nan")), "^beta2: expected a number"),
                        (lambda: RMSprop(eps=-1.0), "^eps: expected a value >= 0"),
                        (lambda: Constant(float("inf")), "^lr: expected a finite number"),
                        (lambda: Stagewise(0.1, 0), "^total_steps: expected a value >= 1")):
        with pytest.raises(ValueError, match=match):
            make()
    with pytest.raises(ValueError, match="^grads: expected the keys of params"):
        GradientDescent().update({"w": np.ones(1)}, {"v": np.ones(1)}, 0.1, {})
    with pytest.raises(TypeError, match="^t: expected an integer"):
        Constant(0.1)(float("nan"))


def test_error_factors_and_rounding_bounds_never_nan():
    # |1 − ηλ|^T with ηλ = 1e4, T = 100: 1e400 is beyond float64 (matrix products gave
    # inf − inf = NaN); refused naming lrs
    with pytest.raises(ValueError, match="^lrs: the error factors leave float64"):
        quadratic_error_factors(np.array([1e2]), [1e2] * 100)
    # max_lr = 0 with ‖X‖² = 1e400: the gradient term is 0, not 0·inf = NaN; by hand the
    # bound is then steps·2(‖W‖ + ‖ΔW‖)·u
    bound = least_squares_rounding_bound(steps=10, n=3, d=2, x_norm=1e200, y_norm=1.0,
                                         max_lr=0.0, max_param_norm=1.0, max_update_norm=0.0)
    assert bound == 10 * 2 * 1.0 * 2.0**-53
    assert least_squares_rounding_bound(steps=10, n=3, d=2, x_norm=1e200, y_norm=1.0,
                                        max_lr=1.0, max_param_norm=1.0,
                                        max_update_norm=0.0) == math.inf
