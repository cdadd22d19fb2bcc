"""Tiny, randomly initialised judges of every supported family, built offline.

Each tiny judge is a real model of its family (real architecture and attention code, a few layers, hidden size
64) with the family's real image processor and an offline byte-level BPE tokenizer trained on judgescope's own
prompt vocabulary, which holds every special token the family needs. It is saved with ``save_pretrained`` so
that :func:`judgescope.load_judge` exercises the real loading path on it.

Random weights give meaningless attention and gibberish text: use tiny judges to test mechanics (token
positions, capture exactness, file formats, reports), never meaning.

    >>> from judgescope.judges.tiny import build_tiny_judge
    >>> path = build_tiny_judge("qwen2_5_vl", "/tmp/tiny-qwen25")      # doctest: +SKIP
    >>> judge = judgescope.load_judge(path, protocol="viescore")         # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava", "gemma3", "idefics3")

_QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>", "<|box_start|>", "<|box_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|Reward|>", "<think>", "</think>",
]  # fmt: skip
_SPECIALS = {
    "qwen2_vl": _QWEN_SPECIALS,
    "qwen2_5_vl": _QWEN_SPECIALS,
    "qwen3_vl": _QWEN_SPECIALS,
    "llava": ["<unk>", "<s>", "</s>", "<image>", "<pad>", "<|Reward|>"],
    "gemma3": ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
               "<end_of_image>", "<image_soft_token>", "<|Reward|>"],
    "idefics3": ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>",
                 "<global-img>", "<image>", "<|Reward|>"],
}  # fmt: skip

# Chat templates in judgescope's own words, with the families' real message structure: the processor expands
# the image placeholder into the image's tokens exactly as for the released models.
_QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_TEMPLATES = {
    "qwen2_vl": _QWEN_TEMPLATE,
    "qwen2_5_vl": _QWEN_TEMPLATE,
    "qwen3_vl": _QWEN_TEMPLATE,
    "llava": (
        "{% for m in messages %}{% if m['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
        "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    ),
    "gemma3": (
        "<bos>{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<start_of_image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n"
        "{% endif %}"
    ),
    "idefics3": (
        "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:"
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
    ),
}

_CORPUS = """
You are an expert judge of image edits. The first image is the source image and the second image is the edited
image. Read the editing instruction and rate how well the edit follows it, whether the rest of the image was
left unchanged, how natural the result looks and whether it has artifacts. Answer in JSON with the fields
reasoning, score, edit_region, bbox_2d, label, semantic, quality, success, over_editing, naturalness.
{"reasoning": "the object was changed as asked and the background is intact", "score": [8, 9]}
{"edit_region": [{"bbox_2d": [120, 340, 560, 780], "label": "cat"}], "score": [21, 23]}
<score>{"semantic": 7, "quality": 6}</score> <|bbox_0|> <|global|> instruction: make the sky red, remove the
car, add a dog, replace the cup with a vase, turn it into a painting. USER ASSISTANT User Assistant system user
assistant model 0 1 2 3 4 5 6 7 8 9 10 . , : ; ' " ( ) [ ] { } < > / - _ = + * ! ? the a an of to in on and or
"""


def build_tokenizer(family: str):
    """A byte-level BPE tokenizer (digits split one by one, as Qwen tokenizers do) with the family's specials.

    Returns:
        a ``PreTrainedTokenizerFast``; every string round-trips through encode/decode.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = _SPECIALS[family]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    kwargs = {"additional_special_tokens": specials}
    if family in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
        kwargs.update(eos_token="<|im_end|>", pad_token="<|endoftext|>")
    elif family == "llava":
        kwargs.update(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    elif family == "gemma3":
        kwargs.update(bos_token="<bos>", eos_token="<end_of_turn>", pad_token="<pad>", unk_token="<unk>")
        kwargs.update(
            boi_token="<start_of_image>", eoi_token="<end_of_image>", image_token="<image_soft_token>"
        )
    elif family == "idefics3":
        kwargs.update(eos_token="<end_of_utterance>", pad_token="<|endoftext|>")
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)


