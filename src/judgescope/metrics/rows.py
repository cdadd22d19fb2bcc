"""Every per-row metric of a Trace: values ``[layers, heads, queries]`` with reasons.

Image roles: the source is the image named ``"source"`` (else image 0 when there are at least two images);
the edited image is the one named ``"edited"`` (else the first other image, i.e. image 1). A trace with a single
image has only an edited image unless that image is named ``"source"``. Further images count toward ``image_share`` only. Wrapper tokens (``extra_positions``) belong to
X, the "other" group.
"""

from __future__ import annotations

import torch

from ..probe.trace import Trace
from ..spans import ImageSpan
from ._base import Dist, MetricValue
from .allocation import image_share, per_token_efficiency, source_share
from .grounding import LABEL_THRESHOLD, _grounding
from .spread import TOP_FRACTION, _correspondence, _spread

ROLES = {"src": "source", "edit": "edited"}
SPREAD = ("entropy", "entropy_norm", "effective_tokens", "concentration", "gini")
GROUNDING = ("in_region", "area", "lift", "pointing", "iou", "auroc")


def image_roles(trace: Trace) -> dict[str, ImageSpan | None]:
    """``{"src": span or None, "edit": span or None}`` following the rule in the module docstring."""
    images = trace.images
    named = {s.name: s for s in images}
    if len(images) == 1:
        only = images[0]
        return {"src": only, "edit": None} if only.name == "source" else {"src": None, "edit": only}
    src, edit = named.get("source"), named.get("edited")
    if src is None:
        src = next(s for s in images if s is not edit)
    if edit is None:
        edit = next(s for s in images if s is not src)
    return {"src": src, "edit": edit}


def _missing(shape, reason: str) -> MetricValue:
    return MetricValue.build(torch.full(shape, float("nan")), {reason: torch.ones(shape, dtype=torch.bool)})


def image_weights(a: torch.Tensor, span: ImageSpan) -> torch.Tensor:
    """``a[..., span.positions]`` as a view when the grid is one contiguous run of keys (the usual case)."""
    start, stop = span.start, span.stop
    if stop - start == len(span.positions) and span.positions == tuple(range(start, stop)):
        return a[..., start:stop]
    return a.index_select(-1, torch.as_tensor(span.positions, dtype=torch.long))


def check_attention(trace: Trace) -> None:
    """Raise ValueError when the trace's weights cannot be read as attention (NaN, inf, negative)."""
    a = trace.attention
    lo, hi = torch.aminmax(a)  # one pass; NaN propagates into both
    if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
        raise ValueError(f"trace {trace.sample_id!r}: attention contains NaN or infinite values")
    if float(lo) < 0:
        raise ValueError(f"trace {trace.sample_id!r}: attention contains negative values ({trace.kind})")
    if not trace.images:
        raise ValueError(f"trace {trace.sample_id!r}: no image spans, nothing to measure")


