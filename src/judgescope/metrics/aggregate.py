"""Summaries of per-row metrics: mean over heads and query rows per layer, then mean over a layer band.

Both means skip NaN (undefined rows); a summary is NaN only when every row it covers is undefined, and its
``reason`` column counts the undefined rows by reason either way.
"""

from __future__ import annotations

import pandas as pd
import torch

from ._base import MetricValue

TABLE_COLUMNS = ["metric", "scope", "layer", "value", "n", "n_rows", "reason"]


def resolve_band(layers: tuple[int, ...], band=None) -> list[int]:
    """Indices (into the trace's layer axis) of the band's layers.

    Args:
        layers: decoder layer numbers of the captured slices (``trace.layers``).
        band: None (all captured layers); a ``slice`` over decoder layer numbers (``slice(10, 20)`` = layers
            10..19 that were captured; steps allowed); or an iterable of decoder layer numbers.
    """
    if band is None:
        return list(range(len(layers)))
    if isinstance(band, slice):
        wanted = set(range(*band.indices(max(layers) + 1))) if layers else set()
        idx = [i for i, layer in enumerate(layers) if layer in wanted]
    else:
        band = [band] if isinstance(band, int) else list(band)
        missing = [b for b in band if b not in layers]
        if missing:
            raise ValueError(f"band layers {missing} were not captured; captured: {list(layers)}")
        idx = [layers.index(b) for b in band]
    if not idx:
        raise ValueError(f"layer band {band!r} selects none of the captured layers {list(layers)}")
    return idx


def _reason(counts: dict[str, int], total: int) -> str:
    return "; ".join(f"{text} ({c}/{total} rows)" for text, c in counts.items() if c)


def summarize(metrics: dict[str, MetricValue], layers: tuple[int, ...], band=None):
    """Per-layer and band summaries of per-row metrics ``[L, H, Q]``.

    Returns:
        ``(table, per_layer, summary, reasons)``: the tidy table (columns :data:`TABLE_COLUMNS`; ``scope`` is
        ``"layer"`` or ``"band"``, ``layer`` is NA on band rows, ``n`` counts defined rows), a wide per-layer
        DataFrame (index = decoder layer, one column per metric), the band value of each metric (dict of
        float) and the band reason of each metric (dict of str, empty when all rows are defined).
    """
    band_idx = resolve_band(layers, band)
    bsel = torch.zeros(len(layers), dtype=torch.bool)
    bsel[band_idx] = True
    records, wide, summary, reasons = [], {}, {}, {}
    for name, mv in metrics.items():
        v = mv.value
        rows_per_layer = v[0].numel() if v.ndim else 1
        defined = (~torch.isnan(v)).flatten(1).sum(-1)
        per_layer = torch.nanmean(v.flatten(1), dim=-1)
        counts = {text: m.flatten(1).sum(-1) for text, m in mv.reasons.items()}
        for li, layer in enumerate(layers):
            reason = _reason({t: int(c[li]) for t, c in counts.items()}, rows_per_layer)
            val = float(per_layer[li])
            records.append((name, "layer", layer, val, int(defined[li]), rows_per_layer, reason))
        band_value = (
            float(torch.nanmean(per_layer[bsel]))
            if bool((~torch.isnan(per_layer[bsel])).any())
            else float("nan")
        )
        band_rows = rows_per_layer * len(band_idx)
        band_reason = _reason({t: int(c[bsel].sum()) for t, c in counts.items()}, band_rows)
        records.append((name, "band", pd.NA, band_value, int(defined[bsel].sum()), band_rows, band_reason))
        wide[name] = per_layer.numpy()
        summary[name], reasons[name] = band_value, band_reason
    table = pd.DataFrame.from_records(records, columns=TABLE_COLUMNS).astype({"layer": "Int64"})
    per_layer_df = pd.DataFrame(wide, index=pd.Index(list(layers), name="layer"))
    return table, per_layer_df, summary, reasons
