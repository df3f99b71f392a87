"""The engine of EM's initialisation-scale sweeps (``em_sin_scale``: EM Fig. 1, 2;
``em_relu_scale``: EM Fig. 4): one sweep point trains z = W2 φ(W1 x) (no biases,
W1 ~ N(0, σ²), W2 Glorot-uniform; EM Sec. 3, App. C) by minibatch SGD through the shared
trainer, and records per epoch train/test accuracy, Ω_in-class of the per-example gradients
(EM eq. 5–6, streamed exactly from the gradient's factors, never a per-example gradient) and of
the representations, and ‖∇W1‖/‖W1‖ (EM Fig. 2b). For the sin network, the point also solves
the minimum-norm interpolation with the exact sin kernel of its random first layer (EM Thm 1's
left-hand side) and compares the observed mean kernel value of the drawn W1 with the exact one.

This module declares no ``EXPERIMENT``; the two reproductions' modules do, from the pieces
here. Data: Fashion-MNIST by default; ``OVERPARAM_EM_DATASET=cifar10`` or ``mnist`` with
``OVERPARAM_EM_DATA_DIR`` (CIFAR-10's python batches, or MNIST's IDX files) selects user-supplied
files — the choice is written into every point, so a resumed run never mixes datasets.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from overparam.experiments import datasets
from overparam.experiments.datasets import per_image_standardization
from overparam.experiments.findings import Precondition
from overparam.experiments.runner import point_key
from overparam.numerics import mlp, models
from overparam.numerics.alignment import (
    AlignmentAccumulator,
    in_class_alignment_pairwise,
)
from overparam.numerics.atomic import write_text_atomic
from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.checkpoint import Checkpoint
from overparam.numerics.kernels import solve_kernel_system
from overparam.numerics.optimizers import GradientDescent
from overparam.numerics.trainer import STOP, minibatch_indices, train
from overparam.numerics.validation import check_array, check_choice, check_scalar
from overparam.theory.extreme_memorization import sin_kernel

__all__ = ["CHECKPOINT_SECONDS", "CHECK_PER_CLASS", "DATASETS", "EVAL_CHUNK", "EXACT_SPEARMAN_MAX",
           "accuracies",
           "KERNEL_PROBE", "N_CLASSES", "SPEARMAN_NOTE", "alignment_check", "chance_band",
           "capped_lines", "chance_sigma", "check_lines", "check_subsample", "curves_figure",
           "dataset_choice",
           "evaluate", "fit_precondition", "fmt", "groups", "kernel_companion",
           "kernel_interpolant", "load_data", "network",
           "seeds_of", "sin_kernel_matrix", "spearman", "status_text",
           "train_point", "verdict"]

DATASETS = ("fashion-mnist", "cifar10", "mnist")
#: classes of every supported dataset
N_CLASSES = 10
#: examples per chunk when a whole split is evaluated (bounds the factors' memory)
EVAL_CHUNK = 1024
#: examples (per class) of the subsample on which streaming and pairwise Ω are compared
CHECK_PER_CLASS = 3
#: training examples whose first-layer features give the observed mean kernel value
KERNEL_PROBE = 500
UNIT_ROUNDOFF = 2.0**-53
#: wall-clock seconds between training checkpoints inside a point (``numerics.checkpoint``)
CHECKPOINT_SECONDS = 60.0


# --- data ----------------------------------------------------------------------------------

def dataset_choice() -> tuple[str, str]:
    """(dataset, data directory) from OVERPARAM_EM_DATASET / OVERPARAM_EM_DATA_DIR; the
    default is Fashion-MNIST from Debian's package. ValueError for an unknown name or a
    user-supplied dataset without its directory."""
    name = check_choice(os.environ.get("OVERPARAM_EM_DATASET", "fashion-mnist"),
                        "OVERPARAM_EM_DATASET", DATASETS)
    root = os.environ.get("OVERPARAM_EM_DATA_DIR", "")
    if name != "fashion-mnist" and not root:
        raise ValueError(f"OVERPARAM_EM_DATA_DIR: {name} is read from files you supply; "
                         f"set it to the directory holding them")
    return name, root


def _split(name: str, root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "fashion-mnist":
        return datasets.load_fashion_mnist(split, root or None)
    if name == "cifar10":
        return datasets.load_cifar10(root, split)
    return datasets.load_idx_dataset(root, split)


def _subset(y: np.ndarray, n: int, seed: int, salt: int) -> np.ndarray:
    """The first n of a seeded permutation (n ≥ the split's size keeps all of it, in
    order)."""
    if n >= y.size:
        return np.arange(y.size)
    return np.sort(np.random.default_rng([seed, salt]).permutation(y.size)[:n])


@functools.lru_cache(maxsize=4)
def load_data(name: str, root: str, n_train: int, n_test: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train (n_train, d), y_train, X_test (n_test, d), y_test): seeded subsets of the
    splits, per-image standardised (float64). Cached per process (a sweep's points share
    it)."""
    out = []
    for split, n, salt in (("train", n_train, 1), ("test", n_test, 2)):
        images, labels = _split(name, root, split)
        idx = _subset(labels, n, seed, salt)
        out += [per_image_standardization(images[idx]), labels[idx].astype(np.int64)]
    for a in out:
        a.setflags(write=False)  # shared by the cache: nobody may modify it
    return tuple(out)


