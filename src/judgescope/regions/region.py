"""A named region on an image, ready to be projected onto that image's token grid."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..geometry import ImageGeometry
from ._image import RegionError, as_mask
from .diff import DiffRegion
from .project import boxes_to_mask, coverage

SOURCES = ("diff", "boxes", "dataset")


@dataclass(frozen=True, eq=False)
class Region:
    """A pixel region of one image, e.g. ``regions={"edited": Region(...), "source": Region(...)}``.

    Attributes:
        name: what the region is ("edit", "predicted", ...).
        source: where it came from: ``"diff"`` (pixel difference), ``"boxes"`` (e.g. a judge's predicted
            boxes) or ``"dataset"`` (a shipped mask).
        mask: ``[H, W]`` bool (or float in [0, 1]) at the image's original size.
        boxes: ``(x1, y1, x2, y2)`` boxes in original pixels, when the region has them.
    """

    name: str
    source: str
    mask: np.ndarray
    boxes: tuple[tuple[float, float, float, float], ...] = field(default=())

    def __post_init__(self):
        if self.source not in SOURCES:
            raise RegionError(f"region {self.name!r}: source must be one of {SOURCES}, got {self.source!r}")
        as_mask(self.mask, f"region {self.name!r}")  # validates shape and values

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the mask."""
        return (int(self.mask.shape[1]), int(self.mask.shape[0]))

    @property
    def area_frac(self) -> float:
        return float(np.mean(self.mask))

    def on_grid(self, geometry: ImageGeometry, resize: bool = False) -> np.ndarray:
        """Coverage of each token cell, float ``[rows, cols]`` in [0, 1] (see :func:`coverage`).

        With ``resize=True`` a mask whose size differs from ``geometry.original_size`` is first resampled to it
        (see :meth:`resized`); otherwise a size mismatch raises :class:`RegionError`.
        """
        region = self.resized(geometry.original_size) if resize else self
        return coverage(region.mask, geometry)

    def resized(self, size: tuple[int, int]) -> Region:
        """The same region on an image of ``size = (width, height)``: e.g. a diff mask (made at the source size)
        moved onto an edited image a few percent larger. The mask becomes soft (area interpolation) so that
        coverage stays area-exact; boxes are scaled."""
        w, h = (int(v) for v in size)
        if (w, h) == self.size:
            return self
        mask = cv2.resize(np.asarray(self.mask, np.float32), (w, h), interpolation=cv2.INTER_AREA)
        sx, sy = w / self.size[0], h / self.size[1]
        boxes = tuple((x1 * sx, y1 * sy, x2 * sx, y2 * sy) for x1, y1, x2, y2 in self.boxes)
        return Region(self.name, self.source, np.clip(mask, 0.0, 1.0), boxes)

    @classmethod
    def from_diff(cls, diff: DiffRegion, name: str = "edit") -> Region:
        return cls(name, "diff", diff.mask, tuple(tuple(float(v) for v in b) for b in diff.boxes))

    @classmethod
    def from_boxes(cls, boxes, size: tuple[int, int], name: str = "boxes") -> Region:
        """Boxes ``(x1, y1, x2, y2)`` in original pixels on an image of ``size = (width, height)``."""
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return cls(name, "boxes", boxes_to_mask(arr, size), tuple(tuple(float(v) for v in b) for b in arr))

    @classmethod
    def from_mask(cls, mask, name: str = "dataset", source: str = "dataset") -> Region:
        return cls(name, source, np.asarray(mask))
