"""Traces: captured attention rows with the token layout needed to read them."""

from .trace import Trace

__all__ = ["Trace"]
