"""Map between generated text and token positions (character offsets of each token)."""

from __future__ import annotations

from collections.abc import Sequence


def token_char_offsets(tokenizer, ids: Sequence[int]) -> list[tuple[int, int]]:
    """``[start, end)`` character offsets of each token in ``tokenizer.decode(ids, skip_special_tokens=False)``.

    Computed by decoding growing prefixes, so it is exact for any tokenizer whose decode is prefix-stable
    (byte-level BPE, SentencePiece); a token that completes a multi-byte character gets the whole character.
    Cost: O(n^2) characters decoded, negligible for judge outputs (hundreds of tokens).
    """
    offsets, prev = [], 0
    for i in range(len(ids)):
        cur = len(tokenizer.decode(list(ids[: i + 1]), skip_special_tokens=False))
        # A partial multi-byte character decodes to U+FFFD and may shrink later: keep offsets monotone.
        start = min(prev, cur)
        offsets.append((start, max(cur, start)))
        prev = max(cur, start)
    return offsets


def char_spans_to_positions(
    spans: Sequence[tuple[int, int]], offsets: Sequence[tuple[int, int]]
) -> list[int]:
    """Token indices whose character range overlaps any of ``spans`` (sorted, unique)."""
    out = set()
    for s, e in spans:
        for i, (a, b) in enumerate(offsets):
            if a < e and b > s:
                out.add(i)
    return sorted(out)


def find_subsequence(ids: Sequence[int], tokenizer, text: str) -> list[int]:
    """Positions of ``text``'s tokens inside ``ids`` (the last occurrence), or ``[]`` when not found.

    Tries the text as tokenized alone and with a leading space, since BPE merges a preceding space into the
    first token. Used to locate the instruction inside a prompt.
    """
    ids = list(ids)
    for variant in (text, " " + text):
        sub = tokenizer(variant, add_special_tokens=False)["input_ids"]
        n = len(sub)
        if not n:
            continue
        for start in range(len(ids) - n, -1, -1):
            if ids[start : start + n] == sub:
                return list(range(start, start + n))
    return []
