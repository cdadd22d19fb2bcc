"""Helpers for the viz tests: synthetic traces with known answers and a canvas reader."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from judgescope.probe.synthetic import synthetic_layout, synthetic_trace

# A tall source and a wide edited image whose processor resize scales x and y differently.
GRIDS = ((8, 5), (4, 9))
SIZES = [(333, 517), (801, 377)]


def make_trace(grids=GRIDS, sizes=SIZES, hot=None, layers=2, heads=2, queries=3, background=0.0, **kwargs):
    """A trace whose rows put mass 1 (relative) on ``hot = (image index, token index)`` over ``background``."""
    spans, num_keys = synthetic_layout(grids, original_sizes=sizes, **kwargs)
    w = torch.full((num_keys,), background)
    w[0] = 1e-6 if background == 0 else w[0]  # keep rows normalisable
    if hot is not None:
        image, token = hot
        w[spans[image].positions[token]] = 1.0
    return synthetic_trace(
        weights=w, grids=grids, original_sizes=sizes, layers=layers, heads=heads, queries=queries, **kwargs
    )


def grey_images(trace, level=120, noise=10, seed=0):
    """Near-uniform grey photographs at each image's original size (noise so the heat, not the photo, is
    what stands out)."""
    rng = np.random.default_rng(seed)
    out = []
    for span in trace.images:
        w, h = span.geometry.original_size
        out.append((level + rng.integers(-noise, noise + 1, (h, w, 3))).astype(np.uint8))
    return out


def hot_region(fig, ax, frac=0.8):
    """Canvas pixels of ``ax`` at least ``frac`` of the way from the darkest to the brightest, as data
    coordinates (original image pixels) of their centres: float ``[n, 2]`` of (x, y)."""
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)
    height = buf.shape[0]
    bb = ax.get_window_extent()
    x0, x1 = int(np.ceil(bb.x0)) + 2, int(np.floor(bb.x1)) - 2
    r0, r1 = height - int(np.floor(bb.y1)) + 2, height - int(np.ceil(bb.y0)) - 2
    bright = buf[r0:r1, x0:x1].sum(-1)
    lo, hi = bright.min(), bright.max()
    rr, cc = np.nonzero(bright >= lo + frac * (hi - lo))
    display = np.stack([cc + x0 + 0.5, height - (rr + r0 + 0.5)], axis=-1)
    return ax.transData.inverted().transform(display), (hi - lo)


@pytest.fixture
def trace_factory():
    return make_trace


@pytest.fixture
def images_for():
    return grey_images


@pytest.fixture
def hot_pixels():
    return hot_region
