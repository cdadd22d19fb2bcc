"""Edit mask from the pixel difference of a source image and its edited version.

Most judge benchmarks ship no edit masks; the pixel difference is then the reference region. Edited images
rarely come back pixel-aligned and lossless: editors resize (often by a few percent, to a multiple of 8 or 16
px), re-encode as JPEG and shift colours slightly. :func:`diff_mask` is built to survive that:

1. resize the edited image to the source size; also send the source through the same size round trip, so
   that both carry the same resampling blur and only the edit (plus JPEG noise) differs;
2. compare in CIE L*a*b* (differences are in ``Delta E`` units, about 1 = just noticeable, 2.3 = JND);
3. remove a global colour/brightness shift: the mode of the per-pixel Lab difference (not the median, so that
   an edit covering most of the image is not mistaken for the shift);
4. blur slightly (sigma ~1 px per 512 px of long side) and threshold low, at the noise floor: median +
   ``noise_k`` * MAD of the pixels Otsu calls unchanged, clipped to ``[1, 2.5] * min_threshold`` (Otsu only
   separates the classes for the noise estimate; as a threshold it would cut weak parts of an edit);
5. open (drop specks), close (bridge cracks), drop components below ``min_area_frac``, fill holes;
6. move the outer boundary inward to where the difference falls below ``edge_frac`` of its local maximum: a
   low threshold draws the mask as wide as blur and resampling spread the edit, the true edge sits near half
   strength. Only a rim a few px deep is peeled, so pixels inside an edit that match by chance stay in.

Measured on real photographs with known edit masks (resize 3 %, JPEG q85-95, brightness +-5): IoU 0.97-0.995,
see ``docs/regions.md``. Identical or merely re-encoded images give an empty mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ._image import RegionError, as_rgb

_MAX_SHIFT = 30.0  # largest global Lab shift looked for, in Delta E per channel ("slight" shifts only)


@dataclass(frozen=True, eq=False)
class DiffRegion:
    """Result of :func:`diff_mask`; every array is at the SOURCE image's size.

    Attributes:
        mask: bool ``[H, W]``, True where the edit changed the image.
        boxes: connected regions of ``mask`` as ``(x1, y1, x2, y2)`` in source pixels, pixel-edge coordinates
            (``x2``/``y2`` exclusive), largest area first.
        threshold: the Delta E threshold applied to ``difference``.
        difference: float32 ``[H, W]``, the blurred Lab difference (Delta E) after removing the global shift.
        shift: ``(dL, da, db)``, the global colour shift that was removed (edited minus source).
        noise: robust spread (1.4826 * MAD, Delta E) of ``difference`` over the pixels judged unchanged.
    """

    mask: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    threshold: float
    difference: np.ndarray
    shift: tuple[float, float, float]
    noise: float

    @property
    def area_frac(self) -> float:
        """Fraction of the source image inside the mask."""
        return float(self.mask.mean())


def diff_mask(
    source,
    edited,
    *,
    threshold: float | None = None,
    min_area_frac: float = 1e-3,
    min_threshold: float = 6.0,
    noise_k: float = 6.0,
    blur_sigma: float | None = None,
    edge_frac: float = 0.4,
    close_radius: int | None = None,
    remove_shift: bool = True,
    fill_holes: bool = True,
    work_size: int = 1024,
) -> DiffRegion:
    """Mask of the pixels an edit changed.

    Args:
        source, edited: PIL images or ``uint8 [H, W, 3]`` arrays. ``edited`` may differ in size (it is resized
            to the source size), be JPEG-compressed and carry a slight global colour or brightness shift.
        threshold: Delta E threshold (the low threshold of step 4); None picks one automatically.
        min_area_frac: connected regions smaller than this fraction of the image are dropped.
        min_threshold: the automatic threshold never goes below this (Delta E); it keeps identical or re-encoded
            images from giving a mask of noise.
        noise_k: the automatic threshold is median + ``noise_k`` x noise spread of the unchanged pixels, clipped
            to ``[min_threshold, 2.5 * min_threshold]``.
        blur_sigma: Gaussian blur in analysis pixels; None = ``max(1, long side / 512)``.
        edge_frac: boundary refinement (step 6); 0 turns it off.
        close_radius: radius of the closing in analysis pixels; None = 3 x the blur radius.
        remove_shift: estimate and remove a global Lab shift (edited minus source).
        fill_holes: fill holes fully enclosed by the mask.
        work_size: the analysis runs with the long side at most this many pixels (speed); the mask is
            scaled back to the source size.

    Returns:
        :class:`DiffRegion` at the source size. Identical images give an empty mask.
    """
    src = as_rgb(source, "source")
    edt = as_rgb(edited, "edited")
    if threshold is not None and not (np.isfinite(threshold) and threshold > 0):
        raise RegionError(f"threshold must be a positive number of Delta E units, got {threshold!r}")
    if not (0 <= min_area_frac < 1 and 0 <= edge_frac < 1 and min_threshold > 0 and work_size >= 1):
        raise RegionError(
            "need 0 <= min_area_frac < 1, 0 <= edge_frac < 1, min_threshold > 0, work_size >= 1; got "
            f"{min_area_frac}, {edge_frac}, {min_threshold}, {work_size}"
        )
    h, w = src.shape[:2]
    scale = min(1.0, work_size / max(h, w))
    aw, ah = max(1, round(w * scale)), max(1, round(h * scale))

    # Same resampling on both sides: edited -> analysis size; source -> edited size -> analysis size.
    src_rt = src if edt.shape[:2] == (h, w) else _resize(src, edt.shape[1], edt.shape[0])
    a_src, a_edt = _resize(src_rt, aw, ah), _resize(edt, aw, ah)
    sigma = blur_sigma if blur_sigma is not None else max(1.0, max(aw, ah) / 512)
    lab_s, lab_e = _lab(a_src, sigma), _lab(a_edt, sigma)
    delta = lab_e - lab_s
    shift = _global_shift(delta) if remove_shift else np.zeros(3, np.float32)
    diff = np.linalg.norm(delta - shift, axis=2).astype(np.float32)

    if threshold is None:
        t, noise = _auto_threshold(diff, min_threshold, noise_k)
    else:
        t, noise = float(threshold), _noise(diff[diff <= threshold])
    radius = max(1, round(sigma))
    close_radius = 3 * radius if close_radius is None else close_radius
    mask = _clean(diff > t, min_area_frac, fill_holes, radius, close_radius)
    if edge_frac > 0 and mask.any():
        mask = _peel_rim(mask, diff, edge_frac, 3 * radius, min_area_frac, fill_holes)

    if (ah, aw) != (h, w):
        mask = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
        diff = cv2.resize(diff, (w, h), interpolation=cv2.INTER_LINEAR)
    return DiffRegion(
        mask=mask,
        boxes=mask_boxes(mask),
        threshold=float(t),
        difference=diff,
        shift=tuple(float(v) for v in shift),
        noise=float(noise),
    )


def mask_boxes(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(x1, y1, x2, y2)`` (pixel edges, exclusive ends) of the 8-connected regions of a bool
    mask, largest region first."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    order = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    return [
        (int(x), int(y), int(x + bw), int(y + bh))
        for x, y, bw, bh in (stats[i, :4] for i in order)  # left, top, width, height
    ]


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    if img.shape[:2] == (h, w):
        return img
    shrink = w * h < img.shape[0] * img.shape[1]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _lab(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """float32 ``[H, W, 3]`` L*a*b* (L in [0, 100]) of a blurred uint8 RGB image."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return cv2.GaussianBlur(lab, (0, 0), sigmaX=sigma) if sigma > 0 else lab


