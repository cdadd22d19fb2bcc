"""Edit masks as the datasets ship them, decoded to bool ``[H, W]`` arrays.

- MagicBrush ``mask_img``: the source photo with the edit area brushed out. The released PNGs are RGBA with
  the brushed area transparent (the maintainers' conversion keys on alpha, MagicBrush issue #10); copies that
  went through an RGB conversion show it white. Transparent pixels mark the edit when the image has any;
  otherwise near-white pixels do.
- PIE-Bench ``mapping_file.json`` ``"mask"``: flat run-length list ``[start, length, start, length, ...]`` over
  the row-major (H, W) = (512, 512) array, as decoded by PnPInversion's ``mask_decode``.
- COCO RLE (ImgEdit and other COCO-style annotations): ``{"size": [h, w], "counts": ...}`` with runs over the
  column-major (Fortran) array, alternately 0 and 1 starting with 0; ``counts`` is a list of ints or the
  compressed string of pycocotools (``rleToString``). Decoded here in numpy, no pycocotools needed.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ._image import RegionError


def magicbrush_mask(path_or_image, size: tuple[int, int] | None = None, white_level: int = 250) -> np.ndarray:
    """Decode a MagicBrush mask image.

    Args:
        path_or_image: a path, a PIL image or a ``uint8`` array ``[H, W]``, ``[H, W, 3]`` or ``[H, W, 4]``.
        size: ``(width, height)`` to resize the mask to (MagicBrush masks can differ in size from the images),
            nearest-neighbour; None keeps the mask's own size.
        white_level: without transparency, a pixel is edit when all its channels are at least this.

    Returns:
        bool ``[H, W]``, True inside the edit region.
    """
    if isinstance(path_or_image, (str, os.PathLike)):
        with Image.open(path_or_image) as im:
            arr = _pil_array(im)
    elif isinstance(path_or_image, Image.Image):
        arr = _pil_array(path_or_image)
    else:
        arr = np.asarray(path_or_image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise RegionError(f"MagicBrush mask: expected a uint8 image, got {arr.dtype} of shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 4 and (arr[:, :, 3] < 128).any():
        mask = arr[:, :, 3] < 128  # the brushed-out (transparent) area
    else:
        rgb = arr if arr.ndim == 2 else arr[:, :, : min(3, arr.shape[2])]
        mask = rgb >= white_level if rgb.ndim == 2 else np.all(rgb >= white_level, axis=2)
    if size is not None and (mask.shape[1], mask.shape[0]) != tuple(size):
        w, h = _check_size(size)
        mask = np.asarray(Image.fromarray(mask).resize((w, h), Image.NEAREST))
    return mask.astype(bool)


def piebench_mask(
    rle: list[int], size: tuple[int, int] = (512, 512), mark_border: bool = False
) -> np.ndarray:
    """Decode a PIE-Bench run-length mask.

    Args:
        rle: flat ``[start, length, start, length, ...]`` over the row-major ``H x W`` array (0-based starts).
        size: ``(width, height)`` of the array; PIE-Bench images are 512 x 512.
        mark_border: also set the outermost rows and columns, as PnPInversion's evaluation does "to avoid
            annotation errors in boundary" (off by default: that is an evaluation choice, not the annotation).

    Returns:
        bool ``[H, W]``. A run that overruns the end is clipped (as the reference decoder does); a negative
        value, a start beyond the array or an odd-length list raises :class:`RegionError`.
    """
    w, h = _check_size(size)
    runs = np.asarray(rle, dtype=np.int64).reshape(-1) if len(rle) else np.zeros(0, np.int64)
    if runs.size % 2:
        raise RegionError(f"PIE-Bench mask: run-length list has odd length {runs.size}")
    starts, lengths = runs[0::2], runs[1::2]
    n = w * h
    if (runs < 0).any() or (starts >= n).any():
        bad = int(np.flatnonzero((starts < 0) | (lengths < 0) | (starts >= n))[0])
        raise RegionError(
            f"PIE-Bench mask: run {bad} (start {starts[bad]}, length {lengths[bad]}) is outside {h}x{w}"
        )
    flat = np.zeros(n + 1, np.int32)  # difference array: +1 at each run start, -1 after its end
    np.add.at(flat, starts, 1)
    np.add.at(flat, np.minimum(starts + lengths, n), -1)
    mask = (np.cumsum(flat[:n]) > 0).reshape(h, w)
    if mark_border:
        mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = True
    return mask


def coco_rle_mask(rle: dict) -> np.ndarray:
    """Decode a COCO run-length mask ``{"size": [h, w], "counts": str | bytes | list[int]}``.

    Returns:
        bool ``[h, w]``. Counts that do not add up to ``h * w`` raise :class:`RegionError`.
    """
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as e:
        raise RegionError(f"COCO RLE: expected {{'size': [h, w], 'counts': ...}}, got {rle!r:.80}") from e
    if isinstance(counts, (str, bytes)):
        counts = _counts_from_string(counts)
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    if (counts < 0).any():
        raise RegionError("COCO RLE: negative run length")
    if int(counts.sum()) != h * w:
        raise RegionError(f"COCO RLE: runs cover {int(counts.sum())} pixels, size {h}x{w} has {h * w}")
    values = np.arange(counts.size) % 2 == 1  # runs alternate 0, 1, 0, ... starting with 0
    return np.repeat(values, counts).reshape((h, w), order="F")


def coco_rle_encode(mask: np.ndarray, compress: bool = True) -> dict:
    """Encode a bool ``[h, w]`` mask as COCO RLE (the inverse of :func:`coco_rle_mask`)."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise RegionError(f"COCO RLE: expected a 2-D mask, got shape {m.shape}")
    flat = m.reshape(-1, order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]  # the first run is always of zeros
    counts = [int(c) for c in counts]
    size = [int(m.shape[0]), int(m.shape[1])]
    return {"size": size, "counts": _counts_to_string(counts) if compress else counts}


def _counts_from_string(s: str | bytes) -> list[int]:
    """pycocotools ``rleFrString``: 5 bits per char (ASCII 48..111), bit 0x20 = more chars follow, bit 0x10 of
    the last char = sign; from the 4th count on, each value is a delta to the count two places back."""
    data = s.encode("ascii") if isinstance(s, str) else bytes(s)
    counts: list[int] = []
    p = 0
    while p < len(data):
        x, k, more = 0, 0, True
        while more:
            if p >= len(data):
                raise RegionError("COCO RLE: compressed counts end in the middle of a value")
            c = data[p] - 48
            if not 0 <= c < 64:
                raise RegionError(f"COCO RLE: invalid character {chr(data[p])!r} in compressed counts")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)  # sign-extend
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _counts_to_string(counts: list[int]) -> str:
    """pycocotools ``rleToString`` (see :func:`_counts_from_string`)."""
    out = []
    for i, cnt in enumerate(counts):
        x = cnt - counts[i - 2] if i > 2 else cnt
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift, as on the C long
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return "".join(out)


def _pil_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA"))
    return np.asarray(im.convert("RGB"))


def _check_size(size) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError) as e:
        raise RegionError(f"size must be (width, height), got {size!r}") from e
    if w < 1 or h < 1:
        raise RegionError(f"size must be positive, got {size!r}")
    return w, h
