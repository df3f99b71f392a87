"""Matplotlib for figures of reports and reproductions: the non-interactive Agg backend,
saving a figure atomically, and the heatmap panels and picture grids that several
reproductions draw alike."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from overparam.numerics.atomic import write_atomic

__all__ = ["LOG_DECADES", "heatmap_panel", "heatmap_style", "image_grid", "mark_unfitted", "pyplot",
           "save", "seed_band"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (reports are written without a display),
    whatever ``MPLBACKEND`` says."""
    # Matplotlib validates MPLBACKEND while it is imported, and a name it does not know
    # (MPLBACKEND=bogus) makes the import itself fail — for figures that never use the
    # user's display backend. The variable is hidden for that import only.
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        import matplotlib
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path, dpi: int = 90, *, tight: bool = True) -> str:
    """Lay out (unless ``tight`` is False, e.g. with a shared colorbar), write atomically (the
    format from the file's suffix) and close ``fig``; returns the file name for the report."""
    path = Path(path)
    if tight:
        fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, dpi=dpi, format=path.suffix[1:] or "png"))
    finally:
        pyplot().close(fig)
    return path.name


#: decades a logarithmic heatmap scale spans at most
LOG_DECADES = 6


def heatmap_style(grids: Sequence[np.ndarray], *, log_scale: bool) -> dict[str, Any]:
    """``imshow`` keywords shared by a set of heatmap panels: correlations on a fixed
    diverging [−1, 1] scale, or (``log_scale``) errors on one logarithmic scale spanning the
    positive values of all ``grids`` (at least a decade wide, so a constant grid still has a
    scale, and at most ``LOG_DECADES`` decades: smaller values take the lowest colour). NaN
    cells are drawn blank."""
    if not log_scale:
        return {"vmin": -1, "vmax": 1, "cmap": "RdBu_r"}
    from matplotlib.colors import LogNorm

    values = np.concatenate([np.asarray(g, dtype=float).ravel() for g in grids])
    positive = values[values > 0]
    if positive.size == 0:
        raise ValueError("a log-scale heatmap needs at least one positive value")
    top = positive.max()
    # at most LOG_DECADES decades below the largest value: a fitted network's MSE of 1e-30
    # beside 1 would otherwise squeeze every informative value into one colour (issue 25)
    low = max(positive.min(), top * 10.0**-LOG_DECADES)
    return {"norm": LogNorm(low, max(top, low * 10), clip=True), "cmap": "viridis"}


def heatmap_panel(ax: Any, grid: np.ndarray, style: dict[str, Any], *,
                  x_ticklabels: Sequence[Any], y_ticklabels: Sequence[Any], xlabel: str,
                  ylabel: str, title: str) -> Any:
    """One heatmap panel (rows: ``y_ticklabels``, columns: ``x_ticklabels``) in ``style``
    (from ``heatmap_style``); returns the image, for a colorbar."""
    im = ax.imshow(grid, aspect="auto", **style)
    ax.set_xticks(range(len(x_ticklabels)), list(x_ticklabels), fontsize=7)
    ax.set_yticks(range(len(y_ticklabels)), list(y_ticklabels), fontsize=7)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    return im


def image_grid(path: Path, images: Sequence[Sequence[np.ndarray]], row_labels: Sequence[str],
               column_titles: Sequence[str], *, suptitle: str | None = None) -> str:
    """A grid of grey-scale pictures without ticks: ``images[i][j]`` in row i, column j, each
    row labelled on its left and the first row's columns titled (IC Fig. 2/3-style prediction
    grids). Saved with ``save``; returns the file name."""
    if len(row_labels) != len(images):
        raise ValueError(f"{len(images)} rows of images but {len(row_labels)} row labels")
    plt = pyplot()
    nrows, ncols = len(images), max(len(row) for row in images)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(0.75 * ncols + 1.4, 0.75 * nrows + (0.4 if suptitle else 0)))
    for i, row in enumerate(images):
        for j, img in enumerate(row):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(column_titles[j], fontsize=6)
        axes[i, 0].set_ylabel(row_labels[i], fontsize=6)
    if suptitle:
        fig.suptitle(suptitle, fontsize=8)
    return save(fig, path, tight=False)


def seed_band(ax: Any, x: Sequence[float], values: Sequence[Sequence[float]], style: str,
              label: str) -> None:
    """One line of means over seeds (``values[i]``: the seeds' values at ``x[i]``) with error
    bars of ± one sample standard deviation where there are several seeds."""
    means = [float(np.mean(v)) for v in values]
    if all(len(v) > 1 for v in values):
        sds = [float(np.std(v, ddof=1)) for v in values]
        ax.errorbar(x, means, yerr=sds, fmt=style, capsize=2, label=f"{label} (mean ± sd)")
    else:
        ax.plot(x, means, style, label=label)


def mark_unfitted(ax: Any, x: Sequence[float], y: Sequence[float],
                  label: str = "did not fit (excluded from findings)") -> None:
    """Red crosses at the points whose networks did not fit their training set."""
    if len(x):
        ax.plot(list(x), list(y), "x", color="red", ms=8, mew=1.5, label=label)