def _global_shift(delta: np.ndarray, max_samples: int = 200_000) -> np.ndarray:
    """The global Lab shift: the densest point of the per-pixel difference vectors (1-unit bins, smoothed over
    3x3x3), refined by the median of the vectors within 3 units of it. The mode, unlike the median, stays on
    the unchanged pixels when an edit covers most of the image."""
    flat = delta.reshape(-1, 3)
    if len(flat) > max_samples:
        flat = flat[np.random.default_rng(0).choice(len(flat), max_samples, replace=False)]
    inside = flat[np.all(np.abs(flat) < _MAX_SHIFT, axis=1)]
    if len(inside) == 0:
        return np.zeros(3, np.float32)
    nb = int(2 * _MAX_SHIFT)
    hist, _ = np.histogramdd(inside, bins=nb, range=[(-_MAX_SHIFT, _MAX_SHIFT)] * 3)
    padded = np.pad(hist, 1)
    smooth = sum(
        padded[i : i + nb, j : j + nb, k : k + nb] for i in range(3) for j in range(3) for k in range(3)
    )
    peak = np.array(np.unravel_index(np.argmax(smooth), smooth.shape)) + 0.5 - _MAX_SHIFT
    near = inside[np.linalg.norm(inside - peak, axis=1) < 3.0]
    return np.median(near, axis=0).astype(np.float32) if len(near) else peak.astype(np.float32)


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _peel_rim(
    mask: np.ndarray, diff: np.ndarray, frac: float, width: int, min_area_frac: float, fill_holes: bool
) -> np.ndarray:
    """Move the outer boundary to where the difference falls to ``frac`` of its local maximum.

    Blur and resampling spread an edit's difference outward by a few pixels, so a low threshold draws the mask
    too wide; the edge sits near half the local edit strength. Only a rim ``width`` px deep is peeled: inside
    an edit, pixels that happen to match the source (pasted skin on fur) stay in.
    """
    inner = cv2.erode(mask.astype(np.uint8), _disk(width)).astype(bool)
    local_max = cv2.dilate(np.where(mask, diff, 0).astype(np.float32), _disk(width))
    keep = inner | (mask & (diff >= frac * local_max))
    return _clean(keep, min_area_frac, fill_holes, 1, 1)


