"""judgescope: look inside image-edit judge models and see where their attention goes."""

from .errors import (
    CaptureError,
    JudgescopeError,
    NoImageTokensError,
    ParseError,
    SampleError,
    UnsupportedFamilyError,
)
from .geometry import ImageGeometry
from .probe.trace import Trace
from .sample import Sample
from .spans import ImageSpan

__version__ = "0.1.0"

# Heavy names (they import transformers) load on first use, so that `import judgescope` stays fast for
# users who only read traces, measure or plot.
_LAZY = {
    "load_judge": "judges",
    "Judge": "judges",
    "GenerationSettings": "judges",
    "capture_attention": "hooks",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'judgescope' has no attribute {name!r}")


__all__ = [
    "CaptureError",
    "GenerationSettings",
    "Judge",
    "Sample",
    "capture_attention",
    "load_judge",
    "ImageGeometry",
    "ImageSpan",
    "JudgescopeError",
    "NoImageTokensError",
    "ParseError",
    "SampleError",
    "Trace",
    "UnsupportedFamilyError",
    "__version__",
]
