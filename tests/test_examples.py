"""The scripts in examples/ run as a user runs them (in a fresh working directory), at the
sizes they ship with (seconds each), and say what their docstrings promise."""

from __future__ import annotations

import json
import math
import re
import runpy
import sys
import textwrap
from pathlib import Path

import pytest

# imported before any in-process pytester session (which restores sys.modules afterwards;
# compiled extensions cannot load twice per process)
import overparam.claims  # noqa: F401
import overparam.testing  # noqa: F401
import overparam.verify.registry  # noqa: F401

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
COMPARISONS = sorted(p.name for p in EXAMPLES.glob("compare_*.py"))


def code_lines(path: Path) -> tuple[int, int]:
    """(lines of code, of which imports): no docstring, comments or blank lines."""
    text = path.read_text()
    body = re.sub(r'^""".*?"""\n', "", text, count=1, flags=re.S)
    lines = [ln for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    imports = [ln for ln in lines if ln.startswith(("import ", "from "))]
    return len(lines), len(imports)


def _run(script: str, tmp_path: Path, monkeypatch, capsys, *argv: str) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [script, *argv])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    return capsys.readouterr().out


def _statuses(markdown: str) -> list[str]:
    rows = [ln for ln in markdown.splitlines() if ln.startswith("| ") and "---" not in ln]
    return [row.rstrip(" |").rsplit("| ", 1)[-1] for row in rows[1:]]


def test_every_theorem_has_a_comparison_example():
    assert COMPARISONS == ["compare_em_thm1.py", "compare_ic_lemmas.py", "compare_ic_thm1.py",
                           "compare_ic_thm2.py", "compare_rr_sgd.py", "compare_rr_thm1.py"]


@pytest.mark.parametrize("script", COMPARISONS)
def test_comparison_examples_are_at_most_five_lines_beyond_imports(script):
    total, imports = code_lines(EXAMPLES / script)
    assert total - imports <= 5, (script, total, imports)


@pytest.mark.parametrize("script", ["compare_ic_thm1.py", "compare_ic_lemmas.py",
                                    "compare_rr_sgd.py"])
def test_training_comparisons_agree_with_their_closed_forms(script, tmp_path, monkeypatch,
                                                            capsys):
    statuses = _statuses(_run(script, tmp_path, monkeypatch, capsys))
    assert statuses and all(s == "agrees" for s in statuses), statuses


def test_ic_thm2_example_stays_within_the_bound_and_plots(tmp_path, monkeypatch, capsys):
    statuses = _statuses(_run("compare_ic_thm2.py", tmp_path, monkeypatch, capsys))
    assert statuses == ["agrees; within bound"] * 4
    assert (tmp_path / "ic_thm2.png").stat().st_size > 0


def test_em_example_shows_the_stated_bound_failing_and_the_proved_one_holding(
        tmp_path, monkeypatch, capsys):
    out = _run("compare_em_thm1.py", tmp_path, monkeypatch, capsys)
    rows = [ln for ln in out.splitlines() if ln.startswith("| em.")]
    stated = {float(r.split("|")[2]): r for r in rows if r.startswith("| em.thm1 |")}
    proved = [r for r in rows if r.startswith("| em.thm1.proved |")]
    # x′ = −x = −1: the stated bound fails iff −1 < −log 3/(2σ²), i.e. σ > √(log 3/2) = 0.741
    threshold = math.sqrt(math.log(3) / 2)
    assert len(stated) == 6
    assert all(("exceeds bound" in r) == (s > threshold) for s, r in stated.items())
    assert len(proved) == 6 and all("agrees; within bound" in r for r in proved)
    assert (tmp_path / "em_thm1.png").stat().st_size > 0


def test_rr_thm1_example_fits_with_2n_plus_d_weights(tmp_path, monkeypatch, capsys):
    out = _run("compare_rr_thm1.py", tmp_path, monkeypatch, capsys)
    assert _statuses(out) == ["agrees; within bound"] * 2
    assert "| rr.thm1 | 100 | 3 | weights | 203 | 203 |" in out


def test_own_claims_example_reports_verified_and_falsified_claims(tmp_path, monkeypatch,
                                                                  capsys):
    _run("own_claims.py", tmp_path, monkeypatch, capsys, str(tmp_path / "out"))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in report["claims"]}
    assert verdicts == {"user.two-layer.second-moment": "verified",
                        "user.two-layer.readout-limit": "verified",
                        "user.two-layer.lipschitz": "verified",
                        "user.two-layer.lipschitz-max": "falsified", "ic.params": "verified"}
    falsified = next(c for c in report["claims"] if c["verdict"] == "falsified")
    cx = falsified["counterexample"]
    module, func = cx["entry_point"].split(":")
    gap, bound = getattr(__import__(module), func)(**cx["arguments"])
    assert gap > bound                                  # re-run from the report: violated
    assert "## `user.two-layer.lipschitz-max` — falsified" in \
        (tmp_path / "out" / "report.md").read_text()


def test_user_suite_example_runs_under_pytest(pytester, monkeypatch):
    # the suite loads the user_claims.py beside it; an earlier test may have imported the
    # one in examples/ under the same name (a clash load_user_claims refuses)
    monkeypatch.delitem(sys.modules, "user_claims", raising=False)
    pytester.makepyfile(test_my_suite=(EXAMPLES / "test_my_suite.py").read_text())
    source = (EXAMPLES / "user_claims.py").read_text()
    pytester.makepyfile(user_claims=textwrap.dedent(source))
    result = pytester.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*test_claim?ic.params:params_table? PASSED*",
                                 "*test_claim?user.two-layer.second-moment:second_moment_mc? "
                                 "PASSED*"])


def _docs_hooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("overparam_docs_hooks",
                                                  EXAMPLES.parent / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_pages_are_generated_for_every_claim_and_public_module():
    hooks = _docs_hooks()
    pages = hooks.generated_pages()
    report = json.loads(hooks.REPORT.read_text())
    for claim in report["claims"]:
        slug = hooks.PAPERS[claim["paper"]][0]
        assert f"## {claim['id']}\n" in pages[f"papers/{slug}.md"], claim["id"]
    # every module of the package outside verify.checks, found by walking the source tree
    src = EXAMPLES.parent / "src"
    modules = {".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
               for p in src.rglob("*.py")}
    public = {m for m in modules if not any(part.startswith("_") for part in m.split("."))
              and not m.startswith("overparam.verify.checks")}
    assert {f"api/{m}.md" for m in public} <= set(pages)
    assert all(f"::: {m}" in pages[f"api/{m}.md"] for m in public)
