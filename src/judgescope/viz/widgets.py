"""A Jupyter explorer for one trace: dropdowns for layer, head, query row and normalisation redraw the overlay.

ipywidgets is optional (``pip install judgescope[notebooks]``); it is imported only when :func:`explore` runs.
The mapping from widget values to an :func:`overlay` call is plain Python (:func:`widget_options`,
:func:`overlay_args`, :func:`render`) so it can be tested and reused without widgets.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from ..probe.trace import Trace
from .overlay import NORMS, overlay

MEAN = "mean"


def widget_options(trace: Trace) -> dict[str, list[tuple[str, object]]]:
    """Dropdown choices as ``(label, value)`` pairs; ``"mean"`` (first) averages over that axis."""
    return {
        "layer": [("mean", MEAN)] + [(f"L{layer}", layer) for layer in trace.layers],
        "head": [("mean", MEAN)] + [(f"h{h}", h) for h in range(trace.num_heads)],
        "query": [("mean", MEAN)] + [(f"{i}: {tok!r}", i) for i, tok in enumerate(trace.query_tokens)],
        "norm": [(n, n) for n in NORMS],
    }


def overlay_args(layer=MEAN, head=MEAN, query=MEAN, norm: str = "shared") -> dict:
    """Widget values -> keyword arguments of :func:`overlay` (``"mean"`` becomes None: all rows, averaged)."""

    def pick(v):
        return None if v is None or (isinstance(v, str) and v == MEAN) else int(v)

    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return {"layers": pick(layer), "heads": pick(head), "queries": pick(query), "norm": norm}


def render(trace: Trace, images, values: dict, *, mask=None, boxes=None, **kwargs) -> Figure:
    """The overlay for a dict of widget values (keys layer, head, query, norm; missing keys mean "mean")."""
    return overlay(trace, images, mask=mask, boxes=boxes, **overlay_args(**values), **kwargs)


def explore(trace: Trace, images=None, mask=None, boxes=None, **kwargs):
    """An ipywidgets box with layer / head / query / norm dropdowns above a live overlay.

    Args:
        trace, images, mask, boxes, kwargs: as for :func:`overlay` (kwargs: alpha, cmap, interpolation ...).

    Returns:
        ``ipywidgets.VBox``; display it as the last expression of a notebook cell.

    Raises:
        ImportError: when ipywidgets is not installed.
    """
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError as err:
        raise ImportError(
            "judgescope.viz.explore needs ipywidgets; install it with `pip install judgescope[notebooks]`"
        ) from err

    options = widget_options(trace)
    dropdowns = {
        name: widgets.Dropdown(options=opts, value=opts[0][1], description=name)
        for name, opts in options.items()
    }
    out = widgets.Output()

    def redraw(_change=None):
        values = {name: dd.value for name, dd in dropdowns.items()}
        fig = render(trace, images, values, mask=mask, boxes=boxes, **kwargs)
        out.clear_output(wait=True)
        with out:
            display(fig)

    for dd in dropdowns.values():
        dd.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox(list(dropdowns.values())), out])
    box.dropdowns = dropdowns  # for programmatic control and tests
    return box
