import copy
import json

import numpy as np
import pytest

from overparam.cli import main
from overparam.common.outputs import check_output_set
from overparam.experiments import fcn_depth
from overparam.experiments.protocol import render_summary
from overparam.experiments.registry import all_experiments, get_experiment
from overparam.numerics.backend import cupy_available


def test_smoke_preset_serial_local_and_resume_agree(tmp_path, capsys):
    a = fcn_depth.reproduce(tmp_path / "a", preset="smoke", progress=False)
    # one complete output set: every file listed in the manifest, as written
    files = set(check_output_set(tmp_path / "a")["files"])
    assert files == {"results.json", "results.csv", "heatmaps.png", "heatmaps_mse.png",
                     "predictions.png", "summary.md"}
    # the shared summary layout: every difference from the paper's setup, then the paper's
    # findings beside our numbers
    text = a["summary"]
    assert "Where this differs from the paper: the paper trains 2,000,000 steps" in text
    assert "hidden width 64 and 150 steps" in text  # the smoke preset's own sizes
    assert "Paper's findings, checked on our numbers" in text
    assert (tmp_path / "a" / "summary.md").read_text(encoding="utf-8") == text
    one = next(r["result"] for r in a["points"] if r["point"]["depth"] == 1
               and r["point"]["activation"] == "linear")
    # IC Thm 1 on every test input: 3 ρ-images and the 5 generated patterns at least
    assert one["thm1_all_within"] and one["thm1_inputs"] >= 8
    assert {"checkerboard", "stripes", "gradient", "noise"} <= set(one["predictions"])
    # a constant prediction (all ReLU units dead) has no correlation: "undefined", never NaN
    assert fcn_depth._corr(np.ones(784), np.arange(784.0)) is None
    dead = copy.deepcopy(a["points"])
    for r in dead:
        for pr in r["result"]["per_rho"]:
            pr["corr_constant"] = None
    text = render_summary(fcn_depth._summary(dead, fcn_depth.PRESETS["smoke"], "smoke", "test",
                                             []), fcn_depth.FIGURES)
    assert "undefined" in text and "nan" not in text.lower()
    b = fcn_depth.reproduce(tmp_path / "b", preset="smoke", executor="local", workers=2,
                            progress=False)
    assert [r["result"] for r in a["points"]] == [r["result"] for r in b["points"]]
    # a second run with --resume computes nothing and ends identical
    assert main(["reproduce", "ic.fcn-depth", "--preset", "smoke", "--out",
                 str(tmp_path / "b"), "--resume"]) == 0
    again = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [r["result"] for r in again["points"]] == [r["result"] for r in b["points"]]
    assert "IC Thm 1" in capsys.readouterr().out


def test_smoke_preset_on_a_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed", reason="needs overparam[dist]")
    a = fcn_depth.reproduce(tmp_path / "a", preset="smoke", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        d = fcn_depth.reproduce(tmp_path / "d", preset="smoke", executor="dask",
                                scheduler=cluster.scheduler_address, progress=False)
    assert [r["result"] for r in a["points"]] == [r["result"] for r in d["points"]]


@pytest.mark.skipif(cupy_available(), reason="checks the message shown when CuPy is absent")
def test_cupy_backend_without_cupy_is_a_one_line_error(tmp_path, capsys):
    assert main(["reproduce", "ic.fcn-depth", "--preset", "smoke", "--backend", "cupy",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("overparam: error:") and len(err.strip().splitlines()) == 1


def test_paper_preset_is_ic_appendix_a():
    """IC App. A, by hand from the paper's text: lr 0.01, 2,000,000 steps, hidden 2048."""
    paper = fcn_depth.PRESETS["paper"]
    assert (paper["lr"], paper["steps"], paper["hidden"]) == (0.01, 2_000_000, 2048)
    assert paper["rhos"][0] == 0.0 and paper["rhos"][-1] == 1.0
    for preset in fcn_depth.PRESETS.values():
        assert 0.0 in preset["rhos"] and preset["depths"][0] == 1  # the summary's anchors


def test_the_registry_finds_the_experiment_by_its_module():
    assert get_experiment("ic.fcn-depth") is fcn_depth.EXPERIMENT
    assert fcn_depth.EXPERIMENT in all_experiments()
    with pytest.raises(ValueError, match="ic.fcn-depth"):
        get_experiment("ic.no-such")
    points = fcn_depth.points("smoke", 3, "numpy")
    assert len(points) == 2 * len(fcn_depth.PRESETS["smoke"]["depths"])
    assert {p["seed"] for p in points} == {3}

