"""The same sample under several judges: one row per judge, every image per row, one colour scale for all."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from ..probe.trace import Trace
from ._common import describe, finish, new_figure, select
from .overlay import (
    DISPLAY_PX,
    PANEL_HEIGHT_IN,
    aspect_ratios,
    build_panels,
    draw_panel,
    make_norm,
    marks_legend,
    share_text,
)


def compare(
    traces: Sequence[Trace],
    images=None,
    *,
    labels: Sequence[str] | None = None,
    layers=None,
    heads=None,
    queries=None,
    reduce: str = "mean",
    norm: str = "shared",
    mask=None,
    boxes: Sequence | None = None,
    alpha: float = 0.5,
    cmap: str = "inferno",
    interpolation: str = "nearest",
    display_px: int = DISPLAY_PX,
    title: str | None = None,
    save=None,
) -> Figure:
    """Overlays of one sample under several judges, stacked, on one colour scale across every panel.

    Args:
        traces: one Trace per judge, all of the same sample (same number of images, same original sizes;
            token grids may differ between model families).
        images: as for :func:`overlay` (shared by all rows).
        labels: row labels; default each trace's ``judge``.
        layers, heads, queries, reduce: the same selection applied to every trace (see :func:`overlay`).
        norm: "shared", "per_image" or "log", as for :func:`overlay`; "shared" spans all rows.
        mask: as for :func:`overlay` (the sample's region, shared by all rows).
        boxes: None, or one box spec per trace (each as :func:`overlay`'s ``boxes``; None for no boxes),
            since each judge predicts its own boxes.
        alpha, cmap, interpolation, display_px, title, save: as for :func:`overlay`.

    Returns:
        The Figure: ``len(traces)`` rows x images columns, one colour bar.
    """
    traces = list(traces)
    if not traces:
        raise ValueError("compare needs at least one trace")
    n_images = len(traces[0].images)
    if any(len(t.images) != n_images for t in traces):
        raise ValueError(f"traces hold different numbers of images: {[len(t.images) for t in traces]}")
    labels = list(labels) if labels is not None else [t.judge or f"judge {i}" for i, t in enumerate(traces)]
    if len(labels) != len(traces):
        raise ValueError(f"{len(labels)} labels for {len(traces)} traces")
    boxes = list(boxes) if boxes is not None else [None] * len(traces)
    if len(boxes) != len(traces):
        raise ValueError(f"boxes must hold one entry per trace ({len(traces)}), got {len(boxes)}")

    selected = [select(t, layers, heads, queries) for t in traces]
    rows = [
        build_panels(
            s, images, reduce=reduce, mask=mask, boxes=b, interpolation=interpolation, display_px=display_px
        )
        for s, b in zip(selected, boxes)
    ]
    ratios = aspect_ratios(rows[0])
    height = (PANEL_HEIGHT_IN + 0.8) * len(rows) + 1.0
    fig = new_figure(PANEL_HEIGHT_IN * sum(ratios) + 1.8, height)
    axes = fig.subplots(len(rows), n_images, squeeze=False, gridspec_kw={"width_ratios": ratios})
    norm_obj, label, transform = make_norm(norm, [p for row in rows for p in row])
    for r, (panels, sel, row_label) in enumerate(zip(rows, selected, labels)):
        for c, panel in enumerate(panels):
            draw_panel(
                axes[r, c], panel, norm_obj, transform, cmap, alpha, title=f"{row_label} · {panel.name}"
            )
        axes[r, 0].set_ylabel(f"{row_label}\n{share_text(sel)}", fontsize=9)
    fig.colorbar(ScalarMappable(norm_obj, cmap), ax=axes.ravel().tolist(), shrink=0.6, label=label)
    sample = traces[0].sample_id or "?"
    fig.suptitle(title or f"sample {sample} under {len(traces)} judges", fontsize=11)
    lines = dict.fromkeys(describe(s, heads, reduce) for s in selected)  # unique, in row order
    fig.supxlabel(" | ".join(lines) + marks_legend(rows[0]), fontsize=9)
    return finish(fig, save)
