"""Choosing query rows: which positions of the sequence to read attention from.

A query spec is one of:
- a role name: ``"score"`` (the digits of every parsed score), ``"box"``, ``"reasoning"``, ``"marker"``,
  ``"reward"`` (value-head token), ``"last_prompt"`` (the last prompt token, i.e. the position that predicts the
  first generated token), ``"generated"`` (every generated token);
- ``"regex:<pattern>"``: generated tokens overlapping a regular-expression match in the generated text;
- a list of absolute positions (ints), or a list mixing role names and regex specs (union, sorted).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import CaptureError
from ..judges.tokens import char_spans_to_positions, token_char_offsets

ROLES = ("score", "box", "reasoning", "marker", "reward", "last_prompt", "generated")


def resolve_queries(spec, result, tokenizer=None) -> list[int]:
    """Absolute positions for ``spec`` in the teacher-forced sequence of one call result.

    Args:
        spec: see the module docstring.
        result: a :class:`~judgescope.judges.judge.CallResult`.
        tokenizer: needed for ``regex:`` specs.

    Raises:
        CaptureError: the spec selects nothing (e.g. ``"score"`` when no score was parsed), naming why.
    """
    if isinstance(spec, str):
        specs: Sequence = [spec]
    else:
        specs = list(spec)
    out: set[int] = set()
    for s in specs:
        if isinstance(s, int):
            out.add(int(s))
        elif s.startswith("regex:"):
            if tokenizer is None:
                raise CaptureError("a regex query needs the tokenizer")
            spans = [m.span() for m in re.finditer(s[len("regex:") :], result.text)]
            offsets = token_char_offsets(tokenizer, result.generated_ids)
            out.update(result.prompt_len + i for i in char_spans_to_positions(spans, offsets))
        else:
            if s not in ROLES and s not in result.roles:
                raise CaptureError(
                    f"unknown query role {s!r}; roles: {', '.join(ROLES)} or 'regex:<pattern>'"
                )
            out.update(result.roles.get(s, []))
    if not out:
        why = "; ".join(result.errors) or "the output has no such part"
        raise CaptureError(f"query {spec!r} selects no token in call {result.call!r} ({why})")
    return sorted(out)
