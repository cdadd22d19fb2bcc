"""The Judge: a model + processor + protocol that scores one edit, and knows where every token came from."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import JudgescopeError, NoImageTokensError, SampleError
from ..sample import Sample
from ..spans import ImageSpan
from .boxes import Box, box_to_pixels, default_box_convention
from .families import Family, family_of, locate_images
from .protocols import Call, Parsed, Protocol, get_protocol
from .tokens import char_spans_to_positions, find_subsequence, token_char_offsets
from .value_head import load_value_head


@dataclass(frozen=True)
class GenerationSettings:
    """Explicit, deterministic generation (greedy by default)."""

    max_new_tokens: int = 512
    do_sample: bool = False
    num_beams: int = 1
    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None

    def kwargs(self) -> dict:
        kw = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample, "num_beams": self.num_beams}
        for name in ("temperature", "top_p", "repetition_penalty"):
            if getattr(self, name) is not None:
                kw[name] = getattr(self, name)
        if not self.do_sample:  # silence sampling defaults inherited from a checkpoint's generation_config
            kw.update(temperature=None, top_p=None, top_k=None)
        return kw


@dataclass
class Prepared:
    """One call's model input for one sample.

    Attributes:
        inputs: the processor's output for a batch of one (``input_ids`` ``[1, T]`` ...).
        images: the image spans of the prompt, in input order.
        prompt_len: ``T``, the number of prompt tokens (a reward token included for value-head calls).
        instruction: positions of the instruction's tokens in the prompt (empty if not found verbatim).
    """

    call: Call
    inputs: Any
    images: tuple[ImageSpan, ...]
    prompt_len: int
    instruction: tuple[int, ...] = ()


@dataclass
class CallResult:
    """The result of one protocol call.

    Attributes:
        text: the generated text (special tokens kept, end-of-turn token dropped); "" for value heads.
        generated_ids: the generated token ids (the text's tokens).
        prompt_len: prompt length; generated token ``i`` sits at sequence position ``prompt_len + i``.
        scores: parsed sub-scores (only valid ones); ``{"reward": r}`` for value heads.
        boxes: predicted boxes in original pixels of their image (``box.image``).
        roles: absolute sequence positions per role: ``"score"``, ``"box"``, ``"reasoning"``, ``"generated"``,
            ``"last_prompt"``, ``"reward"`` (what applies).
        errors: parse or mapping problems; never hidden behind a made-up score.
    """

    call: str
    images: tuple[ImageSpan, ...]
    prompt_len: int
    text: str = ""
    generated_ids: list[int] = field(default_factory=list)
    parsed: Parsed | None = None
    scores: dict[str, float] = field(default_factory=dict)
    boxes: list[Box] = field(default_factory=list)
    roles: dict[str, list[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    prepared: Prepared | None = field(default=None, repr=False, compare=False)  # reused by diagnosis

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.scores)


@dataclass
class JudgeOutput:
    """Everything a judge said about one sample."""

    sample_id: str
    judge: str
    protocol: str
    calls: dict[str, CallResult]
    score: float | None
    errors: list[str]

    @property
    def ok(self) -> bool:
        return self.score is not None and not self.errors

    @property
    def scores(self) -> dict[str, float]:
        """Flat ``{"call.name": value}`` of every parsed sub-score."""
        return {f"{c}.{k}": v for c, r in self.calls.items() for k, v in r.scores.items()}


class Judge:
    """A judge model: ``Judge(model, processor, protocol)``, or :func:`load_judge` from a hub id or folder.

    Args:
        model: a transformers image-text-to-text model of a supported family.
        processor: its processor (tokenizer + image processor + chat template).
        protocol: a protocol name (``"viescore"``, ``"editscore"``, ``"spatialreward"``, ``"editthinker"``,
            ``"valuehead"``) or a :class:`Protocol` instance.
        name: label used in traces and reports (default: the model's ``name_or_path``).
        generation: generation settings (greedy, 512 new tokens by default).
        value_head: for value-head protocols: an ``nn.Module`` mapping hidden ``[..., hidden]`` to ``[..., 1]``,
            a path to a safetensors file with ``weight``/``bias``, or None to look in the checkpoint folder.
        box_convention: override the family's box coordinate convention.
        system_prompt: optional system message.
    """

    def __init__(
        self,
        model: nn.Module,
        processor,
        protocol: str | Protocol = "viescore",
        *,
        name: str | None = None,
        generation: GenerationSettings | None = None,
        value_head: nn.Module | str | Path | None = None,
        box_convention: str | None = None,
        system_prompt: str | None = None,
    ):
        self.model = model
        self.processor = processor
        self.family: Family = family_of(model.config)
        self.protocol: Protocol = get_protocol(protocol)
        self.name = name or str(getattr(model.config, "name_or_path", "") or type(model).__name__)
        self.generation = generation or GenerationSettings()
        self.box_convention = (
            box_convention or self.protocol.box_convention or default_box_convention(self.family.name)
        )
        self.system_prompt = system_prompt
        self._value_head_source = value_head
        self._value_head: nn.Module | None = None
        self.meta: dict[str, Any] = {}
        # An attention edit (planted judges, knockout probes): ``edit.bias_for(prepared) -> BiasFn | None``,
        # applied to every forward pass of this judge (generation, value head, diagnosis).
        self.attention_edit = None

    def __repr__(self) -> str:
        return f"Judge({self.name!r}, family={self.family.name}, protocol={self.protocol.name})"

    # -- input ---------------------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        return getattr(self.processor, "tokenizer", self.processor)

    @property
    def min_image_side(self) -> int:
        """Smallest image side (px) the processor accepts: Qwen-VL needs one merged patch (28 or 32 px)."""
        ip = getattr(self.processor, "image_processor", None)
        if self.family.name.startswith("qwen"):
            return int(getattr(ip, "patch_size", 14)) * int(getattr(ip, "merge_size", 2))
        return 1

    def prepare(self, sample: Sample, call: Call | str, images: dict | None = None) -> Prepared:
        """Tokenize one call of ``sample``: chat template, images in the call's order, spans located."""
        call = self.protocol.call(call) if isinstance(call, str) else call
        images = images if images is not None else sample.images(self.min_image_side)
        missing = [role for role in call.images if role not in images]
        if missing:
            raise SampleError(sample.id, f"call {call.name!r} needs images {missing}")
        content = [{"type": "image"} for _ in call.images]
        content.append({"type": "text", "text": self.protocol.prompt(call, sample.instruction)})
        messages = [{"role": "user", "content": content}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        pil = [images[role] for role in call.images]
        try:
            inputs = self.processor(text=[text], images=pil, return_tensors="pt")
        except ValueError as e:
            raise SampleError(sample.id, f"the processor rejected the input: {e}") from e
        input_ids = inputs["input_ids"][0]
        try:
            spans = locate_images(
                self.family, input_ids, inputs, [im.size for im in pil], list(call.images), self.processor,
                self.model.config,
            )  # fmt: skip
        except NoImageTokensError as e:
            raise NoImageTokensError(f"sample {sample.id!r}, call {call.name!r}: {e}") from e
        inputs = inputs.to(self.device)
        where = find_subsequence(input_ids.tolist(), self.tokenizer, sample.instruction.strip())
        return Prepared(call, inputs, spans, int(input_ids.shape[0]), tuple(where))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def reward_token(self) -> str:
        token = getattr(self.protocol, "reward_token", "<|Reward|>")
        tid = self.tokenizer.convert_tokens_to_ids(token)
        if tid is None or tid == getattr(self.tokenizer, "unk_token_id", None):
            raise JudgescopeError(
                f"{self.name}: the tokenizer has no {token!r} token for the value-head protocol"
            )
        return token

    # -- running -------------------------------------------------------------------------------------------
    def sequence_inputs(self, prepared: Prepared, generated_ids: list[int]) -> dict:
        """Model inputs for the prompt followed by ``generated_ids`` (teacher forcing), batch of one."""
        inputs = dict(prepared.inputs)
        if not generated_ids:
            return inputs
        extra = torch.tensor([generated_ids], dtype=inputs["input_ids"].dtype, device=self.device)
        n = extra.shape[1]
        inputs["input_ids"] = torch.cat([inputs["input_ids"], extra], dim=1)
        for key, fill in (("attention_mask", 1), ("mm_token_type_ids", 0), ("token_type_ids", 0)):
            if key in inputs and inputs[key] is not None:
                pad = torch.full((1, n), fill, dtype=inputs[key].dtype, device=self.device)
                inputs[key] = torch.cat([inputs[key], pad], dim=1)
        return inputs

    def edit_bias(self, prepared: Prepared):
        """The attention bias of this judge's edit for one input, or None."""
        return self.attention_edit.bias_for(prepared) if self.attention_edit is not None else None

    def _edited(self, prepared: Prepared):
        bias = self.edit_bias(prepared)
        if bias is None:
            return nullcontext()
        from ..hooks.capture import capture_attention

        return capture_attention(self.model, (), bias=bias)

    @torch.no_grad()
    def generate(self, prepared: Prepared) -> list[int]:
        """Greedy (by default) generation; returns the new token ids, without the end-of-turn token."""
        with self._edited(prepared):
            out = self.model.generate(**prepared.inputs, **self.generation.kwargs())
        ids = out[0, prepared.prompt_len :].tolist()
        stop = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        stop |= set(_as_list(getattr(self.model.generation_config, "eos_token_id", None)))
        for i, t in enumerate(ids):
            if t in stop:
                return ids[:i]
        return ids

    def value_head(self) -> nn.Module:
        if self._value_head is None:
            self._value_head = load_value_head(self._value_head_source, self.model).to(self.device)
        return self._value_head

    def reward_position(self, prepared: Prepared) -> int:
        """Sequence position of the (last) reward token, which the value-head protocol puts in the prompt."""
        tid = self.tokenizer.convert_tokens_to_ids(self.reward_token)
        hits = torch.nonzero(prepared.inputs["input_ids"][0] == tid).flatten()
        if hits.numel() == 0:
            raise JudgescopeError(
                f"{self.name}: no {self.reward_token!r} token in the prompt of call {prepared.call.name!r}"
            )
        return int(hits[-1])

    @torch.no_grad()
    def reward(self, prepared: Prepared) -> float:
        """Value-head score: the head applied to the last layer's hidden state at the reward token."""
        with self._edited(prepared):
            out = self.model(**prepared.inputs, output_hidden_states=True)
        hidden = out.hidden_states[-1][0, self.reward_position(prepared)]
        head = self.value_head()
        return float(head(hidden.to(next(head.parameters()).dtype)).reshape(-1)[0])

    def run_call(self, sample: Sample, call: Call, images: dict, response: str | None = None) -> CallResult:
        """One call: generate (or take ``response`` as the model's text), parse, map boxes, locate roles."""
        prepared = self.prepare(sample, call, images)
        result = CallResult(call.name, prepared.images, prepared.prompt_len, prepared=prepared)
        result.roles["last_prompt"] = [prepared.prompt_len - 1]
        if not self.protocol.generative:
            result.scores["reward"] = self.reward(prepared)
            result.roles["reward"] = [self.reward_position(prepared)]
            return result
        if response is None:
            ids = self.generate(prepared)
        else:
            ids = self.tokenizer(response, add_special_tokens=False)["input_ids"]
        offsets = token_char_offsets(self.tokenizer, ids)
        result.generated_ids = ids
        result.text = self.tokenizer.decode(ids, skip_special_tokens=False)
        result.roles["generated"] = [prepared.prompt_len + i for i in range(len(ids))]
        parsed = self.protocol.parse(result.text, call)
        result.parsed = parsed
        result.scores = dict(parsed.scores)
        result.errors.extend(parsed.errors if not parsed.ok else [])
        for role, spans in parsed.spans.items():
            if role == "json":  # the whole object: not a useful query role
                continue
            positions = char_spans_to_positions(spans, offsets)
            result.roles[role] = [prepared.prompt_len + i for i in positions]
        by_name = {s.name: s for s in prepared.images}
        for raw in parsed.boxes:
            span = by_name.get(raw.image)
            if span is None:
                result.errors.append(
                    f"box {raw.coords} refers to image {raw.image!r}, not in call {call.name!r}"
                )
                continue
            try:
                result.boxes.append(box_to_pixels(raw, self.box_convention, span.geometry))
            except ValueError as e:
                result.errors.append(str(e))
        return result

    def evaluate(
        self,
        sample: Sample,
        calls: list[str] | None = None,
        responses: dict[str, str] | None = None,
        images: dict | None = None,
    ) -> JudgeOutput:
        """Score one sample with every call of the protocol (or the ones named).

        Args:
            responses: optional ``{call_name: text}`` to read instead of generating (e.g. outputs logged during
                RL training); the text is tokenized and teacher-forced for diagnosis exactly as generated text.
            images: the sample's images already loaded (``sample.images()``), to avoid reading them again.

        Malformed output never becomes a score: the call's ``errors`` say what failed and ``score`` is None.
        """
        images = images if images is not None else sample.images(self.min_image_side)
        chosen = [self.protocol.call(c) for c in calls] if calls else list(self.protocol.calls)
        results = {c.name: self.run_call(sample, c, images, (responses or {}).get(c.name)) for c in chosen}
        errors = [f"{name}: {e}" for name, r in results.items() for e in r.errors]
        score = None
        if self.protocol.generative:
            parsed = {name: r.parsed for name, r in results.items() if r.parsed is not None}
            score = self.protocol.overall(parsed)
        elif results:
            rewards = [r.scores["reward"] for r in results.values()]
            score = float(sum(rewards) / len(rewards))
        return JudgeOutput(sample.id, self.name, self.protocol.name, results, score, errors)

    def diagnose(self, sample: Sample, queries="score", layers=None, call: str | None = None, **kwargs):
        """Evaluate, then capture the attention of the chosen query rows: returns ``(JudgeOutput, Trace)``.

        See :func:`judgescope.probe.diagnose.diagnose_sample` for the arguments.
        """
        from ..probe.diagnose import diagnose_sample

        return diagnose_sample(self, sample, queries=queries, layers=layers, call=call, **kwargs)


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def load_judge(
    name_or_path: str | Path,
    protocol: str | Protocol | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    attn_implementation: str = "sdpa",
    **kwargs,
) -> Judge:
    """Load a judge from a hub id or a local folder with transformers' Auto classes.

    Args:
        name_or_path: e.g. ``"Qwen/Qwen2.5-VL-7B-Instruct"`` or a folder written by ``save_pretrained``.
        protocol: protocol name or instance; default ``"viescore"`` (``"valuehead"`` is never guessed).
        device: where to put the model (default CPU, or CUDA when available).
        dtype: e.g. ``"bfloat16"``; default the checkpoint's.
        attn_implementation: ``"sdpa"`` (default; capture keeps it), ``"eager"`` or ``"flash_attention_2"``.
        kwargs: passed to :class:`Judge` (``name``, ``generation``, ``value_head`` ...).

    Raises:
        UnsupportedFamilyError: before any weights are read, when the config is of an unknown family.
    """
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    source = str(name_or_path)
    config = AutoConfig.from_pretrained(source)
    family_of(config)  # fail fast, before loading weights
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    model = AutoModelForImageTextToText.from_pretrained(
        source, dtype=dtype or "auto", attn_implementation=attn_implementation
    )
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device).eval()
    processor = AutoProcessor.from_pretrained(source)
    marker = Path(source) / "judgescope_tiny.json"
    judge = Judge(model, processor, protocol or "viescore", name=kwargs.pop("name", None) or source, **kwargs)
    if marker.exists():
        judge.meta["tiny"] = json.loads(marker.read_text())
    return judge
