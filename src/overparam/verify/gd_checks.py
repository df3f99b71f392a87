"""Closed form vs training for least-squares gradient descent: train with the shared trainer
and compare to a closed-form limit under a tolerance derived from the exact contraction of
the error (``numerics.convergence``), the accumulated rounding, and the closed form's own
conditioning."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from overparam.numerics.backend import to_numpy, unit_roundoff
from overparam.numerics.convergence import (
    least_squares_rounding_bound,
    quadratic_error_factors,
)
from overparam.numerics.linalg import numerical_rank
from overparam.numerics.optimizers import GradientDescent, Momentum
from overparam.numerics.schedules import Constant, ic_appendix_a
from overparam.numerics.trainer import TrainResult, train
from overparam.verify.contract import RESOLUTION
from overparam.verify.types import Counterexample, Evidence

__all__ = ["GD_CONFIGS", "INFORMATIVE", "INFORMATIVE_RULE", "MAX_REDRAWS", "MAX_STEP_FACTOR",
           "TARGET_CONTRACTION", "GDConfig", "closed_form_vs_training", "compare_run",
           "draw_until_informative", "informative", "least_squares_loss", "limit_tolerance",
           "run_until_informative", "stable_lr", "steps_for", "train_least_squares"]

#: A run is informative when its tolerance is at most this fraction of how far GD moves: the
#: contract's resolution, so an informative run tells a closed form off by 1e-3 from the right
#: one.
INFORMATIVE = RESOLUTION
#: Budget growth for a run whose tolerance is not yet informative: its steps double up to
#: this factor of the level's budget, then the instance is drawn again, at most MAX_REDRAWS
#: times.
MAX_STEP_FACTOR = 16
MAX_REDRAWS = 5
#: Target size of the contracted initial error when a step count is derived from the
#: spectrum (``steps_for``).
TARGET_CONTRACTION = 1e-17
#: The budget-growth rule in words, for the report's tolerance section.
INFORMATIVE_RULE = (f"a run counts when its tolerance is ≤ {INFORMATIVE} × ‖W∞ − W0‖; "
                    f"otherwise its steps double (up to {MAX_STEP_FACTOR}×) and then the "
                    "instance is redrawn")


@dataclass(frozen=True)
class GDConfig:
    """A gradient method the theorems cover: its label, momentum and schedule kind.
    ``lr_scale`` multiplies 1/λ_max to give the base step size."""

    label: str
    beta: float = 0.0
    nesterov: bool = False
    stagewise: bool = False
    lr_scale: float = 1.0

    def optimizer(self) -> Any:
        return GradientDescent() if self.beta == 0 else Momentum(self.beta, self.nesterov)

    def schedule(self, lr: float, steps: int) -> Any:
        return ic_appendix_a(steps, lr) if self.stagewise else Constant(lr)


#: GD as the theorems state it, IC App. A's SGD-with-momentum recipe (β = 0.9, decay 0.2 at
#: 30/60/80%), and Nesterov — all move only within the span of the gradients.
GD_CONFIGS = (
    GDConfig("gd"),
    GDConfig("momentum-0.9-ic-schedule", beta=0.9, stagewise=True),
    GDConfig("nesterov-0.9", beta=0.9, nesterov=True, lr_scale=0.5),
)


def least_squares_loss(X: Any, Y: Any):
    """params {"W"} → (½‖XW − Y‖², {"W": Xᵀ(XW − Y)})."""
    def loss_and_grad(params: dict) -> tuple[float, dict]:
        R = X @ params["W"] - Y
        return 0.5 * float((R * R).sum()), {"W": X.T @ R}
    return loss_and_grad


def train_least_squares(X: Any, Y: Any, W0: Any, optimizer: Any, schedule: Any, steps: int,
                        **kwargs: Any) -> TrainResult:
    """Run the shared trainer on ½‖XW − Y‖² from W0 for ``steps`` steps."""
    return train({"W": W0}, least_squares_loss(X, Y), optimizer, schedule,
                 max_steps=steps, **kwargs)


def stable_lr(X: Any, scale: float = 1.0) -> float:
    """``scale`` / λ_max(XᵀX) (1 when X = 0, where any step is stable)."""
    smax = float(np.linalg.norm(to_numpy(X), 2))
    return scale / (smax * smax) if smax > 0 else scale


def limit_tolerance(X: Any, Y: Any, W0: Any, W_limit: Any, result: TrainResult,
                    config: GDConfig) -> dict:
    """Derived bound on ‖W_T − W∞‖_F for a run of ``config`` on ½‖XW − Y‖², as a dict of its
    parts: the exact contraction of the initial error (per Hessian eigenvalue), the movement
    GD makes along singular directions the closed form truncates as zero, the rounding of
    the T steps, and the closed form's own error 4(n + d)·u·κ²·(‖W∞‖ + ‖W0‖)."""
    Xn, Yn, W0n, Wl = (to_numpy(a) for a in (X, Y, W0, W_limit))
    n, d = Xn.shape
    u = unit_roundoff(Xn.dtype)
    info = numerical_rank(Xn)
    s = to_numpy(info.singular_values)
    kept = s[: info.rank]
    E0 = float(np.linalg.norm(W0n - Wl))
    # X = 0 (rank 0): no direction moves and W∞ = W0, so nothing contracts
    contraction = float(quadratic_error_factors(
        kept**2, result.lrs, beta=config.beta, nesterov=config.nesterov).max()) * E0 \
        if kept.size else 0.0
    max_lr = max(result.lrs) if result.lrs else 0.0
    resid = float(np.linalg.norm(Yn - Xn @ W0n)) + float(np.linalg.norm(Yn))
    dropped = s[info.rank:]
    truncation = (result.steps * max_lr * float(dropped.max()) * resid / (1 - config.beta)
                  if dropped.size else 0.0)
    rounding = least_squares_rounding_bound(
        steps=result.steps, n=n, d=d, x_norm=float(np.linalg.norm(Xn)),
        y_norm=float(np.linalg.norm(Yn)), max_lr=max_lr,
        max_param_norm=result.max_param_norm, max_update_norm=result.max_update_norm,
        beta=config.beta, unit_roundoff=u)
    kappa = info.condition if info.rank else 1.0
    # W∞ = W0 + X⁺(Y − XW0): the pseudo-inverse applied to a right-hand side that need not
    # lie in range(X) errs by up to u·κ²·‖X⁺‖‖Y − XW0‖ (least squares: the residual enters
    # with κ²), which can far exceed ‖W∞ − W0‖ when Y − XW0 is nearly orthogonal to range(X)
    pinv_norm = 1.0 / float(kept[-1]) if kept.size else 0.0
    rhs = float(np.linalg.norm(Yn - Xn @ W0n))
    closed = 4 * (n + d) * u * kappa**2 * (float(np.linalg.norm(Wl)) + float(np.linalg.norm(W0n))
                                           + pinv_norm * rhs)
    total = contraction + truncation + rounding + closed
    return {
        "total": total, "contraction": contraction, "truncation": truncation,
        "rounding": rounding, "closed_form": closed, "kappa": kappa, "steps": result.steps,
        "rule": "‖W_T − W∞‖_F ≤ max_λ|φ_T(λ)|·‖W0 − W∞‖ (exact linear dynamics) "
                "+ T·η·σ_dropped·(‖Y − XW0‖ + ‖Y‖)/(1−β) + T·[2(n+d)η‖X‖(‖X‖‖W‖+‖Y‖) "
                "+ 2(‖W‖+‖Δ‖)]·u/(1−β) + 4(n+d)·u·κ²·(‖W∞‖+‖W0‖+‖X⁺‖‖Y − XW0‖)",
    }


