"""Matplotlib for figures of reports and reproductions: the non-interactive Agg backend, and
saving a figure atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from overparam.numerics.atomic import write_atomic

__all__ = ["pyplot", "save"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (reports are written without a display)."""
    import matplotlib

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
