"""Reading scores, reasoning and boxes out of a judge's text, with exact character spans.

The rules, shared by every JSON-speaking protocol:

- Every ``{`` starts a candidate object (so ```json fences, prose before and after, and several objects are
  fine); see :mod:`.lenient` for the syntax accepted.
- Several objects: the LAST COMPLETE object that holds a score is read. If no complete object holds one, the
  last cut-off object that holds one; failing that, the last object at all (to recover reasoning and boxes
  from an output cut off before its score). Choosing among several adds a note.
- A score is a number, a numeric string (``"7"``, ``"7.5"``, ``"7/10"``, ``"7 out of 10"``), a list of those,
  or an object keyed by sub-score names. A list must have exactly one entry per expected sub-score; a
  different count is an error (its meaning would be a guess). A fraction whose denominator is not the top of
  the scale is an error, not rescaled.
- Never invent: a missing, cut-off (a number touching the end of the text), non-numeric, NaN/inf or
  out-of-range score is left out of ``scores`` and explained in ``errors``; ``ok`` is then False.
- With no JSON holding a score, ``score: ...`` / ``<name>: ...`` written in prose (``**Score:** 7``) is read,
  with a note; the last occurrence of each key wins, and a number ending the text counts as finished there
  (prose has no closing bracket to wait for).
"""

from __future__ import annotations

import math
import re

from .base import Parsed
from .lenient import JNode, JsonSyntaxError, find_objects, get_key, parse_value

SCORE_KEYS = ("score", "scores")
REASONING_KEYS = ("reasoning", "reason", "rationale", "explanation", "analysis")
_NUM = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)|[-+]?(?:nan|inf|infinity)\b"
_ITEM = re.compile(rf"({_NUM})(?:\s*(?:/|out\s+of)\s*(\d+(?:\.\d+)?))?", re.IGNORECASE)
_ITEM_LIST = re.compile(rf"\s*\[?\s*{_ITEM.pattern}(?:\s*[,;]\s*{_ITEM.pattern})*\s*\]?\s*", re.IGNORECASE)

# One value read from the text: (value or None, span of its digits, denominator, error or None).
Item = tuple[float | None, tuple[int, int] | None, float | None, str | None]


def _items_of(node: JNode, text: str) -> list[Item]:
    """The numbers a scalar node holds: one for a number, one or more for a numeric string."""
    if node.kind == "number":
        if not node.complete:
            return [
                (None, None, None, f"{text[node.start : node.end]!r} is cut off by the end of the output")
            ]
        return [(node.value, node.number_span, node.denominator, None)]
    if node.kind == "string":
        s, e = node.inner
        raw = text[s:e]
        if not node.complete:
            return [(None, None, None, f"{raw!r} is cut off by the end of the output")]
        if _ITEM_LIST.fullmatch(raw):
            out = []
            for m in _ITEM.finditer(raw):
                den = float(m.group(2)) if m.group(2) else None
                out.append((float(m.group(1)), (s + m.start(1), s + m.end(1)), den, None))
            return out
        return [(None, None, None, f"{raw!r} is not a number")]
    return [(None, None, None, f"{text[node.start : node.end][:40]!r} is not a number")]


def _check(name: str, item: Item, lo: float, hi: float) -> str | None:
    value, _, den, err = item
    if err:
        return f"score {name!r}: {err}"
    if math.isnan(value) or math.isinf(value):
        return f"score {name!r} is {value}, not a finite number"
    if den is not None and den != hi:
        return f"score {name!r} is written out of {den:g} but the scale is {lo:g}-{hi:g}; not rescaled"
    if not lo <= value <= hi:
        return f"score {name!r} = {value:g} is outside the scale {lo:g}-{hi:g}"
    return None


def read_scores(
    node: JNode,
    text: str,
    fields: tuple[str, ...],
    score_range: tuple[float, float],
    aliases: dict[str, tuple[str, ...]] | None = None,
) -> tuple[dict[str, float], dict[str, tuple[int, int]], list[str]]:
    """Named scores from a score value (number, numeric string, list, or object of named scores).

    Args:
        node: the value of the ``"score"`` key (or an object holding the sub-scores by name).
        fields: expected sub-score names, in output order.
        score_range: inclusive ``(low, high)``.
        aliases: other accepted key spellings per field, for object-form scores.

    Returns:
        ``(scores, spans, errors)``: valid scores by field in ``fields`` order, the digit span of each, and
        an error per field that could not be read.
    """
    lo, hi = score_range
    aliases = aliases or {}
    errors: list[str] = []
    pairs: list[tuple[str, Item]] = []
    if node.kind == "object":
        for f in fields:
            hit = get_key(node, (f, *aliases.get(f, ())), deep=False)
            if hit is None:
                cut = "" if node.complete else " (output cut off)"
                errors.append(f"score {f!r} missing from the score object{cut}")
                continue
            items = _items_of(hit[1], text)
            if len(items) != 1:
                errors.append(f"score {f!r} holds {len(items)} numbers, expected one")
                continue
            pairs.append((f, items[0]))
    else:
        if node.kind == "array":
            items = [it for child in node.value for it in _items_of(child, text)]
        else:
            items = _items_of(node, text)
        if node.kind == "array" and not node.complete:
            # Cut off: the entries present are the first ones, in order; the rest are missing.
            pairs = list(zip(fields, items))
            errors += [f"score {f!r} missing: the output was cut off" for f in fields[len(items) :]]
        elif len(items) != len(fields):
            errors.append(f"expected {len(fields)} score(s) {list(fields)}, found {len(items)}")
        else:
            pairs = list(zip(fields, items))
    scores, spans = {}, {}
    for f, item in pairs:
        err = _check(f, item, lo, hi)
        if err:
            errors.append(err)
        else:
            scores[f], spans[f] = float(item[0]), item[1]
    return scores, spans, errors


