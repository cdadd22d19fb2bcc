"""Pictures that make attention collapse obvious at a glance.

Every function works on Traces, images and arrays (never on a model) and returns a matplotlib Figure; pass
``save="out.png"`` (or .svg / .pdf) to write it. See ``docs/viz.md``.
"""

from .compare import compare
from .heads import head_grid
from .overlay import overlay
from .pixels import attention_to_pixels, token_index_map
from .profile import layer_profile
from .tokens import token_strip
from .widgets import explore, overlay_args, widget_options

__all__ = [
    "attention_to_pixels",
    "compare",
    "explore",
    "head_grid",
    "layer_profile",
    "overlay",
    "overlay_args",
    "token_index_map",
    "token_strip",
    "widget_options",
]
