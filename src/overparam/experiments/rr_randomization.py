"""Reproduction ``rr.randomization``: RR Fig. 1a–c and Table 1's MLP rows — MLPs 1×512 and
3×512 (and a small CNN) fit true labels, random labels, shuffled pixels, random pixels and
Gaussian pixels, and labels corrupted with probability p ∈ {0, 0.2, …, 1}, with and without
weight decay.

Data: Fashion-MNIST (Debian's package) by default; set ``OVERPARAM_RR_CIFAR10_DIR`` to a
directory of CIFAR-10's python batches to run on RR's dataset (centre crops 28×28×3, RR App. A).

Networks are ``numerics.models``: the MLPs dense(512, bias) → ReLU, ×1 or ×3, → dense(10, bias)
(RR's MLPs have biases: 2352·512 + 512 + 5130 = 1,209,866 parameters on CIFAR-10's 28×28×3
crops); the small CNN two 5×5 stride-1 "same" convolutions (no bias) → ReLU, then dense(10,
bias) on the flattened maps — not RR's small AlexNet, which needs max-pooling and local
response normalisation that the model layer does not have. Glorot-uniform weights, softmax
cross-entropy, trained by the shared trainer with SGD momentum 0.9, lr 0.01 decayed × 0.95 per
50,000 examples seen (RR's per-epoch decay at CIFAR-10's epoch length, kept per step so that a
small subset is not starved). Images: pixels /255, then per-image standardisation (RR:
TensorFlow's per_image_whitening). A point is fitted when its training accuracy — on the labels
it was trained on — reaches ``FIT_THRESHOLD`` (100 %), checked after every epoch on the whole
training set; the step is recorded. Test labels are never corrupted: ``prepare`` returns the
dataset's own test labels and checks them.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from overparam.experiments import datasets
from overparam.experiments.datasets import per_image_standardization
from overparam.experiments.findings import (
    Finding,
    Precondition,
    decide,
    seed_stats,
    t_test,
)
from overparam.experiments.protocol import Experiment, Outputs, Summary
from overparam.experiments.runner import point_key
from overparam.numerics import models
from overparam.numerics.atomic import write_text_atomic
from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.checkpoint import Checkpoint
from overparam.numerics.optimizers import Momentum
from overparam.numerics.trainer import minibatch_indices, train

N_CLASSES = 10
FIT_THRESHOLD = 1.0
CONDITIONS = ("true labels", "random labels", "shuffled pixels", "random pixels", "gaussian")
CORRUPTIONS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
#: RR's decay: × 0.95 per epoch of CIFAR-10's 50,000 training images
DECAY_EXAMPLES = 50000
EVAL_CHUNK = 2048
CHECKPOINT_SECONDS = 60.0
CIFAR10_ENV = "OVERPARAM_RR_CIFAR10_DIR"
#: RR App. A: CIFAR-10's 32×32 images cropped from the centre to 28×28
CROP = 28
#: RR Table 1 (CIFAR-10, %): (train, test); None where the text extraction lost the cell. The
#: "cnn" rows are RR's small AlexNet without random crops, printed beside our (different) CNN.
PAPER_TABLE1 = {
    ("3x512", "true labels", True): (100.0, 53.35), ("3x512", "true labels", False): (100.0, 52.39),
    ("3x512", "random labels", False): (100.0, None),
    ("1x512", "true labels", True): (99.80, 50.39), ("1x512", "true labels", False): (100.0, 50.51),
    ("1x512", "random labels", False): (99.34, None),
    ("cnn", "true labels", True): (100.0, 77.36), ("cnn", "true labels", False): (100.0, 76.07),
    ("cnn", "random labels", False): (99.82, 9.86),
}

PRESETS = {
    # seconds: used by the tests
    "smoke": {"n_train": 128, "n_test": 200, "batch": 32, "width": 32, "channels": 4,
              "lr": 0.01, "weight_decay": 5e-4, "max_epochs": 4, "test_every": 2,
              "dtype": "float32",
              "grid": {"1x512": {"conditions": ["true labels", "random labels", "gaussian"],
                                 "corruptions": [0.5], "weight_decay": ["true labels"]},
                       "cnn": {"conditions": ["random labels"], "corruptions": [],
                               "weight_decay": []}}},
    # ≤ 15 min on 2 cores: 1,000 training / 1,000 test images, batch 64, at most 150 epochs;
    # every condition and p ∈ {0.2, …, 0.8} on MLP 1×512, true/random labels and weight decay
    # on 3×512, true/random labels on the CNN
    "quick": {"n_train": 1000, "n_test": 1000, "batch": 64, "width": 512, "channels": 16,
              "lr": 0.01, "weight_decay": 5e-4, "max_epochs": 150, "test_every": 5,
              "dtype": "float32",
              "grid": {"1x512": {"conditions": list(CONDITIONS),
                                 "corruptions": [0.2, 0.4, 0.6, 0.8],
                                 "weight_decay": ["true labels"]},
                       "3x512": {"conditions": ["true labels", "random labels"],
                                 "corruptions": [], "weight_decay": ["true labels"]},
                       "cnn": {"conditions": ["true labels", "random labels"],
                               "corruptions": [], "weight_decay": []}}},
    # issue 25's standard: 2,000 training images, 3 seeds (subset, labels' corruption and
    # initialisation change with the seed); Fig. 1's conditions and p on MLP 1×512, true and
    # random labels on 3×512
    "standard": {"n_train": 2000, "n_test": 1000, "batch": 64, "width": 512, "channels": 16,
                 "lr": 0.01, "weight_decay": 5e-4, "max_epochs": 150, "test_every": 5,
                 "dtype": "float32", "seeds": 3,
                 "grid": {"1x512": {"conditions": list(CONDITIONS),
                                    "corruptions": [0.2, 0.4, 0.6, 0.8],
                                    "weight_decay": []},
                          "3x512": {"conditions": ["true labels", "random labels"],
                                    "corruptions": [], "weight_decay": []}}},
    # RR's sets on the whole training set (a GPU job)
    "paper": {"n_train": 60000, "n_test": 10000, "batch": 128, "width": 512, "channels": 32,
              "lr": 0.01, "weight_decay": 5e-4, "max_epochs": 1000, "test_every": 1,
              "dtype": "float32",
              "grid": {a: {"conditions": list(CONDITIONS), "corruptions": [0.2, 0.4, 0.6, 0.8],
                           "weight_decay": ["true labels", "random labels"]}
                       for a in ("1x512", "3x512", "cnn")}},
}


# --- data ----------------------------------------------------------------------------------

def dataset_choice() -> tuple[str, str]:
    """("cifar-10", dir) when ``OVERPARAM_RR_CIFAR10_DIR`` names CIFAR-10's python batches,
    else ("fashion-mnist", "")."""
    root = os.environ.get(CIFAR10_ENV, "")
    return ("cifar-10", root) if root else ("fashion-mnist", "")


@functools.lru_cache(maxsize=2)
def _split(dataset: str, root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28, C) uint8, labels): Fashion-MNIST as stored, CIFAR-10's 32×32
    images cropped from the centre to 28×28 (RR App. A)."""
    if dataset == "cifar-10":
        images, labels = datasets.load_cifar10(root, split)
        lo = (images.shape[1] - CROP) // 2
        return images[:, lo:lo + CROP, lo:lo + CROP, :], labels
    return datasets.load_fashion_mnist(split)


