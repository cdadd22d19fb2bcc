"""A forgiving JSON reader that remembers where every value sits in the original text.

Judge VLMs write "almost JSON": fenced in ```json blocks, followed by prose, with single quotes, trailing
commas, ``NaN``, ``7/10``, unescaped quotes inside the reasoning, or cut off mid-object when generation hits
its token limit. ``json.loads`` rejects all of these and, even when it succeeds, forgets positions. The reader
here accepts them and returns a tree of :class:`JNode` whose ``start``/``end`` are character offsets into the
ORIGINAL string, so a score's digits can be mapped to its tokens.

Truncation is explicit, never guessed: a container or string that reaches the end of the text is returned
with ``complete=False``, and a number that touches the end of the text is ``complete=False`` too (``"8"``
might have been the start of ``"85"``). Callers decide what an incomplete value may still be used for.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
_SPECIAL = re.compile(r"[-+]?(?:NaN|nan|Infinity|infinity|inf|Inf)\b")
_FRACTION = re.compile(r"\s*/\s*(\d+(?:\.\d+)?)")
_IDENT = re.compile(r"[A-Za-z_][\w\-]*")
_LITERALS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
# A quote closes a string only if what follows could follow a JSON string; otherwise it is an apostrophe
# or an unescaped quote inside the text ("the cat's tail", 'He said "hi" twice').
_CLOSES_STRING = re.compile(r"\s*(?:[,}\]:]|$)")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"', "'": "'"}


def _join(chars: list[str]) -> str:
    """Join decoded characters, pairing ``\\ud83d\\ude00``-style surrogate escapes as json.loads does."""
    s = "".join(chars)
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if _SURROGATE.search(s) else s


class JsonSyntaxError(ValueError):
    """The text at a position is not (lenient) JSON."""


@dataclass
class JNode:
    """One parsed value with its place in the text.

    Attributes:
        kind: ``"object"``, ``"array"``, ``"string"``, ``"number"`` or ``"literal"``.
        value: object -> ``dict[str, JNode]`` (keys as written); array -> ``list[JNode]``; string -> decoded
            ``str``; number -> ``float`` (may be NaN/inf); literal -> ``True``/``False``/``None``.
        start, end: ``[start, end)`` character span in the original text, quotes and brackets included.
        complete: False when the value was cut off by the end of the text.
        denominator: for numbers written as fractions (``7/10``), the denominator; else None.
        number_span: for numbers, the span of the numerator literal alone (``"7"`` of ``7/10``).
        key_spans: for objects, the span of each key as written (quotes included).
    """

    kind: str
    value: Any
    start: int
    end: int
    complete: bool = True
    denominator: float | None = None
    number_span: tuple[int, int] | None = None
    key_spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def inner(self) -> tuple[int, int]:
        """For strings: span of the content without the quotes (to the end of text when cut off)."""
        if self.kind != "string":
            return (self.start, self.end)
        return (self.start + 1, self.end - 1 if self.complete else self.end)


class _Reader:
    """Recursive-descent reader over ``text[:limit]`` (``limit`` acts as end of text)."""

    def __init__(self, text: str, limit: int | None = None):
        self.text = text
        self.limit = len(text) if limit is None else limit

    def skip_ws(self, i: int) -> int:
        while i < self.limit and self.text[i].isspace():
            i += 1
        return i

    def value(self, i: int) -> JNode:
        i = self.skip_ws(i)
        if i >= self.limit:
            raise JsonSyntaxError("end of text where a value was expected")
        c = self.text[i]
        if c == "{":
            return self.obj(i)
        if c == "[":
            return self.array(i)
        if c in "\"'":
            return self.string(i)
        return self.scalar(i)

    def obj(self, i: int) -> JNode:
        node = JNode("object", {}, i, self.limit, complete=False)
        j = i + 1
        while True:
            j = self.skip_ws(j)
            if j >= self.limit:
                return node
            if self.text[j] == "}":
                node.end, node.complete = j + 1, True
                return node
            got = self.key(j)
            if got is None:  # key cut off by the end of the text
                return node
            key, kspan = got
            j = kspan[1]
            j = self.skip_ws(j)
            if j >= self.limit:
                return node
            if self.text[j] != ":":
                raise JsonSyntaxError(f"expected ':' after key {key!r} at {j}")
            child = self.value(j + 1) if self.skip_ws(j + 1) < self.limit else None
            if child is None:
                return node
            node.value[key] = child
            node.key_spans[key] = kspan
            if not child.complete:
                return node
            j = self.skip_ws(child.end)
            if j >= self.limit:
                return node
            if self.text[j] == ",":
                j += 1
            elif self.text[j] != "}":
                raise JsonSyntaxError(f"expected ',' or '}}' at {j}")

    def key(self, j: int) -> tuple[str, tuple[int, int]] | None:
        """A quoted or bare-word key at ``j``: ``(key, span as written)``; None when cut off."""
        if self.text[j] in "\"'":
            s = self.string(j)
            return (s.value, (j, s.end)) if s.complete else None
        m = _IDENT.match(self.text, j, self.limit)
        if not m:
            raise JsonSyntaxError(f"expected a key at {j}")
        return m.group(), m.span()

    def array(self, i: int) -> JNode:
        node = JNode("array", [], i, self.limit, complete=False)
        j = i + 1
        while True:
            j = self.skip_ws(j)
            if j >= self.limit:
                return node
            if self.text[j] == "]":
                node.end, node.complete = j + 1, True
                return node
            child = self.value(j)
            node.value.append(child)
            if not child.complete:
                return node
            j = self.skip_ws(child.end)
            if j >= self.limit:
                return node
            if self.text[j] == ",":
                j += 1
            elif self.text[j] != "]":
                raise JsonSyntaxError(f"expected ',' or ']' at {j}")

    def string(self, i: int) -> JNode:
        q, text, out = self.text[i], self.text, []
        j = i + 1
        while j < self.limit:
            c = text[j]
            if c == "\\" and j + 1 < self.limit:
                e = text[j + 1]
                if e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[j + 2 : j + 6]):
                    out.append(chr(int(text[j + 2 : j + 6], 16)))
                    j += 6
                    continue
                out.append(_ESCAPES.get(e, "\\" + e))
                j += 2
                continue
            if c == q and _CLOSES_STRING.match(text[j + 1 : self.limit]):
                return JNode("string", _join(out), i, j + 1)
            out.append(c)
            j += 1
        return JNode("string", _join(out), i, self.limit, complete=False)

    def scalar(self, i: int) -> JNode:
        text = self.text[: self.limit]
        m = _SPECIAL.match(text, i)
        if m:
            raw = m.group().lstrip("+").lower()
            val = math.nan if "nan" in raw else (-math.inf if raw.startswith("-") else math.inf)
            return JNode("number", val, i, m.end(), complete=m.end() < len(self.text), number_span=m.span())
        m = _NUMBER.match(text, i)
        if m:
            node = JNode("number", float(m.group()), i, m.end(), number_span=m.span())
            f = _FRACTION.match(text, m.end())
            if f:
                node.denominator, node.end = float(f.group(1)), f.end()
            # Cut off only if it touches the real end of the text: a region limit (``</score>``) ends it.
            node.complete = node.end < len(self.text)
            return node
        m = _IDENT.match(text, i)
        if m and m.group() in _LITERALS:
            return JNode("literal", _LITERALS[m.group()], i, m.end())
        raise JsonSyntaxError(f"unexpected {text[i : i + 10]!r} at {i}")


def parse_value(text: str, start: int = 0, limit: int | None = None) -> JNode:
    """Read one lenient-JSON value starting at ``start`` (leading whitespace skipped).

    Raises:
        JsonSyntaxError: when the text there is not a value.
    """
    return _Reader(text, limit).value(start)


def find_objects(text: str, start: int = 0, limit: int | None = None) -> list[JNode]:
    """All top-level JSON objects in ``text[start:limit]``, in order of appearance.

    Scans for ``{``; a brace where no object parses (prose such as ``{instruction}``) is skipped. Objects
    nested in a found object are not listed separately. The last object may be incomplete (cut off).
    """
    limit = len(text) if limit is None else limit
    reader, found, i = _Reader(text, limit), [], start
    while True:
        i = text.find("{", i, limit)
        if i < 0:
            return found
        try:
            node = reader.obj(i)
        except (JsonSyntaxError, RecursionError):  # RecursionError: absurdly deep nesting, not a judge answer
            i += 1
            continue
        found.append(node)
        i = node.end


def norm_key(key: str) -> str:
    """Key normalisation for lookups: case, spaces, hyphens and underscores do not matter."""
    return re.sub(r"[\s_\-]+", "_", key.strip().lower())


def get_key(node: JNode, names: tuple[str, ...] | list[str], deep: bool = True) -> tuple[str, JNode] | None:
    """The first of ``names`` (normalised) present in ``node``; with ``deep``, also in nested objects.

    Breadth-first, so a key at the top level wins over the same key in a wrapper object. Returns
    ``(key as written, value)`` or None.
    """
    wanted = [norm_key(n) for n in names]
    queue = [node]
    while queue:
        cur = queue.pop(0)
        if cur.kind != "object":
            continue
        by_norm = {norm_key(k): k for k in cur.value}
        for w in wanted:
            if w in by_norm:
                return by_norm[w], cur.value[by_norm[w]]
        if deep:
            queue.extend(v for v in cur.value.values() if v.kind == "object")
    return None
