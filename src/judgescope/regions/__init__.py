"""Edit regions as pixel masks on the original image, and their projection onto token grids.

- :func:`diff_mask`: edit mask from the pixel difference of source and edited (robust to resize, JPEG,
  global colour shift).
- :func:`boxes_to_mask`: rasterize ``(x1, y1, x2, y2)`` boxes.
- :func:`magicbrush_mask`, :func:`piebench_mask`, :func:`coco_rle_mask`: dataset mask decoders.
- :func:`coverage`: fraction of each token's cell inside a mask, for an :class:`~judgescope.ImageGeometry`.
- :class:`Region`: a named mask (``source`` "diff" | "boxes" | "dataset") with ``on_grid(geometry)``.

No model code here: regions work on images and arrays only.
"""

from ._image import RegionError
from .decode import coco_rle_encode, coco_rle_mask, magicbrush_mask, piebench_mask
from .diff import DiffRegion, diff_mask, mask_boxes
from .project import boxes_to_mask, coverage
from .region import Region

__all__ = [
    "DiffRegion",
    "Region",
    "RegionError",
    "boxes_to_mask",
    "coco_rle_encode",
    "coco_rle_mask",
    "coverage",
    "diff_mask",
    "magicbrush_mask",
    "mask_boxes",
    "piebench_mask",
]
