"""The decoder's merged input embeddings, as a differentiable input.

A VLM builds the language model's ``inputs_embeds`` inside its forward: text-token embeddings with the vision
tower's features scattered into the image-token positions (Qwen-VL: ``inputs_embeds.masked_scatter(image_mask,
image_embeds)`` in ``Qwen2_5_VLModel.forward``, then ``self.language_model(inputs_embeds=..., position_ids=
3-D M-RoPE ids, attention_mask=...)``). Attributing to ``model.get_input_embeddings()`` would miss the image
tokens (their lookup embeddings are overwritten), so judgescope catches the arguments of the language model's
call with a forward pre-hook, stops the forward there (the decoder is not run), and re-runs only the decoder
on an ``inputs_embeds`` tensor that requires grad. Everything else the model computed for the decoder
(positions, masks, Qwen3-VL's deepstack visual features, Gemma 3's bidirectional image mask) is reused
unchanged, i.e. held constant: the attribution input is the merged embedding of every token, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import JudgescopeError
from ..judges.families import text_decoder


class _Stop(Exception):
    """Raised by the pre-hook once the decoder's arguments are caught (the decoder itself is not run)."""


@dataclass
class DecoderCall:
    """The language model's call for one input.

    Attributes:
        decoder: the text decoder module (``model.model.language_model`` ...).
        embeds: float ``[1, T, hidden]``: the merged input embeddings (detached).
        kwargs: every other keyword argument of the call (positions, masks, ...), ``use_cache`` off.
    """

    decoder: nn.Module
    embeds: torch.Tensor
    kwargs: dict

    def run(self, embeds: torch.Tensor, hidden_states: bool = False):
        """The decoder on ``embeds`` ``[1, T, hidden]`` (the caught arguments otherwise): its model output."""
        kw = dict(self.kwargs, inputs_embeds=embeds)
        if hidden_states:
            kw["output_hidden_states"] = True
        return self.decoder(**kw)


def decoder_call(model: nn.Module, inputs: dict) -> DecoderCall:
    """Run ``model(**inputs)`` up to its text decoder and return the decoder's arguments (no grad).

    Raises:
        JudgescopeError: the model never called its decoder, or called it without ``inputs_embeds``.
    """
    decoder = text_decoder(model)
    caught: dict = {}

    def hook(module, args, kwargs):
        caught["args"], caught["kwargs"] = args, kwargs
        raise _Stop

    handle = decoder.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            model(**inputs)
    except _Stop:
        pass
    finally:
        handle.remove()
    if "kwargs" not in caught:
        raise JudgescopeError(f"{type(model).__name__}: the forward pass never reached its text decoder")
    if caught["args"]:
        raise JudgescopeError(
            f"{type(model).__name__} calls its decoder with positional arguments; cannot reuse the call"
        )
    kwargs = dict(caught["kwargs"])
    embeds = kwargs.pop("inputs_embeds", None)
    if embeds is None:
        raise JudgescopeError(f"{type(model).__name__}: the decoder was called without inputs_embeds")
    if kwargs.get("input_ids") is not None:
        raise JudgescopeError(f"{type(model).__name__}: the decoder got both input_ids and inputs_embeds")
    kwargs["input_ids"] = None
    kwargs["use_cache"] = False
    for name in ("cache", "past_key_values"):
        if name in kwargs:
            kwargs[name] = None
    return DecoderCall(decoder, embeds.detach(), kwargs)


def batched(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fn`` on a batch ``[B, T, hidden]`` one row at a time (the caught decoder arguments are for B = 1)."""

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([fn(x[i : i + 1]).reshape(1) for i in range(x.shape[0])])

    return run
