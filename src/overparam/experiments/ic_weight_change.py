"""Reproduction ``ic.weight-change``: IC Fig. 19 (App. G) — the relative distance
‖W_T − W_0‖/‖W_0‖ of every weight tensor after training, per layer, for CNNs of several depths.

The initial and final weights are read from the ``ic.cnn-depth`` sweep of the same preset in
the sibling directory ``ic.cnn-depth-<preset>`` (its networks are trained there only when that
sweep's weights are missing). Fig. 19's FCN panels need ``ic.fcn-depth``'s weights, which its
point results do not hold: the summary says so.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from overparam.experiments import ic_cnn_depth as cnn
from overparam.experiments.findings import Finding, Precondition, decide, spearman
from overparam.experiments.ic_layer_probe import cnn_depth_source, per_layer_table
from overparam.experiments.protocol import Experiment, Outputs, Summary
from overparam.numerics.backend import to_numpy
from overparam.numerics.models import Model

__all__ = ["EXPERIMENT", "PRESETS", "compute_point", "findings", "outputs", "points",
           "relative_changes", "reproduce", "signal_rms"]

PRESETS = {
    # seconds: the smoke ic.cnn-depth networks
    "smoke": {"depths": [1, 2, 3]},
    # the quick ic.cnn-depth networks: every depth of its sweep
    "quick": {"depths": cnn.PAPER_DEPTHS},
    # ic.cnn-depth's standard networks (3 seeds)
    "standard": {"depths": cnn.PRESETS["standard"]["depths"], "seeds": 3},
    # the paper's (a GPU job, through ic.cnn-depth's paper preset)
    "paper": {"depths": cnn.PAPER_DEPTHS},
}
#: what Fig. 19's FCN panels would need, and why they are not drawn
FCN_MISSING = ("Fig. 19(b, c) (linear and ReLU FCNs) are not reproduced: ic.fcn-depth's point "
               "results hold its predictions and correlations but not its initial and final "
               "weights (it would have to save them, as ic.cnn-depth does, for this experiment "
               "to read without retraining).")


def relative_changes(W0: dict, WT: dict, keys: list[str]) -> list[float]:
    """‖W_T − W_0‖_F / ‖W_0‖_F of each weight tensor named in ``keys`` (IC App. G's
    d(W_0, W_T)), in float64."""
    out = []
    for k in keys:
        a, b = np.asarray(W0[k], dtype=np.float64), np.asarray(WT[k], dtype=np.float64)
        norm = float(np.linalg.norm(a))
        if norm == 0:
            raise ValueError(f"W0: expected a non-zero initial weight {k!r}, got all zeros")
        out.append(float(np.linalg.norm(b - a)) / norm)
    return out


def signal_rms(model: Model, params: dict, image: np.ndarray, depth: int) -> list[float]:
    """The root-mean-square of each of the ``depth`` layers' representations
    (``ic_cnn_depth.probe_indices``) of the network on one ``image`` (28×28): App. G asks
    whether the deep nets' signal vanishes; an exact 0 is a dead layer (every ReLU off)."""
    _, acts = model.apply(params, image.reshape(1, 28, 28, 1), return_activations=True)
    return [float(np.sqrt(np.mean(np.asarray(to_numpy(acts[i]), dtype=np.float64) ** 2)))
            for i in cnn.probe_indices(depth)]


def compute_point(point: dict, scratch: Path | None = None) -> dict:
    """The per-layer relative weight change of the digit-7 CNN of ``point["depth"]``, and its
    per-layer signal on the training image before and after training."""
    started = time.perf_counter()
    source = cnn_depth_source(scratch, point["preset"])
    cnn_point = cnn.main_point(point["preset"], point["seed"], point["backend"],
                               point["depth"])
    W0, WT = cnn.trained_weights(source, cnn_point)
    model = cnn.cnn(point["depth"], cnn.PRESETS[point["preset"]]["channels"])
    X = cnn.training_image(point["seed"], 7)[0]
    loaded = time.perf_counter()
    return {"changes": relative_changes(W0, WT, cnn.conv_keys(point["depth"])),
            "rms_init": signal_rms(model, W0, X, point["depth"]),
            "rms_final": signal_rms(model, WT, X, point["depth"]),
            "rms_image": float(np.sqrt(np.mean(X**2))), "source": str(source),
            **cnn.fit_of(source, cnn_point),
            # where the point's time went (the runner moves it beside the point file)
            "phases": {"loading": loaded - started,
                       "measurements": time.perf_counter() - loaded}}


