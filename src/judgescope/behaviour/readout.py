"""Reading a judge's score from its logits: the "logit score", which works on any generative judge.

A generated score needs parseable text, which a judge with random weights (or a judge pushed off its usual
input by a probe) does not write. The logit score needs none: teacher-force a response in the protocol's
output format up to its first score digit, and read the model's next-token distribution there.

- **Response.** The judge's own generated text when it parses and its first score starts a token
  (``source="generated"``); otherwise a canonical response of the protocol (:func:`canonical_response`, e.g.
  ``{"score": [0, 0], "reasoning": ""}`` for VIEScore) with ``source="canonical"`` and the reason in ``note``.
- **Row.** The first score digit is token ``i`` of the response; the row that predicts it is sequence position
  ``prompt_len + i - 1`` (the last token before the digit). Only the response's first ``i`` tokens are fed:
  by causality the logits of that row do not depend on anything after it.
- **Candidates.** Every integer value ``v`` of the protocol's score range whose text ``str(v)`` is a single
  token (Qwen tokenizers split digits, so a 0-10 or 0-25 scale gives the digits 0-9; a 1-5 scale gives 1-5).
- **Score.** ``sum_v v * p(v) / sum_v p(v)``: the expected value over the candidates, their probabilities
  renormalised among themselves. On a two-digit scale this is the expected *first digit*: it moves with the
  score but is not on the score's scale. ``mass = sum_v p(v)`` (over the full vocabulary) says how much the
  model itself put on a digit there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import JudgescopeError
from ..judges.tokens import char_spans_to_positions, token_char_offsets


@dataclass(frozen=True)
class Readout:
    """Where and how a call's logit score is read.

    Attributes:
        call: protocol call name.
        response_ids: the teacher-forced response (token ids), whole; only ``response_ids[:digit]`` is fed.
        digit: index in ``response_ids`` of the first score digit's token.
        candidates: token ids of the candidate values; values: their numeric values (same order).
        source: ``"generated"`` (the judge's own text), ``"canonical"`` (the protocol's format) or ``"given"``
            (a response passed by the caller).
        text: the response text; note: why the canonical response was used ("" otherwise).
        score_positions: indices in ``response_ids`` of every score token (for knockout of score rows).
    """

    call: str
    response_ids: tuple[int, ...]
    digit: int
    candidates: tuple[int, ...]
    values: tuple[float, ...]
    source: str
    text: str
    note: str = ""
    score_positions: tuple[int, ...] = ()

    @property
    def prefix(self) -> list[int]:
        """The response tokens fed before the readout row's prediction (``response_ids[:digit]``)."""
        return list(self.response_ids[: self.digit])

    def row(self, prompt_len: int) -> int:
        """Absolute sequence position whose logits predict the first score digit."""
        return prompt_len + self.digit - 1

    @property
    def value_range(self) -> float:
        """Width of the candidate values (the logit score lies in ``[min(values), max(values)]``)."""
        return float(max(self.values) - min(self.values))

    def expected(self, logits: torch.Tensor) -> torch.Tensor:
        """Expected value over the candidates from one row of logits ``[vocab]`` (differentiable), ``[]``."""
        ids = torch.as_tensor(self.candidates, device=logits.device)
        vals = torch.as_tensor(self.values, dtype=torch.float32, device=logits.device)
        p = torch.softmax(logits.float().index_select(-1, ids), dim=-1)
        return (p * vals).sum(-1)

    def mass(self, logits: torch.Tensor) -> float:
        """Probability (over the whole vocabulary) of the candidates at the readout row."""
        ids = torch.as_tensor(self.candidates, device=logits.device)
        return float(torch.softmax(logits.float(), dim=-1).index_select(-1, ids).sum())


