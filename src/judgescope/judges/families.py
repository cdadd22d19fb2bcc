"""Model families: which architecture a checkpoint is, where its text attention lives, where its images sit.

Everything family-specific about token layout and resize geometry is in this module, so that the rest of
judgescope reads any judge the same way. Adding a family means adding one :class:`Family` entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import NoImageTokensError, UnsupportedFamilyError
from ..geometry import ImageGeometry
from ..spans import ImageSpan


@dataclass(frozen=True)
class Family:
    """How to read one model family.

    Attributes:
        name: judgescope's family name (``"qwen2_5_vl"`` ...).
        model_types: the ``config.model_type`` values that belong to it.
        locate: ``(input_ids [T], inputs, image_sizes, processor, config) -> list[(positions, geometry,
            extra_positions)]``, one entry per image in input order.
    """

    name: str
    model_types: tuple[str, ...]
    locate: Callable


def _token_id(processor, config, attr: str, token: str) -> int:
    value = getattr(config, attr, None)
    if value is None:
        value = processor.tokenizer.convert_tokens_to_ids(token)
    return int(value)


def _split_positions(positions: list[int], counts: Sequence[int], what: str) -> list[list[int]]:
    if sum(counts) != len(positions):
        raise NoImageTokensError(
            f"{what}: found {len(positions)} image tokens, expected {sum(counts)} for {len(counts)} image(s)"
        )
    out, start = [], 0
    for n in counts:
        out.append(positions[start : start + n])
        start += n
    return out


def _locate_qwen(input_ids, inputs, image_sizes, processor, config):
    image_id = _token_id(processor, config, "image_token_id", "<|image_pad|>")
    positions = torch.nonzero(input_ids == image_id).flatten().tolist()
    grid_thw = inputs.get("image_grid_thw")
    if grid_thw is None or len(grid_thw) != len(image_sizes):
        n = 0 if grid_thw is None else len(grid_thw)
        raise NoImageTokensError(f"processor returned {n} image grids for {len(image_sizes)} image(s)")
    ip = processor.image_processor
    patch = int(getattr(ip, "patch_size", 14))
    merge = int(getattr(ip, "merge_size", 2))
    counts = [int(t * h * w) // (merge * merge) for t, h, w in grid_thw.tolist()]
    spans = []
    for (_t, h, w), pos, size in zip(
        grid_thw.tolist(), _split_positions(positions, counts, "qwen"), image_sizes
    ):
        # Tokens are row-major over the merged (h/merge, w/merge) grid; t > 1 only for videos.
        rows, cols = int(h) // merge, int(w) // merge
        geom = ImageGeometry.uncropped(size, (int(w) * patch, int(h) * patch), (rows, cols))
        spans.append((pos, geom, ()))
    return spans


def _square_grid(n: int, what: str) -> tuple[int, int]:
    side = math.isqrt(n)
    if side * side != n:
        raise NoImageTokensError(f"{what}: {n} tokens per image is not a square grid")
    return side, side


def _size_dict(d, *keys) -> int | None:
    if d is None:
        return None
    for k in keys:
        v = d.get(k) if isinstance(d, dict) else getattr(d, k, None)
        if v:
            return int(v)
    return None


def _locate_llava(input_ids, inputs, image_sizes, processor, config):
    image_id = _token_id(processor, config, "image_token_id", "<image>")
    positions = torch.nonzero(input_ids == image_id).flatten().tolist()
    n_img = len(image_sizes)
    if n_img == 0 or len(positions) % n_img:
        raise NoImageTokensError(f"llava: {len(positions)} image tokens do not split over {n_img} image(s)")
    per = len(positions) // n_img
    grid = _square_grid(per, "llava")
    ip = processor.image_processor
    short = _size_dict(ip.size, "shortest_edge", "height")
    crop_h = _size_dict(getattr(ip, "crop_size", None), "height") or short
    crop_w = _size_dict(getattr(ip, "crop_size", None), "width") or short
    do_crop = bool(getattr(ip, "do_center_crop", True))
    spans = []
    for i, (w0, h0) in enumerate(image_sizes):
        # CLIP processing: shortest edge -> `short` keeping the aspect ratio, then a centre crop.
        if _size_dict(ip.size, "shortest_edge"):
            rw, rh = (short, int(short * h0 / w0)) if w0 <= h0 else (int(short * w0 / h0), short)
        else:
            rw, rh = _size_dict(ip.size, "width") or short, _size_dict(ip.size, "height") or short
        if do_crop:
            top, left = int(round((rh - crop_h) / 2.0)), int(round((rw - crop_w) / 2.0))
            crop = (float(left), float(top), float(left + crop_w), float(top + crop_h))
        else:
            crop = (0.0, 0.0, float(rw), float(rh))
        geom = ImageGeometry((w0, h0), (rw, rh), crop, grid)
        spans.append((positions[i * per : (i + 1) * per], geom, ()))
    return spans


def _locate_gemma3(input_ids, inputs, image_sizes, processor, config):
    image_id = _token_id(processor, config, "image_token_id", "<image_soft_token>")
    positions = torch.nonzero(input_ids == image_id).flatten().tolist()
    per = int(getattr(config, "mm_tokens_per_image", 0)) or (len(positions) // max(1, len(image_sizes)))
    chunks = _split_positions(positions, [per] * len(image_sizes), "gemma3")
    grid = _square_grid(per, "gemma3")
    ip = processor.image_processor
    side_h = _size_dict(ip.size, "height") or 896
    side_w = _size_dict(ip.size, "width") or side_h
    # Gemma 3 squashes every image to a fixed square (pan-and-scan crops are not located here).
    return [
        (pos, ImageGeometry.uncropped(size, (side_w, side_h), grid), ())
        for pos, size in zip(chunks, image_sizes)
    ]


def _locate_idefics3(input_ids, inputs, image_sizes, processor, config):
    tok = processor.tokenizer
    image_id = _token_id(processor, config, "image_token_id", "<image>")
    global_id = tok.convert_tokens_to_ids("<global-img>")
    seq_len = int(getattr(processor, "image_seq_len", 0))
    globals_at = torch.nonzero(input_ids == global_id).flatten().tolist()
    if len(globals_at) != len(image_sizes) or seq_len <= 0:
        raise NoImageTokensError(
            f"idefics3: found {len(globals_at)} global images for {len(image_sizes)} image(s)"
        )
    grid = _square_grid(seq_len, "idefics3")
    side = _size_dict(processor.image_processor.max_image_size, "longest_edge") or 364
    is_image = (input_ids == image_id).tolist()
    spans, prev_end = [], 0
    for g, size in zip(globals_at, image_sizes):
        pos = list(range(g + 1, g + 1 + seq_len))
        if not all(is_image[p] for p in pos):
            raise NoImageTokensError("idefics3: the global image is not followed by its image tokens")
        # Tiles of a split image come before its global image; they are kept as extra positions.
        tiles = tuple(p for p in range(prev_end, g) if is_image[p])
        spans.append((pos, ImageGeometry.uncropped(size, (side, side), grid), tiles))
        prev_end = g + 1 + seq_len
    return spans


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("qwen2_vl", ("qwen2_vl",), _locate_qwen),
        Family("qwen2_5_vl", ("qwen2_5_vl",), _locate_qwen),
        Family("qwen3_vl", ("qwen3_vl", "qwen3_vl_moe"), _locate_qwen),
        Family("llava", ("llava",), _locate_llava),
        Family("gemma3", ("gemma3",), _locate_gemma3),
        Family("idefics3", ("idefics3", "smolvlm"), _locate_idefics3),
    )
}


def family_of(config) -> Family:
    """The :class:`Family` of a model config; raises :class:`UnsupportedFamilyError` for unknown ones."""
    model_type = getattr(config, "model_type", None)
    for fam in FAMILIES.values():
        if model_type in fam.model_types:
            return fam
    supported = sorted(t for f in FAMILIES.values() for t in f.model_types)
    raise UnsupportedFamilyError(
        f"model_type {model_type!r} is not a supported judge family; supported: {', '.join(supported)}"
    )


def text_decoder(model: nn.Module) -> nn.Module:
    """The language model (the stack of text decoder layers) inside a VLM."""
    for path in ("model.language_model", "model.text_model", "language_model", "model"):
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None and isinstance(getattr(obj, "layers", None), nn.ModuleList):
            return obj
    raise UnsupportedFamilyError(f"{type(model).__name__}: no text decoder with `.layers` found")


def text_attention_modules(model: nn.Module) -> list[nn.Module]:
    """The self-attention module of every text decoder layer, in layer order."""
    return [layer.self_attn for layer in text_decoder(model).layers]


def locate_images(
    family: Family, input_ids: torch.Tensor, inputs, image_sizes, names, processor, config
) -> tuple[ImageSpan, ...]:
    """Image spans of a single tokenized input.

    Args:
        input_ids: ``[T]`` token ids.
        inputs: the processor's output (for ``image_grid_thw`` ...).
        image_sizes: ``(width, height)`` of each original image, in input order.
        names: role of each image (``"source"``, ``"edited"``).
    """
    found = family.locate(input_ids, inputs, list(image_sizes), processor, config)
    return tuple(
        ImageSpan(i, names[i], tuple(pos), geom, tuple(extra)) for i, (pos, geom, extra) in enumerate(found)
    )