def score_node(obj: JNode, fields: tuple[str, ...], aliases: dict[str, tuple[str, ...]]) -> JNode | None:
    """The value that holds ``obj``'s scores: its ``"score"`` key, else the object holding named sub-scores."""
    hit = get_key(obj, SCORE_KEYS)
    if hit is not None:
        return hit[1]
    names = [n for f in fields for n in (f, *aliases.get(f, ()))]
    queue = [obj]
    while queue:  # breadth-first search for an object that holds any sub-score by name
        cur = queue.pop(0)
        if get_key(cur, names, deep=False) is not None:
            return cur
        queue.extend(v for v in cur.value.values() if v.kind == "object")
    return None


def select_object(objects: list[JNode], has_score) -> tuple[JNode | None, list[str]]:
    """Pick the object to read among several (rules in the module docstring). Returns ``(object, notes)``."""
    if not objects:
        return None, []
    scored = [o for o in objects if has_score(o)]
    complete = [o for o in scored if o.complete]
    chosen = complete[-1] if complete else (scored[-1] if scored else objects[-1])
    notes = []
    if len(objects) > 1:
        notes.append(
            f"{len(objects)} JSON objects in the output; read the one at characters {chosen.start}-{chosen.end}"
        )
    return chosen, notes


def prose_scores(text: str, keys: tuple[str, ...], start: int = 0, limit: int | None = None) -> JNode | None:
    """Scores written outside JSON (``Score: 7``, ``"score": [7, 8]`` without braces, ``Quality: 6``).

    Looks for each name in ``keys`` followed by ``:`` or ``=`` and a readable value; the last occurrence of
    each wins. Returns an object node ``{key: value}`` over the original text, or None if nothing was found.
    """
    limit = len(text) if limit is None else limit
    found: dict[str, JNode] = {}
    for key in keys:
        # Quotes or markdown emphasis may wrap the key and the value: **Score:** 7, "score": 7, _Quality_ = 6
        pattern = re.compile(rf"(?<![\w])[\"'*_]*{re.escape(key)}[\"'*_]*\s*[:=][\s*_]*", re.IGNORECASE)
        for m in pattern.finditer(text, start, limit):
            try:
                node = parse_value(text, m.end(), limit)
            except JsonSyntaxError:
                continue
            if node.kind == "number" and not node.complete:
                # Prose has no closing bracket to wait for: "Score: 7" at the very end is a finished answer.
                node.complete = True
            if node.kind in ("number", "string", "array"):
                found[key] = node
    if not found:
        return None
    return JNode("object", found, min(n.start for n in found.values()), max(n.end for n in found.values()))


def read_reasoning(obj: JNode | None, text: str) -> tuple[list[tuple[int, int]], str | None]:
    """Span of the reasoning text (string content without quotes; may be cut off) or a note why none."""
    hit = get_key(obj, REASONING_KEYS) if obj is not None else None
    if hit is None:
        return [], "no reasoning field"
    node = hit[1]
    s, e = node.inner
    if e <= s:
        return [], "reasoning is empty"
    return [(s, e)], None if node.complete else "reasoning is cut off by the end of the output"


def parse_json_scores(
    text: str,
    fields: tuple[str, ...],
    score_range: tuple[float, float],
    aliases: dict[str, tuple[str, ...]] | None = None,
    start: int = 0,
    limit: int | None = None,
) -> tuple[Parsed, JNode | None]:
    """The common pipeline: find objects, pick one, read scores and reasoning, fill spans.

    Returns ``(parsed, chosen object)``; the object lets protocols read more fields (boxes) from it.
    ``start``/``limit`` restrict the search to part of the text; spans always index the whole ``text``.
    """
    aliases = aliases or {}
    if not isinstance(text, str):
        return Parsed.failed(str(text), f"output is {type(text).__name__}, not text"), None
    objects = find_objects(text, start, limit)
    obj, notes = select_object(objects, lambda o: score_node(o, fields, aliases) is not None)
    node = score_node(obj, fields, aliases) if obj is not None else None
    errors: list[str] = []
    spans: dict[str, list[tuple[int, int]]] = {}
    if obj is not None:
        spans["json"] = [(obj.start, obj.end)]
    if node is None:
        prose_keys = (*SCORE_KEYS, *(n for f in fields for n in (f, *aliases.get(f, ()))))
        prose = prose_scores(text, prose_keys, start, limit)
        if prose is not None:
            node = score_node(prose, fields, aliases)
            notes.append("scores read from prose, outside any JSON object")
    scores: dict[str, float] = {}
    if node is None:
        if obj is None:
            errors.append("no JSON object and no score in the output")
        elif not obj.complete:
            errors.append(f"no score: the output was cut off before it (expected {list(fields)})")
        else:
            errors.append(f"the JSON has no score field (expected {list(fields)})")
    else:
        scores, score_spans, errs = read_scores(node, text, fields, score_range, aliases)
        errors += errs
        if score_spans:
            spans["score"] = list(score_spans.values())
        for f, sp in score_spans.items():
            spans[f"score:{f}"] = [sp]
    reasoning, note = read_reasoning(obj, text)
    if reasoning:
        spans["reasoning"] = reasoning
    if note:
        notes.append(note)
    ok = not errors and len(scores) == len(fields)
    return Parsed(ok, scores, [], spans, errors, text, notes), obj
