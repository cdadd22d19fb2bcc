"""Capture exact attention rows while the model keeps its fast attention.

How it works. Every transformers attention module looks its attention function up by name at call time
(``ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, eager_attention_forward)``). Inside
:func:`capture_attention` that name (``"sdpa"``, ``"eager"``, ``"flash_attention_2"`` ...) resolves to a thin
wrapper that first calls the original function unchanged, so the model's output is bit-for-bit the same, and
then, for the text decoder's attention modules only (the vision tower calls the same function and is left
alone), computes ``softmax(q_rows @ k.T * scaling + mask_rows)`` for the chosen query rows. It receives the
query and key states after RoPE and q/k norms, so the rows equal eager ``output_attentions`` rows, at
``O(queries x keys)`` extra memory per layer instead of ``O(keys^2)``.

Nothing else changes: masks are built by the model as usual (the configured name is untouched), and the
mapping is restored on exit, also after an exception. Rows are kept per call, so positions may be spread over
several forward calls (e.g. one per generated token); keys that did not exist yet when a row was computed
are zero (they are causally masked anyway).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, AttentionInterface

from ..errors import CaptureError
from ..judges.families import text_attention_modules

# bias(layer, module, query_positions [q_len], key_len, device) -> additive bias broadcastable to
# [batch, heads, q_len, key_len], or None. Used by planted judges and knockout probes. A bias function may
# carry an attribute `logit_scale(layer, module) -> float` that multiplies the attention logits' scaling.
BiasFn = Callable[[int, nn.Module, torch.Tensor, int, torch.device], "torch.Tensor | None"]


def combine_biases(*biases: BiasFn | None) -> BiasFn | None:
    """One bias function applying every given one (None when none applies): biases add, logit scales multiply."""
    fns = [b for b in biases if b is not None]
    if len(fns) <= 1:
        return fns[0] if fns else None

    def combined(*args):
        parts = [x for x in (f(*args) for f in fns) if x is not None]
        return sum(parts[1:], parts[0]) if parts else None

    scales = [f.logit_scale for f in fns if getattr(f, "logit_scale", None) is not None]
    if scales:

        def logit_scale(layer, module):
            out = 1.0
            for f in scales:
                out *= float(f(layer, module))
            return out

        combined.logit_scale = logit_scale
    return combined


@dataclass
class AttentionCapture:
    """What :func:`capture_attention` recorded.

    Attributes:
        layers: decoder layer indices captured, in order.
        queries: absolute sequence positions of the captured rows, in the order asked.
    """

    layers: tuple[int, ...]
    queries: tuple[int, ...]
    # (layer, position) -> (block [B, H, n, K] on the host, index into n); one block per attention call.
    _rows: dict[tuple[int, int], tuple[torch.Tensor, int]] = field(default_factory=dict, repr=False)
    calls: int = 0
    _pending_cuda: bool = field(default=False, repr=False)

    def _store(self, layer: int, positions: list[int], probs: torch.Tensor) -> None:
        # One device-to-host copy per layer call; asynchronous on CUDA (synchronised before reading).
        if probs.is_cuda:
            host = torch.empty(probs.shape, dtype=probs.dtype, pin_memory=True)
            host.copy_(probs, non_blocking=True)
            self._pending_cuda = True
        else:
            host = probs
        for i, pos in enumerate(positions):
            self._rows[(layer, pos)] = (host, i)

    @property
    def attention_batched(self) -> torch.Tensor:
        """float32 ``[batch, layers, heads, queries, keys]``; ``keys`` is the longest key length seen."""
        missing = [(layer, q) for layer in self.layers for q in self.queries if (layer, q) not in self._rows]
        if missing:
            layers = sorted({m[0] for m in missing})
            queries = sorted({m[1] for m in missing})
            raise CaptureError(
                f"no attention recorded for query positions {queries[:10]} in layers {layers[:10]}: "
                f"the forward pass(es) inside the capture block never reached them ({self.calls} attention calls)"
            )
        if self._pending_cuda:
            torch.cuda.synchronize()
            self._pending_cuda = False
        keys = max(block.shape[-1] for block, _ in self._rows.values())
        first, _ = next(iter(self._rows.values()))
        out = torch.zeros(first.shape[0], len(self.layers), first.shape[1], len(self.queries), keys)
        for li, layer in enumerate(self.layers):
            for qi, q in enumerate(self.queries):
                block, i = self._rows[(layer, q)]
                out[:, li, :, qi, : block.shape[-1]] = block[:, :, i]
        return out

    @property
    def attention(self) -> torch.Tensor:
        """float32 ``[layers, heads, queries, keys]`` for a batch of one.

        With a batch of B > 1 the same positions are captured for every batch row; read them with
        :attr:`attention_batched` (``[B, layers, heads, queries, keys]``). This property then raises.
        """
        a = self.attention_batched
        if a.shape[0] != 1:
            raise CaptureError(
                f"batch of {a.shape[0]}: use `attention_batched` ([batch, layers, heads, queries, keys])"
            )
        return a[0]


def _expand_mask_rows(
    attention_mask: torch.Tensor | None,
    rows: torch.Tensor,
    q_abs: torch.Tensor,
    key_len: int,
    sliding_window: int | None,
    device: torch.device,
) -> torch.Tensor:
    """Additive float32 mask ``[B or 1, H or 1, n, key_len]`` for the chosen local query rows.

    The model may pass a 4-D boolean mask (True = attend), a 4-D additive float mask, a 2-D padding mask
    (flash attention), or None where sdpa relies on ``is_causal``: then the causal (and sliding-window) rows are
    built here, with the same rule as transformers' mask functions.
    """
    keys = torch.arange(key_len, device=device)
    neg = torch.finfo(torch.float32).min
    if attention_mask is not None and attention_mask.ndim == 4:
        m = attention_mask[:, :, rows, :key_len]
        if m.dtype == torch.bool:
            return torch.zeros(m.shape, device=device).masked_fill(~m, neg)
        return m.to(torch.float32).clamp(min=neg)
    allowed = keys[None, :] <= q_abs[:, None]
    if sliding_window:
        allowed &= keys[None, :] > q_abs[:, None] - sliding_window
    bias = torch.zeros(allowed.shape, device=device).masked_fill(~allowed, neg)[None, None]
    if attention_mask is not None and attention_mask.ndim == 2:  # padding mask [B, key_len]
        pad = attention_mask[:, None, None, :key_len].to(torch.bool)
        bias = bias.masked_fill(~pad, neg)
    return bias


def attention_rows(
    query: torch.Tensor,
    key: torch.Tensor,
    rows: torch.Tensor,
    mask_rows: torch.Tensor,
    scaling: float | None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Exact post-softmax attention of some query rows over all keys.

    Args:
        query: ``[B, Hq, q_len, D]`` query states (after RoPE and norms).
        key: ``[B, Hkv, k_len, D]`` key states; ``Hq`` must be a multiple of ``Hkv`` (grouped-query attention:
            query head ``h`` reads key head ``h // (Hq // Hkv)``, as transformers' ``repeat_kv``).
        rows: ``[n]`` local indices into ``q_len``.
        mask_rows: additive mask broadcastable to ``[B, Hq, n, k_len]``.
        scaling: logit scale (default ``D ** -0.5``); softcap: Gemma-2-style logit soft-capping.

    Returns:
        float32 ``[B, Hq, n, k_len]``, each row summing to 1 (fully masked rows are all zero).
    """
    b, hq, _, d = query.shape
    hkv, k_len = key.shape[1], key.shape[2]
    groups = hq // hkv
    n = rows.numel()
    # Query heads of one key head side by side: one matmul per key head, no repeated keys.
    q = query[:, :, rows].to(torch.float32).reshape(b, hkv, groups * n, d)
    scores = torch.matmul(q, key.to(torch.float32).transpose(-1, -2)).reshape(b, hq, n, k_len)
    scores.mul_(scaling if scaling is not None else d**-0.5)
    if softcap:
        scores = torch.tanh(scores / softcap).mul_(softcap)
    scores.add_(mask_rows)
    return torch.nan_to_num_(torch.softmax(scores, dim=-1), nan=0.0)


