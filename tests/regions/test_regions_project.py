"""boxes_to_mask, coverage on token grids, and Region."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judgescope.geometry import ImageGeometry, smart_resize
from judgescope.regions import Region, RegionError, boxes_to_mask, coverage, diff_mask


def exact_coverage(mask: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    """Independent oracle: area of every pixel square inside every clipped cell, as a separable overlap."""
    h, w = mask.shape
    out = []
    for x1, y1, x2, y2 in geometry.token_boxes():
        ox = np.clip(np.minimum(np.arange(1, w + 1), x2) - np.maximum(np.arange(w), x1), 0, None)
        oy = np.clip(np.minimum(np.arange(1, h + 1), y2) - np.maximum(np.arange(h), y1), 0, None)
        inside = ox.sum() * oy.sum()
        out.append(oy @ mask.astype(float) @ ox / inside if inside > 0 else np.nan)
    return np.array(out).reshape(geometry.grid)


# --- boxes_to_mask ---------------------------------------------------------------------------------------


def test_integer_box_marks_exactly_its_pixels():
    m = boxes_to_mask([(2, 1, 5, 3)], size=(8, 4))
    assert m.shape == (4, 8) and m.sum() == 6
    assert m[1:3, 2:5].all()


def test_fractional_boxes_use_pixel_centres_and_union():
    m = boxes_to_mask([(0.4, 0.6, 2.6, 1.4), (6.0, 3.0, 8.0, 4.0)], size=(8, 4))
    expected = np.zeros((4, 8), bool)
    expected[1, 0:2] = True  # centres 0.5 and 1.5 lie in [0.4, 2.6); 2.5 too: columns 0, 1, 2
    expected[1, 2] = True
    expected[3, 6:8] = True
    assert (m == expected).all()


def test_tiny_box_marks_one_pixel_and_single_box_accepted():
    m = boxes_to_mask((3.1, 2.1, 3.3, 2.2), size=(5, 5))
    assert m.sum() == 1 and m[2, 3]


def test_box_partly_outside_is_clipped():
    m = boxes_to_mask([(-10, -5, 2, 2)], size=(4, 4))
    assert m.sum() == 4 and m[:2, :2].all()
    assert boxes_to_mask([(3, 3, 100, 100)], size=(4, 4)).sum() == 1


def test_empty_boxes_give_empty_mask():
    assert not boxes_to_mask([], size=(3, 2)).any()


@pytest.mark.parametrize(
    "box,match",
    [
        ((5, 5, 9, 9), "entirely outside"),
        ((-3, 0, 0, 2), "entirely outside"),
        ((2, 2, 2, 3), "degenerate"),
        ((3, 1, 1, 2), "degenerate"),
        ((0, 0, float("nan"), 2), "not finite"),
    ],
)
def test_bad_box_raises_naming_it(box, match):
    with pytest.raises(RegionError, match=match) as err:
        boxes_to_mask([(0, 0, 1, 1), box], size=(4, 4))
    assert "box 1" in str(err.value)


def test_bad_box_shape_raises():
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        boxes_to_mask([(0, 0, 1)], size=(4, 4))


# --- coverage --------------------------------------------------------------------------------------------


def test_one_cell_mask_covers_that_token_only_with_unequal_scales():
    g = ImageGeometry.uncropped((120, 90), (112, 56), (2, 4))  # cells 30 x 45 px, sx != sy
    assert g.scale[0] != g.scale[1]
    m = np.zeros((90, 120), bool)
    m[45:90, 30:60] = True  # token (1, 1)
    cov = coverage(m, g)
    expected = np.zeros((2, 4))
    expected[1, 1] = 1.0
    assert np.array_equal(cov, expected)


def test_half_cell_gives_half():
    g = ImageGeometry.uncropped((120, 90), (112, 56), (2, 4))
    m = np.zeros((90, 120), bool)
    m[0:45, 90:105] = True  # left half of token (0, 3)
    assert coverage(m, g)[0, 3] == pytest.approx(0.5)
    m2 = np.zeros((90, 120), bool)
    m2[45:68, 0:30] = True  # top 23 of 45 rows of token (1, 0)
    assert coverage(m2, g)[1, 0] == pytest.approx(23 / 45)


def test_fractional_cells_match_exact_oracle_and_conserve_area():
    h, w = 67, 101  # odd sizes: smart_resize changes the aspect ratio, cells have fractional edges
    rh, rw = smart_resize(h, w, factor=28, min_pixels=28 * 28 * 4)
    g = ImageGeometry.uncropped((w, h), (rw, rh), (rh // 28, rw // 28))
    rng = np.random.default_rng(1)
    m = rng.random((h, w)) < 0.3
    cov = coverage(m, g)
    np.testing.assert_allclose(cov, exact_coverage(m, g), atol=1e-12)
    tw, th = g.token_size_original
    assert (cov * tw * th).sum() == pytest.approx(m.sum(), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    w=st.integers(1, 90),
    h=st.integers(1, 90),
    factor=st.sampled_from([14, 28, 32]),
    seed=st.integers(0, 10_000),
    soft=st.booleans(),
)
def test_area_is_conserved_for_any_size(w, h, factor, seed, soft):
    rh, rw = smart_resize(h, w, factor=factor, min_pixels=factor * factor)
    g = ImageGeometry.uncropped((w, h), (rw, rh), (rh // factor, rw // factor))
    rng = np.random.default_rng(seed)
    m = rng.random((h, w)) if soft else rng.random((h, w)) < 0.5
    cov = coverage(m, g)
    assert cov.shape == g.grid and np.all((cov >= 0) & (cov <= 1))
    tw, th = g.token_size_original
    assert (cov * tw * th).sum() == pytest.approx(float(np.sum(m)), rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(cov, exact_coverage(np.asarray(m, float), g), atol=1e-9)


def test_llava_centre_crop_ignores_cut_off_pixels():
    # 640 x 427 -> shortest side 336 -> 503 x 336, centre crop 336 x 336, 24 x 24 tokens of 14 px
    g = ImageGeometry((640, 427), (503, 336), (83.5, 0.0, 419.5, 336.0), (24, 24))
    left_strip = np.zeros((427, 640), bool)
    left_strip[:, :100] = True  # 100 px < 83.5 * 640/503 = 106 px: all cut off by the crop
    assert np.all(coverage(left_strip, g) == 0)
    np.testing.assert_allclose(coverage(np.ones((427, 640), bool), g), 1.0, atol=1e-12)
    half = np.zeros((427, 640), bool)
    half[:, 320:] = True  # right half of the photo = right 12 token columns
    np.testing.assert_allclose(coverage(half, g), np.repeat([[0.0] * 12 + [1.0] * 12], 24, axis=0), atol=1e-9)


def test_cells_outside_the_frame_count_inside_part_or_are_nan():
    # a grid that overhangs the image on the left: cell 0 is fully outside, cell 1 half outside
    g = ImageGeometry((100, 100), (100, 100), (-50.0, 0.0, 100.0, 100.0), (1, 6))
    m = np.zeros((100, 100), bool)
    m[:, 0:10] = True
    cov = coverage(m, g)
    assert np.isnan(cov[0, 0]) and np.isnan(cov[0, 1])  # cells [-50, -25), [-25, 0)
    assert cov[0, 2] == pytest.approx(10 / 25) and np.all(cov[0, 3:] == 0)
    g2 = ImageGeometry((100, 100), (100, 100), (-10.0, 0.0, 110.0, 100.0), (1, 4))  # cells 30 px wide
    ones = coverage(np.ones((100, 100), bool), g2)
    np.testing.assert_allclose(ones, 1.0, atol=1e-12)  # the outer cells are judged on their inside 20 px only


def test_mask_at_the_border():
    g = ImageGeometry.uncropped((56, 56), (56, 56), (2, 2))
    m = np.zeros((56, 56), bool)
    m[:, -1] = True  # last column
    m[-1, :] = True  # last row
    cov = coverage(m, g)
    assert cov[0, 1] == pytest.approx(28 / 784)
    assert cov[1, 0] == pytest.approx(28 / 784)
    assert cov[1, 1] == pytest.approx(55 / 784)
    assert cov[0, 0] == 0


def test_wrong_mask_size_raises():
    g = ImageGeometry.uncropped((120, 90), (112, 56), (2, 4))
    with pytest.raises(RegionError, match="original image is 120x90"):
        coverage(np.zeros((120, 90), bool), g)  # transposed
    with pytest.raises(RegionError, match="values"):
        coverage(np.full((90, 120), 2.0), g)
    with pytest.raises(RegionError, match="2-D"):
        coverage(np.zeros((90, 120, 3)), g)


# --- Region ----------------------------------------------------------------------------------------------


def test_region_from_boxes_on_grid():
    g = ImageGeometry.uncropped((120, 90), (112, 56), (2, 4))
    r = Region.from_boxes([(30, 45, 60, 90)], size=(120, 90), name="predicted")
    assert r.source == "boxes" and r.boxes == ((30.0, 45.0, 60.0, 90.0),) and r.size == (120, 90)
    cov = r.on_grid(g)
    assert cov[1, 1] == 1.0 and cov.sum() == 1.0


def test_region_from_diff_and_resize_to_edited_geometry():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 40, (90, 120, 3), dtype=np.uint8)
    edt = src.copy()
    edt[45:90, 30:60] = 250
    r = Region.from_diff(diff_mask(src, edt, min_area_frac=0))
    assert r.source == "diff" and r.boxes == ((30.0, 45.0, 60.0, 90.0),)
    cov = r.on_grid(ImageGeometry.uncropped((120, 90), (112, 56), (2, 4)))
    assert cov[1, 1] > 0.99 and np.delete(cov.ravel(), 5).max() < 0.01  # morphology rounds the corners
    bigger = ImageGeometry.uncropped((240, 180), (224, 168), (6, 8))  # edited image at twice the size
    with pytest.raises(RegionError, match="original image"):
        r.on_grid(bigger)
    cov = r.on_grid(bigger, resize=True)
    assert cov.shape == (6, 8) and cov[3:6, 2:4].min() > 0.99 and cov[:3].max() == 0
    moved = r.resized((240, 180))
    assert moved.size == (240, 180) and moved.boxes == ((60.0, 90.0, 120.0, 180.0),)
    assert moved.mask.sum() == pytest.approx(4 * r.mask.sum(), rel=1e-4)


def test_region_validates():
    with pytest.raises(RegionError, match="source"):
        Region("x", "guess", np.zeros((2, 2), bool))
    with pytest.raises(RegionError, match="2-D"):
        Region.from_mask(np.zeros(4, bool))
    assert Region.from_mask(np.eye(3, dtype=bool)).area_frac == pytest.approx(1 / 3)
