"""The experiment protocol: a reproduction is found by its module alone, listed and run by id
through the CLI, and writes its outputs as one set in the shared layout."""

import csv
import json
import sys
from pathlib import Path

from overparam.cli import main
from overparam.common.outputs import check_output_set
from overparam.experiments.protocol import Summary, render_summary, timing_text

sys.path.insert(0, str(Path(__file__).parent))
from sweep_points import computed, install_tiny_experiment  # noqa: E402


def test_a_new_module_is_listed_and_reproduced_by_id(tmp_path, monkeypatch, capsys):
    log = install_tiny_experiment(tmp_path, monkeypatch)
    assert main(["list"]) == 0
    assert "tiny.squares" in capsys.readouterr().out.split("experiments")[1]
    out = tmp_path / "out"
    assert main(["reproduce", "tiny.squares", "--preset", "smoke", "--seed", "2",
                 "--out", str(out)]) == 0
    assert sorted(computed(log)) == [0, 1, 2]
    assert set(check_output_set(out)["files"]) == {"results.json", "results.csv",
                                                   "summary.md", "total.txt"}
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    # squares of 0, 1, 2 plus the seed 2 each: 0+1+4 + 3*2 = 11, by hand
    assert results["total"] == 11 and results["experiment"] == "tiny.squares"
    assert [r["result"]["square"] for r in results["points"]] == [2, 3, 6]
    with open(out / "results.csv", newline="", encoding="utf-8") as fh:
        assert list(csv.reader(fh)) == [["x", "square"], ["0", "2"], ["1", "3"], ["2", "6"]]
    assert (out / "total.txt").read_text() == "11\n"
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "Where this differs from the paper: no paper: a test" in summary
    assert "- sum of squares 11 (the paper's: none)" in summary
    assert "Figures: total.txt (the sum)." in summary


def test_render_summary_layout():
    text = render_summary(Summary(title="t", setup="s", differences=["d1", "d2"],
                                  body=["| a |"], comparisons_heading="H:",
                                  comparisons=["c"]), {"f.png": "Fig. 1"})
    assert text == ("# t\n\ns\n\nWhere this differs from the paper: d1\nd2\n\n| a |\n\nH:\n- c"
                    "\n\nFigures: f.png (Fig. 1).\n")


def test_a_declaration_without_the_three_presets_or_with_clashing_figures_is_refused():
    import pytest

    from overparam.experiments.protocol import Experiment

    def nothing(*args, **kwargs):
        return None

    three = {"smoke": {}, "quick": {}, "paper": {}}
    common = {"id": "x.y", "paper": "X", "reproduces": "-", "points": nothing,
              "compute_point": nothing, "outputs": nothing}
    with pytest.raises(ValueError, match="presets"):
        Experiment(presets={"smoke": {}}, **common)
    with pytest.raises(ValueError, match="figures"):
        Experiment(presets=three, figures={"results.json": "Fig. 1"}, **common)
    assert Experiment(presets=three, figures={"fig.png": "Fig. 1"}, **common).id == "x.y"


def test_timing_text_reads_the_sweep_the_phases_and_the_slowest_point():
    t = {"sweep_seconds": 785.4, "points_seconds": 1500.2,
         "phases_seconds": {"measurements": 3.25, "training": 1200.0},
         "per_point": [{"point": {"depth": 5, "seed": 0, "preset": "standard"}, "seconds": 40.0},
                       {"point": {"depth": 20, "seed": 1, "backend": "numpy"}, "seconds": 64.6},
                       {"point": {"depth": 7, "seed": 2}, "seconds": None}]}
    assert timing_text(t) == (
        "Where the time went: the sweep took 785 s of wall time; its points 1,500 s between "
        "them; phases summed over the points: training 1,200 s, measurements 3.2 s; the "
        "slowest point (depth 20, seed 1) 65 s.")
    old = {"sweep_seconds": None, "points_seconds": None, "phases_seconds": {},
           "per_point": []}
    assert timing_text(old) == ("Where the time went: no phases recorded (points computed "
                                "before they were).")
