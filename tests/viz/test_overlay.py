"""overlay: heat lands on the right original pixels, one shared scale, masks, boxes, saving, three images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle
from PIL import Image

from judgescope.errors import SampleError
from judgescope.geometry import ImageGeometry
from judgescope.probe.synthetic import synthetic_layout, synthetic_trace
from judgescope.viz import attention_to_pixels, overlay


def _panels(fig):
    """Image panels (axes holding a photograph and a heat layer), left to right."""
    axes = [ax for ax in fig.axes if len(ax.images) == 2]
    return sorted(axes, key=lambda ax: ax.get_subplotspec().colspan.start)


def _inside(points, box, tol):
    x1, y1, x2, y2 = box
    return (
        (points[:, 0] >= x1 - tol)
        & (points[:, 0] <= x2 + tol)
        & (points[:, 1] >= y1 - tol)
        & (points[:, 1] <= y2 + tol)
    )


@pytest.mark.parametrize("image,token", [(0, 0), (0, 23), (1, 8), (1, 30)])
def test_hottest_canvas_pixels_fall_in_the_hot_tokens_cell(
    trace_factory, images_for, hot_pixels, image, token
):
    trace = trace_factory(hot=(image, token))
    span = trace.images[image]
    box = span.geometry.token_boxes()[token]
    # the array route
    grid = trace.image_map(image)[0, 0, 0].numpy()
    pixels = attention_to_pixels(grid, span.geometry)
    rr, cc = np.nonzero(pixels == np.nanmax(pixels))
    assert _inside(np.stack([cc + 0.5, rr + 0.5], -1), box, 0).all()
    # the canvas route
    fig = overlay(trace, images_for(trace))
    ax = _panels(fig)[image]
    points, contrast = hot_pixels(fig, ax)
    assert contrast > 150  # the heat clearly stands out of the grey photograph
    tol = 1.5 * (ax.transData.inverted().transform((1, 0)) - ax.transData.inverted().transform((0, 0)))[0]
    assert _inside(points, box, tol).all()
    # the hot pixels fill the cell: their count matches the cell's area on the canvas
    to_px = ax.transData.transform
    (dx1, dy1), (dx2, dy2) = to_px(box[:2]), to_px(box[2:])
    assert len(points) >= 0.8 * abs(dx2 - dx1) * abs(dy2 - dy1)


def test_shared_scale_is_shared_and_per_image_is_not(trace_factory, images_for):
    spans, num_keys = synthetic_layout(((8, 5), (4, 9)), original_sizes=[(333, 517), (801, 377)])
    w = torch.full((num_keys,), 0.01)
    w[spans[1].positions[3]] = 2.0  # edited is hot, source cold
    trace = synthetic_trace(weights=w, grids=((8, 5), (4, 9)), original_sizes=[(333, 517), (801, 377)])
    fig = overlay(trace, images_for(trace))
    heats = [ax.images[1] for ax in _panels(fig)]
    assert heats[0].norm.vmin == heats[1].norm.vmin == 0.0
    assert heats[0].norm.vmax == heats[1].norm.vmax
    expected_vmax = float(trace.image_map(1)[0, 0, 0].max())
    assert heats[0].norm.vmax == pytest.approx(expected_vmax, rel=1e-5)
    assert np.nanmax(heats[0].get_array()) < 0.05 * heats[0].norm.vmax  # the neglected source stays dark
    colorbars = [ax for ax in fig.axes if ax not in _panels(fig)]
    assert len(colorbars) == 1
    per_image = overlay(trace, images_for(trace), norm="per_image")
    for ax in _panels(per_image):
        assert np.nanmax(ax.images[1].get_array()) == pytest.approx(1.0)
    log = overlay(trace, images_for(trace), norm="log")
    norms = [ax.images[1].norm for ax in _panels(log)]
    assert all(isinstance(n, LogNorm) for n in norms) and norms[0].vmin == norms[1].vmin > 0


def test_layer_head_query_selection_picks_the_right_rows(images_for, hot_pixels):
    grids, sizes = ((4, 6), (4, 6)), [(300, 200), (300, 200)]
    spans, num_keys = synthetic_layout(grids, original_sizes=sizes)
    w = torch.full((2, 2, 2, num_keys), 1e-6)
    w[0, :, :, spans[1].positions[0]] = 1.0  # layer 0 looks top-left
    w[1, 1, :, spans[1].positions[23]] = 1.0  # layer 1 head 1 looks bottom-right
    w[1, 0, :, spans[1].positions[12]] = 1.0  # layer 1 head 0 looks at row 2, col 0
    trace = synthetic_trace(weights=w, grids=grids, original_sizes=sizes)
    boxes = spans[1].geometry.token_boxes()
    for kwargs, token in [
        ({"layers": 0}, 0),
        ({"layers": [1], "heads": 1}, 23),
        ({"layers": 1, "heads": [0]}, 12),
    ]:
        fig = overlay(trace, images_for(trace), queries=0, **kwargs)
        heat = _panels(fig)[1].images[1].get_array()
        rr, cc = np.nonzero(heat == heat.max())
        assert _inside(np.stack([cc + 0.5, rr + 0.5], -1), boxes[token], 0).all()
    with pytest.raises(KeyError, match="not captured"):
        overlay(trace, layers=5)
    with pytest.raises(ValueError, match="reduce"):
        overlay(trace, reduce="median")


def test_three_image_trace_renders_three_panels(trace_factory, images_for, hot_pixels):
    sizes = [(333, 517), (801, 377), (250, 250)]
    trace = trace_factory(grids=((8, 5), (4, 9), (5, 5)), sizes=sizes, hot=(2, 12))
    fig = overlay(trace, images_for(trace))
    panels = _panels(fig)
    assert len(panels) == 3
    assert [ax.get_title().split("\n")[0] for ax in panels] == ["source", "edited", "image2"]
    points, _ = hot_pixels(fig, panels[2])
    assert _inside(points, trace.images[2].geometry.token_boxes()[12], 3).all()


def test_mask_at_the_border_is_drawn_inside_the_frame_and_sets_the_lift(trace_factory, images_for):
    trace = trace_factory(hot=(1, 8))  # edited: 4x9 grid on 801x377 px; token 8 is top-right
    mask = np.zeros((377, 801), bool)
    mask[:120, 600:] = True  # touches the top and right border
    fig = overlay(trace, images_for(trace), mask=mask)
    ax = _panels(fig)[1]
    lines = [line for line in ax.lines if line.get_color() == "#39ff14"]
    assert lines
    xy = np.concatenate([line.get_xydata() for line in lines])
    assert xy[:, 0].max() <= 801 and xy[:, 1].min() >= 0  # inside the frame ...
    assert xy[:, 0].max() > 799 and xy[:, 1].min() < 2  # ... and along the border
    # lift = coverage of the hot token / mean coverage; token 8's cell is inside the mask
    geometry = trace.images[1].geometry
    xs, ys = np.arange(801) + 0.5, np.arange(377) + 0.5
    cov = []
    for bx1, by1, bx2, by2 in geometry.token_boxes():
        cell = ((ys >= by1) & (ys < by2))[:, None] & ((xs >= bx1) & (xs < bx2))[None, :]
        cov.append(mask[cell].mean())
    assert cov[8] == 1.0  # the hot cell (x 712-801, y 0-94) lies inside the mask
    expected = cov[8] / np.mean(cov)
    assert f"lift in mask {expected:.2f}" in ax.get_xlabel()


def test_boxes_are_drawn_where_given_per_image_or_on_edited(trace_factory, images_for):
    trace = trace_factory(hot=(1, 0))
    fig = overlay(
        trace, images_for(trace), boxes=[(10, 20, 110, 220), {"box": (700, 300, 650, 250), "label": "hat"}]
    )
    ax = _panels(fig)[1]
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert [(r.get_x(), r.get_y(), r.get_width(), r.get_height()) for r in rects] == [
        (10, 20, 100, 200),
        (650, 250, 50, 50),
    ]
    assert {t.get_text() for t in ax.texts} == {"box 0", "hat"}
    assert not _panels(fig)[0].patches
    fig = overlay(trace, images_for(trace), boxes={"source": [(0, 0, 50, 50)]})
    assert len(_panels(fig)[0].patches) == 1 and not _panels(fig)[1].patches
    with pytest.raises(ValueError, match="box 0"):
        overlay(trace, boxes=[(1, 2, 3)])


def test_saves_png_and_svg(tmp_path, trace_factory, images_for):
    trace = trace_factory(hot=(0, 3))
    png, svg = tmp_path / "a.png", tmp_path / "sub" / "b.svg"
    overlay(trace, images_for(trace), save=png)
    overlay(trace, images_for(trace), save=svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()[:2000]
    with pytest.raises(ValueError, match="ending in"):
        overlay(trace, save=tmp_path / "c.jpg")


def test_images_as_pil_dict_or_none_and_size_mismatch(trace_factory, images_for):
    trace = trace_factory(hot=(0, 3))
    src, ed = images_for(trace)
    fig = overlay(trace, {"source": Image.fromarray(src), "edited": ed.astype(np.float32) / 255})
    assert np.array_equal(_panels(fig)[0].images[0].get_array(), src)
    assert _panels(overlay(trace))[0].images[0].get_array().shape == (517, 333, 3)  # grey stand-in
    with pytest.raises(SampleError, match="original image"):
        overlay(trace, [src, ed[:100]])
    with pytest.raises(ValueError, match="2 images"):
        overlay(trace, [src])
    with pytest.raises(SampleError, match="mask"):
        overlay(trace, mask=np.zeros((10, 10), bool))


def test_cropped_geometry_leaves_margins_uncovered(images_for, hot_pixels):
    trace = synthetic_trace(grids=((3, 3), (3, 3)), seed=1)
    crop = ImageGeometry((400, 300), (448, 336), (56.0, 0.0, 392.0, 336.0), (3, 3))
    images = tuple(dataclasses.replace(s, geometry=crop) for s in trace.images)
    trace = dataclasses.replace(trace, images=images)
    fig = overlay(trace, images_for(trace))
    heat = _panels(fig)[0].images[1].get_array()
    assert heat.mask[:, :50].all() and not heat.mask[:, 50:350].any()


def test_large_images_are_drawn_downsampled_with_cells_still_in_place(trace_factory, images_for, hot_pixels):
    trace = trace_factory(grids=((6, 8), (6, 8)), sizes=[(2400, 1800), (2400, 1800)], hot=(1, 13))
    fig = overlay(trace, images_for(trace), display_px=600)
    ax = _panels(fig)[1]
    assert ax.images[1].get_array().shape == (450, 600) and ax.images[0].get_array().shape == (450, 600, 3)
    assert ax.get_xlim() == (0, 2400) and ax.get_ylim() == (1800, 0)  # still original pixel coordinates
    points, _ = hot_pixels(fig, ax)
    tol = 1.5 * (ax.transData.inverted().transform((1, 0)) - ax.transData.inverted().transform((0, 0)))[0]
    assert _inside(points, trace.images[1].geometry.token_boxes()[13], tol).all()
