"""Grounding: does attention inside an image land on a region (usually the edit)?

The region arrives as coverage c ``[rows, cols]`` (or ``[N]``) in [0, 1]: the fraction of each token's cell
inside the region mask. Tokens with c >= 0.5 are the region's "label" tokens.
"""

from __future__ import annotations

import torch

from ._base import ZERO_MASS, Dist, MetricValue, as_coverage, as_weights
from ._scan import scan

#: A token belongs to the region for pointing, IoU and AUROC when at least this share of its cell is inside.
LABEL_THRESHOLD = 0.5

EMPTY_REGION = "empty region (area 0)"
FULL_REGION = "region covers the whole image (area 1)"
NO_LABEL = "no token at least half inside the region"
ALL_LABEL = "every token at least half inside the region"


def coverage_on_grid(region, geometry) -> torch.Tensor:
    """Coverage ``[rows, cols]`` from an array or from any object with ``.on_grid(geometry)`` (duck typing)."""
    if hasattr(region, "on_grid"):
        region = region.on_grid(geometry)
    rows, cols = geometry.grid
    c = as_coverage(region)
    if c.numel() != rows * cols:
        raise ValueError(f"region coverage has {c.numel()} cells; the image grid is {rows}x{cols}")
    return c.reshape(rows, cols)


def grounding_metrics(w, coverage, keep=None) -> dict[str, MetricValue]:
    """All grounding metrics for rows of weights ``w`` ``[..., N]`` against ``coverage`` (``N`` cells).

    Args:
        w: non-negative attention weights over the image's grid tokens (renormalised inside: p = w / sum w).
        coverage: ``[rows, cols]`` or ``[N]`` in [0, 1].
        keep: optional bool ``[..., N]`` of kept tokens (removed sinks drop out of p, the area and the labels).

    Returns ``[...]`` values: ``in_region`` = sum p c ([0, 1]); ``area`` = mean c over kept tokens;
    ``lift`` = in_region / area ([0, 1/area]; 1 = no better than uniform); ``pointing`` = 1 if the most
    attended token has c >= 0.5 (exact ties share the hit: the fraction of tied maxima inside); ``iou`` =
    IoU of the top-k tokens of p with the k label tokens (ties at the k-th value are split fractionally);
    ``auroc`` = AUROC of p scoring the labels (ties get average ranks; 0.5 = chance, 1 = perfect).
    """
    w = as_weights(w)
    c = as_coverage(coverage, w.shape[-1])
    return _grounding(Dist(w, keep, label=c >= LABEL_THRESHOLD, check=False, region=c), c)


def _grounding(d: Dist, c: torch.Tensor) -> dict[str, MetricValue]:
    """Grounding metrics from the shared distribution (its ``label`` must be ``c >= LABEL_THRESHOLD`` and its
    ``region`` ``c``)."""
    shape, n, n_all = d.mass.shape, d.n, d.num_tokens
    ck = c if d.keep is None else c * d.keep
    area = torch.broadcast_to(ck.sum(-1) / n.clamp_min(1), shape)
    sc = scan(d, 1)
    in_region = sc.in_region.reshape(shape)
    empty, full = area <= 0, area >= 1
    zero = {ZERO_MASS: d.zero}
    npos = torch.broadcast_to(d.label.sum(-1).double(), shape)
    nneg = n - npos
    undefined = {**zero, EMPTY_REGION: empty, NO_LABEL: (npos == 0) & ~empty, ALL_LABEL: nneg == 0}
    k = npos.clamp(1, n_all)
    inter = sc.inter.reshape(shape)
    iou = inter / (2 * k - inter)
    auroc = sc.u.reshape(shape) / (npos * nneg).clamp_min(1)

    return {
        "in_region": MetricValue.build(in_region, {**zero, EMPTY_REGION: empty}),
        "area": MetricValue.build(area, {"no tokens left on the grid": n == 0}),
        "lift": MetricValue.build(
            in_region / torch.where(empty, 1.0, area), {**zero, EMPTY_REGION: empty, FULL_REGION: full}
        ),
        "pointing": MetricValue.build(sc.pointing.reshape(shape), undefined),
        "iou": MetricValue.build(iou, undefined),
        "auroc": MetricValue.build(auroc, undefined),
    }


def in_region(w, coverage, keep=None) -> MetricValue:
    """sum_j p_j c_j: share of the image's attention inside the region."""
    return grounding_metrics(w, coverage, keep)["in_region"]


def lift(w, coverage, keep=None) -> MetricValue:
    """in_region / area: 1 = no better than uniform attention; NaN for area 0 or 1."""
    return grounding_metrics(w, coverage, keep)["lift"]


def auroc(w, coverage, keep=None) -> MetricValue:
    """AUROC of p as a score for the label c >= 0.5 (average ranks for ties)."""
    return grounding_metrics(w, coverage, keep)["auroc"]
