"""Box conventions mapped back to original pixels on realistic, non-square, odd-sized geometries."""

from __future__ import annotations

import math

import pytest

from judgescope.geometry import ImageGeometry, smart_resize
from judgescope.judges.boxes import (
    CONVENTIONS,
    Box,
    box_to_pixels,
    boxes_to_pixels,
    default_box_convention,
    parse_box_tokens,
    resolve_box_convention,
)
from judgescope.judges.protocols import RawBox, SpatialReward


def qwen_geometry(
    width: int, height: int, factor: int, max_pixels: int = 14 * 14 * 4 * 1280
) -> ImageGeometry:
    """What a Qwen processor makes of a ``width x height`` image (resize only, no crop)."""
    h, w = smart_resize(height, width, factor=factor, max_pixels=max_pixels)
    return ImageGeometry.uncropped((width, height), (w, h), (h // factor, w // factor))


# Odd, non-square sizes; the small max_pixels forces a real downscale, so resized != original.
GEOMETRIES = [
    qwen_geometry(517, 333, 28),
    qwen_geometry(333, 517, 32),
    qwen_geometry(1999, 1203, 28, max_pixels=512 * 28 * 28),
    qwen_geometry(1203, 1999, 32, max_pixels=512 * 32 * 32),
]


@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: f"{g.original_size}->{g.resized_size}")
def test_geometries_are_realistic(geom):
    assert geom.resized_size != geom.original_size
    assert all(s % 28 == 0 or s % 32 == 0 for s in geom.resized_size)


@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: f"{g.original_size}->{g.resized_size}")
def test_absolute_resized_maps_the_resized_frame_onto_the_original(geom):
    (W, H), (w, h) = geom.original_size, geom.resized_size
    full = box_to_pixels(RawBox((0, 0, w, h)), "absolute_resized", geom)
    assert full.xyxy == pytest.approx((0, 0, W, H))
    # A token cell of the resized frame lands on the same original pixels as geometry's own token box.
    tw, th = geom.token_size_resized
    cell = box_to_pixels(RawBox((2 * tw, 1 * th, 3 * tw, 2 * th), "cell"), "absolute_resized", geom)
    expected = geom.token_boxes()[1 * geom.grid[1] + 2]
    assert cell.xyxy == pytest.approx(tuple(expected))
    assert (
        cell.label == "cell"
        and cell.convention == "absolute_resized"
        and cell.raw == (2 * tw, th, 3 * tw, 2 * th)
    )


@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: f"{g.original_size}->{g.resized_size}")
@pytest.mark.parametrize("convention", ["relative_1000", "qwen2_box_tokens"])
def test_thousandths_scale_with_the_original_size(geom, convention):
    W, H = geom.original_size
    b = box_to_pixels(RawBox((250, 100, 750, 1000), image="source"), convention, geom)
    assert b.xyxy == pytest.approx((W / 4, H / 10, 3 * W / 4, H))
    assert b.image == "source" and b.area == pytest.approx((W / 2) * (0.9 * H))


def test_conventions_disagree_when_they_should():
    geom = GEOMETRIES[2]
    raw = RawBox((100, 100, 400, 300))
    rel = box_to_pixels(raw, "relative_1000", geom)
    absolute = box_to_pixels(raw, "absolute_resized", geom)
    assert rel.xyxy != pytest.approx(absolute.xyxy)


@pytest.mark.parametrize(
    "coords, convention, message",
    [
        ((1100, 0, 1200, 500), "relative_1000", "entirely outside the 517x333 px image"),
        ((-50, -50, -1, -1), "absolute_resized", "entirely outside"),
        ((400, 100, 300, 200), "relative_1000", "inverted or zero-size"),
        ((100, 100, 100, 200), "relative_1000", "inverted or zero-size"),
        ((0, 0, math.nan, 10), "relative_1000", "4 finite numbers"),
        ((0, 0, 10, 10), "pixels", "unknown box convention"),
    ],
)
def test_bad_boxes_raise_naming_box_and_image(coords, convention, message):
    with pytest.raises(ValueError, match=message) as err:
        box_to_pixels(RawBox(coords, "lamp"), convention, GEOMETRIES[0])
    if convention != "pixels":
        assert "lamp" in str(err.value) and "box [" in str(err.value)


def test_partly_outside_box_is_kept_and_can_be_clipped():
    geom = GEOMETRIES[0]
    W, H = geom.original_size
    b = box_to_pixels(RawBox((900, -100, 1100, 500)), "relative_1000", geom)
    assert b.x2 > W and b.y1 < 0
    c = b.clipped(geom.original_size)
    assert c.xyxy == pytest.approx((0.9 * W, 0, W, 0.5 * H)) and c.raw == b.raw
    assert Box(-10, -10, -5, -5).clipped((10, 10)).area == 0


def test_boxes_to_pixels_collects_errors_per_box():
    geoms = {"edited": GEOMETRIES[0], "source": GEOMETRIES[1]}
    raws = [RawBox((0, 0, 500, 500)), RawBox((5, 5, 1, 1)), RawBox((0, 0, 10, 10), image="mask")]
    boxes, errors = boxes_to_pixels(raws, "relative_1000", geoms)
    assert len(boxes) == 1 and len(errors) == 2
    assert "inverted" in errors[0] and "'mask', which has no geometry" in errors[1]


def test_family_defaults_and_protocol_override():
    assert default_box_convention("qwen2_vl") == "qwen2_box_tokens"
    assert default_box_convention("qwen2_5_vl") == "absolute_resized"
    assert default_box_convention("Qwen2.5-VL") == "absolute_resized"
    assert default_box_convention("qwen3_vl") == "relative_1000"
    assert default_box_convention("llava") == "relative_1000"
    assert resolve_box_convention(SpatialReward.box_convention, "qwen2_5_vl") == "relative_1000"
    assert resolve_box_convention(None, "qwen2_5_vl") == "absolute_resized"
    with pytest.raises(ValueError, match="unknown box convention"):
        resolve_box_convention("xyxy", "qwen3_vl")
    assert set(CONVENTIONS) == {"absolute_resized", "relative_1000", "qwen2_box_tokens"}


def test_parse_box_tokens():
    text = (
        "The <|object_ref_start|>red car<|object_ref_end|><|box_start|>(12,340),(560, 999)<|box_end|> moved; "
        "an unlabeled <|object_ref_start|>x<|object_ref_end|> then <|box_start|>( 1 , 2 ),(3,4)<|box_end|> "
        "and a cut one <|box_start|>(5,6),(7"
    )
    boxes = parse_box_tokens(text)
    assert [b.coords for b in boxes] == [(12, 340, 560, 999), (1, 2, 3, 4)]
    assert [b.label for b in boxes] == ["red car", ""]
    assert text[slice(*boxes[0].char_span)].startswith("<|object_ref_start|>red car")
    assert text[slice(*boxes[1].char_span)] == "<|box_start|>( 1 , 2 ),(3,4)<|box_end|>"
    geom = GEOMETRIES[1]
    b = box_to_pixels(boxes[0], "qwen2_box_tokens", geom)
    assert b.xyxy == pytest.approx((0.012 * 333, 0.34 * 517, 0.56 * 333, 0.999 * 517))
    assert parse_box_tokens("no boxes here") == []
