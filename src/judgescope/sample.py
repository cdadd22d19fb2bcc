"""A sample: one edit to judge (source, edited, instruction) plus optional references."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import SampleError


def load_image(image, sample_id: str | None = None, what: str = "image", min_side: int = 1) -> Image.Image:
    """Open an image (path, PIL image or HxWx3 uint8 array) as RGB, with errors that name the sample.

    Raises:
        SampleError: missing file, unreadable/corrupt file, wrong array shape, or a side below ``min_side`` px.
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.exists():
            raise SampleError(sample_id, f"{what} file not found: {path}")
        try:
            with Image.open(path) as im:
                im.load()
                img = im.convert("RGB")
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise SampleError(sample_id, f"{what} file is corrupt or not an image: {path} ({e})") from e
    elif isinstance(image, Image.Image):
        img = image.convert("RGB")
    elif isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise SampleError(sample_id, f"{what} array must be HxWx3, got shape {image.shape}")
        img = Image.fromarray(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    elif image is None:
        raise SampleError(sample_id, f"{what} is missing")
    else:
        raise SampleError(sample_id, f"{what} has unsupported type {type(image).__name__}")
    if min(img.size) < min_side:
        raise SampleError(
            sample_id,
            f"{what} is too small: {img.size[0]}x{img.size[1]} px, the judge needs at least {min_side} px a side",
        )
    return img


@dataclass
class Sample:
    """One edit to judge.

    Attributes:
        id: unique id (used in every error, file name and report row).
        source, edited: the images (paths, PIL images or HxWx3 uint8 arrays).
        instruction: the edit instruction.
        mask: optional reference edit mask (path or HxW array, white/True = edited) at the source size.
        boxes: optional reference boxes ``(x1, y1, x2, y2)`` in source pixels.
        label: optional human judgement (a number or a dict of numbers).
        meta: free extras (dataset fields).
    """

    id: str
    source: Any
    edited: Any
    instruction: str
    mask: Any = None
    boxes: list | None = None
    label: Any = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.id = str(self.id)
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise SampleError(self.id, "instruction is empty")

    def images(self, min_side: int = 1) -> dict[str, Image.Image]:
        """``{"source": PIL, "edited": PIL}`` loaded and checked (see :func:`load_image`)."""
        return {
            "source": load_image(self.source, self.id, "source image", min_side),
            "edited": load_image(self.edited, self.id, "edited image", min_side),
        }
