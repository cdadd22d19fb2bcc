"""Boxes a judge writes, mapped back to the pixels of the image the user gave.

A VLM's box coordinates mean different things per family (the *convention*):

- ``"absolute_resized"`` (Qwen2.5-VL): pixels of the resized frame the model saw,
  ``x_orig = x * W / w_resized``, ``y_orig = y * H / h_resized``.
- ``"relative_1000"`` (Qwen3-VL, SpatialReward): thousandths of the image, ``x_orig = x / 1000 * W``.
- ``"qwen2_box_tokens"`` (Qwen2-VL): ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` in thousandths, mapped like
  ``relative_1000``; :func:`parse_box_tokens` reads them from raw text.

Sizes are ``(width, height)``; boxes are ``(x1, y1, x2, y2)`` with the origin top-left.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from judgescope.geometry import ImageGeometry
from judgescope.judges.protocols.base import RawBox

CONVENTIONS = ("absolute_resized", "relative_1000", "qwen2_box_tokens")
_FAMILY_CONVENTION = {
    "qwen2_vl": "qwen2_box_tokens",
    "qwen2_5_vl": "absolute_resized",
    "qwen3_vl": "relative_1000",
}
_NUM = r"\s*([-+]?\d+(?:\.\d+)?)\s*"
_BOX_TOKENS = re.compile(
    r"(?:<\|object_ref_start\|>(?P<label>(?:(?!<\|object_ref_).)*?)<\|object_ref_end\|>\s*)?"
    rf"<\|box_start\|>\s*\({_NUM},{_NUM}\)\s*,\s*\({_NUM},{_NUM}\)\s*<\|box_end\|>",
    re.DOTALL,
)


@dataclass(frozen=True)
class Box:
    """A box in ORIGINAL image pixels.

    Attributes:
        x1, y1, x2, y2: corners in original pixels (may extend past the image; see :meth:`clipped`).
        label: the judge's label for the box, ``""`` when none.
        image: image role the box is on (``"edited"``, ``"source"``).
        convention: the coordinate convention it was mapped from.
        raw: the coordinates as the judge wrote them.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    label: str = ""
    image: str = "edited"
    convention: str = ""
    raw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def area(self) -> float:
        """Area in original pixels squared (0 for an empty box)."""
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def clipped(self, size: tuple[int, int]) -> Box:
        """The box cut to the image ``size = (width, height)``; may be empty (zero area) if fully outside."""
        w, h = size
        x1, x2 = min(max(self.x1, 0.0), w), min(max(self.x2, 0.0), w)
        y1, y2 = min(max(self.y1, 0.0), h), min(max(self.y2, 0.0), h)
        return Box(x1, y1, x2, y2, self.label, self.image, self.convention, self.raw)


def normalize_family(family: str) -> str:
    """``"Qwen2.5-VL"``, ``"qwen2_5_vl"`` and ``"qwen2.5-vl"`` all become ``"qwen2_5_vl"``."""
    return re.sub(r"[\s.\-]+", "_", str(family).strip().lower())


def default_box_convention(family: str) -> str:
    """The convention a model family writes boxes in: ``"qwen2_vl"`` -> ``"qwen2_box_tokens"``,
    ``"qwen2_5_vl"`` -> ``"absolute_resized"``, ``"qwen3_vl"`` and anything else -> ``"relative_1000"``."""
    return _FAMILY_CONVENTION.get(normalize_family(family), "relative_1000")


def resolve_box_convention(protocol_convention: str | None, family: str) -> str:
    """The protocol's convention when it fixes one, else the family's default."""
    conv = protocol_convention or default_box_convention(family)
    if conv not in CONVENTIONS:
        raise ValueError(f"unknown box convention {conv!r}; known: {CONVENTIONS}")
    return conv


def parse_box_tokens(text: str, image: str = "edited") -> list[RawBox]:
    """Qwen2-VL box tokens in ``text``: ``[<|object_ref_start|>label<|object_ref_end|>]<|box_start|>(x1,y1),
    (x2,y2)<|box_end|>``, in order. ``char_span`` covers the label part too when present. A box cut off before
    ``<|box_end|>`` is not returned."""
    out = []
    for m in _BOX_TOKENS.finditer(text):
        coords = tuple(float(m.group(i)) for i in range(2, 6))
        out.append(RawBox(coords, (m.group("label") or "").strip(), image, m.span()))
    return out


def box_to_pixels(raw: RawBox, convention: str, geometry: ImageGeometry) -> Box:
    """Map a written box to original pixels of the image described by ``geometry``.

    Raises:
        ValueError: unknown convention; non-finite, inverted or zero-size coordinates; or a box that lies
            entirely outside the image after mapping. The message names the box and the image size.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown box convention {convention!r}; known: {CONVENTIONS}")
    W, H = geometry.original_size
    desc = f"box {list(raw.coords)} ({raw.label or 'no label'}, on {raw.image!r}, {convention})"
    if len(raw.coords) != 4 or not all(math.isfinite(v) for v in raw.coords):
        raise ValueError(f"{desc}: coordinates must be 4 finite numbers")
    x1, y1, x2, y2 = (float(v) for v in raw.coords)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"{desc}: inverted or zero-size (needs x1 < x2 and y1 < y2); image is {W}x{H} px")
    if convention == "absolute_resized":
        sx, sy = W / geometry.resized_size[0], H / geometry.resized_size[1]
    else:
        sx, sy = W / 1000.0, H / 1000.0
    box = Box(x1 * sx, y1 * sy, x2 * sx, y2 * sy, raw.label, raw.image, convention, (x1, y1, x2, y2))
    if box.x1 >= W or box.y1 >= H or box.x2 <= 0 or box.y2 <= 0:
        raise ValueError(
            f"{desc}: maps to {[round(v, 1) for v in box.xyxy]} px, entirely outside the {W}x{H} px image"
        )
    return box


def boxes_to_pixels(
    raws: list[RawBox], convention: str, geometries: dict[str, ImageGeometry]
) -> tuple[list[Box], list[str]]:
    """Map many boxes, each on the geometry of its ``image`` role; bad boxes become error strings.

    Returns:
        ``(boxes, errors)``: the boxes that mapped (not clipped), in input order, and one message per box
        that did not (unknown image role, or :func:`box_to_pixels`'s reasons).
    """
    boxes, errors = [], []
    for raw in raws:
        geom = geometries.get(raw.image)
        if geom is None:
            errors.append(f"box {list(raw.coords)} is on image {raw.image!r}, which has no geometry")
            continue
        try:
            boxes.append(box_to_pixels(raw, convention, geom))
        except ValueError as e:
            errors.append(str(e))
    return boxes, errors
