"""SpatialReward-style judge: predicted edit regions first, then grounded reasoning, then 0-25 scores.

- ``sc`` sees ``(source, edited)`` and answers JSON in this order::

      {"edit_region": [{"bbox_2d": [x1, y1, x2, y2], "label": "..."}, ...],
       "reasoning": "... <|bbox_0|> ... <|global|> ...",
       "score": [success, over_editing]}

  Boxes are in thousandths of the EDITED image (``box_convention = "relative_1000"``). Plain
  ``[x1, y1, x2, y2]`` entries are accepted too, as is a single box not wrapped in a list. An empty list means
  a global edit. Reasoning may point at boxes with ``<|bbox_k|>`` and at the whole image with ``<|global|>``;
  their spans are in ``spans["marker"]``.
- ``quality`` sees ``(edited,)`` and gives ``[naturalness, artifacts]`` on 0-25.
- overall = ``sqrt(min(SC) * min(quality))`` on 0-25, as for EditScore; None when either call did not parse.

Boxes are optional for ``ok``: a malformed box is reported in ``errors`` and skipped, and an output cut off
after its boxes still yields them (with the missing score as an error).
"""

from __future__ import annotations

import math
import re

from .base import Call, Parsed, RawBox
from .jsonscore import JsonScoreProtocol
from .lenient import JNode, get_key
from .parsing import parse_json_scores
from .viescore import PQ_ALIASES, SC_ALIASES

REGION_KEYS = ("edit_region", "edit_regions", "regions", "boxes", "bboxes")
BOX_KEYS = ("bbox_2d", "bbox", "box", "bbox2d", "coords")
MARKER = re.compile(r"<\|bbox_\d+\|>|<\|global\|>")

SC_TEMPLATE = """The first image is an original photo; the second is the result of editing it with this \
instruction:

Instruction: {instruction}

Work in three steps and answer with a single JSON object whose keys come in this order:
1. "edit_region": the regions of the second image that the instruction concerns, as a list of \
{"bbox_2d": [x1, y1, x2, y2], "label": "short name"}, coordinates in thousandths (0-1000) of the second image's \
width and height, top-left origin. Use [] when the edit concerns the whole image.
2. "reasoning": compare the two images region by region. Refer to the k-th region of your list as <|bbox_k|> \
(counting from 0) and to the image as a whole as <|global|>.
3. "score": [editing_success, over_editing], two integers from 0 to 25. Editing success: how completely and \
correctly the instruction is carried out (25: exactly). Over-editing: how well everything outside the requested \
change is preserved (25: untouched).

{"edit_region": [{"bbox_2d": [x1, y1, x2, y2], "label": "..."}], "reasoning": "...", "score": [0, 0]}"""

QUALITY_TEMPLATE = """The image below was produced by an image editor. Judge only how it looks.

Score two criteria, each an integer from 0 to 25:
- Naturalness: coherent lighting, shadows, perspective and proportions (25: fully natural).
- Artifacts: absence of distortion, blur, smudges, seams, broken or duplicated shapes (25: no defects).

Answer with one JSON object: {"reasoning": "...", "score": [naturalness, artifacts]}"""


def _coords(node: JNode) -> tuple[float, float, float, float] | str:
    """Four finite numbers from an array node, or the reason they are not."""
    if node.kind != "array":
        return "coordinates are not a list"
    if not node.complete:
        return "cut off by the end of the output"
    vals = []
    for v in node.value:
        if v.kind == "string":
            try:
                vals.append(float(v.value))
                continue
            except ValueError:
                return f"coordinate {v.value!r} is not a number"
        if v.kind != "number":
            return "coordinates must be numbers"
        vals.append(v.value)
    if len(vals) != 4:
        return f"needs 4 coordinates, got {len(vals)}"
    if not all(math.isfinite(v) for v in vals):
        return "coordinates must be finite"
    return tuple(vals)


def read_regions(
    obj: JNode | None, text: str, image: str = "edited"
) -> tuple[list[RawBox], list[str], str | None]:
    """Boxes of an ``edit_region`` field: ``(boxes, errors, note)``; note when there is no such field."""
    hit = get_key(obj, REGION_KEYS) if obj is not None else None
    if hit is None:
        return [], [], "no edit_region field"
    node = hit[1]
    if node.kind == "object" or (
        node.kind == "array" and len(node.value) == 4 and all(v.kind == "number" for v in node.value)
    ):
        items = [node]  # a single box, not wrapped in a list
    elif node.kind == "array":
        items = node.value
    else:
        return [], [f"edit_region is a {node.kind}, not a list of boxes"], None
    boxes, errors = [], []
    for k, item in enumerate(items):
        label = ""
        coords_node = item
        if item.kind == "object":
            box_hit = get_key(item, BOX_KEYS, deep=False)
            label_hit = get_key(item, ("label", "name", "object"), deep=False)
            if label_hit is not None and label_hit[1].kind == "string":
                label = label_hit[1].value
            if box_hit is None:
                cut = "cut off by the end of the output" if not item.complete else "has no bbox_2d"
                errors.append(f"edit_region[{k}] {cut}")
                continue
            coords_node = box_hit[1]
        coords = _coords(coords_node)
        if isinstance(coords, str):
            errors.append(f"edit_region[{k}] {coords}")
            continue
        boxes.append(RawBox(coords, label, image, (item.start, item.end)))
    return boxes, errors, None


class SpatialReward(JsonScoreProtocol):
    """SpatialReward protocol (see module docstring)."""

    name = "spatialreward"
    score_range = (0.0, 25.0)
    box_convention = "relative_1000"
    aliases = {**SC_ALIASES, **PQ_ALIASES}
    calls = (
        Call("sc", ("source", "edited"), SC_TEMPLATE, scores=("success", "over_editing")),
        Call(
            "quality",
            ("edited",),
            QUALITY_TEMPLATE,
            scores=("naturalness", "artifacts"),
            needs_instruction=False,
        ),
    )

    def parse(self, text: str, call: Call) -> Parsed:
        """Scores and reasoning as for any JSON judge, plus edit-region boxes and reasoning markers."""
        parsed, obj = parse_json_scores(text, self.fields(call), self.score_range, self.aliases)
        if call.name == "sc":
            boxes, errors, note = read_regions(obj, text)
            parsed.boxes = boxes
            parsed.errors += errors
            if note:
                parsed.notes.append(note)
            if boxes:
                parsed.spans["box"] = [b.char_span for b in boxes]
        markers = [
            m.span() for s, e in parsed.spans.get("reasoning", []) for m in MARKER.finditer(text, s, e)
        ]
        if markers:
            parsed.spans["marker"] = markers
        return parsed