def _subset(n_total: int, n: int, seed: int, salt: int) -> np.ndarray:
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng([seed, salt]).permutation(n_total)[:n])


def prepare(point: dict, cfg: dict) -> dict:
    """The point's data: X (n, d) flattened images (d = 784 on Fashion-MNIST, 2352 on
    CIFAR-10's crops), image_shape (H, W, C), y (the labels trained on), X_test, y_test (the
    dataset's own test labels, never corrupted), y_true, corrupted (mask of changed labels).
    The dataset is the point's "dataset"/"data_dir" (default Fashion-MNIST).

    Conditions (RR Sec. 2.1): "true labels"; "random labels" (every label uniform);
    corruption p (each label independently with probability p replaced by a uniform class);
    "shuffled pixels" (one permutation of the pixels for every image, train and test);
    "random pixels" (an independent permutation per image); "gaussian" (every pixel drawn
    from a Gaussian with the training images' mean and variance, train and test)."""
    seed = point["seed"]
    rng = np.random.default_rng([seed, 21])
    source = (point.get("dataset", "fashion-mnist"), point.get("data_dir", ""))
    Xa, ya = _split(*source, "train")
    Xb, yb = _split(*source, "test")
    i, j = _subset(len(ya), cfg["n_train"], seed, 1), _subset(len(yb), cfg["n_test"], seed, 2)
    image_shape = tuple(int(k) for k in Xa.shape[1:])
    X, X_test = Xa[i].reshape(len(i), -1) / 255.0, Xb[j].reshape(len(j), -1) / 255.0
    y_true, y_test = ya[i].astype(np.int64), yb[j].astype(np.int64)
    cond = point["condition"]
    if cond == "shuffled pixels":
        perm = rng.permutation(X.shape[1])
        X, X_test = X[:, perm], X_test[:, perm]
    elif cond == "random pixels":
        X, X_test = rng.permuted(X, axis=1), rng.permuted(X_test, axis=1)
    elif cond == "gaussian":
        mean, std = X.mean(), X.std()
        X, X_test = rng.normal(mean, std, X.shape), rng.normal(mean, std, X_test.shape)
    p = 1.0 if cond == "random labels" else point.get("corruption", 0.0)
    replace = rng.random(len(y_true)) < p
    y = np.where(replace, rng.integers(0, N_CLASSES, len(y_true)), y_true)
    if not np.array_equal(y_test, yb[j]):
        raise RuntimeError("test labels changed: they must never be corrupted")
    return {"X": per_image_standardization(X), "image_shape": image_shape, "y": y,
            "X_test": per_image_standardization(X_test), "y_test": y_test, "y_true": y_true,
            "corrupted": y != y_true}


