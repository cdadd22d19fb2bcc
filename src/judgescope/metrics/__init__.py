"""Metrics: turn a Trace into numbers (allocation, spread, grounding, sinks), summaries and a verdict.

Definitions are in ``docs/metrics.md``. Metric functions are pure and vectorised over leading dims (usually
``[layers, heads, queries]``); undefined values are NaN and carry a reason (:class:`MetricValue`). This
package never imports a model.
"""

from ._base import MetricValue
from .aggregate import resolve_band, summarize
from .allocation import balance, image_share, per_token_efficiency, source_share
from .compare import compare_paired
from .diagnose import Diagnosis, diagnose
from .grounding import auroc, coverage_on_grid, grounding_metrics, in_region, lift
from .rows import image_roles, row_metrics
from .sinks import Sinks, detect_sinks
from .spread import (
    concentration,
    correspondence,
    entropy,
    gini,
    normalized_entropy,
    resample_area,
    spread_metrics,
)
from .verdict import Decision, Thresholds, Verdict, decide

__all__ = [
    "Decision",
    "Diagnosis",
    "MetricValue",
    "Sinks",
    "Thresholds",
    "Verdict",
    "auroc",
    "balance",
    "compare_paired",
    "concentration",
    "correspondence",
    "coverage_on_grid",
    "decide",
    "detect_sinks",
    "diagnose",
    "entropy",
    "gini",
    "grounding_metrics",
    "image_roles",
    "image_share",
    "in_region",
    "lift",
    "normalized_entropy",
    "per_token_efficiency",
    "resample_area",
    "resolve_band",
    "row_metrics",
    "source_share",
    "spread_metrics",
    "summarize",
]
