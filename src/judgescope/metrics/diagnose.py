"""``diagnose``: every metric of one Trace, with and without sinks, summarised and judged."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pandas as pd
import torch

from ..probe.trace import Trace
from ._base import EPS_MASS, MetricValue
from .aggregate import resolve_band, summarize
from .grounding import coverage_on_grid
from .rows import check_attention, image_roles, row_metrics
from .sinks import SINK_FACTOR, Sinks, detect_sinks
from .spread import TOP_FRACTION
from .verdict import Thresholds, Verdict, decide

_ROLE_KEYS = {"source": "src", "src": "src", "edited": "edit", "edit": "edit"}


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found for one trace.

    Attributes:
        sample_id: the trace's sample id.
        table: tidy DataFrame, one row per (metric, layer) and per (metric, band); see
            :data:`judgescope.metrics.aggregate.TABLE_COLUMNS`.
        summary: band value of every metric (stable names, ``_nosink`` suffix for the sink-free recompute).
        reasons: metric -> why (some of) its band rows are undefined; "" when all are defined.
        per_layer: wide DataFrame, index = decoder layer, one column per metric.
        verdict: the failure modes that hold.
        sinks: the sinks found.
        rows: metric -> per-row :class:`MetricValue` ``[layers, heads, queries]``.
        band: decoder layers averaged in the band.
    """

    sample_id: str
    table: pd.DataFrame
    summary: dict[str, float]
    reasons: dict[str, str]
    per_layer: pd.DataFrame
    verdict: Verdict
    sinks: Sinks
    rows: dict[str, MetricValue]
    band: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.sample_id}: {self.verdict}"


def _coverages(trace: Trace, regions) -> dict[str, torch.Tensor]:
    """Role -> coverage ``[rows, cols]`` from ``regions`` keyed by image name or role."""
    roles = image_roles(trace)
    out = {}
    for key, region in (regions or {}).items():
        if region is None:
            continue
        names = [s.name for s in trace.images]
        if key in names:
            span = trace.image(key)
        elif key in _ROLE_KEYS and roles[_ROLE_KEYS[key]] is not None:
            span = roles[_ROLE_KEYS[key]]
        else:
            raise KeyError(f"region for {key!r}: no such image; images: {names}")
        role = next((r for r, s in roles.items() if s is span), None)
        if role is None:
            raise ValueError(f"region for image {key!r}, which is neither the source nor the edited image")
        out[role] = coverage_on_grid(region, span.geometry)
    return out


def _thresholds(thresholds) -> Thresholds:
    if thresholds is None:
        return Thresholds()
    if isinstance(thresholds, Thresholds):
        return thresholds
    known = {f.name for f in fields(Thresholds)}
    unknown = set(thresholds) - known
    if unknown:
        raise ValueError(f"unknown thresholds {sorted(unknown)}; known: {sorted(known)}")
    return Thresholds(**thresholds)


def diagnose(
    trace: Trace,
    regions=None,
    band=None,
    thresholds=None,
    *,
    sinks: Sinks | None = None,
    sink_factor: float = SINK_FACTOR,
    sink_mode: str = "mean",
    top_fraction: float = TOP_FRACTION,
) -> Diagnosis:
    """Measure allocation, spread, grounding and sinks of a trace, then judge it.

    Args:
        trace: captured rows ``[layers, heads, queries, keys]``.
        regions: image name or role (``"source"``/``"edited"``) -> coverage ``[rows, cols]`` in [0, 1], or any
            object with ``.on_grid(geometry)`` returning one.
        band: layers of the band summary (see :func:`judgescope.metrics.aggregate.resolve_band`); all by default.
        thresholds: :class:`Thresholds` or a dict of its fields.
        sinks: precomputed sinks; otherwise detected with ``sink_factor`` and ``sink_mode``.
        top_fraction: share of tokens for concentration (5 %).
    """
    check_attention(trace)
    resolve_band(trace.layers, band)  # fail early on a bad band
    t = _thresholds(thresholds)
    cov = _coverages(trace, regions)
    if sinks is None:
        # Tokens mostly inside the edit region hold content: heavy attention there is grounding, not a sink.
        roles = image_roles(trace)
        in_region = [
            roles[r].positions[j]
            for r, c in cov.items()
            for j in torch.nonzero(c.flatten() >= 0.5).flatten().tolist()
        ]
        sinks = detect_sinks(trace, factor=sink_factor, mode=sink_mode, exclude=in_region)
    if sinks.mask.shape != (trace.num_layers, trace.num_keys):
        raise ValueError(f"sinks mask {tuple(sinks.mask.shape)} does not fit the trace's [layers, keys]")

    cache: dict = {}
    rows, masses = row_metrics(trace, cov, None, top_fraction, cache)
    rows_ns, masses_ns = row_metrics(trace, cov, sinks.keep, top_fraction, cache)
    img, img_ns = masses["images"], masses_ns["images"]
    no_img = img <= EPS_MASS
    rows["sink_share"] = MetricValue.build(
        (1 - img_ns / torch.where(no_img, 1.0, img)).clamp(0, 1), {"no attention on any image": no_img}
    )
    tot = masses["total"]
    rows["sink_share_keys"] = MetricValue.build(
        (1 - masses_ns["total"] / tot.clamp_min(EPS_MASS)).clamp(0, 1)
    )
    rows.update({f"{k}_nosink": v for k, v in rows_ns.items()})

    table, per_layer, summary, reasons = summarize(rows, trace.layers, band)
    summary["n_sinks"] = float(len(sinks.positions))
    reasons["n_sinks"] = ""
    band_layers = tuple(trace.layers[i] for i in resolve_band(trace.layers, band))
    return Diagnosis(
        sample_id=trace.sample_id,
        table=table,
        summary=summary,
        reasons=reasons,
        per_layer=per_layer,
        verdict=decide(summary, t),
        sinks=sinks,
        rows=rows,
        band=band_layers,
    )
