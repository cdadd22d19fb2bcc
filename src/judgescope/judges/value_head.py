"""Value heads of EditReward-style judges: a linear map from the last hidden state at the reward token."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import JudgescopeError

# Names under which released reward models store their head, tried in order.
_HEAD_PREFIXES = ("value_head", "reward_head", "score", "v_head.summary", "rm_head")


def _linear_from_state(state: dict[str, torch.Tensor], prefix: str) -> nn.Linear | None:
    weight = state.get(f"{prefix}.weight" if prefix else "weight")
    if weight is None:
        return None
    weight = weight.reshape(-1, weight.shape[-1])
    bias = state.get(f"{prefix}.bias" if prefix else "bias")
    head = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        head.weight.copy_(weight.float())
        if bias is not None:
            head.bias.copy_(bias.reshape(-1).float())
    return head


def load_value_head(source: nn.Module | str | Path | None, model: nn.Module) -> nn.Module:
    """The value head: ``[..., hidden] -> [..., outputs]``.

    Args:
        source: a module (used as is); a safetensors file holding ``weight`` [outputs, hidden] and optional
            ``bias`` (or prefixed ``value_head.weight`` ...); or None: look for ``value_head.safetensors`` in the
            model's checkpoint folder, then for a head inside the model's own modules.

    Raises:
        JudgescopeError: no head found, with what was tried.
    """
    if isinstance(source, nn.Module):
        return source.eval()
    tried = []
    files = []
    if source is not None:
        files.append(Path(source))
    else:
        folder = Path(str(getattr(model.config, "name_or_path", "") or ""))
        if folder.is_dir():
            files.append(folder / "value_head.safetensors")
    for f in files:
        tried.append(str(f))
        if f.is_file():
            from safetensors.torch import load_file

            state = load_file(str(f))
            for prefix in ("", *_HEAD_PREFIXES):
                head = _linear_from_state(state, prefix)
                if head is not None:
                    return head.eval()
            raise JudgescopeError(f"{f}: no 'weight' or '<head>.weight' tensor for a value head")
    for prefix in _HEAD_PREFIXES:
        try:
            module = model.get_submodule(prefix)
        except AttributeError:
            module = None
        if isinstance(module, nn.Linear):
            return module
        tried.append(f"model.{prefix}")
    raise JudgescopeError(
        "value-head protocol needs the head's weights: pass value_head=<module or safetensors file>; tried "
        + ", ".join(tried)
    )
