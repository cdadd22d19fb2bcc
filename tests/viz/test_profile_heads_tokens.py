"""layer_profile, head_grid and token_strip on traces with known per-layer, per-head and per-token answers."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle

from judgescope.probe.synthetic import synthetic_layout, synthetic_trace
from judgescope.viz import head_grid, layer_profile, token_strip
from judgescope.viz.tokens import token_label

GRIDS = ((4, 6), (4, 6))


def _weights(shape, source_mass, edited_mass, hot_edited=None):
    """``[L, H, Q, K]`` weights: given source/edited masses spread uniformly (or edited on one token)."""
    spans, num_keys = synthetic_layout(GRIDS)
    src, ed = list(spans[0].positions), list(spans[1].positions)
    w = torch.zeros(*shape, num_keys)
    w[..., src] = torch.as_tensor(source_mass, dtype=torch.float32)[..., None] / len(src)
    if hot_edited is None:
        w[..., ed] = torch.as_tensor(edited_mass, dtype=torch.float32)[..., None] / len(ed)
    else:
        idx = torch.as_tensor([ed[t] for t in hot_edited.reshape(-1)]).reshape(hot_edited.shape)
        w.scatter_(
            -1,
            idx[..., None],
            torch.as_tensor(edited_mass, dtype=torch.float32)[..., None].expand_as(idx[..., None]).clone(),
        )
    w[..., 0] = 1 - w.sum(-1)  # the rest goes to a text token
    return w, spans


def test_layer_profile_lines_follow_per_layer_shares_and_shade_the_band():
    n_l = 6
    src = torch.linspace(0.4, 0.05, n_l)[:, None, None].expand(n_l, 2, 3)
    w, spans = _weights((n_l, 2, 3), src, 0.4)
    trace = synthetic_trace(weights=w, grids=GRIDS)
    mask = np.zeros((112, 168), bool)
    mask[:56, :84] = True
    fig = layer_profile(trace, mask=mask, band=(2, 4))
    shares_ax, entropy_ax, lift_ax = fig.axes[:3]
    line = next(ln for ln in shares_ax.lines if ln.get_label().startswith("source share"))
    expected = (src[:, 0, 0] / (src[:, 0, 0] + 0.4)).numpy()
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-5)
    assert line.get_label().endswith(f"{expected[2:5].mean():.2f}")  # the band's mean in the legend
    np.testing.assert_allclose(
        [ln.get_ydata() for ln in entropy_ax.lines[:2]], 1.0, rtol=1e-5
    )  # uniform maps
    lift = next(ln for ln in lift_ax.lines if ln.get_label().startswith("edited"))
    np.testing.assert_allclose(lift.get_ydata(), 1.0, rtol=1e-5)  # uniform attention: no better than chance
    shaded = [p.get_path().transformed(p.get_patch_transform()).vertices for p in shares_ax.patches]
    assert any(np.allclose([v[:, 0].min(), v[:, 0].max()], [1.5, 4.5]) for v in shaded)  # layers 2-4
    assert len(layer_profile(trace).axes) == 2  # no mask, no lift panel
    with pytest.raises(ValueError, match="none of the captured"):
        layer_profile(trace, band=(10, 12))


def test_layer_profile_one_image_trace_is_nan_not_a_crash():
    trace = synthetic_trace(grids=((3, 3),))
    fig = layer_profile(trace)
    line = next(ln for ln in fig.axes[0].lines if ln.get_label().startswith("source share"))
    assert np.isnan(line.get_ydata()).all() and line.get_label().endswith("n/a")


def test_head_grid_maps_put_each_heads_peak_on_its_token():
    n_l, n_h = 3, 4
    hot = torch.arange(n_l * n_h).reshape(n_l, n_h, 1).expand(n_l, n_h, 2) % 24
    w, _ = _weights((n_l, n_h, 2), 0.1, 0.5, hot_edited=hot)
    trace = synthetic_trace(weights=w, grids=GRIDS)
    fig = head_grid(trace, "edited")
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (n_l * 5 - 1, n_h * 7 - 1)
    for li in range(n_l):
        for hi in range(n_h):
            block = np.asarray(mosaic[li * 5 : li * 5 + 4, hi * 7 : hi * 7 + 6])
            assert np.argmax(block) == hot[li, hi, 0]
            assert block.max() == pytest.approx(0.5, rel=1e-5)
    per_panel = head_grid(trace, "edited", norm="per_panel", query=1).axes[0].images[0].get_array()
    assert np.nanmax(per_panel) == pytest.approx(1.0)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["L0", "L1", "L2"]


def test_head_grid_share_table_matches_per_head_source_share():
    n_l, n_h = 2, 3
    src = torch.rand(n_l, n_h, 1, generator=torch.Generator().manual_seed(0)).expand(n_l, n_h, 2) * 0.5
    w, _ = _weights((n_l, n_h, 2), src, 0.3)
    trace = synthetic_trace(weights=w, grids=GRIDS)
    fig = head_grid(trace, mode="share")
    table = fig.axes[0].images[0].get_array()
    expected = (src[..., 0] / (src[..., 0] + 0.3)).numpy()
    np.testing.assert_allclose(table, expected, rtol=1e-5)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(f"{v:.2f}" for v in expected.ravel())
    with pytest.raises(ValueError, match="mode"):
        head_grid(trace, mode="table")
    with pytest.raises(KeyError, match="no image named"):
        head_grid(trace, "target")


def test_token_strip_colours_and_wraps_100_tokens():
    n_q = 100
    src = torch.linspace(0.0, 0.5, n_q)[None, None, :].expand(2, 2, n_q)
    w, _ = _weights((2, 2, n_q), src, 0.25)
    trace = synthetic_trace(weights=w, grids=GRIDS)
    fig = token_strip(trace, per_line=16)
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == 7 * 3  # 7 lines x (token, image share, source share)
    share = (src[0, 0] / (src[0, 0] + 0.25)).numpy()
    cells = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(cells) == 3 * n_q
    cmap = mpl.colormaps["RdBu"]
    for q in (0, 37, 99):
        cell = cells[3 * q + 2]
        assert cell.get_xy() == (q % 16, (q // 16) * 3.6 + 2)
        np.testing.assert_allclose(cell.get_facecolor(), cmap(share[q]), atol=1e-6)
    texts = [t.get_text() for t in ax.texts]
    assert texts[3 * 37 + 2] == f"{share[37]:.2f}" and texts[3 * 37 + 1] == f"{0.25 + src[0, 0, 37]:.2f}"


def test_token_label_makes_whitespace_visible():
    assert token_label(" score") == "␣score"
    assert token_label("\n") == "↵"
    assert token_label("") == "∅"
    assert token_label("a" * 20) == "a" * 8 + "…"
