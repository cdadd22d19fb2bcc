"""Where each image token sits on the original photograph.

A VLM never sees the image a user gave it: the processor resizes it (Qwen's ``smart_resize`` rounds each side
to a multiple of 28 or 32 px, so the aspect ratio changes slightly), some processors crop it (LLaVA's CLIP
processor takes a centre square), and the vision tower cuts the result into a grid of tokens. To draw
attention on the original pixels, or to project an edit mask onto the tokens, judgescope keeps that chain
explicit in an :class:`ImageGeometry`.

Coordinates are ``(x, y)`` in pixels with the origin at the top-left corner; sizes are ``(width, height)``;
token grids are ``(rows, cols)`` and tokens are numbered row-major.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ImageGeometry:
    """The resize/crop chain from an original image to its token grid.

    Attributes:
        original_size: ``(width, height)`` of the image the user gave, in pixels.
        resized_size: ``(width, height)`` after the processor's resize, in pixels.
        crop: ``(left, top, right, bottom)`` in resized pixels: the part of the resized image the tokens cover
            (the whole resized image when the processor does not crop).
        grid: ``(rows, cols)`` of tokens covering ``crop`` evenly, row-major.
    """

    original_size: tuple[int, int]
    resized_size: tuple[int, int]
    crop: tuple[float, float, float, float]
    grid: tuple[int, int]

    @classmethod
    def uncropped(cls, original_size: tuple[int, int], resized_size: tuple[int, int], grid: tuple[int, int]):
        """Geometry of a processor that resizes without cropping (Qwen-VL, Gemma 3, ...)."""
        w, h = resized_size
        return cls(tuple(original_size), tuple(resized_size), (0.0, 0.0, float(w), float(h)), tuple(grid))

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def scale(self) -> tuple[float, float]:
        """``(sx, sy)``: original pixels per resized pixel along x and y."""
        return (self.original_size[0] / self.resized_size[0], self.original_size[1] / self.resized_size[1])

    @property
    def token_size_resized(self) -> tuple[float, float]:
        """``(width, height)`` of one token cell in resized pixels (28x28 for Qwen2.5-VL, 32x32 for Qwen3-VL)."""
        left, top, right, bottom = self.crop
        return ((right - left) / self.grid[1], (bottom - top) / self.grid[0])

    @property
    def token_size_original(self) -> tuple[float, float]:
        """``(width, height)`` of one token cell in original pixels."""
        tw, th = self.token_size_resized
        sx, sy = self.scale
        return (tw * sx, th * sy)

    def token_boxes(self) -> np.ndarray:
        """Boxes of all token cells in original pixels.

        Returns:
            float64 array ``[rows * cols, 4]`` of ``(x1, y1, x2, y2)``, row-major token order. Cells of a cropped
            geometry can extend past the original frame only through rounding; they are not clipped.
        """
        rows, cols = self.grid
        left, top, _, _ = self.crop
        tw, th = self.token_size_resized
        sx, sy = self.scale
        r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        x1 = (left + c * tw) * sx
        y1 = (top + r * th) * sy
        return np.stack([x1, y1, x1 + tw * sx, y1 + th * sy], axis=-1).reshape(-1, 4).astype(np.float64)

    def original_to_token(self, x: float, y: float) -> tuple[int, int] | None:
        """The ``(row, col)`` of the token whose cell holds original pixel ``(x, y)``, or None outside the crop."""
        sx, sy = self.scale
        left, top, right, bottom = self.crop
        xr, yr = x / sx, y / sy
        if not (left <= xr < right and top <= yr < bottom):
            return None
        tw, th = self.token_size_resized
        return (min(int((yr - top) // th), self.grid[0] - 1), min(int((xr - left) // tw), self.grid[1] - 1))

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> ImageGeometry:
        return cls(
            tuple(int(v) for v in d["original_size"]),
            tuple(int(v) for v in d["resized_size"]),
            tuple(float(v) for v in d["crop"]),
            tuple(int(v) for v in d["grid"]),
        )


def smart_resize(
    height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56, max_pixels: int = 14 * 14 * 4 * 1280
) -> tuple[int, int]:
    """Qwen-VL's resize rule (same in qwen-vl-utils and transformers): returns ``(height, width)`` in pixels.

    Each side is rounded to a multiple of ``factor`` (28 for Qwen2/2.5-VL, 32 for Qwen3-VL); the area is then
    brought inside ``[min_pixels, max_pixels]`` keeping the aspect ratio as far as the rounding allows.
    """
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar
