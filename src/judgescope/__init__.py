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
from .spans import ImageSpan

__version__ = "0.1.0"

__all__ = [
    "CaptureError",
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
