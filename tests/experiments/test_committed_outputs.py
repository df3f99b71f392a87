"""Every committed reproduction under docs/reproductions/ (issue 25): its findings are data
whose verdicts respect their preconditions, and its summary's verdict lines are those
findings, number for number; the README's reproduction table is generated from them."""

import json
import re
from pathlib import Path

import pytest

from overparam.experiments import findings as fd
from overparam.experiments.protocol import timing_text

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "reproductions"
OUTPUTS = sorted(p for p in DOCS.iterdir() if p.is_dir())
README_START, README_END = "<!-- reproductions:start -->", "<!-- reproductions:end -->"


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_there_are_committed_outputs():
    assert len(OUTPUTS) >= 9


@pytest.mark.parametrize("out", OUTPUTS, ids=[p.name for p in OUTPUTS])
def test_no_finding_is_shown_with_its_precondition_unmet(out):
    data = _results(out)
    assert data.get("findings"), f"{out.name}: results.json has no findings"
    for raw in data["findings"]:
        assert raw["verdict"] in fd.VERDICTS
        if not raw["precondition"]["met"]:
            assert raw["verdict"] == fd.NOT_ASSESSABLE, (out.name, raw["key"])
        fd.from_json(raw)  # the constructor's checks, again


@pytest.mark.parametrize("out", OUTPUTS, ids=[p.name for p in OUTPUTS])
def test_each_summary_says_where_its_time_went(out):
    data = _results(out)
    lines = (out / "summary.md").read_text(encoding="utf-8").splitlines()
    if "timing" in data:
        assert timing_text(data["timing"]) in lines
    if out.name.endswith("-standard"):  # issue 25: per-phase timings in the standard outputs
        assert data["timing"]["phases_seconds"], f"{out.name}: no per-phase timings"


@pytest.mark.parametrize("out", OUTPUTS, ids=[p.name for p in OUTPUTS])
def test_each_summary_verdict_line_is_its_finding(out):
    """summary.md holds every finding rendered from results.json, and every verdict line in
    summary.md is one of them: the numbers a reader sees are the results' numbers."""
    data = _results(out)
    text = (out / "summary.md").read_text(encoding="utf-8")
    rendered = [f"- {fd.render(fd.from_json(raw))}" for raw in data["findings"]]
    lines = text.splitlines()
    for line in rendered:
        assert line in lines, f"{out.name}: summary lacks the finding line {line[:80]!r}"
    verdict_lines = [ln for ln in lines
                     if re.match(r"- \*\*(shown|not shown|not assessable)\*\*", ln)]
    assert verdict_lines == rendered


def test_a_changed_number_in_a_summary_is_caught():
    """The check above can fail: one digit changed in a rendered line is no longer a
    finding of the results."""
    out = DOCS / "em.sin-scale-quick"
    raw = _results(out)["findings"][1]
    line = f"- {fd.render(fd.from_json(raw))}"
    forged = re.sub(r"\d", lambda m: str((int(m.group()) + 1) % 10), line, count=1)
    assert forged != line
    assert forged not in [f"- {fd.render(fd.from_json(r))}" for r in _results(out)["findings"]]


def test_readme_reproduction_table_is_generated_from_the_committed_findings():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_START in readme and README_END in readme
    block = readme.split(README_START)[1].split(README_END)[0].strip("\n") + "\n"
    assert block == fd.readme_table(DOCS)


def test_error_vs_n_points_are_the_committed_results():
    # the n-figure reads exactly what the committed outputs hold (csv rows and the 60k json)
    import csv

    from overparam.experiments.rr_kernel import interpolants_by_n

    root = DOCS
    folders = [root / "rr.kernel-quick", root / "rr.kernel-standard", root / "rr.kernel-60k"]
    pts = {p["n"]: p for p in interpolants_by_n(folders)}
    full = json.loads((root / "rr.kernel-60k" / "results.json").read_text())
    assert pts[60000]["test_error"] == full["test_error"] and pts[60000]["norm"] == full["norm"]
    with open(root / "rr.kernel-standard" / "results.csv", newline="") as fh:
        raw = next(r for r in csv.DictReader(fh) if r["part"] == "row" and r["row"] == "raw")
    assert pts[int(raw["n"])]["test_error"] == float(raw["test_error"])
    assert sorted(pts) == [2000, 5000, 10000, 60000]
