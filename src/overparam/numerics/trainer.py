"""The shared gradient-based training loop.

A model is a dict of parameter arrays plus a function returning (loss, grads). The loop
applies an optimizer with a step-size schedule and stops on convergence (gradient norm or
loss target), on divergence (non-finite loss, or loss above ``divergence_factor`` times its
initial value, or a non-finite gradient), at ``max_steps``, or when the callback returns
``STOP``. A diverged run returns the last
finite iterate, so no NaN ever leaves the trainer. A schedule that yields a non-finite or
negative learning rate is a bug in the schedule: ValueError naming the step.
"""

from __future__ import annotations

import enum
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.checkpoint import Checkpoint
from overparam.numerics.validation import check_array, check_scalar, memory_for

__all__ = ["STOP", "LossAndGrad", "Params", "TrainResult", "minibatch_indices", "params_norm",
           "train"]

Params = dict[str, Any]
# (params) -> (loss, grads), or (params, batch) -> (loss, grads) with ``batches``
LossAndGrad = Callable[..., tuple[float, Params]]


class _CallbackSignal(enum.Enum):
    """What a ``train`` callback may return besides None."""

    #: stop training after this step (status "stopped")
    STOP = "stop"


#: Returned by a ``train`` callback: stop after the current step, e.g. once a network fits its
#: training set (EM trains exactly until then).
STOP = _CallbackSignal.STOP


def params_norm(params: Params) -> float:
    """Frobenius norm of all parameter arrays together; inf (never NaN) when an entry is
    not finite — the trainer's divergence test relies on it, so the arrays are not otherwise
    checked (this runs several times per step). Entries whose squares overflow are rescaled
    by a power of two first."""
    if not isinstance(params, dict):
        raise TypeError(f"params: expected a dict of arrays, got {type(params).__name__}")
    # vdot: one pass, no temporary
    total = sum(float(get_xp(v).vdot(v, v).real) for v in params.values())
    if math.isfinite(total):
        return math.sqrt(total)
    # rare: either a non-finite entry (inf) or squares beyond float64 (rescale, exact ×2^-e)
    tops = [float(get_xp(v).abs(v).max()) for v in params.values() if v.size]
    if not all(math.isfinite(t) for t in tops):
        return math.inf
    e = math.frexp(max(tops))[1]
    scaled = 0.0
    for v in params.values():
        w = get_xp(v).ldexp(v, -e)
        scaled += float(get_xp(v).vdot(w, w).real)
    return math.ldexp(math.sqrt(scaled), e)


@dataclass
class TrainResult:
    """Outcome of ``train``.

    ``status`` is "converged", "max_steps", "diverged" or "stopped" (the callback returned
    ``STOP``). ``losses`` holds the loss at every
    recorded step (finite values only). ``final_grad_norm`` is inf when the gradient at the
    returned parameters is not finite (then the status is "diverged"). ``max_param_norm`` and
    ``max_update_norm`` bound the magnitudes the floating-point rounding analysis of a run needs.
    """

    params: Params
    status: str
    steps: int
    losses: np.ndarray
    initial_loss: float
    final_loss: float
    final_grad_norm: float
    max_param_norm: float
    max_update_norm: float
    diverged_at: int | None = None
    lrs: list[float] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"


