"""Attribution: which input tokens a judge's score depends on, as Traces every metric and plot can read.

See ``docs/attribution.md``. :func:`attribute` computes input-x-gradient or integrated gradients (captum) of
the score with respect to the decoder's merged input embeddings; :func:`agreement` compares an attribution
trace with an attention trace of the same call.
"""

from .agreement import agreement, agreement_with_reasons, spearman
from .attribute import EMBEDDING_LAYER, METHODS, attribute
from .embeds import DecoderCall, decoder_call

__all__ = [
    "EMBEDDING_LAYER",
    "METHODS",
    "DecoderCall",
    "agreement",
    "agreement_with_reasons",
    "attribute",
    "decoder_call",
    "spearman",
]
