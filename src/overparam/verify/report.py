"""Report writers: the terminal table, report.json (the stable schema of DESIGN.md), report.md
with figures beside it — written as one output set, so a reader never sees two runs mixed —
and the README's claims table generated from a report (read back through ``load_report``,
which names the file and what is wrong with it)."""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Any

from overparam import __version__
from overparam.common.outputs import OutputSet
from overparam.numerics.atomic import write_text_atomic
from overparam.verify.types import ClaimResult, jsonable


def environment(backend: str, level: str, seed: int) -> dict:
    """What produced a report: versions, platform, backend, level and seed."""
    import hypothesis
    import numpy
    import scipy
    import sympy

    env = {"python": platform.python_version(), "platform": platform.platform(),
           "numpy": numpy.__version__, "scipy": scipy.__version__, "sympy": sympy.__version__,
           "hypothesis": hypothesis.__version__, "backend": backend, "level": level,
           "seed": seed}
    if backend == "cupy":
        import cupy

        env["cupy"] = cupy.__version__
        env["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return env


def build_report(results: list[ClaimResult], env: dict) -> dict:
    """The report as a JSON-ready dict (schema: DESIGN.md)."""
    return {
        "overparam": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "environment": env,
        "claims": [r.to_json() for r in results],
    }


def key_number(claim: dict) -> str:
    """The headline number of a claim: the worst discrepancy/tolerance ratio over its
    evidence, and how many search examples ran."""
    worst, examples = None, 0
    for ev in claim["evidence"]:
        m = ev.get("metrics") or {}
        for key in ("worst_ratio_to_tolerance", "ratio_to_tolerance"):
            v = m.get(key)
            if isinstance(v, (int, float)):
                worst = v if worst is None else max(worst, v)
            elif v == "inf":
                worst = float("inf")
        if ev["kind"] == "counterexample-search":
            examples += int(m.get("distinct_examples", m.get("examples", 0)))
    parts = []
    if worst is not None:
        parts.append(f"worst err/tol {worst:.3g}")
    if examples:
        parts.append(f"{examples} searched")
    return ", ".join(parts) or "-"


def terminal_table(report: dict) -> str:
    """A plain-text table: id, verdict, key number, seconds."""
    rows = [(c["id"], c["verdict"], key_number(c), f"{c['seconds']:.1f}")
            for c in report["claims"]]
    head = ("claim", "verdict", "key number", "s")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 400 else text[:400] + " …"
    return str(value)


def markdown(report: dict) -> str:
    """report.md: per claim its statement, verdict, each evidence with metrics, tolerance,
    details and figures, and any counterexample with the call that re-runs it."""
    env = report["environment"]
    out = ["# overparam verification report\n",
           f"overparam {report['overparam']}, created {report['created']}, level "
           f"`{env['level']}`, seed {env['seed']}, backend `{env['backend']}`.\n",
           "| claim | verdict | key number | seconds |", "|---|---|---|---|"]
    out += [f"| `{c['id']}` | **{c['verdict']}** | {key_number(c)} | {c['seconds']:.1f} |"
            for c in report["claims"]]
    for c in report["claims"]:
        out += ["", f"## `{c['id']}` — {c['verdict']}", "",
                f"*{c['paper']}, {c['where']}.* {c['statement']}", ""]
        for ev in c["evidence"]:
            out.append(f"### {ev['kind']}: {ev['verdict']}")
            out.append("")
            if ev["details"]:
                out += [ev["details"], ""]
            if ev["tolerance"]:
                out += [f"Tolerance: {_fmt(ev['tolerance'])}", ""]
            for k, v in (ev["metrics"] or {}).items():
                out.append(f"- {k}: {_fmt(v)}")
            for fig in ev.get("figures", []):
                out += ["", f"![{c['id']}]({fig})"]
            out.append("")
        if c["counterexample"]:
            cx = c["counterexample"]
            module, func = cx["entry_point"].split(":")
            out += ["### Counterexample", "",
                    "```python", f"from {module} import {func}",
                    f"arguments = {json.dumps(cx['arguments'])}",
                    f"{func}(**arguments)", "```", "",
                    f"Violation: {_fmt(cx['violation'])}", "",
                    f"Higher-precision re-check: {_fmt(cx['recheck'])}", ""]
    return "\n".join(out)


def write_report(report: dict, outputs: OutputSet) -> tuple[Path, Path]:
    """Stage report.json and report.md (UTF-8) in ``outputs``, the output set that also holds
    the run's figures; returns the paths both will have once the set is committed."""
    outputs.write_text("report.json",
                       json.dumps(jsonable(report), indent=2, ensure_ascii=False) + "\n")
    outputs.write_text("report.md", markdown(report))
    return outputs.out / "report.json", outputs.out / "report.md"


def _expect(ok: bool, path: Path, what: str) -> None:
    if not ok:
        raise ValueError(f"{path}: not an overparam report ({what})")


def load_report(path: str | Path) -> dict:
    """A report.json read back and checked for what the README table uses: ValueError naming
    the file and what is wrong (unreadable, empty, truncated, not JSON, wrong shape or
    types)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a report.json file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise ValueError(f"{path}: empty, expected a report.json")
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (truncated?): {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}") from None
    _expect(isinstance(report, dict), path, f"expected an object, got {type(report).__name__}")
    for key, kind in (("overparam", str), ("created", str), ("environment", dict),
                      ("claims", list)):
        _expect(isinstance(report.get(key), kind), path, f"'{key}' must be a {kind.__name__}")
    env = report["environment"]
    _expect(isinstance(env.get("level"), str) and isinstance(env.get("seed"), int), path,
            "'environment' needs a str 'level' and an int 'seed'")
    for i, c in enumerate(report["claims"]):
        where = f"claims[{i}]"
        _expect(isinstance(c, dict), path, f"{where} must be an object")
        for key in ("id", "paper", "where", "verdict"):
            _expect(isinstance(c.get(key), str), path, f"{where}.{key} must be a str")
        _expect(isinstance(c.get("seconds"), (int, float)), path, f"{where}.seconds: a number")
        _expect(isinstance(c.get("evidence"), list), path, f"{where}.evidence must be a list")
        for j, ev in enumerate(c["evidence"]):
            _expect(isinstance(ev, dict) and isinstance(ev.get("kind"), str), path,
                    f"{where}.evidence[{j}] must be an object with a str 'kind'")
            metrics = ev.get("metrics") or {}
            _expect(isinstance(metrics, dict), path, f"{where}.evidence[{j}].metrics: object")
            examples = metrics.get("examples", 0)
            _expect(isinstance(examples, int) and not isinstance(examples, bool), path,
                    f"{where}.evidence[{j}].metrics.examples must be an int")
    return report


README_BEGIN = "<!-- claims-table:begin (generated by `overparam readme-table`) -->"
README_END = "<!-- claims-table:end -->"


def readme_table(report: dict) -> str:
    """The README's claims table, generated from a report."""
    env = report["environment"]
    lines = [README_BEGIN, "",
             f"From a `--level {env['level']}` report (seed {env['seed']}, overparam "
             f"{report['overparam']}, {report['created'][:10]}):", "",
             "| claim | paper, where | verdict | key number |", "|---|---|---|---|"]
    lines += [f"| `{c['id']}` | {c['paper']}, {c['where']} | {c['verdict']} | "
              f"{key_number(c)} |" for c in report["claims"]]
    return "\n".join(lines + ["", README_END])


def update_readme(readme: Path, report: dict) -> None:
    """Replace the generated block of ``readme`` with ``readme_table(report)``, atomically,
    keeping the file's mode and, for a symlink, replacing the file it points to. ValueError
    naming the file unless it holds exactly one begin marker followed by one end marker."""
    text = readme.read_text(encoding="utf-8")
    begins, ends = text.count(README_BEGIN), text.count(README_END)
    if begins != 1 or ends != 1:
        raise ValueError(f"{readme}: expected one claims-table begin and one end marker, found "
                         f"{begins} and {ends}")
    head, rest = text.split(README_BEGIN, 1)
    if README_END not in rest:
        raise ValueError(f"{readme}: the claims-table end marker comes before the begin marker")
    tail = rest.split(README_END, 1)[1]
    write_text_atomic(readme, head + readme_table(report) + tail)
