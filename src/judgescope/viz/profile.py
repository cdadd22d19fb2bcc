"""Per-layer profile: where in depth the judge stops looking at the source and collapses its attention."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..probe.trace import Trace
from . import _numbers as nb
from ._common import finish, new_figure, resolve_masks


def _per_layer(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[L, H, Q]`` -> mean, 25th and 75th percentile over heads and queries, each ``[L]`` (NaN-aware)."""
    flat = values.reshape(values.shape[0], -1)
    with np.errstate(all="ignore"):
        lo, hi = (np.full(flat.shape[0], np.nan) for _ in range(2))
        ok = np.isfinite(flat).any(1)
        if ok.any():
            lo[ok], hi[ok] = np.nanpercentile(flat[ok], [25, 75], axis=1)
    return nb.nanmean(flat, axis=1), lo, hi


def _band_indices(trace: Trace, band) -> tuple[np.ndarray, str]:
    """Which captured layers fall in ``band = (first, last)`` (decoder indices, inclusive)."""
    layers = np.asarray(trace.layers)
    if band is None:
        return np.ones(len(layers), bool), "all layers"
    first, last = band
    if first > last:
        raise ValueError(f"band {band}: first layer after last")
    inside = (layers >= first) & (layers <= last)
    if not inside.any():
        raise ValueError(f"band {band} holds none of the captured layers {list(layers)}")
    return inside, f"layers {first}-{last}"


def layer_profile(trace: Trace, *, mask=None, band: tuple[int, int] | None = None, save=None) -> Figure:
    """Per layer: source share, image share, normalized entropy per image, and lift per masked image.

    Each line is the mean over heads and query rows; the light band around it spans their 25-75th
    percentiles. ``band = (first, last)`` (decoder layer indices, inclusive) is shaded and its mean is given
    in each legend entry; without it the legend gives the mean over all layers.

    Args:
        trace: the captured rows.
        mask: bool ``[H, W]`` for the edited image or dict image name -> mask; adds a lift panel.
        band: the layer band used for summaries.
        save: path ending in .png, .svg or .pdf.
    """
    layers = np.asarray(trace.layers)
    inside, band_name = _band_indices(trace, band)
    masks = resolve_masks(trace, mask)
    panels: list[tuple[str, list[tuple[str, np.ndarray]]]] = [
        (
            "share of attention",
            [
                ("source share m_S/(m_S+m_E)", nb.source_share(trace)),
                ("image share (all images)", nb.image_share(trace)),
            ],
        ),
        ("normalized entropy", [(s.name, nb.entropy(trace, s.index, normalized=True)) for s in trace.images]),
    ]
    if masks:
        lifts = []
        for index, m in masks.items():
            values, reason = nb.lift(trace, index, nb.coverage(m, trace.images[index].geometry))
            lifts.append((trace.images[index].name + (f" ({reason})" if reason else ""), values))
        panels.append(("lift in mask", lifts))

    fig = new_figure(max(6.0, 0.22 * len(layers) + 3.0), 2.3 * len(panels) + 0.8)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (ylabel, series) in zip(axes, panels):
        for name, values in series:
            mean, lo, hi = _per_layer(values)
            summary = nb.fmt(float(nb.nanmean(mean[inside])))
            (line,) = ax.plot(layers, mean, marker="o", markersize=3, label=f"{name}: {summary}")
            ax.fill_between(layers, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
        if ylabel == "lift in mask":
            ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
            ax.text(layers[0], 1.0, " uniform", va="bottom", fontsize=7, color="grey")
        else:
            ax.set_ylim(-0.02, 1.02)
            if ylabel == "share of attention":
                ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
                ax.text(layers[0], 0.5, " balanced", va="bottom", fontsize=7, color="grey")
        if band is not None:
            ax.axvspan(layers[inside].min() - 0.5, layers[inside].max() + 0.5, color="0.85", zorder=0)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.legend(
            fontsize=7,
            title=f"mean over {band_name}",
            title_fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
        )
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("decoder layer")
    title = f"{trace.judge or 'judge'} · sample {trace.sample_id or '?'} · mean over heads and query rows"
    fig.suptitle(title, fontsize=10)
    return finish(fig, save)
