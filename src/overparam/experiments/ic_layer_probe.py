"""Reproduction ``ic.layer-probe``: IC Fig. 5 — at each layer of the CNNs ``ic.cnn-depth``
trained on one digit (and of an untrained CNN of the deepest depth), the error of IC Sec. 3.2's
similarity-weighted classifier on held-out MNIST digits.

A test image i is classified as argmax_c Σ_j ⟨r_i, r_j⟩ [y_j = c] over the training images j
(r = that layer's representation). The sum factors through the per-class sums
S_c = Σ_{j: y_j = c} r_j, so the score is ⟨r_i, S_c⟩: one pass over the training images builds
S (classes × features) per layer, one pass over the test images scores them — no n × n Gram
matrix. The networks' weights are read from the ``ic.cnn-depth`` sweep of the same preset in
the sibling directory ``ic.cnn-depth-<preset>`` (trained there first only when missing).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from overparam.experiments import datasets
from overparam.experiments import ic_cnn_depth as cnn
from overparam.experiments.findings import Finding, Precondition, decide, seed_stats
from overparam.experiments.protocol import Experiment, Outputs, Summary
from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.models import Model
from overparam.numerics.validation import check_array, check_labels

__all__ = ["EXPERIMENT", "PRESETS", "class_sums", "cnn_depth_source", "compute_point",
           "findings", "layer_errors", "nonmonotone", "outputs", "per_layer_table", "points",
           "reproduce", "similarity_classify"]

N_CLASSES = 10
#: bytes of activations one batch may hold (all layers of ``Model.apply``'s list together)
BATCH_BYTES = 256 * 2**20

PRESETS = {
    # seconds: used by the tests (the smoke ic.cnn-depth networks; 60/40 digits)
    "smoke": {"depths": [1, 2, 3], "n_train": 60, "n_test": 40},
    # the quick ic.cnn-depth networks at seven depths; all of the MNIST 5k subset but the
    # training 7: 4,000 training and 999 test digits
    "quick": {"depths": [1, 3, 5, 7, 9, 14, 20], "n_train": 4000, "n_test": 999},
    # ic.cnn-depth's standard networks (3 seeds)
    "standard": {"depths": [1, 3, 5, 7, 9, 14, 20], "n_train": 4000, "n_test": 999,
                 "seeds": 3},
    # IC Fig. 5's depths (a GPU job); the MNIST 5k subset as in quick (the paper: 60k / 10k)
    "paper": {"depths": cnn.PAPER_DEPTHS, "n_train": 4000, "n_test": 999},
}


def class_sums(reps: np.ndarray, labels: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """S (n_classes, features) with S_c = Σ_{j: labels_j = c} reps_j (reps (n, …) flattened
    per example), in float64. Streaming: sums of batches add up."""
    xp = get_xp(reps)
    reps = check_array(reps, "reps", ndim=(2, 3, 4), dtype="float64")
    labels = check_labels(xp.asarray(labels), "labels", n=reps.shape[0], n_classes=n_classes)
    flat = reps.reshape(reps.shape[0], -1).astype(xp.float64, copy=False)
    onehot = (labels[:, None] == xp.arange(n_classes)[None, :]).astype(xp.float64)
    return onehot.T @ flat


def similarity_classify(reps: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """IC Sec. 3.2's similarity-weighted classifier through per-class sums: the predicted
    class argmax_c ⟨r_i, S_c⟩ of each test representation (reps (n, …)); ties go to the
    smallest class. Returns integer labels (n,)."""
    xp = get_xp(reps, sums)
    reps = check_array(reps, "reps", ndim=(2, 3, 4), dtype="float64")
    sums = check_array(sums, "sums", ndim=2, dtype="float64")
    flat = reps.reshape(reps.shape[0], -1).astype(xp.float64, copy=False)
    if flat.shape[1] != sums.shape[1]:
        raise ValueError(f"sums: expected {flat.shape[1]} features like reps, got "
                         f"{sums.shape[1]}")
    return xp.argmax(flat @ sums.T, axis=1)


def _batches(n: int, per_example_bytes: int):
    size = max(1, min(n, BATCH_BYTES // max(per_example_bytes, 1)))
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def layer_errors(model: Model, params: dict, depth: int, x_train: np.ndarray, y_train: np.ndarray,
                 x_test: np.ndarray, y_test: np.ndarray) -> list[float]:
    """The classifier's test error at the input (layer 0) and at each of the ``depth`` layers
    of the CNN ``model`` with ``params`` (x: (n, 28, 28, 1) standardised digits, y labels),
    streaming over batches: S per layer from the training images, then the test scores."""
    xp = get_xp(*params.values())
    idx = cnn.probe_indices(depth)
    itemsize = next(iter(params.values())).dtype.itemsize
    channels = max(v.shape[-1] for v in params.values())
    per_example = 28 * 28 * (channels * (2 * depth - 1) + 1) * itemsize

    def reps(x: np.ndarray) -> list:
        _, acts = model.apply(params, xp.asarray(x), return_activations=True)
        return [xp.asarray(x)] + [acts[i] for i in idx]

    sums = None
    for sl in _batches(len(x_train), per_example):
        batch = [class_sums(r, xp.asarray(y_train[sl])) for r in reps(x_train[sl])]
        sums = batch if sums is None else [a + b for a, b in zip(sums, batch, strict=True)]
    wrong = np.zeros(depth + 1)
    for sl in _batches(len(x_test), per_example):
        for k, r in enumerate(reps(x_test[sl])):
            pred = to_numpy(similarity_classify(r, sums[k]))
            wrong[k] += int(np.sum(pred != y_test[sl]))
    return (wrong / len(x_test)).tolist()


def _probe_data(seed: int, n_train: int, n_test: int) -> tuple[np.ndarray, ...]:
    """``n_train`` training and ``n_test`` held-out digits of the MNIST 5k subset (a seeded
    split that leaves out the training "7"), standardised as IC App. A."""
    x, y = datasets.load_mnist_5k()
    pool = np.setdiff1d(np.arange(len(x)), [cnn._mnist_index(seed, 7, (x, y))])
    if n_train + n_test > len(pool):
        raise ValueError(f"n_train, n_test: expected at most {len(pool)} digits together, "
                         f"got {n_train} + {n_test}")
    order = np.random.default_rng([seed, 5]).permutation(pool)
    tr, te = order[:n_train], order[n_train:n_train + n_test]
    xs = datasets.standardize_ic(x[..., 0]).reshape(-1, 28, 28, 1)
    return xs[tr], y[tr], xs[te], y[te]


def cnn_depth_source(scratch: Path | None, preset: str) -> Path:
    """The ``ic.cnn-depth`` sweep an experiment reads: the sibling ``ic.cnn-depth-<preset>``
    of its own output directory, found from the runner's per-point ``scratch`` directory
    (``<out>/points/.<key>.scratch``; the protocol hands a point no other path)."""
    if scratch is None:
        raise ValueError("scratch: ic.layer-probe reads ic.cnn-depth's sweep beside its own "
                         "output directory; run it through reproduce (the runner passes it)")
    return Path(scratch).parent.parent.parent / f"ic.cnn-depth-{preset}"


def compute_point(point: dict, scratch: Path | None = None) -> dict:
    """The per-layer errors of one network: a trained digit-7 CNN of ``point["depth"]`` (its
    final weights) or, for ``point["network"] == "untrained"``, the same sweep network's
    initial weights."""
    started = time.perf_counter()
    source = cnn_depth_source(scratch, point["preset"])
    cnn_point = cnn.main_point(point["preset"], point["seed"], point["backend"],
                               point["depth"])
    W0, WT = cnn.trained_weights(source, cnn_point)
    xp = get_xp(backend=point["backend"])
    params = {k: xp.asarray(v) for k, v in (WT if point["network"] == "trained" else W0).items()}
    model = cnn.cnn(point["depth"], cnn.PRESETS[point["preset"]]["channels"])
    x_tr, y_tr, x_te, y_te = _probe_data(point["seed"], point["n_train"], point["n_test"])
    loaded = time.perf_counter()
    errors = layer_errors(model, params, point["depth"], x_tr, y_tr, x_te, y_te)
    # a trained net's fit (IC's precondition) as ic.cnn-depth measured it
    fit = cnn.fit_of(source, cnn_point) if point["network"] == "trained" else {}
    return {"errors": errors, "n_train": len(y_tr), "n_test": len(y_te),
            "source": str(source), **fit,
            # where the point's time went (the runner moves it beside the point file)
            "phases": {"loading": loaded - started,
                       "probes": time.perf_counter() - loaded}}


def points(preset: str, seed: int, backend: str) -> list[dict]:
    """Per seed: one point per trained depth, then the untrained network of the deepest
    depth."""
    cfg = PRESETS[preset]
    out = []
    for k in cnn.seeds_of(cfg, seed):
        common = {"seed": k, "preset": preset, "backend": backend, "n_train": cfg["n_train"],
                  "n_test": cfg["n_test"]}
        out += ([{"network": "trained", "depth": d, **common} for d in cfg["depths"]]
                + [{"network": "untrained", "depth": max(cfg["depths"]), **common}])
    return out


def _label(point: dict) -> str:
    return f"{point['network']} {point['depth']}-layer"


def outputs(rows: list, *, preset: str, seed: int, backend: str) -> Outputs:
    """results.json's metadata, results.csv (one row per network and layer), Fig. 5 and the
    summary."""
    def draw(name: str, path: Path) -> None:
        _figure(path, rows)

    table = [[r["point"]["network"], r["point"]["depth"], k, e]
             for r in rows for k, e in enumerate(r["result"]["errors"])]
    return Outputs(metadata={"backend": backend, "classes": N_CLASSES},
                   csv_header=["network", "depth", "layer", "error"], csv_rows=table,
                   draw=draw, summary=_summary(rows, preset))


def _figure(path: Path, rows: list) -> None:
    """IC Fig. 5: error per layer, one line per network (first seed; other seeds thin and
    faint), the untrained net thick red, nets that did not fit dashed and labelled; chance."""
    from overparam.common.plotting import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    first = min(r["point"]["seed"] for r in rows)
    for r in rows:
        untrained = r["point"]["network"] == "untrained"
        main = r["point"]["seed"] == first
        unfit = r["result"].get("fitted") is False
        ax.plot(range(len(r["result"]["errors"])), r["result"]["errors"],
                marker="." if main else None, color="red" if untrained else None,
                lw=(3 if untrained else 1) if main else 0.5, alpha=1.0 if main else 0.4,
                ls="--" if unfit else "-",
                label=(_label(r["point"]) + (" (did not fit)" if unfit else "")) if main
                else None)
    ax.axhline(1 - 1 / N_CLASSES, color="gray", lw=0.8, label="chance (0.9)")
    ax.set_xlabel("layer index (0 = input)")
    ax.set_ylabel("similarity-weighted classifier error")
    ax.set_title(f"ic.layer-probe (IC Fig. 5); seed {first} marked, other seeds faint",
                 fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    save(fig, path)


def per_layer_table(rows: list, key: str, what: str, fmt: str) -> list[str]:
    """A Markdown table with one row per network (its kind and depth) and its per-layer
    values ``result[key]`` formatted with ``fmt`` (the summaries of ic.layer-probe and
    ic.weight-change)."""
    lines = [f"| network | layers | seed | {what} |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['point']['network']} | {r['point']['depth']} | "
                     f"{r['point']['seed']} | "
                     + ", ".join(format(v, fmt) for v in r["result"][key]) + " |")
    return lines


def _summary(rows: list, preset: str) -> Summary:
    cfg, first = cnn.PRESETS[preset], rows[0]["result"]
    lines = per_layer_table(rows, "errors", "error per layer (0 = input)", ".3f")
    return Summary(
        title="ic.layer-probe — IC Fig. 5",
        setup=f"Preset `{preset}`: the digit-7 CNNs of ic.cnn-depth's `{preset}` preset "
        f"(depths {PRESETS[preset]['depths']}, {cfg['channels']} channels, {cfg['steps']} "
        f"steps) and the untrained {max(PRESETS[preset]['depths'])}-layer one (that sweep "
        f"network's initial weights); representations at the input and after every layer "
        f"(post-ReLU; the output layer's convolution), classified by Σ_j ⟨r_i, r_j⟩[y_j = c] "
        f"through per-class sums S_c; {first['n_train']} training and {first['n_test']} "
        f"held-out digits of the MNIST 5k subset (a seeded split, the training 7 left out).",
        differences=[
            f"the paper uses the MNIST training set (60,000) for S_c and its test set (10,000) "
            f"and 128-channel networks trained 2,000,000 steps; ours: {first['n_train']} / "
            f"{first['n_test']} digits of the 5k subset and ic.cnn-depth's `{preset}` "
            "networks (see its summary for their channels, steps and which did not fit)."],
        body=lines, findings=findings(rows))


def _se3_difference(n_test: int) -> float:
    """Three standard errors of a difference of two error rates on ``n_test`` test images at
    the largest binomial variance (p = ½): what a rise or fall must exceed to count."""
    return 3.0 * (2 * 0.25 / n_test) ** 0.5


def nonmonotone(errors: list[float], step: float) -> bool:
    """A rise of more than ``step`` above the input layer's error followed by a fall of more
    than ``step`` from that peak."""
    for k in range(1, len(errors)):
        if max(errors[:k]) - errors[0] > step and max(errors[:k]) - min(errors[k:]) > step:
            return True
    return False


def findings(rows: list) -> list[Finding]:
    """IC Fig. 5's statements as ``Finding``s. Trained networks that did not fit their image
    are excluded (counted); the untrained net is the control the shape rule must not fire on.
    Thresholds: "useless" is an error within 0.05 of chance (0.9); a rise or fall counts when
    it exceeds three standard errors of a difference of two error rates."""
    seeds = sorted({r["point"]["seed"] for r in rows})
    n_test = rows[0]["result"]["n_test"]
    step = _se3_difference(n_test)
    out = []
    untrained = [r for r in rows if r["point"]["network"] == "untrained"]
    if untrained:
        beyond = [float(np.mean(r["result"]["errors"][7:])) for r in untrained
                  if len(r["result"]["errors"]) > 7]
        firsts = []
        for r in untrained:
            e = r["result"]["errors"]
            firsts.append(next((k for k in range(len(e)) if all(v >= 0.85 for v in e[k:])),
                               None))
        pre = Precondition("an untrained net as deep as the paper's (≥ 8 layers)",
                           {"depth": untrained[0]["point"]["depth"]},
                           untrained[0]["point"]["depth"] >= 8)
        st = seed_stats(beyond) if beyond else None
        out.append(Finding(
            key="untrained-useless", statement="the untrained net is useless beyond layer ~6",
            where="IC Fig. 5", precondition=pre,
            statistic="mean error beyond layer 6", value=None if st is None else st["mean"],
            test="every seed's error within 0.05 of chance from layer ≤ 8 on",
            threshold="error ≥ 0.85 (chance 0.9)",
            verdict=decide(all(f is not None and f <= 8 for f in firsts), pre), seeds=seeds,
            spread=None if st is None else st["sd"], paper="useless beyond layer ~6",
            details={"first layer from which error ≥ 0.85, per seed": firsts}))
    trained = [r for r in rows if r["point"]["network"] == "trained"]
    fitted = [r for r in trained if r["result"].get("fitted") is True]
    unknown = [r for r in trained if "fitted" not in r["result"]]
    pre = Precondition(
        "the trained nets whose curves are read fit their training image (IC Sec. 3); the "
        "unfitted ones are excluded", {"trained": len(trained), "fitted": len(fitted),
                                       "fit unknown": len(unknown)},
        bool(fitted) and not unknown)
    shapes = [[r["point"]["depth"], r["point"]["seed"]] for r in fitted
              if nonmonotone(r["result"]["errors"], step)]
    control = [r["point"]["seed"] for r in untrained if nonmonotone(r["result"]["errors"], step)]
    out.append(Finding(
        key="non-monotone", statement="trained curves are non-monotone (the error rises, then "
        "recovers)", where="IC Fig. 5", precondition=pre,
        statistic="fitted trained nets with a rise and a fall", value=float(len(shapes)),
        test="at least one fitted net, and not the untrained control",
        threshold=f"rise and fall each > {step:.3f} (3 SE of a difference on {n_test} test "
        f"images)", verdict=decide(bool(shapes) and not control, pre), seeds=seeds,
        paper="non-monotone",
        details={"such (depth, seed)": shapes, "untrained control fires at seeds": control,
                 "excluded (did not fit)": [[r["point"]["depth"], r["point"]["seed"]]
                                            for r in trained if r["result"].get("fitted")
                                            is False]}))
    return out


def _estimated_bytes(preset: str) -> int:
    """Per-layer errors only (≤ 21 numbers a network), plus a figure: well under 4 MiB; the
    ic.cnn-depth sweep it may train writes its own (``ic_cnn_depth._estimated_bytes``)."""
    return 4 * 2**20 + cnn._estimated_bytes(preset)


EXPERIMENT = Experiment(
    id="ic.layer-probe", paper="IC", reproduces="Fig. 5: per-layer similarity classifier",
    presets=PRESETS, points=points, compute_point=compute_point, outputs=outputs,
    figures={"layer_probe.png": "Fig. 5"}, estimated_bytes=_estimated_bytes)

reproduce = EXPERIMENT.reproduce