def candidate_tokens(
    tokenizer, score_range: tuple[float, float]
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """``(token ids, values)`` of the integer scores in ``score_range`` that are single tokens.

    Raises:
        JudgescopeError: the range is unbounded, or no value in it is a single token.
    """
    lo, hi = score_range
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise JudgescopeError(f"a logit score needs a bounded score range, got {score_range}")
    ids, vals = [], []
    for v in range(math.ceil(lo), math.floor(hi) + 1):
        enc = tokenizer(str(v), add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and enc[0] not in ids:
            ids.append(int(enc[0]))
            vals.append(float(v))
    if len(ids) < 2:
        raise JudgescopeError(f"fewer than two values of the score range {score_range} are single tokens")
    return tuple(ids), tuple(vals)


def canonical_response(protocol, call) -> str:
    """A minimal answer in ``protocol``'s output format for ``call``, every score at the scale's low end.

    Built-in protocols get their field order (EditScore: reasoning first; SpatialReward: regions, reasoning,
    score; EditThinker: a ``<score>`` block); any other JSON protocol gets
    ``{"score": [...], "reasoning": ""}``.
    """
    fields = tuple(getattr(protocol, "fields", lambda c: c.scores)(call)) or ("score",)
    low = str(math.ceil(protocol.score_range[0])) if math.isfinite(protocol.score_range[0]) else "0"
    listed = "[" + ", ".join([low] * len(fields)) + "]" if len(fields) > 1 else low
    if protocol.name == "editthinker":
        body = ", ".join(f'"{f}": {low}' for f in fields)
        return f"<score>{{{body}}}</score>"
    if protocol.name == "spatialreward" and "source" in call.images:
        return f'{{"edit_region": [], "reasoning": "", "score": {listed}}}'
    if protocol.name in ("editscore", "spatialreward"):
        return f'{{"reasoning": "", "score": {listed}}}'
    return f'{{"score": {listed}, "reasoning": ""}}'


def _locate(tokenizer, ids, spans, candidates) -> tuple[int, tuple[int, ...]] | str:
    """``(digit token index, score token indices)`` for the first score span, or why it cannot be read."""
    if not spans:
        return "no score span"
    offsets = token_char_offsets(tokenizer, ids)
    start = spans[0][0]
    hits = [i for i, (a, b) in enumerate(offsets) if a == start and b > a]
    if not hits:
        return f"the first score (character {start}) does not start a token"
    i = hits[0]
    if ids[i] not in candidates:
        return f"the first score's token {tokenizer.decode([ids[i]])!r} is not a single score value"
    return i, tuple(char_spans_to_positions(spans, offsets))


def score_readout(judge, call, result=None, response: str | None = None) -> Readout:
    """The readout of ``call`` (a name or Call) for a generative judge.

    Args:
        result: the call's :class:`~judgescope.judges.judge.CallResult` from generation; its text is used when
            its scores parsed and the first score starts a candidate token.
        response: a response text to use instead of the canonical one (must parse with a score).

    Raises:
        JudgescopeError: value-head judge, or the canonical / given response cannot be read.
    """
    protocol = judge.protocol
    if not protocol.generative:
        raise JudgescopeError(f"{judge.name}: protocol {protocol.name!r} has no score tokens (value head)")
    call = protocol.call(call) if isinstance(call, str) else call
    tok = judge.tokenizer
    cands, vals = candidate_tokens(tok, protocol.score_range)
    note = ""
    if result is not None and result.generated_ids:
        parsed = result.parsed
        spans = parsed.spans.get("score", []) if parsed is not None and parsed.scores else []
        found = _locate(tok, list(result.generated_ids), spans, cands)
        if not isinstance(found, str):
            return Readout(call.name, tuple(result.generated_ids), found[0], cands, vals, "generated",
                           result.text, "", found[1])  # fmt: skip
        why = "; ".join(result.errors) if not result.scores else found
        note = f"generated text gives no readable score ({why})"
    elif result is not None:
        note = "nothing was generated"
    text = response if response is not None else canonical_response(protocol, call)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    text = tok.decode(ids, skip_special_tokens=False)  # spans must index the text the tokens decode to
    parsed = protocol.parse(text, call)
    found = _locate(tok, ids, parsed.spans.get("score", []) if parsed.scores else [], cands)
    if isinstance(found, str):
        raise JudgescopeError(f"{judge.name}: cannot read a score position in response {text!r}: {found}")
    source = "canonical" if response is None else "given"
    return Readout(call.name, tuple(ids), found[0], cands, vals, source, text, note, found[1])
