"""Report writers: the terminal table, report.json (the stable schema described in the docs,
howto/report.md "Read the verification report"), report.md
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
from overparam.verify.types import OBSERVATION, VERDICTS, ClaimResult, jsonable

__all__ = ["MAX_CELL_ITEMS", "MAX_TABLE_ROWS", "README_BEGIN", "README_END", "build_report",
           "environment", "key_number", "load_report", "markdown", "readme_table", "terminal_table",
           "update_readme", "write_report"]


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
    """The report as a JSON-ready dict (schema: the docs' howto/report.md)."""
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


#: Rows of a per-run table shown in report.md; the rest are counted and left to report.json.
MAX_TABLE_ROWS = 20
#: Items of a list shown inside one table cell.
MAX_CELL_ITEMS = 8


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _fmt(value: Any) -> str:
    """One value as table-cell text: floats to 4 significant digits, lists and objects as
    short readable text (never JSON), ``|`` and newlines escaped for a Markdown table."""
    if value is None:
        text = "—"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, dict):
        text = "; ".join(f"{_label(k)}: {_fmt(v)}" for k, v in value.items()) or "—"
    elif isinstance(value, list):
        if not value:
            return "none"
        shown = ", ".join(_fmt(v) for v in value[:MAX_CELL_ITEMS])
        more = len(value) - MAX_CELL_ITEMS
        text = (f"[{shown}, … {len(value)} in all]" if more > 0 else f"[{shown}]")
    else:
        text = str(value)
    return text.replace("|", r"\|").replace("\n", " ")


def _label(key: Any) -> str:
    """A metric's key as words: ``worst_ratio_to_tolerance`` → "worst ratio to tolerance"."""
    return str(key).replace("_", " ")


def _sentence(text: str) -> str:
    text = str(text).strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _table(head: list[str], rows: list[list[Any]], more: int = 0) -> list[str]:
    """A Markdown table (with the blank line before it that Markdown needs); ``more`` rows
    left out are counted below it."""
    out = ["", "| " + " | ".join(_fmt(h) for h in head) + " |",
           "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    if more:
        out += ["", f"… {more} more rows in report.json."]
    return out + [""]


def _records_table(records: list[dict]) -> list[str]:
    """A list of per-run records as a table: one column per key (in first-seen order), at
    most ``MAX_TABLE_ROWS`` rows."""
    keys: list[str] = []
    for rec in records:
        keys += [k for k in rec if k not in keys]
    shown = records[:MAX_TABLE_ROWS]
    return _table([_label(k) for k in keys], [[rec.get(k) for k in keys] for rec in shown],
                  more=len(records) - len(shown))


def _metrics(metrics: dict) -> list[str]:
    """An evidence's metrics: the scalars (and short lists) in one two-column table, metrics
    that are objects of scalars grouped into tables by their keys (one row per metric), and
    each list of records as its own table."""
    scalars, groups, record_lists = [], {}, []
    for key, value in metrics.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            record_lists.append((key, value))
        elif isinstance(value, dict) and value and all(_scalar(v) for v in value.values()):
            groups.setdefault(tuple(value), []).append((key, value))
        else:
            scalars.append([_label(key), value])
    out = _table(["metric", "value"], scalars) if scalars else []
    for keys, members in groups.items():
        out += _table(["", *map(_label, keys)],
                      [[f"**{_label(name)}**", *(v[k] for k in keys)] for name, v in members])
    for key, records in record_lists:
        out += ["", f"**{_label(key)}** ({len(records)} rows):", *_records_table(records)]
    return out


def _tolerance(tolerance: dict | None, kind: str) -> list[str]:
    if not tolerance:
        if kind == OBSERVATION:
            return ["", "An observation: no tolerance, and it does not vote in the verdict.", ""]
        return []
    out = [""]
    if "rule" in tolerance:
        out.append(f"**Tolerance rule:** {_sentence(tolerance['rule'])}")
    for key, value in tolerance.items():
        if key != "rule":
            text = value if isinstance(value, str) else _fmt(value)
            out.append(f"{_label(key).capitalize()}: {_sentence(text)}")
    return ["", " ".join(out[1:]), ""] if len(out) > 1 else []


def _evidence_headings(claim_id: str, evidence: list[dict]) -> list[str]:
    """A heading per evidence, distinct across the report: the claim, the kind and, when a
    claim has that kind more than once, its number among them."""
    counts: dict[str, int] = {}
    for ev in evidence:
        counts[ev["kind"]] = counts.get(ev["kind"], 0) + 1
    seen: dict[str, int] = {}
    heads = []
    for ev in evidence:
        kind = ev["kind"]
        seen[kind] = seen.get(kind, 0) + 1
        number = f" ({seen[kind]} of {counts[kind]})" if counts[kind] > 1 else ""
        verdict = "does not vote" if ev["verdict"] == OBSERVATION else ev["verdict"]
        heads.append(f"### `{claim_id}` · {kind}{number} — {verdict}")
    return heads


def _verdict_line(claim: dict) -> str:
    verdicts = [ev["verdict"] for ev in claim["evidence"]]
    tally = ", ".join(f"{verdicts.count(v)} {v}" for v in (*VERDICTS, OBSERVATION)
                      if v in verdicts)
    return (f"**Verdict: {claim['verdict']}**, from the evidence below ({tally or 'none'}; "
            f"observations do not vote), in {claim['seconds']:.1f} s.")


def _call_literal(arguments: dict) -> str:
    return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in arguments.items()) + "}"