def train(
    params: Params,
    loss_and_grad: LossAndGrad,
    optimizer: Any,
    schedule: Callable[[int], float],
    *,
    max_steps: int,
    grad_tol: float = 0.0,
    loss_tol: float | None = None,
    divergence_factor: float = 1e8,
    record_every: int = 1,
    callback: Callable[[int, Params, float], Any] | None = None,
    progress: bool = False,
    batches: Callable[[int], Any] | None = None,
    checkpoint: Checkpoint | None = None,
) -> TrainResult:
    """Run ``optimizer`` on ``loss_and_grad`` from ``params`` for at most ``max_steps`` steps.

    Args:
        params: name → array (NumPy or CuPy); not modified.
        loss_and_grad: params → (loss as float, grads with the same keys and shapes).
        optimizer: an object with ``init`` and ``update`` (see ``optimizers``).
        schedule: step index → learning rate (see ``schedules``).
        max_steps: the step budget.
        grad_tol: stop as converged once the gradient norm is ≤ this (0 disables).
        loss_tol: stop as converged once the loss is ≤ this (None disables).
        divergence_factor: declare divergence when the loss exceeds this × the initial loss
            (or is not finite).
        record_every: record the loss every this many steps.
        callback: called as callback(step, params, loss) at each recorded step; returning
            ``STOP`` ends training there with status "stopped" (``steps`` = that step, the
            result's parameters those the callback saw). Any other return value is ignored.
        progress: show a progress bar on stderr.
        batches: for minibatch training, step index → batch (e.g. ``minibatch_indices``);
            ``loss_and_grad`` is then called as ``loss_and_grad(params, batch)``, the step-t
            gradient is taken on ``batches(t)``, and the recorded loss, the loss target and
            the divergence test see minibatch losses (evaluate the full set in ``callback``).
        checkpoint: save the whole training state to ``checkpoint.path`` every
            ``checkpoint.every_seconds``, recording ``checkpoint.key`` (the run's, e.g. a
            sweep point's key); if that file exists, continue from it (it must come from the
            same run: same optimizer, schedule and batches). A file that cannot be used —
            unreadable, corrupt, recording another key, or parameters of other names or
            shapes — is removed with a ``CheckpointWarning`` and the run starts afresh. The
            result equals an uninterrupted run's.

    Returns:
        TrainResult, with the final (or, after divergence, the last finite) parameters.
    """
    params = _checked_params(params)
    max_steps = check_scalar(max_steps, "max_steps", integer=True, low=0)
    grad_tol = check_scalar(grad_tol, "grad_tol", low=0.0)
    if loss_tol is not None:
        loss_tol = check_scalar(loss_tol, "loss_tol")
    divergence_factor = check_scalar(divergence_factor, "divergence_factor", low=1.0,
                                     low_open=True, finite=False)
    record_every = check_scalar(record_every, "record_every", integer=True, low=1)
    for name, fn in (("loss_and_grad", loss_and_grad), ("schedule", schedule)):
        if not callable(fn):
            raise TypeError(f"{name}: expected a callable, got {type(fn).__name__}")

    def evaluate(p: Params, step: int) -> tuple[float, Params]:
        return loss_and_grad(p) if batches is None else loss_and_grad(p, batches(step))

    start = 0
    saved = None if checkpoint is None else checkpoint.load(params)
    if saved is not None:
        tree, meta = saved
        params, state = tree["params"], tree.get("state", {})
        losses, lrs = to_numpy(tree["losses"]).tolist(), to_numpy(tree["lrs"]).tolist()
        start, initial = meta["step"], meta["initial_loss"]
        max_param, max_update = meta["max_param_norm"], meta["max_update_norm"]
        loss, grads = evaluate(params, start)
        loss = float(loss)
    else:
        state = optimizer.init(params)
        loss, grads = evaluate(params, 0)
        loss = float(loss)
        if not math.isfinite(loss):
            raise ValueError("params: the initial loss is not finite")
        if not math.isfinite(params_norm(grads)):
            raise ValueError("params: the gradient at the initial parameters is not finite")
        initial, losses, lrs = loss, [loss], []
        max_param, max_update = params_norm(params), 0.0
    limit = divergence_factor * max(initial, np.finfo(np.float64).tiny)
    scratch: Params = {}
    status, diverged_at, t = "max_steps", None, start
    saved_at = time.monotonic()
    bar = _bar(max_steps) if progress else None
    if bar is not None:
        bar.update(start)
    try:
        for t in range(start, max_steps):
            if (grad_tol > 0 and params_norm(grads) <= grad_tol) or (
                    loss_tol is not None and loss <= loss_tol):
                status = "converged"
                break
            lr = _learning_rate(schedule, t)
            lrs.append(lr)
            new_params, new_state = optimizer.update(params, grads, lr, state)
            new_loss, new_grads = evaluate(new_params, t + 1)
            new_loss = float(new_loss)
            new_norm = params_norm(new_params)
            if not math.isfinite(new_loss) or new_loss > limit or not math.isfinite(new_norm):
                status, diverged_at = "diverged", t + 1
                break
            max_update = max(max_update, _distance(new_params, params, scratch))
            params, state, loss, grads = new_params, new_state, new_loss, new_grads
            max_param = max(max_param, new_norm)
            if (t + 1) % record_every == 0:
                losses.append(loss)
                if callback is not None and callback(t + 1, params, loss) is STOP:
                    status, t = "stopped", t + 1
                    break
            if bar is not None:
                bar.update(1)
            if checkpoint is not None and (
                    time.monotonic() - saved_at >= checkpoint.every_seconds):
                checkpoint.save({
                    "params": params, "state": state, "losses": np.asarray(losses),
                    "lrs": np.asarray(lrs)}, {
                    "step": t + 1, "initial_loss": initial, "max_param_norm": max_param,
                    "max_update_norm": max_update})
                saved_at = time.monotonic()
        else:
            t = max_steps
            gnorm = params_norm(grads)
            if (grad_tol > 0 and gnorm <= grad_tol) or (loss_tol is not None and loss <= loss_tol):
                status = "converged"
    finally:
        if bar is not None:
            bar.close()
    final_grad_norm = params_norm(grads)
    if not math.isfinite(final_grad_norm):
        # the gradient at the returned iterate is unusable: no step from it can be taken
        # (a NaN gradient would make the next iterate NaN), whatever the loss says
        final_grad_norm = math.inf
        if status != "diverged":
            status, diverged_at = "diverged", t + 1
    return TrainResult(
        params=params,
        status=status,
        steps=t if status != "diverged" else diverged_at - 1,
        losses=np.asarray(losses),
        initial_loss=initial,
        final_loss=loss,
        final_grad_norm=final_grad_norm,
        max_param_norm=max_param,
        max_update_norm=max_update,
        diverged_at=diverged_at,
        lrs=lrs,
    )