# --- one point -----------------------------------------------------------------------------

def network(arch: str, width: int, channels: int = 16) -> models.Model:
    """MLP "1x512" or "3x512" (``width`` units per hidden layer, biases, ReLU), or "cnn":
    two 5×5 "same" convolutions of ``channels`` maps, each → ReLU, then dense(10, bias) on
    the flattened maps; it takes images (H, W, C)."""
    if arch == "cnn":
        return models.serial(models.conv2d(channels, 5), models.relu(),
                             models.conv2d(channels, 5), models.relu(), models.flatten(),
                             models.dense(N_CLASSES, bias=True))
    depth = int(arch.split("x")[0])
    layers: list[models.Layer] = []
    for _ in range(depth):
        layers += [models.dense(width, bias=True), models.relu()]
    return models.serial(*layers, models.dense(N_CLASSES, bias=True))


def _evaluate(model: models.Model, params: dict, X: Any, y: np.ndarray) -> tuple[float, float]:
    """(mean softmax cross-entropy, accuracy) on the whole of (X, y), in chunks."""
    loss, correct = 0.0, 0
    for s in range(0, X.shape[0], EVAL_CHUNK):
        z = to_numpy(model.apply(params, X[s:s + EVAL_CHUNK])).astype(np.float64)
        yc = y[s:s + EVAL_CHUNK]
        top = z.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
        loss += float((lse - z[np.arange(len(yc)), yc]).sum())
        correct += int((z.argmax(axis=1) == yc).sum())
    return loss / X.shape[0], correct / X.shape[0]


class _FittedError(Exception):
    """Raised from the trainer's callback once the training accuracy reaches the threshold."""


class RRSchedule:
    """lr · 0.95^(examples seen / 50,000): RR's per-epoch decay at CIFAR-10's epoch length."""

    def __init__(self, lr: float, batch: int) -> None:
        self.lr, self.batch = lr, batch

    def __call__(self, t: int) -> float:
        return self.lr * 0.95 ** (t * self.batch / DECAY_EXAMPLES)


