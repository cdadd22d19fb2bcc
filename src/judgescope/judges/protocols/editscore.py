"""EditScore-style judge: the VIEScore rubric on a 0-25 scale, JSON ``{"reasoning": "...", "score": [...]}``.

- ``sc`` sees ``(source, edited)`` and gives ``[success, over_editing]``; ``pq`` sees ``(edited,)`` and gives
  ``[naturalness, artifacts]``. Reasoning comes first, then the scores (the parser accepts either order).
- overall = ``sqrt(min(SC) * min(PQ))``, kept on the 0-25 scale (divide by 2.5 to compare with VIEScore's
  0-10). Chosen to mirror VIEScore's combination so the two protocols rank samples the same way for the same
  sub-scores; None when either call did not parse.

Prompts are judgescope's own wording; load an official prompt with ``with_template``.
"""

from __future__ import annotations

from .base import Call
from .jsonscore import JsonScoreProtocol
from .viescore import PQ_ALIASES, SC_ALIASES

SC_TEMPLATE = """Two images follow: the original photo, then the result of editing it with this instruction:

Instruction: {instruction}

Score the edit on two criteria, each an integer from 0 to 25:
- Editing success: how completely and precisely the edited image does what the instruction asks \
(0: the instruction is ignored, 25: done exactly).
- Over-editing: how faithfully the edited image preserves what the instruction did not mention \
(0: the rest of the picture is lost, 25: untouched apart from the requested change).

First explain your judgement, then give the scores. Answer with JSON only:
{"reasoning": "your explanation", "score": [editing_success, over_editing]}"""

PQ_TEMPLATE = """The image below was produced by an image editor. Judge only how it looks.

Score two criteria, each an integer from 0 to 25:
- Naturalness: coherent lighting, shadows, perspective and proportions; a believable scene \
(0: clearly impossible, 25: fully natural).
- Artifacts: absence of distortions, blur, smudges, seams, broken or duplicated shapes \
(0: severe defects, 25: none).

First explain your judgement, then give the scores. Answer with JSON only:
{"reasoning": "your explanation", "score": [naturalness, artifacts]}"""


class EditScore(JsonScoreProtocol):
    """EditScore protocol: VIEScore rubric on 0-25 (see module docstring)."""

    name = "editscore"
    score_range = (0.0, 25.0)
    aliases = {**SC_ALIASES, **PQ_ALIASES}
    calls = (
        Call("sc", ("source", "edited"), SC_TEMPLATE, scores=("success", "over_editing")),
        Call("pq", ("edited",), PQ_TEMPLATE, scores=("naturalness", "artifacts"), needs_instruction=False),
    )
