"""The Judge end to end on tiny judges: loading, evaluation, parsing into scores, roles, bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from judgescope import SampleError, UnsupportedFamilyError
from judgescope.judges import GenerationSettings, Judge, load_judge
from judgescope.judges.tiny import build_tiny_judge
from judgescope.sample import Sample

SETTINGS = GenerationSettings(max_new_tokens=8)


def _sample(make_image, sid="s1", **kw):
    return Sample(sid, make_image(130, 90), make_image(120, 96, seed=1), "make the sky red", **kw)


def test_load_judge_from_folder_and_generate(tiny_judge_dir, make_image):
    judge = load_judge(tiny_judge_dir, protocol="viescore", generation=SETTINGS)
    assert judge.family.name == "qwen2_5_vl" and judge.meta["tiny"]["family"] == "qwen2_5_vl"
    out = judge.evaluate(_sample(make_image))
    assert set(out.calls) == {"sc", "pq"}
    for r in out.calls.values():
        assert 0 < len(r.generated_ids) <= 8
        assert r.roles["generated"] == list(range(r.prompt_len, r.prompt_len + len(r.generated_ids)))
    # A random model writes gibberish: no score is made up, the errors say why.
    assert out.score is None and out.errors


def test_generation_is_deterministic(tiny_judge_dir, make_image):
    judge = load_judge(tiny_judge_dir, generation=SETTINGS)
    s = _sample(make_image)
    assert judge.evaluate(s).calls["sc"].text == judge.evaluate(s).calls["sc"].text


def test_given_response_is_parsed_with_token_roles(tiny_judge_dir, make_image):
    judge = load_judge(tiny_judge_dir, protocol="viescore")
    responses = {
        "sc": '{"score": [7, 10], "reasoning": "the sky is red"}',
        "pq": '{"score": [6, 9], "reasoning": "ok"}',
    }
    out = judge.evaluate(_sample(make_image), responses=responses)
    sc = out.calls["sc"]
    assert sc.scores == {"success": 7.0, "over_editing": 10.0}
    assert out.score == pytest.approx((7 * 6) ** 0.5)
    # Score roles point at the digit tokens of "7" and "10" (Qwen-style tokenizers split digits).
    ids = sc.generated_ids
    digits = [judge.tokenizer.decode([ids[p - sc.prompt_len]]) for p in sc.roles["score"]]
    assert digits == ["7", "1", "0"]
    assert sc.roles["reasoning"] and min(sc.roles["reasoning"]) > max(sc.roles["score"])


def test_spatialreward_boxes_are_mapped_to_original_pixels(tiny_model, make_image):
    model, processor = tiny_model("qwen3_vl")
    judge = Judge(model, processor, "spatialreward")
    text = '{"edit_region": [{"bbox_2d": [100, 200, 500, 1000], "label": "sky"}], "reasoning": "ok", "score": [20, 21]}'
    out = judge.evaluate(_sample(make_image), calls=["sc"], responses={"sc": text})
    (box,) = out.calls["sc"].boxes
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx((12.0, 19.2, 60.0, 96.0))  # edited is 120x96
    assert out.calls["sc"].roles["box"]


def test_value_head_reward(tmp_path, tiny_model, make_image):
    from safetensors.torch import save_file

    model, processor = tiny_model("qwen2_5_vl")
    hidden = model.config.get_text_config().hidden_size
    torch.manual_seed(0)
    head_file = tmp_path / "head.safetensors"
    save_file({"weight": torch.randn(1, hidden), "bias": torch.tensor([0.5])}, str(head_file))
    judge = Judge(model, processor, "valuehead", value_head=head_file)
    out = judge.evaluate(_sample(make_image))
    assert set(out.calls) == {"instruction", "quality"}
    r = out.calls["instruction"]
    assert np.isfinite(r.scores["reward"])
    ids = judge.prepare(_sample(make_image), "instruction").inputs["input_ids"][0]
    (pos,) = r.roles["reward"]
    assert judge.tokenizer.decode([ids[pos]]) == "<|Reward|>"
    assert (ids == ids[pos]).sum() == 1


def test_value_head_missing_is_clear(tiny_model, make_image):
    model, processor = tiny_model("qwen2_5_vl")
    judge = Judge(model, processor, "valuehead")
    with pytest.raises(Exception, match="value_head"):
        judge.evaluate(_sample(make_image))


def test_bad_inputs_name_the_sample(tmp_path, tiny_judge_dir, make_image):
    judge = load_judge(tiny_judge_dir, generation=SETTINGS)
    with pytest.raises(SampleError, match="'gone'.*not found"):
        judge.evaluate(Sample("gone", tmp_path / "nope.png", make_image(64, 64), "x"))
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(SampleError, match="'bad'.*corrupt"):
        judge.evaluate(Sample("bad", bad, make_image(64, 64), "x"))
    with pytest.raises(SampleError, match="'tiny'.*too small"):
        judge.evaluate(Sample("tiny", make_image(10, 64), make_image(64, 64), "x"))
    with pytest.raises(SampleError, match="'empty'.*instruction is empty"):
        Sample("empty", make_image(64, 64), make_image(64, 64), "  ")


def test_unsupported_family_from_folder(tmp_path):
    from transformers import BertConfig

    BertConfig().save_pretrained(tmp_path)
    with pytest.raises(UnsupportedFamilyError, match="bert"):
        load_judge(tmp_path)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl", "llava", "gemma3", "idefics3"])
def test_every_family_saves_loads_and_evaluates(tmp_path, family, make_image):
    judge = load_judge(
        build_tiny_judge(family, tmp_path / family), generation=GenerationSettings(max_new_tokens=3)
    )
    out = judge.evaluate(_sample(make_image))
    assert out.calls["sc"].images[0].name == "source" and out.calls["sc"].images[1].name == "edited"
    assert out.calls["pq"].images[0].name == "edited"


def test_sample_from_paths(tmp_path, make_image):
    make_image(80, 60).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((60, 80), dtype=np.uint8)).save(tmp_path / "b.png")
    imgs = Sample("p", tmp_path / "a.png", str(tmp_path / "b.png"), "do it").images()
    assert imgs["source"].size == (80, 60) and imgs["edited"].mode == "RGB"


def test_value_head_found_inside_the_model(make_image):
    from torch import nn

    from judgescope.judges.tiny import build_tiny_model_and_processor

    model, processor = build_tiny_model_and_processor("qwen2_5_vl")
    model.value_head = nn.Linear(model.config.get_text_config().hidden_size, 1)
    judge = Judge(model, processor, "valuehead")
    assert judge.value_head() is model.value_head
    assert np.isfinite(judge.evaluate(_sample(make_image)).score)


def test_diagnose_reuses_the_evaluated_input(tiny_judge_dir, make_image, monkeypatch):
    judge = load_judge(tiny_judge_dir, generation=SETTINGS)
    calls = []
    original = judge.prepare
    monkeypatch.setattr(judge, "prepare", lambda *a, **k: calls.append(a[1]) or original(*a, **k))
    judge.diagnose(_sample(make_image), fallback="last_prompt")
    assert sorted(c if isinstance(c, str) else c.name for c in calls) == ["pq", "sc"]  # no second "sc"


def test_no_image_tokens_names_the_sample(make_image):
    from judgescope.errors import JudgescopeError
    from judgescope.judges.tiny import build_tiny_model_and_processor

    model, processor = build_tiny_model_and_processor("qwen2_5_vl")
    # A chat template that drops the image placeholders: the prompt has no image tokens.
    processor.chat_template = "{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}"
    judge = Judge(model, processor, "viescore")
    with pytest.raises(JudgescopeError, match="'noimg'"):
        judge.evaluate(_sample(make_image, sid="noimg"))
