"""Judges: model families, protocols (prompts and parsers), and the Judge that runs them."""

from .boxes import Box, box_to_pixels, default_box_convention, parse_box_tokens
from .families import FAMILIES, family_of, text_attention_modules
from .judge import CallResult, GenerationSettings, Judge, JudgeOutput, load_judge
from .protocols import Call, Parsed, Protocol, RawBox, get_protocol, list_protocols, register_protocol

__all__ = [
    "FAMILIES",
    "Box",
    "Call",
    "CallResult",
    "GenerationSettings",
    "Judge",
    "JudgeOutput",
    "Parsed",
    "Protocol",
    "RawBox",
    "box_to_pixels",
    "default_box_convention",
    "family_of",
    "get_protocol",
    "list_protocols",
    "load_judge",
    "parse_box_tokens",
    "register_protocol",
    "text_attention_modules",
]
