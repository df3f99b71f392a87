"""Reproduction ``em.relu-scale``: EM Fig. 4 (and App. E's hinge and squared-loss figures) —
the sweep of ``em.sin-scale`` with ReLU, z = W2 relu(W1 x), under softmax cross-entropy,
multi-class hinge (Δ = 1) and the squared loss (h = 2048 there, σ doubled per step as EM
App. E.4 does). ``em_scale`` trains and measures each network.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from overparam.experiments import em_scale as em
from overparam.experiments.findings import (
    NOT_ASSESSABLE,
    Finding,
    Precondition,
    decide,
    partial_spearman,
    seed_stats,
    t_test,
)
from overparam.experiments.protocol import Experiment, Outputs, Summary

__all__ = ["AUTHORS_SIGMAS", "CSV_HEADER", "DOUBLING", "EXPERIMENT", "FIGURES", "LOSSES",
           "LOSS_NAMES", "PRESETS", "compute_point", "findings", "outputs", "points", "reproduce"]

LOSSES = ("softmax_ce", "hinge", "squared")
LOSS_NAMES = {"softmax_ce": "softmax cross-entropy", "hinge": "hinge (Δ = 1)",
              "squared": "squared ½‖z − e_y‖²"}
#: EM's code's grid; the squared loss doubles σ (EM App. E.4: it diverges beyond a scale)
AUTHORS_SIGMAS = [1e-3, 1e-2, 0.1, 1.0, 10.0]
DOUBLING = [0.01, 0.02, 0.04, 0.08, 0.16]

PRESETS = {
    # seconds: used by the tests
    "smoke": {"sigmas": {"softmax_ce": [0.01, 1.0], "hinge": [0.01], "squared": [0.01, 0.16]},
              "hidden": 32, "hidden_squared": 64, "n_train": 256, "n_test": 200, "batch": 64,
              "lr": 0.01, "max_epochs": 2, "dtype": "float32", "kernel": 0},
    # ≤ 15 min on 2 cores: a 2,048-image training subset, 1,000 test images, 10 epochs at most
    "quick": {"sigmas": {"softmax_ce": [1e-3, 0.01, 0.1, 0.3, 1.0, 10.0],
                         "hinge": [1e-3, 0.01, 0.1, 0.3, 1.0, 10.0], "squared": DOUBLING},
              "hidden": 1024, "hidden_squared": 2048, "n_train": 2048, "n_test": 1000,
              "batch": 256, "lr": 0.01, "max_epochs": 10, "dtype": "float32", "kernel": 0},
    # issue 25's standard: ≥ 2,000 images, to 100 % or 600 epochs, 3 seeds; four σ per loss
    # (the squared loss's doubling grid up to where it diverges)
    "standard": {"sigmas": {"softmax_ce": [1e-2, 0.1, 1.0, 10.0],
                            "hinge": [1e-2, 0.1, 1.0, 10.0], "squared": DOUBLING[:4]},
                 "hidden": 1024, "hidden_squared": 2048, "n_train": 2048, "n_test": 1000,
                 "batch": 256, "lr": 0.01, "max_epochs": 600, "dtype": "float32", "kernel": 0,
                 "seeds": 3, "measure_every": 10},
    # EM's settings (a GPU job): whole splits, trained to 100 % (cap 2,000 epochs)
    "paper": {"sigmas": {"softmax_ce": AUTHORS_SIGMAS, "hinge": AUTHORS_SIGMAS,
                         "squared": [0.005, *DOUBLING]},
              "hidden": 1024, "hidden_squared": 2048, "n_train": 60000, "n_test": 10000,
              "batch": 256, "lr": 0.01, "max_epochs": 2000, "dtype": "float32", "kernel": 0},
}


def points(preset: str, seed: int, backend: str) -> list[dict]:
    """One point per (seed, loss, σ) of the preset."""
    dataset, root = em.dataset_choice()
    cfg = PRESETS[preset]
    return [{"sigma": s, "activation": "relu", "loss": loss,
             "hidden": cfg["hidden_squared"] if loss == "squared" else cfg["hidden"],
             "seed": k, "preset": preset, "backend": backend, "dataset": dataset,
             "data_dir": root} for k in em.seeds_of(cfg, seed) for loss in LOSSES
            for s in cfg["sigmas"][loss]]


def compute_point(point: dict, scratch: Path | None = None) -> dict:
    """Train and measure the ReLU network at ``point["sigma"]`` under ``point["loss"]``."""
    return em.train_point(point, PRESETS[point["preset"]], scratch)


CSV_HEADER = ["loss", "sigma", "seed", "hidden", "status", "epochs", "diverged_at_step",
              "train_acc", "test_acc", "best_test_acc", "omega_grad", "omega_rep", "grad_ratio",
              "omega_grad_init", "omega_rep_init", "grad_ratio_init"]


def _csv_rows(rows: list) -> list[list]:
    out = []
    for r in rows:
        p, res = r["point"], r["result"]
        f, i = res["final"], res["history"][0]
        out.append([p["loss"], p["sigma"], p["seed"], p["hidden"], res["status"], res["epochs"],
                    res["diverged_at_step"], f["train_acc"], f["test_acc"],
                    res["best_test_acc"], f["omega_grad"], f["omega_rep"], f["grad_ratio"],
                    i["omega_grad"], i["omega_rep"], i["grad_ratio"]])
    return out


def _by_loss(rows: list, loss: str) -> list:
    return sorted((r for r in rows if r["point"]["loss"] == loss),
                  key=lambda r: (r["point"]["sigma"], r["point"]["seed"]))


def outputs(rows: list, *, preset: str, seed: int, backend: str) -> Outputs:
    """results.json's metadata, results.csv (one row per loss and σ), fig4.png, the training
    curves per loss and the summary."""
    cfg = PRESETS[preset]

    def draw(name: str, path: Path) -> None:
        if name == "fig4.png":
            _fig4(path, rows)
            return
        loss = next(k for k in LOSSES if name == f"curves_{k}.png")
        em.curves_figure(path, _by_loss(rows, loss), f"em.relu-scale: ReLU, {LOSS_NAMES[loss]}",
                         label=lambda p: f"{p['sigma']:g}")

    dataset = rows[0]["point"]["dataset"] if rows else "fashion-mnist"
    return Outputs(metadata={"backend": backend, "seed": seed, "dataset": dataset},
                   csv_header=CSV_HEADER, csv_rows=_csv_rows(rows), draw=draw,
                   summary=_summary(rows, cfg, preset, dataset))


def _fig4(path: Path, rows: list) -> None:
    """EM Fig. 4 for each loss (one row each): (a) test accuracy, (b) Ω_in-class of
    representations, (c) of gradients, against σ (final epoch, mean ± sd over seeds; test
    accuracy also its best over epochs); networks that did not fit are red crosses, diverged
    ones black crosses at 0; chance line."""
    from overparam.common.plotting import mark_unfitted, pyplot, save, seed_band

    plt = pyplot()
    fig, axes = plt.subplots(len(LOSSES), 3, figsize=(12, 3.2 * len(LOSSES)), squeeze=False)
    for row, loss in zip(axes, LOSSES, strict=True):
        by = em.groups(_by_loss(rows, loss))
        ok = {s: [r for r in rs if r["status"] != "diverged"] for s, rs in by.items()}
        sig = [s for s in sorted(ok) if ok[s]]
        bad = [s for s in sorted(by) if any(r["status"] == "diverged" for r in by[s])]
        for ax, (key, name) in zip(row, (("test_acc", "test accuracy"),
                                         ("omega_rep", "Ω in-class, representations"),
                                         ("omega_grad", "Ω in-class, gradients")), strict=True):
            seed_band(ax, sig, [[r["final"][key] for r in ok[s]] for s in sig], "o-", "final")
            unfit = [(s, r["final"][key]) for s in sig for r in ok[s] if r["status"] != "fitted"]
            mark_unfitted(ax, [u[0] for u in unfit], [u[1] for u in unfit])
            if bad:
                ax.plot(bad, [0.0] * len(bad), "kx", ms=9, label="diverged")
            if key == "test_acc":
                seed_band(ax, sig, [[r["best_test_acc"] for r in ok[s]] for s in sig], "s--",
                          "best over epochs")
                ax.axhline(1 / em.N_CLASSES, color="gray", lw=0.8, label="chance")
            ax.set(xscale="log", xlabel="σ")
            ax.set_title(f"{LOSS_NAMES[loss]}: {name}", fontsize=9)
            ax.legend(fontsize=6)
    save(fig, path)


def _summary(rows: list, cfg: dict, preset: str, dataset: str) -> Summary:
    n_test = rows[0]["result"]["n_test"]
    n_train = rows[0]["result"]["n_train"]
    band = em.chance_band(n_test)
    # three standard errors of a difference of two accuracies near the best one seen
    best = max(r["result"]["best_test_acc"] for r in rows)
    diff_se3 = 3 * math.sqrt(2 * best * (1 - best) / n_test)
    table = ["| loss | σ | seed | h | training | train acc | test acc (final / best) | "
             "Ω in-class grad (init → final) | Ω in-class rep (init → final) | "
             "‖∇W1‖/‖W1‖ (init → final) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for loss in LOSSES:
        for r in _by_loss(rows, loss):
            res, f, i = r["result"], r["result"]["final"], r["result"]["history"][0]
            table.append(
                f"| {loss} | {r['point']['sigma']:g} | {r['point']['seed']} | "
                f"{r['point']['hidden']} | "
                f"{em.status_text(res)} | {f['train_acc']:.3f} | {f['test_acc']:.3f} / "
                f"{res['best_test_acc']:.3f} | {i['omega_grad']:.3g} → {f['omega_grad']:.3g} "
                f"| {i['omega_rep']:.3g} → {f['omega_rep']:.3g} | {i['grad_ratio']:.3g} → "
                f"{f['grad_ratio']:.3g} |")
    check, _ = em.check_lines(rows)
    differences = []
    if dataset != "cifar10":
        differences.append(f"EM's Fig. 4 is on CIFAR-10 (App. E: also CIFAR-100, SVHN); this "
                           f"run uses {dataset}.")
    if preset != "paper":
        differences.append(
            f"a {cfg['n_train']}-image training subset and {cfg['n_test']} test images, at "
            f"most {cfg['max_epochs']} epochs instead of training to 100 %; h = "
            f"{cfg['hidden']} ({cfg['hidden_squared']} for the squared loss; EM: 1024 and "
            f"2048).")
    differences.append(
        f"σ grids {cfg['sigmas']} (EM's code: {AUTHORS_SIGMAS}; for the squared loss EM "
        f"doubles σ from a start it does not state). Losses are means over the batch (hinge "
        f"EM eq. 8 with Δ = 1; squared ½‖z − e_y‖²); a diverged run (non-finite loss, or 1e8 "
        f"times the initial) is reported as diverged, never rescaled or retried with another "
        f"learning rate.")
    differences += em.capped_lines(rows, ("loss", "sigma", "seed"))
    return Summary(
        title="em.relu-scale — EM Fig. 4 (App. E): scale of initialisation, ReLU, three losses",
        setup=(f"Preset `{preset}`: data {dataset} (per-image standardisation), {n_train} "
               f"training / {n_test} test images; z = W2 relu(W1 x), no biases, W1 ~ N(0, σ²) "
               f"(one standard-normal draw scaled by each σ), W2 Glorot-uniform; SGD without "
               f"momentum, lr {cfg['lr']}, batch {cfg['batch']}, {cfg['dtype']}; trained until "
               f"100 % training accuracy or {cfg['max_epochs']} epochs. Measured every "
               f"{cfg.get('measure_every', 1)} epoch(s) and at the last (accuracies every "
               f"epoch) as in em.sin-scale."),
        differences=differences,
        body=[*table, "", *check, "", em.SPEARMAN_NOTE],
        comparisons_heading="EM's findings (Sec. 4, Fig. 4, App. E; no numbers in the text) "
        "beside ours:",
        findings=findings(rows, band, diff_se3))


def findings(rows: list, band: float, diff_se3: float) -> list[Finding]:
    """EM Sec. 4 / Fig. 4 / App. E's statements as ``Finding``s. Per loss, the test accuracy
    (final, at 100 % training accuracy) at the smallest and the largest σ that did not diverge
    is compared — both must have fitted at every seed (EM trains to 100 %), else the finding
    is not assessable; Ω's relation to accuracy is a partial Spearman correlation with σ held
    out, over the fitted networks."""
    seeds = sorted({r["point"]["seed"] for r in rows})
    out, drops = [], {}
    for loss in LOSSES:
        by = em.groups(_by_loss(rows, loss))
        ok = {s: rs for s, rs in by.items() if all(r["status"] != "diverged" for r in rs)}
        sig = sorted(ok)
        name = LOSS_NAMES[loss]
        if len(sig) < 2:
            pre = Precondition("at least two σ trained without diverging", {"σ": len(sig)},
                               False)
            out.append(Finding(
                key=f"{loss}-drop", statement=f"{name}: test accuracy drops as σ grows",
                where="EM Fig. 4, App. E", precondition=pre, statistic="drop", value=None,
                test="—", threshold="—", verdict=decide(None, pre), seeds=seeds))
            continue
        lo, hi = sig[0], sig[-1]
        pre = em.fit_precondition(ok[lo] + ok[hi], f"at σ = {lo:g} and σ = {hi:g}")
        a = [r["final"]["test_acc"] for r in ok[lo]]
        b = [r["final"]["test_acc"] for r in ok[hi]]
        d = [x - y for x, y in zip(a, b, strict=True)]
        st = seed_stats(d)
        p = t_test(d, diff_se3)
        drops[loss] = d
        passed = st["mean"] > diff_se3 if p is None else p < 0.05
        out.append(Finding(
            key=f"{loss}-drop", statement=f"{name}: test accuracy drops as σ grows",
            where="EM Fig. 4, App. E", precondition=pre,
            statistic=f"final test accuracy at σ = {lo:g} minus at σ = {hi:g}", value=st["mean"],
            test=("one-sided t-test over seeds, drop above the threshold" if p is not None
                  else "one seed: the drop against the threshold"),
            threshold=f"{diff_se3:.3f} (three standard errors of a difference of two "
            f"accuracies on the test set)", verdict=decide(passed, pre), seeds=seeds,
            p_value=p, ci=st["ci"], spread=st["sd"],
            paper="a drop, limited for ReLU (CE, hinge)",
            details={f"final at σ = {lo:g}": a, f"final at σ = {hi:g}": b,
                     f"best over epochs at σ = {lo:g}": [r["best_test_acc"] for r in ok[lo]],
                     f"best over epochs at σ = {hi:g}": [r["best_test_acc"] for r in ok[hi]],
                     "diverged σ": [s for s in sorted(by) if s not in ok]}))
        st_hi = seed_stats(b)
        p_hi = t_test(b, band)
        passed = st_hi["mean"] > band if p_hi is None else p_hi < 0.05
        out.append(Finding(
            key=f"{loss}-limited", statement=f"{name}: the effect is limited (the largest σ "
            f"stays above chance)", where="EM Sec. 4, Fig. 4", precondition=pre,
            statistic=f"final test accuracy at σ = {hi:g}", value=st_hi["mean"],
            test=("one-sided t-test over seeds, above the band" if p_hi is not None
                  else "one seed: the value against the band"),
            threshold=f"chance band ≤ {band:.3f}", verdict=decide(passed, pre), seeds=seeds,
            p_value=p_hi, ci=st_hi["ci"], spread=st_hi["sd"],
            paper="limited for ReLU (CE, hinge); the squared loss diverges"))
        fitted = [(s, r) for s in sig for r in ok[s] if r["status"] == "fitted"]
        n_all = sum(len(ok[s]) for s in sig)
        pre_fit = Precondition(
            "the statistic uses only networks at 100 % training accuracy (EM Sec. 3), at "
            f"least {MIN_FITTED} of them", {"networks": n_all, "used": len(fitted),
                                            "excluded (not fitted)": n_all - len(fitted)},
            len(fitted) >= MIN_FITTED)
        om = [r["final"]["omega_grad"] for _, r in fitted]
        acc = [r["final"]["test_acc"] for _, r in fitted]
        prho, pp = (partial_spearman(om, acc, [s for s, _ in fitted]) if len(fitted) >= 4
                    else (None, None))
        out.append(Finding(
            key=f"{loss}-omega", statement=f"{name}: Ω_in-class of gradients tracks test "
            f"accuracy", where="EM Sec. 4, Fig. 4", precondition=pre_fit,
            statistic="partial Spearman ρ of final Ω (gradients) with final test accuracy, σ "
            "held out", value=prho, test="t-test of the partial correlation (n − 3 df)",
            threshold="ρ > 0 at p < 0.05",
            verdict=decide(None if prho is None else (prho > 0 and pp < 0.05), pre_fit),
            seeds=seeds, p_value=pp, paper="alignment follows accuracy"))
    assessed = [f for f in out if f.key.endswith("-drop") and f.value is not None]
    if len(drops) >= 2:
        pre = Precondition("the drops compared are assessable (their networks fitted)",
                           {"losses": len(drops),
                            "assessable": sum(f.verdict != NOT_ASSESSABLE for f in assessed)},
                           all(f.verdict != NOT_ASSESSABLE for f in assessed))
        means = {k: float(np.mean(v)) for k, v in drops.items()}
        spread = max(means.values()) - min(means.values())
        out.append(Finding(
            key="loss-dependence", statement="how much test accuracy drops depends on the loss",
            where="EM Sec. 4, App. E", precondition=pre,
            statistic="largest minus smallest mean drop across losses", value=spread,
            test="the spread against the threshold", threshold=f"{diff_se3:.3f} (three "
            "standard errors of a difference)", verdict=decide(spread > diff_se3, pre),
            seeds=seeds, details={"mean drop": means}))
    sq = em.groups(_by_loss(rows, "squared"))
    div = [s for s in sorted(sq) if any(r["status"] == "diverged" for r in sq[s])]
    below = [s for s in sorted(sq) if div and s < div[0]]
    pre = Precondition("the squared loss trained at lr 0.01 over a doubling σ grid",
                       {"σ": len(sq)}, True)
    out.append(Finding(
        key="squared-diverges", statement="with the squared loss, training diverges after a "
        "few iterations beyond a certain scale", where="EM App. E.4", precondition=pre,
        statistic="smallest σ at which a seed diverged", value=div[0] if div else None,
        test="some σ diverges and a smaller one does not", threshold="—",
        verdict=decide(bool(div) and bool(below), pre), seeds=seeds,
        details={"diverged σ": div, "diverged at step": [
            r["diverged_at_step"] for s in div for r in sq[s] if r["status"] == "diverged"]}))
    return out


#: fewest fitted networks a pooled correlation needs (a partial Spearman has n − 3 df)
MIN_FITTED = 4


def _estimated_bytes(preset: str) -> int:
    """Per point: its epoch history in the point file and results.json, plus 6 MiB of figures
    and CSV."""
    cfg = PRESETS[preset]
    n = sum(len(v) for v in cfg["sigmas"].values())
    return 2 * n * (cfg["max_epochs"] + 1) * 300 + 6 * 2**20


FIGURES = {"fig4.png": "EM Fig. 4 / App. E: test accuracy and alignment against σ, per loss",
           **{f"curves_{k}.png": f"training curves, {LOSS_NAMES[k]}" for k in LOSSES}}

EXPERIMENT = Experiment(
    id="em.relu-scale", paper="EM",
    reproduces="Fig. 4 and App. E: scale of initialisation with ReLU and three losses",
    presets=PRESETS, points=points, compute_point=compute_point, outputs=outputs,
    figures=FIGURES, estimated_bytes=_estimated_bytes)

reproduce = EXPERIMENT.reproduce
