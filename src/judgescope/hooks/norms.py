"""Hidden-state norms per token: the "massive activations" that mark many attention sinks."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from ..judges.families import text_decoder


@dataclass
class HiddenNorms:
    """L2 norms of each decoder layer's output hidden state, per token.

    Attributes:
        per_layer: float32 ``[layers, tokens]`` (batch row 0), filled by the forward pass.
    """

    _rows: list[torch.Tensor] = field(default_factory=list, repr=False)

    @property
    def per_layer(self) -> torch.Tensor:
        if not self._rows:
            raise RuntimeError("no forward pass ran inside record_hidden_norms")
        return torch.stack(self._rows)

    @property
    def max_over_layers(self) -> torch.Tensor:
        """``[tokens]``: each token's largest norm over layers (massive activations peak in middle layers)."""
        return self.per_layer.amax(0)


@contextmanager
def record_hidden_norms(model):
    """Record ``||h||_2`` of every text decoder layer's output during the forward pass inside the block.

    Forward hooks on the decoder layers reduce each ``[batch, T, hidden]`` output to ``[T]`` at once, so the
    cost is ``O(layers x T)`` memory, unlike ``output_hidden_states=True`` (``O(layers x T x hidden)``).
    Hooks are removed on exit, also after an exception. Only the first forward pass is kept.
    """
    rec = HiddenNorms()
    layers = list(text_decoder(model).layers)
    done = {"n": 0}

    def hook(module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        if done["n"] < len(layers):
            rec._rows.append(hidden[0].detach().float().norm(dim=-1).cpu())
            done["n"] += 1

    handles = [layer.register_forward_hook(hook) for layer in layers]
    try:
        yield rec
    finally:
        for h in handles:
            h.remove()
