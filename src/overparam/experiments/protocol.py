"""The experiment protocol: what a reproduction declares, and the one ``reproduce`` that runs
any of them.

A reproduction is one module of ``overparam.experiments`` with a module-level
``EXPERIMENT = Experiment(...)``: its id, paper, the figures or tables it reproduces, its
presets ("smoke" for the tests, "quick" for a 2-core machine, "paper" the paper's setup), its
points, ``compute_point`` and ``outputs`` (what it writes, from the finished points).
A reproduction may also declare a "standard" preset (the one whose findings a researcher can
trust on a 2-core machine: several seeds, budgets that reach the preconditions; issue 25).
Its ``outputs`` return ``findings`` (``experiments.findings.Finding``): results.json carries
them and summary.md's verdict lines are rendered from them. ``reproduce`` preflights the
output directory, runs the points on the sweep runner (resumable,
any executor), and writes results.json, results.csv, the figures and summary.md as one output
set (``common.outputs``): a reader never sees two runs mixed, and an interrupted run leaves
the previous outputs untouched. The registry (``experiments.registry``) finds the modules.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from overparam.common.outputs import output_set, preflight
from overparam.experiments.findings import Finding, render
from overparam.experiments.runner import point_key, run_sweep
from overparam.numerics.atomic import write_text_atomic
from overparam.numerics.backend import get_xp

__all__ = ["OPTIONAL_PRESETS", "PRESETS", "STANDARD_FILES", "Experiment", "Outputs", "Summary",
           "regenerate", "render_summary", "reproduce", "timing", "timing_text"]

PRESETS = ("smoke", "quick", "paper")
#: presets a reproduction may declare besides ``PRESETS``
OPTIONAL_PRESETS = ("standard",)
#: the files every reproduction writes besides its figures
STANDARD_FILES = ("results.json", "results.csv", "summary.md")


@dataclass(frozen=True)
class Summary:
    """summary.md, in the order it is rendered: what was run (``setup``), every difference
    from the paper's setup, our numbers (``body``, Markdown lines), then each of the paper's
    findings beside our number and whether ours shows it (``comparisons``)."""

    title: str
    setup: str
    differences: Sequence[str]
    body: Sequence[str] = ()
    comparisons_heading: str = "The paper's findings beside ours:"
    comparisons: Sequence[str] = ()
    #: ``findings.Finding``s: rendered (``findings.render``) before ``comparisons``
    findings: Sequence[Finding] = ()


@dataclass(frozen=True)
class Outputs:
    """What an experiment writes from its finished points: ``metadata`` for results.json
    (beside the experiment id, preset, config and the points), the rows of
    results.csv under ``csv_header``, ``draw(name, path)`` for each declared figure, and the
    summary."""

    metadata: Mapping[str, object]
    csv_header: Sequence[str]
    csv_rows: Sequence[Sequence[object]]
    draw: Callable[[str, Path], None]
    summary: Summary

    @property
    def findings(self) -> Sequence[Finding]:
        """The summary's findings (what results.json's ``findings`` holds)."""
        return self.summary.findings


@dataclass(frozen=True)
class Experiment:
    """A reproduction's declaration.

    Attributes:
        id: e.g. "ic.fcn-depth" (what ``overparam reproduce`` takes).
        paper: the paper's short name (IC, EM, RR).
        reproduces: the figures/tables, e.g. "Fig. 2, 13, 14".
        presets: "smoke", "quick" and "paper", each a JSON-ready config dict.
        points: (preset, seed, backend) → the sweep's points (JSON-ready dicts).
        compute_point: (point, scratch=None) → result; module-level (pickled for workers),
            random only through the point.
        outputs: (rows, preset=, seed=, backend=) → ``Outputs``.
        figures: figure file name → what of the paper it reproduces, in summary order.
        estimated_bytes: preset → a stated upper estimate of what the run writes (the
            preflight checks that much free space).
    """

    id: str
    paper: str
    reproduces: str
    presets: Mapping[str, Mapping]
    points: Callable[[str, int, str], list[dict]]
    compute_point: Callable[..., dict]
    outputs: Callable[..., Outputs]
    figures: Mapping[str, str] = field(default_factory=dict)
    estimated_bytes: Callable[[str], int] = lambda preset: 100 * 2**20

    def __post_init__(self) -> None:
        if not set(PRESETS) <= set(self.presets) <= {*PRESETS, *OPTIONAL_PRESETS}:
            raise ValueError(f"presets: expected exactly {PRESETS} (and optionally "
                             f"{OPTIONAL_PRESETS}), got {sorted(self.presets)}")
        clash = set(self.figures) & {*STANDARD_FILES, "points"}
        if clash:
            raise ValueError(f"figures: {sorted(clash)} are the standard files' names")

    def reproduce(self, out_dir: str | Path, **options: object) -> dict:
        """``protocol.reproduce`` of this experiment (options: preset, seed, backend,
        executor, workers, scheduler, resume, progress); each reproduction module exports it
        as its ``reproduce``."""
        return reproduce(self, out_dir, **options)


def render_summary(summary: Summary, figures: Mapping[str, str]) -> str:
    """summary.md's text."""
    lines = [f"# {summary.title}", "", summary.setup, "",
             "Where this differs from the paper: " + "\n".join(summary.differences)]
    if summary.body:
        lines += ["", *summary.body]
    if summary.comparisons or summary.findings:
        lines += ["", summary.comparisons_heading,
                  *(f"- {render(f)}" for f in summary.findings),
                  *(f"- {c}" for c in summary.comparisons)]
    if figures:
        lines += ["", "Figures: " + ", ".join(f"{name} ({what})"
                                              for name, what in figures.items()) + "."]
    return "\n".join(lines) + "\n"


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def reproduce(experiment: Experiment, out_dir: str | Path, *, preset: str = "quick",
              seed: int = 0, backend: str = "numpy", executor: str = "serial",
              workers: int | None = None, scheduler: str | None = None, resume: bool = True,
              progress: bool = True) -> dict:
    """Run ``experiment`` at ``preset`` and write its output set under ``out_dir``:
    results.json, results.csv, the figures and summary.md (finished points under
    ``out_dir/points`` make ``resume`` continue an interrupted run).

    Returns {"points": rows, "summary": summary text, "files": paths written}. ValueError for
    a bad preset or backend, an unusable ``out_dir`` (before any point runs)."""
    if preset not in experiment.presets:
        raise ValueError(f"preset: expected one of {sorted(experiment.presets)}, "
                         f"got {preset!r}")
    get_xp(backend=backend)  # a clear error now, not in a worker, if CuPy is missing
    out = Path(out_dir)
    preflight(out, need_bytes=experiment.estimated_bytes(preset),
              files=(*STANDARD_FILES, *experiment.figures), folders=("points",))
    started = time.monotonic()
    rows = run_sweep(experiment.points(preset, seed, backend),
                     functools.partial(_timed, experiment.compute_point), out,
                     executor=executor, workers=workers, scheduler=scheduler, resume=resume,
                     progress=progress, scratch=True)
    sweep_seconds = time.monotonic() - started
    _write_set(experiment, out, rows, preset=preset, seed=seed, backend=backend,
               sweep_seconds=sweep_seconds)
    summary = (out / "summary.md").read_text(encoding="utf-8")
    files = [out / name for name in (*STANDARD_FILES[:2], *experiment.figures, "summary.md")]
    return {"points": rows, "summary": summary, "files": files}


