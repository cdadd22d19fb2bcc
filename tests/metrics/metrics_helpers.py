"""Helpers for the metrics tests: synthetic traces with known answers."""

from __future__ import annotations

import numpy as np
import torch

from judgescope.probe.synthetic import synthetic_layout, synthetic_trace

GRIDS = ((4, 6), (3, 5))


def key_weights(grids=GRIDS, source=None, edited=None, other=0.0, **layout) -> torch.Tensor:
    """``[keys]`` weights: ``source``/``edited`` are per-token arrays for each grid (None = 0), ``other``
    is the weight of every non-image key."""
    spans, n_keys = synthetic_layout(grids, **layout)
    w = torch.full((n_keys,), float(other))
    for span, vals in zip(spans, (source, edited)):
        idx = torch.as_tensor(span.positions)
        w[idx] = 0.0 if vals is None else torch.as_tensor(np.asarray(vals, dtype=np.float32).reshape(-1))
    return w


def trace_from(w, grids=GRIDS, **kw):
    return synthetic_trace(w, grids=grids, **kw)
