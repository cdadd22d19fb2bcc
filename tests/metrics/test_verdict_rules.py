"""Verdict rules: concentration on the edit region is grounding; a sink outside the images still dominates."""

from judgescope.metrics import decide

BASE = {"source_share": 0.4, "entropy_norm_src": 0.3, "entropy_norm_edit": 0.3, "concentration_src": 0.8,
        "concentration_edit": 0.8, "sink_share": 0.0, "sink_share_keys": 0.0, "lift_edit": 1.0}  # fmt: skip


def test_concentrated_and_ungrounded_is_collapse():
    v = decide(BASE)
    assert "spatial_collapse" in v and "ungrounded" in v


def test_concentrated_on_the_edit_region_is_not_collapse():
    v = decide({**BASE, "lift_edit": 8.0})
    assert "spatial_collapse" not in v and "ungrounded" not in v
    assert "grounded" in v.decisions["spatial_collapse"].evidence


def test_sink_outside_the_images_dominates():
    v = decide({**BASE, "sink_share": 0.0, "sink_share_keys": 0.87})
    assert "sink_domination" in v and "sink_share_keys" in v.decisions["sink_domination"].evidence
    assert "sink_domination" not in decide(BASE)
