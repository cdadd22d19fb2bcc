"""Attribution of a judge's score to its input tokens, as a Trace on the same layout as attention traces.

The attribution input is the decoder's merged input embeddings ``[1, T, hidden]`` (text embeddings with the
vision features scattered in; see :mod:`.embeds`). The target is one number:

- generative judges: the logit score (:mod:`judgescope.behaviour.readout`): the expected value over the
  single-token score values at the row that predicts the first score digit of a teacher-forced response (the
  judge's own generated text when it holds a readable score, else the protocol's canonical response);
- value-head judges: the head's output on the last hidden state at the reward token (as ``Judge.reward``).

Methods (captum): ``"input_x_gradient"`` (``x * df/dx``) and ``"integrated_gradients"`` (Gauss-Legendre path
with ``steps`` points; completeness: the signed attributions sum to ``f(x) - f(baseline)`` up to
``meta["convergence_delta"]``). Baseline ``"mean"`` (default): every token's embedding replaced by the mean
merged embedding of the input, a sequence with no token identity and the same positions. Baseline ``"zeros"``
is offered but is a poor path for these models: every decoder layer (and the final norm) RMS-normalises its
input, so ``f(a * x)`` hardly moves for ``a`` above ``sqrt(eps) / rms(x)`` and jumps below it; 16-64 path
points miss the jump and completeness fails by as much as the score difference itself (measured on tiny
judges), while the mean baseline meets it to 1e-4.

Per token the hidden dimension is reduced (``reduce="sum"``: the signed sum, whose total is what
completeness speaks of; ``"l2"``: the norm) and made non-negative (``sign="abs"``: a token that lowers the
score is used as much as one that raises it, and a judge that reads the source to find a failed edit lowers
the score with it; ``"positive"``: only what raises the score). The trace is ``[1, 1, 1, K]``: one "layer"
numbered ``-1`` (the input embeddings, before decoder layer 0), one head, one query row (the readout row),
``K`` keys = prompt + the whole response, with the same images, tokens and groups as the attention trace of
the same call; tokens after the readout row get exactly 0 (causality).
"""

from __future__ import annotations

import torch

from ..errors import JudgescopeError
from ..probe.diagnose import default_call, token_layout
from ..probe.trace import Trace
from .embeds import batched, decoder_call

METHODS = ("input_x_gradient", "integrated_gradients")
EMBEDDING_LAYER = -1


def _target(judge, prepared, readout, row: int):
    """``f(decoder output) -> []``: the logit score at ``row`` or the value head at the reward token."""
    if readout is not None:
        head = judge.model.get_output_embeddings()
        cap = getattr(judge.model.config.get_text_config(), "final_logit_softcapping", None)

        def score(out):
            logits = head(out.last_hidden_state[0, row])
            if cap:
                logits = torch.tanh(logits / cap) * cap
            return readout.expected(logits)

        return score, False
    head = judge.value_head()
    dtype = next(head.parameters()).dtype
    return (lambda out: head(out.hidden_states[-1][0, row].to(dtype)).reshape(-1)[0]), True


