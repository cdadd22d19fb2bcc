"""EditReward-style judge: a value head reads the last-layer hidden state at a reward token; nothing is
generated, so there is no text to parse.

- ``instruction`` sees ``(source, edited)``: how well the edit follows the instruction.
- ``quality`` sees ``(edited,)`` by default: how good the edited image looks. EditReward's own code shows the
  source image in both passes; ``ValueHead(quality_images=("source", "edited"))`` reproduces that.
- :meth:`ValueHead.prompt` ends the user text with :attr:`reward_token` (``"<|Reward|>"``), unless the
  template already contains it (an official template may put text after it). The token therefore sits in the
  user message, as in EditReward's training data; the head is read at its position (the last occurrence
  of the token id in the input), which is also the natural attention query (``default_queries = "reward"``).
- The Judge stores each call's head output as ``Parsed(scores={"reward": r}, ...)``; overall = the mean of the
  two rewards. Rewards are unbounded, so ``score_range`` is ``(-inf, inf)``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .base import Call, Parsed, Protocol

INSTRUCTION_TEMPLATE = """The first image is an original; the second is the result of editing it with this \
instruction:

Instruction: {instruction}

How well does the edited image carry out the instruction while keeping the rest of the original intact?"""

QUALITY_TEMPLATE = "How visually convincing is this edited image: natural, coherent and free of artifacts?"


class ValueHead(Protocol):
    """Value-head protocol (see module docstring)."""

    name = "valuehead"
    generative = False
    score_range = (-math.inf, math.inf)
    default_queries = "reward"
    reward_token = "<|Reward|>"
    calls = (
        Call("instruction", ("source", "edited"), INSTRUCTION_TEMPLATE, scores=("reward",)),
        Call("quality", ("edited",), QUALITY_TEMPLATE, scores=("reward",), needs_instruction=False),
    )

    def __init__(self, reward_token: str | None = None, quality_images: tuple[str, ...] | None = None):
        if reward_token is not None:
            if not reward_token.strip():
                raise ValueError("reward_token must be a non-empty string")
            self.reward_token = reward_token
        if quality_images is not None:
            roles = tuple(quality_images)
            if not roles or "edited" not in roles:
                raise ValueError(f"quality_images must include 'edited', got {quality_images!r}")
            self.calls = tuple(replace(c, images=roles) if c.name == "quality" else c for c in self.calls)

    def prompt(self, call: Call, instruction: str) -> str:
        """The template with ``{instruction}`` filled in, ending with :attr:`reward_token` (appended only when
        the template does not already contain it)."""
        text = super().prompt(call, instruction)
        return text if self.reward_token in call.template else text + self.reward_token

    def parse(self, text: str, call: Call) -> Parsed:
        """Not used for scores: returns ``ok=False`` with an error saying where scores come from."""
        return Parsed.failed(
            text if isinstance(text, str) else str(text),
            f"protocol {self.name!r} is not generative: call {call.name!r}'s score is the value head's output "
            f"at {self.reward_token!r}, not text to parse",
        )

    def combine(self, parsed: dict[str, Parsed]) -> tuple[float | None, list[str]]:
        """Mean of the calls' ``"reward"`` scores; None with the reason when one is missing or not finite."""
        values, errors = [], []
        for c in self.calls:
            p = parsed.get(c.name)
            r = p.scores.get("reward") if p is not None else None
            if r is None or not math.isfinite(r):
                errors.append(f"overall needs a finite reward from call {c.name!r}, got {r}")
            else:
                values.append(float(r))
        return (None, errors) if errors else (sum(values) / len(values), [])
