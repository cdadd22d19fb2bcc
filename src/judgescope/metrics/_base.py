"""Shared pieces of the metrics: the value-with-reasons type and the per-image attention distribution.

Every metric is computed for a batch of attention rows at once: the leading dims ``[...]`` are usually
``[layers, heads, queries]`` and the last dim runs over tokens. Values are float64 torch tensors; an
undefined value is NaN and the reason for it travels next to it in :class:`MetricValue`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

#: Mass at or below this counts as "no attention" (rows sum to 1; float32 underflows near 1e-38).
EPS_MASS = 1e-30

ZERO_MASS = "no attention on the image"
ONE_TOKEN = "grid of one token"


@dataclass(frozen=True)
class MetricValue:
    """Values of one metric for a batch of rows, with the reason for every undefined (NaN) entry.

    Attributes:
        value: float64 ``[...]``; NaN exactly where at least one reason holds.
        reasons: reason text -> bool mask ``[...]`` (same shape as ``value``) of the rows it applies to.
            Only reasons that hold somewhere are kept.
    """

    value: torch.Tensor
    reasons: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def build(cls, value: torch.Tensor, reasons: dict[str, torch.Tensor] | None = None) -> MetricValue:
        """Set ``value`` to NaN wherever a reason holds; drop reasons that hold nowhere."""
        value = torch.as_tensor(value, dtype=torch.float64).clone()
        kept: dict[str, torch.Tensor] = {}
        for text, mask in (reasons or {}).items():
            mask = torch.broadcast_to(torch.as_tensor(mask, dtype=torch.bool), value.shape)
            if bool(mask.any()):
                kept[text] = kept[text] | mask if text in kept else mask.clone()
                value[mask] = float("nan")
        return cls(value, kept)

    def with_reasons(self, *others: MetricValue, extra: dict[str, torch.Tensor] | None = None) -> MetricValue:
        """This value, NaN also where any of ``others`` is undefined (their reasons are carried over)."""
        reasons = dict(self.reasons)
        for other in others:
            for text, mask in other.reasons.items():
                reasons[text] = reasons[text] | mask if text in reasons else mask
        reasons.update(extra or {})
        return MetricValue.build(self.value, reasons)

    def reason_text(self, where: torch.Tensor | None = None) -> str:
        """Human summary of why entries are undefined, restricted to the bool mask ``where`` (all rows if None).

        E.g. ``"no attention on the image (3/96 rows)"``; empty when every selected entry is defined.
        """
        sel = torch.ones_like(self.value, dtype=torch.bool) if where is None else where
        total = int(sel.sum())
        parts = []
        for text, mask in self.reasons.items():
            count = int((mask & sel).sum())
            if count:
                parts.append(f"{text} ({count}/{total} rows)")
        return "; ".join(parts)

    def numpy(self) -> np.ndarray:
        return self.value.numpy()


def work_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 for float64 input, float32 otherwise (traces are float32; halves the cost of large batches)."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def as_weights(x, name: str = "weights", check: bool = True) -> torch.Tensor:
    """A float tensor (float64, or float32 for float32/16 input) of non-negative finite weights.

    Raises ValueError on NaN, infinite or negative values unless ``check`` is False (already checked).
    """
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    t = t.to(work_dtype(t))
    if check and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contain NaN or infinite values")
    if check and bool((t < 0).any()):
        raise ValueError(
            f"{name} contain negative values; metrics need non-negative weights (clamp or abs first)"
        )
    return t


def as_coverage(c, n_tokens: int | None = None) -> torch.Tensor:
    """Flatten a coverage array ``[rows, cols]`` (or ``[N]``) to float64 ``[N]`` in [0, 1]."""
    t = torch.as_tensor(np.asarray(c) if not isinstance(c, torch.Tensor) else c).to(torch.float64).reshape(-1)
    if not bool(torch.isfinite(t).all()):
        raise ValueError("coverage contains NaN or infinite values")
    if bool((t < -1e-6).any()) or bool((t > 1 + 1e-6).any()):
        raise ValueError(
            f"coverage must lie in [0, 1]; got range [{float(t.min()):.4g}, {float(t.max()):.4g}]"
        )
    if n_tokens is not None and t.numel() != n_tokens:
        raise ValueError(f"coverage has {t.numel()} cells for a grid of {n_tokens} tokens")
    return t.clamp(0.0, 1.0)


#: A scan over rows handles blocks of about this many elements: temporaries of ~1 MB are recycled by the
#: allocator, where whole-batch temporaries (tens of MB) are page-faulted in afresh each time, which costs
#: more than the arithmetic on them.
BLOCK_ELEMENTS = 1 << 18


def _rows(t: torch.Tensor, lead: tuple[int, ...]) -> torch.Tensor:
    """``t`` (broadcastable to ``[*lead, X]``) as ``[R, X]`` rows, or as ``[X]`` when it is the same for all
    rows (then nothing is expanded)."""
    if t.ndim <= 1 or all(s == 1 for s in t.shape[:-1]):
        return t.reshape(-1)
    return torch.broadcast_to(t, (*lead, t.shape[-1])).reshape(-1, t.shape[-1])


class Dist:
    """The attention distribution p inside one image, shared by the spread and grounding metrics.

    Args:
        w: non-negative weights ``[..., N]`` over the image's grid tokens (raw attention; not normalised).
        keep: optional bool broadcastable to ``[..., N]`` (e.g. ``[L, 1, 1, N]``) of tokens to keep; dropped
            tokens (sinks) count as absent from the grid: p is renormalised over the kept ones and N shrinks to
            their number.
        label: optional bool ``[N]`` (broadcastable) region labels, carried through the sort for grounding.
        check: validate ``w`` (skip when the caller already did).
        region: optional coverage ``[N]`` for ``in_region`` (sum p c), computed in the same scan.

    Attributes: ``keep`` (bool, broadcastable, not expanded; None = all kept), ``label`` (labels of kept
    tokens or None), ``n`` (float64 kept tokens per row, ``[...]``), ``mass`` (float64 kept weight per row),
    ``zero`` (rows with no mass), ``memo`` (results reused across passes). p itself is never stored whole:
    :meth:`p_block` gives it for a block of rows (see :data:`BLOCK_ELEMENTS`).
    """

    def __init__(self, w, keep=None, label=None, check: bool = True, region=None):
        w = as_weights(w, check=check)
        if w.ndim < 1 or w.shape[-1] == 0:
            raise ValueError(f"weights must be [..., N] with N >= 1, got shape {tuple(w.shape)}")
        n_tok, lead = w.shape[-1], tuple(w.shape[:-1])
        if keep is not None:
            keep = torch.as_tensor(keep, dtype=torch.bool)
            if bool(keep.all()):
                keep = None
        self.keep = keep
        self.w2 = w.reshape(-1, n_tok)  # [R, N]; a view for slices of a trace
        if keep is None:
            self.cols = self.keep2 = None
            self.mass = w.sum(-1).double()  # float32 pairwise sums: ~1e-7 relative, 10x faster than float64
        else:
            self.cols = torch.nonzero((~keep).reshape(-1, n_tok).any(0)).flatten()  # tokens dropped somewhere
            self.keep2 = _rows(keep[..., self.cols], lead)  # [R or 1, dropped cols]
            step = max(1, BLOCK_ELEMENTS // n_tok)
            self.mass = _kept_mass(self.w2, self.keep2, self.cols, step).reshape(lead)
        self.zero = self.mass <= EPS_MASS
        self.den2 = torch.where(self.zero, 1.0, self.mass).to(w.dtype).reshape(-1, 1)
        kept = torch.tensor(float(n_tok), dtype=torch.float64) if keep is None else keep.sum(-1).double()
        self.n = torch.broadcast_to(kept, self.mass.shape)
        if label is not None:
            label = torch.as_tensor(label, dtype=torch.bool)
            label = label if keep is None else label & keep
        self.label = label
        self.region = None if region is None else torch.as_tensor(region).to(w.dtype).reshape(-1)
        self.memo: dict = {}  # metric results computed from this distribution, reused across passes

    @property
    def num_tokens(self) -> int:
        return self.w2.shape[-1]

    @property
    def dtype(self) -> torch.dtype:
        return self.w2.dtype

    def blocks(self, n_tokens: int | None = None):
        """Row ranges ``(r0, r1)`` over the flattened rows, each about :data:`BLOCK_ELEMENTS` elements."""
        rows, step = self.w2.shape[0], max(1, BLOCK_ELEMENTS // (n_tokens or self.num_tokens))
        return [(r0, min(r0 + step, rows)) for r0 in range(0, rows, step)]

    def p_block(self, r0: int, r1: int) -> torch.Tensor:
        """p of flattened rows ``r0:r1``, ``[r1 - r0, N]`` (a fresh tensor; 0 on dropped tokens)."""
        p = self.w2[r0:r1] / self.den2[r0:r1]
        if self.cols is not None:
            k = self.keep2 if self.keep2.ndim == 1 else self.keep2[r0:r1]
            p[:, self.cols] = torch.where(k, p[:, self.cols], 0.0)
        return p


def _kept_mass(w2: torch.Tensor, keep2: torch.Tensor, cols: torch.Tensor, step: int) -> torch.Tensor:
    """float64 ``[R]`` weight of the kept tokens of rows ``w2`` ``[R, N]``; ``keep2`` ``[R or 1, len(cols)]``
    flags the kept ones among ``cols``, the tokens dropped in some row.

    Summed per block of ``step`` rows over a copy with the dropped weights zeroed (the same float32 sums as a
    masked copy of the whole batch, without its page faults).
    """
    mass = torch.empty(w2.shape[0], dtype=torch.float64)
    for r0 in range(0, w2.shape[0], step):
        r1 = min(r0 + step, w2.shape[0])
        wb = w2[r0:r1].clone()
        wb[:, cols] = torch.where(keep2 if keep2.ndim == 1 else keep2[r0:r1], wb[:, cols], 0.0)
        mass[r0:r1] = wb.sum(-1)
    return mass
