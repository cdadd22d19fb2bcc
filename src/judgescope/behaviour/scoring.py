"""One number per forward pass: the logit score or the value-head reward, with attention edits applied.

Every forward pass here runs with the judge's own attention edit (planted judges) plus an optional extra
bias (knockout), combined with :func:`judgescope.hooks.combine_biases`.
"""

from __future__ import annotations

import inspect
import math
from contextlib import ExitStack, nullcontext

import torch

from ..errors import JudgescopeError
from ..hooks.capture import BiasFn, capture_attention, combine_biases
from .readout import Readout

KNOCKOUT_MODES = ("score", "text", "all")


def edited_forward(judge, prepared, extra: BiasFn | None = None) -> ExitStack:
    """Context for forward passes of ``judge`` on ``prepared``: the judge's attention edit plus ``extra``."""
    bias = combine_biases(judge.edit_bias(prepared), extra)
    stack = ExitStack()
    stack.enter_context(capture_attention(judge.model, (), bias=bias) if bias is not None else nullcontext())
    return stack


def image_keys(prepared, image: str = "source") -> tuple[int, ...]:
    """Grid and wrapper positions of the image named ``image`` (empty if the call does not show it)."""
    return tuple(
        sorted({p for s in prepared.images if s.name == image for p in (*s.positions, *s.extra_positions)})
    )


def knockout_rows(judge, prepared, mode: str, readout: Readout | None = None, image: str = "source"):
    """The query rows a knockout blocks, as ``(explicit positions or None, first row or None)``.

    - ``"score"``: the rows whose output is read as the score: the readout row and the score tokens of the
      response (generative), or the reward token (value head).
    - ``"text"``: every row after the last image (prompt text after the images and the whole response).
    - ``"all"``: every row after the knocked-out image, the later images' tokens included. Nothing after the
      image can then read it: the score is exactly independent of the image's content.
    """
    if mode not in KNOCKOUT_MODES:
        raise JudgescopeError(f"knockout must be one of {KNOCKOUT_MODES}, got {mode!r}")
    keys = image_keys(prepared, image)
    if not keys:
        raise JudgescopeError(f"call {prepared.call.name!r} shows no {image!r} image: nothing to knock out")
    if mode == "score":
        if not judge.protocol.generative:
            return (judge.reward_position(prepared),), None
        if readout is None:
            raise JudgescopeError("a knockout of the score rows of a generative judge needs its readout")
        n = prepared.prompt_len
        return tuple(sorted({readout.row(n), *(n + i for i in readout.score_positions)})), None
    if mode == "text":
        last = max(p for s in prepared.images for p in (*s.positions, *s.extra_positions))
        return None, last + 1
    return None, max(keys) + 1


def knockout_bias(judge, prepared, mode: str = "score", readout: Readout | None = None,
                  image: str = "source") -> BiasFn:  # fmt: skip
    """A BiasFn: logit -inf from the knockout rows (see :func:`knockout_rows`) to ``image``'s grid and wrapper
    tokens, in every decoder layer; other rows are untouched. Works in teacher-forced passes and in cached
    generation (rows are absolute positions).

    Raises:
        JudgescopeError: the call does not show ``image``.
    """
    explicit, first = knockout_rows(judge, prepared, mode, readout, image)
    key_t = torch.as_tensor(image_keys(prepared, image), dtype=torch.long)
    row_t = torch.as_tensor(explicit if explicit is not None else (), dtype=torch.long)

    def bias(layer, module, query_positions, key_len, device):
        q = query_positions.to(device)
        sel = torch.isin(q, row_t.to(device)) if explicit is not None else q >= first
        if not bool(sel.any()):
            return None
        k = key_t[key_t < key_len].to(device)
        b = torch.zeros(1, 1, q.numel(), key_len, device=device)
        rows = torch.nonzero(sel).flatten()
        b[0, 0, rows[:, None], k[None, :]] = -math.inf
        return b

    return bias


def _accepts(model, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def logit_score(judge, prepared, readout: Readout, bias: BiasFn | None = None) -> tuple[float, float]:
    """``(logit score, candidate mass)`` of one input: prompt + ``readout.prefix`` teacher-forced, the last
    row's next-token distribution read by :meth:`Readout.expected`."""
    inputs = judge.sequence_inputs(prepared, readout.prefix)
    kw = {"logits_to_keep": 1} if _accepts(judge.model, "logits_to_keep") else {}
    with torch.no_grad(), edited_forward(judge, prepared, bias):
        logits = judge.model(**inputs, **kw).logits[0, -1]
    return float(readout.expected(logits)), readout.mass(logits)


def reward_score(judge, prepared, bias: BiasFn | None = None) -> float:
    """The value head on the last hidden state at the reward token (as ``Judge.reward``), with ``bias``."""
    with torch.no_grad(), edited_forward(judge, prepared, bias):
        out = judge.model(**prepared.inputs, output_hidden_states=True)
        hidden = out.hidden_states[-1][0, judge.reward_position(prepared)]
        head = judge.value_head()
        return float(head(hidden.to(next(head.parameters()).dtype)).reshape(-1)[0])
