"""Behavioural probes: knockout mechanics, known answers on planted judges, and complete records."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from judgescope.behaviour import (
    PROBES,
    knockout_bias,
    knockout_rows,
    logit_score,
    probe_images,
    probe_sample,
    reward_score,
    score_readout,
)
from judgescope.errors import JudgescopeError
from judgescope.hooks.capture import capture_attention
from judgescope.judges.planted import planted


def _source_keys(prepared):
    return [p for s in prepared.images if s.name == "source" for p in s.positions]


@pytest.mark.parametrize("mode", ["score", "text", "all"])
def test_knockout_removes_source_attention_of_its_rows_only(vie, sample, mode):
    ro = score_readout(vie, "sc")
    prepared = vie.prepare(sample, "sc")
    n = prepared.prompt_len
    inputs = vie.sequence_inputs(prepared, ro.prefix)
    row = ro.row(n)
    edited_token = next(s for s in prepared.images if s.name == "edited").positions[0]
    bias = knockout_bias(vie, prepared, mode, ro)
    with torch.no_grad(), capture_attention(vie.model, [edited_token, row], bias=bias) as cap:
        vie.model(**inputs)
    src = _source_keys(prepared)
    a = cap.attention  # [layers, heads, 2, keys]
    assert float(a[:, :, 1, src].abs().max()) == 0.0  # the readout row is knocked out in every mode
    assert torch.allclose(a[:, :, 1].sum(-1), torch.ones(()), atol=1e-5)  # still a distribution
    on_source = float(a[:, :, 0, src].sum(-1).min())
    if mode == "all":
        assert on_source == 0.0  # the edited image's rows lose the source too
    else:
        assert on_source > 1e-4  # rows before the text keep reading the source
    explicit, first = knockout_rows(vie, prepared, mode, ro)
    assert (explicit is None) == (mode != "score")
    # and the score moves
    plain, _ = logit_score(vie, prepared, ro)
    knocked, _ = logit_score(vie, prepared, ro, bias)
    assert abs(knocked - plain) > 1e-6


def test_knockout_all_makes_the_score_independent_of_the_source(vie, sample):
    ro = score_readout(vie, "sc")
    images = sample.images(vie.min_image_side)
    scores = []
    for probe in ("knockout", "blank_source", "noise_source"):
        prepared = vie.prepare(sample, "sc", probe_images(images, probe, seed=1))
        scores.append(logit_score(vie, prepared, ro, knockout_bias(vie, prepared, "all"))[0])
    assert scores[0] == pytest.approx(scores[1], abs=1e-6) and scores[0] == pytest.approx(scores[2], abs=1e-6)


def test_probe_sample_records_every_probe(vie, sample):
    res = probe_sample(vie, sample)
    assert set(res.probes) == set(PROBES)
    assert res.readout.source == "canonical"  # random weights write no parseable score
    for name, p in res.probes.items():
        assert p.method == "logit", name
        assert math.isfinite(p.score) and math.isfinite(p.delta) and p.reason == ""
        assert p.delta == pytest.approx(p.score - res.original["logit"])
        assert p.rel == pytest.approx(abs(p.delta) / 9.0)
        assert p.notes  # why the generated score was not used
    assert math.isnan(res.original["generated"]) and "no score" in res.original_reasons["generated"]
    summary = res.summary()
    assert all(isinstance(v, float) for v in summary.values())
    cols = {f"probe_{p}_{c}" for p in PROBES for c in ("score", "delta", "rel", "logit_delta", "generated")}
    assert cols <= set(summary)
    src = [summary[f"probe_{p}_rel"] for p in ("identical", "blank_source", "noise_source", "knockout")]
    assert summary["source_sensitivity"] == pytest.approx(float(np.mean(src)))
    assert summary["probe_knockout_delta"] != 0.0
    reasons = res.reasons()
    assert set(reasons) == {k for k, v in summary.items() if math.isnan(v)}
    assert all(reasons.values())


def test_probe_columns_are_stable_when_probes_are_skipped(vie, sample):
    res = probe_sample(vie, sample, probes=("knockout",), score="logit")
    full = probe_sample(vie, sample, probes=("swap",), score="logit")
    assert list(res.summary()) == list(full.summary())
    assert (
        math.isnan(res.summary()["probe_swap_delta"]) and res.reasons()["probe_swap_delta"] == "probe not run"
    )
    assert math.isnan(res.summary()["order_sensitivity"])


def test_source_blind_judge_is_insensitive_to_the_source(vie, sample):
    blind = planted(vie, "source_blind")
    res = probe_sample(blind, sample, score="logit")
    for name in ("knockout", "blank_source", "noise_source", "identical"):  # same-size images: exact
        assert res.probes[name].delta == 0.0, name
    assert res.summary()["source_sensitivity"] == 0.0
    assert res.probes["knockout"].logit_delta == 0.0


def test_value_head_probes(value_judge, sample):
    res = probe_sample(value_judge, sample, knockout="score")
    assert all(p.method == "reward" for p in res.probes.values())
    assert res.original["reward"] == pytest.approx(
        value_judge.reward(value_judge.prepare(sample, "instruction"))
    )
    assert res.probes["knockout"].delta != 0.0
    assert math.isnan(res.summary()["probe_knockout_logit_delta"])
    assert "value-head" in res.reasons()["probe_original_logit"]
    blind = probe_sample(planted(value_judge, "source_blind"), sample)
    assert blind.probes["knockout"].delta == 0.0 and blind.probes["blank_source"].delta == 0.0
    prepared = value_judge.prepare(sample, "instruction")
    row = value_judge.reward_position(prepared)
    assert knockout_rows(value_judge, prepared, "score") == ((row,), None)
    assert reward_score(value_judge, prepared) == pytest.approx(res.original["reward"])


def test_probe_images(make_image):
    src, edit = make_image(60, 40, 0), make_image(70, 50, 1)
    images = {"source": src, "edited": edit}
    grey = probe_images(images, "blank_source")["source"]
    assert grey.size == src.size and set(np.asarray(grey).reshape(-1).tolist()) == {128}
    a, b = (
        probe_images(images, "noise_source", 1)["source"],
        probe_images(images, "noise_source", 1)["source"],
    )
    c = probe_images(images, "noise_source", 2)["source"]
    assert a.size == src.size and np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    swapped = probe_images(images, "swap")
    assert swapped["source"] is edit and swapped["edited"] is src
    assert np.array_equal(np.asarray(probe_images(images, "identical")["source"]), np.asarray(edit))
    with pytest.raises(JudgescopeError, match="unknown probe"):
        probe_images(images, "rotate")


def test_bad_arguments(vie, sample):
    with pytest.raises(JudgescopeError, match="unknown probes"):
        probe_sample(vie, sample, probes=("flip",))
    with pytest.raises(JudgescopeError, match="does not show both"):
        probe_sample(vie, sample, call="pq")
    with pytest.raises(JudgescopeError, match="knockout must be"):
        probe_sample(vie, sample, probes=("knockout",), knockout="rows", score="logit")
    with pytest.raises(JudgescopeError, match="score must be"):
        probe_sample(vie, sample, score="generated")
    with pytest.raises(JudgescopeError, match="nothing to knock out"):
        knockout_bias(vie, vie.prepare(sample, "pq"), "all")


def test_generation_under_knockout_runs_when_the_original_parses(vie, sample):
    out = vie.evaluate(
        sample, responses={"sc": '{"score": [7, 3], "reasoning": "ok"}', "pq": '{"score": [5, 5]}'}
    )
    res = probe_sample(vie, sample, probes=("knockout", "blank_source"), output=out, knockout="text")
    assert res.original["generated"] == 7.0 and res.readout.source == "generated"
    for name in ("knockout", "blank_source"):
        p = res.probes[name]
        # random weights: the new text does not parse, so the logit score is used and the record says why
        assert p.text and p.method == "logit" and "gives no score" in p.notes[0]
        assert p.delta == pytest.approx(p.logit_delta)
    score_rows = probe_sample(vie, sample, probes=("knockout",), output=out, knockout="score")
    assert "teacher forcing" in score_rows.probes["knockout"].notes[0]