def compare_run(X: Any, Y: Any, W0: Any, W_limit: Any, config: GDConfig, steps: int,
                lr: float | None = None) -> dict:
    """Train ``config`` for ``steps`` steps and return the discrepancy to ``W_limit``, the
    derived tolerance and their ratio (> 1 means the run contradicts the closed form)."""
    lr = stable_lr(X, config.lr_scale) if lr is None else lr
    result = train_least_squares(X, Y, W0, config.optimizer(), config.schedule(lr, steps),
                                 steps)
    tol = limit_tolerance(X, Y, W0, W_limit, result, config)
    gap = float(np.linalg.norm(to_numpy(result.params["W"]) - to_numpy(W_limit)))
    ratio = gap / tol["total"] if tol["total"] > 0 else (0.0 if gap == 0 else np.inf)
    movement = float(np.linalg.norm(to_numpy(W_limit) - to_numpy(W0)))
    return {"optimizer": config.label, "status": result.status, "steps": result.steps,
            "gap": gap, "tolerance": tol, "ratio": ratio, "movement": movement,
            "W": result.params["W"], "final_loss": result.final_loss}


def steps_for(rate: float, cap: int) -> int:
    """Steps T with rate**T ≤ ``TARGET_CONTRACTION``, at most ``cap`` (one step when nothing
    contracts, ``cap`` when nothing converges)."""
    if rate <= 0:
        return 1
    if rate >= 1:
        return cap
    return max(1, min(cap, math.ceil(math.log(TARGET_CONTRACTION) / math.log(rate))))


def informative(run: dict, level: float = INFORMATIVE) -> bool:
    """Whether a run's derived tolerance is at most ``level`` × ‖W∞ − W0‖ (the distance GD
    moves): only then can the comparison tell the closed form from a wrong one."""
    return run["tolerance"]["total"] <= level * max(run["movement"], 1e-300)


def run_until_informative(run: Callable[[int], dict], steps: int,
                          level: float = INFORMATIVE) -> dict:
    """``run(T)`` trains for T steps and returns a dict with "tolerance" (as
    :func:`limit_tolerance`) and "movement". While the tolerance is not informative and its
    contraction term dominates (more steps shrink it), the steps double, up to
    ``MAX_STEP_FACTOR`` × ``steps``. Rounding- or conditioning-dominated tolerances do not
    shrink with steps, so those runs are returned as they are: the caller redraws the
    instance."""
    budget = steps
    while True:
        result = run(budget)
        tol = result["tolerance"]
        if (informative(result, level) or budget >= MAX_STEP_FACTOR * steps
                or tol["contraction"] < 0.5 * tol["total"]):
            return result
        budget *= 2


