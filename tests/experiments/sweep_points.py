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


TINY_MODULE = '''"""A reproduction written by a test: squares of 0..n-1 plus the seed."""
from overparam.experiments.protocol import Experiment, Outputs, Summary

LOG = {log!r}
PRESETS = {{"smoke": {{"n": 3}}, "quick": {{"n": 4}}, "paper": {{"n": 5}}}}


def points(preset, seed, backend):
    return [{{"x": x, "seed": seed}} for x in range(PRESETS[preset]["n"])]


def compute_point(point, scratch=None):
    with open(LOG, "a") as fh:
        fh.write(f"{{point['x']}}\\n")
    return {{"square": point["x"] ** 2 + point["seed"]}}


def outputs(rows, *, preset, seed, backend):
    total = sum(r["result"]["square"] for r in rows)

    def draw(name, path):
        path.write_text(f"{{total}}\\n", encoding="utf-8")

    return Outputs(
        metadata={{"total": total}}, csv_header=["x", "square"],
        csv_rows=[[r["point"]["x"], r["result"]["square"]] for r in rows], draw=draw,
        summary=Summary(title="tiny.squares", setup=f"{{len(rows)}} squares",
                        differences=["no paper: a test"],
                        comparisons=[f"sum of squares {{total}} (the paper's: none)"]))


EXPERIMENT = Experiment(
    id="tiny.squares", paper="T", reproduces="a test of the protocol", presets=PRESETS,
    points=points, compute_point=compute_point, outputs=outputs,
    figures={{"total.txt": "the sum"}}, estimated_bytes=lambda preset: 10_000)
'''


def install_tiny_experiment(folder: Path, monkeypatch) -> Path:
    """Add the reproduction ``tiny.squares`` as a module of ``overparam.experiments`` (a file
    in ``folder`` on the package's path — nothing else registers it); returns its call log."""
    import sys

    from overparam import experiments

    log = folder / "tiny-calls.log"
    (folder / "tinysquares.py").write_text(TINY_MODULE.format(log=str(log)), encoding="utf-8")
    monkeypatch.setattr(experiments, "__path__", [*experiments.__path__, str(folder)])
    monkeypatch.delitem(sys.modules, "overparam.experiments.tinysquares", raising=False)
    return log


def check_phase_timing(out: Path, phases: set[str]) -> None:
    """Issue 25's per-phase timings: results.json's timing sums each point's ``phases``
    (those named, all of them ≥ 0, and together no more than the point's seconds)."""
    import json

    timing = json.loads((Path(out) / "results.json").read_text())["timing"]
    assert set(timing["phases_seconds"]) == phases
    assert timing["per_point"]
    for p in timing["per_point"]:
        assert p["phases"] and set(p["phases"]) <= phases
        assert min(p["phases"].values()) >= 0
        assert sum(p["phases"].values()) <= p["seconds"]