def _checked_params(params: Params) -> Params:
    if not isinstance(params, dict) or not params:
        raise TypeError(f"params: expected a non-empty dict of arrays, "
                        f"got {type(params).__name__}")
    return {k: check_array(v, f"params[{k!r}]", dtype="numeric", allow_empty=True)
            for k, v in params.items()}


def _learning_rate(schedule: Callable[[int], float], t: int) -> float:
    lr = schedule(t)
    try:
        return check_scalar(lr, "schedule", low=0.0)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc} (the learning rate at step {t})") from exc


def _distance(a: Params, b: Params, scratch: Params) -> float:
    """``params_norm`` of a − b, the differences written into ``scratch``'s arrays, which are
    reused from step to step (a fresh difference per parameter and step cost RR's MLP
    ~0.1 ms a step in allocation alone)."""
    diffs = {}
    for k, x in a.items():
        xp = get_xp(x)
        dtype = xp.result_type(x, b[k])
        buf = scratch.get(k)
        if buf is None or buf.shape != x.shape or buf.dtype != dtype or get_xp(buf) is not xp:
            buf = scratch[k] = xp.empty(x.shape, dtype=dtype)
        diffs[k] = xp.subtract(x, b[k], out=buf)
    return params_norm(diffs)


@functools.lru_cache(maxsize=2)
def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The seeded permutation of range(n) for one epoch, read-only, kept for the epoch's
    steps (drawing it afresh every step cost ~0.3 ms at n = 2048 and grows with n)."""
    with memory_for("n", f"a permutation of {n} indices"):
        order = np.random.default_rng([seed, epoch]).permutation(n)
    order.flags.writeable = False
    return order


def minibatch_indices(n: int, batch_size: int, step: int, *, seed: int) -> np.ndarray:
    """The example indices of minibatch ``step``: epochs of a seeded permutation of range(n),
    each cut into ⌊n / batch_size⌋ consecutive batches (a short remainder is dropped, so every
    step sees batch_size examples). A pure function of its arguments, so a resumed run draws
    the same batches. Use as ``batches=functools.partial(minibatch_indices, n, b, seed=s)``."""
    n = check_scalar(n, "n", integer=True, low=1)
    batch_size = check_scalar(batch_size, "batch_size", integer=True, low=1, high=n)
    step = check_scalar(step, "step", integer=True, low=0)
    seed = check_scalar(seed, "seed", integer=True, low=0)
    epoch, k = divmod(step, n // batch_size)
    return _epoch_order(n, seed, epoch)[k * batch_size:(k + 1) * batch_size].copy()


def _bar(total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", leave=False, dynamic_ncols=True)
