"""Token spans: which positions of a sequence belong to which image, and what the other tokens are."""

from __future__ import annotations

from dataclasses import dataclass, field

from .geometry import ImageGeometry


def positions_to_ranges(positions) -> list[list[int]]:
    """Compress sorted integer positions into ``[[start, stop), ...]`` runs (stop exclusive)."""
    runs: list[list[int]] = []
    for p in positions:
        p = int(p)
        if runs and runs[-1][1] == p:
            runs[-1][1] = p + 1
        else:
            runs.append([p, p + 1])
    return runs


def ranges_to_positions(ranges) -> tuple[int, ...]:
    """Inverse of :func:`positions_to_ranges`."""
    return tuple(p for start, stop in ranges for p in range(int(start), int(stop)))


@dataclass(frozen=True)
class ImageSpan:
    """One image inside a tokenized input.

    Attributes:
        index: order of the image in the input (0 = first image).
        name: the image's role in the protocol, e.g. ``"source"`` or ``"edited"``.
        positions: sequence positions of the image's grid tokens, in row-major grid order; ``len(positions) ==
            geometry.num_tokens``. Wrapper tokens (``<|vision_start|>`` ...) are not included.
        geometry: how the grid maps onto the original pixels.
        extra_positions: other tokens that carry this image but are not on its grid (Idefics3 tiles, wrapper
            tokens); they count as this image's attention mass only where a metric says so.
    """

    index: int
    name: str
    positions: tuple[int, ...]
    geometry: ImageGeometry
    extra_positions: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if len(self.positions) != self.geometry.num_tokens:
            raise ValueError(
                f"image {self.index} ({self.name}): {len(self.positions)} positions for a "
                f"{self.geometry.grid[0]}x{self.geometry.grid[1]} grid"
            )

    @property
    def grid(self) -> tuple[int, int]:
        return self.geometry.grid

    @property
    def start(self) -> int:
        return min(self.positions)

    @property
    def stop(self) -> int:
        return max(self.positions) + 1

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "name": self.name,
            "positions": positions_to_ranges(self.positions),
            "extra_positions": positions_to_ranges(self.extra_positions),
            "geometry": self.geometry.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ImageSpan:
        return cls(
            index=int(d["index"]),
            name=str(d["name"]),
            positions=ranges_to_positions(d["positions"]),
            geometry=ImageGeometry.from_dict(d["geometry"]),
            extra_positions=ranges_to_positions(d.get("extra_positions", [])),
        )
