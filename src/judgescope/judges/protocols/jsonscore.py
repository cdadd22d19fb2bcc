"""The generic protocol for judges that answer with a JSON object holding a score.

Subclass it with a name, a scale and calls whose ``scores`` name the sub-scores, and parsing comes for free
(rules in :mod:`.parsing`). VIEScore and EditScore are such subclasses; so is a user's own judge::

    class MyJudge(JsonScoreProtocol):
        name = "my_judge"
        score_range = (1.0, 5.0)
        calls = (Call("score", ("source", "edited"),
                      'Instruction: {instruction}. Rate the edit 1-5 as JSON {"score": n}.', scores=("score",)),)
"""

from __future__ import annotations

from .base import Call, Parsed, Protocol
from .parsing import parse_json_scores


class JsonScoreProtocol(Protocol):
    """A protocol whose every call answers with JSON ``{"score": ..., "reasoning": ...}``.

    Attributes:
        aliases: other key spellings accepted for each sub-score when the model writes scores as an object,
            e.g. ``{"success": ("editing_success", "semantic_consistency")}``.
    """

    aliases: dict[str, tuple[str, ...]] = {}

    def __init__(self, score_range: tuple[float, float] | None = None):
        if score_range is not None:
            lo, hi = (float(v) for v in score_range)
            if not lo < hi:
                raise ValueError(f"score_range must be (low, high) with low < high, got {score_range}")
            self.score_range = (lo, hi)

    def fields(self, call: Call) -> tuple[str, ...]:
        """Sub-score names of ``call``; a call that names none yields one score called ``"score"``."""
        return call.scores or ("score",)

    def parse(self, text: str, call: Call) -> Parsed:
        """Read ``call``'s scores and reasoning from ``text`` (see :mod:`.parsing` for the rules)."""
        parsed, _ = parse_json_scores(text, self.fields(call), self.score_range, self.aliases)
        return parsed
