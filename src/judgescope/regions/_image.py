"""Small shared helpers: image/mask coercion and the error type of this package."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import JudgescopeError


class RegionError(JudgescopeError, ValueError):
    """A region input is malformed: wrong mask size, bad box, corrupt run-length code, ..."""


def as_rgb(image, name: str = "image") -> np.ndarray:
    """A PIL image or array as a C-contiguous ``uint8 [H, W, 3]`` RGB array.

    Accepts PIL images of any mode, ``uint8`` arrays ``[H, W]`` (grey), ``[H, W, 3]`` or ``[H, W, 4]`` (alpha is
    dropped). Anything else raises :class:`RegionError` naming ``name``.
    """
    if isinstance(image, Image.Image):
        return np.ascontiguousarray(np.asarray(image.convert("RGB")))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise RegionError(f"{name}: expected a uint8 image, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise RegionError(f"{name}: expected an HxWx3 image, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise RegionError(f"{name}: empty image of shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])


def as_mask(mask, name: str = "mask") -> np.ndarray:
    """A mask as ``float64 [H, W]`` in [0, 1]: bool, integer 0/1 (or 0/255) and float masks in [0, 1] are accepted."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise RegionError(f"{name}: expected a 2-D [H, W] mask, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.float64)
    if not np.issubdtype(arr.dtype, np.number):
        raise RegionError(f"{name}: expected a numeric or bool mask, got dtype {arr.dtype}")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise RegionError(f"{name}: mask holds NaN or infinite values")
    if np.issubdtype(arr.dtype, np.integer) and out.size and out.max() > 1:
        if set(np.unique(arr).tolist()) <= {0, 255}:
            return out / 255.0
        raise RegionError(f"{name}: integer mask must hold 0/1 or 0/255, got values up to {out.max():g}")
    if out.size and (out.min() < 0 or out.max() > 1):
        raise RegionError(f"{name}: mask values must lie in [0, 1], got [{out.min():g}, {out.max():g}]")
    return out