def train_point(point: dict, scratch: Path | None = None) -> dict:
    """Train one MLP on one condition until the training accuracy reaches FIT_THRESHOLD or
    the epoch cap; the history holds every epoch's training loss and accuracy (on the labels
    trained on) and test accuracy."""
    cfg = PRESETS[point["preset"]]
    d = prepare(point, cfg)
    model = network(point["arch"], cfg["width"], cfg["channels"])
    dtype = cfg["dtype"]
    xp = get_xp(backend=point["backend"])
    shape = d["image_shape"] if point["arch"] == "cnn" else d["X"].shape[1:]
    X = xp.asarray(d["X"].astype(dtype).reshape(-1, *shape))
    Xt = xp.asarray(d["X_test"].astype(dtype).reshape(-1, *shape))
    y, y_test = d["y"], d["y_test"]
    n = X.shape[0]
    batch = min(cfg["batch"], n)
    per_epoch = n // batch
    wd = cfg["weight_decay"] if point["weight_decay"] else 0.0
    params = model.init(tuple(shape), seed=point["seed"], init="xavier-uniform", dtype=dtype,
                        backend=point["backend"])
    started = time.perf_counter()
    spent = {"measurements": 0.0}

    def measure(p: dict, inputs, labels) -> tuple[float, float]:
        t = time.perf_counter()
        out = _evaluate(model, p, inputs, labels)
        spent["measurements"] += time.perf_counter() - t
        return out

    key = point_key(point)
    hist_path = None if scratch is None else Path(scratch) / "history.json"
    history: list[dict] = []
    if hist_path is not None and hist_path.exists():
        saved = json.loads(hist_path.read_text(encoding="utf-8"))
        history = saved["history"] if saved.get("key") == key else []
    if not history:
        loss0, acc0 = measure(params, X, y)
        history = [{"epoch": 0, "step": 0, "train_loss": loss0, "train_acc": acc0,
                    "test_acc": measure(params, Xt, y_test)[1]}]
    checkpoint = None
    if scratch is not None:
        checkpoint = Checkpoint(Path(scratch) / "train.npz", every_seconds=CHECKPOINT_SECONDS,
                                key=key)
        checkpoint.discard_if_unusable(params)

    last = {"params": params}

    def on_epoch(step: int, p: dict, _loss: float) -> None:
        last["params"] = p
        loss, acc = measure(p, X, y)
        history[:] = [h for h in history if h["step"] < step]
        epoch = step // per_epoch
        # the test set every ``test_every`` epochs and at the end (the training set, which
        # decides when the network is fitted, every epoch)
        test = (measure(p, Xt, y_test)[1] if acc >= FIT_THRESHOLD or epoch %
                cfg["test_every"] == 0 or epoch == cfg["max_epochs"] else None)
        history.append({"epoch": epoch, "step": step, "train_loss": loss, "train_acc": acc,
                        "test_acc": test})
        if hist_path is not None:
            write_text_atomic(hist_path, json.dumps({"key": key, "history": history}))
        if acc >= FIT_THRESHOLD:
            raise _FittedError

    def loss_and_grad(p: dict, idx: np.ndarray):
        idx_x = xp.asarray(idx)
        value, grads = model.loss_and_grad(p, X[idx_x], xp.asarray(y[idx]), loss="softmax_ce")
        if wd:
            # L2 penalty (wd/2)·‖W‖² on the weights (not the biases)
            for k, w in p.items():
                if k.endswith("/W"):
                    value += 0.5 * wd * float((w.astype(xp.float64) ** 2).sum())
                    grads[k] = grads[k] + wd * w
        return value, grads

    status, diverged_at = "epoch cap", None
    if history[-1]["train_acc"] >= FIT_THRESHOLD:
        status = "fitted"
    else:
        try:
            res = train(params, loss_and_grad, Momentum(0.9),
                        RRSchedule(cfg["lr"], batch), max_steps=cfg["max_epochs"] * per_epoch,
                        record_every=per_epoch, callback=on_epoch, checkpoint=checkpoint,
                        batches=functools.partial(minibatch_indices, n, batch,
                                                  seed=point["seed"]))
            last["params"] = res.params
            if res.status == "diverged":
                status, diverged_at = "diverged", res.diverged_at
        except _FittedError:
            status = "fitted"
    final = history[-1]
    if final["test_acc"] is None:  # stopped between test evaluations (divergence)
        final["test_acc"] = measure(last["params"], Xt, y_test)[1]
    return {"status": status, "fit_step": final["step"] if status == "fitted" else None,
            "epochs": final["epoch"], "steps_per_epoch": per_epoch, "diverged_at": diverged_at,
            "train_acc": final["train_acc"], "test_acc": final["test_acc"],
            "corrupted_fraction": float(d["corrupted"].mean()),
            "n_train": n, "n_test": int(len(y_test)), "params": model.param_count(tuple(shape)),
            "history": history,
            # where the point's time went (the runner moves it beside the point file)
            "phases": {"training": time.perf_counter() - started - spent["measurements"],
                       **spent}}


def points(preset: str, seed: int, backend: str) -> list[dict]:
    """Every (seed, architecture, condition, corruption, weight decay) of the preset's
    grid."""
    cfg = PRESETS[preset]
    dataset, root = dataset_choice()
    out = []
    for k, (arch, grid) in ((k, ag) for k in range(seed, seed + int(cfg.get("seeds", 1)))
                            for ag in cfg["grid"].items()):
        base = {"arch": arch, "seed": k, "preset": preset, "backend": backend,
                "dataset": dataset, "data_dir": root}
        for cond in grid["conditions"]:
            out.append({**base, "condition": cond, "corruption": 1.0 if cond ==
                        "random labels" else 0.0, "weight_decay": False})
        for p in grid["corruptions"]:
            out.append({**base, "condition": "corrupted labels", "corruption": p,
                        "weight_decay": False})
        for cond in grid["weight_decay"]:
            out.append({**base, "condition": cond, "corruption": 1.0 if cond ==
                        "random labels" else 0.0, "weight_decay": True})
    return out