def _ids(tokenizer, *names):
    return [tokenizer.convert_tokens_to_ids(n) for n in names]


def _text_config(vocab: int, layers: int, **extra) -> dict:
    cfg = dict(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-6,
    )  # fmt: skip
    cfg.update(extra)
    return cfg


def build_tiny_model_and_processor(family: str, layers: int = 2, seed: int = 0, **overrides):
    """Build ``(model, processor)`` for a tiny judge of ``family`` in memory (random weights, float32, eval).

    ``overrides`` update the text config (e.g. ``hidden_size=256, num_hidden_layers=4`` for benchmarks).
    """
    import transformers as tf

    if family not in FAMILIES:
        raise ValueError(f"unknown tiny family {family!r}; choose from {FAMILIES}")
    torch.manual_seed(seed)
    tok = build_tokenizer(family)
    vocab = len(tok)
    # Special ids go in at construction: the configs' defaults are the released vocabularies' ids.
    overrides = {"eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id,
                 "bos_token_id": tok.bos_token_id, **overrides}  # fmt: skip
    template = _TEMPLATES[family]
    if family in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
        image_id, video_id, vs_id, ve_id = _ids(tok, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>",
                                                "<|vision_end|>")  # fmt: skip
        ids = dict(image_token_id=image_id, video_token_id=video_id, vision_start_token_id=vs_id,
                   vision_end_token_id=ve_id)  # fmt: skip
        text = _text_config(vocab, layers, **overrides)
        head_dim = text["hidden_size"] // text["num_attention_heads"]
        # M-RoPE splits head_dim/2 rotary frequencies into (temporal, height, width) sections.
        s0 = head_dim // 8
        s1 = (head_dim // 2 - s0) // 2
        mrope = [s0, s1, head_dim // 2 - s0 - s1]
        if family == "qwen3_vl":
            text.update(head_dim=head_dim, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                        "mrope_section": mrope,
                        "mrope_interleaved": True})  # fmt: skip
            vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16,
                          spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=text["hidden_size"],
                          num_position_embeddings=64, deepstack_visual_indexes=[1])  # fmt: skip
            config = tf.Qwen3VLConfig(text_config=text, vision_config=vision, **ids)
            model = tf.Qwen3VLForConditionalGeneration(config)
            image_processor = tf.Qwen2VLImageProcessor(
                patch_size=16,
                merge_size=2,
                temporal_patch_size=2,
                min_pixels=32 * 32 * 4,
                max_pixels=32 * 32 * 1600,
            )
            video_processor = tf.Qwen3VLVideoProcessor(patch_size=16, merge_size=2)
            processor = tf.Qwen3VLProcessor(
                image_processor=image_processor,
                tokenizer=tok,
                video_processor=video_processor,
                chat_template=template,
            )
        else:
            text.update(
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope}
            )
            if family == "qwen2_5_vl":
                vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14,
                              spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=text["hidden_size"],
                              window_size=56, fullatt_block_indexes=[1])  # fmt: skip
                config = tf.Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)
                model = tf.Qwen2_5_VLForConditionalGeneration(config)
                proc_cls = tf.Qwen2_5_VLProcessor
            else:
                vision = dict(depth=2, embed_dim=32, hidden_size=text["hidden_size"], mlp_ratio=2, num_heads=2,
                              patch_size=14, spatial_merge_size=2, temporal_patch_size=2)  # fmt: skip
                config = tf.Qwen2VLConfig(text_config=text, vision_config=vision, **ids)
                model = tf.Qwen2VLForConditionalGeneration(config)
                proc_cls = tf.Qwen2VLProcessor
            image_processor = tf.Qwen2VLImageProcessor(
                patch_size=14,
                merge_size=2,
                temporal_patch_size=2,
                min_pixels=28 * 28 * 4,
                max_pixels=28 * 28 * 1600,
            )
            video_processor = tf.Qwen2VLVideoProcessor(patch_size=14, merge_size=2)
            processor = proc_cls(
                image_processor=image_processor,
                tokenizer=tok,
                video_processor=video_processor,
                chat_template=template,
            )
    elif family == "llava":
        (image_id,) = _ids(tok, "<image>")
        text = {"model_type": "llama", **_text_config(vocab, layers, **overrides)}
        vision = dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, image_size=84, patch_size=14, projection_dim=32)  # fmt: skip
        config = tf.LlavaConfig(text_config=text, vision_config=vision, image_token_id=image_id,
                                vision_feature_layer=-1, vision_feature_select_strategy="default")  # fmt: skip
        model = tf.LlavaForConditionalGeneration(config)
        image_processor = tf.CLIPImageProcessor(
            size={"shortest_edge": 84}, crop_size={"height": 84, "width": 84}
        )
        processor = tf.LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=14,
                                      vision_feature_select_strategy="default", chat_template=template,
                                      num_additional_image_tokens=1)  # fmt: skip
    elif family == "gemma3":
        image_id, boi_id, eoi_id = _ids(tok, "<image_soft_token>", "<start_of_image>", "<end_of_image>")
        text = _text_config(vocab, layers, head_dim=16, sliding_window=32, **overrides)
        text["layer_types"] = [
            "sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(layers)
        ]
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=64, patch_size=8)  # fmt: skip
        config = tf.Gemma3Config(
            text_config=text,
            vision_config=vision,
            mm_tokens_per_image=16,
            image_token_index=image_id,
            boi_token_index=boi_id,
            eoi_token_index=eoi_id,
        )
        model = tf.Gemma3ForConditionalGeneration(config)
        image_processor = tf.Gemma3ImageProcessor(size={"height": 64, "width": 64})
        processor = tf.Gemma3Processor(
            image_processor=image_processor, tokenizer=tok, chat_template=template, image_seq_length=16
        )
    else:  # idefics3 / SmolVLM
        (image_id,) = _ids(tok, "<image>")
        text = {"model_type": "llama", **_text_config(vocab, layers, **overrides)}
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=64, patch_size=8)  # fmt: skip
        config = tf.Idefics3Config(
            text_config=text, vision_config=vision, image_token_id=image_id, scale_factor=2
        )
        model = tf.Idefics3ForConditionalGeneration(config)
        image_processor = tf.Idefics3ImageProcessor(
            do_image_splitting=False, size={"longest_edge": 64}, max_image_size={"longest_edge": 64}
        )
        processor = tf.Idefics3Processor(
            image_processor=image_processor, tokenizer=tok, chat_template=template, image_seq_len=16
        )
    _set_special_ids(model, tok)
    model.eval()
    return model, processor


def _set_special_ids(model, tok) -> None:
    """Point the configs' and generation config's special ids at the tiny vocabulary (defaults are Qwen's)."""
    ids = {
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
    }
    configs = [model.config, getattr(model.config, "text_config", None), model.generation_config]
    for cfg in configs:
        if cfg is None:
            continue
        for name, value in ids.items():
            if hasattr(cfg, name) or cfg is model.generation_config:
                setattr(cfg, name, value)


def build_tiny_judge(family: str, path: str | Path, layers: int = 2, seed: int = 0, **overrides) -> Path:
    """Build a tiny random judge of ``family`` and save model + processor to ``path`` with ``save_pretrained``.

    Returns the folder, ready for :func:`judgescope.load_judge`. A ``judgescope_tiny.json`` marker records the
    family and seed so that reports can say the judge is a random tiny model.
    """
    path = Path(path)
    model, processor = build_tiny_model_and_processor(family, layers=layers, seed=seed, **overrides)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    (path / "judgescope_tiny.json").write_text(json.dumps({"family": family, "seed": seed, "layers": layers}))
    return path
