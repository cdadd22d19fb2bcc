"""Regions on the original image, and their projection onto a token grid.

Pixel convention: pixel ``(col, row)`` covers ``[col, col + 1) x [row, row + 1)``; boxes are
``(x1, y1, x2, y2)`` in those continuous coordinates (so an integer box ``(0, 0, 2, 1)`` is two pixels).
"""

from __future__ import annotations

import numpy as np

from ..geometry import ImageGeometry
from ._image import RegionError, as_mask


def boxes_to_mask(boxes, size: tuple[int, int]) -> np.ndarray:
    """Rasterize boxes onto a bool mask.

    Args:
        boxes: ``(x1, y1, x2, y2)`` or ``[N, 4]``, floats in original pixels. A pixel is inside when its centre
            is; a box thinner than a pixel still marks the pixel holding its centre.
        size: ``(width, height)`` of the mask.

    Returns:
        bool ``[height, width]``, the union of the boxes. A box partly outside the frame is clipped; a box
        entirely outside, degenerate (``x2 <= x1`` or ``y2 <= y1``) or not finite raises :class:`RegionError`
        naming it.
    """
    w, h = (int(v) for v in size)
    if w < 1 or h < 1:
        raise RegionError(f"size must be a positive (width, height), got {size!r}")
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((h, w), bool)
    arr = arr.reshape(-1, 4) if arr.ndim == 1 and arr.size == 4 else arr
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise RegionError(f"boxes must be (x1, y1, x2, y2) or [N, 4], got shape {np.shape(boxes)}")
    mask = np.zeros((h, w), bool)
    for i, (x1, y1, x2, y2) in enumerate(arr):
        box = f"box {i} ({x1:g}, {y1:g}, {x2:g}, {y2:g})"
        if not np.all(np.isfinite([x1, y1, x2, y2])):
            raise RegionError(f"{box} is not finite")
        if x2 <= x1 or y2 <= y1:
            raise RegionError(f"{box} is degenerate: needs x2 > x1 and y2 > y1")
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise RegionError(f"{box} lies entirely outside the {w}x{h} image")
        c0, c1 = _pixel_span(x1, x2, w)
        r0, r1 = _pixel_span(y1, y2, h)
        mask[r0:r1, c0:c1] = True
    return mask


def _pixel_span(a: float, b: float, n: int) -> tuple[int, int]:
    """Pixels whose centre ``i + 0.5`` lies in ``[a, b)``, clipped to ``[0, n)``; at least the centre pixel."""
    lo, hi = int(np.ceil(a - 0.5)), int(np.ceil(b - 0.5))
    lo, hi = max(lo, 0), min(hi, n)
    if hi <= lo:
        mid = int(np.clip(np.floor((max(a, 0) + min(b, n)) / 2), 0, n - 1))
        return mid, mid + 1
    return lo, hi


def coverage(mask, geometry: ImageGeometry) -> np.ndarray:
    """Fraction of each token's cell inside the mask, computed exactly.

    Each cell (``geometry.token_boxes()``, original pixels, fractional edges) is intersected with the image
    frame ``[0, W] x [0, H]``; coverage is the mask's area inside that part divided by that part's area. The
    mask is piecewise constant per pixel, so its integral over any axis-aligned rectangle is the bilinear
    interpolation of the summed-area table at the rectangle's corners: no sampling error.

    Conventions: a cell that sticks out of the frame (rounding in a cropped geometry, or a geometry whose grid
    overhangs the image) counts only its inside part; a cell with no inside part is NaN (undefined, it shows
    no pixel of the image). Pixels outside every cell (the parts a centre crop cuts off) do not count.

    Args:
        mask: ``[H, W]`` bool, 0/1 or float in [0, 1] (soft masks are weighted), with
            ``(W, H) == geometry.original_size``.
        geometry: the image's :class:`~judgescope.geometry.ImageGeometry`.

    Returns:
        float64 ``[rows, cols]`` in [0, 1] (NaN for cells outside the frame), row-major like the tokens.
    """
    m = as_mask(mask)
    w, h = geometry.original_size
    if m.shape != (h, w):
        raise RegionError(
            f"mask is {m.shape[1]}x{m.shape[0]} (WxH) but the geometry's original image is {w}x{h}; "
            "masks must be at the original image size (resize with nearest/area first)"
        )
    sat = np.zeros((h + 1, w + 1), np.float64)  # sat[r, c] = mask area in [0, c) x [0, r)
    sat[1:, 1:] = m.cumsum(0).cumsum(1)
    boxes = geometry.token_boxes()
    x1, x2 = np.clip(boxes[:, 0], 0, w), np.clip(boxes[:, 2], 0, w)
    y1, y2 = np.clip(boxes[:, 1], 0, h), np.clip(boxes[:, 3], 0, h)
    inside = (x2 - x1) * (y2 - y1)
    area = _integral(sat, x2, y2) - _integral(sat, x1, y2) - _integral(sat, x2, y1) + _integral(sat, x1, y1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.where(inside > 0, area / np.where(inside > 0, inside, 1.0), np.nan)
    return np.clip(cov, 0.0, 1.0).reshape(geometry.grid)


def _integral(sat: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask area in ``[0, x) x [0, y)`` for fractional x, y: bilinear interpolation of the summed-area table."""
    hmax, wmax = sat.shape[0] - 1, sat.shape[1] - 1
    c0 = np.clip(np.floor(x).astype(np.int64), 0, max(wmax - 1, 0))
    r0 = np.clip(np.floor(y).astype(np.int64), 0, max(hmax - 1, 0))
    c1, r1 = np.minimum(c0 + 1, wmax), np.minimum(r0 + 1, hmax)
    fx, fy = x - c0, y - r0
    top = sat[r0, c0] * (1 - fx) + sat[r0, c1] * fx
    bottom = sat[r1, c0] * (1 - fx) + sat[r1, c1] * fx
    return top * (1 - fy) + bottom * fy