def compute_point(point: dict, scratch: Path | None = None) -> dict:
    """Train the point's network (``train_point``)."""
    return train_point(point, scratch)


# --- outputs -------------------------------------------------------------------------------

def _arch_name(arch: str) -> str:
    return "small CNN" if arch == "cnn" else f"MLP {arch}"


def _label(p: dict) -> str:
    cond = p["condition"]
    if cond == "corrupted labels":
        cond = f"corruption p = {p['corruption']:g}"
    return f"{_arch_name(p['arch'])}, {cond}" + (", weight decay" if p["weight_decay"] else "")


def _steps(res: dict) -> str:
    if res["status"] == "fitted":
        return f"{res['fit_step']} (epoch {res['epochs']})"
    return f"not fitted: {res['status']} at epoch {res['epochs']}"


def _corruption_curve(rows: list, arch: str, seed: int | None = None
                      ) -> list[tuple[float, dict]]:
    """(p, result) for p ∈ [0, 1] of one architecture without weight decay (of one ``seed``,
    or every seed's): p = 0 is the true-labels point, p = 1 the random-labels point."""
    out = []
    for r in rows:
        p = r["point"]
        if p["arch"] != arch or p["weight_decay"] or (seed is not None and p["seed"] != seed):
            continue
        if p["condition"] in ("true labels", "random labels", "corrupted labels"):
            out.append((p["corruption"], r["result"]))
    return sorted(out, key=lambda t: t[0])


def outputs(rows: list, *, preset: str, seed: int, backend: str) -> Outputs:
    """results.json metadata, results.csv (one row per network), fig1.png and the summary."""
    csv_rows = [[r["point"]["arch"], r["point"]["seed"], r["point"]["condition"],
                 r["point"]["corruption"],
                 r["point"]["weight_decay"], r["result"]["status"], r["result"]["fit_step"],
                 r["result"]["epochs"], r["result"]["train_acc"], r["result"]["test_acc"],
                 r["result"]["corrupted_fraction"]] for r in rows]

    def draw(name: str, path: Path) -> None:
        _fig1(path, rows)

    dataset = rows[0]["point"].get("dataset", "fashion-mnist") if rows else "fashion-mnist"
    return Outputs(metadata={"seed": seed, "backend": backend, "dataset": dataset,
                             "fit_threshold": FIT_THRESHOLD},
                   csv_header=["arch", "seed", "condition", "corruption", "weight_decay", "status",
                               "fit_step", "epochs", "train_acc", "test_acc",
                               "corrupted_fraction"],
                   csv_rows=csv_rows, draw=draw,
                   summary=_summary(rows, PRESETS[preset], preset, dataset))


def _fig1(path: Path, rows: list) -> None:
    """RR Fig. 1: (a) training loss against steps per condition (first seed), (b) steps to
    fit relative to p = 0 against the corruption p, (c) test error against p — mean ± sd over
    seeds, networks that did not fit marked."""
    from overparam.common.plotting import mark_unfitted, pyplot, save, seed_band

    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
    for r in rows:
        p = r["point"]
        if p["weight_decay"] or p["condition"] == "corrupted labels" or \
                p["seed"] != rows[0]["point"]["seed"]:
            continue
        h = r["result"]["history"]
        ax[0].plot([e["step"] for e in h], [e["train_loss"] for e in h], label=_label(p))
    ax[0].set(xlabel="SGD step", ylabel="training loss (whole set)", yscale="log",
              title="(a) learning curves")
    ax[0].legend(fontsize=6)
    seeds = sorted({r["point"]["seed"] for r in rows})
    for arch in sorted({r["point"]["arch"] for r in rows}):
        curve = _corruption_curve(rows, arch)
        ps = sorted({p for p, _ in curve})
        if len(ps) < 2:
            continue
        ratios: dict[float, list[float]] = {}
        for k in seeds:
            mine = _corruption_curve(rows, arch, k)
            base = mine[0][1]["fit_step"] if mine and mine[0][0] == 0 else None
            for p, res in mine:
                if base and res["fit_step"]:
                    ratios.setdefault(p, []).append(res["fit_step"] / base)
        if ratios:
            seed_band(ax[1], sorted(ratios), [ratios[p] for p in sorted(ratios)], "o-",
                      _arch_name(arch))
        seed_band(ax[2], ps, [[100 * (1 - res["test_acc"]) for q, res in curve if q == p]
                              for p in ps], "o-", _arch_name(arch))
        unfit = [(p, 100 * (1 - res["test_acc"])) for p, res in curve if not res["fit_step"]]
        mark_unfitted(ax[2], [u[0] for u in unfit], [u[1] for u in unfit])
    ax[1].set(xlabel="label corruption p", ylabel="steps to fit / steps at p = 0",
              title="(b) time to fit")
    ax[2].axhline(90, color="gray", lw=0.8, label="chance (90 %)")
    ax[2].set(xlabel="label corruption p", ylabel="test error %", title="(c) test error")
    for a in ax[1:]:
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    save(fig, path)