def _full_mask(attention_mask, q_len, key_len, offset, sliding_window, device, dtype):
    """The whole additive mask ``[B or 1, 1 or H, q_len, key_len]``, for edits that must change the output."""
    rows = torch.arange(q_len, device=device)
    m = _expand_mask_rows(attention_mask, rows, rows + offset, key_len, sliding_window, device)
    return m.to(dtype)


@contextmanager
def capture_attention(
    model: nn.Module,
    queries: Sequence[int] | Iterable[int],
    layers: Sequence[int] | None = None,
    bias: BiasFn | None = None,
):
    """Record exact attention rows of the text decoder during any forward pass inside the block.

    Args:
        model: a transformers VLM (or text LM) whose decoder layers have ``self_attn`` modules.
        queries: absolute sequence positions whose attention rows to keep (e.g. the score tokens).
        layers: decoder layer indices (negative counts from the end); default all.
        bias: optional additive logit bias per layer (see :data:`BiasFn`). When given, the model's attention
            itself is changed (its output too): used for planted judges and attention knockout. Needs an
            attention implementation that takes a dense mask (eager or sdpa).

    Yields:
        :class:`AttentionCapture`; read ``cap.attention`` ([layers, heads, queries, keys], float32) after the
        forward pass.

    Example::

        with capture_attention(model, queries=[812, 813]) as cap:
            model(**inputs)
        cap.attention.shape   # (num_layers, num_heads, 2, seq_len)
    """
    modules = text_attention_modules(model)
    n = len(modules)
    chosen = (
        list(range(n)) if layers is None else [layer % n if -n <= layer < n else layer for layer in layers]
    )
    bad = [layer for layer in chosen if not 0 <= layer < n]
    if bad:
        raise CaptureError(f"layers {bad} out of range for a decoder with {n} layers")
    queries = tuple(int(q) for q in queries)
    if not queries and bias is None:
        raise CaptureError("no query positions given")
    target = {id(modules[layer]): layer for layer in chosen}
    cap = AttentionCapture(layers=tuple(chosen), queries=queries)
    q_tensor = torch.tensor(queries)
    on_device: dict[torch.device, torch.Tensor] = {}

    impls = {getattr(m.config, "_attn_implementation", None) or "eager" for m in modules}
    if len(impls) != 1:
        raise CaptureError(f"text layers use several attention implementations: {sorted(impls)}")
    impl = impls.pop()

    mapping = AttentionInterface._global_mapping
    local_map = ALL_ATTENTION_FUNCTIONS._local_mapping
    had_global, prev_global = impl in mapping, mapping.get(impl)
    had_local, prev_local = impl in local_map, local_map.get(impl)

    def original_for(module):
        # The function this name resolved to before the block (possibly an outer capture's wrapper), else, for
        # "eager", the model's own eager function (transformers' default when the name is not registered).
        fn = prev_local if had_local else prev_global
        if fn is None:
            fn = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
        if fn is None:
            raise CaptureError(
                f"{type(module).__name__}: cannot find the original {impl!r} attention function"
            )
        return fn

    def wrapper(module, query, key, value, attention_mask, *args, **kwargs):
        layer = target.get(id(module))
        if layer is None:
            return original_for(module)(module, query, key, value, attention_mask, *args, **kwargs)
        q_len, key_len = query.shape[2], key.shape[2]
        offset = key_len - q_len
        sliding = kwargs.get("sliding_window", getattr(module, "sliding_window", None))
        if bias is not None:
            # Edits may also temper the logits (planted "uniform": scale 0 gives exactly uniform rows); the rows
            # below read the same `scaling`, so they are the ones the model used.
            scale = getattr(bias, "logit_scale", None)
            if scale is not None:
                base = kwargs.get("scaling")
                base = base if base is not None else query.shape[-1] ** -0.5
                kwargs["scaling"] = base * float(scale(layer, module))
            extra = bias(
                layer, module, torch.arange(offset, key_len, device=query.device), key_len, query.device
            )
            if extra is not None:
                if impl.startswith("flash"):
                    raise CaptureError("attention edits need eager or sdpa attention, not flash attention")
                full = _full_mask(attention_mask, q_len, key_len, offset, sliding, query.device, query.dtype)
                attention_mask = full + extra.to(query.dtype)
        out = original_for(module)(module, query, key, value, attention_mask, *args, **kwargs)
        cap.calls += 1
        local = (q_tensor >= offset) & (q_tensor < key_len)
        if local.any():
            abs_pos = q_tensor[local]
            if local.all():  # the usual single forward: reuse the positions already on the device
                abs_dev = on_device.setdefault(query.device, q_tensor.to(query.device))
            else:
                abs_dev = abs_pos.to(query.device)
            rows = abs_dev - offset
            mrows = _expand_mask_rows(attention_mask, rows, abs_dev, key_len, sliding, query.device)
            probs = attention_rows(query.detach(), key.detach(), rows, mrows, kwargs.get("scaling"),
                                   kwargs.get("softcap"))  # fmt: skip
            cap._store(layer, abs_pos.tolist(), probs)
        return out

    mapping[impl] = wrapper
    if had_local:
        local_map[impl] = wrapper
    try:
        yield cap
    finally:
        if had_global:
            mapping[impl] = prev_global
        else:
            mapping.pop(impl, None)
        if had_local:
            local_map[impl] = prev_local
