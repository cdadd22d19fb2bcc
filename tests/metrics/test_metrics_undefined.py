"""Undefined cases give NaN with a reason, never a crash or a silent 0; bad input gives a clear error."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from judgescope.metrics import MetricValue, correspondence, diagnose, grounding_metrics, spread_metrics
from judgescope.probe.synthetic import synthetic_layout
from judgescope.probe.trace import Trace

sys.path.insert(0, str(Path(__file__).parent))
from metrics_helpers import GRIDS, key_weights, trace_from  # noqa: E402


def assert_nan_iff_reason(mv: MetricValue):
    covered = torch.zeros_like(mv.value, dtype=torch.bool)
    for mask in mv.reasons.values():
        covered |= mask
    assert torch.equal(torch.isnan(mv.value), covered)


def test_zero_mass_on_an_image():
    d = diagnose(trace_from(key_weights(edited=np.ones(15), other=1.0)))
    for name in ("entropy_src", "entropy_norm_src", "concentration_src", "gini_src", "correspondence"):
        assert math.isnan(d.summary[name]), name
        assert "no attention on the image" in d.reasons[name]
    assert d.summary["source_share"] == 0.0  # defined: the edited image got all image attention
    for mv in d.rows.values():
        assert_nan_iff_reason(mv)


def test_no_attention_on_either_image():
    d = diagnose(trace_from(key_weights(other=1.0)))
    assert math.isnan(d.summary["source_share"]) and "either image" in d.reasons["source_share"]
    assert math.isnan(d.summary["sink_share"])
    assert d.summary["image_share"] == 0.0
    assert d.verdict.decisions["source_neglect"].holds is None
    assert "source_neglect" in d.verdict.undetermined


def test_empty_and_full_regions():
    w = torch.rand(3, 15) + 0.1
    empty = grounding_metrics(w, np.zeros((3, 5)))
    for name in ("in_region", "lift", "pointing", "iou", "auroc"):
        assert bool(torch.isnan(empty[name].value).all()) and "empty region" in empty[name].reason_text()
    assert torch.equal(empty["area"].value, torch.zeros(3, dtype=torch.float64))
    full = grounding_metrics(w, np.ones((3, 5)))
    assert torch.allclose(full["in_region"].value, torch.ones(3, dtype=torch.float64))
    for name in ("lift", "auroc", "iou", "pointing"):
        assert bool(torch.isnan(full[name].value).all()), name
    assert "whole image" in full["lift"].reason_text()
    assert "every token" in full["auroc"].reason_text()
    thin = grounding_metrics(w, np.full((3, 5), 0.2))  # area > 0 but no token half covered
    assert not bool(torch.isnan(thin["lift"].value).any())
    assert "no token at least half inside" in thin["auroc"].reason_text()
    for res in (empty, full, thin):
        for mv in res.values():
            assert_nan_iff_reason(mv)


def test_grid_of_one_token():
    m = spread_metrics(torch.rand(4, 1) + 0.1)
    assert torch.equal(m["entropy"].value, torch.zeros(4, dtype=torch.float64))
    for name in ("entropy_norm", "concentration", "gini"):
        assert bool(torch.isnan(m[name].value).all()) and "grid of one token" in m[name].reason_text()
    c = correspondence(torch.rand(2, 1, 1), torch.rand(2, 3, 3))
    assert bool(torch.isnan(c.value).all()) and "one token" in c.reason_text()


def test_reason_counts_rows():
    w = torch.ones(2, 3, 6)
    w[0, 1] = 0.0
    mv = spread_metrics(w)["entropy"]
    assert torch.isnan(mv.value).sum() == 1
    assert mv.reason_text() == "no attention on the image (1/6 rows)"
    d = diagnose(trace_from(key_weights(edited=np.ones(15), other=1.0)))
    band = d.table.query("metric == 'entropy_src' and scope == 'band'").iloc[0]
    assert band["n"] == 0 and band["n_rows"] == 12 and "12/12 rows" in band["reason"]


def test_single_image_trace():
    spans, n_keys = synthetic_layout(((3, 4),), names=("edited",))
    t = Trace(torch.full((1, 1, 1, n_keys), 1.0 / n_keys), (0,), (n_keys - 1,), ("x",), spans, sample_id="pq")
    d = diagnose(t)
    assert d.summary["entropy_norm_edit"] == pytest.approx(1.0, abs=1e-6)
    assert (
        math.isnan(d.summary["source_share"]) and "both a source and an edited" in d.reasons["source_share"]
    )
    assert math.isnan(d.summary["entropy_src"]) and "no source image" in d.reasons["entropy_src"]


def test_bad_inputs_raise_clear_errors():
    t = trace_from(torch.ones(synthetic_layout(GRIDS)[1]))
    bad = Trace(t.attention.clone(), t.layers, t.queries, t.query_tokens, t.images)
    bad.attention[0, 0, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        diagnose(bad)
    bad.attention[0, 0, 0, 3] = -0.1
    with pytest.raises(ValueError, match="negative"):
        diagnose(bad)
    with pytest.raises(ValueError, match="grid is 3x5"):
        diagnose(t, regions={"edited": np.ones((4, 6))})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        diagnose(t, regions={"edited": np.full((3, 5), 2.0)})
    with pytest.raises(KeyError, match="no such image"):
        diagnose(t, regions={"target": np.ones((3, 5))})
    with pytest.raises(ValueError, match="not captured"):
        diagnose(t, band=[7])
    with pytest.raises(ValueError, match="unknown thresholds"):
        diagnose(t, thresholds={"lifts": 2})
    with pytest.raises(ValueError, match="negative"):
        spread_metrics(np.array([[0.5, -0.5]]))
