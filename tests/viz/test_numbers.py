"""The caption numbers (private helpers standing in for judgescope.metrics)."""

from __future__ import annotations

import math

import numpy as np
import torch

from judgescope.probe.synthetic import synthetic_layout, synthetic_trace
from judgescope.viz import _numbers as nb


def _trace(weights_fn, grids=((4, 6), (4, 6))):
    spans, num_keys = synthetic_layout(grids)
    w = torch.full((num_keys,), 1e-9)
    weights_fn(w, spans)
    return synthetic_trace(weights=w, grids=grids, layers=2, heads=2, queries=2), spans


def test_source_share_image_share_and_entropy_on_known_weights():
    def fill(w, spans):
        w[list(spans[0].positions[:4])] = 0.1  # source: 4 tokens, 0.4 total
        w[list(spans[1].positions)] = 0.2 / 24  # edited: uniform, 0.2 total
        w[0] = 0.4  # text

    trace, _ = _trace(fill)
    np.testing.assert_allclose(nb.source_share(trace), 0.4 / 0.6, rtol=1e-5)
    np.testing.assert_allclose(nb.image_share(trace), 0.6, rtol=1e-4)
    np.testing.assert_allclose(nb.entropy(trace, "source"), math.log(4), rtol=1e-4)
    np.testing.assert_allclose(nb.entropy(trace, "edited", normalized=True), 1.0, rtol=1e-5)


def test_zero_image_mass_gives_nan_not_zero():
    def fill(w, spans):
        w[list(spans[0].positions) + list(spans[1].positions)] = 0.0
        w[0] = 1.0

    trace, _ = _trace(fill)
    assert np.isnan(nb.source_share(trace)).all()
    assert np.isnan(nb.entropy(trace, "source")).all()


def test_coverage_and_lift():
    def fill(w, spans):
        w[spans[1].positions[7]] = 1.0  # row 1, col 1 of the edited grid

    trace, spans = _trace(fill)
    geometry = spans[1].geometry  # 168 x 112 px, 28 px tokens
    mask = np.zeros((112, 168), bool)
    mask[28:56, 28:70] = True  # token (1,1) fully, token (1,2) half
    c = nb.coverage(mask, geometry)
    assert c[7] == 1.0 and c[8] == 0.5 and c.sum() == 1.5
    values, reason = nb.lift(trace, "edited", c)
    assert reason is None
    np.testing.assert_allclose(values, 1.0 / (1.5 / 24), rtol=1e-5)
    empty, why = nb.lift(trace, "edited", np.zeros(24))
    assert np.isnan(empty).all() and "misses" in why
    full, why = nb.lift(trace, "edited", np.ones(24))
    assert np.isnan(full).all() and "covers" in why


def test_fmt_and_safe_div():
    assert nb.fmt(float("nan")) == "n/a" and nb.fmt(0.123456, 3) == "0.123"
    out = nb.safe_div([1.0, 2.0], [0.0, 4.0])
    assert np.isnan(out[0]) and out[1] == 0.5