def draw_until_informative(attempt: Callable[[], tuple[Any, list[dict]]],
                           count: int, level: float = INFORMATIVE
                           ) -> tuple[list, list[list[dict]], int]:
    """``count`` instances, each from ``attempt()``, which draws one and returns it with its
    runs (each already given more steps by :func:`run_until_informative`). An instance with
    an uninformative run is drawn again, at most ``MAX_REDRAWS`` times; the last draw is kept
    either way. Returns the instances, their runs and the number of redraws."""
    instances, runs, redraws = [], [], 0
    for _ in range(count):
        for tries in range(MAX_REDRAWS + 1):
            instance, these = attempt()
            if all(informative(r, level) for r in these) or tries == MAX_REDRAWS:
                break
            redraws += 1
        instances.append(instance)
        runs.append(these)
    return instances, runs, redraws


def closed_form_vs_training(
    draw: Callable[[], tuple], *, count: int, steps: int, function: str,
    arguments: Callable[[tuple], dict], label: str, xp: Any = np,
    configs: tuple[GDConfig, ...] = GD_CONFIGS, level: float = INFORMATIVE,
) -> tuple[Evidence, list[tuple]]:
    """The closed form under test against real training: the one routine behind IC Thm 1
    and the lemmas, ``claims.least_squares_check`` and ``compare``'s least-squares records.

    ``draw()`` returns an instance (X, Y, W0, W∞) whose W∞ the function under test
    (``function``, "module:function") computed; each of ``configs`` trains ½‖XW − Y‖² from W0
    on the array module ``xp`` for at least ``steps`` steps (more while not informative,
    :func:`run_until_informative`), and an instance whose runs stay uninformative is drawn
    again (:func:`draw_until_informative`). An informative run farther from W∞ than its
    derived tolerance is a finding: ``falsified``, with the instance as the counterexample
    ``function(**arguments(instance))``. Runs still uninformative make it ``inconclusive``.
    Returns the evidence and the instances used."""
    def attempt() -> tuple[tuple, list[dict]]:
        problem = draw()
        dev = tuple(xp.asarray(a) for a in problem)
        return problem, [run_until_informative(
            lambda T, config=config: compare_run(*dev, config, T), steps, level)
            for config in configs]

    problems, per_instance, redraws = draw_until_informative(attempt, count, level)
    runs = [{k: v for k, v in r.items() if k != "W"} for these in per_instance for r in these]
    worst = max(r["ratio"] for r in runs)
    uninformative = sum(not informative(r, level) for r in runs)
    counterexample = None
    if worst > 1:
        problem, run = next((p, r) for p, these in zip(problems, per_instance, strict=True)
                            for r in these if r["ratio"] == worst)
        if informative(run, level):
            verdict = "falsified"
            detail = (f"{run['optimizer']} ended {run['gap']:.3g} from the closed form, beyond "
                      f"its derived tolerance {run['tolerance']['total']:.3g}")
            counterexample = Counterexample(
                entry_point=function, arguments=arguments(problem),
                violation={"optimizer": run["optimizer"], "steps": run["steps"],
                           "gap": run["gap"], "tolerance": run["tolerance"]["total"]},
                recheck={"reference": "the trained weights after the derived number of steps"})
        else:
            verdict = "inconclusive"
            detail = ("a run whose tolerance is not informative ended beyond it; the "
                      "counterexample search decides such instances at higher precision")
    elif uninformative:
        verdict, detail = "inconclusive", (f"{uninformative} run(s) had a tolerance above "
                                           f"{level} × the distance GD moves after "
                                           f"{MAX_REDRAWS} redraws")
    else:
        verdict, detail = "verified", "every run ended within its derived tolerance"
    evidence = Evidence(
        kind="closed-form-vs-training", verdict=verdict, counterexample=counterexample,
        metrics={"function": function, "runs": len(runs), "worst_ratio_to_tolerance": worst,
                 "worst_gap": max(r["gap"] for r in runs), "redrawn_instances": redraws,
                 "per_run": [{"optimizer": r["optimizer"], "steps": r["steps"],
                              "status": r["status"], "gap": r["gap"],
                              "tolerance": r["tolerance"]["total"]} for r in runs]},
        tolerance={"rule": runs[0]["tolerance"]["rule"],
                   "largest": max(r["tolerance"]["total"] for r in runs),
                   "informative": INFORMATIVE_RULE if level == INFORMATIVE
                   else f"tolerance ≤ {level:g} × ‖W∞ − W0‖"},
        details=f"{label}: {count} random instances × {len(configs)} optimizers trained on "
                f"{xp.__name__} ({', '.join(c.label for c in configs)}), at least {steps} "
                f"steps each ({redraws} instance(s) redrawn as too ill-conditioned to be "
                f"informative); {detail}.")
    return evidence, problems