def row_metrics(
    trace: Trace,
    coverage: dict[str, torch.Tensor] | None = None,
    keep: torch.Tensor | None = None,
    top_fraction: float = TOP_FRACTION,
    cache: dict | None = None,
) -> tuple[dict[str, MetricValue], dict[str, torch.Tensor]]:
    """Per-row metrics of a trace.

    Args:
        trace: attention (or attribution) rows; each row is read as shares of its total.
        coverage: role (``"src"``/``"edit"``) -> coverage float64 ``[rows, cols]`` of that image's grid.
        keep: optional bool ``[layers, 1, 1, keys]`` of keys kept (False = removed sink); the rest of each row is
            renormalised and removed grid tokens drop out of their grid.
        top_fraction: share of tokens for concentration.
        cache: optional dict shared between calls on the same trace; grids without removed tokens reuse it.

    Returns:
        ``(metrics, masses)``: metric name -> :class:`MetricValue` ``[L, H, Q]`` (names as in the summary, e.g.
        ``entropy_src``), and raw masses ``total`` (kept row weight) and ``images`` (kept weight on all image
        grids), float64 ``[L, H, Q]``.
    """
    a = trace.attention
    shape = tuple(a.shape[:3])
    if keep is not None and bool(keep.all()):
        keep = None  # nothing removed
    keep_lk = None if keep is None else keep.reshape(a.shape[0] if keep.shape[0] > 1 else 1, a.shape[3])
    if cache is not None and "total" in cache:
        total = cache["total"]
    else:
        total = a.sum(-1).double()
        if cache is not None:
            cache["total"] = total
    if keep_lk is not None:  # subtract the (few) removed keys rather than touch the whole tensor again
        removed = torch.nonzero((~keep_lk).any(0)).flatten()
        drop = (~keep_lk[:, removed]).to(torch.float64).reshape(-1, 1, 1, len(removed))
        # Clamp: when sinks hold all the mass, the subtraction can leave -1e-17 instead of 0.
        total = (total - (a.index_select(-1, removed).double() * drop).sum(-1)).clamp_min(0)

    def kept(positions) -> torch.Tensor:
        """Kept count per layer of a key set, ``[L or 1, 1, 1]``."""
        if keep_lk is None:
            return torch.tensor(float(len(positions))).reshape(1, 1, 1)
        return keep_lk[:, list(positions)].sum(-1, dtype=torch.float64).reshape(-1, 1, 1)

    roles = image_roles(trace)
    dists: dict[int, Dist] = {}
    for span in trace.images:
        sub = None if keep is None else keep[..., list(span.positions)]
        if sub is not None and bool(sub.all()):
            sub = None  # no sink on this grid: the sink-free pass can reuse the plain distribution
        if sub is None and cache is not None and span.index in cache:
            dists[span.index] = cache[span.index]
            continue
        role = next((r for r, sp in roles.items() if sp is span), None)
        label = region = None
        if coverage is not None and role in coverage:
            region = coverage[role].reshape(-1)
            label = region >= LABEL_THRESHOLD
        dists[span.index] = Dist(image_weights(a, span), sub, label=label, check=False, region=region)
        if sub is None and cache is not None:
            cache[span.index] = dists[span.index]
    images_mass = sum(d.mass for d in dists.values())
    out: dict[str, MetricValue] = {"image_share": image_share(images_mass, total)}
    share_total = torch.where(total > 0, total, 1.0)
    other = trace.other_positions()
    out["efficiency_other"] = per_token_efficiency(
        ((total - images_mass) / share_total).clamp_min(0), kept(other)
    )

    for role, span in roles.items():
        if span is None:
            for name in ("efficiency", *SPREAD, *GROUNDING):
                out[f"{name}_{role}"] = _missing(shape, f"no {ROLES[role]} image in the trace")
            continue
        d = dists[span.index]
        out[f"efficiency_{role}"] = per_token_efficiency(d.mass / share_total, kept(span.positions))
        if ("spread", top_fraction) not in d.memo:
            d.memo[("spread", top_fraction)] = _spread(d, top_fraction)
        for name, mv in d.memo[("spread", top_fraction)].items():
            out[f"{name}_{role}"] = mv
        if coverage is not None and role in coverage:
            if "grounding" not in d.memo:
                d.memo["grounding"] = _grounding(d, coverage[role].reshape(-1))
            for name, mv in d.memo["grounding"].items():
                out[f"{name}_{role}"] = mv
        else:
            for name in GROUNDING:
                out[f"{name}_{role}"] = _missing(shape, f"no region given for the {ROLES[role]} image")

    src, edit = roles["src"], roles["edit"]
    if src is not None and edit is not None:
        ds, de = dists[src.index], dists[edit.index]
        out["source_share"] = source_share(ds.mass, de.mass)
        out["balance"] = MetricValue(
            1 - (2 * out["source_share"].value - 1).abs(), out["source_share"].reasons
        )
        gap = (out["entropy_src"].value - out["entropy_edit"].value).abs()
        out["entropy_gap"] = MetricValue(gap).with_reasons(out["entropy_src"], out["entropy_edit"])
        key = ("correspondence", id(de))  # memo on the source distribution, per edited distribution
        if key not in ds.memo:
            ds.memo[key] = (de, _correspondence(ds, de, src.grid, edit.grid))
        out["correspondence"] = ds.memo[key][1]
    else:
        why = "trace needs both a source and an edited image"
        for name in ("source_share", "balance", "entropy_gap", "correspondence"):
            out[name] = _missing(shape, why)
    return out, {"total": total, "images": images_mass}
