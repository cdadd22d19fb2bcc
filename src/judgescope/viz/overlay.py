"""Attention heatmaps over the original photographs, all images of a trace side by side on one colour scale.

Under the default ``norm="shared"`` the colours are raw attention weight per token, the same scale for every
panel, so source neglect shows as a dark source image next to a bright edited one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import matplotlib as mpl
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..geometry import ImageGeometry
from ..probe.trace import Trace
from . import _numbers as nb
from ._common import (
    describe,
    finish,
    new_figure,
    reduce_map,
    resolve_boxes,
    resolve_images,
    resolve_masks,
    select,
)
from .pixels import attention_to_pixels

NORMS = ("shared", "per_image", "log")
MASK_COLOR = "#39ff14"
BOX_COLOR = "#00e5ff"
PANEL_HEIGHT_IN = 3.6
DISPLAY_PX = 1600  # long side of a drawn raster: about what a 150-dpi figure can show of one panel


@dataclass
class Panel:
    """Everything needed to draw one image of one trace.

    ``grid`` is the reduced token map ``[rows, cols]``; ``rgb`` ``[h, w, 3]`` and ``heat`` ``[h, w]`` are the
    photograph and the painted map at the display size ``(w, h)`` (the original size, or smaller for large
    images); they are drawn over the original pixel coordinates either way.
    """

    name: str
    geometry: ImageGeometry
    grid: np.ndarray
    rgb: np.ndarray | None
    heat: np.ndarray
    mask: np.ndarray | None = None
    boxes: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def build_panels(
    trace: Trace,
    images,
    *,
    reduce: str = "mean",
    mask=None,
    boxes=None,
    interpolation: str = "nearest",
    display_px: int = DISPLAY_PX,
) -> list[Panel]:
    """One :class:`Panel` per image of an (already selected) trace, with caption numbers averaged over rows.

    Images whose long side exceeds ``display_px`` are drawn downsampled (the cells are painted directly at
    the display size, so they stay exact); every number uses the full-resolution mask.
    """
    rgbs = resolve_images(trace, images)
    masks = resolve_masks(trace, mask)
    box_lists = resolve_boxes(trace, boxes)
    mass = nb.masses(trace)
    panels = []
    for i, span in enumerate(trace.images):
        grid_map = reduce_map(trace, i, reduce)
        stats = {
            "mass": float(nb.nanmean(mass[i])),
            "entropy": float(nb.nanmean(nb.entropy(trace, i))),
            "entropy_norm": float(nb.nanmean(nb.entropy(trace, i, normalized=True))),
        }
        if i in masks:
            values, reason = nb.lift(trace, i, nb.coverage(masks[i], span.geometry))
            stats["lift"], stats["lift_reason"] = float(nb.nanmean(values)), reason
        w, h = span.geometry.original_size
        scale = min(1.0, display_px / max(w, h))
        display = (max(1, round(w * scale)), max(1, round(h * scale)))
        # Same resize/crop chain from a smaller "original": token cells scale with it.
        heat = attention_to_pixels(
            grid_map, replace(span.geometry, original_size=display), interpolation=interpolation
        )
        rgb = rgbs[i]
        if rgb is not None and display != (w, h):
            rgb = cv2.resize(rgb, display, interpolation=cv2.INTER_AREA)
        panels.append(
            Panel(span.name, span.geometry, grid_map, rgb, heat, masks.get(i), box_lists.get(i, []), stats)
        )
    return panels


def make_norm(norm: str, panels: list[Panel]):
    """The colour scale shared by all panels: ``(Normalize, colour bar label, display transform)``."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    values = np.concatenate([p.grid.ravel() for p in panels])  # token values: what the pixels show
    vmax = float(values.max()) if values.size else 0.0
    if norm == "per_image":

        def per_image(heat):
            peak = np.nanmax(heat) if np.isfinite(heat).any() else 0.0
            return heat / peak if peak > 0 else heat

        return Normalize(0.0, 1.0), "attention / that image's peak", per_image
    positive = values[values > 0]
    if norm == "log" and positive.size:
        vmin = max(float(positive.min()), vmax * 1e-3)
        if vmin < vmax:
            return (
                LogNorm(vmin, vmax),
                "attention weight per token (log scale)",
                lambda h: np.maximum(h, vmin),
            )
    return Normalize(0.0, vmax if vmax > 0 else 1.0), "attention weight per token", lambda h: h


def aspect_ratios(panels: list[Panel]) -> list[float]:
    """Width / height of each panel, clipped so extreme panoramas stay legible."""
    return [
        float(np.clip(p.geometry.original_size[0] / p.geometry.original_size[1], 0.35, 3.0)) for p in panels
    ]


def draw_panel(ax, panel: Panel, norm, transform, cmap: str, alpha: float, title: str | None = None) -> None:
    """Photograph, heat, mask contour and boxes on one axes, in original pixel coordinates."""
    w, h = panel.geometry.original_size
    extent = (0, w, h, 0)  # pixel i spans [i, i + 1]: the convention of token boxes and predicted boxes
    base = panel.rgb if panel.rgb is not None else np.full((*panel.heat.shape, 3), 128, np.uint8)
    ax.imshow(base, extent=extent, interpolation="antialiased")
    colormap = mpl.colormaps[cmap].with_extremes(bad=(0, 0, 0, 0))  # outside every token cell: uncovered
    ax.imshow(
        transform(panel.heat), extent=extent, cmap=colormap, norm=norm, alpha=alpha, interpolation="nearest"
    )
    if panel.mask is not None:
        draw_mask(ax, panel.mask)
    for x1, y1, x2, y2, label in panel.boxes:
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=BOX_COLOR, linewidth=2))
        ax.text(
            x1,
            y1,
            label,
            color="black",
            fontsize=8,
            va="top",
            ha="left",
            clip_on=True,
            bbox={"facecolor": BOX_COLOR, "edgecolor": "none", "pad": 1.5, "alpha": 0.85},
        )
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    rows, cols = panel.geometry.grid
    ax.set_title(title or f"{panel.name}\n{w}×{h} px, {rows}×{cols} tokens", fontsize=9)
    ax.set_xlabel(stats_text(panel.stats), fontsize=8)


