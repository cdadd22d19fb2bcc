"""Behavioural probes of source neglect: the judge's score when the source is changed, hidden or moved.

See ``docs/behaviour.md``. :func:`probe_sample` runs the probes; :mod:`.readout` defines the logit score that
works on any generative judge; :mod:`.scoring` the knockout bias and the forward passes.
"""

from .probes import PROBES, SOURCE_PROBES, ProbeResult, ProbeScore, probe_images, probe_sample
from .readout import Readout, candidate_tokens, canonical_response, score_readout
from .scoring import KNOCKOUT_MODES, knockout_bias, knockout_rows, logit_score, reward_score

__all__ = [
    "KNOCKOUT_MODES",
    "PROBES",
    "SOURCE_PROBES",
    "ProbeResult",
    "ProbeScore",
    "Readout",
    "candidate_tokens",
    "canonical_response",
    "knockout_bias",
    "knockout_rows",
    "logit_score",
    "probe_images",
    "probe_sample",
    "reward_score",
    "score_readout",
]
