"""Image spans of every family agree with the processor's own output, for odd sizes and 1-4 images."""

import pytest
import torch

from judgescope.errors import UnsupportedFamilyError
from judgescope.geometry import smart_resize
from judgescope.judges.families import family_of, locate_images, text_attention_modules
from judgescope.judges.tiny import FAMILIES

SIZES = [(130, 90), (70, 121), (61, 61), (200, 57)]  # (width, height): wide, tall, square, very wide


def _encode(model, processor, images, text="judge this edit"):
    msgs = [{"role": "user", "content": [{"type": "image"}] * len(images) + [{"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    return processor(text=[prompt], images=images, return_tensors="pt")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n_images", [1, 2, 3, 4])
def test_spans_match_processor(tiny_model, make_image, family, n_images):
    model, processor = tiny_model(family)
    images = [make_image(*SIZES[i], seed=i) for i in range(n_images)]
    inputs = _encode(model, processor, images)
    ids = inputs["input_ids"][0]
    names = [f"img{i}" for i in range(n_images)]
    spans = locate_images(family_of(model.config), ids, inputs, [im.size for im in images], names, processor,
                          model.config)  # fmt: skip
    assert [s.name for s in spans] == names
    image_token = {"llava": "<image>", "idefics3": "<image>", "gemma3": "<image_soft_token>"}.get(
        family, "<|image_pad|>"
    )
    image_id = processor.tokenizer.convert_tokens_to_ids(image_token)
    grid_positions = [p for s in spans for p in s.positions]
    # Every grid token is an image token, no position is used twice, images come in input order.
    assert all(int(ids[p]) == image_id for p in grid_positions)
    assert len(set(grid_positions)) == len(grid_positions)
    assert all(a.stop <= b.start for a, b in zip(spans, spans[1:]))
    # Together with extra positions (tiles), the spans hold every image token of the sequence.
    all_image = {p for s in spans for p in (*s.positions, *s.extra_positions)}
    assert all_image == set(torch.nonzero(ids == image_id).flatten().tolist())
    for span, im in zip(spans, images):
        assert span.geometry.original_size == im.size
        assert span.geometry.num_tokens == len(span.positions)
    if family in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
        ip = processor.image_processor
        factor = ip.patch_size * ip.merge_size
        for span, im, (_t, h, w) in zip(spans, images, inputs["image_grid_thw"].tolist()):
            assert span.grid == (h // 2, w // 2)
            rh, rw = smart_resize(im.size[1], im.size[0], factor, ip.size.shortest_edge, ip.size.longest_edge)
            assert span.geometry.resized_size == (rw, rh)
            assert span.geometry.token_size_resized == (factor, factor)
            # Qwen wraps each image in <|vision_start|> ... <|vision_end|>.
            vs = processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")
            ve = processor.tokenizer.convert_tokens_to_ids("<|vision_end|>")
            assert int(ids[span.start - 1]) == vs and int(ids[span.stop]) == ve


def test_llava_geometry_is_centre_crop(tiny_model, make_image):
    model, processor = tiny_model("llava")
    im = make_image(168, 84)  # 2:1 -> resized 168x84, centre crop 84x84 at x = 42
    inputs = _encode(model, processor, [im])
    (span,) = locate_images(family_of(model.config), inputs["input_ids"][0], inputs, [im.size], ["source"],
                            processor, model.config)  # fmt: skip
    assert span.geometry.crop == (42.0, 0.0, 126.0, 84.0)
    boxes = span.geometry.token_boxes()
    assert boxes[0, 0] == pytest.approx(42.0) and boxes[-1, 2] == pytest.approx(126.0)


def test_unsupported_family_is_named():
    from transformers import BertConfig

    with pytest.raises(UnsupportedFamilyError, match="bert"):
        family_of(BertConfig())


@pytest.mark.parametrize("family", FAMILIES)
def test_text_attention_modules_are_decoder_layers(tiny_model, family):
    model, _ = tiny_model(family)
    mods = text_attention_modules(model)
    assert len(mods) == 2
    assert all(hasattr(m, "layer_idx") or hasattr(m, "config") for m in mods)