def draw_mask(ax, mask: np.ndarray) -> None:
    """The mask outline (holes included). cv2 contours run through boundary pixel centres, so a mask that
    touches the image border is still drawn inside the frame."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    for c in contours:
        pts = c[:, 0, :].astype(float) + 0.5
        pts = np.vstack([pts, pts[:1]])
        ax.plot(pts[:, 0], pts[:, 1], color=MASK_COLOR, linewidth=1.8, marker="s" if len(pts) <= 2 else None)


def stats_text(stats: dict) -> str:
    """Caption under one panel: image mass, entropy of the renormalised map, lift in the mask."""
    text = f"image mass {nb.fmt(stats['mass'], 3)}\nentropy {nb.fmt(stats['entropy'])} nats"
    text += f" ({nb.fmt(stats['entropy_norm'])} of max)"
    if "lift" in stats:
        reason = stats.get("lift_reason")
        text += f"\nlift in mask {nb.fmt(stats['lift'])}" + (f"\n({reason})" if reason else "")
    return text


def share_text(trace: Trace) -> str:
    """Source share (mean over rows) and the legend of the drawn marks."""
    return f"source share m_S/(m_S+m_E) = {nb.fmt(float(nb.nanmean(nb.source_share(trace))))}"


def panel_grid(fig: Figure, n_rows: int, ratios: list[float]):
    """Axes ``[n_rows, n_images]`` whose widths follow the images' aspect ratios (equal heights)."""
    return fig.subplots(n_rows, len(ratios), squeeze=False, gridspec_kw={"width_ratios": ratios})


def marks_legend(panels: list[Panel]) -> str:
    parts = []
    if any(p.mask is not None for p in panels):
        parts.append("green outline: mask")
    if any(p.boxes for p in panels):
        parts.append("cyan: boxes")
    return (" · " + " · ".join(parts)) if parts else ""


def overlay(
    trace: Trace,
    images=None,
    *,
    layers=None,
    heads=None,
    queries=None,
    reduce: str = "mean",
    norm: str = "shared",
    mask=None,
    boxes=None,
    alpha: float = 0.5,
    cmap: str = "inferno",
    interpolation: str = "nearest",
    display_px: int = DISPLAY_PX,
    title: str | None = None,
    save=None,
) -> Figure:
    """Every image of a trace with its attention heatmap over the original pixels, on one colour scale.

    Args:
        trace: the captured rows.
        images: PIL images or arrays in trace image order, or a dict name -> image; None draws on grey. Each
            must have its geometry's original size.
        layers: decoder layer index or list (as in ``trace.layers``); None or "mean" = all captured layers.
        heads: head index or list; None or "mean" = all heads.
        queries: query row index (into ``trace.queries``) or list; None or "mean" = all rows.
        reduce: how the selected (layer, head, query) rows combine: "mean" or "max".
        norm: "shared" (raw weights, one scale for all images), "per_image" (each image over its own peak,
            hides mass differences), or "log" (shared, logarithmic).
        mask: bool ``[H, W]`` for the edited image, or a dict image name -> mask; drawn as an outline and used
            for the lift in the caption.
        boxes: ``(x1, y1, x2, y2)`` tuples or ``{"box": ..., "label": ...}`` dicts in original pixels, on the
            edited image, or a dict image name -> list; drawn as labelled rectangles.
        alpha, cmap: heat opacity and colour map.
        interpolation: "nearest" (exact token cells), "linear" or "cubic" (smooth).
        display_px: larger images are drawn downsampled to this long side (numbers use full resolution).
        title: figure title; default names judge and sample.
        save: path ending in .png, .svg or .pdf.

    Returns:
        The Figure: one panel per image, one colour bar, caption numbers averaged over the selected rows.
    """
    sel = select(trace, layers, heads, queries)
    panels = build_panels(
        sel, images, reduce=reduce, mask=mask, boxes=boxes, interpolation=interpolation, display_px=display_px
    )
    ratios = aspect_ratios(panels)
    fig = new_figure(PANEL_HEIGHT_IN * sum(ratios) + 1.3, PANEL_HEIGHT_IN + 1.6)
    axes = panel_grid(fig, 1, ratios)
    norm_obj, label, transform = make_norm(norm, panels)
    for ax, panel in zip(axes[0], panels):
        draw_panel(ax, panel, norm_obj, transform, cmap, alpha)
    fig.colorbar(ScalarMappable(norm_obj, cmap), ax=list(axes[0]), shrink=0.85, label=label)
    fig.suptitle(title or f"{trace.judge or 'judge'} · sample {trace.sample_id or '?'}", fontsize=11)
    fig.supxlabel(f"{describe(sel, heads, reduce)}\n{share_text(sel)}{marks_legend(panels)}", fontsize=9)
    return finish(fig, save)
