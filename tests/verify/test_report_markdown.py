"""report.md as a person reads it: distinct headings, tolerance rules as sentences, metrics and
per-run lists as tables (capped, the rest counted), a counterexample whose call re-runs."""

import re

import numpy as np

from overparam.verify.report import MAX_TABLE_ROWS, markdown


def _report(per_run_rows: int) -> dict:
    per_run = [{"optimizer": "gd", "steps": 100 + i, "gap": 1.0 / (i + 1), "note": "a|b"}
               for i in range(per_run_rows)]
    evidence = [
        {"kind": "exact", "verdict": "verified", "details": "First exact check",
         "tolerance": {"rule": "exact: sympy simplifies to 0"},
         "metrics": {"d=1": {"fixed_point": True, "span": True},
                     "d=2": {"fixed_point": True, "span": False}}, "figures": []},
        {"kind": "closed-form-vs-training", "verdict": "verified", "details": "Trained.",
         "tolerance": {"rule": "gap ≤ 4·u·κ", "largest": 2.5e-10},
         "metrics": {"runs": per_run_rows, "worst_ratio_to_tolerance": 0.123456789,
                     "mismatches": [], "per_run": per_run}, "figures": ["c.png"]},
        {"kind": "exact", "verdict": "falsified", "details": "Second exact check.",
         "tolerance": None, "metrics": {}, "figures": []},
        {"kind": "observation", "verdict": "observation", "details": "Informs only.",
         "tolerance": None, "metrics": {"steps": 3}, "figures": []},
    ]
    cx = {"entry_point": "overparam.theory.extreme_memorization:sin_kernel",
          "arguments": {"x": [1.0], "x2": [-1.0], "sigma": 1.0, "h": 1},
          "violation": {"ratio_to_tolerance": 3.19}, "recheck": {"dps": 50, "bound": 0.135}}
    claim = {"id": "demo.claim", "paper": "IC", "where": "Thm 9", "statement": "A statement.",
             "verdict": "falsified", "evidence": evidence, "counterexample": cx,
             "seconds": 1.25}
    return {"overparam": "0", "created": "2026-01-01T00:00:00+00:00",
            "environment": {"level": "quick", "seed": 0, "backend": "numpy"},
            "claims": [claim]}


def _tables(md: str) -> list[list[list[str]]]:
    """Every Markdown table as rows of cells (escaped pipes kept inside their cell)."""
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        elif current:
            tables.append(current)
            current = []
    return tables


def test_each_evidence_has_a_distinct_heading_numbering_repeated_kinds():
    md = markdown(_report(3))
    heads = [line for line in md.splitlines() if line.startswith("### ")]
    assert len(heads) == len(set(heads)) == 5          # 4 evidence + the counterexample
    assert "### `demo.claim` · exact (1 of 2) — verified" in heads
    assert "### `demo.claim` · exact (2 of 2) — falsified" in heads
    assert "### `demo.claim` · closed-form-vs-training — verified" in heads
    assert "### `demo.claim` · observation — does not vote" in heads
    assert "## `demo.claim` — falsified" in md


def test_tolerance_is_a_sentence_and_no_json_outside_the_code_block():
    md = markdown(_report(3))
    assert "**Tolerance rule:** gap ≤ 4·u·κ. Largest: 2.5e-10." in md
    prose = md.split("```python")[0] + md.split("```")[-1]
    assert "{" not in prose.replace("R^{", "") and '"' not in prose


def test_tables_are_well_formed_and_values_readable():
    tables = _tables(markdown(_report(3)))
    for table in tables:
        assert table[1] == ["---"] * len(table[0])
        assert all(len(row) == len(table[0]) for row in table)
    scalars = next(t for t in tables if t[0] == ["metric", "value"])
    assert ["worst ratio to tolerance", "0.1235"] in scalars
    assert ["mismatches", "none"] in scalars
    grouped = next(t for t in tables if t[0] == ["", "fixed point", "span"])
    assert grouped[2:] == [["**d=1**", "yes", "yes"], ["**d=2**", "yes", "no"]]
    per_run = next(t for t in tables if t[0][0] == "optimizer")
    assert per_run[2] == ["gd", "100", "1", r"a\|b"]


def test_long_per_run_lists_are_capped_and_the_rest_counted():
    rows = MAX_TABLE_ROWS + 7
    md = markdown(_report(rows))
    per_run = next(t for t in _tables(md) if t[0][0] == "optimizer")
    assert len(per_run) - 2 == MAX_TABLE_ROWS
    assert per_run[-1][1] == str(100 + MAX_TABLE_ROWS - 1)
    assert "… 7 more rows in report.json." in md
    assert f"**per run** ({rows} rows):" in md


def test_figures_are_embedded():
    assert "![demo.claim: c](c.png)" in markdown(_report(1))


def test_counterexample_table_and_the_call_that_reruns_it():
    md = markdown(_report(1))
    args = next(t for t in _tables(md) if t[0] == ["argument", "value"])
    assert args[2:] == [["`x`", "[1]"], ["`x2`", "[-1]"], ["`sigma`", "1"], ["`h`", "1"]]
    code = md.split("```python\n")[1].split("```")[0]
    scope: dict = {}
    exec(code.replace("sin_kernel(**arguments)", "result = sin_kernel(**arguments)"), scope)
    # (h/2)(exp(−σ²‖x − x2‖²/2) − exp(−σ²‖x + x2‖²/2)) with ‖x − x2‖² = 4, ‖x + x2‖ = 0
    np.testing.assert_allclose(scope["result"], 0.5 * (np.exp(-2.0) - 1.0), rtol=4e-16)
