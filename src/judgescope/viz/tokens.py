"""The query tokens as a strip: which generated tokens read the images, and which read the source."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..probe.trace import Trace
from . import _numbers as nb
from ._common import finish, new_figure

MAX_CHARS = 9
_ROWS = (("token", None), ("image share", "viridis"), ("source share", "RdBu"))  # row label, colour map


def token_label(text: str, max_chars: int = MAX_CHARS) -> str:
    """A token's text made visible: spaces as ␣, newlines as ↵, tabs as →, long tokens cut with …."""
    shown = text.replace(" ", "␣").replace("\n", "↵").replace("\t", "→").replace("$", r"\$") or "∅"
    return shown if len(shown) <= max_chars else shown[: max_chars - 1] + "…"


def _text_color(rgba) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def token_strip(trace: Trace, *, per_line: int = 16, save=None) -> Figure:
    """Query tokens in order, each with its image share and source share (mean over layers and heads).

    Rows per token: its text; image share (all image tokens' share of the row's attention, viridis 0-1);
    source share m_S/(m_S+m_E) (red = source neglected, blue = source-heavy, grey = no image mass).
    The strip wraps every ``per_line`` tokens, so ~100 tokens take 7 lines.

    Args:
        trace: the captured rows.
        per_line: tokens per line.
        save: path ending in .png, .svg or .pdf.
    """
    if per_line < 1:
        raise ValueError(f"per_line must be at least 1, got {per_line}")
    n_q = trace.num_queries
    values = {
        "image share": nb.nanmean(nb.image_share(trace).reshape(-1, n_q), axis=0),
        "source share": nb.nanmean(nb.source_share(trace).reshape(-1, n_q), axis=0),
    }
    n_lines = -(-n_q // per_line)
    cols = min(per_line, n_q)
    line_h = len(_ROWS) + 0.6  # three rows and a gap
    fig = new_figure(1.2 + 0.72 * cols, 1.5 + 0.62 * line_h * n_lines)
    ax = fig.subplots()
    norms = Normalize(0, 1)
    for q in range(n_q):
        line, x = divmod(q, per_line)
        top = line * line_h
        for r, (name, cmap) in enumerate(_ROWS):
            y = top + r
            if cmap is None:
                ax.add_patch(Rectangle((x, y), 1, 1, facecolor="white", edgecolor="0.7", linewidth=0.5))
                ax.text(
                    x + 0.5,
                    y + 0.5,
                    token_label(trace.query_tokens[q]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    family="monospace",
                )
                continue
            v = float(values[name][q])
            rgba = mpl.colormaps[cmap](norms(v)) if np.isfinite(v) else (0.8, 0.8, 0.8, 1.0)
            ax.add_patch(Rectangle((x, y), 1, 1, facecolor=rgba, edgecolor="white", linewidth=0.5))
            ax.text(
                x + 0.5, y + 0.5, nb.fmt(v), ha="center", va="center", fontsize=7, color=_text_color(rgba)
            )
    ticks = [line * line_h + r + 0.5 for line in range(n_lines) for r in range(len(_ROWS))]
    ax.set_yticks(ticks, [name for _ in range(n_lines) for name, _ in _ROWS], fontsize=7)
    ax.set_xticks([])
    ax.set_xlim(0, cols)
    ax.set_ylim(n_lines * line_h - 0.6, 0)
    ax.set_aspect("auto")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    for name, cmap in _ROWS[1:]:
        label = "image share" if name == "image share" else "source share m_S/(m_S+m_E)"
        fig.colorbar(
            ScalarMappable(norms, cmap),
            ax=ax,
            orientation="horizontal",
            label=label,
            fraction=0.04,
            pad=0.02,
            aspect=40,
        )
    title = f"{trace.judge or 'judge'} · {n_q} query tokens · mean over {trace.num_layers} layers and {trace.num_heads} heads"
    fig.suptitle(title, fontsize=10)
    return finish(fig, save)
