"""Token grids onto original pixels: the core that makes every overlay land where the model looked.

A token's cell is taken from :meth:`ImageGeometry.token_boxes`, which already accounts for the processor's
resize (different x and y scales) and crop. A pixel belongs to the cell that contains its centre
``(x + 0.5, y + 0.5)``; pixels whose centre lies in no cell (outside a crop) get no token.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import ImageGeometry

_INTERPOLATIONS = {"nearest": None, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


def _cell_edges(geometry: ImageGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Column edges ``[cols + 1]`` along x and row edges ``[rows + 1]`` along y, in original pixels."""
    rows, cols = geometry.grid
    boxes = geometry.token_boxes().reshape(rows, cols, 4)
    x_edges = np.append(boxes[0, :, 0], boxes[0, -1, 2])
    y_edges = np.append(boxes[:, 0, 1], boxes[-1, 0, 3])
    return x_edges, y_edges


def _axis_index(edges: np.ndarray, n_pixels: int) -> np.ndarray:
    """Cell index of each pixel centre along one axis, -1 outside every cell: int64 ``[n_pixels]``."""
    centres = np.arange(n_pixels) + 0.5
    idx = np.searchsorted(edges, centres, side="right") - 1
    idx[(centres < edges[0]) | (centres >= edges[-1])] = -1
    return idx


def token_index_map(geometry: ImageGeometry) -> np.ndarray:
    """Which token covers each original pixel.

    Returns:
        int64 array ``[H, W]`` (original size) of row-major token indices, -1 where no token cell holds the
        pixel centre.
    """
    width, height = geometry.original_size
    x_edges, y_edges = _cell_edges(geometry)
    col = _axis_index(x_edges, width)
    row = _axis_index(y_edges, height)
    index = row[:, None] * geometry.grid[1] + col[None, :]
    index[(row[:, None] < 0) | (col[None, :] < 0)] = -1
    return index


def attention_to_pixels(map_2d, geometry: ImageGeometry, *, interpolation: str = "nearest") -> np.ndarray:
    """Paint a token-grid map onto the original image.

    Args:
        map_2d: ``[rows, cols]`` values per token (array or tensor), row-major as in the sequence.
        geometry: the image's resize/crop chain; ``geometry.grid`` must equal the map's shape.
        interpolation: ``"nearest"`` paints each token's exact cell (default: what the model saw, no blur);
            ``"linear"`` or ``"cubic"`` interpolate between cell centres for a smooth picture (cubic is
            clipped to the map's range so it never invents negative attention).

    Returns:
        float64 array ``[H, W]`` at the ORIGINAL size ``geometry.original_size = (W, H)``; NaN where no token
        cell covers the pixel (outside a crop).
    """
    values = np.asarray(map_2d.detach().cpu() if hasattr(map_2d, "detach") else map_2d, dtype=np.float64)
    if values.shape != tuple(geometry.grid):
        raise ValueError(f"map has shape {values.shape}, the geometry's token grid is {tuple(geometry.grid)}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(_INTERPOLATIONS)}, got {interpolation!r}")
    index = token_index_map(geometry)
    inside = index >= 0
    out = np.full(index.shape, np.nan)
    if interpolation == "nearest":
        out[inside] = values.reshape(-1)[index[inside]]
        return out
    # Continuous grid coordinates of each pixel centre: cell centres sit at integer coordinates.
    width, height = geometry.original_size
    x_edges, y_edges = _cell_edges(geometry)
    gx = ((np.arange(width) + 0.5) - x_edges[0]) / (x_edges[-1] - x_edges[0]) * geometry.grid[1] - 0.5
    gy = ((np.arange(height) + 0.5) - y_edges[0]) / (y_edges[-1] - y_edges[0]) * geometry.grid[0] - 0.5
    map_x, map_y = np.meshgrid(gx.astype(np.float32), gy.astype(np.float32))
    smooth = cv2.remap(
        values.astype(np.float32),
        map_x,
        map_y,
        interpolation=_INTERPOLATIONS[interpolation],
        borderMode=cv2.BORDER_REPLICATE,
    ).astype(np.float64)
    smooth = np.clip(smooth, values.min(), values.max())
    out[inside] = smooth[inside]
    return out
