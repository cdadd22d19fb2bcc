"""Layers x heads small multiples: which heads look where, and which heads still read the source."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from ..probe.trace import Trace
from . import _numbers as nb
from ._common import finish, new_figure

MODES = ("maps", "share")


def _rows(trace: Trace, query) -> tuple[Trace, str]:
    """The trace restricted to one query row (index into ``trace.queries``), or all rows for None/"mean"."""
    if query is None or (isinstance(query, str) and query == "mean"):
        return trace, f"mean over {trace.num_queries} query rows"
    sel = trace.select(queries=int(query))
    return sel, f"query {sel.query_tokens[0]!r}"


def _mosaic(maps: np.ndarray) -> np.ndarray:
    """``[L, H, rows, cols]`` -> one ``[L*(rows+1)-1, H*(cols+1)-1]`` image with NaN gutters between cells."""
    n_l, n_h, rows, cols = maps.shape
    out = np.full((n_l * (rows + 1) - 1, n_h * (cols + 1) - 1), np.nan)
    for li in range(n_l):
        for hi in range(n_h):
            out[li * (rows + 1) : li * (rows + 1) + rows, hi * (cols + 1) : hi * (cols + 1) + cols] = maps[
                li, hi
            ]
    return out


def head_grid(
    trace: Trace,
    image: int | str = "edited",
    *,
    query=None,
    mode: str = "maps",
    norm: str = "shared",
    cmap: str | None = None,
    save=None,
) -> Figure:
    """Small multiples over (layer, head).

    Args:
        trace: the captured rows.
        image: the image whose token-grid maps are shown (mode "maps"), by name or index.
        query: query row index into ``trace.queries``; None or "mean" averages over all rows.
        mode: "maps" draws each head's map of ``image`` on its token grid (cells keep the aspect of the
            token cells in original pixels); "share" draws a heat table of source share m_S/(m_S+m_E) per
            (layer, head): red = source neglect, blue = source-heavy, white = balanced.
        norm: for "maps": "shared" (one scale for all heads, raw weights) or "per_panel" (each head over its
            own peak, to see patterns of weak heads).
        cmap: colour map; default "inferno" for maps, "RdBu" for share.
        save: path ending in .png, .svg or .pdf.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    sel, query_text = _rows(trace, query)
    n_l, n_h = sel.num_layers, sel.num_heads
    layer_labels = [f"L{layer}" for layer in sel.layers]
    if mode == "share":
        table = nb.nanmean(nb.source_share(sel), axis=2)  # [L, H]
        fig = new_figure(min(24.0, 2.5 + 0.45 * n_h), min(24.0, 1.8 + 0.35 * n_l))
        ax = fig.subplots()
        colormap = mpl.colormaps[cmap or "RdBu"].with_extremes(bad="0.8")  # no image mass: undefined share
        im = ax.imshow(table, cmap=colormap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        if n_l * n_h <= 400:
            for (li, hi), v in np.ndenumerate(table):
                ax.text(
                    hi,
                    li,
                    nb.fmt(v),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if not np.isfinite(v) or 0.2 < v < 0.8 else "white",
                )
        ax.set_xticks(range(n_h), [str(h) for h in range(n_h)], fontsize=7)
        ax.set_yticks(range(n_l), layer_labels, fontsize=7)
        ax.set_xlabel("head")
        ax.set_ylabel("decoder layer")
        fig.colorbar(im, ax=ax, label="source share m_S/(m_S+m_E)", shrink=0.8)
        fig.suptitle(f"{trace.judge or 'judge'} · source share per head · {query_text}", fontsize=10)
        return finish(fig, save)

    if norm not in ("shared", "per_panel"):
        raise ValueError(f"norm must be 'shared' or 'per_panel', got {norm!r}")
    span = sel.image(image)
    maps = sel.image_map(image).detach().cpu().double().numpy().mean(2)  # [L, H, rows, cols]
    if norm == "per_panel":
        peak = maps.max(axis=(2, 3), keepdims=True)
        maps = np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
    rows, cols = span.grid
    cell_w, cell_h = span.geometry.token_size_original
    aspect = cell_h / cell_w
    panel_w = 0.55 * max(1.0, cols / rows / aspect) ** 0.5
    fig = new_figure(min(26.0, 2.2 + panel_w * n_h), min(26.0, 1.6 + panel_w * n_l * aspect * rows / cols))
    ax = fig.subplots()
    colormap = mpl.colormaps[cmap or "inferno"].with_extremes(bad="white")  # gutters between panels
    vmax = float(maps.max()) if maps.max() > 0 else 1.0
    im = ax.imshow(_mosaic(maps), cmap=colormap, vmin=0, vmax=vmax, aspect=aspect, interpolation="nearest")
    ax.set_xticks(
        [h * (cols + 1) + (cols - 1) / 2 for h in range(n_h)], [str(h) for h in range(n_h)], fontsize=7
    )
    ax.set_yticks([li * (rows + 1) + (rows - 1) / 2 for li in range(n_l)], layer_labels, fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("head")
    ax.set_ylabel("decoder layer")
    label = "attention weight per token" if norm == "shared" else "attention / that head's peak"
    fig.colorbar(im, ax=ax, label=label, shrink=0.8)
    fig.suptitle(f"{trace.judge or 'judge'} · {span.name} ({rows}×{cols} tokens) · {query_text}", fontsize=10)
    return finish(fig, save)
