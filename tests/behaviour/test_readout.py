"""The logit score: where it is read, and that it equals the model's own next-token distribution there."""

from __future__ import annotations

import pytest
import torch

from judgescope.behaviour import canonical_response, logit_score, score_readout
from judgescope.behaviour.readout import candidate_tokens
from judgescope.errors import JudgescopeError
from judgescope.judges import Judge


@pytest.mark.parametrize("protocol", ["viescore", "editscore", "spatialreward", "editthinker"])
def test_canonical_readout_points_at_the_first_score_digit(qwen, protocol):
    model, processor = qwen
    judge = Judge(model, processor, protocol)
    call = judge.protocol.calls[0]
    ro = score_readout(judge, call)
    assert ro.source == "canonical"
    text = canonical_response(judge.protocol, call)
    assert judge.protocol.parse(text, call).ok
    tok = judge.tokenizer
    # The digit token is the scale's low end, and the prefix is exactly the text before the first score.
    assert tok.decode([ro.response_ids[ro.digit]]) == "0"
    first = judge.protocol.parse(ro.text, call).spans["score"][0][0]
    assert tok.decode(ro.prefix) == ro.text[:first]
    assert ro.values == tuple(float(v) for v in range(10))  # 0-10 and 0-25 scales: the digits 0-9
    assert ro.row(100) == 100 + ro.digit - 1


def test_candidates_follow_the_scale(vie):
    ids, vals = candidate_tokens(vie.tokenizer, (1.0, 5.0))
    assert vals == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert [vie.tokenizer.decode([i]) for i in ids] == ["1", "2", "3", "4", "5"]
    with pytest.raises(JudgescopeError, match="bounded"):
        candidate_tokens(vie.tokenizer, (0.0, float("inf")))


def test_logit_score_equals_the_full_forward(vie, sample):
    ro = score_readout(vie, "sc")
    prepared = vie.prepare(sample, "sc")
    score, mass = logit_score(vie, prepared, ro)
    # Independent route: the whole response teacher-forced, all logits kept, read at the readout row.
    inputs = vie.sequence_inputs(prepared, list(ro.response_ids))
    with torch.no_grad():
        logits = vie.model(**inputs).logits[0, ro.row(prepared.prompt_len)]
    probs = torch.softmax(logits, -1)[list(ro.candidates)]
    expected = float((probs / probs.sum() * torch.tensor(ro.values)).sum())
    assert score == pytest.approx(expected, abs=1e-5)
    assert mass == pytest.approx(float(probs.sum()), abs=1e-6)
    assert 0.0 <= score <= 9.0


def test_generated_text_is_used_when_it_parses(vie, sample):
    out = vie.evaluate(
        sample, responses={"sc": '{"score": [7, 3], "reasoning": "ok"}', "pq": '{"score": [5, 5]}'}
    )
    ro = score_readout(vie, "sc", out.calls["sc"])
    assert ro.source == "generated" and ro.note == ""
    assert vie.tokenizer.decode([ro.response_ids[ro.digit]]) == "7"
    # score_positions cover both sub-scores' digits
    assert [vie.tokenizer.decode([ro.response_ids[i]]) for i in ro.score_positions] == ["7", "3"]


def test_unparseable_generation_falls_back_with_a_note(vie, sample):
    out = vie.evaluate(sample, responses={"sc": "no score here", "pq": "none"})
    ro = score_readout(vie, "sc", out.calls["sc"])
    assert ro.source == "canonical"
    assert "no readable score" in ro.note


def test_value_head_has_no_readout(value_judge):
    with pytest.raises(JudgescopeError, match="value head"):
        score_readout(value_judge, "instruction")
