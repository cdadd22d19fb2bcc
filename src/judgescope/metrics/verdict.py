"""Verdicts: which failure modes hold for one diagnosis, and which thresholds decided them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thresholds:
    """Parameters of the verdict; the defaults are judgescope's documented starting points.

    Attributes:
        source_share: source_neglect when source_share < this (0.5 = balanced; 0.2 = the source gets less
            than a quarter of what the edited image gets).
        entropy_norm: spatial_collapse when the normalized entropy of either image is below this ...
        concentration: ... or when the top 5 % of either image's tokens hold more than this; in both cases
            only when the attention is not grounded (lift_edit below ``lift`` or undefined): attention
            concentrated on the edit region is what a good judge does, not collapse.
        sink_share: sink_domination when sinks take more than this share of all image attention, or of all
            attention (``sink_share_keys``: a first-token sink can starve the images without taking image
            attention).
        lift: ungrounded when lift_edit (edit-region attention / region area) is below this.
    """

    source_share: float = 0.2
    entropy_norm: float = 0.5
    concentration: float = 0.5
    sink_share: float = 0.5
    lift: float = 1.5


@dataclass(frozen=True)
class Decision:
    """One failure mode: ``holds`` is True/False, or None when its metrics are undefined (NaN)."""

    mode: str
    holds: bool | None
    evidence: str


@dataclass(frozen=True)
class Verdict:
    """The failure modes of one diagnosis. ``str()`` gives one line."""

    decisions: dict[str, Decision] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def failures(self) -> list[str]:
        """Names of the failure modes that hold."""
        return [d.mode for d in self.decisions.values() if d.holds]

    @property
    def undetermined(self) -> list[str]:
        return [d.mode for d in self.decisions.values() if d.holds is None]

    def __contains__(self, mode: str) -> bool:
        return mode in self.failures

    def __str__(self) -> str:
        held = [f"{d.mode} ({d.evidence})" for d in self.decisions.values() if d.holds]
        text = "; ".join(held) if held else "no failure mode"
        if self.undetermined:
            text += f" | undetermined: {', '.join(self.undetermined)}"
        return text


def _cmp(name: str, value: float, op: str, limit: float) -> tuple[bool | None, str]:
    if value is None or math.isnan(value):
        return None, f"{name} undefined"
    holds = value < limit if op == "<" else value > limit
    return holds, f"{name}={value:.3g} {op if holds else ('>=' if op == '<' else '<=')} {limit:g}"


def decide(summary: dict[str, float], thresholds: Thresholds | None = None) -> Verdict:
    """Apply ``thresholds`` to band summary values (keys as in :func:`judgescope.metrics.diagnose`)."""
    t = thresholds or Thresholds()
    get = summary.get
    decisions = {}
    holds, ev = _cmp("source_share", get("source_share"), "<", t.source_share)
    decisions["source_neglect"] = Decision("source_neglect", holds, ev)

    checks = [
        _cmp(f"entropy_norm_{r}", get(f"entropy_norm_{r}"), "<", t.entropy_norm) for r in ("src", "edit")
    ]
    checks += [
        _cmp(f"concentration_{r}", get(f"concentration_{r}"), ">", t.concentration) for r in ("src", "edit")
    ]
    hit = [e for h, e in checks if h]
    grounded, lift_ev = _cmp("lift_edit", get("lift_edit"), "<", t.lift)
    if hit and grounded is False:  # concentrated, but on the edit region
        decisions["spatial_collapse"] = Decision(
            "spatial_collapse", False, f"{', '.join(hit)}, but grounded: {lift_ev}"
        )
    elif hit:
        decisions["spatial_collapse"] = Decision("spatial_collapse", True, ", ".join(hit))
    elif all(h is None for h, _ in checks):
        decisions["spatial_collapse"] = Decision("spatial_collapse", None, "spread metrics undefined")
    else:
        decisions["spatial_collapse"] = Decision(
            "spatial_collapse", False, ", ".join(e for h, e in checks if h is not None)
        )

    holds, ev = _cmp("sink_share", get("sink_share"), ">", t.sink_share)
    holds_k, ev_k = _cmp("sink_share_keys", get("sink_share_keys"), ">", t.sink_share)
    if holds_k and not holds:
        holds, ev = True, ev_k
    elif holds is None and holds_k is not None:
        holds, ev = holds_k, ev_k
    decisions["sink_domination"] = Decision("sink_domination", holds, ev)
    holds, ev = _cmp("lift_edit", get("lift_edit"), "<", t.lift)
    decisions["ungrounded"] = Decision("ungrounded", holds, ev)
    return Verdict(decisions, t)