def points(preset: str, seed: int, backend: str) -> list[dict]:
    """One point per CNN depth and seed."""
    return [{"network": "cnn", "depth": d, "seed": k, "preset": preset, "backend": backend}
            for k in cnn.seeds_of(PRESETS[preset], seed) for d in PRESETS[preset]["depths"]]


def outputs(rows: list, *, preset: str, seed: int, backend: str) -> Outputs:
    """results.json's metadata, results.csv (one row per network and layer), Fig. 19(a) and
    the summary."""
    def draw(name: str, path: Path) -> None:
        _figure(path, rows)

    table = [[r["point"]["network"], r["point"]["depth"], r["point"]["seed"], k + 1, c]
             for r in rows for k, c in enumerate(r["result"]["changes"])]
    return Outputs(metadata={"backend": backend, "fcn": FCN_MISSING},
                   csv_header=["network", "depth", "seed", "layer", "relative_change"],
                   csv_rows=table, draw=draw, summary=_summary(rows, preset))


def _figure(path: Path, rows: list) -> None:
    """IC Fig. 19(a): ‖W_T − W_0‖/‖W_0‖ per layer, one line per net (first seed), nets that
    did not fit dashed and labelled; the right panel drops each net's top layer (the one that
    changes most), so its scale shows the lower layers, as Fig. 19 cuts the top off."""
    from overparam.common.plotting import pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    first = min(r["point"]["seed"] for r in rows)
    shown = [r for r in rows if r["point"]["seed"] == first]
    for ax, cut in zip(axes, (False, True), strict=True):
        for i, r in enumerate(shown):
            c = r["result"]["changes"]
            unfit = r["result"].get("fitted") is False
            values = c[:-1] if cut else c
            if not values:
                continue
            ax.plot(range(1, len(values) + 1), values, marker=".", ls="--" if unfit else "-",
                    color=plt.get_cmap("tab20")(i % 20),
                    label=f"{r['point']['depth']} layers" + (" (did not fit)" if unfit else ""))
        ax.set_xlabel("layer index (1 = bottom)")
        ax.set_ylabel("‖W_T − W_0‖ / ‖W_0‖")
        ax.set_yscale("log")
        ax.set_title("without each net's top layer (as Fig. 19 cuts it off)" if cut else
                     f"ic.weight-change: CNNs (IC Fig. 19a), seed {first}", fontsize=9)
    axes[0].legend(fontsize=6, ncol=2)
    save(fig, path)


def _summary(rows: list, preset: str) -> Summary:
    cfg = cnn.PRESETS[preset]
    lines = per_layer_table(rows, "changes", "‖W_T − W_0‖/‖W_0‖ per layer, bottom to top",
                            ".3g")
    lines += ["", "The signal on the training image (App. G's question: does it vanish?), RMS of "
              "each layer's representation, smallest over the layers and at the output "
              f"(the training image's: {rows[0]['result']['rms_image']:.3g}):", "",
              "| layers | smallest, init | output, init | smallest, trained | output, trained "
              "| dead layers (all zero), trained |", "|---|---|---|---|---|---|"]
    for r in rows:
        res = r["result"]
        dead = [k + 1 for k, v in enumerate(res["rms_final"]) if v == 0]
        lines.append(f"| {r['point']['depth']} | {min(res['rms_init']):.2g} | "
                     f"{res['rms_init'][-1]:.2g} | {min(res['rms_final']):.2g} | "
                     f"{res['rms_final'][-1]:.2g} | {dead or 'none'} |")
    return Summary(
        title="ic.weight-change — IC Fig. 19 (App. G)",
        setup=f"Preset `{preset}`: the digit-7 CNNs of ic.cnn-depth's `{preset}` preset "
        f"(depths {PRESETS[preset]['depths']}, {cfg['channels']} channels, {cfg['steps']} "
        "steps), their saved initial and final kernels; nothing is retrained.",
        differences=[f"the paper's CNNs have 128 channels and 2,000,000 steps; ours are "
                     f"ic.cnn-depth's `{preset}` networks (see its summary for which did not "
                     f"fit). {FCN_MISSING}"],
        body=lines, comparisons=[FCN_FINDING], findings=findings(rows))


