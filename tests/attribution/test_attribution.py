"""Attribution traces: same layout as attention traces, completeness, exact zeros where nothing can flow."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from judgescope.attribution import attribute
from judgescope.behaviour import probe_sample
from judgescope.errors import JudgescopeError
from judgescope.judges.planted import planted
from judgescope.metrics import diagnose
from judgescope.probe.diagnose import diagnose_sample

matplotlib.use("Agg")

RESPONSES = {"sc": '{"score": [7, 3], "reasoning": "looks fine"}', "pq": '{"score": [5, 5]}'}


@pytest.fixture(scope="module")
def output(vie, sample):
    return vie.evaluate(sample, responses=RESPONSES)


def test_layout_equals_the_attention_trace(vie, sample, output):
    attr = attribute(vie, sample, "input_x_gradient", output=output)
    _, attn = diagnose_sample(vie, sample, output=output)
    assert attr.kind == "input_x_gradient" and attr.layers == (-1,)
    assert attr.attention.shape == (1, 1, 1, attn.num_keys)
    assert attr.images == attn.images and attr.tokens == attn.tokens and attr.groups == attn.groups
    assert bool((attr.attention >= 0).all())
    # The readout row predicts the first score digit ("7"): the token before it.
    assert attr.queries == (attn.groups["score"][0] - 1,)
    # Nothing after the readout row can matter (causality): exactly zero there.
    assert float(attr.attention[..., attr.queries[0] + 1 :].abs().max()) == 0.0
    assert float(attr.attention[..., list(attr.image("source").positions)].sum()) > 0
    d = diagnose(attr)
    assert 0.0 <= d.summary["source_share"] <= 1.0
    from judgescope.viz import overlay

    fig = overlay(attr)
    assert fig is not None


def test_target_is_the_behaviour_logit_score(vie, sample, output):
    attr = attribute(vie, sample, "input_x_gradient", output=output)
    probes = probe_sample(vie, sample, probes=(), output=output)
    assert probes.readout.source == "generated"
    assert attr.meta["target_value"] == pytest.approx(probes.original["logit"], abs=1e-5)


def test_integrated_gradients_completeness_value_head(value_judge, sample):
    attr = attribute(value_judge, sample, "integrated_gradients", steps=16)
    m = attr.meta
    reward = value_judge.reward(value_judge.prepare(sample, "instruction"))
    assert m["target_value"] == pytest.approx(reward, abs=1e-5)
    diff = m["target_value"] - m["baseline_value"]
    assert abs(diff) > 1e-3  # a non-trivial check
    assert m["attribution_sum"] == pytest.approx(diff, abs=1e-3 * max(1.0, abs(diff)))
    assert abs(m["convergence_delta"]) < 1e-3
    assert attr.queries == (value_judge.reward_position(value_judge.prepare(sample, "instruction")),)
    assert attr.attention.shape[-1] == len(attr.tokens)


@pytest.mark.parametrize("method", ["input_x_gradient", "integrated_gradients"])
def test_source_blind_gets_exactly_zero_source_attribution(vie, value_judge, sample, output, method):
    for judge in (planted(vie, "source_blind"), planted(value_judge, "source_blind")):
        attr = attribute(judge, sample, method, output=output if judge.protocol.generative else None, steps=4)
        src = list(attr.image("source").positions)
        edit = list(attr.image("edited").positions)
        assert float(attr.attention[..., src].abs().max()) == 0.0
        assert float(attr.attention[..., edit].sum()) > 0.0


def test_canonical_readout_when_generation_is_unreadable(vie, sample):
    out = vie.evaluate(sample, responses={"sc": "gibberish", "pq": "gibberish"})
    attr = attribute(vie, sample, output=out, reduce="l2")
    assert attr.meta["readout"] == "canonical" and "no readable score" in attr.meta["readout_note"]
    n = vie.prepare(sample, "sc").prompt_len
    score_pos = attr.groups["score"]
    assert [attr.tokens[p] for p in score_pos] == ["0", "0"]
    assert attr.queries == (score_pos[0] - 1,)
    assert attr.groups["last_prompt"] == (n - 1,)
    assert math.isfinite(float(attr.attention.sum()))


def test_bad_arguments(vie, sample, output):
    with pytest.raises(JudgescopeError, match="unknown attribution method"):
        attribute(vie, sample, "saliency", output=output)
    with pytest.raises(JudgescopeError, match="target"):
        attribute(vie, sample, target="logits", output=output)
    with pytest.raises(JudgescopeError, match="baseline"):
        attribute(vie, sample, "integrated_gradients", baseline="noise", output=output)


def test_trace_round_trips(vie, sample, output, tmp_path):
    from judgescope.probe.trace import Trace

    attr = attribute(vie, sample, output=output)
    back = Trace.load(attr.save(tmp_path / "a.safetensors"))
    assert back.kind == "input_x_gradient" and back.layers == (-1,)
    assert torch.equal(back.attention, attr.attention)
