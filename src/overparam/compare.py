"""Bound vs empirical in a few lines: each theorem with a closed form or a bound, run for real
on your data under the theorem's hypotheses, returned as one record.

    import numpy as np
    from overparam import compare

    img = np.random.default_rng(0).random((8, 8, 1))
    records = [compare.ic_thm2(img, kernel=k, sigma=0.05, delta=0.05) for k in (1, 3, 5)]
    print(compare.to_markdown(records))
    compare.plot(records, x="kernel", path="ic_thm2.png")

One call per theorem:

| call | theorem, what is run |
|---|---|
| ``ic_thm1(X)`` | IC Thm 1: a 1-layer linear net trained by GD on one example |
| ``ic_lemmas(X, Y)`` | IC Lemmas 1–2: f(x) = Wᵀx trained by GD on (X, Y) |
| ``ic_thm2(image, kernel)`` | IC Thm 2: a 1-layer CNN trained by GD to reproduce an image |
| ``em_thm1(x, x2, sigma)`` | EM Thm 1: exact kernel vs Monte Carlo of random layers; stated bound |
| ``em_thm1_proved(…)`` | the same against the bound EM's proof supports |
| ``rr_min_norm_sgd(X, y)`` | RR Sec. 5: single-example SGD vs the minimum-norm solution |
| ``rr_thm1(Z, y)`` | RR Thm 1: the constructed 2-layer ReLU net on the sample |

Networks are built with ``overparam.numerics.models`` and trained by the shared trainer
(``numerics.trainer.train``). The theorems use ½‖·‖² while the models' "mse" loss is the mean
over the N·m outputs; the step size is chosen for you — the stable 1/λ_max of the theorem's
Hessian, converted by the factor N·m/2 — and stated in the record (``lr``, ``lr_rule``). The
gap between the closed form's prediction and the trained network's is judged against a
derived tolerance (``verify.gd_checks.limit_tolerance``: exact contraction of the error,
rounding of the steps, the closed form's conditioning, and here also the rounding the mean
normalisation adds). Records go to a table (``table``, ``to_csv``, ``to_markdown``,
``to_dataframe``) and to ``plot``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from overparam.numerics import models
from overparam.numerics.backend import to_numpy, unit_roundoff
from overparam.numerics.linalg import numerical_rank
from overparam.numerics.schedules import Constant
from overparam.numerics.trainer import TrainResult, train
from overparam.numerics.validation import check_array, check_choice, check_scalar
from overparam.theory import extreme_memorization as em
from overparam.theory import identity_crisis as ic
from overparam.theory import rethinking as rr
from overparam.verify.contract import MONTE_CARLO_Z
from overparam.verify.gd_checks import (
    INFORMATIVE,
    TARGET_CONTRACTION,
    GDConfig,
    limit_tolerance,
    steps_for,
)

__all__ = [
    "Comparison",
    "em_thm1",
    "em_thm1_proved",
    "ic_lemmas",
    "ic_thm1",
    "ic_thm2",
    "plot",
    "rr_min_norm_sgd",
    "rr_thm1",
    "table",
    "to_csv",
    "to_dataframe",
    "to_markdown",
]

U = unit_roundoff(np.float64)
#: Monte Carlo comparisons decide at the contract's number of standard errors.
Z_DECIDE = MONTE_CARLO_Z
METHODS = ("gd", "heavy-ball")
#: The Monte Carlo's random layers are drawn in blocks of about this many weights.
MC_BLOCK_WEIGHTS = 2_000_000


@dataclass
class Comparison:
    """One bound-vs-empirical comparison.

    Attributes:
        theorem: the claim id (``"ic.thm2"``) and ``where`` it stands in the paper.
        params: the setting, including what a sweep varies (``kernel``, ``sigma``, ``n``…).
        predicted: the closed form's prediction (test outputs, or the exact value).
        trained: the trained (or sampled, or constructed) network's, same shape.
        gap: max |predicted − trained|; ``tolerance``: its derived bound, ``tolerance_rule``.
        quantity: what ``bound`` and ``empirical`` measure (e.g. "test MSE").
        bound: the theorem's bound on it (None when the theorem states none).
        empirical: the trained network's value of ``quantity``.
        bound_slack: how far ``empirical`` may exceed ``bound`` by float error or sampling
            error alone (derived from ``tolerance``); within bound means
            empirical ≤ bound + bound_slack.
        steps: training steps (Monte Carlo draws for EM); ``training``: the trainer's status
            ("converged", "max_steps", "diverged"), or "sampled" / "constructed".
        lr, lr_rule: the step size given to the trainer and why it matches the theorem.
        status: "agrees" / "disagrees" / "uninformative" (tolerance above
            ``INFORMATIVE`` × the predictions' size), then "; within bound" or
            "; exceeds bound" when there is a bound. Only training runs can be
            uninformative; a Monte Carlo's tolerance is its decision rule.
        details: further numbers (weight gap and tolerance, rank, …).
    """

    theorem: str
    where: str
    params: dict
    predicted: np.ndarray
    trained: np.ndarray
    gap: float
    tolerance: float
    tolerance_rule: str
    quantity: str
    bound: float | None
    empirical: float | None
    steps: int
    training: str
    lr: float | None
    lr_rule: str
    bound_slack: float = 0.0
    status: str = ""
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.status:
            self.status = _status(self)

    @property
    def agrees(self) -> bool:
        """gap ≤ tolerance."""
        return self.gap <= self.tolerance

    @property
    def within_bound(self) -> bool | None:
        """empirical ≤ bound + bound_slack (None without a bound)."""
        if self.bound is None or self.empirical is None:
            return None
        return self.empirical <= self.bound + self.bound_slack

    def row(self) -> dict:
        """The record as one flat table row (no arrays)."""
        return {"theorem": self.theorem, **self.params, "quantity": self.quantity,
                "bound": self.bound, "empirical": self.empirical, "gap": self.gap,
                "tolerance": self.tolerance, "steps": self.steps, "training": self.training,
                "lr": self.lr, "status": self.status}


def _status(rec: Comparison) -> str:
    scale = float(np.max(np.abs(rec.predicted))) if np.size(rec.predicted) else 0.0
    if rec.gap > rec.tolerance:
        head = "disagrees"
    elif rec.lr is not None and rec.tolerance > INFORMATIVE * scale and rec.tolerance > 0:
        # a training run whose tolerance is not small against what it predicts says little
        head = "uninformative"
    else:
        head = "agrees"
    within = rec.within_bound
    return head if within is None else f"{head}; {'within' if within else 'exceeds'} bound"


# ------------------------------------------------------------------ training, for the user


def _gamma(k: int) -> float:
    """γ_k = k·u/(1 − k·u): the relative error bound of a length-k float64 dot product."""
    return k * U / (1 - k * U)


def _steps_for(X: np.ndarray, config: GDConfig, cap: int) -> int:
    """Steps for the initial error to contract by TARGET_CONTRACTION on ½‖XW − Y‖² with
    step 1/λ_max (plain GD: rate 1 − λ_min/λ_max over the non-zero spectrum; tuned heavy
    ball: (√κ − 1)/(√κ + 1))."""
    info = numerical_rank(X)
    if info.rank == 0:
        return 1
    s = to_numpy(info.singular_values)[: info.rank]
    kappa = float(s[0] / s[-1]) ** 2
    rate = (1 - 1 / kappa if config.beta == 0 else
            (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1))
    return steps_for(rate, cap)


def _config(X: np.ndarray, method: str) -> tuple[GDConfig, float, str]:
    """(config, η for ½‖XW − Y‖², rule) for plain GD or heavy ball with the optimal (η, β)."""
    check_choice(method, "method", METHODS)
    info = numerical_rank(X)
    s = to_numpy(info.singular_values)
    if info.rank == 0:
        return GDConfig("gd"), 1.0, "X = 0: nothing moves, any step is stable"
    L, mu = float(s[0]) ** 2, float(s[info.rank - 1]) ** 2
    if method == "gd":
        return GDConfig("gd"), 1.0 / L, "η = 1/λ_max of the theorem's ½‖·‖² Hessian"
    beta = ((math.sqrt(L) - math.sqrt(mu)) / (math.sqrt(L) + math.sqrt(mu))) ** 2
    return (GDConfig("heavy-ball", beta=beta), 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2,
            "heavy ball with the optimal η = 4/(√λ_max + √λ_min)², "
            "β = ((√λ_max − √λ_min)/(√λ_max + √λ_min))² for the theorem's ½‖·‖²")


def _train_mse(model: models.Model, params: dict, x: np.ndarray, y: np.ndarray,
               config: GDConfig, lr_half: float, steps: int) -> tuple[TrainResult, float]:
    """Train ``model`` by the shared trainer on its "mse" loss (the mean over the N·m
    outputs) with the step that equals ``lr_half`` on ½‖f − y‖²: lr = lr_half·N·m/2. Returns
    the result with its step sizes restated for ½‖·‖² (what the tolerance analysis reads)
    and the lr given to the trainer."""
    factor = y.size / 2
    lr = lr_half * factor
    result = train(params, lambda p: model.loss_and_grad(p, x, y, loss="mse"),
                   config.optimizer(), Constant(lr), max_steps=steps)
    return dataclasses.replace(result, lrs=[v / factor for v in result.lrs]), lr


def _weight_tolerance(X, Y, W0, W_lim, result: TrainResult, config: GDConfig) -> dict:
    """``limit_tolerance`` plus the rounding the mean normalisation adds: scaling the
    gradient by 2/(N m) and the step by N m/2 perturbs each update by ≤ 2u relative, at most
    T·2u·max‖Δ‖/(1 − β) in all."""
    tol = limit_tolerance(X, Y, W0, W_lim, result, config)
    extra = result.steps * 2 * U * result.max_update_norm / (1 - config.beta)
    tol["normalisation"] = extra
    tol["total"] += extra
    return tol


def _lr_rule(rule: str, outputs: str, lr: float) -> str:
    return (f"{rule}; the model's 'mse' is the mean over the {outputs} outputs, so the "
            f"trainer's step is η × {outputs.split(' = ')[-1]}/2 = {lr:.6g}")


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_scalar(seed, "seed", integer=True, low=0))


# --------------------------------------------------------------------------- IC Thm 1


def ic_thm1(X: Any, *, test: Any = None, W0: Any = None, sigma: float | None = None,
            seed: Any = 0, method: str = "gd", max_steps: int = 50_000) -> Comparison:
    """IC Thm 1 on your training example: the one-layer linear net f(x) = Wx (W d×d) trained
    by gradient descent on ½‖WX − X‖² from W0 (entries N(0, σ²), σ = 1/√d by default), vs
    the closed form W∞ = W0 + (X − W0X)Xᵀ/‖X‖² (``theory.identity_crisis.fcn1_limit_weights``)
    on the test inputs.

    Args:
        X: the training example (d,).
        test: test inputs (m, d) (default: 8 Gaussian vectors).
        W0: the initial weights (d, d) (default: entries N(0, σ²)).
        sigma: W0's entry scale when it is drawn (default 1/√d).
        seed: seeds W0 and the default test inputs (int or Generator).
        method: "gd" (the theorem's) or "heavy-ball" (the same limit, faster).
        max_steps: the step cap; steps are derived from the spectrum to contract the
            initial error by ``verify.gd_checks.TARGET_CONTRACTION``.

    Returns:
        Comparison with predicted = W∞x, trained = W_T x per test input; no bound (the theorem
        is an identity); empirical = the final training loss ½‖W_T X − X‖².
    """
    X = to_numpy(check_array(X, "X", ndim=1, dtype="float64"))
    d = X.shape[0]
    if not np.any(X):
        raise ValueError("X: expected a non-zero training example (IC Thm 1 needs X ≠ 0)")
    rng = _rng(seed)
    sigma = 1 / math.sqrt(d) if sigma is None else check_scalar(sigma, "sigma", low=0.0,
                                                                 low_open=True)
    test = rng.standard_normal((8, d)) if test is None else to_numpy(
        check_array(test, "test", ndim=2, shape=(None, d), dtype="float64"))
    max_steps = check_scalar(max_steps, "max_steps", integer=True, low=1)
    model = models.serial(models.dense(d))
    if W0 is None:
        params = model.init((d,), seed=rng, init="normal", sigma=sigma)
    else:
        params = {"0/W": to_numpy(check_array(W0, "W0", shape=(d, d), dtype="float64")).copy()}
    W0 = to_numpy(params["0/W"])
    # the theorem's ½‖WX − X‖² is ½‖XᵀWᵀ − Xᵀ‖²: the least-squares form the tolerance reads
    Xls = X[None, :]
    config, lr_half, rule = _config(Xls, method)
    steps = _steps_for(Xls, config, max_steps)
    result, lr = _train_mse(model, params, Xls, Xls, config, lr_half, steps)
    W_lim = ic.fcn1_limit_weights(W0, X)
    W_T = to_numpy(result.params["0/W"])
    tol = _weight_tolerance(Xls, Xls, W0.T, W_lim.T, result, config)
    return _linear_record(
        "ic.thm1", "IC Thm 1, Sec 3.1", {"d": d, "sigma": sigma, "method": method},
        test, W_lim, W_T, tol, result, lr, _lr_rule(rule + " = 1/‖X‖²", f"d = {d}", lr),
        empirical=float(0.5 * np.sum((W_T @ X - X) ** 2)), quantity="training loss")


def _linear_record(theorem: str, where: str, params: dict, test: np.ndarray,
                   W_lim: np.ndarray, W_T: np.ndarray, tol: dict, result: TrainResult,
                   lr: float, lr_rule: str, *, empirical: float, quantity: str) -> Comparison:
    """Predictions W x of the closed form and the trained net on ``test`` (rows), with the
    tolerance ‖x‖·(tol_W + γ_d(‖W_T‖_F + ‖W∞‖_F)) per input: ‖(W_T − W∞)x‖ ≤ ‖W_T − W∞‖_F‖x‖,
    and each float matrix-vector product errs by ≤ γ_d‖W‖_F‖x‖ per entry."""
    predicted, trained = test @ W_lim.T, test @ W_T.T
    d = test.shape[1]
    norms = np.linalg.norm(test, axis=1)[:, None]
    bound = np.broadcast_to(norms * (tol["total"] + _gamma(d) * (
        np.linalg.norm(W_T) + np.linalg.norm(W_lim))), predicted.shape)
    excess = np.abs(predicted - trained) - bound
    worst = int(np.argmax(excess))
    return Comparison(
        theorem=theorem, where=where, params=params, predicted=predicted, trained=trained,
        gap=float(np.abs(predicted - trained).flat[worst]), tolerance=float(bound.flat[worst]),
        tolerance_rule="per output: ‖x‖·(‖W_T − W∞‖_F bound + γ_d(‖W_T‖_F + ‖W∞‖_F)); the "
                       "weight bound is verify.gd_checks.limit_tolerance (exact contraction "
                       "+ rounding + the closed form's conditioning) + T·2u·max‖Δ‖ for the "
                       "mean normalisation; the worst output (largest gap − tolerance) shown",
        quantity=quantity, bound=None, empirical=empirical, steps=result.steps,
        training=result.status, lr=lr, lr_rule=lr_rule,
        details={"weight_gap": float(np.linalg.norm(W_T - W_lim)),
                 "weight_tolerance": tol["total"],
                 "tolerance_parts": {k: v for k, v in tol.items() if k not in ("rule",)}})


# ---------------------------------------------------------------------- IC Lemmas 1–2


def ic_lemmas(X: Any, Y: Any, *, test: Any = None, W0: Any = None, sigma: float | None = None,
              seed: Any = 0, method: str = "gd", max_steps: int = 50_000) -> Comparison:
    """IC Lemmas 1–2 on your data: f(x) = Wᵀx (W D×d) trained by gradient descent on
    ½‖XW − Y‖² from W0, vs Lemma 1's W0 + Xᵀ(XXᵀ)⁻¹(Y − XW0) (N ≤ D, rank N) or Lemma 2's
    (XᵀX)⁻¹XᵀY (N > D, rank D), chosen by the shape. When the chosen lemma's rank condition
    fails, the rank-agnostic limit W0 + X⁺(Y − XW0) is used and ``details["lemma"]`` says so.

    Args:
        X: inputs (N, D); Y: targets (N, d) or (N,).
        test: test inputs (m, D) (default: 8 Gaussian vectors).
        W0: the initial weights (D, d) (default: entries N(0, σ²)).
        sigma: W0's entry scale when it is drawn (default 1/√D).
        seed: seeds W0 and the default test inputs (int or Generator).
        method: "gd" (the lemmas') or "heavy-ball" (the same limit, faster).
        max_steps: the step cap (steps are derived from the spectrum).

    Returns:
        Comparison with predicted/trained = W∞ᵀx / W_Tᵀx per test input; no bound;
        empirical = the final training loss ½‖XW_T − Y‖².
    """
    X = to_numpy(check_array(X, "X", ndim=2, dtype="float64"))
    N, D = X.shape
    Y = to_numpy(check_array(Y, "Y", ndim=(1, 2), dtype="float64"))
    Y = Y[:, None] if Y.ndim == 1 else Y
    if Y.shape[0] != N:
        raise ValueError(f"Y: expected {N} rows (one per row of X), got shape {Y.shape}")
    d = Y.shape[1]
    rng = _rng(seed)
    test = rng.standard_normal((8, D)) if test is None else to_numpy(
        check_array(test, "test", ndim=2, shape=(None, D), dtype="float64"))
    max_steps = check_scalar(max_steps, "max_steps", integer=True, low=1)
    model = models.serial(models.dense(d))
    if W0 is None:
        sigma = 1 / math.sqrt(D) if sigma is None else check_scalar(sigma, "sigma", low=0.0,
                                                                     low_open=True)
        params = model.init((D,), seed=rng, init="normal", sigma=sigma)
    else:
        W0 = to_numpy(check_array(W0, "W0", shape=(D, d), dtype="float64"))
        params = {"0/W": W0.T.copy()}
    W0 = to_numpy(params["0/W"]).T
    rank = numerical_rank(X).rank
    if N <= D and rank == N:
        theorem, lemma, W_lim = "ic.lemma1", "Lemma 1 (N ≤ D, rank N)", ic.lemma1_limit(X, Y, W0)
    elif N > D and rank == D:
        theorem, lemma, W_lim = "ic.lemma2", "Lemma 2 (N > D, rank D)", ic.lemma2_limit(X, Y)
    else:
        theorem = "ic.lemmas.general"
        lemma = (f"neither lemma's rank condition holds (N = {N}, D = {D}, rank {rank}): the "
                 f"rank-agnostic limit W0 + X⁺(Y − XW0)")
        W_lim = ic.gd_limit_least_squares(X, Y, W0)
    W_lim = to_numpy(W_lim)
    config, lr_half, rule = _config(X, method)
    steps = _steps_for(X, config, max_steps)
    result, lr = _train_mse(model, params, X, Y, config, lr_half, steps)
    W_T = to_numpy(result.params["0/W"]).T
    tol = _weight_tolerance(X, Y, W0, W_lim, result, config)
    rec = _linear_record(
        theorem, "IC Lemmas 1–2, App. D",
        {"N": N, "D": D, "d": d, "method": method}, test, W_lim.T, W_T.T, tol, result, lr,
        _lr_rule(rule, f"N·d = {N * d}", lr),
        empirical=float(0.5 * np.sum((X @ W_T - Y) ** 2)), quantity="training loss")
    rec.details["lemma"] = lemma
    rec.details["rank"] = rank
    return rec


# --------------------------------------------------------------------------- IC Thm 2


def ic_thm2(image: Any, kernel: int, *, sigma: float = 0.05, delta: float = 0.05,
            test: Any = None, W0: Any = None, seed: Any = 0, method: str = "gd",
            max_steps: int = 50_000) -> Comparison:
    """IC Thm 2 on your image: the one-layer CNN (C → C channels, K×K kernel, stride 1,
    "same" zero padding, no bias; ``numerics.models.conv2d``) trained by gradient descent on
    ½‖conv(image; W) − image‖² from W0 with entries N(0, σ²), vs the closed form
    (``theory.identity_crisis.conv1_limit_weights``) on a test image, and its test MSE
    against the explicit bound ``conv1_mse_bound`` (with probability ≥ 1 − δ over W0).

    Args:
        image: the training image (H, W, C).
        kernel: the kernel size K (odd or even; a K×K kernel).
        sigma: W0's entries are N(0, σ²) (the bound's σ).
        delta: the bound's failure probability δ ∈ (0, 1).
        test: the test image (H, W, C) (default: uniform in [−1, 1]); B = its max |pixel|.
        W0: the initial kernel (K, K, C, C) (default: drawn, entries N(0, σ²) — the bound
            holds with probability ≥ 1 − δ over that draw).
        seed: seeds W0 and the default test image (int or Generator).
        method: "gd" (the theorem's) or "heavy-ball" (the same limit, faster).
        max_steps: the step cap (steps are derived from the spectrum).

    Returns:
        Comparison with predicted/trained = the test image's outputs (H, W, C); bound = the
        explicit MSE bound; empirical = the trained net's test MSE over all H·W·C outputs.
    """
    image = to_numpy(check_array(image, "image", ndim=3, dtype="float64"))
    kernel = check_scalar(kernel, "kernel", integer=True, low=1)
    sigma = check_scalar(sigma, "sigma", low=0.0, low_open=True)
    delta = check_scalar(delta, "delta", low=0.0, high=1.0, low_open=True, high_open=True)
    max_steps = check_scalar(max_steps, "max_steps", integer=True, low=1)
    rng = _rng(seed)
    test = rng.uniform(-1, 1, image.shape) if test is None else to_numpy(
        check_array(test, "test", ndim=3, shape=(None, None, image.shape[2]), dtype="float64"))
    C = image.shape[2]
    model = models.serial(models.conv2d(C, kernel))
    if W0 is None:
        params = model.init(image.shape, seed=rng, init="normal", sigma=sigma)
    else:
        params = {"0/W": to_numpy(check_array(W0, "W0", shape=(kernel, kernel, C, C),
                                              dtype="float64")).copy()}
    W0 = to_numpy(params["0/W"])
    P, Y = ic.conv1_regression(image, kernel)
    D = P.shape[1]
    config, lr_half, rule = _config(P, method)
    steps = _steps_for(P, config, max_steps)
    result, lr = _train_mse(model, params, image[None], image[None], config, lr_half, steps)
    W_lim = to_numpy(ic.conv1_limit_weights(W0, image))
    W_T = to_numpy(result.params["0/W"])
    tol = _weight_tolerance(P, Y, W0.reshape(D, C), W_lim.reshape(D, C), result, config)
    predicted = to_numpy(ic.conv2d_same(test, W_lim))
    trained = to_numpy(model.apply(result.params, test[None]))[0]
    # an output is patchᵀw with ‖patch‖ ≤ √D·max|x|: it moves by ≤ that × ‖W_T − W∞‖_F, and
    # each length-D float dot product errs by ≤ γ_D‖patch‖‖w‖
    B = float(np.abs(test).max())
    patch = math.sqrt(D) * B
    tolerance = patch * (tol["total"] + _gamma(D) * (np.linalg.norm(W_T) + np.linalg.norm(W_lim)))
    dims = ic.conv1_dims(image, kernel)
    bound = float(ic.conv1_mse_bound(image, kernel, sigma=sigma, delta=delta, B=B, dims=dims))
    return Comparison(
        theorem="ic.thm2", where="IC Thm 2, Sec 3.2 (explicit form of App. D's proof)",
        params={"kernel": kernel, "sigma": sigma, "delta": delta, "H": image.shape[0],
                "W": image.shape[1], "C": C, "method": method},
        predicted=predicted, trained=trained,
        gap=float(np.abs(predicted - trained).max()), tolerance=float(tolerance),
        tolerance_rule="√D·max|x|·(‖W_T − W∞‖_F bound + γ_D(‖W_T‖_F + ‖W∞‖_F)); the weight "
                       "bound is limit_tolerance on the patch regression + T·2u·max‖Δ‖",
        quantity="test MSE", bound=bound, empirical=float(np.mean((trained - test) ** 2)),
        # each output within `tolerance` of the exact limit's: √MSE moves by ≤ tolerance
        bound_slack=float(2 * math.sqrt(bound) * tolerance + tolerance**2),
        steps=result.steps, training=result.status, lr=lr,
        lr_rule=_lr_rule(rule + " (λ_max = σ_max(P)², P the patch matrix)",
                         f"H·W·C = {image.size}", lr),
        details={"weight_gap": float(np.linalg.norm(W_T - W_lim)),
                 "weight_tolerance": tol["total"], "m": dims.m, "r": dims.r, "n": dims.n,
                 "B": B, "closed_form_test_mse": float(np.mean((predicted - test) ** 2))})


# --------------------------------------------------------------------------- EM Thm 1


def _em(which: str, x: Any, x2: Any, sigma: float, h: int, draws: int, seed: Any) -> Comparison:
    x = to_numpy(check_array(x, "x", ndim=1, dtype="float64"))
    x2 = to_numpy(check_array(x2, "x2", ndim=1, shape=(x.shape[0],), dtype="float64"))
    sigma = check_scalar(sigma, "sigma", low=0.0, low_open=True)
    h = check_scalar(h, "h", integer=True, low=1)
    draws = check_scalar(draws, "draws", integer=True, low=2)
    rng = _rng(seed)
    d = x.shape[0]
    # `draws` independent networks of width h are the row blocks of one random layer of
    # width h·draws (every entry of W1 iid N(0, σ²)): one draw of ⟨sin W1x, sin W1x′⟩ each,
    # width h·draws, in blocks of at most ~2M weights
    per_block = max(1, min(draws, MC_BLOCK_WEIGHTS // (h * d)))
    samples = []
    for start in range(0, draws, per_block):
        k = min(per_block, draws - start)
        model = models.serial(models.dense(h * k), models.sin())
        params = model.init((d,), seed=rng, init="normal", sigma=sigma)
        hidden = to_numpy(model.apply(params, np.stack([x, x2])))
        samples.append(np.sum((hidden[0] * hidden[1]).reshape(k, h), axis=1))
    samples = np.concatenate(samples)
    mean = float(samples.mean())
    se = float(samples.std(ddof=1) / math.sqrt(draws))
    exact = float(em.sin_kernel(x, x2, sigma=sigma, h=h))
    if which == "stated":
        bound = float(em.thm1_bound(x, x2, sigma=sigma, h=h))
        theorem, where = "em.thm1", "EM Thm 1, Sec 3.1 (as stated)"
    else:
        bound = float(em.thm1_proved_bound(x, x2, sigma=sigma, h=h))
        theorem, where = "em.thm1.proved", "EM App. B, the bound the proof supports"
    return Comparison(
        theorem=theorem, where=where,
        params={"sigma": sigma, "h": h, "d": d, "distance": float(np.linalg.norm(x - x2)),
                "cosine": float(x @ x2 / (np.linalg.norm(x) * np.linalg.norm(x2) or 1.0))},
        predicted=np.array([exact]), trained=np.array([mean]), gap=abs(mean - exact),
        tolerance=Z_DECIDE * se,
        tolerance_rule=f"{Z_DECIDE:g} standard errors of the Monte Carlo mean over {draws} "
                       f"random networks (two-sided p ≈ 6.3e-5)",
        quantity="|E⟨sin W1x, sin W1x′⟩|", bound=bound, empirical=abs(mean),
        bound_slack=Z_DECIDE * se, steps=draws,
        training="sampled", lr=None, lr_rule="no training: W1 sampled (entries N(0, σ²))",
        details={"exact_kernel": exact, "monte_carlo_mean": mean, "standard_error": se,
                 "exact_within_bound": abs(exact) <= bound})


def em_thm1(x: Any, x2: Any, *, sigma: float, h: int = 1, draws: int = 20_000,
            seed: Any = 0) -> Comparison:
    """EM Thm 1 at your pair of inputs: the exact E⟨sin(W1x), sin(W1x′)⟩
    (``theory.extreme_memorization.sin_kernel``) vs a Monte Carlo over ``draws`` real random
    layers (``numerics.models``: dense(h) + sin, W1 entries N(0, σ²)), with its standard
    error, against the stated bound h·exp(−σ²‖x − x′‖²/2) (``thm1_bound``). The stated bound
    fails when ⟨x, x′⟩ < −log 3/(2σ²) (``em.thm1`` is falsified); ``details`` has the
    exact kernel's own comparison with the bound.

    Shapes: x, x2 (d,). Returns Comparison with predicted = the exact kernel, trained = the
    Monte Carlo mean, tolerance = 4 standard errors, bound = the stated bound, empirical =
    |Monte Carlo mean|."""
    return _em("stated", x, x2, sigma, h, draws, seed)


def em_thm1_proved(x: Any, x2: Any, *, sigma: float, h: int = 1, draws: int = 20_000,
                   seed: Any = 0) -> Comparison:
    """As ``em_thm1``, against the bound EM's proof supports, h·exp(−σ²‖Δ‖²/2) with
    Δ = x′ − (⟨x′, x⟩/‖x‖²)x (``thm1_proved_bound``)."""
    return _em("proved", x, x2, sigma, h, draws, seed)


# ---------------------------------------------------------------------------------- RR


def rr_min_norm_sgd(X: Any, y: Any, *, test: Any = None, epochs: int | None = None,
                    seed: Any = 0, max_epochs: int = 2000) -> Comparison:
    """RR Sec. 5 on your data: a linear model w (``numerics.models.dense(1)``) trained from
    w0 = 0 by single-example SGD (a fresh random order every epoch) on ½(wᵀx_i − y_i)², vs the
    minimum-norm interpolant X⁺y (``theory.rethinking.min_norm_interpolant``).

    Args:
        X: (n, d) with n ≤ d and full row rank (so an interpolant exists); y: (n,).
        test: test inputs (m, d) (default: 8 Gaussian vectors).
        epochs: SGD epochs (default: derived from the Kaczmarz rate 1 − σ_min²/(n·max‖x_i‖²)
            to contract the error by ``verify.gd_checks.TARGET_CONTRACTION``, at most
            ``max_epochs``).
        seed: the epochs' orders and the default test inputs.

    Returns:
        Comparison with predicted/trained = the test predictions; tolerance from the
        a-posteriori bound ‖w − X⁺y‖ ≤ ‖Xw − y‖/σ_min(X) + rounding; no bound; empirical =
        the training residual ‖Xw − y‖.
    """
    X = to_numpy(check_array(X, "X", ndim=2, dtype="float64"))
    n, d = X.shape
    y = to_numpy(check_array(y, "y", ndim=1, shape=(n,), dtype="float64"))
    rng = _rng(seed)
    test = rng.standard_normal((8, d)) if test is None else to_numpy(
        check_array(test, "test", ndim=2, shape=(None, d), dtype="float64"))
    s = np.linalg.svd(X, compute_uv=False)
    if n > d or numerical_rank(X).rank < n:
        raise ValueError(f"X: expected full row rank n ≤ d (an interpolant for every y), got "
                         f"shape {X.shape} with numerical rank {numerical_rank(X).rank}")
    smin, rmax = float(s[-1]), float(np.max(np.sum(X * X, axis=1)))
    if epochs is None:
        rate = 1 - smin**2 / (n * rmax)
        steps = math.log(TARGET_CONTRACTION) / math.log(rate) if 0 < rate < 1 else n
        epochs = max(1, min(check_scalar(max_epochs, "max_epochs", integer=True, low=1),
                            math.ceil(steps / n)))
    epochs = check_scalar(epochs, "epochs", integer=True, low=1)
    # one order more than the epochs: the trainer evaluates the gradient after the last step
    order = np.concatenate([rng.permutation(n) for _ in range(epochs + 1)])
    model = models.serial(models.dense(1))
    lr_half = 1.0 / rmax
    # the model's 'mse' on one example is (f − y)² = 2·½(f − y)²: the trainer's step is η/2
    result = train({"0/W": np.zeros((1, d))},
                   lambda p, i: model.loss_and_grad(p, X[i:i + 1], y[i:i + 1, None],
                                                    loss="mse"),
                   GDConfig("gd").optimizer(), Constant(lr_half / 2), max_steps=epochs * n,
                   batches=lambda t: int(order[t]), divergence_factor=1e12)
    w = to_numpy(result.params["0/W"])[0]
    w_star = to_numpy(rr.min_norm_interpolant(X, y))
    resid = float(np.linalg.norm(X @ w - y))
    # per step, the update's rounding (the ½ form's (d + 4)u plus 2u for the mean's scaling)
    rounding = result.steps * (d + 6) * U * (result.max_param_norm + result.max_update_norm)
    # w − X⁺y lies in the row space (SGD from 0 moves along the x_i), where ‖v‖ ≤ ‖Xv‖/σ_min
    w_tol = resid / smin + 2 * rounding * (1 + float(s[0]) / smin)
    predicted, trained = test @ w_star, test @ w
    norms = np.linalg.norm(test, axis=1)
    tol = norms * (w_tol + _gamma(d) * (np.linalg.norm(w) + np.linalg.norm(w_star)))
    worst = int(np.argmax(np.abs(predicted - trained) - tol))
    return Comparison(
        theorem="rr.sgd.min-norm", where="RR Sec. 5",
        params={"n": n, "d": d, "epochs": epochs}, predicted=predicted, trained=trained,
        gap=float(abs(predicted - trained)[worst]), tolerance=float(tol[worst]),
        tolerance_rule="‖x‖·(‖Xw − y‖/σ_min + 2T(d+6)u(max‖w‖ + max‖Δ‖)(1 + ‖X‖/σ_min) + "
                       "γ_d(‖w‖ + ‖w*‖)) per test input (w − w* is in the row space)",
        quantity="training residual ‖Xw − y‖", bound=None, empirical=resid,
        steps=result.steps, training=result.status, lr=lr_half / 2,
        lr_rule="η = 1/max‖x_i‖² for ½(wᵀx_i − y_i)²; the model's 'mse' on one example is "
                "(f − y)², twice that, so the trainer's step is η/2",
        details={"weight_gap": float(np.linalg.norm(w - w_star)), "weight_tolerance": w_tol,
                 "sigma_min": smin})


def rr_thm1(Z: Any, y: Any, *, seed: int = 0) -> Comparison:
    """RR Thm 1 on your sample: the constructed two-layer ReLU net c(x) = Σ_j w_j
    relu(⟨a, x⟩ − b_j) with 2n + d weights (``theory.rethinking.depth2_interpolant``, in exact
    rational arithmetic, then rounded to float64) evaluated as a real network
    (``numerics.models``: dense(n, bias) + relu + dense(1)) on the n points.

    Args:
        Z: n distinct points (n, d); y: labels (n,).
        seed: the construction's choice of direction a.

    Returns:
        Comparison with predicted = y (the exact construction fits exactly — checked in
        rationals, ``details["exact_fit"]``), trained = the float network's outputs, gap =
        max |c(z_i) − y_i| within its derived float error; bound = 2n + d weights, empirical =
        the construction's weight count.
    """
    Z = to_numpy(check_array(Z, "Z", ndim=2, dtype="float64"))
    n, d = Z.shape
    y = to_numpy(check_array(y, "y", ndim=1, shape=(n,), dtype="float64"))
    net = rr.depth2_interpolant(Z, y, mode="exact", seed=seed)
    exact_fit = all(v == float(t) for v, t in zip(net.exact_values(Z), y, strict=True))
    model = models.serial(models.dense(n, bias=True), models.relu(), models.dense(1))
    params = {"0/W": np.tile(net.a, (n, 1)), "0/b": -np.asarray(net.b, dtype=float),
              "2/W": np.asarray(net.w, dtype=float)[None, :]}
    trained = to_numpy(model.apply(params, Z))[:, 0]
    # float evaluation of Σ_j w_j relu(a·z − b_j) with a, b, w rounded from the exact
    # rationals (relative u each): ≤ γ_{d+n+3}·Σ_j |w_j|(|a|·|z| + |b_j|) per point
    mags = np.abs(Z) @ np.abs(net.a)
    tol = _gamma(d + n + 3) * (np.abs(net.w)[None, :] * (mags[:, None] + np.abs(net.b)[None, :])
                               ).sum(axis=1)
    worst = int(np.argmax(np.abs(trained - y) - tol))
    return Comparison(
        theorem="rr.thm1", where="RR Thm 1, Sec 4; construction App. C",
        params={"n": n, "d": d}, predicted=y.copy(), trained=trained,
        gap=float(abs(trained - y)[worst]), tolerance=float(tol[worst]),
        tolerance_rule="γ_{d+n+3}·Σ_j |w_j|(|a|·|z| + |b_j|) per point (float evaluation of "
                       "the exactly fitting weights rounded to float64)",
        quantity="weights", bound=float(2 * n + d), empirical=float(net.weight_count),
        steps=0, training="constructed", lr=None, lr_rule="no training: constructed",
        details={"exact_fit": exact_fit, "smallest_gap": net.smallest_gap,
                 "w_norm": float(np.linalg.norm(net.w))})


# ------------------------------------------------------------------------- tables, plots


def _records(records: Any) -> list[Comparison]:
    if isinstance(records, Comparison):
        return [records]
    records = list(records)
    for i, r in enumerate(records):
        if not isinstance(r, Comparison):
            raise TypeError(f"records: expected Comparison records, got {type(r).__name__} at "
                            f"position {i}")
    if not records:
        raise ValueError("records: expected at least one record")
    return records


def table(records: Any) -> list[dict]:
    """The records as flat rows (``Comparison.row``), one column set for all (missing
    values None)."""
    rows = [r.row() for r in _records(records)]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return [{k: row.get(k) for k in columns} for row in rows]


def to_csv(records: Any, path: str | Path | None = None) -> str:
    """The table as CSV text; written to ``path`` (UTF-8) when given."""
    rows = table(records)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if path is not None:
        Path(path).write_text(buf.getvalue(), encoding="utf-8")
    return buf.getvalue()


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")  # a literal | would end the cell


def to_markdown(records: Any) -> str:
    """The table as a Markdown table."""
    rows = table(records)
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_dataframe(records: Any) -> Any:
    """The table as a pandas DataFrame (needs pandas: ``pip install pandas``)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("to_dataframe needs pandas: pip install pandas (or use table, "
                          "to_csv, to_markdown)") from exc
    return pd.DataFrame(table(records))


def _spans_decades(values: list[float]) -> bool:
    pos = [v for v in values if v is not None and v > 0]
    return len(pos) == len([v for v in values if v is not None]) and len(pos) > 1 and \
        max(pos) / min(pos) >= 100


def plot(records: Any, x: str, *, path: str | Path | None = None, ax: Any = None,
         title: str | None = None) -> Any:
    """Bound and empirical value against the swept parameter ``x`` (a key of the records'
    ``params``), one pair of curves per theorem; an axis is logarithmic when its values are
    positive and span two decades or more. Saved to ``path`` when given.

    Returns the matplotlib Figure."""
    from overparam.common.plotting import pyplot

    recs = _records(records)
    missing = [i for i, r in enumerate(recs) if x not in r.params]
    if missing:
        raise ValueError(f"x: expected a parameter every record has, got {x!r} (record "
                         f"{missing[0]} has {sorted(recs[missing[0]].params)})")
    plt = pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    ys: list[float] = []
    for theorem in dict.fromkeys(r.theorem for r in recs):
        group = sorted((r for r in recs if r.theorem == theorem), key=lambda r: r.params[x])
        xs = [r.params[x] for r in group]
        bound = [(xv, r.bound) for xv, r in zip(xs, group, strict=True) if r.bound is not None]
        emp = [(xv, r.empirical) for xv, r in zip(xs, group, strict=True)
               if r.empirical is not None]
        if bound:
            ax.plot(*zip(*bound, strict=True), "o--", label=f"{theorem}: bound")
            ys += [b for _, b in bound]
        if emp:
            ax.plot(*zip(*emp, strict=True), "s-", label=f"{theorem}: empirical "
                                                         f"({group[0].quantity})")
            ys += [e for _, e in emp]
    xs_all = [r.params[x] for r in recs]
    if all(isinstance(v, int | float) for v in xs_all) and _spans_decades(xs_all):
        ax.set_xscale("log")
    if _spans_decades(ys):
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(recs[0].quantity)
    ax.set_title(title or ", ".join(dict.fromkeys(r.theorem for r in recs)))
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