def attribute(judge, sample, method: str = "input_x_gradient", call: str | None = None, output=None,
              target: str = "score", steps: int = 16, reduce: str = "sum", sign: str = "abs",
              baseline: str = "mean", response: str | None = None) -> Trace:  # fmt: skip
    """Attribution of ``call``'s score to every token, as a Trace (see the module docstring).

    Args:
        judge: any Judge (a planted judge's attention edit applies in every pass).
        method: ``"input_x_gradient"`` or ``"integrated_gradients"``.
        call: protocol call (default: the first that shows the source).
        output: a :class:`JudgeOutput` of this sample: its generated text is the teacher-forced response
            (otherwise the call is generated first; value heads generate nothing).
        target: ``"score"`` (the only target: the logit score or the reward).
        steps: integration points for integrated gradients.
        reduce: ``"sum"`` or ``"l2"`` over the hidden dimension; sign: ``"abs"`` or ``"positive"``.
        baseline: integrated gradients' baseline, ``"mean"`` or ``"zeros"``.
        response: a response text for the readout instead of the canonical one (generative judges).

    Returns:
        Trace with ``kind=method``; ``meta`` holds ``target_value`` (f(x)), ``attribution_sum`` (signed sum),
        for integrated gradients ``baseline_value`` and ``convergence_delta``, and the readout's provenance.
    """
    from captum.attr import InputXGradient, IntegratedGradients

    from ..behaviour.readout import score_readout
    from ..behaviour.scoring import edited_forward

    if method not in METHODS:
        raise JudgescopeError(f"unknown attribution method {method!r}; methods: {METHODS}")
    if target != "score":
        raise JudgescopeError(f"unknown attribution target {target!r}; targets: ('score',)")
    if reduce not in ("sum", "l2") or sign not in ("abs", "positive"):
        raise JudgescopeError(
            f"reduce must be 'sum' or 'l2' and sign 'abs' or 'positive', got {reduce!r}, {sign!r}"
        )
    if baseline not in ("mean", "zeros"):
        raise JudgescopeError(f"baseline must be 'mean' or 'zeros', got {baseline!r}")
    if steps < 1:
        raise JudgescopeError(f"steps must be at least 1, got {steps}")
    call_obj = judge.protocol.call(call or default_call(judge.protocol))
    images = sample.images(judge.min_image_side)
    prepared = judge.prepare(sample, call_obj, images)
    n = prepared.prompt_len
    meta: dict = {"call": call_obj.name, "method": method, "reduce": reduce, "sign": sign,
                  "family": judge.family.name, "layer": "input embeddings (-1)"}  # fmt: skip
    if judge.protocol.generative:
        result = output.calls.get(call_obj.name) if output is not None else None
        result = result or judge.run_call(sample, call_obj, images)
        readout = score_readout(judge, call_obj, result, response)
        fed, row, response_ids = readout.prefix, readout.row(n), list(readout.response_ids)
        if readout.source == "generated":
            roles = {k: list(v) for k, v in result.roles.items()}
        else:
            roles = {"last_prompt": [n - 1], "generated": [n + i for i in range(len(response_ids))],
                     "score": [n + i for i in readout.score_positions]}  # fmt: skip
        meta.update(target="logit score", readout=readout.source, readout_note=readout.note,
                    text=readout.text, scores=dict(result.scores))  # fmt: skip
    else:
        readout, fed, response_ids = None, [], []
        row = judge.reward_position(prepared)
        roles = {"last_prompt": [n - 1], "reward": [row]}
        meta.update(target="value head at the reward token")
    inputs = judge.sequence_inputs(prepared, fed)
    dc = decoder_call(judge.model, inputs)
    score, hidden = _target(judge, prepared, readout, row)
    forward = batched(lambda e: score(dc.run(e, hidden_states=hidden)))
    x = dc.embeds.clone().requires_grad_()
    base = (
        torch.zeros_like(x) if baseline == "zeros" else x.detach().mean(1, keepdim=True).expand_as(x).clone()
    )
    with edited_forward(judge, prepared):
        if method == "input_x_gradient":
            attr = InputXGradient(forward).attribute(x)
        else:
            attr, delta = IntegratedGradients(forward).attribute(
                x,
                baselines=base,
                n_steps=steps,
                internal_batch_size=1,
                return_convergence_delta=True,
            )
            meta["convergence_delta"] = float(delta.reshape(-1)[0])
            meta.update(steps=steps, baseline=baseline)
        with torch.no_grad():
            meta["target_value"] = float(forward(x)[0])
            if method == "integrated_gradients":
                meta["baseline_value"] = float(forward(base)[0])
    attr = attr[0].detach().float()  # [T, hidden]
    signed = attr.sum(-1)
    meta["attribution_sum"] = float(signed.sum())
    values = attr.norm(dim=-1) if reduce == "l2" else signed.abs() if sign == "abs" else signed.clamp_min(0)
    keys = n + len(response_ids)
    weights = torch.zeros(keys)
    weights[: values.numel()] = values.cpu()
    ids = prepared.inputs["input_ids"][0].tolist() + response_ids
    tokens, groups = token_layout(judge.tokenizer, ids, prepared, roles)
    meta.update(judge.meta)
    return Trace(
        attention=weights.reshape(1, 1, 1, keys),
        layers=(EMBEDDING_LAYER,),
        queries=(row,),
        query_tokens=(tokens[row],),
        images=prepared.images,
        tokens=tokens,
        groups=groups,
        judge=judge.name,
        protocol=judge.protocol.name,
        sample_id=sample.id,
        kind=method,
        meta=meta,
    )
