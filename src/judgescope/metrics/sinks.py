"""Attention sinks: keys that soak up attention for reasons unrelated to content.

Detection (see docs/metrics.md, "Sinks"):

- by attention: r_k, the attention key k receives averaged over heads and query rows (and over layers when
  ``mode="mean"``), is compared with its group (each image grid is a group; every other key is group X).
  A key is a sink when r_k > ``factor`` x the mean r of the group's keys that are not sinks (so that sinks do
  not raise the bar they are measured against). With the group sorted by r, the sinks are the smallest
  top-j set that satisfies this and leaves the (j+1)-th key below the bar; j is at most ``max_share`` of the
  group. Groups of one token have no sinks.
- by hidden-state norm (optional): when ``trace.meta["hidden_norms"]`` holds per-key norms (``[keys]`` or
  ``[layers, keys]``), a key whose norm exceeds ``norm_factor`` x the median norm of its row is a sink
  (massive activations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..probe.trace import Trace

#: Default: a sink receives more than this many times the mean attention of its group's non-sink keys.
SINK_FACTOR = 10.0
#: Default: at most this share of a group's keys can be sinks.
SINK_MAX_SHARE = 0.25
#: Default: a hidden-state norm above this many times the median norm marks a sink.
NORM_FACTOR = 10.0

NORMS_KEY = "hidden_norms"


@dataclass(frozen=True)
class Sinks:
    """Sinks found in one trace.

    Attributes:
        mask: bool ``[layers, keys]``: key k is a sink in captured layer l (rows are identical for
            ``mode="mean"``).
        table: one row per (sink, layer): ``position, group, layer`` (NA for ``mode="mean"``), ``received``
            (mean attention it receives), ``ratio`` (received / group reference), ``norm_ratio`` (norm /
            median norm, NaN without norms), ``by`` (``"attention"``, ``"norm"`` or ``"attention+norm"``),
            ``token``.
        mode, factor, max_share, norm_factor: the parameters used.
    """

    mask: torch.Tensor
    table: pd.DataFrame
    mode: str
    factor: float
    max_share: float
    norm_factor: float

    @property
    def positions(self) -> tuple[int, ...]:
        """Key positions that are a sink in at least one layer, sorted."""
        return tuple(int(i) for i in torch.nonzero(self.mask.any(0)).flatten())

    @property
    def keep(self) -> torch.Tensor:
        """bool ``[layers, 1, 1, keys]``: True for keys that are not sinks, broadcastable to the attention."""
        return ~self.mask[:, None, None, :]


def key_groups(trace: Trace) -> dict[str, torch.Tensor]:
    """Group name -> key positions: one group per image grid (by image name), ``"other"`` for the rest."""
    groups = {span.name or f"image{span.index}": torch.as_tensor(span.positions) for span in trace.images}
    groups["other"] = torch.as_tensor(trace.other_positions(), dtype=torch.long)
    return groups


def _attention_outliers(r: torch.Tensor, idx: torch.Tensor, factor: float, max_share: float):
    """Sinks of one group: bool ``[rows, len(idx)]`` and each key's ratio to the non-sink mean.

    ``r [rows, K]`` is received attention. With the group sorted descending, the top j keys are a consistent
    sink set when r_(j) > factor * mean(r_(j+1..n)) >= r_(j+1): the j-th key is far above the mean of the
    rest and the (j+1)-th is not. The smallest consistent j >= 1 (at most ``max_share`` of the group) is
    taken; none means no sinks.
    """
    n = idx.numel()
    rg = r[:, idx]
    j_max = int(np.floor(max_share * n))
    if n < 2 or j_max < 1:
        return torch.zeros_like(rg, dtype=torch.bool), rg / rg.mean(-1, keepdim=True).clamp_min(1e-30)
    srt = torch.sort(rg, dim=-1, descending=True).values
    j = torch.arange(1, j_max + 1)
    rest = (srt.sum(-1, keepdim=True) - srt.cumsum(-1)[:, :j_max]) / (n - j)  # mean of r_(j+1..n)
    consistent = (srt[:, :j_max] > factor * rest) & (srt[:, 1 : j_max + 1] <= factor * rest)
    found = consistent.any(-1)
    j_star = torch.where(found, consistent.float().argmax(-1) + 1, 0)  # argmax: the first consistent j
    ref = torch.where(
        found, rest.gather(-1, (j_star - 1).clamp_min(0).unsqueeze(-1)).squeeze(-1), rg.mean(-1)
    )
    threshold = srt.gather(-1, (j_star - 1).clamp_min(0).unsqueeze(-1))  # value of the smallest sink
    flags = (rg >= threshold) & found.unsqueeze(-1)
    return flags, rg / ref.unsqueeze(-1).clamp_min(1e-30)


def detect_sinks(
    trace: Trace,
    factor: float = SINK_FACTOR,
    mode: str = "mean",
    max_share: float = SINK_MAX_SHARE,
    norm_factor: float = NORM_FACTOR,
    use_norms: bool = True,
    exclude=None,
) -> Sinks:
    """Find sink keys of a trace.

    Args:
        trace: the captured rows.
        factor: received attention above ``factor`` x the mean of the group's non-sinks marks a sink.
        mode: ``"mean"`` (one sink set from attention averaged over layers, heads and queries) or
            ``"layer"`` (a sink set per layer, averaged over heads and queries).
        max_share: at most this share of a group's keys can be sinks.
        norm_factor: hidden-state norm above ``norm_factor`` x median norm marks a sink.
        use_norms: use ``trace.meta["hidden_norms"]`` when present.
        exclude: key positions that are never sinks, e.g. the tokens of the edit region: attention there is
            about content, whatever its size (:func:`judgescope.metrics.diagnose` passes them when it is
            given regions).
    """
    if mode not in ("mean", "layer"):
        raise ValueError(f"mode must be 'mean' or 'layer', got {mode!r}")
    if factor <= 1 or not 0 < max_share < 1:
        raise ValueError(f"need factor > 1 and 0 < max_share < 1, got factor={factor}, max_share={max_share}")
    a = trace.attention
    # Rows are weighted by 1 / their total (attribution traces: compare shares, not raw scores); einsum avoids
    # a normalised copy of the whole tensor.
    n_l, rows_per = a.shape[0], a.shape[1] * a.shape[2]
    inv = (1.0 / a.sum(-1).clamp_min(1e-30)).to(a.dtype).reshape(n_l, 1, rows_per)
    r = torch.bmm(inv, a.reshape(n_l, rows_per, -1)).squeeze(1).double() / rows_per  # [L, K]
    if mode == "mean":
        r = r.mean(0, keepdim=True)
    n_layers, n_keys = trace.num_layers, trace.num_keys

    by_att = torch.zeros(r.shape, dtype=torch.bool)
    ratio = torch.ones(r.shape, dtype=torch.float64)
    group_of = np.empty(n_keys, dtype=object)
    for name, idx in key_groups(trace).items():
        flags, rat = _attention_outliers(r, idx, factor, max_share)
        by_att[:, idx], ratio[:, idx] = flags, rat
        group_of[idx.numpy()] = name

    by_norm = torch.zeros(r.shape, dtype=torch.bool)
    norm_ratio = torch.full(r.shape, float("nan"), dtype=torch.float64)
    norms = trace.meta.get(NORMS_KEY) if use_norms else None
    if norms is not None:
        nt = torch.as_tensor(np.asarray(norms, dtype=np.float64)).reshape(-1, n_keys)
        nr = nt / nt.median(-1, keepdim=True).values.clamp_min(1e-30)
        if nr.shape[0] != r.shape[0]:  # norms per layer but one sink set (or one norm row): any layer counts
            nr = nr.amax(0, keepdim=True).expand(r.shape[0], -1)
        norm_ratio, by_norm = nr, nr > norm_factor

    flag = by_att | by_norm
    if exclude is not None and len(exclude):
        flag[:, torch.as_tensor(list(exclude), dtype=torch.long)] = False
    mask = flag.expand(n_layers, -1).clone() if mode == "mean" else flag
    rows = []
    for li, k in torch.nonzero(flag).tolist():
        by = "+".join(b for b, f in (("attention", by_att[li, k]), ("norm", by_norm[li, k])) if f)
        rows.append(
            {
                "position": k,
                "group": group_of[k],
                "layer": pd.NA if mode == "mean" else trace.layers[li],
                "received": float(r[li, k]),
                "ratio": float(ratio[li, k]),
                "norm_ratio": float(norm_ratio[li, k]),
                "by": by,
                "token": trace.tokens[k] if trace.tokens else "",
            }
        )
    cols = ["position", "group", "layer", "received", "ratio", "norm_ratio", "by", "token"]
    table = pd.DataFrame(rows, columns=cols).astype({"layer": "Int64"})
    return Sinks(mask, table, mode, float(factor), float(max_share), float(norm_factor))