# --- the network and its per-epoch measurements ---------------------------------------------

def network(hidden: int, act: str) -> models.Model:
    """z = W2 φ(W1 x): models.serial(dense(h), φ, dense(10)), no biases."""
    return models.serial(models.dense(hidden), models.activation(act),
                         models.dense(N_CLASSES))


def evaluate(params: dict, X: Any, y: np.ndarray, X_test: Any, y_test: np.ndarray, *,
             act: str, loss: str) -> dict:
    """One epoch's measurements on the whole training set: accuracy, mean loss, Ω_in-class of
    the per-example gradients (streamed from mlp.per_example_factors, chunk by chunk) and of
    the representations φ(W1x), ‖∇W1‖/‖W1‖ with ∇W1 the gradient of the mean training loss;
    and test accuracy."""
    W1, W2 = params["0/W"], params["2/W"]
    xp = get_xp(W1)
    grads, reps = AlignmentAccumulator(), AlignmentAccumulator()
    correct, total_loss = 0, 0.0
    grad_w1 = xp.zeros(W1.shape, dtype=xp.float64)
    n = X.shape[0]
    for s in range(0, n, EVAL_CHUNK):
        xc, yc = X[s:s + EVAL_CHUNK], y[s:s + EVAL_CHUNK]
        f = mlp.per_example_factors(xc, W1, W2, xp.asarray(yc), act=act, loss=loss)
        correct += int((to_numpy(f["logits"].argmax(axis=1)) == yc).sum())
        total_loss += float(f["losses"].astype(xp.float64).sum())
        grads.update_mlp(f, yc)
        reps.update(f["R"], yc)
        grad_w1 += (f["delta"].T @ f["X"]).astype(xp.float64)
    test_correct = 0
    for s in range(0, X_test.shape[0], EVAL_CHUNK):
        z = network(W1.shape[0], act).apply(params, X_test[s:s + EVAL_CHUNK])
        test_correct += int((to_numpy(z.argmax(axis=1)) == y_test[s:s + EVAL_CHUNK]).sum())
    w1_norm = float(xp.linalg.norm(W1.astype(xp.float64)))
    return {"train_acc": correct / n, "train_loss": total_loss / n,
            "test_acc": test_correct / X_test.shape[0],
            "omega_grad": grads.result().mean, "omega_rep": reps.result().mean,
            "grad_ratio": float(xp.linalg.norm(grad_w1)) / n / w1_norm}


def accuracies(params: dict, X: Any, y: np.ndarray, X_test: Any, y_test: np.ndarray, *,
               act: str) -> dict:
    """Training and test accuracy only (forward passes, in chunks): the epochs between full
    measurements (``evaluate``) when a preset sets ``measure_every`` — the per-epoch
    alignment measurements are most of a point's time (issue 25's timing)."""
    model = network(params["0/W"].shape[0], act)
    out = {}
    for name, A, labels in (("train_acc", X, y), ("test_acc", X_test, y_test)):
        correct = 0
        for s in range(0, A.shape[0], EVAL_CHUNK):
            z = model.apply(params, A[s:s + EVAL_CHUNK])
            correct += int((to_numpy(z.argmax(axis=1)) == labels[s:s + EVAL_CHUNK]).sum())
        out[name] = correct / A.shape[0]
    return out


