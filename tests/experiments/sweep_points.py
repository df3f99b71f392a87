"""Module-level compute functions for the runner tests (worker processes import them)."""

import time
from pathlib import Path

import numpy as np


def noisy_square(point: dict) -> dict:
    """A deterministic result from the point's seed; logs each call to point['log']."""
    if point.get("log"):
        with open(point["log"], "a") as fh:
            fh.write(f"{point['x']}\n")
    if point.get("sleep"):
        time.sleep(point["sleep"])
    rng = np.random.default_rng(point["seed"])
    return {"value": point["x"] ** 2 + float(rng.normal()), "pid_free": True}


def computed(log: Path) -> list[int]:
    return [int(v) for v in log.read_text().split()] if log.exists() else []
