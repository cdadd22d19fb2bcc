"""One sample, end to end: evaluate with the judge, then capture the chosen query rows in one forward pass."""

from __future__ import annotations

import torch

from ..errors import CaptureError
from ..hooks.capture import BiasFn, capture_attention, combine_biases
from ..hooks.norms import record_hidden_norms
from .queries import resolve_queries
from .trace import Trace


def token_layout(tokenizer, ids, prepared, roles) -> tuple[tuple[str, ...], dict[str, tuple[int, ...]]]:
    """``(tokens, groups)`` of a Trace: each token's text, and the non-image groups (``"prompt"`` = prompt
    tokens outside every image grid, ``"instruction"`` = the instruction's tokens when found, plus one group
    per answer role, e.g. ``"score"``)."""
    tokens = tuple(tokenizer.decode([t], skip_special_tokens=False) for t in ids)
    image_pos = {p for s in prepared.images for p in s.positions}
    groups = {"prompt": tuple(p for p in range(prepared.prompt_len) if p not in image_pos)}
    if getattr(prepared, "instruction", ()):
        groups["instruction"] = tuple(prepared.instruction)
    groups.update({role: tuple(pos) for role, pos in roles.items()})
    return tokens, groups


def default_call(protocol) -> str:
    """The first call that sees the source image: only such calls can show source neglect."""
    for c in protocol.calls:
        if "source" in c.images:
            return c.name
    return protocol.calls[0].name


def diagnose_sample(
    judge,
    sample,
    queries="score",
    layers=None,
    call: str | None = None,
    output=None,
    bias: BiasFn | None = None,
    fallback: str | None = None,
    responses: dict[str, str] | None = None,
    images: dict | None = None,
):
    """Evaluate ``sample`` (unless ``output`` is given) and capture attention for one call.

    The generated text is teacher-forced: prompt + generated tokens go through the model in one forward pass
    (same positions and masks as during generation), and the rows of the chosen query positions are recorded.

    Args:
        judge: a :class:`~judgescope.judges.Judge`.
        queries: a query spec (see :mod:`judgescope.probe.queries`); default the score tokens.
        layers: decoder layers to capture (default all).
        call: protocol call to diagnose (default the first one that sees the source image).
        output: a :class:`JudgeOutput` from an earlier ``judge.evaluate(sample)``, to avoid generating again.
        bias: attention edit applied during the captured pass (planted judges, knockout).
        fallback: query spec to use when ``queries`` selects nothing (e.g. ``"last_prompt"`` when a random
            model's output holds no score); the trace's ``meta["query_fallback"]`` records it.
        responses: forwarded to ``judge.evaluate`` (read given texts instead of generating).
        images: the sample's images already loaded, to avoid reading them again.

    Returns:
        ``(JudgeOutput, Trace)``.
    """
    output = output or judge.evaluate(sample, responses=responses, images=images)
    call = call or default_call(judge.protocol)
    if call not in output.calls:
        raise CaptureError(f"call {call!r} was not run; calls: {list(output.calls)}")
    result = output.calls[call]
    meta = {"call": call, "scores": result.scores, "score": output.score, "errors": result.errors,
            "text": result.text, "family": judge.family.name, "query_spec": str(queries)}  # fmt: skip
    try:
        positions = resolve_queries(queries, result, judge.tokenizer)
    except CaptureError:
        if fallback is None:
            raise
        positions = resolve_queries(fallback, result, judge.tokenizer)
        meta["query_fallback"] = fallback
    prepared = result.prepared if result.prepared is not None else judge.prepare(sample, call, images)
    inputs = judge.sequence_inputs(prepared, result.generated_ids)
    bias = combine_biases(judge.edit_bias(prepared), bias)
    with (
        torch.no_grad(),
        capture_attention(judge.model, positions, layers, bias=bias) as cap,
        record_hidden_norms(judge.model) as norms,
    ):
        judge.model(**inputs)
    # Per-token max norm over layers: the metrics' sink detector reads it (massive activations).
    meta["hidden_norms"] = [round(float(x), 4) for x in norms.max_over_layers]
    tokens, groups = token_layout(judge.tokenizer, inputs["input_ids"][0].tolist(), prepared, result.roles)
    meta.update(judge.meta)
    trace = Trace(
        attention=cap.attention,
        layers=cap.layers,
        queries=cap.queries,
        query_tokens=tuple(tokens[p] for p in cap.queries),
        images=prepared.images,
        tokens=tokens,
        groups=groups,
        judge=judge.name,
        protocol=judge.protocol.name,
        sample_id=sample.id,
        meta=meta,
    )
    return output, trace