def check_subsample(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` training examples of every class (seeded)."""
    rng = np.random.default_rng([seed, 3])
    return np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class]
                           for c in np.unique(y)])


def alignment_check(params: dict, X: Any, y: np.ndarray, idx: np.ndarray, *, act: str,
                    loss: str) -> dict:
    """Streaming Ω_in-class (the accumulator as training uses it, from the gradient's factors)
    against the pairwise definition (EM eq. 3: every pair's inner product of the materialised
    per-example gradients, numerics.alignment.in_class_alignment_pairwise) on the subsample
    ``idx``, for gradients and representations, both in float64.

    Tolerance, derived: Ω = n(S − Q)/((n−1)N²) with S = ‖Σg‖², Q = Σ‖g‖², N = Σ‖g‖ and
    S, Q ≤ N². Each of S, Q, N is a sum of p + n products, so its rounding error is at most
    (p + n)u times the sum of magnitudes (≤ N²), giving |ΔΩ| ≤ 2·n/(n−1)·(1 + |Ω|)(p + n)u
    per method; the two methods' bounds add."""
    xp = get_xp(params["0/W"])
    W1 = params["0/W"].astype(xp.float64)
    W2 = params["2/W"].astype(xp.float64)
    xs, ys = xp.asarray(X[idx]).astype(xp.float64), y[idx]
    f = mlp.per_example_factors(xs, W1, W2, xp.asarray(ys), act=act, loss=loss)
    streamed_g, streamed_r = AlignmentAccumulator(), AlignmentAccumulator()
    streamed_g.update_mlp(f, ys)
    streamed_r.update(f["R"], ys)
    G = mlp.per_example_gradients(xs, W1, W2, xp.asarray(ys), act=act, loss=loss)
    pair_g = in_class_alignment_pairwise(G, ys).mean
    pair_r = in_class_alignment_pairwise(f["R"], ys).mean
    del G
    n_c = int(np.bincount(ys).min())
    p = W1.size + W2.size
    out = {"examples": int(idx.size)}
    for kind, a, b, dim in (("grad", streamed_g.result().mean, pair_g, p),
                            ("rep", streamed_r.result().mean, pair_r, W1.shape[0])):
        tol = 2 * 2 * n_c / (n_c - 1) * (1 + max(abs(a), abs(b))) * (dim + idx.size) \
            * UNIT_ROUNDOFF
        out[kind] = {"streaming": a, "pairwise": b, "difference": abs(a - b),
                     "tolerance": float(tol), "agree": bool(abs(a - b) <= tol)}
    return out


# --- the exact sin kernel: interpolant and the random layer's observed kernel ---------------

def _pair_coordinates(norm_a: Any, norm_b: Any, dots: Any) -> tuple[Any, Any]:
    """Two points in the plane with the same norms and inner product as (a, b): a ↦ (‖a‖, 0),
    b ↦ (⟨a, b⟩/‖a‖, √(‖b‖² − ⟨a, b⟩²/‖a‖²)); a = 0 puts b on the first axis' normal."""
    safe = np.where(norm_a > 0, norm_a, 1.0)
    u = np.where(norm_a > 0, dots / safe, 0.0)
    v = np.sqrt(np.maximum(norm_b**2 - u**2, 0.0))
    first = np.stack([np.broadcast_to(norm_a, u.shape), np.zeros_like(u)], axis=-1)
    return first, np.stack([u, v], axis=-1)


def sin_kernel_matrix(A: np.ndarray, B: np.ndarray, sigma: float, *,
                      rows_per_block: int = 512) -> np.ndarray:
    """K[i, j] = E_w sin(w·a_i) sin(w·b_j), w ~ N(0, σ²I) (``sin_kernel`` with h = 1) for rows
    of A (n, d), B (m, d). The kernel depends on a pair only through ‖a‖, ‖b‖ and ⟨a, b⟩, so
    each pair is handed to ``sin_kernel`` as two points of the plane with the same Gram entries:
    O(1) per pair after one Gram matrix, instead of O(d). Rounding: the plane's ‖a − b‖² is
    off by about u·(‖a‖² + ‖b‖²) absolutely, which moves the exponent by σ² times that."""
    A = check_array(A, "A", ndim=2, dtype="float64")
    B = check_array(B, "B", ndim=2, dtype="float64")
    na, nb = np.sqrt((A * A).sum(1)), np.sqrt((B * B).sum(1))
    K = np.empty((A.shape[0], B.shape[0]))
    for s in range(0, A.shape[0], rows_per_block):
        dots = A[s:s + rows_per_block] @ B.T
        first, second = _pair_coordinates(na[s:s + rows_per_block, None], nb[None, :], dots)
        K[s:s + rows_per_block] = sin_kernel(first, second, sigma=sigma)
    return K


def kernel_interpolant(X: np.ndarray, Y: np.ndarray, X_test: np.ndarray, sigma: float
                       ) -> tuple[np.ndarray, np.ndarray, Any]:
    """The minimum-norm interpolant f(x) = k(x, X)ᵀα, Kα = Y, of the exact sin kernel (h = 1):
    its values on X (n, k) and X_test (m, k), and ``numerics.kernels.SolveInfo``."""
    K = sin_kernel_matrix(X, X, sigma)
    alpha, info = solve_kernel_system(K, Y)
    return K @ alpha, sin_kernel_matrix(X_test, X, sigma) @ alpha, info


def kernel_companion(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                     sigma: float, W1: Any) -> dict:
    """At this σ: the minimum-norm interpolant of one-hot targets with the exact sin kernel
    (numerics.kernels.solve_kernel_system: Cholesky, or the eigendecomposition pseudo-inverse
    where K is singular in float64), its train/test accuracy; and the mean off-diagonal value of
    the drawn first layer's kernel ⟨sin(W1x_i), sin(W1x_j)⟩/h over the first ``KERNEL_PROBE``
    training examples beside the exact mean, with the Monte Carlo standard error over the h
    independent rows of W1."""
    train_pred, test_pred, info = kernel_interpolant(X, np.eye(N_CLASSES)[y], X_test, sigma)
    train_acc = float((np.argmax(train_pred, axis=1) == y).mean())
    test_acc = float((np.argmax(test_pred, axis=1) == y_test).mean())
    probe = X[:KERNEL_PROBE]
    m = probe.shape[0]
    R = np.sin(probe @ to_numpy(W1).astype(np.float64).T)  # (m, h)
    per_row = (R.sum(0) ** 2 - (R * R).sum(0)) / (m * (m - 1))  # mean over pairs, per row
    exact = sin_kernel_matrix(probe, probe, sigma)
    exact_mean = float((exact.sum() - np.trace(exact)) / (m * (m - 1)))
    return {"kernel_test_acc": test_acc, "kernel_train_acc": train_acc,
            "kernel_solve": info.method, "kernel_residual": info.relative_residual,
            "kernel_dropped": info.dropped_eigenvalues,
            "observed_mean_kernel": float(per_row.mean()), "exact_mean_kernel": exact_mean,
            "observed_mean_kernel_se": float(per_row.std(ddof=1) / math.sqrt(per_row.size))}


# --- one sweep point --------------------------------------------------------------------------

def _history_path(scratch: Path | None) -> Path | None:
    return None if scratch is None else Path(scratch) / "history.json"


def _load_history(path: Path | None, key: str) -> list[dict]:
    """Epoch records kept beside the trainer's checkpoint (the trainer resumes from the
    checkpoint's step; records past it are dropped as the epochs come round again)."""
    if path is None or not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return data["history"] if isinstance(data, dict) and data.get("key") == key else []


def train_point(point: dict, cfg: dict, scratch: Path | None = None) -> dict:
    """Train one network of the sweep and measure it every epoch (the runner's compute).

    ``point``: sigma, activation, loss, hidden, seed, backend, dataset, data_dir; ``cfg``: the
    preset (n_train, n_test, batch, lr, max_epochs, dtype, kernel). W1 = σ·Z with the same
    Z and the same W2 and batch order at every σ (the seed does not depend on σ), so σ is the
    only thing that changes along a sweep. Training stops at 100 % training accuracy
    ("fitted"), at the epoch cap ("epoch cap"), or on divergence ("diverged": a non-finite
    loss or one 1e8 times the initial, the trainer's test)."""
    xp = get_xp(backend=point.get("backend", "numpy"))
    act, loss, sigma = point["activation"], point["loss"], float(point["sigma"])
    X, y, X_test, y_test = load_data(point["dataset"], point["data_dir"], cfg["n_train"],
                                     cfg["n_test"], point["seed"])
    n = X.shape[0]
    model = network(point["hidden"], act)
    params = model.init((X.shape[1],), seed=point["seed"], init="em", sigma=sigma,
                        dtype=cfg["dtype"], backend=point.get("backend", "numpy"))
    Xd = xp.asarray(X).astype(cfg["dtype"])
    Xt = xp.asarray(X_test).astype(cfg["dtype"])
    yd = xp.asarray(y)
    batch = min(cfg["batch"], n)
    per_epoch = n // batch
    check_idx = check_subsample(y, CHECK_PER_CLASS, point["seed"])
    t_start = time.monotonic()
    spent = {"measurements": 0.0, "kernel": 0.0}

    def measured(fn, *args, **kwargs):
        t0 = time.monotonic()
        out = fn(*args, **kwargs)
        spent["measurements"] += time.monotonic() - t0
        return out

    result: dict[str, Any] = {"n_train": n, "n_test": int(X_test.shape[0]),
                              "steps_per_epoch": per_epoch,
                              "check_initial": measured(alignment_check, params, X, y,
                                                        check_idx, act=act, loss=loss)}
    if cfg.get("kernel") and act == "sin":
        m = cfg["kernel"]
        t0 = time.monotonic()
        result.update(kernel_companion(X[:m], y[:m], X_test, y_test, sigma, params["0/W"]))
        spent["kernel"] = time.monotonic() - t0
    key = point_key(point)
    hist_path = _history_path(scratch)
    history = _load_history(hist_path, key) or [
        {"epoch": 0, "step": 0, **measured(evaluate, params, Xd, y, Xt, y_test, act=act,
                                           loss=loss)}]
    checkpoint = None
    if scratch is not None:
        checkpoint = Checkpoint(Path(scratch) / "train.npz", every_seconds=CHECKPOINT_SECONDS,
                                key=key)
    last = {"params": params}

    every = int(cfg.get("measure_every", 1))

    def on_epoch(step: int, p: dict, _loss: float) -> Any:
        history[:] = [h for h in history if h["step"] < step]
        epoch = step // per_epoch
        rec = None
        if epoch % every:
            # between full measurements: the accuracies only (the stopping rule's), and the
            # full set where this epoch turns out to be the last
            rec = measured(accuracies, p, Xd, y, Xt, y_test, act=act)
        if rec is None or rec["train_acc"] == 1.0:
            rec = measured(evaluate, p, Xd, y, Xt, y_test, act=act, loss=loss)
        history.append({"epoch": epoch, "step": step, **rec})
        last["params"] = p
        if hist_path is not None:
            write_text_atomic(hist_path, json.dumps({"key": key, "history": history}))
        # EM trains exactly until training accuracy is 100 %
        return STOP if history[-1]["train_acc"] == 1.0 else None

    def loss_and_grad(p: dict, idx: np.ndarray):
        idx = xp.asarray(idx)
        return model.loss_and_grad(p, Xd[idx], yd[idx], loss=loss)

    diverged_at = None
    if history[-1]["train_acc"] == 1.0:
        status = "fitted"
    else:
        res = train(params, loss_and_grad, GradientDescent(), lambda t: cfg["lr"],
                    max_steps=cfg["max_epochs"] * per_epoch, record_every=per_epoch,
                    callback=on_epoch, checkpoint=checkpoint,
                    batches=functools.partial(minibatch_indices, n, batch, seed=point["seed"]))
        status = {"max_steps": "epoch cap", "diverged": "diverged",
                  "stopped": "fitted"}.get(res.status, res.status)
        diverged_at = res.diverged_at
        last["params"] = res.params
    if "omega_grad" not in history[-1]:
        if status == "diverged":
            # the diverged parameters measure nothing: the last full record stands for them
            history[:] = history[:max(i for i, h in enumerate(history) if "omega_grad" in h)
                                 + 1]
        else:  # the cap fell between full measurements: measure the last epoch in full
            history[-1] = {**history[-1], **measured(evaluate, last["params"], Xd, y, Xt,
                                                     y_test, act=act, loss=loss)}
    result.update({"status": status, "diverged_at_step": diverged_at,
                   "epochs": history[-1]["epoch"], "history": history,
                   "final": history[-1],
                   "best_test_acc": max(h["test_acc"] for h in history),
                   "check_final": measured(alignment_check, last["params"], X, y, check_idx,
                                           act=act, loss=loss)})
    total = time.monotonic() - t_start
    # this attempt's seconds (a resumed point counts from its resumption)
    result["phases"] = {"training": total - spent["measurements"] - spent["kernel"], **spent}
    return result


# --- numbers the summaries share ----------------------------------------------------------

def seeds_of(cfg: dict, seed: int) -> list[int]:
    """The seeds a preset trains: ``seed``, ``seed + 1``, … (``cfg["seeds"]`` of them; one
    where the preset does not say)."""
    return list(range(seed, seed + int(cfg.get("seeds", 1))))


def groups(rows: list, key: str = "sigma") -> dict:
    """{point[key]: [result, …]} over the rows (one result per seed), keys sorted."""
    out: dict = {}
    for r in sorted(rows, key=lambda r: (r["point"][key], r["point"]["seed"])):
        out.setdefault(r["point"][key], []).append(r["result"])
    return out


def fit_precondition(results: list[dict], what: str) -> Precondition:
    """EM's precondition (Sec. 3: every network is trained to 100 % training accuracy) over
    the networks a statistic uses: met when every one of them reached it."""
    n_fit = sum(r["status"] == "fitted" for r in results)
    return Precondition(
        f"every network {what} reached 100 % training accuracy (EM Sec. 3, Fig. 1)",
        {"networks": len(results), "fitted": n_fit,
         "lowest train acc": min((r["final"]["train_acc"] for r in results), default=None)},
        bool(results) and n_fit == len(results))

def chance_band(n_test: int) -> float:
    """Test accuracy counted as chance: 1/k plus three binomial standard errors of an
    accuracy of 1/k on n_test examples."""
    n_test = check_scalar(n_test, "n_test", integer=True, low=1)
    p = 1.0 / N_CLASSES
    return p + 3.0 * math.sqrt(p * (1 - p) / n_test)


def _same_length(a: Sequence, b: Sequence, name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a}, {name_b}: expected sequences of one length, got "
                         f"{len(a)} and {len(b)}")


def chance_sigma(sigmas: Sequence[float], accs: Sequence[float], band: float) -> float | None:
    """The smallest σ from which on every test accuracy of the grid is within the chance band
    (None when the largest σ is above it)."""
    _same_length(sigmas, accs, "sigmas", "accs")
    found = None
    for s, a in sorted(zip(sigmas, accs, strict=True), reverse=True):
        if a > band:
            break
        found = s
    return found


#: up to this many points the Spearman p-value is exact (all n! pairings), not scipy's
#: t approximation, which says p = 0 for any perfect ranking (even of three points)
EXACT_SPEARMAN_MAX = 8
SPEARMAN_NOTE = (f"Spearman p-values are two-sided: exact over all n! pairings for n ≤ "
                 f"{EXACT_SPEARMAN_MAX} points, scipy.stats.spearmanr's otherwise.")


def spearman(a: Sequence[float], b: Sequence[float]) -> tuple[float | None, float | None]:
    """Spearman's ρ (scipy.stats.spearmanr) and its two-sided p-value: exact over all n!
    pairings for n ≤ ``EXACT_SPEARMAN_MAX``, else scipy's (where scipy gives p = 0 for
    |ρ| = 1, the exact 2/n! of distinct ranks). (None, None) with fewer than three points or
    a constant side (ρ undefined)."""
    from scipy.stats import rankdata, spearmanr

    _same_length(a, b, "a", "b")
    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None, None
    rho = float(spearmanr(a, b).statistic)
    n = len(a)
    if n > EXACT_SPEARMAN_MAX:
        p = float(spearmanr(a, b).pvalue)
        return rho, (2.0 / math.factorial(n) if p == 0.0 else p)
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    perms = np.array(list(itertools.permutations(range(n))))
    rhos = (rb[perms] @ ra) / math.sqrt((ra @ ra) * (rb @ rb))
    # ties among the n! values are ties of exact rationals: compare with a rounding margin
    return rho, float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))


def verdict(shown: bool, rho: float | None) -> str:
    """A correlation finding's verdict, saying when there was no correlation to judge."""
    if shown:
        return "shown"
    return "not shown" if rho is not None else "not shown (fewer than three distinct values)"


def fmt(v: float | None, spec: str = ".3g") -> str:
    """A number for the summary ("—" when absent)."""
    return "—" if v is None else format(v, spec)


def status_text(res: dict) -> str:
    """How a point's training ended, in words."""
    if res["status"] == "fitted":
        return f"100 % at epoch {res['epochs']}"
    if res["status"] == "diverged":
        return f"diverged at step {res['diverged_at_step']}"
    return f"epoch cap ({res['epochs']})"


def capped_lines(rows: list, keys: Sequence[str]) -> list[str]:
    """The networks at which the epoch cap bound (by ``keys`` of their points), as a
    summary line; none when every network fitted or diverged."""
    capped = [tuple(r["point"][k] for k in keys) for r in rows
              if r["result"]["status"] == "epoch cap"]
    if not capped:
        return []
    listed = "; ".join(", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in c)
                       for c in capped)
    return [f"The epoch cap bound at {len(capped)} of {len(rows)} networks (by "
            f"{', '.join(keys)}: {listed}): they did not reach 100 % training "
            f"accuracy, which EM reports at every σ."]


def check_lines(rows: list) -> tuple[list[str], bool]:
    """The streaming-vs-pairwise alignment check of every point, as one summary line."""
    worst, ok = 0.0, True
    worst_tol = 0.0
    n = 0
    for r in rows:
        for which in ("check_initial", "check_final"):
            for kind in ("grad", "rep"):
                c = r["result"][which][kind]
                ok &= c["agree"]
                if c["difference"] >= worst:
                    worst, worst_tol = c["difference"], c["tolerance"]
                n = r["result"][which]["examples"]
    text = (f"Alignment check (at initialisation and at the end of training, every point): "
            f"streaming Ω_in-class from the gradient's factors vs the pairwise definition "
            f"(EM eq. 3, materialised per-example gradients) on {n} training examples "
            f"({CHECK_PER_CLASS} per class), gradients and representations: largest "
            f"difference {worst:.2g} (its derived rounding bound {worst_tol:.2g}): "
            f"{'all agree' if ok else 'DISAGREE'}.")
    return [text], ok


def curves_figure(path: Path, rows: list, title: str, *, label) -> None:
    """EM Fig. 2's panels against epochs, one line per point: train accuracy, test accuracy,
    ‖∇W1‖/‖W1‖, Ω_in-class of gradients and of representations."""
    from overparam.common.plotting import pyplot, save

    plt = pyplot()
    keys = [("train_acc", "train accuracy", False), ("test_acc", "test accuracy", False),
            ("grad_ratio", "‖∇W1‖/‖W1‖", True), ("omega_grad", "Ω in-class, gradients", False),
            ("omega_rep", "Ω in-class, representations", False)]
    fig, grid = plt.subplots(2, 3, figsize=(13, 7))
    axes, legend_ax = grid.ravel()[:len(keys)], grid.ravel()[-1]
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(rows):
        hist = r["result"]["history"]
        color = cmap(i / max(1, len(rows) - 1))
        for ax, (k, name, log) in zip(axes, keys, strict=True):
            measured = [h for h in hist if k in h]  # sparse where measure_every > 1
            vals = [h[k] for h in measured]
            if log:
                vals = [v if v > 0 else np.nan for v in vals]
            ax.plot([h["epoch"] for h in measured], vals, color=color, label=label(r["point"]))
            ax.set_xlabel("epoch", fontsize=8)
            ax.set_title(name, fontsize=9)
            if log:
                ax.set_yscale("log")
    legend_ax.axis("off")
    legend_ax.legend(*axes[0].get_legend_handles_labels(), title="σ", fontsize=8,
                     loc="center", ncol=2)
    fig.suptitle(title, fontsize=10)
    save(fig, path)