def _counterexample(claim: dict) -> list[str]:
    cx = claim["counterexample"]
    module, func = cx["entry_point"].split(":")
    out = ["", f"### `{claim['id']}` · counterexample", "",
           f"`{cx['entry_point']}` called with these arguments violates the claim:",
           *_table(["argument", "value"], [[f"`{k}`", v] for k, v in cx["arguments"].items()]),
           "Re-run it:", "", "```python", f"from {module} import {func}", "",
           f"arguments = {_call_literal(cx['arguments'])}", f"{func}(**arguments)", "```", "",
           "**Violation** (at the search's float precision):",
           *_table(["quantity", "value"], [[_label(k), v] for k, v in cx["violation"].items()]),
           "**Higher-precision re-check** (what confirmed it):",
           *_table(["quantity", "value"], [[_label(k), v] for k, v in cx["recheck"].items()])]
    return out


def markdown(report: dict) -> str:
    """report.md for a person: a summary table, then per claim its heading, statement and
    verdict, each evidence under its own heading (claim, kind, number when repeated) with its
    details, the tolerance rule as a sentence, its metrics as tables (per-run lists capped at
    ``MAX_TABLE_ROWS`` rows, the rest left to report.json) and its figures, and any
    counterexample as a table of arguments with the call that re-runs it."""
    env = report["environment"]
    out = ["# overparam verification report", "",
           f"overparam {report['overparam']}, created {report['created']}, level "
           f"`{env['level']}`, seed {env['seed']}, backend `{env['backend']}`. Every number "
           "below is also in report.json, beside this file.", "",
           "| claim | verdict | key number | seconds |", "|---|---|---|---|"]
    out += [f"| `{c['id']}` | **{c['verdict']}** | {key_number(c)} | {c['seconds']:.1f} |"
            for c in report["claims"]]
    for c in report["claims"]:
        out += ["", f"## `{c['id']}` — {c['verdict']}", "",
                f"*{c['paper']}, {c['where']}.*", "", f"> {c['statement']}", "",
                _verdict_line(c)]
        if c.get("exercises"):
            out += ["", "Functions under test: " + ", ".join(
                f"`{name}`" for name in c["exercises"]) + "."]
        for head, ev in zip(_evidence_headings(c["id"], c["evidence"]), c["evidence"],
                            strict=True):
            out += ["", head, ""]
            if ev["details"]:
                out.append(_sentence(ev["details"]))
            out += _tolerance(ev["tolerance"], ev["kind"])
            out += _metrics(ev["metrics"] or {})
            out += [f"\n![{c['id']}: {Path(fig).stem}]({fig})\n" for fig in ev.get("figures", [])]
        if c["counterexample"]:
            out += _counterexample(c)
    text = "\n".join(out)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


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
