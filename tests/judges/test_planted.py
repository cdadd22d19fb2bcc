"""Planted judges end to end on tiny Qwen judges: judge.diagnose -> Trace -> metrics finds what was planted."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from judgescope import JudgescopeError, Trace
from judgescope.judges import Judge, text_attention_modules
from judgescope.judges.planted import (
    VARIANTS,
    PlantedJudge,
    _key_bias,
    check_planted,
    diff_coverage,
    planted,
    planted_variants,
)
from judgescope.metrics import diagnose
from judgescope.probe.diagnose import diagnose_sample
from judgescope.regions import Region, diff_mask
from judgescope.sample import Sample

QWEN = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
RESP = {"sc": '{"score": [7, 8], "reasoning": "fine"}', "pq": '{"score": [6, 9], "reasoning": "ok"}'}


def edit_pair(seed=0, w=224, h=168, square=(84, 52, 56)):
    """A textured image and a copy with one square recoloured (a clear local edit, ~8 % of the image).

    Grids of 35-48 tokens: enough that three border sinks stand out from their grid's trimmed mean.
    """
    rng = np.random.default_rng(seed)
    src = (rng.random((h, w, 3)) * 80 + np.linspace(60, 160, w)[None, :, None]).astype(np.uint8)
    edit = src.copy()
    x, y, s = square
    edit[y : y + s, x : x + s] = (220, 40, 40)
    return src, edit


def regions_of(sample, trace):
    region = Region.from_diff(diff_mask(sample.source, sample.edited))
    return {s.name: region.on_grid(s.geometry, resize=True) for s in trace.images}


@pytest.fixture(scope="module", params=QWEN)
def runs(request, tiny_model):
    """For one family: base judge, sample, and (trace, diagnosis) of the base and of each variant."""
    model, processor = tiny_model(request.param)
    base = Judge(model, processor, "viescore", name="tiny")
    sample = Sample("planted", *edit_pair(), "paint the square red")

    def run(judge):
        out = judge.evaluate(sample, calls=["sc"], responses=RESP)
        _, trace = judge.diagnose(sample, output=out, fallback="last_prompt")
        return trace, diagnose(trace, regions=regions_of(sample, trace))

    res = {"base": run(base)}
    res.update({name: run(j) for name, j in planted_variants(base).items()})
    return base, sample, res


def test_blind_variants_remove_the_image_exactly(runs):
    _, _, res = runs
    for variant, blind, expected in (("source_blind", "source", 0.0), ("edited_blind", "edited", 1.0)):
        trace, diag = res[variant]
        assert diag.summary["source_share"] == pytest.approx(expected, abs=1e-6)
        span = trace.image(blind)
        keys = list(span.positions) + list(span.extra_positions)
        assert trace.attention[..., keys].abs().max() == 0  # every layer, head and query row
        assert torch.allclose(trace.attention.sum(-1), torch.ones(1), atol=1e-5)
    # The base judge does look at both images.
    assert 0.05 < res["base"][1].summary["source_share"] < 0.95


def test_uniform_rows_are_uniform_over_visible_keys(runs):
    _, _, res = runs
    trace, diag = res["uniform"]
    n_s, n_e = len(trace.image("source").positions), len(trace.image("edited").positions)
    assert diag.summary["source_share"] == pytest.approx(n_s / (n_s + n_e), abs=1e-5)
    assert diag.summary["entropy_norm_src"] == pytest.approx(1.0, abs=1e-5)
    assert diag.summary["entropy_norm_edit"] == pytest.approx(1.0, abs=1e-5)
    for qi, q in enumerate(trace.queries):  # row q sees keys 0..q, each with weight 1 / (q + 1)
        row = trace.attention[:, :, qi]
        assert torch.allclose(row[..., : q + 1], torch.full_like(row[..., : q + 1], 1 / (q + 1)), atol=1e-7)
        assert row[..., q + 1 :].abs().max() == 0


def test_planted_sinks_are_found(runs):
    _, _, res = runs
    trace, diag = res["sink_first"]
    assert 0 in diag.sinks.positions
    trace, diag = res["sink_border"]
    span = trace.image("edited")
    rows, cols = span.grid
    corners = {span.positions[0], span.positions[cols - 1], span.positions[(rows - 1) * cols]}
    assert corners <= set(diag.sinks.positions)
    received = trace.attention.mean((0, 1, 2))[list(span.positions)]
    top3 = {span.positions[i] for i in torch.topk(received, 3).indices.tolist()}
    assert top3 == corners
    # They come from the plant: the base judge has no sink there.
    assert not corners & set(res["base"][1].sinks.positions) and 0 not in res["base"][1].sinks.positions


def test_spotlight_is_grounded_in_both_images(runs):
    _, _, res = runs
    summary = res["spotlight"][1].summary
    assert summary["lift_edit"] > 3 and summary["lift_src"] > 3
    assert summary["correspondence"] > 0.8
    assert res["base"][1].summary["lift_edit"] < 2  # a random judge is not grounded


def test_check_planted_agrees_for_every_variant(runs):
    _, _, res = runs
    for name in ("source_blind", "edited_blind", "uniform", "sink_first", "sink_border", "spotlight"):
        trace, diag = res[name]
        rows = check_planted(trace, diag)
        assert rows and all(r["ok"] for r in rows), (name, rows)
    assert check_planted(*res["base"]) == []
    # The base judge would fail the plants' checks: they are not vacuous.
    base_trace, base_diag = res["base"]
    for name in ("source_blind", "sink_border", "spotlight"):
        fake = replace(base_trace, meta={**base_trace.meta, "planted": res[name][0].meta["planted"]})
        assert not all(r["ok"] for r in check_planted(fake, base_diag)), name


def test_base_judge_keeps_its_identity(runs):
    base, _, res = runs
    assert base.attention_edit is None and base.name == "tiny" and "planted" not in base.meta
    assert "planted" not in res["base"][0].meta and res["uniform"][0].judge == "tiny+uniform"


def test_planted_judge_shares_the_model_and_labels_itself(tiny_model, tmp_path):
    model, processor = tiny_model("qwen2_5_vl")
    base = Judge(model, processor, "viescore", name="tiny")
    j = planted(base, "sink", strength=5, positions="border")
    assert isinstance(j, Judge) and isinstance(j, PlantedJudge)
    assert j.model is base.model and j.processor is base.processor and j.name == "tiny+sink_border"
    assert j.meta["planted"] == {"variant": "sink", "strength": 5.0, "positions": "border", "image": "edited"}
    assert planted(base, "source_blind").meta["planted"] == {"variant": "source_blind", "strength": "inf"}
    sample = Sample("m", *edit_pair(), "paint the square red")
    _, trace = j.diagnose(sample, responses=RESP)
    back = Trace.load(trace.save(tmp_path / "t.safetensors"))
    assert back.meta["planted"] == j.meta["planted"] and back.judge == "tiny+sink_border"


@pytest.mark.parametrize("family", QWEN)
def test_edit_changes_logits_and_source_blind_ignores_the_source(tiny_model, family):
    model, processor = tiny_model(family)
    base = Judge(model, processor, "viescore")
    src, edit = edit_pair()
    other_src, _ = edit_pair(seed=7)
    samples = [Sample("a", src, edit, "paint it"), Sample("b", other_src, edit, "paint it")]
    scaling = [m.scaling for m in text_attention_modules(model)]

    def logits(judge, sample):
        prepared = judge.prepare(sample, "sc")
        with torch.no_grad(), judge._edited(prepared):
            return judge.model(**prepared.inputs).logits[0, -1]

    plain = logits(base, samples[0])
    for name, j in planted_variants(base).items():
        assert not torch.allclose(logits(j, samples[0]), plain, atol=1e-4), name
    assert torch.equal(logits(base, samples[0]), plain)  # nothing left behind
    assert [m.scaling for m in text_attention_modules(model)] == scaling
    # The base judge's score depends on the source image; the source-blind judge's does not.
    assert not torch.allclose(logits(base, samples[1]), plain, atol=1e-4)
    blind = planted(base, "source_blind")
    assert torch.allclose(logits(blind, samples[0]), logits(blind, samples[1]), atol=1e-5)


def test_generation_runs_with_every_variant(tiny_model):
    from judgescope.judges import GenerationSettings

    model, processor = tiny_model("qwen2_5_vl")
    base = Judge(model, processor, "viescore", generation=GenerationSettings(max_new_tokens=2))
    sample = Sample("g", *edit_pair(), "paint the square red")
    for name, j in planted_variants(base).items():
        out = j.evaluate(sample, calls=["sc"])
        assert len(out.calls["sc"].generated_ids) > 0, name


def test_uniform_works_through_any_path_and_leaves_the_model_alone(tiny_model):
    model, processor = tiny_model("qwen2_5_vl")
    j = planted(Judge(model, processor, "viescore"), "uniform")
    sample = Sample("u", *edit_pair(), "paint the square red")
    scaling = [m.scaling for m in text_attention_modules(model)]
    _, trace = diagnose_sample(j, sample, responses=RESP)  # the plain diagnosis path, no planted override
    q = trace.queries[0]
    assert torch.allclose(trace.attention[:, :, 0, : q + 1], torch.full((1,), 1.0 / (q + 1)), atol=1e-6)
    assert trace.attention[:, :, 0, q + 1 :].abs().max() == 0
    assert [m.scaling for m in text_attention_modules(model)] == scaling and scaling[0] > 0


def test_spotlight_takes_a_region_function(tiny_model):
    model, processor = tiny_model("qwen2_5_vl")
    base = Judge(model, processor, "viescore")
    seen = []

    def top_left(prepared):
        seen.append(prepared.sample.id)
        rows, cols = prepared.images[1].grid
        cov = np.zeros((rows, cols))
        cov[0, 0] = 1.0
        return {"edited": cov}

    j = planted(base, "spotlight", strength=10, region_fn=top_left)
    sample = Sample("r", *edit_pair(), "paint the square red")
    _, trace = j.diagnose(sample, responses=RESP)
    edited = trace.image_map("edited").mean((0, 1, 2)).flatten()
    assert int(edited.argmax()) == 0 and float(edited[0]) > 0.9 * float(edited.sum())
    assert seen and set(seen) == {"r"} and j.meta["planted"]["region"] == "top_left"
    # diff_coverage needs the pixels that only a planted judge's prepare keeps.
    with pytest.raises(JudgescopeError, match="source and edited images"):
        diff_coverage(base.prepare(sample, "sc"))


def test_blocked_rows_keep_their_diagonal():
    fn = _key_bias([0, 1, 2], [-math.inf] * 3, guard=True)
    b = fn(0, None, torch.arange(6), 6, torch.device("cpu")).expand(1, 1, 6, 6)[0, 0]
    for q in range(3):  # rows that would see no key at all keep only themselves
        assert b[q, q] == 0 and torch.isinf(b[q, [k for k in range(3) if k != q]]).all()
    assert torch.isinf(b[3:, :3]).all() and (b[3:, 3:] == 0).all()


def test_bad_requests_give_clear_errors(tiny_model):
    model, processor = tiny_model("qwen2_5_vl")
    base = Judge(model, processor, "viescore")
    with pytest.raises(JudgescopeError) as e:
        planted(base, "blurry")
    assert all(v in str(e.value) for v in VARIANTS)
    with pytest.raises(JudgescopeError, match=r"\[0, 1\]"):
        planted(base, "uniform", strength=2)
    with pytest.raises(JudgescopeError, match="no strength"):
        planted(base, "source_blind", strength=3)
    with pytest.raises(JudgescopeError, match="'first', 'border'"):
        planted(base, "sink", positions="middle")
    with pytest.raises(JudgescopeError, match="unknown options"):
        planted(base, "spotlight", radius=3)
    with pytest.raises(JudgescopeError, match="finite"):
        planted(base, "sink", strength=math.inf)
    with pytest.raises(JudgescopeError, match="already has an attention edit"):
        planted(planted(base, "sink"), "uniform")
    j = planted(base, "sink", positions=[5, 10**6])
    with pytest.raises(JudgescopeError, match="outside the prompt"):
        j.diagnose(Sample("x", *edit_pair(), "paint it"), responses=RESP)
