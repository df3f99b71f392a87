"""Reproduction ``em.sin-scale``: EM Fig. 1 and 2 — a two-layer sin network z = W2 sin(W1 x)
(h = 1024, no biases, W1 ~ N(0, σ²), W2 Glorot-uniform) trained by SGD (lr 0.01, batch 256,
softmax cross-entropy) at a sweep of σ, with per-epoch accuracy, Ω_in-class of gradients and
representations and ‖∇W1‖/‖W1‖ (``em_scale`` does the work), and beside each network the
minimum-norm interpolant of the exact sin kernel of its random first layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from overparam.experiments import em_scale as em
from overparam.experiments.findings import (
    Finding,
    Precondition,
    decide,
    partial_spearman,
    seed_stats,
    spearman,
    t_test,
)
from overparam.experiments.protocol import Experiment, Outputs, Summary

__all__ = ["AUTHORS_SIGMAS", "CSV_HEADER", "EXPERIMENT", "FIGURES", "PRESETS", "QUICK_SIGMAS",
           "compute_point", "findings", "outputs", "points", "reproduce"]

#: EM's grid (the authors' code) and a dense grid over 0.01–1, where the transition lies
AUTHORS_SIGMAS = [1e-3, 1e-2, 0.1, 1.0, 10.0]
QUICK_SIGMAS = sorted({*AUTHORS_SIGMAS, 0.02, 0.03, 0.05, 0.2, 0.3, 0.5})

PRESETS = {
    # seconds: used by the tests
    "smoke": {"sigmas": [0.01, 1.0], "hidden": 32, "n_train": 256, "n_test": 200,
              "batch": 64, "lr": 0.01, "max_epochs": 2, "dtype": "float32", "kernel": 256},
    # ≤ 15 min on 2 cores: a 2,048-image training subset, 1,000 test images, 15 epochs at most
    "quick": {"sigmas": QUICK_SIGMAS, "hidden": 1024, "n_train": 2048, "n_test": 1000,
              "batch": 256, "lr": 0.01, "max_epochs": 15, "dtype": "float32", "kernel": 2048},
    # issue 25's standard: ≥ 2,000 images, trained to 100 % or 600 epochs, 3 seeds (seed,
    # seed + 1, seed + 2: data subset, W1, W2 and batch order change with the seed); σ from
    # 0.05 up, where a 2k-image sin net fits within the cap (below it the nearly linear nets
    # fit too slowly for 600 epochs; the quick preset shows them at its cap)
    "standard": {"sigmas": [0.05, 0.1, 0.2, 0.3, 1.0, 10.0], "hidden": 1024, "n_train": 2048,
                 "n_test": 1000, "batch": 256, "lr": 0.01, "max_epochs": 600,
                 "dtype": "float32", "kernel": 2048, "seeds": 3, "measure_every": 10},
    # EM's settings (a GPU job): the whole training set, trained to 100 % (cap 2,000 epochs);
    # the kernel companion on 10,000 training images (its float64 kernel is 0.8 GB)
    "paper": {"sigmas": AUTHORS_SIGMAS, "hidden": 1024, "n_train": 60000, "n_test": 10000,
              "batch": 256, "lr": 0.01, "max_epochs": 2000, "dtype": "float32",
              "kernel": 10000},
}


def points(preset: str, seed: int, backend: str) -> list[dict]:
    """One point per σ and seed of the preset (the dataset chosen by
    ``em_scale.dataset_choice``)."""
    dataset, root = em.dataset_choice()
    cfg = PRESETS[preset]
    return [{"sigma": s, "activation": "sin", "loss": "softmax_ce", "hidden": cfg["hidden"],
             "seed": k, "preset": preset, "backend": backend, "dataset": dataset,
             "data_dir": root} for k in em.seeds_of(cfg, seed) for s in cfg["sigmas"]]


def compute_point(point: dict, scratch: Path | None = None) -> dict:
    """Train and measure the sin network at ``point["sigma"]`` (``em_scale.train_point``),
    with the exact-kernel companion."""
    return em.train_point(point, PRESETS[point["preset"]], scratch)


CSV_HEADER = ["sigma", "seed", "status", "epochs", "train_acc", "test_acc", "best_test_acc",
              "omega_grad", "omega_rep", "grad_ratio", "omega_grad_init", "omega_rep_init",
              "grad_ratio_init", "kernel_test_acc", "kernel_solve", "observed_mean_kernel",
              "observed_mean_kernel_se", "exact_mean_kernel"]


def _csv_rows(rows: list) -> list[list]:
    out = []
    for r in rows:
        res, f, i = r["result"], r["result"]["final"], r["result"]["history"][0]
        out.append([r["point"]["sigma"], r["point"]["seed"], res["status"], res["epochs"],
                    f["train_acc"], f["test_acc"], res["best_test_acc"], f["omega_grad"],
                    f["omega_rep"], f["grad_ratio"], i["omega_grad"], i["omega_rep"],
                    i["grad_ratio"],
                    res.get("kernel_test_acc"), res.get("kernel_solve"),
                    res.get("observed_mean_kernel"), res.get("observed_mean_kernel_se"),
                    res.get("exact_mean_kernel")])
    return out


def outputs(rows: list, *, preset: str, seed: int, backend: str) -> Outputs:
    """results.json's metadata, results.csv (one row per σ; every epoch is in results.json),
    fig1.png, fig2.png and the summary."""
    cfg = PRESETS[preset]

    def draw(name: str, path: Path) -> None:
        if name == "fig1.png":
            _fig1(path, rows)
        else:
            em.curves_figure(path, rows, "em.sin-scale: sin, softmax cross-entropy (EM Fig. 2)",
                             label=lambda p: f"{p['sigma']:g}")

    dataset = rows[0]["point"]["dataset"] if rows else "fashion-mnist"
    return Outputs(metadata={"backend": backend, "seed": seed, "dataset": dataset},
                   csv_header=CSV_HEADER, csv_rows=_csv_rows(rows), draw=draw,
                   summary=_summary(rows, cfg, preset, dataset))


def _fig1(path: Path, rows: list) -> None:
    """EM Fig. 1: (a) test accuracy against σ — the network's final (at 100 % training
    accuracy where it fitted) and best over epochs, mean ± sd over seeds; networks that did not
    fit drawn hollow; the exact sin-kernel interpolant's; the chance band; (b) best test
    accuracy against final Ω_in-class of gradients, coloured by log10 σ (colour bar), hollow
    where unfitted; (c) final Ω_in-class against σ; (d) the random first layer's mean
    off-diagonal kernel, observed and exact."""
    from overparam.common.plotting import mark_unfitted, pyplot, save, seed_band

    plt = pyplot()
    by = em.groups(rows)
    sig = np.array(sorted(by))
    band = em.chance_band(rows[0]["result"]["n_test"])
    fig, ax = plt.subplots(1, 4, figsize=(18, 3.8))
    for key, style, label in (("test_acc", "o-", "network, final"),
                              ("best_test_acc", "s--", "network, best over epochs"),
                              ("train_acc", "^:", "network, train")):
        vals = [[(r["best_test_acc"] if key == "best_test_acc" else r["final"][key])
                 for r in by[s]] for s in sig]
        seed_band(ax[0], sig, vals, style, label)
    mark_unfitted(ax[0], [s for s in sig for r in by[s] if r["status"] != "fitted"],
                  [r["final"]["test_acc"] for s in sig for r in by[s]
                   if r["status"] != "fitted"])
    if all("kernel_test_acc" in r for rs in by.values() for r in rs):
        seed_band(ax[0], sig, [[r["kernel_test_acc"] for r in by[s]] for s in sig], "d-",
                  "exact sin-kernel interpolant")
    ax[0].axhline(1 / em.N_CLASSES, color="gray", lw=0.8, label="chance (1/10)")
    ax[0].axhline(band, color="gray", lw=0.8, ls="--", label=f"chance band ≤ {band:.3f}")
    ax[0].set(xscale="log", xlabel="σ (std of W1)", ylabel="accuracy", title="(a) accuracy")
    ax[0].legend(fontsize=6)
    flat = [(r["point"]["sigma"], r["result"]) for r in rows]
    fitted = np.array([res["status"] == "fitted" for _, res in flat])
    x = np.array([res["final"]["omega_grad"] for _, res in flat])
    y = np.array([res["best_test_acc"] for _, res in flat])
    c = np.log10([s for s, _ in flat])
    norm = plt.Normalize(c.min(), c.max() if c.max() > c.min() else c.min() + 1)
    sc = ax[1].scatter(x[fitted], y[fitted], c=c[fitted], cmap="viridis", norm=norm,
                       label="fitted")
    ax[1].scatter(x[~fitted], y[~fitted], facecolors="none",
                  edgecolors=plt.get_cmap("viridis")(norm(c[~fitted])),
                  label="did not fit (excluded from findings)")
    fig.colorbar(sc, ax=ax[1], label="log10 σ")
    ax[1].axhline(1 / em.N_CLASSES, color="gray", lw=0.8)
    ax[1].set(xlabel="Ω in-class of gradients (final)", ylabel="best test accuracy",
              title="(b) accuracy vs alignment")
    ax[1].legend(fontsize=6)
    for key, style, label in (("omega_grad", "o-", "gradients"),
                              ("omega_rep", "s-", "representations")):
        seed_band(ax[2], sig, [[r["final"][key] for r in by[s]] for s in sig], style, label)
    ax[2].set(xscale="log", xlabel="σ", ylabel="Ω in-class (final)", title="(c) alignment")
    ax[2].legend(fontsize=7)
    first = [by[s][0] for s in sig]
    if all("observed_mean_kernel" in r for r in first):
        ax[3].errorbar(sig, [r["observed_mean_kernel"] for r in first],
                       yerr=[2 * r["observed_mean_kernel_se"] for r in first], fmt="o",
                       label="observed, drawn W1 (±2 SE), first seed")
        ax[3].plot(sig, [r["exact_mean_kernel"] for r in first], "x-", label="exact sin_kernel")
        ax[3].set(xscale="log", xlabel="σ", ylabel="mean ⟨sin W1x, sin W1x'⟩ / h",
                  title="(d) random layer's kernel, off-diagonal mean")
        ax[3].legend(fontsize=7)
    save(fig, path)


def _summary(rows: list, cfg: dict, preset: str, dataset: str) -> Summary:
    rows = sorted(rows, key=lambda r: (r["point"]["sigma"], r["point"]["seed"]))
    by = em.groups(rows)
    sig = sorted(by)
    first = rows[0]["result"]
    n_test = first["n_test"]
    band = em.chance_band(n_test)
    seeds = sorted({r["point"]["seed"] for r in rows})
    table = ["| σ | seed | training | train acc | test acc (final / best over epochs) | "
             "Ω in-class grad (init → final) | Ω in-class rep (init → final) | ‖∇W1‖/‖W1‖ "
             "(init → final) | kernel interpolant test acc | mean kernel observed ± SE / "
             "exact |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        s, r = row["point"]["sigma"], row["result"]
        f, i = r["final"], r["history"][0]
        kern = (f"{r['observed_mean_kernel']:.3g} ± {r['observed_mean_kernel_se']:.2g} / "
                f"{r['exact_mean_kernel']:.3g}" if "observed_mean_kernel" in r else "—")
        table.append(
            f"| {s:g} | {row['point']['seed']} | {em.status_text(r)} | {f['train_acc']:.3f} "
            f"| {f['test_acc']:.3f} / {r['best_test_acc']:.3f} | {i['omega_grad']:.3g} → "
            f"{f['omega_grad']:.3g} | {i['omega_rep']:.3g} → {f['omega_rep']:.3g} | "
            f"{i['grad_ratio']:.3g} → {f['grad_ratio']:.3g} | "
            f"{em.fmt(r.get('kernel_test_acc'), '.3f')} | {kern} |")
    check, _ = em.check_lines(rows)
    return Summary(
        title="em.sin-scale — EM Fig. 1, 2: scale of initialisation, sin activation",
        setup=(f"Preset `{preset}`: data {dataset} (per-image standardisation), "
               f"{first['n_train']} training / {n_test} test images (seeded subsets, one per "
               f"seed); seeds {seeds}; z = W2 sin(W1 x), h = {rows[0]['point']['hidden']}, no "
               f"biases, W1 ~ N(0, σ²) (within a seed the same standard-normal draw scaled by "
               f"each σ), W2 Glorot-uniform (within a seed the same at every σ); SGD without "
               f"momentum, lr {cfg['lr']}, batch {cfg['batch']} ({first['steps_per_epoch']} "
               f"steps per epoch), softmax cross-entropy, {cfg['dtype']}; trained until 100 % "
               f"training accuracy or {cfg['max_epochs']} epochs. σ ∈ "
               f"{[float(s) for s in sig]}. Measured every "
               f"{cfg.get('measure_every', 1)} epoch(s) and at the last (training and test "
               f"accuracy every epoch) on the whole training subset: Ω_in-class of "
               f"per-example gradients (streamed exactly from the gradient's factors, EM eq. "
               f"4–6) and of representations sin(W1x), "
               f"‖∇W1‖/‖W1‖ with ∇W1 the gradient of the mean training loss. Kernel "
               f"companion: minimum-norm interpolation of one-hot labels with the exact sin "
               f"kernel E⟨sin W1x, sin W1x'⟩ (h = 1) on the first {cfg['kernel']} training "
               f"images."),
        differences=_differences(cfg, preset, dataset, rows),
        body=[*table, "", *check, "", *_kernel_lines(rows, band), "", em.SPEARMAN_NOTE],
        comparisons_heading="EM's findings (Fig. 1, 2; the text gives no numbers) beside ours "
        "(networks that did not reach 100 % training accuracy are excluded from every finding "
        "that assumes it, and counted):",
        findings=findings(rows, band))


def _differences(cfg: dict, preset: str, dataset: str, rows: list) -> list[str]:
    lines = []
    if dataset != "cifar10":
        lines.append(f"EM's figures are on CIFAR-10 (also CIFAR-100, SVHN); this run uses "
                     f"{dataset} (28×28 grey, d = 784, against 32×32×3, d = 3072).")
    if preset != "paper":
        lines.append(f"a {cfg['n_train']}-image training subset and {cfg['n_test']} test "
                     f"images instead of the whole splits, and at most {cfg['max_epochs']} "
                     f"epochs ({cfg['max_epochs']} × {cfg['n_train'] // cfg['batch']} SGD steps) "
                     f"instead of training to 100 % whatever it takes; h = {cfg['hidden']}"
                     + (" (EM: 1024)." if cfg["hidden"] != 1024 else "."))
    lines.append(f"σ grid: {cfg['sigmas']} (EM's code: {AUTHORS_SIGMAS}; the text gives none).")
    lines.append("‖∇W1‖ is the full training-subset gradient at the end of each epoch; EM does "
                 "not say which gradient its Fig. 2b plots. Alignment is computed on the whole "
                 "training subset every epoch; 'best' test accuracy is the maximum over epochs, "
                 "'final' the last epoch's (at 100 % training accuracy where the net fitted).")
    lines.append("The kernel companion is ours (EM Sec. 3.1 motivates it through Rahimi & "
                 "Recht's kernel of a biased sin layer; our layer has no bias, so its exact "
                 "kernel is (1/2)(exp(−σ²‖x−x'‖²/2) − exp(−σ²‖x+x'‖²/2)) per unit).")
    return lines + em.capped_lines(rows, ("sigma", "seed"))


def _kernel_lines(rows: list, band: float) -> list[str]:
    res = [r["result"] for r in rows]
    if not all("kernel_test_acc" in r for r in res):
        return []
    by = em.groups(rows)
    sig = sorted(by)
    net = [r["final"]["test_acc"] for r in res]
    ker = [r["kernel_test_acc"] for r in res]
    rho, p = em.spearman(net, ker)
    solves = sorted({r["kernel_solve"] for r in res})
    far = [(row["point"]["sigma"], abs(r["observed_mean_kernel"] - r["exact_mean_kernel"])
            / r["observed_mean_kernel_se"]) for row, r in zip(rows, res, strict=True)
           if r["observed_mean_kernel_se"] > 0]
    worst = max(far, key=lambda t: t[1]) if far else (None, None)
    at_chance = em.chance_sigma(sig, [float(np.mean([r["kernel_test_acc"] for r in by[s]]))
                                      for s in sig], band)
    return [
        f"Exact sin-kernel interpolant: test accuracy {min(ker):.3f}–{max(ker):.3f} over the "
        f"grid and seeds (the network's final: {min(net):.3f}–{max(net):.3f}); Spearman between "
        f"the two across the networks: {em.fmt(rho)} (p = {em.fmt(p)}); its mean over seeds is "
        f"within the chance band (≤ {band:.3f}) from σ = {em.fmt(at_chance, 'g')} on. Solved "
        f"by {', '.join(solves)}. At large σ the exact kernel's off-diagonal entries are tiny "
        f"but not zero, so the interpolant acts like a nearest-neighbour rule until they "
        f"underflow; a width-h layer cannot resolve them (its sampling noise is ~1/√h).",
        f"The drawn first layer's mean off-diagonal kernel ⟨sin W1x_i, sin W1x_j⟩/h over "
        f"{em.KERNEL_PROBE} training images against the exact E: largest |observed − exact| "
        f"= {em.fmt(worst[1], '.2f')} Monte Carlo standard errors (at σ = "
        f"{em.fmt(worst[0], 'g')}; the SE is over the h independent rows of W1)."]


def findings(rows: list, band: float) -> list[Finding]:
    """EM Fig. 1/2's statements as ``Finding``s. Networks that did not reach 100 % training
    accuracy are excluded from every statistic that assumes it (EM trains to 100 %), and a
    finding whose networks did not fit is ``not assessable``. Correlations of Ω with test
    accuracy are partial Spearman correlations with σ held out: both follow σ (issue 25)."""
    by = em.groups(rows)
    sig = sorted(by)
    seeds = sorted({r["point"]["seed"] for r in rows})
    everything = [r for rs in by.values() for r in rs]
    out = []
    n_fit = sum(r["status"] == "fitted" for r in everything)
    # 1. every network fits: the statement is about fitting itself (no precondition)
    pre = Precondition("trained until 100 % training accuracy or the preset's epoch cap",
                       {"networks": len(everything),
                        "epoch cap": max(r["epochs"] for r in everything)}, True)
    lowest = min(r["final"]["train_acc"] for r in everything)
    out.append(Finding(
        key="fits", statement="training accuracy reaches 100 % at every σ",
        where="EM Sec. 3, Fig. 1", precondition=pre,
        statistic="networks (σ × seed) at 100 % training accuracy", value=float(n_fit),
        test=f"all {len(everything)} must fit", threshold=f"{len(everything)} of "
        f"{len(everything)}", verdict=decide(n_fit == len(everything), pre), seeds=seeds,
        paper="100 % at every σ",
        details={"lowest train acc": lowest,
                 "not fitted (σ, seed)": [[r2["point"]["sigma"], r2["point"]["seed"]]
                                          for r2 in rows if r2["result"]["status"] != "fitted"]}))
    # 2. test accuracy falls to chance as σ grows (at 100 % training accuracy)
    lo, hi = sig[0], sig[-1]
    pre = em.fit_precondition(by[lo] + by[hi], f"at the smallest and largest σ ({lo:g}, {hi:g})")
    top = [r["final"]["test_acc"] for r in by[hi]]
    low = [r["final"]["test_acc"] for r in by[lo]]
    st = seed_stats(top)
    p = t_test(top, band, greater=False)
    passed = (st["mean"] <= band if p is None else p < 0.05) and float(np.mean(low)) > band
    out.append(Finding(
        key="chance", statement="test accuracy falls to chance as σ grows",
        where="EM Fig. 1a", precondition=pre,
        statistic=f"final test accuracy at σ = {hi:g}", value=st["mean"],
        test=("one-sided t-test over seeds, mean below the band" if p is not None else
              "one seed: the value against the band") + f", and σ = {lo:g} above it",
        threshold=f"chance band ≤ {band:.3f} (1/10 + 3 binomial SE on {by[hi][0]['n_test']} "
        f"test images)", verdict=decide(passed, pre), seeds=seeds, p_value=p, ci=st["ci"],
        spread=st["sd"], paper="chance at large σ",
        details={f"final test acc at σ = {lo:g}": low, f"final test acc at σ = {hi:g}": top,
                 f"best over epochs at σ = {hi:g}": [r["best_test_acc"] for r in by[hi]]}))
    # 3./4. Ω and the gradient ratio against σ, and Ω against accuracy with σ held out
    fitted_rows = [r for r in rows if r["result"]["status"] == "fitted"]
    pre_all = em.fit_precondition(everything, "the statistic pools")
    fs = [r["point"]["sigma"] for r in fitted_rows]
    excluded = len(everything) - len(fitted_rows)
    for key, name in (("omega_grad", "gradients"), ("omega_rep", "representations")):
        vals = [r["result"]["final"][key] for r in fitted_rows]
        acc = [r["result"]["final"]["test_acc"] for r in fitted_rows]
        pre = _subset_precondition(pre_all, excluded, len(fitted_rows))
        rho, p = spearman(vals, fs) if len(vals) >= 3 else (None, None)
        out.append(Finding(
            key=f"{key}-sigma", statement=f"Ω_in-class of {name} falls as σ grows",
            where="EM Fig. 1c, 2", precondition=pre,
            statistic=f"Spearman ρ of final Ω ({name}) with σ, fitted networks", value=rho,
            test="two-sided Spearman test", threshold="ρ < 0 at p < 0.05",
            verdict=decide(None if rho is None else (rho < 0 and p < 0.05), pre), seeds=seeds,
            p_value=p, paper="falls with σ", details={"fitted networks": len(vals)}))
        prho, pp = partial_spearman(vals, acc, fs) if len(vals) >= 4 else (None, None)
        raw, praw = spearman(vals, acc) if len(vals) >= 3 else (None, None)
        out.append(Finding(
            key=f"{key}-accuracy", statement=f"Ω_in-class of {name} tracks generalisation",
            where="EM Fig. 1b", precondition=pre,
            statistic=f"partial Spearman ρ of final Ω ({name}) with final test accuracy, σ "
            f"held out, fitted networks", value=prho,
            test="t-test of the partial correlation (n − 3 df)",
            threshold="ρ > 0 at p < 0.05",
            verdict=decide(None if prho is None else (prho > 0 and pp < 0.05), pre),
            seeds=seeds, p_value=pp, paper="higher alignment, better test accuracy",
            details={"Spearman without holding σ out": raw, "its p": praw,
                     "fitted networks": len(vals)}))
    vals = [r["result"]["final"]["grad_ratio"] for r in fitted_rows]
    pre = _subset_precondition(pre_all, excluded, len(fitted_rows))
    rho, p = spearman(vals, fs) if len(vals) >= 3 else (None, None)
    out.append(Finding(
        key="grad-ratio", statement="‖∇W1‖/‖W1‖ falls as σ grows", where="EM Fig. 2b",
        precondition=pre, statistic="Spearman ρ of the final ratio with σ, fitted networks",
        value=rho, test="two-sided Spearman test", threshold="ρ < 0 at p < 0.05",
        verdict=decide(None if rho is None else (rho < 0 and p < 0.05), pre), seeds=seeds,
        p_value=p, paper="smaller at larger σ", details={"fitted networks": len(vals)}))
    return out


#: fewest fitted networks a pooled correlation needs (a partial Spearman has n − 3 df)
MIN_FITTED = 4


def _subset_precondition(pre_all: Precondition, excluded: int, kept: int) -> Precondition:
    """The precondition of a statistic over the fitted networks only: the unfitted ones are
    excluded and counted; met when at least ``MIN_FITTED`` fitted networks remain."""
    return Precondition(
        f"the statistic uses only networks at 100 % training accuracy (EM Sec. 3), at least "
        f"{MIN_FITTED} of them", {**pre_all.measured, "excluded (not fitted)": excluded,
                                  "used": kept}, kept >= MIN_FITTED)


def _estimated_bytes(preset: str) -> int:
    """Per point: its epoch history (≤ max_epochs + 1 records of ~300 bytes) in the point file
    and in results.json, plus 4 MiB of figures and CSV."""
    cfg = PRESETS[preset]
    return 2 * len(cfg["sigmas"]) * (cfg["max_epochs"] + 1) * 300 + 4 * 2**20


FIGURES = {"fig1.png": "EM Fig. 1: accuracy, alignment and kernel against σ",
           "fig2.png": "EM Fig. 2: training curves per σ"}

EXPERIMENT = Experiment(
    id="em.sin-scale", paper="EM",
    reproduces="Fig. 1, 2: scale of initialisation with sin activation",
    presets=PRESETS, points=points, compute_point=compute_point, outputs=outputs,
    figures=FIGURES, estimated_bytes=_estimated_bytes)

reproduce = EXPERIMENT.reproduce
