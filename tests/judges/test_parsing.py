"""The lenient JSON reader and the shared score-reading rules, with exact character spans."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judgescope.judges.protocols.lenient import JsonSyntaxError, find_objects, get_key, parse_value
from judgescope.judges.protocols.parsing import parse_json_scores, prose_scores, read_scores

FIELDS = ("success", "over_editing")


def texts(parsed, key):
    """The text each span of ``key`` covers."""
    return [parsed.text[s:e] for s, e in parsed.spans.get(key, [])]


# --- lenient reader -------------------------------------------------------------------------------------


def test_reader_matches_json_on_valid_input_and_keeps_positions():
    text = 'prefix {"a": [1, 2.5, -3e2], "b": {"c": "x\\"y"}, "d": null, "e": true} suffix'
    (obj,) = find_objects(text)
    assert obj.complete and text[obj.start : obj.end] == text[7:-7]
    a = obj.value["a"]
    assert [n.value for n in a.value] == [1.0, 2.5, -300.0]
    assert [text[n.start : n.end] for n in a.value] == ["1", "2.5", "-3e2"]
    assert obj.value["b"].value["c"].value == 'x"y'
    assert obj.value["d"].value is None and obj.value["e"].value is True
    assert text[slice(*obj.key_spans["b"])] == '"b"'


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=12,
    )
)
def test_reader_agrees_with_json_loads(value):
    """Any valid JSON object is read to the same value as json.loads."""

    def plain(node):
        if node.kind == "object":
            return {k: plain(v) for k, v in node.value.items()}
        if node.kind == "array":
            return [plain(v) for v in node.value]
        if node.kind == "number":
            return int(node.value) if node.value == int(node.value) else node.value
        return node.value

    text = json.dumps({"v": value}) + " "
    node = parse_value(text)
    assert node.complete and plain(node) == json.loads(text)


def test_reader_accepts_common_model_mistakes():
    text = "{'score': [7, '8',], reasoning: 'the cat's tail is \"red\" now', 'x': NaN, 'y': -Infinity, 'z': 7/10,}"
    (obj,) = find_objects(text)
    assert obj.complete
    assert obj.value["reasoning"].value == 'the cat\'s tail is "red" now'
    assert math.isnan(obj.value["x"].value) and obj.value["y"].value == -math.inf
    z = obj.value["z"]
    assert z.value == 7 and z.denominator == 10 and text[slice(*z.number_span)] == "7"


def test_reader_marks_truncation_without_guessing():
    text = '{"reasoning": "half a sent'
    (obj,) = find_objects(text)
    assert not obj.complete and not obj.value["reasoning"].complete
    assert obj.value["reasoning"].value == "half a sent"
    (arr,) = find_objects('{"score": [7, 8')[0].value.values()
    assert not arr.complete and arr.value[0].complete and not arr.value[1].complete
    assert find_objects('{"reasoning": "ok", "sco')[0].value.keys() == {"reasoning"}


def test_reader_skips_prose_braces_and_lists_objects_in_order():
    text = "Use {instruction} here. {\"a\": 1} and {'b': {'c': 2}} end"
    objs = find_objects(text)
    assert [list(o.value) for o in objs] == [["a"], ["b"]]  # the nested {'c': 2} is not listed separately
    with pytest.raises(JsonSyntaxError):
        parse_value("{instruction}")


def test_absurd_nesting_is_skipped_not_a_crash():
    text = '{"a": ' + "[" * 5000 + ' {"score": [3, 4]}'
    p = parse(text)
    assert p.ok and p.scores == {"success": 3, "over_editing": 4}


def test_get_key_normalises_and_searches_breadth_first():
    (obj,) = find_objects('{"result": {"Score": 1}, "Over-Editing": 2}')
    assert get_key(obj, ("over_editing",))[1].value == 2
    assert get_key(obj, ("score",))[1].value == 1
    assert get_key(obj, ("score",), deep=False) is None


# --- score rules ----------------------------------------------------------------------------------------


def parse(text, fields=FIELDS, rng=(0.0, 10.0)):
    return parse_json_scores(text, fields, rng)[0]


@pytest.mark.parametrize(
    "text, scores, digits",
    [
        ('{"score": [7, 8], "reasoning": "r"}', [7, 8], ["7", "8"]),
        ('```json\n{"score": [7, 8], "reasoning": "r"}\n```\nHope this helps.', [7, 8], ["7", "8"]),
        ("{'score': [7, 8], 'reasoning': 'r',}", [7, 8], ["7", "8"]),
        ('{"score": ["7", "8/10"]}', [7, 8], ["7", "8"]),
        ('{"score": ["7 out of 10", " 8.5 "]}', [7, 8.5], ["7", "8.5"]),
        ('{"score": "7, 8"}', [7, 8], ["7", "8"]),
        ('{"score": [7.0, 10]}', [7, 10], ["7.0", "10"]),
        ('{"score": {"Success": 6, "Over-Editing": "5"}}', [6, 5], ["6", "5"]),
        ('{"success": 6, "over_editing": 0}', [6, 0], ["6", "0"]),
        ('{"result": {"score": [3, 4]}}', [3, 4], ["3", "4"]),
    ],
)
def test_well_formed_and_repairable_outputs(text, scores, digits):
    p = parse(text)
    assert p.ok, p.errors
    assert list(p.scores.values()) == scores and list(p.scores) == list(FIELDS)
    assert texts(p, "score") == digits
    assert texts(p, "score:success") == digits[:1]


@pytest.mark.parametrize(
    "text, kept, error",
    [
        ('{"score": [7, 12]}', {"success": 7}, "outside the scale 0-10"),
        ('{"score": [-1, 5]}', {"over_editing": 5}, "outside"),
        ('{"score": [NaN, 3]}', {"over_editing": 3}, "not a finite number"),
        ('{"score": [7, Infinity]}', {"success": 7}, "not a finite number"),
        ('{"score": ["7/25", 3]}', {"over_editing": 3}, "written out of 25"),
        ('{"score": ["high", 3]}', {"over_editing": 3}, "is not a number"),
        ('{"score": [7, null]}', {"success": 7}, "is not a number"),
        ('{"score": 7}', {}, "expected 2 score(s)"),
        ('{"score": [7, 8, 9]}', {}, "expected 2 score(s)"),
        ('{"score": {"success": 7}}', {"success": 7}, "'over_editing' missing"),
        ('{"score": [7, 8', {"success": 7}, "cut off"),
        ('{"score": [7, ', {"success": 7}, "cut off"),
        ('{"reasoning": "fine"}', {}, "no score field"),
        ('{"reasoning": "the edit is go', {}, "cut off before it"),
        ("I cannot judge these images.", {}, "no JSON object and no score"),
        ("", {}, "no JSON object"),
    ],
)
def test_malformed_outputs_never_invent_a_score(text, kept, error):
    p = parse(text)
    assert not p.ok
    assert p.scores == kept
    assert any(error in e for e in p.errors), p.errors
    assert texts(p, "score") == [str(v) for v in kept.values()]


def test_truncated_output_recovers_reasoning():
    text = '{"reasoning": "The sky is now red but the'
    p = parse(text)
    assert texts(p, "reasoning") == ["The sky is now red but the"]
    assert any("cut off" in n for n in p.notes)


def test_last_complete_object_with_a_score_wins():
    text = 'Draft: {"score": [1, 2]}. Final: {"score": [3, 4], "reasoning": "b"} {"note": 1} {"score": [5,'
    p = parse(text)
    assert p.ok and p.scores == {"success": 3, "over_editing": 4}
    assert texts(p, "score") == ["3", "4"] and text.index('"score": [3') < p.spans["score"][0][0]
    assert any("4 JSON objects" in n for n in p.notes)


def test_scores_in_prose_are_read_with_a_note():
    p = parse("The edit works. Score: [6, 5]. Mostly fine.")
    assert p.ok and p.scores == {"success": 6, "over_editing": 5} and texts(p, "score") == ["6", "5"]
    assert any("prose" in n for n in p.notes)
    p = parse("Semantic: 8/10\nQuality: 6/10", fields=("semantic", "quality"))
    assert p.ok and p.scores == {"semantic": 8, "quality": 6}
    p = parse("**Semantic**: 8\n**Quality:** 6.5", fields=("semantic", "quality"))
    assert p.ok and texts(p, "score") == ["8", "6.5"]
    assert prose_scores("nothing to see", ("score",)) is None


def test_spans_point_into_the_original_text_with_escapes_and_unicode():
    text = '¡Hola! {"reasoning": "naïve \\"quote\\" é", "score": [10, 9]}'
    p = parse(text)
    assert p.ok and texts(p, "score") == ["10", "9"]
    assert texts(p, "reasoning") == ['naïve \\"quote\\" é']


def test_read_scores_single_field_and_custom_range():
    (obj,) = find_objects('{"score": "4/5"}')
    scores, spans, errors = read_scores(obj.value["score"], '{"score": "4/5"}', ("score",), (1.0, 5.0))
    assert scores == {"score": 4.0} and spans == {"score": (11, 12)} and errors == []


# --- properties -----------------------------------------------------------------------------------------

PROSE = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=80, deadline=None)
@given(
    scores=st.lists(st.integers(0, 10), min_size=2, max_size=2),
    before=PROSE,
    after=PROSE,
    quote=st.sampled_from(['"', "'"]),
    as_string=st.booleans(),
    fence=st.booleans(),
    space=st.sampled_from(["", " ", "\n  "]),
)
def test_spans_slice_to_the_digits_under_any_formatting(
    scores, before, after, quote, as_string, fence, space
):
    vals = [f"{quote}{v}{quote}" if as_string else str(v) for v in scores]
    body = f"{{{space}{quote}score{quote}:{space}[{', '.join(vals)}],{space}{quote}reasoning{quote}: {quote}ok{quote}}}"
    text = before + ("```json\n" + body + "\n```" if fence else body) + after
    p = parse(text)
    assert p.ok, (text, p.errors)
    assert list(p.scores.values()) == scores
    assert texts(p, "score") == [str(v) for v in scores]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}[]\"':,0123456789./ -scoreNaIfinty\n")), max_size=60))
def test_any_text_gives_valid_scores_or_errors(text):
    """Garbage never crashes the parser, and every score it reports is in range and is what its span says."""
    p = parse(text)
    assert p.ok == (len(p.scores) == 2 and not p.errors)
    for (s, e), v in zip(p.spans.get("score", []), p.scores.values()):
        assert 0 <= v <= 10 and float(text[s:e]) == v
    if not p.scores:
        assert p.errors
