"""compare (several judges, one scale) and the notebook explorer's callback logic."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from judgescope.geometry import smart_resize
from judgescope.viz import compare, explore, overlay, overlay_args, widget_options
from judgescope.viz.widgets import render

SIZES = [(333, 517), (801, 377)]


def _grids(factor):
    """Token grids a Qwen-style processor would use for SIZES (28 px tokens for 2.5-VL, 32 px for 3-VL)."""
    out = []
    for w, h in SIZES:
        rh, rw = smart_resize(h, w, factor=factor)
        out.append((rh // factor, rw // factor))
    return tuple(out)


def _panels(fig):
    return [ax for ax in fig.axes if len(ax.images) == 2]


def test_compare_rows_share_one_scale_and_each_row_is_placed_right(trace_factory, images_for):
    a = trace_factory(grids=_grids(28), sizes=SIZES, hot=(1, 5), token_px=28)
    b = trace_factory(grids=_grids(32), sizes=SIZES, hot=(0, 2), token_px=32)
    b = b.__class__(**{**b.__dict__, "judge": "judge-b"})
    fig = compare([a, b], images_for(a), labels=["qwen2.5", "qwen3"], boxes=[None, [(5, 5, 50, 50)]])
    panels = _panels(fig)
    assert len(panels) == 4
    norms = {(ax.images[1].norm.vmin, ax.images[1].norm.vmax) for ax in panels}
    assert len(norms) == 1  # one scale across rows and images
    vmax = max(float(t.image_map(i)[0, 0, 0].max()) for t in (a, b) for i in range(2))
    assert norms.pop() == pytest.approx((0.0, vmax), rel=1e-5)
    by_pos = sorted(
        panels, key=lambda ax: (ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start)
    )
    for ax, trace, (image, token) in [(by_pos[1], a, (1, 5)), (by_pos[2], b, (0, 2))]:
        heat = ax.images[1].get_array()
        rr, cc = np.nonzero(heat == heat.max())
        x1, y1, x2, y2 = trace.images[image].geometry.token_boxes()[token]
        assert ((cc + 0.5 >= x1) & (cc + 0.5 < x2) & (rr + 0.5 >= y1) & (rr + 0.5 < y2)).all()
    assert by_pos[0].get_ylabel().startswith("qwen2.5") and by_pos[2].get_ylabel().startswith("qwen3")
    assert len(by_pos[3].patches) == 1 and not by_pos[1].patches  # judge b's box on its edited panel only
    with pytest.raises(ValueError, match="labels"):
        compare([a, b], labels=["one"])
    with pytest.raises(ValueError, match="one entry per trace"):
        compare([a, b], boxes=[None])
    with pytest.raises(ValueError, match="different numbers of images"):
        compare([a, trace_factory(grids=((2, 2),), sizes=[(56, 56)])])


def test_overlay_args_maps_widget_values():
    assert overlay_args() == {"layers": None, "heads": None, "queries": None, "norm": "shared"}
    assert overlay_args(layer=3, head="mean", query=0, norm="log") == {
        "layers": 3,
        "heads": None,
        "queries": 0,
        "norm": "log",
    }
    with pytest.raises(ValueError, match="norm"):
        overlay_args(norm="linear")


def test_widget_options_and_render_match_overlay(trace_factory, images_for):
    trace = trace_factory(hot=(1, 3), layers=2, heads=3, queries=2)
    opts = widget_options(trace)
    assert [v for _, v in opts["layer"]] == ["mean", 0, 1]
    assert [v for _, v in opts["head"]] == ["mean", 0, 1, 2]
    assert opts["query"][1] == (f"0: {trace.query_tokens[0]!r}", 0)
    values = {"layer": 1, "head": 2, "query": "mean", "norm": "per_image"}
    got = render(trace, images_for(trace), values)
    want = overlay(trace, images_for(trace), layers=1, heads=2, norm="per_image")
    for g, w in zip(_panels(got), _panels(want)):
        np.testing.assert_array_equal(g.images[1].get_array(), w.images[1].get_array())


def test_explore_without_ipywidgets_says_how_to_install(monkeypatch, trace_factory):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` fail
    with pytest.raises(ImportError, match=r"pip install judgescope\[notebooks\]"):
        explore(trace_factory(hot=(0, 0)))


def test_explore_builds_dropdowns_that_redraw(monkeypatch, trace_factory):
    """Runs with ipywidgets installed (the notebooks extra); without it, checks the clear ImportError."""
    trace = trace_factory(hot=(0, 0))
    if importlib.util.find_spec("ipywidgets") is None:
        with pytest.raises(ImportError, match="notebooks"):
            explore(trace)
        return
    calls = []

    def fake_render(tr, images, values, **kwargs):
        calls.append(values)
        return overlay(tr, images, **overlay_args(**values))

    monkeypatch.setattr("judgescope.viz.widgets.render", fake_render)
    box = explore(trace)
    assert set(box.dropdowns) == {"layer", "head", "query", "norm"}
    assert calls[-1] == {"layer": "mean", "head": "mean", "query": "mean", "norm": "shared"}
    box.dropdowns["layer"].value = 1
    box.dropdowns["norm"].value = "log"
    assert calls[-1] == {"layer": 1, "head": "mean", "query": "mean", "norm": "log"}
    assert len(calls) == 3
