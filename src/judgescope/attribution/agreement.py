"""Agreement between where a judge attends and what its score depends on, for one sample.

Both traces are reduced to one weight per key: the mean over layers, heads and query rows (attention), or the
single row of an attribution trace. Over the image tokens (every image's grid tokens, in image order):

- ``agree_spearman``: Spearman rank correlation (ties get their average rank);
- ``agree_topk_overlap``: ``|top_k(attention) & top_k(attribution)| / k`` with ``k = max(1, ceil(5 % of the
  image tokens))`` (``agree_k``); equal weights are ordered by position, the same tie rule for both;
- ``attn_source_share`` / ``attr_source_share``: ``m_S / (m_S + m_E)`` of each reduced vector (source and
  edited roles as in :func:`judgescope.metrics.image_roles`), and ``source_share_gap`` = attribution minus
  attention: positive when the score depends on the source more than the attention suggests.
"""

from __future__ import annotations

import math

import torch

from ..metrics.rows import image_roles
from ..metrics.spread import TOP_FRACTION
from ..probe.trace import Trace

NAN = math.nan


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Average ranks (1-based, float64) of a 1-D tensor; tied values share the mean of their ranks."""
    order = torch.argsort(x, stable=True)
    _, inverse, counts = torch.unique_consecutive(x[order], return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()  # rank of each tie group's last member
    ranks = torch.empty(x.numel(), dtype=torch.float64)
    ranks[order] = (last - (counts.double() - 1) / 2)[inverse]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> tuple[float, str]:
    """Spearman correlation of two 1-D tensors, or NaN with the reason (fewer than 2 values, a constant)."""
    if a.numel() < 2:
        return NAN, "fewer than two image tokens"
    ra, rb = _ranks(a.double()), _ranks(b.double())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(ra.norm() * rb.norm())
    if den == 0:
        which = "attention" if float(ra.norm()) == 0 else "attribution"
        return NAN, f"{which} is constant over the image tokens"
    return float((ra * rb).sum() / den), ""


def _top(x: torch.Tensor, k: int) -> set[int]:
    # Stable sort of -x: equal weights keep position order, the same tie rule for both vectors.
    return set(torch.argsort(-x, stable=True)[:k].tolist())


def _share(v: torch.Tensor, roles) -> tuple[float, str]:
    src, edit = roles["src"], roles["edit"]
    if src is None or edit is None:
        return NAN, "the trace lacks a source or an edited image"
    m_s = float(v[list(src.positions)].sum())
    m_e = float(v[list(edit.positions)].sum())
    if m_s + m_e <= 0:
        return NAN, "no weight on either image"
    return m_s / (m_s + m_e), ""


def agreement_with_reasons(attn: Trace, attr: Trace, top_fraction: float = TOP_FRACTION):
    """``(values, reasons)``: the columns of :func:`agreement` and, for each NaN, why.

    Raises:
        ValueError: the traces' images differ (not the same call and input).
    """
    if [s.positions for s in attn.images] != [s.positions for s in attr.images]:
        raise ValueError(
            "the two traces have different image tokens: they are not of the same call and input"
        )
    if not attn.images:
        raise ValueError("the traces have no images")
    a = attn.attention.double().mean(dim=(0, 1, 2))
    b = attr.attention.double().mean(dim=(0, 1, 2))
    pos = [p for s in attn.images for p in s.positions]
    if max(pos) >= min(a.numel(), b.numel()):
        raise ValueError("an image token lies beyond one trace's keys")
    ia, ib = a[pos], b[pos]
    k = max(1, math.ceil(top_fraction * len(pos) - 1e-9))
    values, reasons = {}, {}
    values["agree_spearman"], reasons["agree_spearman"] = spearman(ia, ib)
    values["agree_topk_overlap"] = len(_top(ia, k) & _top(ib, k)) / k
    values["agree_k"] = float(k)
    values["agree_n_tokens"] = float(len(pos))
    roles = image_roles(attn)
    values["attn_source_share"], reasons["attn_source_share"] = _share(a, roles)
    values["attr_source_share"], reasons["attr_source_share"] = _share(b, roles)
    gap = values["attr_source_share"] - values["attn_source_share"]
    values["source_share_gap"] = gap
    reasons["source_share_gap"] = reasons["attr_source_share"] or reasons["attn_source_share"]
    return values, {key: why for key, why in reasons.items() if why}


def agreement(attn: Trace, attr: Trace, top_fraction: float = TOP_FRACTION) -> dict[str, float]:
    """Flat columns comparing an attention trace and an attribution trace of the same call (module docstring):
    ``agree_spearman``, ``agree_topk_overlap``, ``agree_k``, ``agree_n_tokens``, ``attn_source_share``,
    ``attr_source_share``, ``source_share_gap``. NaN where undefined (see :func:`agreement_with_reasons`)."""
    return agreement_with_reasons(attn, attr, top_fraction)[0]
