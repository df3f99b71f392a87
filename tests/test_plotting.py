"""common.plotting's shared figure helpers: the heatmap scales and the picture grid."""

import numpy as np
import pytest

from overparam.common import plotting


def test_correlation_heatmaps_share_the_fixed_diverging_scale():
    style = plotting.heatmap_style([np.array([[0.3, np.nan]])], log_scale=False)
    assert style == {"vmin": -1, "vmax": 1, "cmap": "RdBu_r"}


def test_log_heatmaps_span_the_positive_values_of_every_grid():
    grids = [np.array([[1e-3, 0.0], [np.nan, 2.0]]), np.array([[5e-5, 7.0]])]
    norm = plotting.heatmap_style(grids, log_scale=True)["norm"]
    # zeros and NaNs cannot sit on a log scale: the span is the positive values' 5e-5 … 7
    assert (norm.vmin, norm.vmax) == (5e-5, 7.0)
    # a constant grid still gets a decade
    flat = plotting.heatmap_style([np.full((2, 2), 0.2)], log_scale=True)["norm"]
    assert (flat.vmin, flat.vmax) == (0.2, 0.2 * 10)
    # a fitted network's 1e-30 beside 1 does not stretch the scale past LOG_DECADES decades
    wide = plotting.heatmap_style([np.array([[1e-30, 1.0]])], log_scale=True)["norm"]
    assert (wide.vmin, wide.vmax) == (10.0**-plotting.LOG_DECADES, 1.0) and wide.clip
    with pytest.raises(ValueError, match="positive value"):
        plotting.heatmap_style([np.zeros((2, 2))], log_scale=True)


def test_heatmap_panel_labels_its_axes(tmp_path):
    plt = plotting.pyplot()
    fig, ax = plt.subplots()
    im = plotting.heatmap_panel(ax, np.eye(2), plotting.heatmap_style([], log_scale=False),
                                x_ticklabels=["0", "0.5"], y_ticklabels=[1, 3], xlabel="ρ",
                                ylabel="layers", title="t")
    assert im.get_array().shape == (2, 2)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.5"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "3"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("ρ", "layers", "t")
    plotting.save(fig, tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0


def test_image_grid_writes_one_png_and_refuses_unlabelled_rows(tmp_path):
    pics = [[np.zeros((4, 4)), np.ones((4, 4))], [np.eye(4)]]
    name = plotting.image_grid(tmp_path / "g.png", pics, ["a", "b"], ["x", "y"],
                               suptitle="s")
    assert name == "g.png" and (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="2 rows of images but 1 row labels"):
        plotting.image_grid(tmp_path / "h.png", pics, ["a"], ["x", "y"])
