"""The few numbers the plots print, computed per attention row.

These are private stand-ins so that viz does not depend on ``judgescope.metrics``; the definitions follow the
project's metric reference (source share = m_S / (m_S + m_E); entropy of the renormalised map in nats;
lift = sum(p * c) / mean(c) with c each token's fraction inside the mask). Undefined values are NaN.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..geometry import ImageGeometry
from ..probe.trace import Trace
from .pixels import token_index_map


def image_maps(trace: Trace, which: int | str) -> np.ndarray:
    """Raw attention over one image's grid, float64 ``[L, H, Q, rows * cols]``."""
    m = trace.image_map(which).detach().cpu().double().numpy()
    return m.reshape(*m.shape[:3], -1)


def masses(trace: Trace) -> np.ndarray:
    """Mass on each image's grid tokens: ``[n_images, L, H, Q]``."""
    return np.stack([image_maps(trace, i).sum(-1) for i in range(len(trace.images))])


def pair(trace: Trace) -> tuple[int, int] | None:
    """Indices of the source and edited images: by name, else the first two images; None with one image."""
    names = [s.name for s in trace.images]
    if "source" in names and "edited" in names:
        return names.index("source"), names.index("edited")
    return (0, 1) if len(names) >= 2 else None


def source_share(trace: Trace) -> np.ndarray:
    """``m_S / (m_S + m_E)`` per row, ``[L, H, Q]``; NaN where both masses are 0 or there is no pair."""
    p = pair(trace)
    if p is None:
        return np.full(trace.attention.shape[:3], np.nan)
    m = masses(trace)
    return safe_div(m[p[0]], m[p[0]] + m[p[1]])


def image_share(trace: Trace) -> np.ndarray:
    """Mass on all image grids together, per row ``[L, H, Q]`` (rows sum to 1, so this is a share)."""
    return masses(trace).sum(0)


def entropy(trace: Trace, which: int | str, normalized: bool = False) -> np.ndarray:
    """Entropy (nats) of one image's renormalised map per row, ``[L, H, Q]``; NaN where its mass is 0.

    ``normalized`` divides by ``log(tokens)`` (NaN for a one-token grid).
    """
    m = image_maps(trace, which)
    total = m.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = m / total
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(-1)
    h[total[..., 0] <= 0] = np.nan
    if normalized:
        n = m.shape[-1]
        h = h / np.log(n) if n > 1 else np.full_like(h, np.nan)
    return h


def coverage(mask: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    """Fraction of each token's cell inside a pixel mask, ``[rows * cols]`` in [0, 1].

    Counted over the original pixels whose centre falls in the cell; a cell smaller than one pixel takes the
    mask value at its centre.
    """
    index = token_index_map(geometry)
    n = geometry.num_tokens
    inside = index >= 0
    total = np.bincount(index[inside], minlength=n).astype(np.float64)
    hit = np.bincount(index[inside], weights=mask[inside].astype(np.float64), minlength=n)
    c = safe_div(hit, total)
    empty = total == 0
    if empty.any():
        boxes = geometry.token_boxes()[empty]
        h, w = mask.shape
        cx = np.clip(((boxes[:, 0] + boxes[:, 2]) / 2).astype(int), 0, w - 1)
        cy = np.clip(((boxes[:, 1] + boxes[:, 3]) / 2).astype(int), 0, h - 1)
        c[empty] = mask[cy, cx]
    return c


def lift(trace: Trace, which: int | str, c: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``sum(p * c) / mean(c)`` per row ``[L, H, Q]`` and the reason when it is undefined (all NaN)."""
    area = float(np.mean(c))
    shape = trace.attention.shape[:3]
    if area <= 0:
        return np.full(shape, np.nan), "mask misses every token"
    if area >= 1:
        return np.full(shape, np.nan), "mask covers every token"
    m = image_maps(trace, which)
    total = m.sum(-1)
    in_region = safe_div((m * c).sum(-1), total)
    return in_region / area, None


def safe_div(a, b) -> np.ndarray:
    """``a / b`` with NaN (not inf, no warning) where ``b == 0``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(a, b).shape, np.nan)
    np.divide(a, b, out=out, where=b != 0)
    return out


def nanmean(x, axis=None):
    """Mean ignoring NaN; NaN (without a warning) where every value is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def fmt(x: float, digits: int = 2) -> str:
    """A number for a caption: ``n/a`` for NaN."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"