def _table1(rows: list) -> list[str]:
    """RR Table 1's MLP rows and small-AlexNet rows (beside our small CNN, a different
    network) and any other true/random-label network we ran, with ours."""
    ours = {(r["point"]["arch"], r["point"]["condition"], r["point"]["weight_decay"]):
            r["result"] for r in rows
            if r["point"]["condition"] in ("true labels", "random labels")}
    lines = ["| model | weight decay | labels | train acc % (ours) | test acc % (ours) | "
             "train / test % (RR, CIFAR-10) |", "|---|---|---|---|---|---|"]
    for key in [*PAPER_TABLE1, *sorted(k for k in ours if k not in PAPER_TABLE1)]:
        arch, cond, wd = key
        paper = PAPER_TABLE1.get(key)
        ref = "—" if paper is None else (
            f"{paper[0]} / {paper[1] if paper[1] is not None else 'lost in text extraction'}"
            + (" (small AlexNet)" if arch == "cnn" else ""))
        res = ours.get(key)
        mine = ("not run in this preset | —" if res is None else
                f"{100 * res['train_acc']:.2f} | {100 * res['test_acc']:.2f}")
        lines.append(f"| {_arch_name(arch)} | {'yes' if wd else 'no'} | {cond} | {mine} | {ref} |")
    return lines


def _chance_band(n_test: int) -> float:
    return 0.9 - 3 * math.sqrt(0.09 / n_test)


def _summary(rows: list, cfg: dict, preset: str, dataset: str) -> Summary:
    table = ["| network | seed | status | steps to fit | train acc (labels trained on) | "
             "test acc |", "|---|---|---|---|---|---|"]
    for r in rows:
        res = r["result"]
        table.append(f"| {_label(r['point'])} | {r['point']['seed']} | {res['status']} | "
                     f"{_steps(res)} | "
                     f"{100 * res['train_acc']:.2f} % | {100 * res['test_acc']:.2f} % |")
    names = {"fashion-mnist": "Fashion-MNIST", "cifar-10": "CIFAR-10 (centre crops 28×28×3)"}
    n_available = 50000 if dataset == "cifar-10" else 60000
    data_note = [] if dataset == "cifar-10" else [
        "RR's experiments are on CIFAR-10 (28×28×3 crops); this run uses Fashion-MNIST "
        "(28×28 grey; set OVERPARAM_RR_CIFAR10_DIR to run on CIFAR-10): MLP 1×512 has "
        f"{network('1x512', 512).param_count((784,)):,} parameters here against RR's "
        "1,209,866."]
    return Summary(
        title="rr.randomization — RR Fig. 1a–c, Table 1 (MLP rows): fitting random labels "
              "and pixels",
        setup=(f"Preset `{preset}`: {names[dataset]}, {cfg['n_train']} training / "
               f"{cfg['n_test']} test images (seeded subsets), pixels /255 then per-image "
               f"standardisation; MLPs with {cfg['width']} ReLU units per hidden layer and "
               f"biases; the small CNN: two 5×5 'same' convolutions of {cfg['channels']} "
               f"maps (no bias) with ReLU, then a dense layer with bias; Glorot-uniform; "
               f"softmax cross-entropy; SGD momentum 0.9, lr "
               f"{cfg['lr']} × 0.95 per {DECAY_EXAMPLES} examples, batch {cfg['batch']}, "
               f"{cfg['dtype']}; weight decay {cfg['weight_decay']} (L2 on weights) where "
               f"marked; fitted = training accuracy on the labels trained on reaches "
               f"{100 * FIT_THRESHOLD:g} %, checked every epoch; at most {cfg['max_epochs']} "
               f"epochs. Test labels are the dataset's own in every condition."),
        differences=[
            *data_note,
            f"{cfg['n_train']} of {n_available} training images and an epoch cap of "
            f"{cfg['max_epochs']} (RR trains until the training set is fitted)."
            if cfg["n_train"] < n_available else "An epoch cap of "
            f"{cfg['max_epochs']} (RR trains until the training set is fitted).",
            "RR's batch size and weight-decay factor are not stated: batch "
            f"{cfg['batch']} and {cfg['weight_decay']} are ours; RR's lr decay × 0.95 per "
            "epoch is applied per step at CIFAR-10's epoch length (50,000 examples).",
            "Gaussian pixels: one Gaussian with the training images' overall mean and "
            "variance (before per-image standardisation).",
            "The small CNN is ours, not RR's small AlexNet (two conv 5×5 → max-pool 3×3 → "
            "local response normalisation modules, then dense 384 and 192): the model layer "
            "has no pooling or normalisation. RR's AlexNet rows (no random crop) are printed "
            "beside it for scale only.",
            "Table 1's random-label test accuracies of the MLPs were lost in the text "
            "extraction of RR (shown as such)."],
        body=["Every network:", "", *table, "",
              f"Table 1 (MLP and AlexNet rows), ours (seed {rows[0]['point']['seed']}) beside "
              "RR's:", "", *_table1([r for r in rows
                                     if r["point"]["seed"] == rows[0]["point"]["seed"]])],
        comparisons_heading="RR's findings beside ours:", findings=findings(rows))


