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


def sort_with_labels(
    q: torch.Tensor, label: torch.Tensor | None, has_dropped: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sort rows of ``q`` ``[..., N]`` ascending, carrying a bool ``label`` (broadcastable) along.

    Returns ``(values, labels)`` in ascending order; inside a group of equal values, unlabelled entries come
    first. float32 rows with values in [-1, 1] (p, or -1 for dropped tokens) are sorted as one int32 key
    (value bits << 1 | label; numpy's SIMD sort is several times faster than an argsort), other rows with a
    lexicographic argsort. ``has_dropped=False`` promises that no entry is negative (skips a scan).
    """
    qn = q.detach().cpu().numpy()
    if label is None:
        return torch.from_numpy(np.sort(qn, axis=-1)), None
    lab = np.broadcast_to(label.numpy(), qn.shape)
    if qn.dtype == np.float32:
        dropped = qn < 0 if has_dropped else None
        any_dropped = has_dropped and bool(dropped.any())
        key = qn.view(np.int32) << 1  # p in [0, ~1]: the bits of a non-negative float sort like the float
        key |= lab
        if any_dropped:
            key[dropped] = -2
        key.sort(axis=-1)
        vals = (key >> 1).view(np.float32)
        if any_dropped:
            vals[key < 0] = -1.0
        return torch.from_numpy(vals), torch.from_numpy(key & 1).bool()
    order = np.lexsort((lab, qn), axis=-1)
    return (
        torch.from_numpy(np.take_along_axis(qn, order, -1)),
        torch.from_numpy(np.take_along_axis(lab, order, -1)),
    )


class Dist:
    """The attention distribution p inside one image, shared by the spread and grounding metrics.

    Args:
        w: non-negative weights ``[..., N]`` over the image's grid tokens (raw attention; not normalised).
        keep: optional bool broadcastable to ``[..., N]`` (e.g. ``[L, 1, 1, N]``) of tokens to keep; dropped
            tokens (sinks) count as absent from the grid: p is renormalised over the kept ones and N shrinks to
            their number.
        label: optional bool ``[N]`` (broadcastable) region labels, carried through the sort for grounding.
        check: validate ``w`` (skip when the caller already did).

    Attributes: ``p`` (``[..., N]``, 0 on dropped tokens; float32 for float32 input), ``q`` (``p`` with -1 on
    dropped tokens so that they sort first), ``keep`` (bool, broadcastable, not expanded; None = all kept),
    ``label`` (labels of kept tokens or None), ``n`` (float64 kept tokens per row, ``[...]``), ``mass``
    (float64 kept weight per row), ``zero`` (rows with no mass), and the lazily computed ascending sort.
    """

    def __init__(self, w, keep=None, label=None, check: bool = True):
        w = as_weights(w, check=check)
        if w.ndim < 1 or w.shape[-1] == 0:
            raise ValueError(f"weights must be [..., N] with N >= 1, got shape {tuple(w.shape)}")
        n_tok = w.shape[-1]
        if keep is not None:
            keep = torch.as_tensor(keep, dtype=torch.bool)
            if bool(keep.all()):
                keep = None
        self.keep = keep
        if keep is not None:
            w = w.masked_fill(~keep, 0.0)
        self.mass = w.sum(-1).double()  # float32 pairwise sums: ~1e-7 relative, 10x faster than float64
        self.zero = self.mass <= EPS_MASS
        self.p = w / torch.where(self.zero, 1.0, self.mass).to(w.dtype).unsqueeze(-1)
        self.q = self.p if keep is None else self.p.masked_fill(~keep, -1.0)
        kept = torch.tensor(float(n_tok), dtype=torch.float64) if keep is None else keep.sum(-1).double()
        self.n = torch.broadcast_to(kept, self.mass.shape)
        if label is not None:
            label = torch.as_tensor(label, dtype=torch.bool)
            label = label if keep is None else label & keep
        self.label = label
        self._sort: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._first: torch.Tensor | None | bool = False
        self.memo: dict = {}  # metric results computed from this distribution, reused across passes

    @property
    def num_tokens(self) -> int:
        return self.p.shape[-1]

    @property
    def sorted_asc(self) -> torch.Tensor:
        """``q`` sorted ascending along the last dim (dropped tokens, -1, first)."""
        if self._sort is None:
            self._sort = sort_with_labels(self.q, self.label, has_dropped=self.keep is not None)
        return self._sort[0]

    @property
    def sorted_label(self) -> torch.Tensor | None:
        """Labels in the order of :attr:`sorted_asc` (unlabelled first among equal values)."""
        self.sorted_asc  # noqa: B018 - computes the sort
        return self._sort[1]

    @property
    def group_first(self) -> torch.Tensor | None:
        """int64 ``[..., N]``: first sorted position of each position's group of equal values, or None when no
        row has ties among kept tokens (every position is its own group)."""
        if self._first is False:
            s = self.sorted_asc
            same = (s[..., 1:] == s[..., :-1]) & (s[..., 1:] >= 0)
            if not bool(same.any()):
                self._first = None
            else:
                pos = torch.arange(s.shape[-1]).expand(s.shape)
                new = torch.cat([torch.ones_like(same[..., :1]), ~same], -1)
                self._first = torch.where(new, pos, 0).cummax(-1).values
        return self._first
