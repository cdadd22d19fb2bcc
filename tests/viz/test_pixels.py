"""attention_to_pixels: every token's value lands exactly on its cell in original pixels."""

from __future__ import annotations

import numpy as np
import pytest

from judgescope.geometry import ImageGeometry
from judgescope.viz import attention_to_pixels, token_index_map

GEOMETRIES = {
    "no resize": ImageGeometry.uncropped((168, 112), (168, 112), (4, 6)),
    "tall, x and y scaled differently": ImageGeometry.uncropped((333, 517), (140, 224), (8, 5)),
    "wide, upscaled": ImageGeometry.uncropped((90, 41), (252, 112), (4, 9)),
    "centre crop (LLaVA-like)": ImageGeometry((400, 300), (448, 336), (56.0, 0.0, 392.0, 336.0), (3, 3)),
}


def _cell_pixels(geometry: ImageGeometry, token: int) -> np.ndarray:
    """Independent reference: bool [H, W] of pixels whose centre lies in the token's box."""
    x1, y1, x2, y2 = geometry.token_boxes()[token]
    w, h = geometry.original_size
    xs, ys = np.arange(w) + 0.5, np.arange(h) + 0.5
    return ((ys >= y1) & (ys < y2))[:, None] & ((xs >= x1) & (xs < x2))[None, :]


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
def test_one_hot_token_paints_exactly_its_cell(name):
    geometry = GEOMETRIES[name]
    rows, cols = geometry.grid
    for token in (0, cols - 1, rows * cols - 1, (rows // 2) * cols + cols // 2):
        grid = np.zeros((rows, cols))
        grid.flat[token] = 1.0
        pixels = attention_to_pixels(grid, geometry)
        w, h = geometry.original_size
        assert pixels.shape == (h, w)
        np.testing.assert_array_equal(pixels == 1.0, _cell_pixels(geometry, token))


def test_every_pixel_gets_its_tokens_value_and_crop_margins_are_nan():
    geometry = GEOMETRIES["centre crop (LLaVA-like)"]
    grid = np.arange(9, dtype=float).reshape(3, 3)
    pixels = attention_to_pixels(grid, geometry)
    # the crop keeps resized x in [56, 392) -> original x in [50, 350)
    assert np.isnan(pixels[:, :50]).all() and np.isnan(pixels[:, 350:]).all()
    assert np.isfinite(pixels[:, 50:350]).all()
    for token in range(9):
        assert np.all(pixels[_cell_pixels(geometry, token)] == token)


def test_token_index_map_counts_match_cell_areas():
    geometry = GEOMETRIES["tall, x and y scaled differently"]
    index = token_index_map(geometry)
    counts = np.bincount(index.ravel(), minlength=geometry.num_tokens)
    cw, ch = geometry.token_size_original
    assert (index >= 0).all()
    assert np.all(np.abs(counts - cw * ch) <= cw + ch + 1)  # rounding at cell edges only


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_smooth_upsampling_peaks_on_the_token_and_stays_in_range(interpolation):
    geometry = GEOMETRIES["tall, x and y scaled differently"]
    grid = np.zeros(geometry.grid)
    grid[3, 2] = 1.0
    pixels = attention_to_pixels(grid, geometry, interpolation=interpolation)
    x1, y1, x2, y2 = geometry.token_boxes()[3 * 5 + 2]
    r, c = np.unravel_index(np.nanargmax(pixels), pixels.shape)
    assert x1 <= c + 0.5 < x2 and y1 <= r + 0.5 < y2
    assert np.nanmin(pixels) >= 0.0 and np.nanmax(pixels) <= 1.0
    assert 0 < np.mean(pixels > 0.5) < np.mean(_cell_pixels(geometry, 3 * 5 + 2)) * 2  # smooth, not smeared


def test_smooth_keeps_crop_margins_nan():
    geometry = GEOMETRIES["centre crop (LLaVA-like)"]
    pixels = attention_to_pixels(np.ones((3, 3)), geometry, interpolation="linear")
    assert np.isnan(pixels[:, :50]).all() and np.allclose(pixels[:, 50:350], 1.0)


def test_accepts_a_tensor_and_rejects_bad_input():
    import torch

    geometry = GEOMETRIES["no resize"]
    out = attention_to_pixels(torch.ones(4, 6), geometry)
    assert np.allclose(out, 1.0)
    with pytest.raises(ValueError, match="token grid"):
        attention_to_pixels(np.ones((6, 4)), geometry)
    with pytest.raises(ValueError, match="interpolation"):
        attention_to_pixels(np.ones((4, 6)), geometry, interpolation="bicubic")
