"""VIEScore-style judge (as used by GEdit-Bench): two calls, 0-10 scores, JSON ``{"score": [...], "reasoning"}``.

- ``sc`` (semantic consistency) sees ``(source, edited)`` and gives ``[success, over_editing]``: how well the
  edit carries out the instruction, and how well it leaves everything else alone (10 = nothing else changed).
- ``pq`` (perceptual quality) sees ``(edited,)`` alone and gives ``[naturalness, artifacts]`` (10 = none).
- overall = ``sqrt(min(SC) * min(PQ))`` on 0-10; None when either call did not parse (``combine`` says why).

The prompts are judgescope's own wording of the same output format. To reproduce published numbers, load the
official prompt with ``with_template("sc", path)`` / ``with_template("pq", path)``.
"""

from __future__ import annotations

from .base import Call
from .jsonscore import JsonScoreProtocol

SC_ALIASES = {
    "success": ("editing_success", "edit_success", "instruction_following", "semantic_consistency"),
    "over_editing": ("overediting", "over_edit", "preservation"),
}
PQ_ALIASES = {
    "naturalness": ("natural", "realism", "plausibility"),
    "artifacts": ("artifact", "artifact_free", "no_artifacts"),
}

SC_TEMPLATE = """You are checking an image edit. The first image is the original; the second is what an editor \
produced when asked to apply this instruction to it:

Instruction: {instruction}

Give two scores, each an integer from 0 to 10:
1. Editing success - how fully and correctly the second image carries out the instruction \
(0: not at all, 10: exactly as asked).
2. Over-editing - how well the second image keeps everything the instruction did not ask to change \
(0: an unrelated picture, 10: nothing else was touched).

Reply with JSON only, in this shape:
{"score": [editing_success, over_editing], "reasoning": "a few sentences explaining both scores"}"""

PQ_TEMPLATE = """You are checking the visual quality of one image, produced by an image editor.

Give two scores, each an integer from 0 to 10:
1. Naturalness - does the picture look coherent and believable: consistent lighting, shadows, perspective, \
proportions and scale (0: clearly impossible, 10: fully natural)?
2. Artifacts - is it free of visible defects such as distortion, smeared or blurry patches, broken shapes, \
duplicated parts or noisy textures (0: severe defects, 10: none at all)?

Reply with JSON only, in this shape:
{"score": [naturalness, artifacts], "reasoning": "a few sentences explaining both scores"}"""


class VIEScore(JsonScoreProtocol):
    """VIEScore / GEdit-Bench protocol on a 0-10 scale (see module docstring)."""

    name = "viescore"
    score_range = (0.0, 10.0)
    aliases = {**SC_ALIASES, **PQ_ALIASES}
    calls = (
        Call("sc", ("source", "edited"), SC_TEMPLATE, scores=("success", "over_editing")),
        Call("pq", ("edited",), PQ_TEMPLATE, scores=("naturalness", "artifacts"), needs_instruction=False),
    )