FCN_FINDING = ("ReLU FCN with 11 hidden layers, the lowest ~5 layers ≈ 0 (Fig. 19c): not "
               "checked (no FCN weights saved by ic.fcn-depth).")


def findings(rows: list) -> list[Finding]:
    """Fig. 19(a) and App. G's statements as ``Finding``s, on the nets that fit their image
    (an unfitted net's weights say nothing about the interpolant training found; excluded and
    counted)."""
    seeds = sorted({r["point"]["seed"] for r in rows})
    multi = [r for r in rows if r["point"]["depth"] > 1]
    fitted = [r for r in multi if r["result"].get("fitted") is True]
    excluded = [[r["point"]["depth"], r["point"]["seed"]] for r in multi
                if r["result"].get("fitted") is not True]
    pre = Precondition(
        f"the nets read fit their training image (IC Sec. 3), at least {MIN_FITTED} of "
        "them; unfitted ones excluded", {"multi-layer nets": len(multi), "fitted": len(fitted),
                                         "excluded (depth, seed)": excluded},
        len(fitted) >= MIN_FITTED)
    top = [r for r in fitted
           if int(np.argmax(r["result"]["changes"])) == r["point"]["depth"] - 1]
    out = [Finding(
        key="top-most", statement="the top layer changes most", where="IC Fig. 19a, App. G",
        precondition=pre, statistic="fitted nets whose top layer changed most",
        value=float(len(top)), test="all fitted nets", threshold=f"{len(fitted)} of "
        f"{len(fitted)}", verdict=decide(len(top) == len(fitted), pre), seeds=seeds,
        paper="the top layer changes most")]
    depth = [r["point"]["depth"] for r in fitted]
    bottom = [r["result"]["changes"][0] for r in fitted]
    rho, p = spearman(bottom, depth) if len(fitted) >= 3 else (None, None)
    out.append(Finding(
        key="bottom-falls", statement="deeper nets change their low layers less, but not to zero",
        where="IC Fig. 19a, App. G", precondition=pre,
        statistic="Spearman ρ of the bottom layer's change with depth, fitted nets", value=rho,
        test="two-sided Spearman test, and every bottom change > 0",
        threshold="ρ < 0 at p < 0.05",
        verdict=decide(None if rho is None else (rho < 0 and p < 0.05 and min(bottom) > 0),
                       pre),
        seeds=seeds, p_value=p, paper="less in deeper nets, not zero",
        details={"bottom change by (depth, seed)": [[r["point"]["depth"], r["point"]["seed"],
                                                     r["result"]["changes"][0]]
                                                    for r in fitted]}))
    deepest = max(r["point"]["depth"] for r in rows)
    deep = [r for r in rows if r["point"]["depth"] == deepest]
    pre = Precondition(f"the {deepest}-layer nets fit their training image (App. G's "
                       "constant-function nets)",
                       {"nets": len(deep), "fitted": sum(r["result"].get("fitted") is True
                                                         for r in deep)},
                       bool(deep) and all(r["result"].get("fitted") is True for r in deep))
    smallest = min(min(r["result"]["changes"]) for r in deep)
    out.append(Finding(
        key="deep-moves", statement="even the deepest nets' lowest layers move (no vanishing "
        "gradient)", where="IC App. G", precondition=pre,
        statistic=f"smallest layer change of the {deepest}-layer nets", value=smallest,
        test="the value against the threshold", threshold="> 0",
        verdict=decide(smallest > 0, pre), seeds=seeds, paper="lower layers still move"))
    return out


#: fewest fitted multi-layer nets a finding across depths reads
MIN_FITTED = 3


EXPERIMENT = Experiment(
    id="ic.weight-change", paper="IC", reproduces="Fig. 19(a): weight change per layer, CNNs",
    presets=PRESETS, points=points, compute_point=compute_point, outputs=outputs,
    figures={"weight_change.png": "Fig. 19a"},
    estimated_bytes=lambda preset: 4 * 2**20 + cnn._estimated_bytes(preset))

reproduce = EXPERIMENT.reproduce
