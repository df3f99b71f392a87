"""A check called without a figures directory (``Context``'s default, as a user's own test
would call it) still reports its numbers and writes nothing; with one it writes its figures."""

import numpy as np

from overparam.verify.checks.ic_conv import _thm2_figures
from overparam.verify.registry import Context


def test_thm2_figures_without_a_directory_report_numbers_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ev = _thm2_figures(Context(level="quick", seed=0, xp=np))
    assert ev.figures == []
    assert ev.metrics["bound_vs_mse"] and ev.metrics["size_sweep"]
    assert list(tmp_path.iterdir()) == []


def test_thm2_figures_with_a_directory_write_every_figure_named(tmp_path):
    ev = _thm2_figures(Context(level="quick", seed=0, xp=np, figures_dir=tmp_path))
    assert sorted(ev.figures) == sorted(p.name for p in tmp_path.iterdir())
    assert len(ev.figures) == 3
