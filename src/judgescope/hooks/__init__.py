"""Capture attention inside a model's forward pass, exactly, for the query rows that matter."""

from .capture import AttentionCapture, attention_rows, capture_attention, combine_biases

__all__ = ["AttentionCapture", "attention_rows", "capture_attention", "combine_biases"]
