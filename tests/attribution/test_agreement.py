"""Agreement between attention and attribution: known answers on synthetic traces."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from judgescope.attribution import agreement, agreement_with_reasons, spearman
from judgescope.probe.synthetic import synthetic_trace


def _image_positions(trace):
    return [p for s in trace.images for p in s.positions]


def _as_attr(trace, weights):
    return replace(trace, attention=weights.reshape(1, 1, 1, -1), layers=(-1,), queries=trace.queries[:1],
                   query_tokens=trace.query_tokens[:1], kind="input_x_gradient")  # fmt: skip


def test_identical_maps_agree_fully():
    attn = synthetic_trace(seed=1)
    mean = attn.attention.mean(dim=(0, 1, 2))
    got = agreement(attn, _as_attr(attn, mean))
    assert got["agree_spearman"] == pytest.approx(1.0)
    assert got["agree_topk_overlap"] == 1.0
    assert got["agree_k"] == 3.0 and got["agree_n_tokens"] == 48.0  # ceil(5 % of 48)
    assert got["attn_source_share"] == pytest.approx(got["attr_source_share"])
    assert got["source_share_gap"] == pytest.approx(0.0, abs=1e-7)


def test_reversed_ranking_disagrees():
    attn = synthetic_trace(seed=2)
    mean = attn.attention.mean(dim=(0, 1, 2))
    pos = _image_positions(attn)
    w = torch.zeros_like(mean)
    ranks = torch.argsort(torch.argsort(mean[pos]))  # 0 = least attended
    w[pos] = (len(pos) - ranks).float()  # most attention -> least attribution
    got = agreement(attn, _as_attr(attn, w))
    assert got["agree_spearman"] == pytest.approx(-1.0)
    assert got["agree_topk_overlap"] == 0.0


def test_source_share_of_a_source_only_attribution():
    attn = synthetic_trace(seed=3)
    w = torch.zeros(attn.num_keys)
    w[list(attn.image("source").positions)] = 1.0
    got = agreement(attn, _as_attr(attn, w))
    assert got["attr_source_share"] == 1.0
    assert got["source_share_gap"] == pytest.approx(1.0 - got["attn_source_share"])


def test_undefined_values_carry_reasons():
    attn = synthetic_trace(seed=4)
    values, reasons = agreement_with_reasons(attn, _as_attr(attn, torch.zeros(attn.num_keys)))
    assert math.isnan(values["agree_spearman"]) and "constant" in reasons["agree_spearman"]
    assert math.isnan(values["attr_source_share"]) and "no weight" in reasons["attr_source_share"]
    assert math.isnan(values["source_share_gap"]) and reasons["source_share_gap"]
    assert "attn_source_share" not in reasons


def test_mismatched_traces_are_refused():
    a = synthetic_trace(grids=((4, 6), (4, 6)))
    b = synthetic_trace(grids=((3, 6), (4, 6)))
    with pytest.raises(ValueError, match="different image tokens"):
        agreement(a, _as_attr(b, b.attention.mean(dim=(0, 1, 2))))


def test_spearman_ties_use_average_ranks():
    a = torch.tensor([1.0, 2.0, 2.0, 3.0])
    b = torch.tensor([1.0, 2.0, 3.0, 4.0])
    # ranks of a: 1, 2.5, 2.5, 4 -> Pearson with 1..4 = 0.9486832980505138
    assert spearman(a, b)[0] == pytest.approx(0.9486832980505138)
    assert math.isnan(spearman(a[:1], b[:1])[0])
