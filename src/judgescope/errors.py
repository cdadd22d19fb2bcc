"""Errors that name the sample and the problem.

Every error a user can trigger with bad input derives from :class:`JudgescopeError`, so a batch run can
catch one type, record it against the sample and move on.
"""

from __future__ import annotations


class JudgescopeError(Exception):
    """Base class for every error judgescope raises on purpose."""


class SampleError(JudgescopeError, ValueError):
    """A sample cannot be used: missing or corrupt image, image too small, empty instruction, ...

    Attributes:
        sample_id: the id of the offending sample (``"?"`` when unknown).
        problem: a short human sentence saying what is wrong.
    """

    def __init__(self, sample_id: str | None, problem: str):
        self.sample_id = sample_id if sample_id is not None else "?"
        self.problem = problem
        super().__init__(f"sample {self.sample_id!r}: {problem}")


class UnsupportedFamilyError(JudgescopeError, ValueError):
    """The model's architecture is not one judgescope knows how to read."""


class NoImageTokensError(JudgescopeError, ValueError):
    """The tokenized input holds fewer image tokens than the images given."""


class ParseError(JudgescopeError, ValueError):
    """A judge's output could not be parsed (raised only where a caller asks for strict parsing)."""


class CaptureError(JudgescopeError, RuntimeError):
    """Attention capture could not record what was asked (wrong positions, no layers hit, ...)."""
