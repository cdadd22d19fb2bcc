"""Behavioural probes of source neglect: the judge's score when the source image is changed or hidden.

``probe_sample(judge, sample)`` scores one call of one sample (by default the first call that shows the
source) under each probe and records the score next to the unchanged input's:

- ``identical``: the source replaced by the edited image (a comparing judge should see "no edit done");
- ``blank_source``: the source replaced by mid-grey (128, 128, 128) of the source's size;
- ``noise_source``: the source replaced by uniform RGB noise of the source's size (seeded: ``seed``);
- ``knockout``: the images unchanged, but chosen query rows cannot attend to the source's tokens (logit bias
  -inf inside every decoder layer; rows: ``knockout="score"|"text"|"all"``, see
  :func:`~judgescope.behaviour.scoring.knockout_rows`);
- ``swap``: the image order swapped (edited first, source second).

Scores (``method``): ``"reward"`` for value-head judges (the head's output); for generative judges
``"generated"`` (the call's first sub-score, parsed from newly generated text) when both the unchanged input
and the probe give one, else ``"logit"`` (the expected score over digit tokens at the first score position of
a teacher-forced response, :mod:`~judgescope.behaviour.readout`). The logit score is measured for every probe
of a generative judge, so ``logit_delta`` is always there to compare judges on an equal footing. Knockout of
the score rows exists only under teacher forcing, so its generated score is NaN (with that reason); with
``knockout="text"`` or ``"all"`` the judge generates under the knockout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..errors import JudgescopeError
from ..hooks.capture import capture_attention
from ..probe.diagnose import default_call
from .readout import Readout, score_readout
from .scoring import KNOCKOUT_MODES, knockout_bias, logit_score, reward_score

PROBES = ("identical", "blank_source", "noise_source", "knockout", "swap")
#: Probes that change (or hide) what the judge sees of the source; ``swap`` only reorders the images.
SOURCE_PROBES = ("identical", "blank_source", "noise_source", "knockout")
GREY = (128, 128, 128)
NAN = math.nan


@dataclass
class ProbeScore:
    """The judge's score under one probe.

    Attributes:
        probe: probe name; method: ``"generated"``, ``"logit"`` or ``"reward"``.
        score, original: the score under the probe and of the unchanged input, by ``method``.
        delta: ``score - original``; rel: ``abs(delta) / range`` (the method's score range).
        logit, logit_delta: the logit score under the probe and its change (NaN for value heads).
        reason: why ``score`` / ``delta`` is NaN ("" when defined); notes: what else happened (parse errors).
        scores: every parsed sub-score of a generated answer; text: the generated text ("" if none).
    """

    probe: str
    method: str
    score: float
    original: float
    delta: float
    rel: float
    logit: float = NAN
    logit_delta: float = NAN
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    text: str = ""


@dataclass
class ProbeResult:
    """Every probe of one sample.

    Attributes:
        original: the unchanged input's scores by method (``{"generated", "logit"}`` or ``{"reward"}``; NaN
            where undefined, with the reason in ``original_reasons``).
        ranges: the score range width per method (generated: the protocol's scale; logit: the candidate
            values' span; reward: ``reward_scale``, since rewards are unbounded).
        readout: where the logit score is read (None for value heads); mass: candidate probability there.
        knockout: the knockout rows mode.
    """

    sample_id: str
    judge: str
    call: str
    original: dict[str, float]
    ranges: dict[str, float]
    probes: dict[str, ProbeScore]
    knockout: str
    readout: Readout | None = None
    mass: float = NAN
    original_reasons: dict[str, str] = field(default_factory=dict)

    def sensitivity(self, names=SOURCE_PROBES, logit: bool = False) -> tuple[float, str]:
        """Mean of ``rel`` (or of ``abs(logit_delta) / logit range``) over the named probes that are defined,
        and the reason when none is."""
        vals = []
        for name in names:
            p = self.probes.get(name)
            if p is None:
                continue
            v = abs(p.logit_delta) / self.ranges.get("logit", NAN) if logit else p.rel
            if math.isfinite(v):
                vals.append(v)
        if vals:
            return float(np.mean(vals)), ""
        run = [n for n in names if n in self.probes]
        return NAN, (
            "none of " + ", ".join(names) + " was run"
        ) if not run else "no probe gave a defined delta"

    def summary(self) -> dict[str, float]:
        """Flat, stable columns for metrics.csv (every probe of :data:`PROBES`, NaN where not run):

        ``probe_original_generated``, ``probe_original_logit``, ``probe_original_reward``,
        ``probe_logit_mass``,
        per probe ``probe_<name>_score``, ``_delta``, ``_rel``, ``_logit_delta``, ``_generated`` (1.0 when the
        generated score was used), then ``source_sensitivity`` (mean ``rel`` over the source probes),
        ``source_sensitivity_logit`` and ``order_sensitivity`` (``rel`` of swap).
        """
        out = {
            f"probe_original_{m}": float(self.original.get(m, NAN)) for m in ("generated", "logit", "reward")
        }
        out["probe_logit_mass"] = float(self.mass)
        for name in PROBES:
            p = self.probes.get(name)
            out[f"probe_{name}_score"] = p.score if p else NAN
            out[f"probe_{name}_delta"] = p.delta if p else NAN
            out[f"probe_{name}_rel"] = p.rel if p else NAN
            out[f"probe_{name}_logit_delta"] = p.logit_delta if p else NAN
            out[f"probe_{name}_generated"] = float(p.method == "generated") if p else NAN
        out["source_sensitivity"] = self.sensitivity()[0]
        out["source_sensitivity_logit"] = self.sensitivity(logit=True)[0] if self.readout else NAN
        out["order_sensitivity"] = self.sensitivity(("swap",))[0]
        return out

    def reasons(self) -> dict[str, str]:
        """Column -> why it is NaN, for every NaN column of :meth:`summary`."""
        out = {}
        for key, value in self.summary().items():
            if not math.isnan(value):
                continue
            name = next((n for n in PROBES if key.startswith(f"probe_{n}_")), None)
            if key.startswith("probe_original_"):
                m = key[len("probe_original_") :]
                out[key] = self.original_reasons.get(m, f"not measured for this judge ({m})")
            elif name is not None:
                p = self.probes.get(name)
                out[key] = "probe not run" if p is None else (p.reason or "; ".join(p.notes) or "undefined")
            elif key == "probe_logit_mass" or key == "source_sensitivity_logit":
                out[key] = "value-head judge: no score tokens" if self.readout is None else "undefined"
            elif key == "order_sensitivity":
                out[key] = self.sensitivity(("swap",))[1]
            else:
                out[key] = self.sensitivity()[1]
        return out


def probe_images(images: dict, probe: str, seed: int = 0) -> dict:
    """The call's images under an image probe (``{"source": PIL, "edited": PIL}``; knockout: unchanged)."""
    src, edit = images["source"], images["edited"]
    if probe == "identical":
        return {**images, "source": edit.copy()}
    if probe == "blank_source":
        return {**images, "source": Image.new("RGB", src.size, GREY)}
    if probe == "noise_source":
        rng = np.random.default_rng(seed)
        noise = rng.integers(0, 256, (src.size[1], src.size[0], 3), dtype=np.uint8)
        return {**images, "source": Image.fromarray(noise)}
    if probe == "swap":
        return {**images, "source": edit, "edited": src}
    if probe == "knockout":
        return images
    raise JudgescopeError(f"unknown probe {probe!r}; probes: {PROBES}")


def _first_score(judge, call, scores: dict) -> float | None:
    fields = getattr(judge.protocol, "fields", lambda c: c.scores)(call) or tuple(scores)
    return scores.get(fields[0]) if fields else None


def _generated(judge, sample, call, images, bias=None) -> tuple[float, dict, str, str]:
    """``(first sub-score or NaN, sub-scores, text, reason)`` of a newly generated answer."""
    prepared = judge.prepare(sample, call, images)
    if bias is None:
        ids = judge.generate(prepared)
    else:
        with capture_attention(judge.model, (), bias=bias(prepared)):
            ids = judge.generate(prepared)
    text = judge.tokenizer.decode(ids, skip_special_tokens=False)
    parsed = judge.protocol.parse(text, call)
    first = _first_score(judge, call, parsed.scores)
    if first is None:
        return NAN, dict(parsed.scores), text, "generated text gives no score: " + "; ".join(parsed.errors)
    return float(first), dict(parsed.scores), text, ""


def probe_sample(
    judge,
    sample,
    probes=PROBES,
    output=None,
    *,
    call: str | None = None,
    knockout: str = "score",
    score: str = "auto",
    seed: int = 0,
    reward_scale: float = 1.0,
    response: str | None = None,
) -> ProbeResult:
    """Score one sample under behavioural probes (see the module docstring).

    Args:
        judge: any :class:`~judgescope.judges.Judge` (planted judges keep their edit in every pass).
        probes: names from :data:`PROBES`.
        output: a :class:`JudgeOutput` of this sample (its generated text is reused; nothing is generated for
            the unchanged input).
        call: the protocol call to probe; default the first that shows the source.
        knockout: ``"score"`` (the rows read as the score), ``"text"`` (all rows after the images) or
            ``"all"`` (all rows after the source, the edited image's tokens included).
        score: ``"auto"`` (generated where both sides parse, else logit) or ``"logit"`` (never generate).
        seed: seed of ``noise_source``; reward_scale: the score range used for rewards' ``rel``.
        response: a response text for the logit readout instead of the protocol's canonical one.

    Raises:
        JudgescopeError: unknown probe, or a call that does not show the source.
    """
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise JudgescopeError(f"unknown probes {unknown}; probes: {PROBES}")
    if score not in ("auto", "logit"):
        raise JudgescopeError(f"score must be 'auto' or 'logit', got {score!r}")
    if knockout not in KNOCKOUT_MODES:
        raise JudgescopeError(f"knockout must be one of {KNOCKOUT_MODES}, got {knockout!r}")
    call_obj = judge.protocol.call(call or default_call(judge.protocol))
    if not {"source", "edited"} <= set(call_obj.images):
        raise JudgescopeError(f"call {call_obj.name!r} does not show both source and edited images")
    images = sample.images(judge.min_image_side)
    if not judge.protocol.generative:
        return _probe_reward(judge, sample, call_obj, images, probes, knockout, seed, reward_scale)
    result = output.calls.get(call_obj.name) if output is not None else None
    if result is None and score == "auto":
        result = judge.run_call(sample, call_obj, images)
    readout = score_readout(judge, call_obj, result, response)
    return _probe_generative(judge, sample, call_obj, images, probes, knockout, seed, result, readout)


def _undefined(value: float, original: float) -> str:
    if not math.isfinite(original):
        return "the unchanged input's score is not finite"
    return "" if math.isfinite(value) else "the score under the probe is not finite"


def _probe_generative(judge, sample, call, images, probes, knockout, seed, result, readout) -> ProbeResult:
    base = judge.prepare(sample, call, images)
    orig_logit, mass = logit_score(judge, base, readout)
    original = {"logit": orig_logit, "generated": NAN}
    reasons = {}
    first = _first_score(judge, call, result.scores) if result is not None else None
    if first is not None:
        original["generated"] = float(first)
    elif result is None:
        reasons["generated"] = "not generated (score='logit')"
    else:
        reasons["generated"] = "generated text gives no score: " + "; ".join(result.errors)
    lo, hi = judge.protocol.score_range
    ranges = {"generated": float(hi - lo), "logit": readout.value_range}
    out = {}
    for name in probes:
        imgs = probe_images(images, name, seed)
        prepared = base if name == "knockout" else judge.prepare(sample, call, imgs)
        bias = knockout_bias(judge, prepared, knockout, readout) if name == "knockout" else None
        logit, _ = logit_score(judge, prepared, readout, bias)
        gen, scores, text, why = NAN, {}, "", ""
        if first is None:
            why = "the unchanged input gives no generated score"
        elif name == "knockout" and knockout == "score":
            why = "score rows exist only under teacher forcing: no generated score"
        else:
            gen_bias = (lambda p: knockout_bias(judge, p, knockout)) if name == "knockout" else None
            gen, scores, text, why = _generated(judge, sample, call, imgs, gen_bias)
        method = "generated" if math.isfinite(gen) else "logit"
        value, orig = (gen, original["generated"]) if method == "generated" else (logit, orig_logit)
        delta = value - orig
        out[name] = ProbeScore(name, method, value, orig, delta, abs(delta) / ranges[method], logit,
                               logit - orig_logit, _undefined(value, orig), [why] if why else [], scores,
                               text)  # fmt: skip
    return ProbeResult(sample.id, judge.name, call.name, original, ranges, out, knockout, readout, mass,
                       reasons)  # fmt: skip


def _probe_reward(judge, sample, call, images, probes, knockout, seed, reward_scale) -> ProbeResult:
    if not (math.isfinite(reward_scale) and reward_scale > 0):
        raise JudgescopeError(f"reward_scale must be a positive number, got {reward_scale}")
    base = judge.prepare(sample, call, images)
    orig = reward_score(judge, base)
    out = {}
    for name in probes:
        if name == "knockout":
            value = reward_score(judge, base, knockout_bias(judge, base, knockout))
        else:
            value = reward_score(judge, judge.prepare(sample, call, probe_images(images, name, seed)))
        delta = value - orig
        out[name] = ProbeScore(name, "reward", value, orig, delta, abs(delta) / reward_scale,
                               reason=_undefined(value, orig))  # fmt: skip
    original_reasons = {m: "value-head judge: no score tokens" for m in ("generated", "logit")}
    ranges = {"reward": float(reward_scale)}
    return ProbeResult(sample.id, judge.name, call.name, {"reward": orig}, ranges, out, knockout, None, NAN,
                       original_reasons)  # fmt: skip
