"""EditThinker-style judge: free reasoning (optionally in ``<think>...</think>``), then
``<score>{"semantic": x, "quality": y}</score>``.

- One call ``score`` seeing ``(source, edited)``; sub-scores ``semantic`` (does the edit do what was asked)
  and ``quality`` (how good the result looks), each 0-10 by default (``EditThinker(score_range=...)`` changes it).
- The LAST ``<score>`` block after the last ``</think>`` is read (one inside the thinking is a draft). A block
  cut off before ``</score>`` is read up to the end of the text. Without any ``<score>`` block the JSON rules
  of :mod:`.parsing` apply to the text after the thinking, with a note.
- overall = ``sqrt(semantic * quality)``, the geometric mean, on the same scale: like VIEScore's combination
  it is low whenever either side is low, so a well-rendered image that ignores the instruction cannot score
  high. None unless both sub-scores parsed.
- ``spans["think"]``: the thinking's content; ``spans["reasoning"]``: the thinking plus any free text before
  the score block (each stripped of surrounding whitespace, empty parts left out).
"""

from __future__ import annotations

import math
import re

from .base import Call, Parsed
from .jsonscore import JsonScoreProtocol
from .parsing import parse_json_scores

_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_SCORE_OPEN = re.compile(r"<score>", re.IGNORECASE)
_SCORE_CLOSE = re.compile(r"</score>", re.IGNORECASE)

TEMPLATE = """You will see two images: an original, and the same image after an editor applied this instruction:

Instruction: {instruction}

Think about what the instruction asks, what changed between the images, and how the result looks. Then rate:
- semantic: how well the edit follows the instruction while leaving the rest unchanged, 0 to 10;
- quality: how natural and free of visual defects the edited image is, 0 to 10.

Finish with the scores in exactly this form:
<score>{"semantic": 0, "quality": 0}</score>"""


def _stripped(text: str, s: int, e: int) -> tuple[int, int] | None:
    """``[s, e)`` narrowed to exclude surrounding whitespace; None if nothing is left."""
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return (s, e) if e > s else None


class EditThinker(JsonScoreProtocol):
    """EditThinker protocol (see module docstring)."""

    name = "editthinker"
    score_range = (0.0, 10.0)
    aliases = {
        "semantic": ("semantics", "semantic_score", "instruction_following"),
        "quality": ("quality_score", "perceptual_quality", "visual_quality"),
    }
    calls = (Call("score", ("source", "edited"), TEMPLATE, scores=("semantic", "quality")),)

    def parse(self, text: str, call: Call) -> Parsed:
        if not isinstance(text, str):
            return Parsed.failed(str(text), f"output is {type(text).__name__}, not text")
        spans: dict[str, list[tuple[int, int]]] = {}
        body = 0  # where the answer starts, after any thinking
        think_open = _THINK_OPEN.search(text)
        closes = list(_THINK_CLOSE.finditer(text))
        if closes:
            body = closes[-1].end()
            content = _stripped(text, think_open.end() if think_open else 0, closes[-1].start())
        elif think_open:  # thinking cut off: everything after <think> is thinking, there is no answer
            body = len(text)
            content = _stripped(text, think_open.end(), len(text))
        else:
            content = None
        if content:
            spans["think"] = [content]
        opens = [m for m in _SCORE_OPEN.finditer(text) if m.start() >= body]
        notes = []
        if opens:
            start = opens[-1].end()
            close = _SCORE_CLOSE.search(text, start)
            limit = close.start() if close else len(text)
            free = _stripped(text, body, opens[-1].start())
            parsed, _ = parse_json_scores(
                text, self.fields(call), self.score_range, self.aliases, start, limit
            )
            if close is None:
                notes.append("score block not closed: read to the end of the output")
        elif body >= len(text):
            free = None
            parsed = Parsed(False, {}, [], {}, ["no answer: the output was cut off inside <think>"], text)
        else:
            free = None
            parsed, _ = parse_json_scores(text, self.fields(call), self.score_range, self.aliases, body)
            notes.append("no <score> block; read the answer as plain JSON")
        parsed.notes = [n for n in parsed.notes if n != "no reasoning field"] + notes
        reasoning = [s for s in (content, free) if s] or parsed.spans.get("reasoning", [])
        spans.update({k: v for k, v in parsed.spans.items() if k != "reasoning"})
        if reasoning:
            spans["reasoning"] = reasoning
        parsed.spans = spans
        return parsed

    def combine(self, parsed: dict[str, Parsed]) -> tuple[float | None, list[str]]:
        """``sqrt(semantic * quality)``; None with the reason when the call or a sub-score is missing."""
        p = parsed.get("score")
        if p is None:
            return None, ["overall needs call 'score', which has no result"]
        if not p.ok or not {"semantic", "quality"} <= p.scores.keys():
            return None, [f"overall needs both semantic and quality scores: {'; '.join(p.errors)}"]
        product = p.scores["semantic"] * p.scores["quality"]
        if product < 0:
            return None, [f"geometric mean undefined for scores of opposite sign {p.scores}"]
        return math.sqrt(product), []
