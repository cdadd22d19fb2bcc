"""Shared plumbing for the viz functions: inputs (images, masks, boxes, selections), figures and saving."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import SampleError
from ..probe.trace import Trace

SAVE_FORMATS = (".png", ".svg", ".pdf")


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure (no global state, nothing leaks between calls) with an Agg canvas attached, so
    ``fig.canvas.draw()`` and ``fig.canvas.buffer_rgba()`` work anywhere."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def finish(fig: Figure, save: str | Path | None) -> Figure:
    """Write the figure when ``save`` is a path ending in .png, .svg or .pdf; return it."""
    if save is not None:
        path = Path(save)
        if path.suffix.lower() not in SAVE_FORMATS:
            raise ValueError(f"save={str(save)!r}: use a file name ending in one of {SAVE_FORMATS}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    return fig


def as_rgb(image: Any) -> np.ndarray:
    """A PIL image or an array (``[H, W]``, ``[H, W, 3|4]``; uint8, or float in [0, 1]) as uint8 ``[H, W, 3]``."""
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL without importing it
        return np.asarray(image.convert("RGB"))
    a = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ValueError(f"an image must be [H, W], [H, W, 3] or [H, W, 4]; got shape {a.shape}")
    a = a[..., :3]
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        return (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255).round().astype(np.uint8)
    return np.clip(a, 0, 255).astype(np.uint8)


def resolve_images(trace: Trace, images) -> list[np.ndarray | None]:
    """The images in trace order as RGB arrays checked against each geometry's original size.

    ``images`` is None (no photographs: heat on grey), a list in trace image order, or a dict name -> image.
    """
    names = [s.name for s in trace.images]
    if images is None:
        return [None] * len(names)
    if isinstance(images, Mapping):
        unknown = set(images) - set(names)
        if unknown:
            raise KeyError(f"images given for {sorted(unknown)}; the trace's images are {names}")
        images = [images.get(n) for n in names]
    images = list(images)
    if len(images) != len(names):
        raise ValueError(f"{len(images)} images given for a trace with {len(names)} images {names}")
    out = []
    for span, img in zip(trace.images, images):
        if img is None:
            out.append(None)
            continue
        rgb = as_rgb(img)
        w, h = span.geometry.original_size
        if rgb.shape[:2] != (h, w):
            raise SampleError(
                trace.sample_id,
                f"image {span.name!r} is {rgb.shape[1]}x{rgb.shape[0]} px but the trace's geometry says "
                f"{w}x{h} (pass the original image, not the processor's resized one)",
            )
        out.append(rgb)
    return out


def default_image(trace: Trace) -> int:
    """Where an unlabelled mask or box list belongs: the image named ``edited``, else the last image."""
    names = [s.name for s in trace.images]
    return names.index("edited") if "edited" in names else len(names) - 1


def _is_box(item) -> bool:
    if isinstance(item, Mapping):
        return "box" in item or "bbox" in item
    return isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 4


def resolve_masks(trace: Trace, mask) -> dict[int, np.ndarray]:
    """Masks by image index: one bool ``[H, W]`` array (for the edited image) or a dict name -> array."""
    if mask is None:
        return {}
    items = mask.items() if isinstance(mask, Mapping) else [(default_image(trace), mask)]
    out = {}
    for which, m in items:
        span = trace.image(which)
        m = np.asarray(m.detach().cpu() if hasattr(m, "detach") else m).astype(bool)
        w, h = span.geometry.original_size
        if m.shape != (h, w):
            raise SampleError(
                trace.sample_id,
                f"mask for {span.name!r} has shape {m.shape}, the image is [H, W] = [{h}, {w}]",
            )
        out[span.index] = m
    return out


def resolve_boxes(trace: Trace, boxes) -> dict[int, list[tuple[float, float, float, float, str]]]:
    """Boxes by image index as ``(x1, y1, x2, y2, label)`` in original pixels.

    ``boxes`` is a list of ``(x1, y1, x2, y2)`` or dicts ``{"box": (...), "label": str}`` (on the edited
    image), or a dict image name -> such a list.
    """
    if boxes is None:
        return {}
    names = {s.name for s in trace.images}
    if isinstance(boxes, Mapping) and not _is_box(boxes) and set(boxes) <= names:
        items = [(trace.image(k).index, v) for k, v in boxes.items()]
    else:
        items = [(default_image(trace), [boxes] if _is_box(boxes) and isinstance(boxes, Mapping) else boxes)]
    out: dict[int, list] = {}
    for index, lst in items:
        parsed = []
        for i, b in enumerate(lst):
            if not _is_box(b):
                raise ValueError(f"box {i} for image {index}: expected (x1, y1, x2, y2) or a dict with 'box'")
            label = f"box {i}"
            if isinstance(b, Mapping):
                label = str(b.get("label", label))
                b = b.get("box", b.get("bbox"))
            x1, y1, x2, y2 = (float(v) for v in b)
            parsed.append((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2), label))
        out[index] = parsed
    return out


def select(trace: Trace, layers=None, heads=None, queries=None) -> Trace:
    """Restrict a trace; ``"mean"`` or None for any argument keeps everything (the plots then average)."""

    def keep(v):
        return None if v is None or (isinstance(v, str) and v == "mean") else v

    return trace.select(layers=keep(layers), heads=keep(heads), queries=keep(queries))


def describe(trace: Trace, heads=None, reduce: str = "mean") -> str:
    """One line naming the rows a reduced map stands for; ``trace`` is already selected, ``heads`` is the
    selection argument (head indices are renumbered by :meth:`Trace.select`)."""

    def span(values, name):
        values = [int(v) for v in values]
        if len(values) == 1:
            return f"{name} {values[0]}"
        if values == list(range(values[0], values[-1] + 1)):
            return f"{name}s {values[0]}-{values[-1]}"
        return f"{name}s {','.join(map(str, values))}"

    if heads is None or (isinstance(heads, str) and heads == "mean"):
        head_text = f"all {trace.num_heads} heads" if trace.num_heads > 1 else "head 0"
    else:
        head_text = span([heads] if isinstance(heads, int) else heads, "head")
    q = trace.query_tokens
    q_text = f"query {q[0]!r}" if len(q) == 1 else f"{len(q)} query rows"
    reduced = trace.num_layers * trace.num_heads * trace.num_queries > 1
    return f"{span(trace.layers, 'layer')} · {head_text} · {q_text}" + (f" ({reduce})" if reduced else "")


def reduce_map(trace: Trace, which: int, reduce: str) -> np.ndarray:
    """One image's map reduced over every (layer, head, query) row: float64 ``[rows, cols]``."""
    m = trace.image_map(which).detach().cpu().double().numpy()
    m = m.reshape(-1, *m.shape[3:])
    if reduce == "mean":
        return m.mean(0)
    if reduce == "max":
        return m.max(0)
    raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
