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


def checkpointed_training(point: dict, scratch: Path) -> dict:
    """Heavy-ball on a small least-squares problem, checkpointing every step into ``scratch``;
    logs each gradient evaluation to point['log'] and sleeps point['sleep'] per step."""
    from overparam.numerics.checkpoint import Checkpoint
    from overparam.numerics.optimizers import Momentum
    from overparam.numerics.schedules import Constant
    from overparam.numerics.trainer import train

    rng = np.random.default_rng(point["seed"])
    X, y = rng.standard_normal((6, 4)), rng.standard_normal(6)

    def loss_and_grad(p):
        if point.get("log"):
            with open(point["log"], "a") as fh:
                fh.write("1\n")
        r = X @ p["w"] - y
        return 0.5 * float(r @ r), {"w": X.T @ r}

    res = train({"w": np.zeros(4)}, loss_and_grad, Momentum(0.5), Constant(0.02),
                max_steps=point["steps"], checkpoint=Checkpoint(scratch / "t.npz", 0.0),
                callback=lambda *_: time.sleep(point.get("sleep", 0.0)))
    return {"w": res.params["w"].tolist(), "steps": res.steps}


def pid_then_sleep(point: dict) -> dict:
    """Logs this process's id to point['log'], then sleeps point['sleep'] seconds."""
    import os

    with open(point["log"], "a") as fh:
        fh.write(f"{os.getpid()}\n")
    time.sleep(point["sleep"])
    return {"x": point["x"]}
