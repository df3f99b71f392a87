"""Report writers: the terminal table, report.json (the stable schema of DESIGN.md), report.md
with figures beside it, and the README's claims table generated from a report."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from overparam import __version__
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


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so a reader never
    sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
            examples += int(m.get("examples", 0))
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


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.md into ``out_dir`` (atomically); returns both paths."""
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    write_atomic(json_path, json.dumps(jsonable(report), indent=2, ensure_ascii=False) + "\n")
    write_atomic(md_path, markdown(report))
    return json_path, md_path


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
    """Replace the generated block of ``readme`` with ``readme_table(report)``."""
    text = readme.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{readme}: no generated claims-table block to replace")
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    write_atomic(readme, head + readme_table(report) + tail)