def _fit_pre(results: list[dict], what: str) -> Precondition:
    """RR's precondition for time to fit and for test error after fitting: every network
    ``what`` reached 100 % training accuracy on the labels it was trained on."""
    n_fit = sum(r["status"] == "fitted" for r in results)
    return Precondition(f"every network {what} fit its training set (100 % training accuracy; "
                        "RR Sec. 2)", {"networks": len(results), "fitted": n_fit},
                        bool(results) and n_fit == len(results))


def findings(rows: list) -> list[Finding]:
    """RR Fig. 1 and Table 1's statements as ``Finding``s over every seed. Times to fit exist
    only for fitted networks, and a test error "after fitting" only where the net fit: a
    statement resting on an unfitted network is not assessable."""
    from scipy.stats import spearmanr

    seeds = sorted({r["point"]["seed"] for r in rows})
    out = []
    randoms = [r for r in rows if r["point"]["condition"] == "random labels"
               and not r["point"]["weight_decay"]]
    pre = Precondition("trained until 100 % training accuracy or the epoch cap",
                       {"networks": len(randoms)}, bool(randoms))
    n_fit = sum(r["result"]["status"] == "fitted" for r in randoms)
    out.append(Finding(
        key="random-labels-fit", statement="networks fit random labels perfectly",
        where="RR Sec. 2, Table 1, Fig. 1a", precondition=pre,
        statistic="random-label networks at 100 % training accuracy", value=float(n_fit),
        test="all of them", threshold=f"{len(randoms)} of {len(randoms)}",
        verdict=decide(n_fit == len(randoms), pre), seeds=seeds,
        paper="MLP 1×512 99.34 %, 3×512 100 %, small AlexNet 99.82 % train",
        details={"train acc (arch, seed)": [[r["point"]["arch"], r["point"]["seed"],
                                             r["result"]["train_acc"]] for r in randoms]}))
    for arch in sorted({r["point"]["arch"] for r in rows}):
        curve = _corruption_curve(rows, arch)
        name = _arch_name(arch)
        ends = {k: dict((p, res) for p, res in _corruption_curve(rows, arch, k)
                        if p in (0.0, 1.0)) for k in seeds}
        if all(len(e) == 2 for e in ends.values()):
            pre = _fit_pre([res for e in ends.values() for res in e.values()],
                           "at p = 0 and p = 1")
            ratios = [e[1.0]["fit_step"] / e[0.0]["fit_step"] for e in ends.values()
                      if e[0.0]["fit_step"] and e[1.0]["fit_step"]]
            st = seed_stats(ratios) if ratios else None
            p = t_test(ratios, 1.0) if ratios else None
            passed = None if st is None else (st["mean"] >= 1.5 and (p is None or p < 0.05))
            out.append(Finding(
                key=f"{arch}-random-slower", statement=f"{name}: random labels take longer to "
                "fit than true labels", where="RR Fig. 1b", precondition=pre,
                statistic="steps to fit, random / true labels", value=None if st is None
                else st["mean"], test="the mean against RR's lower end, and one-sided t-test "
                "over seeds of a ratio above 1" if len(ratios) > 1 else "one seed: the ratio "
                "against RR's lower end", threshold="≥ 1.5 (RR: ×1.5–3.5)",
                verdict=decide(passed, pre), seeds=seeds, p_value=p,
                ci=None if st is None else st["ci"], spread=None if st is None else st["sd"],
                paper="×1.5–3.5", details={"per seed": ratios}))
        if len({p for p, _ in curve}) >= 3:
            pre = _fit_pre([res for _, res in curve], "along the corruption curve")
            fitted = [(p, res["fit_step"]) for p, res in curve if res["fit_step"]]
            rho = pv = None
            if len(fitted) >= 3 and len({s for _, s in fitted}) > 1:
                sr = spearmanr([p for p, _ in fitted], [s for _, s in fitted])
                rho, pv = float(sr.statistic), float(sr.pvalue)
            out.append(Finding(
                key=f"{arch}-time-grows", statement=f"{name}: time to fit grows with the label "
                "corruption p", where="RR Fig. 1b", precondition=pre,
                statistic="Spearman ρ of steps to fit with p, every seed", value=rho,
                test="two-sided Spearman test", threshold="ρ > 0 at p < 0.05",
                verdict=decide(None if rho is None else (rho > 0 and pv < 0.05), pre),
                seeds=seeds, p_value=pv, paper="grows with p",
                details={"steps (p, steps)": [[p, s] for p, s in fitted]}))
        last = [res for p, res in curve if p == 1.0]
        if last and len({p for p, _ in curve}) >= 2:
            band = _chance_band(last[0]["n_test"])
            errs = [1 - res["test_acc"] for res in last]
            st = seed_stats(errs)
            pv = t_test(errs, band)
            pre = _fit_pre(last, "at p = 1")
            out.append(Finding(
                key=f"{arch}-chance", statement=f"{name}: test error → 90 % as p → 1",
                where="RR Fig. 1c", precondition=pre, statistic="test error at p = 1",
                value=st["mean"], test="one-sided t-test over seeds, above the band"
                if pv is not None else "one seed: the value against the band",
                threshold=f"≥ {band:.3f} (0.9 minus 3 binomial SE)",
                verdict=decide(st["mean"] >= band if pv is None else pv < 0.05, pre),
                seeds=seeds, p_value=pv, ci=st["ci"], spread=st["sd"], paper="≈ 90 %",
                details={"test error by p": [[p, 1 - res["test_acc"]] for p, res in curve]}))
    by = {}
    for r in rows:
        if r["point"]["arch"] == "1x512" and not r["point"]["weight_decay"]:
            by.setdefault(r["point"]["condition"], []).append(r["result"])
    if {"random labels", "random pixels", "gaussian"} <= set(by):
        three = [res for c in ("random labels", "random pixels", "gaussian") for res in by[c]]
        pre = _fit_pre(three, "with random labels, random pixels or Gaussian inputs")
        mean = {c: float(np.mean([res["fit_step"] or 0 for res in by[c]]))
                for c in ("random labels", "random pixels", "gaussian")}
        faster = max(mean["random pixels"], mean["gaussian"]) <= mean["random labels"]
        out.append(Finding(
            key="pixels-faster", statement="random pixels and Gaussian inputs fit faster than "
            "random labels", where="RR Fig. 1a", precondition=pre,
            statistic="slower of random/Gaussian pixels' mean steps over random labels'",
            value=max(mean["random pixels"], mean["gaussian"]) / mean["random labels"]
            if mean["random labels"] else None, test="the ratio against 1",
            threshold="≤ 1", verdict=decide(faster, pre), seeds=seeds,
            paper="faster than random labels (Inception, Fig. 1a)",
            details={"mean steps to fit": mean}))
    return out


def _estimated_bytes(preset: str) -> int:
    cfg = PRESETS[preset]
    count = sum(len(g["conditions"]) + len(g["corruptions"]) + len(g["weight_decay"])
                for g in cfg["grid"].values())
    return 2 * count * (cfg["max_epochs"] + 1) * 200 + 4 * 2**20


FIGURES = {"fig1.png": "RR Fig. 1a–c: learning curves, time to fit and test error against p"}

EXPERIMENT = Experiment(
    id="rr.randomization", paper="RR",
    reproduces="Fig. 1a–c, Table 1 (MLP rows): randomization tests",
    presets=PRESETS, points=points, compute_point=compute_point, outputs=outputs,
    figures=FIGURES, estimated_bytes=_estimated_bytes)

reproduce = EXPERIMENT.reproduce