#: where the sweep's per-point timings are kept, beside the point files
TIMING_DIR = ".timing"


def _timed(compute: Callable[..., dict], point: dict, **extra: object) -> dict:
    """``compute(point, **extra)``, its wall-clock seconds (and the phases a reproduction
    returns as ``result["phases"]``, taken out of the result) written beside the point files
    (``points/.timing/<key>.json``): the results stay what the computation gives, the same on
    every run, and the timing is of the last attempt (a resumed point counts from its
    resumption)."""
    t0 = time.monotonic()
    result = compute(point, **extra)
    seconds = time.monotonic() - t0
    phases = result.pop("phases", {}) if isinstance(result, dict) else {}
    scratch = extra.get("scratch")
    if scratch is not None:
        folder = Path(scratch).parent / TIMING_DIR
        folder.mkdir(exist_ok=True)
        key = Path(scratch).name.removeprefix(".").removesuffix(".scratch")
        write_text_atomic(folder / f"{key}.json",
                          json.dumps({"seconds": seconds, "phases": phases}))
    return result


def timing(rows: Sequence[Mapping], out_dir: Path | None,
           sweep_seconds: float | None = None) -> dict:
    """Where the time went: seconds per point (the last attempt's, from
    ``points/.timing``), the points' phases summed (training, measurements, kernel: where a
    reproduction records them) and the whole sweep's wall time (this invocation's)."""
    per_point, phases = [], {}
    for r in rows:
        t = {}
        if out_dir is not None:
            path = Path(out_dir) / "points" / TIMING_DIR / f"{point_key(r['point'])}.json"
            if path.exists():
                t = json.loads(path.read_text(encoding="utf-8"))
        if not t and isinstance(r.get("result"), Mapping) and "seconds" in r["result"]:
            # points computed before the timings moved beside the point files
            t = {"seconds": r["result"]["seconds"], "phases": r["result"].get("phases", {})}
        per_point.append({"point": r["point"], "seconds": t.get("seconds"),
                          "phases": t.get("phases", {})})
        for k, v in t.get("phases", {}).items():
            phases[k] = phases.get(k, 0.0) + float(v)
    known = [p["seconds"] for p in per_point if p["seconds"] is not None]
    return {"sweep_seconds": sweep_seconds, "points_seconds": sum(known) if known else None,
            "phases_seconds": phases, "per_point": per_point}


