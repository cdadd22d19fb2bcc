"""What a judge protocol is: the model calls it makes, their prompts, and how its output is read.

A *protocol* is everything about a judge that is not the model: which images each call sees and in which
order, the prompt text, the score scale, how to read scores / boxes / reasoning out of the generated text,
and how the calls combine into one number. The :class:`~judgescope.judges.Judge` pairs a protocol with a model.

Prompts are templates: ``{instruction}`` is replaced by the edit instruction (plain string replacement, so
JSON braces in a template need no escaping). Images are not marked in the template: the Judge puts the call's
images, in ``Call.images`` order, before the text in the chat message.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

PLACEHOLDER = "{instruction}"


@dataclass(frozen=True)
class Call:
    """One model call of a protocol.

    Attributes:
        name: call key, e.g. ``"sc"``, ``"pq"``, ``"score"``, ``"quality"``.
        images: image roles in input order, e.g. ``("source", "edited")`` or ``("edited",)``.
        template: prompt text with the ``{instruction}`` placeholder (no image markers).
        scores: names of the sub-scores this call yields, in the order the output lists them.
        needs_instruction: whether the template must contain ``{instruction}``. False for calls that judge
            the edited image alone (perceptual quality), whose published prompts do not show the instruction.
    """

    name: str
    images: tuple[str, ...]
    template: str
    scores: tuple[str, ...] = ()
    needs_instruction: bool = True


@dataclass(frozen=True)
class RawBox:
    """A box as the judge wrote it, before any coordinate convention is applied.

    Attributes:
        coords: ``(x1, y1, x2, y2)`` exactly as written in the text (units depend on the convention).
        label: the box's label, ``""`` when none.
        image: image role the box refers to (``"edited"`` unless the protocol says otherwise).
        char_span: ``[start, end)`` of the box's text in the output string.
    """

    coords: tuple[float, float, float, float]
    label: str = ""
    image: str = "edited"
    char_span: tuple[int, int] = (0, 0)


@dataclass
class Parsed:
    """What one call's output says.

    Attributes:
        ok: True when every required field (the call's scores) parsed and is valid.
        scores: named sub-scores in ``Call.scores`` order, e.g. ``{"success": 20.0, "over_editing": 18.0}``.
            Only valid values appear: missing, cut-off, non-numeric, NaN or out-of-range scores are absent and
            explained in ``errors``.
        boxes: boxes the output predicts, as written.
        spans: ``[start, end)`` character spans in ``text``. ``"score"``: the digits of each score in
            ``scores`` order; ``"score:<name>"``: the same per score; ``"box"``: each box's text;
            ``"reasoning"``: the reasoning text; ``"marker"``: ``<|bbox_k|>`` / ``<|global|>`` markers;
            ``"json"``: the JSON object that was read; ``"think"``: a ``<think>`` block's content.
        errors: what failed to parse and why. May be non-empty while ``ok`` is True when only an optional
            field (e.g. one malformed box) failed.
        text: the output text all spans refer to.
        notes: recoveries that changed how the text was read (several JSON objects, scores found in prose).
    """

    ok: bool
    scores: dict[str, float]
    boxes: list[RawBox]
    spans: dict[str, list[tuple[int, int]]]
    errors: list[str]
    text: str
    notes: list[str] = field(default_factory=list)

    @classmethod
    def failed(cls, text: str, error: str) -> Parsed:
        """A result with nothing parsed and one error."""
        return cls(False, {}, [], {}, [error], text)


def read_template(template: str | Path) -> str:
    """Template text from a string or a file path.

    A ``Path`` is always read. A ``str`` is read as a file when it is a single line naming an existing
    file; otherwise it is the template itself.

    Raises:
        FileNotFoundError: a ``Path`` that does not exist.
        ValueError: an empty template.
    """
    if isinstance(template, Path):
        if not template.is_file():
            raise FileNotFoundError(f"prompt template file {str(template)!r} does not exist")
        text = template.read_text(encoding="utf-8")
    elif not isinstance(template, str):
        raise TypeError(f"a template is a str or a Path, not {type(template).__name__}")
    elif "\n" not in template and len(template) < 4096 and Path(template).is_file():
        text = Path(template).read_text(encoding="utf-8")
    else:
        text = template
    if not text.strip():
        raise ValueError("prompt template is empty")
    return text


class Protocol:
    """Base class of all protocols. Subclasses set the class attributes and implement :meth:`parse`.

    Attributes:
        name: registry key.
        calls: the model calls, in the order the Judge runs them.
        score_range: ``(low, high)`` inclusive scale of every sub-score.
        generative: False for value-head protocols (scores come from a head, not from generated text).
        box_convention: how predicted boxes' coordinates are meant (see ``judges.boxes``); None lets the
            model family decide.
        default_queries: the natural query role for attention diagnosis (``"score"``, ``"reward"`` ...).
    """

    name: str = ""
    calls: tuple[Call, ...] = ()
    score_range: tuple[float, float] = (0.0, 10.0)
    generative: bool = True
    box_convention: str | None = None
    default_queries: str = "score"

    def call(self, name: str) -> Call:
        """The call named ``name``; KeyError listing the protocol's calls otherwise."""
        for c in self.calls:
            if c.name == name:
                return c
        raise KeyError(
            f"protocol {self.name!r} has no call {name!r}; its calls: {[c.name for c in self.calls]}"
        )

    def prompt(self, call: Call, instruction: str) -> str:
        """The prompt text of ``call`` for one instruction (``{instruction}`` replaced, nothing else)."""
        if call.needs_instruction and not str(instruction).strip():
            raise ValueError(f"protocol {self.name!r} call {call.name!r} needs a non-empty instruction")
        return call.template.replace(PLACEHOLDER, str(instruction))

    def parse(self, text: str, call: Call) -> Parsed:
        raise NotImplementedError

    def combine(self, parsed: dict[str, Parsed]) -> tuple[float | None, list[str]]:
        """Overall score and the reasons it is undefined (empty list when defined).

        Default: the geometric mean over calls of each call's lowest sub-score, ``(prod_c min(s_c))^(1/C)``.
        With VIEScore's two calls this is ``sqrt(min(SC) * min(PQ))``; with one call and one score it is that
        score. Undefined (None) unless every call parsed ok; a negative minimum has no geometric mean.
        """
        errors = []
        mins = []
        for c in self.calls:
            p = parsed.get(c.name)
            if p is None:
                errors.append(f"overall needs call {c.name!r}, which has no result")
            elif not p.ok or not p.scores:
                errors.append(
                    f"overall needs call {c.name!r}, whose scores did not parse: {'; '.join(p.errors)}"
                )
            else:
                mins.append(min(p.scores.values()))
        if errors:
            return None, errors
        if any(m < 0 for m in mins):
            return None, [f"geometric mean undefined for negative scores {mins}"]
        return math.prod(mins) ** (1.0 / len(mins)), []

    def overall(self, parsed: dict[str, Parsed]) -> float | None:
        """Combine the calls' parsed outputs (keyed by call name) into one score; None if undefined.
        :meth:`combine` says why."""
        return self.combine(parsed)[0]

    def with_template(self, call_name: str, template: str | Path) -> Protocol:
        """A copy of this protocol whose call ``call_name`` uses ``template`` (text, or a file path).

        Raises:
            KeyError: no such call.
            ValueError: the template lacks ``{instruction}`` although the call needs it, or is empty.
        """
        call = self.call(call_name)
        text = read_template(template)
        if call.needs_instruction and PLACEHOLDER not in text:
            hint = ""
            if isinstance(template, str) and "\n" not in template and Path(template).suffix:
                hint = f" (no file named {template!r} exists either)"
            raise ValueError(
                f"prompt template for {self.name!r} call {call_name!r} has no {PLACEHOLDER} placeholder{hint}; "
                f"the instruction would never reach the judge"
            )
        new = copy.copy(self)
        new.calls = tuple(replace(c, template=text) if c.name == call_name else c for c in self.calls)
        return new

    def __repr__(self) -> str:
        calls = ", ".join(f"{c.name}{list(c.images)}" for c in self.calls)
        return f"{type(self).__name__}(name={self.name!r}, calls=[{calls}], score_range={self.score_range})"
