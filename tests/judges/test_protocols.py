"""Built-in protocols: prompts, parsing of real-looking and broken outputs, overall scores, registry, templates."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from judgescope.judges.protocols import (
    Call,
    EditScore,
    EditThinker,
    JsonScoreProtocol,
    Parsed,
    Protocol,
    SpatialReward,
    ValueHead,
    VIEScore,
    get_protocol,
    list_protocols,
    register_protocol,
)
from judgescope.judges.protocols import registry as registry_module

BUILT_IN = ["editscore", "editthinker", "spatialreward", "valuehead", "viescore"]


def texts(parsed, key):
    return [parsed.text[s:e] for s, e in parsed.spans.get(key, [])]


def run(protocol, call_name, text):
    return protocol.parse(text, protocol.call(call_name))


# --- shape of every built-in ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_calls_are_consistent(name):
    p = get_protocol(name)
    assert p.name == name and p.calls
    for call in p.calls:
        assert call.images in (("source", "edited"), ("edited",))  # source always before edited
        assert call.scores, "every call names its sub-scores"
        assert ("{instruction}" in call.template) == call.needs_instruction
        text = p.prompt(call, "make the sky purple")
        assert ("make the sky purple" in text) == call.needs_instruction and "{instruction}" not in text
    assert p.score_range[0] < p.score_range[1]


def test_prompt_rejects_an_empty_instruction():
    v = VIEScore()
    with pytest.raises(ValueError, match="non-empty instruction"):
        v.prompt(v.call("sc"), "  ")
    assert v.prompt(v.call("pq"), "") == v.call("pq").template  # quality call does not use it


# --- viescore -------------------------------------------------------------------------------------------


def test_viescore_parses_and_combines_like_gedit():
    v = get_protocol("viescore")
    sc = run(v, "sc", '```json\n{"score": [8, 6], "reasoning": "Sky is purple; clouds lost."}\n```')
    pq = run(v, "pq", '{"score": [9, 4], "reasoning": "Some smearing."}')
    assert sc.ok and sc.scores == {"success": 8, "over_editing": 6}
    assert pq.scores == {"naturalness": 9, "artifacts": 4}
    assert texts(sc, "score") == ["8", "6"] and texts(sc, "reasoning") == ["Sky is purple; clouds lost."]
    assert v.overall({"sc": sc, "pq": pq}) == pytest.approx(math.sqrt(6 * 4))


def test_viescore_overall_undefined_when_pq_missing_or_broken():
    v = VIEScore()
    sc = run(v, "sc", '{"score": [8, 6], "reasoning": "ok"}')
    value, errors = v.combine({"sc": sc})
    assert value is None and v.overall({"sc": sc}) is None and "'pq'" in errors[0]
    pq = run(v, "pq", '{"score": [9, 11]}')
    value, errors = v.combine({"sc": sc, "pq": pq})
    assert value is None and "outside the scale 0-10" in errors[0]


def test_viescore_accepts_named_sub_scores_through_aliases():
    v = VIEScore()
    p = run(v, "sc", '{"score": {"Editing Success": 7, "over-editing": "9"}}')
    assert p.ok and p.scores == {"success": 7, "over_editing": 9} and texts(p, "score") == ["7", "9"]


# --- editscore ------------------------------------------------------------------------------------------


def test_editscore_uses_0_25_and_reasoning_first():
    e = get_protocol("editscore")
    sc = run(e, "sc", '{"reasoning": "Done well.", "score": [25, 18]}\n')
    pq = run(e, "pq", '{"reasoning": "Clean.", "score": ["22", 20]}')
    assert sc.ok and pq.ok and texts(sc, "score") == ["25", "18"] and texts(pq, "score") == ["22", "20"]
    assert e.overall({"sc": sc, "pq": pq}) == pytest.approx(math.sqrt(18 * 20))
    bad = run(e, "sc", '{"reasoning": "x", "score": [26, "18/25"]}')
    assert not bad.ok and bad.scores == {"over_editing": 18} and "outside the scale 0-25" in bad.errors[0]
    assert isinstance(e, EditScore) and e.score_range == (0.0, 25.0)


# --- spatialreward --------------------------------------------------------------------------------------

SR_TEXT = (
    '{"edit_region": [{"bbox_2d": [120, 340, 480, 910], "label": "dog"}, [500, 0, 1000, 250]],\n'
    ' "reasoning": "The dog <|bbox_0|> is now brown; the sky <|bbox_1|> is unchanged; <|global|> ok.",\n'
    ' "score": [21, 17]}'
)


def test_spatialreward_reads_boxes_markers_and_scores():
    sr = get_protocol("spatialreward")
    p = run(sr, "sc", SR_TEXT)
    assert p.ok and p.scores == {"success": 21, "over_editing": 17}
    assert [b.coords for b in p.boxes] == [(120, 340, 480, 910), (500, 0, 1000, 250)]
    assert [b.label for b in p.boxes] == ["dog", ""] and {b.image for b in p.boxes} == {"edited"}
    assert texts(p, "box") == ['{"bbox_2d": [120, 340, 480, 910], "label": "dog"}', "[500, 0, 1000, 250]"]
    assert texts(p, "marker") == ["<|bbox_0|>", "<|bbox_1|>", "<|global|>"]
    assert texts(p, "score") == ["21", "17"] and sr.box_convention == "relative_1000"
    q = run(sr, "quality", '{"reasoning": "Fine.", "score": [23, 19]}')
    assert sr.overall({"sc": p, "quality": q}) == pytest.approx(math.sqrt(17 * 19))


def test_spatialreward_truncated_after_boxes_keeps_boxes_and_reasoning():
    cut = SR_TEXT[: SR_TEXT.index("unchanged") + 9]
    p = run(SpatialReward(), "sc", cut)
    assert not p.ok and p.scores == {} and len(p.boxes) == 2
    assert texts(p, "reasoning") == ["The dog <|bbox_0|> is now brown; the sky <|bbox_1|> is unchanged"]
    assert texts(p, "marker") == ["<|bbox_0|>", "<|bbox_1|>"]
    assert any("cut off before it" in e for e in p.errors)
    mid_box = SR_TEXT[: SR_TEXT.index("1000")]
    p = run(SpatialReward(), "sc", mid_box)
    assert len(p.boxes) == 1 and any("edit_region[1] cut off" in e for e in p.errors)


def test_spatialreward_bad_boxes_are_errors_but_scores_stand():
    text = (
        '{"edit_region": [{"bbox_2d": [1, 2, 3]}, {"label": "x"}, ["a", 2, 3, 4], [1, 2, 3, NaN],'
        ' {"bbox_2d": ["10", "20", "30", "40"]}], "reasoning": "r", "score": [5, 6]}'
    )
    p = run(SpatialReward(), "sc", text)
    assert p.ok and [b.coords for b in p.boxes] == [(10, 20, 30, 40)]
    assert len(p.errors) == 4 and "needs 4 coordinates, got 3" in p.errors[0]
    single = run(SpatialReward(), "sc", '{"edit_region": [1, 2, 3, 4], "score": [5, 6]}')
    assert [b.coords for b in single.boxes] == [(1, 2, 3, 4)]
    empty = run(SpatialReward(), "sc", '{"edit_region": [], "reasoning": "global", "score": [5, 6]}')
    assert empty.ok and empty.boxes == [] and "box" not in empty.spans
    none = run(SpatialReward(), "sc", '{"reasoning": "r", "score": [5, 6]}')
    assert none.ok and "no edit_region field" in none.notes


# --- editthinker ----------------------------------------------------------------------------------------


def test_editthinker_reads_the_final_score_block():
    et = get_protocol("editthinker")
    text = (
        '<think>Draft <score>{"semantic": 1, "quality": 1}</score> no.</think>\n'
        'The hat is red now.\n<score>{"semantic": 8, "quality": "7"}</score>'
    )
    p = run(et, "score", text)
    assert p.ok and p.scores == {"semantic": 8, "quality": 7} and texts(p, "score") == ["8", "7"]
    assert texts(p, "think") == ['Draft <score>{"semantic": 1, "quality": 1}</score> no.']
    assert texts(p, "reasoning")[1] == "The hat is red now."
    assert et.overall({"score": p}) == pytest.approx(math.sqrt(56))


@pytest.mark.parametrize(
    "text, scores, ok, message",
    [
        ('Fine.\n<score>{"semantic": 9, "quality": 6}', {"semantic": 9, "quality": 6}, True, "not closed"),
        ('<score>{"semantic": 9, "quality": 6</score>', {"semantic": 9, "quality": 6}, True, ""),
        (
            'Looks good. {"semantic": 9, "quality": 6}',
            {"semantic": 9, "quality": 6},
            True,
            "no <score> block",
        ),
        ('<score>{"semantic": 9, "quality": 11}</score>', {"semantic": 9}, False, "outside the scale"),
        ('<score>{"semantic": 9}</score>', {"semantic": 9}, False, "'quality' missing"),
        ("<think>The edit is", {}, False, "cut off inside <think>"),
        ('<score>{"semantic": 9, "quality": 6', {"semantic": 9}, False, "cut off"),
    ],
)
def test_editthinker_malformed(text, scores, ok, message):
    p = run(EditThinker(), "score", text)
    assert p.ok == ok and p.scores == scores
    assert all(text[s:e] == str(int(v)) for (s, e), v in zip(p.spans.get("score", []), scores.values()))
    assert not message or any(message in m for m in p.errors + p.notes), (p.errors, p.notes)
    if not ok:
        assert EditThinker().overall({"score": p}) is None


def test_editthinker_custom_scale():
    et = get_protocol("editthinker", score_range=(0, 100))
    assert run(et, "score", '<score>{"semantic": 80, "quality": 45}</score>').ok
    with pytest.raises(ValueError, match="low < high"):
        EditThinker(score_range=(5, 5))


# --- valuehead ------------------------------------------------------------------------------------------


def test_valuehead_is_not_generative_and_appends_the_reward_token():
    vh = get_protocol("valuehead")
    assert isinstance(vh, ValueHead) and not vh.generative and vh.reward_token == "<|Reward|>"
    assert vh.default_queries == "reward"
    text = vh.prompt(vh.call("instruction"), "remove the car")
    assert text.endswith("<|Reward|>") and "remove the car" in text
    assert vh.prompt(vh.call("quality"), "x").endswith("<|Reward|>")
    p = vh.parse("anything", vh.call("instruction"))
    assert not p.ok and p.scores == {} and "not generative" in p.errors[0]
    rewards = {c.name: Parsed(True, {"reward": r}, [], {}, [], "") for c, r in zip(vh.calls, (1.5, -0.5))}
    assert vh.overall(rewards) == pytest.approx(0.5)
    assert vh.overall({"instruction": rewards["instruction"]}) is None
    assert get_protocol("valuehead", reward_token="<|R|>").reward_token == "<|R|>"


def test_valuehead_official_layout_options():
    both = ValueHead(quality_images=("source", "edited"))
    assert both.call("quality").images == ("source", "edited") and ValueHead().call("quality").images == (
        "edited",
    )
    with pytest.raises(ValueError, match="must include 'edited'"):
        ValueHead(quality_images=("source",))
    # A template that already places the token (text may follow it) gets no second one.
    vh = ValueHead().with_template("instruction", "Edit: {instruction}\nRate it: <|Reward|>\n\nEND\n")
    text = vh.prompt(vh.call("instruction"), "add snow")
    assert text == "Edit: add snow\nRate it: <|Reward|>\n\nEND\n" and text.count("<|Reward|>") == 1


# --- registry and user protocols ------------------------------------------------------------------------


@pytest.fixture
def scratch_registry(monkeypatch):
    """The registry with built-ins only, restored after the test."""
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))


def test_registry_round_trip():
    assert set(BUILT_IN) <= set(list_protocols())
    classes = {"viescore": VIEScore, "editscore": EditScore, "spatialreward": SpatialReward}
    for name, cls in classes.items():
        p = get_protocol(name)
        assert type(p) is cls and get_protocol(p) is p and get_protocol(name) is not p
    with pytest.raises(KeyError, match="registered: .*viescore"):
        get_protocol("no_such_judge")
    with pytest.raises(TypeError, match="existing protocol instance"):
        get_protocol(VIEScore(), score_range=(0, 5))


def test_user_protocol_in_a_few_lines(scratch_registry):
    @register_protocol
    class FiveStar(JsonScoreProtocol):
        name = "five_star"
        score_range = (1.0, 5.0)
        calls = (
            Call(
                "score", ("source", "edited"), 'Edit: {instruction}. Reply {"score": n}.', scores=("stars",)
            ),
        )

    assert "five_star" in list_protocols()
    p = get_protocol("five_star")
    out = p.parse('Sure! {"score": "4/5", "reasoning": "good"}', p.call("score"))
    assert out.ok and out.scores == {"stars": 4} and texts(out, "score") == ["4"]
    assert p.overall({"score": out}) == 4
    assert not p.parse('{"score": 0}', p.call("score")).ok  # below the 1-5 scale
    with pytest.raises(ValueError, match="already registered"):
        register_protocol(VIEScore, name="five_star")
    register_protocol(VIEScore(), name="five_star", overwrite=True)
    assert isinstance(get_protocol("five_star"), VIEScore)
    with pytest.raises(TypeError, match="registered as an instance"):
        get_protocol("five_star", score_range=(0, 1))


def test_register_rejects_bad_input(scratch_registry):
    with pytest.raises(TypeError, match="Protocol subclass or instance"):
        register_protocol(dict)

    class Nameless(JsonScoreProtocol):
        calls = (Call("s", ("edited",), "{instruction}"),)

    with pytest.raises(ValueError, match="has no name"):
        register_protocol(Nameless)

    class NoCalls(Protocol):
        name = "no_calls"

    with pytest.raises(ValueError, match="defines no calls"):
        register_protocol(NoCalls)


# --- prompt templates -----------------------------------------------------------------------------------

OFFICIAL = 'RULES...\nEdit instruction: <{instruction}>\nOutput {"score": [a, b], "reasoning": "..."}'


def test_template_from_string_and_file(tmp_path: Path):
    v = VIEScore()
    custom = v.with_template("sc", OFFICIAL)
    assert custom is not v and custom.call("sc").template == OFFICIAL
    assert v.call("sc").template != OFFICIAL  # the original is untouched
    assert custom.call("pq") == v.call("pq")
    text = custom.prompt(custom.call("sc"), "add a hat")
    assert text == OFFICIAL.replace("{instruction}", "add a hat") and '{"score": [a, b]' in text
    path = tmp_path / "sc_prompt.txt"
    path.write_text(OFFICIAL, encoding="utf-8")
    for source in (path, str(path)):
        from_file = v.with_template("sc", source)
        assert from_file.call("sc").template == OFFICIAL and isinstance(from_file, VIEScore)
    assert v.with_template("pq", "Rate this image. JSON please.").call("pq").template.startswith("Rate")


def test_template_without_instruction_is_rejected_clearly(tmp_path: Path):
    v = VIEScore()
    with pytest.raises(ValueError, match=r"no \{instruction\} placeholder"):
        v.with_template("sc", "Rate the edit from 0 to 10.")
    with pytest.raises(ValueError, match="no file named 'prompts/sc.txt' exists either"):
        v.with_template("sc", "prompts/sc.txt")
    with pytest.raises(FileNotFoundError):
        v.with_template("sc", tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="empty"):
        v.with_template("sc", "   ")
    with pytest.raises(KeyError, match="no call 'pqq'"):
        v.with_template("pqq", OFFICIAL)