def _seconds(value: float) -> str:
    return f"{value:,.0f} s" if value >= 10 else f"{value:.2g} s"


#: point fields that say where a point runs, not what it computes
_PLACE_KEYS = {"preset", "backend", "dataset", "data_dir"}


def timing_text(t: Mapping) -> str:
    """summary.md's "Where the time went" line, from results.json's ``timing``: the sweep's
    wall time, the points' seconds and their phases summed (largest first), and the slowest
    point."""
    parts = []
    if t.get("sweep_seconds") is not None:
        parts.append(f"the sweep took {_seconds(t['sweep_seconds'])} of wall time")
    if t.get("points_seconds") is not None:
        parts.append(f"its points {_seconds(t['points_seconds'])} between them")
    phases = t.get("phases_seconds") or {}
    if phases:
        parts.append("phases summed over the points: " + ", ".join(
            f"{k} {_seconds(v)}" for k, v in sorted(phases.items(), key=lambda kv: -kv[1])))
    else:
        parts.append("no phases recorded (points computed before they were)")
    timed = [p for p in t.get("per_point", []) if p.get("seconds") is not None]
    if timed:
        top = max(timed, key=lambda p: p["seconds"])
        label = ", ".join(f"{k} {v}" for k, v in top["point"].items()
                          if k not in _PLACE_KEYS and isinstance(v, (int, float, str)))
        parts.append(f"the slowest point ({label}) {_seconds(top['seconds'])}")
    return "Where the time went: " + "; ".join(parts) + "."


def _write_set(experiment: Experiment, out: Path, rows: list, *, preset: str, seed: int,
               backend: str, sweep_seconds: float | None, extra: Mapping | None = None,
               timing_override: Mapping | None = None) -> None:
    made = experiment.outputs(rows, preset=preset, seed=seed, backend=backend)
    spent = timing_override if timing_override is not None else timing(rows, out, sweep_seconds)
    summary = render_summary(made.summary, experiment.figures) + "\n" + timing_text(spent) + "\n"
    results = {"experiment": experiment.id, "preset": preset,
               "config": experiment.presets[preset], **made.metadata, **(extra or {}),
               "findings": [f.to_json() for f in made.findings],
               "timing": spent, "points": rows}
    with output_set(out, f"reproduction {experiment.id}") as staged:
        staged.write_text("results.json", json.dumps(results, indent=1) + "\n")
        staged.write_text("results.csv", _csv_text(made.csv_header, made.csv_rows))
        for name in experiment.figures:
            made.draw(name, staged.path(name))
        staged.write_text("summary.md", summary)


def regenerate(experiment: Experiment, out_dir: str | Path, *,
               rows: list | None = None) -> None:
    """Write ``out_dir``'s outputs again from its results.json's points (or ``rows``), without
    computing any point: the findings, summary, CSV and figures of a committed output follow
    the current code. The directory keeps plain files (a committed output is not a set of
    links): the set is staged in a temporary directory and its files copied over; its
    ``timing`` and preset/seed/backend are kept from the old results."""
    out = Path(out_dir)
    old = json.loads((out / "results.json").read_text(encoding="utf-8"))
    rows = old["points"] if rows is None else rows
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / out.name
        _write_set(experiment, stage, rows, preset=old["preset"], seed=old.get("seed", 0),
                   backend=old.get("backend", "numpy"), sweep_seconds=None,
                   extra={"regenerated_from_points": True},
                   timing_override=old.get("timing") or timing(rows, out))
        for f in stage.iterdir():
            if f.is_file() or f.is_symlink():
                target = f.resolve()
                if target.is_file() and not f.name.startswith("."):
                    shutil.copyfile(target, out / f.name)
