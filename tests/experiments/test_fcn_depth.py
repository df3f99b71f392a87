import copy
import json

import numpy as np
import pytest

from overparam.cli import main
from overparam.experiments import fcn_depth
from overparam.numerics.backend import cupy_available


def test_smoke_preset_serial_local_and_resume_agree(tmp_path, capsys):
    a = fcn_depth.reproduce(tmp_path / "a", preset="smoke", progress=False)
    for name in ("results.json", "results.csv", "heatmaps.png", "heatmaps_mse.png",
                 "predictions.png", "summary.md"):
        assert (tmp_path / "a" / name).exists()
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
    text = fcn_depth._summary(dead, fcn_depth.PRESETS["smoke"], "smoke", "test", [])
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