def _noise(values: np.ndarray) -> float:
    """Robust spread of a set of Delta E values: 1.4826 * median absolute deviation."""
    if values.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _auto_threshold(diff: np.ndarray, min_threshold: float, noise_k: float) -> tuple[float, float]:
    """``(threshold, noise)``: the noise floor of the unchanged pixels, within ``[1, 2.5] * min_threshold``.

    Otsu (on the difference clipped at its 99.9th percentile) separates changed from unchanged pixels; the
    unchanged class is also capped at ``2 * min_threshold`` so that an image that changed everywhere cannot
    pass for noise. The threshold is median + ``noise_k`` * (1.4826 MAD) of that class, clipped to
    ``[min_threshold, 2.5 * min_threshold]``: with no edit Otsu splits the noise itself and ``min_threshold``
    decides; with unusually strong noise (heavy JPEG) the floor rises, but never so far as to miss a plain edit.
    """
    top = float(np.percentile(diff, 99.9))
    scaled = np.clip(diff / max(top, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    otsu_u8, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    low = diff[diff <= min(otsu_u8 / 255.0 * top, 2.0 * min_threshold)]
    if low.size == 0:
        return min_threshold, 0.0
    noise = _noise(low)
    floor = float(np.median(low)) + noise_k * noise
    return float(np.clip(floor, min_threshold, 2.5 * min_threshold)), noise


def _clean(
    mask: np.ndarray, min_area_frac: float, fill_holes: bool, open_radius: int, close_radius: int
) -> np.ndarray:
    """Open (drop specks), close (bridge cracks), drop small components, fill enclosed holes."""
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, _disk(open_radius))
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, _disk(close_radius))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    min_area = min_area_frac * mask.size
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    m = keep[labels]
    if fill_holes and m.any():
        m = _fill_holes(m)
    return m


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border."""
    bg = (~mask).astype(np.uint8)
    n, labels = cv2.connectedComponents(bg, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    outside = np.isin(labels, border[border > 0])
    return mask | ((bg > 0) & ~outside)
