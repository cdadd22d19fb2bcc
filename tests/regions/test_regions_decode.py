"""Dataset mask decoders: MagicBrush images, PIE-Bench runs, COCO RLE."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data

from judgescope.regions import RegionError, coco_rle_encode, coco_rle_mask, magicbrush_mask, piebench_mask

# --- MagicBrush ------------------------------------------------------------------------------------------


def _brushed(img: np.ndarray, region: np.ndarray) -> np.ndarray:
    """A MagicBrush-style mask image: the photo as RGBA with the brushed region transparent."""
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    rgba[region] = (255, 255, 255, 0)
    return rgba


def test_magicbrush_rgba_transparent_area_is_the_edit(tmp_path):
    img = data.astronaut()  # the photo has near-white pixels of its own: alpha must win
    region = np.zeros(img.shape[:2], bool)
    region[100:180, 300:420] = True
    path = tmp_path / "mask.png"
    Image.fromarray(_brushed(img, region), "RGBA").save(path)
    assert np.array_equal(magicbrush_mask(path), region)
    assert np.array_equal(magicbrush_mask(str(path)), region)
    assert np.array_equal(magicbrush_mask(Image.open(path)), region)


def test_magicbrush_rgb_white_is_the_edit_and_resize():
    mask_img = np.zeros((60, 80, 3), np.uint8)
    mask_img[10:20, 30:50] = 255
    mask_img[40:45, 5:10] = (252, 253, 251)  # near-white after a lossy save
    mask_img[50:55, 60:70] = (255, 255, 200)  # yellowish: not white
    m = magicbrush_mask(mask_img)
    assert m.sum() == 200 + 25 and m[15, 40] and m[42, 7] and not m[52, 65]
    big = magicbrush_mask(Image.fromarray(mask_img), size=(160, 120))
    assert big.shape == (120, 160) and big.sum() == 4 * (200 + 25)
    grey = magicbrush_mask(np.asarray(Image.fromarray(mask_img).convert("L")))
    assert grey.sum() == 225


def test_magicbrush_bad_input_raises():
    with pytest.raises(RegionError, match="MagicBrush"):
        magicbrush_mask(np.zeros((4, 4), np.float32))


# --- PIE-Bench -------------------------------------------------------------------------------------------


def pie_reference_decode(encoded: list[int], h: int, w: int) -> np.ndarray:
    """PnPInversion's mask_decode loop, without its border marking."""
    flat = np.zeros(h * w)
    for i in range(0, len(encoded), 2):
        for j in range(min(encoded[i + 1], h * w - encoded[i])):
            flat[encoded[i] + j] = 1
    return flat.reshape(h, w).astype(bool)


def pie_encode(mask: np.ndarray) -> list[int]:
    flat = np.concatenate([[False], mask.ravel(), [False]])
    edges = np.flatnonzero(flat[1:] != flat[:-1])
    starts, ends = edges[0::2], edges[1::2]
    return np.stack([starts, ends - starts], 1).ravel().tolist()


def test_piebench_is_row_major_over_height_width():
    m = piebench_mask([1, 2, 6, 3], size=(4, 3))  # W=4, H=3: flat indices 1, 2, 6, 7, 8
    expected = np.zeros((3, 4), bool)
    expected[0, 1:3] = True
    expected[1, 2:4] = True
    expected[2, 0] = True
    assert np.array_equal(m, expected)


def test_piebench_default_size_and_border_option():
    m = piebench_mask([512 * 100 + 200, 50])  # row 100, columns 200..249
    assert m.shape == (512, 512) and m.sum() == 50 and m[100, 200:250].all()
    b = piebench_mask([], size=(5, 4), mark_border=True)
    assert b.sum() == 5 * 4 - 3 * 2 and not b[1:3, 1:4].any()


def test_piebench_overrun_is_clipped_like_the_reference():
    m = piebench_mask([10, 100], size=(4, 3))
    assert np.array_equal(m, pie_reference_decode([10, 100], 3, 4))
    assert m.sum() == 2


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 30), w=st.integers(1, 30), seed=st.integers(0, 1000))
def test_piebench_round_trip_and_reference(h, w, seed):
    mask = np.random.default_rng(seed).random((h, w)) < 0.4
    runs = pie_encode(mask)
    decoded = piebench_mask(runs, size=(w, h))
    assert np.array_equal(decoded, mask)
    assert np.array_equal(decoded, pie_reference_decode(runs, h, w))


@pytest.mark.parametrize("runs,match", [([1, 2, 3], "odd"), ([12, 1], "outside"), ([-1, 2], "outside")])
def test_piebench_bad_runs_raise(runs, match):
    with pytest.raises(RegionError, match=match):
        piebench_mask(runs, size=(4, 3))


# --- COCO RLE --------------------------------------------------------------------------------------------


def test_coco_hand_checked_example():
    # counts [0, 40, 3, 1] by hand with pycocotools' rleToString: 0 -> "0"; 40 = 0b01000_01000 -> chars
    # (8 | 0x20) + 48 = "X", 1 + 48 = "1"; 3 -> "3"; 4th count is a delta: 1 - 40 = -39 -> low 5 bits 25,
    # more -> (25 | 0x20) + 48 = "i", then -2 & 31 = 30 (sign bit set, rest is -1) -> 30 + 48 = "N".
    rle = {"size": [4, 11], "counts": "0X13iN"}
    m = coco_rle_mask(rle)
    expected = np.ones((4, 11), bool)  # column-major: 40 ones fill columns 0..9
    expected[0:3, 10] = False  # then 3 zeros down column 10, then 1 one
    assert np.array_equal(m, expected)
    assert coco_rle_encode(expected) == rle
    assert np.array_equal(coco_rle_mask({"size": [4, 11], "counts": [0, 40, 3, 1]}), expected)
    assert np.array_equal(coco_rle_mask({"size": [4, 11], "counts": b"0X13iN"}), expected)


def test_coco_is_column_major():
    m = np.zeros((2, 3), bool)
    m[0, 1] = True  # Fortran index 2
    assert coco_rle_encode(m, compress=False)["counts"] == [2, 1, 3]
    assert np.array_equal(coco_rle_mask({"size": [2, 3], "counts": [2, 1, 3]}), m)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 70),
    w=st.integers(1, 70),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 10_000),
    compress=st.booleans(),
)
def test_coco_round_trip(h, w, p, seed, compress):
    mask = np.random.default_rng(seed).random((h, w)) < p
    rle = coco_rle_encode(mask, compress=compress)
    assert rle["size"] == [h, w]
    assert np.array_equal(coco_rle_mask(rle), mask)


def test_coco_round_trip_large_runs_and_deltas():
    mask = np.zeros((500, 700), bool)  # long runs (multi-char values) and negative deltas
    mask[10:400, 20:600] = True
    mask[450:460, 650:651] = True
    rle = coco_rle_encode(mask)
    assert isinstance(rle["counts"], str) and all(48 <= ord(c) < 112 for c in rle["counts"])
    assert np.array_equal(coco_rle_mask(rle), mask)


@pytest.mark.parametrize(
    "rle,match",
    [
        ({"size": [2, 2], "counts": [1, 2]}, "cover 3"),
        ({"size": [2, 2], "counts": "0X"}, "middle"),
        ({"size": [2, 2], "counts": "0 4"}, "invalid character"),
        ({"counts": [4]}, "expected"),
        ({"size": [2, 2], "counts": [5, -1]}, "negative"),
    ],
)
def test_coco_bad_rle_raises(rle, match):
    with pytest.raises(RegionError, match=match):
        coco_rle_mask(rle)
