"""Synthetic traces with known answers, for tests, docs and sanity checks of metrics and plots.

Layout of a synthetic sequence: ``prefix`` text tokens, then each image's grid tokens back to back (each image
wrapped by one start and one end token, as in Qwen-VL), then ``suffix`` text tokens. Query rows are the last
``queries`` positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..geometry import ImageGeometry
from ..spans import ImageSpan
from .trace import Trace


def synthetic_layout(
    grids: Sequence[tuple[int, int]] = ((4, 6), (4, 6)),
    prefix: int = 5,
    suffix: int = 8,
    token_px: int = 28,
    names: Sequence[str] | None = None,
    original_sizes: Sequence[tuple[int, int]] | None = None,
) -> tuple[tuple[ImageSpan, ...], int]:
    """Image spans for a synthetic sequence and its total length.

    Args:
        grids: ``(rows, cols)`` per image.
        prefix, suffix: number of text tokens before the first and after the last image.
        token_px: resized pixels per token side (28 as in Qwen2.5-VL).
        names: image names; defaults to ``source``, ``edited``, then ``image2`` ...
        original_sizes: ``(width, height)`` per image; defaults to the resized size (no resize).

    Returns:
        ``(spans, num_keys)``.
    """
    default = ["source", "edited"] + [f"image{i}" for i in range(2, len(grids))]
    names = list(names) if names is not None else default[: len(grids)]
    spans = []
    pos = prefix
    for i, (rows, cols) in enumerate(grids):
        resized = (cols * token_px, rows * token_px)
        original = tuple(original_sizes[i]) if original_sizes is not None else resized
        pos += 1  # <|vision_start|>
        geom = ImageGeometry.uncropped(original, resized, (rows, cols))
        spans.append(ImageSpan(i, names[i], tuple(range(pos, pos + rows * cols)), geom))
        pos += rows * cols + 1  # grid + <|vision_end|>
    return tuple(spans), pos + suffix


def synthetic_trace(
    weights: torch.Tensor | None = None,
    grids: Sequence[tuple[int, int]] = ((4, 6), (4, 6)),
    layers: int = 2,
    heads: int = 2,
    queries: int = 3,
    prefix: int = 5,
    suffix: int = 8,
    seed: int | None = 0,
    **layout_kwargs,
) -> Trace:
    """A Trace over a synthetic layout.

    Args:
        weights: ``[keys]`` or ``[layers, heads, queries, keys]`` non-negative key weights; normalised to sum to
            1 per row. Default: random positive weights from ``seed``.
        grids, prefix, suffix, layout_kwargs: see :func:`synthetic_layout`.
        layers, heads, queries: trace shape when ``weights`` is 1-D or None.
    """
    spans, num_keys = synthetic_layout(grids, prefix, suffix, **layout_kwargs)
    if weights is None:
        gen = torch.Generator().manual_seed(seed or 0)
        weights = torch.rand(layers, heads, queries, num_keys, generator=gen) + 1e-3
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if weights.ndim == 1:
        weights = weights.expand(layers, heads, queries, num_keys)
    if weights.shape[-1] != num_keys:
        raise ValueError(f"weights have {weights.shape[-1]} keys, the layout has {num_keys}")
    attention = weights / weights.sum(-1, keepdim=True)
    n_q = attention.shape[2]
    qpos = tuple(range(num_keys - n_q, num_keys))
    tokens = tuple(f"t{i}" for i in range(num_keys))
    return Trace(
        attention=attention.contiguous(),
        layers=tuple(range(attention.shape[0])),
        queries=qpos,
        query_tokens=tuple(tokens[p] for p in qpos),
        images=spans,
        tokens=tokens,
        groups={"prompt": tuple(range(prefix)), "generated": tuple(range(num_keys - suffix, num_keys))},
        judge="synthetic",
        protocol="synthetic",
        sample_id="synthetic",
    )


def one_hot_weights(num_keys: int, position: int) -> torch.Tensor:
    """``[keys]`` weights with all mass on one position."""
    w = torch.zeros(num_keys)
    w[position] = 1.0
    return w
