"""judge.diagnose: evaluate, teacher-force, capture the chosen rows into a Trace."""

import pytest
import torch

from judgescope import CaptureError, Trace
from judgescope.judges import Judge
from judgescope.sample import Sample

RESP = {"sc": '{"score": [7, 8], "reasoning": "fine"}', "pq": '{"score": [6, 9], "reasoning": "ok"}'}


@pytest.fixture
def judge(tiny_model):
    model, processor = tiny_model("qwen2_5_vl")
    return Judge(model, processor, "viescore")


@pytest.fixture
def sample(make_image):
    return Sample("d1", make_image(130, 90), make_image(120, 96, seed=1), "make the sky red")


def test_diagnose_score_rows(judge, sample, tmp_path):
    out, trace = judge.diagnose(sample, responses=RESP)
    assert trace.query_tokens == ("7", "8")
    assert [s.name for s in trace.images] == ["source", "edited"]
    assert trace.num_layers == 2 and trace.num_heads == 4
    assert torch.allclose(trace.attention.sum(-1), torch.ones(1), atol=1e-5)
    assert trace.image_map("source").shape[-2:] == trace.image("source").grid
    instr = "".join(trace.tokens[p] for p in trace.groups["instruction"])
    assert instr.strip() == "make the sky red"
    assert trace.meta["call"] == "sc" and trace.meta["scores"] == {"success": 7.0, "over_editing": 8.0}
    # Round trip through the file format.
    back = Trace.load(trace.save(tmp_path / "t.safetensors"))
    assert torch.equal(back.attention, trace.attention) and back.images == trace.images
    assert back.groups == trace.groups and back.meta == trace.meta


def test_diagnose_equals_eager_on_teacher_forced_sequence(judge, sample):
    out, trace = judge.diagnose(sample, queries="generated", responses=RESP)
    prepared = judge.prepare(sample, "sc")
    inputs = judge.sequence_inputs(prepared, out.calls["sc"].generated_ids)
    judge.model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            ref = judge.model(**inputs, output_attentions=True).attentions
    finally:
        judge.model.set_attn_implementation("sdpa")
    ref = torch.stack([a[0] for a in ref])[:, :, list(trace.queries)]
    assert torch.allclose(trace.attention, ref, atol=1e-5)


def test_query_roles_and_regex(judge, sample):
    _, t = judge.diagnose(sample, queries="regex:fine", responses=RESP)
    assert "".join(t.query_tokens).strip() == "fine"
    _, t = judge.diagnose(sample, queries=["score", "last_prompt"], responses=RESP)
    assert len(t.queries) == 3 and t.queries[0] == t.groups["last_prompt"][0]


def test_no_score_tokens_is_an_error_unless_fallback(judge, sample):
    bad = {"sc": "I cannot judge this.", "pq": "no"}
    with pytest.raises(CaptureError, match="score"):
        judge.diagnose(sample, responses=bad)
    _, t = judge.diagnose(sample, responses=bad, fallback="last_prompt")
    assert t.meta["query_fallback"] == "last_prompt" and len(t.queries) == 1
