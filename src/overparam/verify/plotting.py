"""Matplotlib for report figures: the non-interactive Agg backend, and saving a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (reports are written without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path, dpi: int = 90, *, tight: bool = True) -> str:
    """Lay out (unless ``tight`` is False, e.g. with a shared colorbar), write and close
    ``fig``; returns the file name for the report."""
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path.name
