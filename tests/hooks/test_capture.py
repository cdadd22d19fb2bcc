"""Captured rows equal eager output_attentions rows, for every family, 1-4 odd-sized images, sdpa and eager."""

import pytest
import torch
from transformers.modeling_utils import AttentionInterface

from judgescope.errors import CaptureError
from judgescope.hooks import capture_attention
from judgescope.judges.tiny import FAMILIES

SIZES = [(130, 90), (70, 121), (61, 61), (200, 57)]


def _inputs(processor, images, text="rate the edit: make the sky red"):
    msgs = [{"role": "user", "content": [{"type": "image"}] * len(images) + [{"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    return processor(text=[prompt], images=images, return_tensors="pt")


def _eager_rows(model, inputs, queries):
    impl = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = model(**inputs, output_attentions=True)
    finally:
        model.set_attn_implementation(impl)
    return torch.stack([a[0] for a in out.attentions])[:, :, queries].float(), out.logits


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n_images", [1, 2, 4])
@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_rows_equal_eager(tiny_model, make_image, family, n_images, impl):
    model, processor = tiny_model(family, layers=3)
    inputs = _inputs(processor, [make_image(*SIZES[i], seed=i) for i in range(n_images)])
    T = inputs["input_ids"].shape[1]
    queries = [0, 3, T // 2, T - 2, T - 1]
    ref, ref_logits = _eager_rows(model, inputs, queries)
    model.set_attn_implementation(impl)
    try:
        with torch.no_grad(), capture_attention(model, queries) as cap:
            logits = model(**inputs).logits
    finally:
        model.set_attn_implementation("sdpa")
    a = cap.attention
    assert a.shape == (3, model.config.get_text_config().num_attention_heads, len(queries), T)
    assert a.dtype == torch.float32
    assert torch.allclose(a, ref, atol=1e-5, rtol=0), (a - ref).abs().max()
    assert torch.allclose(a.sum(-1), torch.ones_like(a.sum(-1)), atol=1e-5)
    # The capture does not change what the model computes.
    assert torch.allclose(logits, ref_logits, atol=1e-4)


def test_output_bit_identical_and_mapping_restored(tiny_model, make_image):
    model, processor = tiny_model("qwen2_5_vl")
    inputs = _inputs(processor, [make_image(90, 64), make_image(64, 90, seed=1)])
    before = dict(AttentionInterface._global_mapping)
    with torch.no_grad():
        plain = model(**inputs).logits
        with capture_attention(model, [5, 10]):
            captured = model(**inputs).logits
    assert torch.equal(plain, captured)
    assert AttentionInterface._global_mapping == before


def test_restored_after_exception(tiny_model):
    model, _ = tiny_model("qwen3_vl")
    before = dict(AttentionInterface._global_mapping)
    with pytest.raises(RuntimeError, match="boom"), capture_attention(model, [1]):
        raise RuntimeError("boom")
    assert AttentionInterface._global_mapping == before
    assert "eager" not in AttentionInterface._global_mapping


def test_layer_selection_and_negative_layers(tiny_model, make_image):
    model, processor = tiny_model("qwen2_5_vl", layers=3)
    inputs = _inputs(processor, [make_image(90, 64)])
    with torch.no_grad(), capture_attention(model, [4], layers=[0, -1]) as cap:
        model(**inputs)
    assert cap.layers == (0, 2)
    ref, _ = _eager_rows(model, inputs, [4])
    assert torch.allclose(cap.attention, ref[[0, 2]], atol=1e-5)
    with pytest.raises(CaptureError, match="out of range"), capture_attention(model, [4], layers=[7]):
        pass


def test_unreached_query_is_an_error(tiny_model, make_image):
    model, processor = tiny_model("qwen2_5_vl")
    inputs = _inputs(processor, [make_image(64, 64)])
    with torch.no_grad(), capture_attention(model, [10_000]) as cap:
        model(**inputs)
    with pytest.raises(CaptureError, match="10000"):
        _ = cap.attention


def test_batch_gives_batched_rows(tiny_model, make_image):
    model, processor = tiny_model("qwen2_5_vl")
    img = [make_image(90, 64), make_image(64, 90, seed=1)]
    single = _inputs(processor, img)
    msgs = [
        {
            "role": "user",
            "content": [{"type": "image"}] * 2
            + [{"type": "text", "text": "rate the edit: make the sky red"}],
        }
    ]
    prompt = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    batch = processor(text=[prompt, prompt], images=img + img, return_tensors="pt")
    q = [3, single["input_ids"].shape[1] - 1]
    with torch.no_grad(), capture_attention(model, q) as cap:
        model(**batch)
    with torch.no_grad(), capture_attention(model, q) as one:
        model(**single)
    ab = cap.attention_batched
    assert ab.shape[0] == 2
    assert torch.allclose(ab[0], one.attention, atol=1e-5) and torch.allclose(ab[1], one.attention, atol=1e-5)
    with pytest.raises(CaptureError, match="batch of 2"):
        _ = cap.attention


def test_rows_during_generation_equal_teacher_forced(tiny_model, make_image):
    model, processor = tiny_model("qwen2_5_vl")
    inputs = _inputs(processor, [make_image(90, 64)])
    T = inputs["input_ids"].shape[1]
    queries = [T - 1, T, T + 1]  # last prompt token, then the first two generated tokens
    with torch.no_grad(), capture_attention(model, queries) as gen_cap:
        out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    full = {k: v for k, v in inputs.items()}
    full["input_ids"] = out[:, : T + 2]
    full["attention_mask"] = torch.ones_like(full["input_ids"])
    full["mm_token_type_ids"] = torch.cat(
        [inputs["mm_token_type_ids"], torch.zeros(1, 2, dtype=torch.long)], 1
    )
    with torch.no_grad(), capture_attention(model, queries) as tf_cap:
        model(**full)
    assert torch.allclose(gen_cap.attention, tf_cap.attention, atol=1e-5)


def test_bias_knocks_out_keys(tiny_model, make_image):
    model, processor = tiny_model("qwen2_5_vl")
    inputs = _inputs(processor, [make_image(90, 64)])
    T = inputs["input_ids"].shape[1]
    blocked = torch.arange(5, 15)

    def bias(layer, module, qpos, key_len, device):
        b = torch.zeros(1, 1, qpos.numel(), key_len, device=device)
        b[..., blocked] = float("-inf")
        return b

    with torch.no_grad():
        plain = model(**inputs).logits
        with capture_attention(model, [T - 1], bias=bias) as cap:
            knocked = model(**inputs).logits
    assert cap.attention[..., blocked].abs().max() == 0
    assert torch.allclose(cap.attention.sum(-1), torch.ones(1), atol=1e-5)
    assert not torch.allclose(plain[0, -1], knocked[0, -1])
