"""Generated documentation pages (an mkdocs hook, and a script).

The pages that follow from data are never written by hand:

- ``papers/{ic,em,rr}.md``: per paper, each claim with its statement, today's verdict, its
  evidence, its counterexample (the call that re-runs it) and its figures — from the report in
  ``docs/report/report.json`` (written by ``overparam verify --out docs/report``).
- ``reproductions.md``: each folder of ``docs/reproductions/`` with its summary and figures.
- ``api/*.md``: one API reference page per public module of the package (mkdocstrings reads
  the docstrings), and ``api/index.md`` listing them.

mkdocs runs ``on_files`` while building (``hooks:`` in mkdocs.yml). As a script,
``python docs/hooks.py OUT_DIR [REPORT_JSON]`` writes the same pages into OUT_DIR.
"""

from __future__ import annotations

import json
import pkgutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPORT = DOCS / "report" / "report.json"
PAPERS = {
    "IC": ("ic", "Identity Crisis: Memorization and Generalization under Extreme "
                 "Overparameterization (Zhang, Bengio, Hardt, Mozer, Singer, ICLR 2020)"),
    "EM": ("em", "Extreme Memorization via Scale of Initialization (Mehta, Cutkosky, "
                 "Neyshabur)"),
    "RR": ("rr", "Understanding Deep Learning Requires Rethinking Generalization (Zhang, "
                 "Bengio, Hardt, Recht, Vinyals, ICLR 2017)"),
}
#: Modules documented on their own page: every module of the package whose name has no
#: leading underscore, except the claims' check implementations (``verify.checks``: their
#: claims are documented per paper) and ``__main__``.
SKIP_PREFIXES = ("overparam.verify.checks",)


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _metrics_line(metrics: dict) -> str:
    """The scalar metrics of an evidence as one sentence (lists and tables left out)."""
    parts = [f"{k.replace('_', ' ')} = {_number(v)}" for k, v in metrics.items()
             if isinstance(v, int | float | str | bool) and not isinstance(v, dict)]
    return "; ".join(parts)


def _figure_path(fig: str) -> str:
    """A figure of the report, relative to a page in papers/."""
    return f"../report/{Path(fig).name}"


def paper_page(report: dict, paper: str) -> str:
    """The Markdown page of one paper's claims from a report dict."""
    from overparam.verify.report import key_number

    slug, title = PAPERS[paper]
    env = report["environment"]
    claims = [c for c in report["claims"] if c["paper"] == paper]
    out = [f"# {paper}: {title}", "",
           f"Verdicts from the report of {report['created']} (overparam {report['overparam']}, "
           f"level `{env['level']}`, seed {env['seed']}, backend `{env['backend']}`); the "
           f"[full report](../report/report.md) has every number.", "",
           "| claim | where | verdict | key number |", "|---|---|---|---|"]
    out += [f"| [`{c['id']}`](#{c['id'].replace('.', '')}) | {c['where']} | "
            f"**{c['verdict']}** | {key_number(c)} |" for c in claims]
    for c in claims:
        out += ["", f"## {c['id']}", "", f"*{c['where']}* — **{c['verdict']}**", "",
                f"> {c['statement']}", ""]
        for ev in c["evidence"]:
            out += [f"- **{ev['kind']}** ({ev['verdict']}): {ev['details']}".rstrip()]
            line = _metrics_line(ev["metrics"] or {})
            if line:
                out += [f"    - {line}"]
            rule = (ev.get("tolerance") or {}).get("rule")
            if rule:
                out += [f"    - tolerance: {rule}"]
        figures = [f for ev in c["evidence"] for f in ev.get("figures", [])]
        for fig in figures:
            out += ["", f"![{c['id']}: {Path(fig).stem}]({_figure_path(fig)})"]
        cx = c["counterexample"]
        if cx:
            module, func = cx["entry_point"].split(":")
            out += ["", "Counterexample, re-checked at higher precision "
                        f"({_metrics_line(cx['recheck'])}):", "", "```python",
                    f"from {module} import {func}",
                    f"{func}(**{json.dumps(cx['arguments'])})", "```"]
    return "\n".join(out) + "\n"


def reproductions_page(root: Path) -> str:
    """The reproductions: each folder's summary linked and its figures shown."""
    out = ["# Reproductions", "",
           "Paper figures reproduced by `overparam reproduce ID --preset quick`; each folder "
           "holds the summary (our numbers beside the paper's, and where sizes and data "
           "differ), the CSV and the figures.", ""]
    # a folder without its summary is a reproduction still being written: left out
    for folder in sorted(p for p in root.iterdir() if (p / "summary.md").is_file()):
        rel = f"reproductions/{folder.name}"
        out += [f"## {folder.name}", "", f"[Summary]({rel}/summary.md)"]
        out += [f" · [{f.name}]({rel}/{f.name})" for f in sorted(folder.glob("*.csv"))]
        out += [""]
        out += [f"![{folder.name}: {f.stem}]({rel}/{f.name})\n"
                for f in sorted(folder.glob("*.png"))]
    return "\n".join(out) + "\n"


def public_modules() -> list[str]:
    """Every public module of the package (no leading underscore in any part)."""
    import overparam

    names = ["overparam"]
    for info in pkgutil.walk_packages(overparam.__path__, "overparam."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or info.name.startswith(SKIP_PREFIXES):
            continue
        names.append(info.name)
    return sorted(names)


def api_pages() -> dict[str, str]:
    """{path: Markdown} of the API reference: an index and one page per public module."""
    modules = public_modules()
    pages = {f"api/{m}.md": f"# `{m}`\n\n::: {m}\n" for m in modules}
    index = ["# API reference", "",
             "Generated from the docstrings, one page per public module.", ""]
    index += [f"- [`{m}`]({m}.md)" for m in modules]
    pages["api/index.md"] = "\n".join(index) + "\n"
    return pages


def generated_pages(report_path: Path = REPORT) -> dict[str, str]:
    """{path relative to docs/: Markdown} of every generated page."""
    report = json.loads(report_path.read_text(encoding="utf-8"))
    pages = {f"papers/{slug}.md": paper_page(report, paper)
             for paper, (slug, _) in PAPERS.items()}
    pages["reproductions.md"] = reproductions_page(DOCS / "reproductions")
    pages.update(api_pages())
    return pages


def on_files(files, config):
    """mkdocs hook: add the generated pages to the build."""
    from mkdocs.structure.files import File

    for path, content in generated_pages().items():
        files.append(File.generated(config, path, content=content))
    return files


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python docs/hooks.py OUT_DIR [REPORT_JSON]")
    out_dir = Path(sys.argv[1])
    report = Path(sys.argv[2]) if len(sys.argv) == 3 else REPORT
    for rel, text in generated_pages(report).items():
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(target)
