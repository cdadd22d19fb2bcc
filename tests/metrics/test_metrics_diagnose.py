"""diagnose: table layout, summaries per layer and band, regions by duck typing, verdicts."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from judgescope.metrics import Thresholds, decide, diagnose
from judgescope.probe.synthetic import synthetic_layout

sys.path.insert(0, str(Path(__file__).parent))
from metrics_helpers import GRIDS, key_weights, trace_from  # noqa: E402

SUMMARY_KEYS = {
    "source_share", "image_share", "balance", "entropy_src", "entropy_edit", "entropy_norm_src",
    "entropy_norm_edit", "entropy_gap", "concentration_src", "concentration_edit", "gini_src", "gini_edit",
    "effective_tokens_src", "effective_tokens_edit", "correspondence", "sink_share", "in_region_edit",
    "lift_edit", "lift_src", "pointing_edit", "iou_edit", "auroc_edit", "in_region_src",
    "source_share_nosink", "entropy_src_nosink", "lift_edit_nosink", "n_sinks",
}  # fmt: skip


class BoxRegion:
    """Stands in for the regions room's Region: anything with ``on_grid(geometry)``."""

    def __init__(self, box):
        self.box = box

    def on_grid(self, geometry):
        rows, cols = geometry.grid
        c = np.zeros((rows, cols))
        r0, r1, c0, c1 = self.box
        c[r0:r1, c0:c1] = 1.0
        return c


def layered_trace():
    """4 layers: source share 0.5 in layers 0-1 and 0.1 in layers 2-3 (uniform inside each image)."""
    _, n_keys = synthetic_layout(GRIDS)
    rows = []
    for s in (0.5, 0.5, 0.1, 0.1):
        rows.append(key_weights(source=np.full(24, s / 24), edited=np.full(15, (1 - s) / 15)))
    w = torch.stack(rows)[:, None, None, :].expand(4, 2, 3, n_keys)
    return trace_from(w.contiguous())


def test_summary_keys_table_and_per_layer():
    d = diagnose(layered_trace())
    assert SUMMARY_KEYS <= set(d.summary)
    assert list(d.table.columns) == ["metric", "scope", "layer", "value", "n", "n_rows", "reason"]
    assert set(d.table["scope"]) == {"layer", "band"}
    per = d.table.query("metric == 'source_share' and scope == 'layer'")
    assert per["value"].tolist() == pytest.approx([0.5, 0.5, 0.1, 0.1])
    assert list(d.per_layer.index) == [0, 1, 2, 3] and d.per_layer.loc[2, "source_share"] == pytest.approx(
        0.1
    )
    assert d.summary["source_share"] == pytest.approx(0.3)
    assert d.band == (0, 1, 2, 3)
    assert bool(d.table.query("scope == 'band'")["layer"].isna().all())
    assert isinstance(d.per_layer, pd.DataFrame) and "sink_share" in d.per_layer


def test_band_selection():
    t = layered_trace()
    assert diagnose(t, band=[2, 3]).summary["source_share"] == pytest.approx(0.1)
    assert diagnose(t, band=slice(0, 2)).summary["source_share"] == pytest.approx(0.5)
    assert diagnose(t, band=slice(None, None, 2)).band == (0, 2)
    d = diagnose(t, band=range(1, 3))
    assert d.band == (1, 2) and d.summary["source_share"] == pytest.approx(0.3)
    assert "source_neglect" in diagnose(t, band=[2, 3]).verdict.failures
    assert "source_neglect" not in diagnose(t, band=[0, 1]).verdict.failures


def test_regions_by_duck_typing_and_role_names():
    cov = BoxRegion((1, 3, 2, 4))
    t = trace_from(key_weights(source=np.ones(24), edited=cov.on_grid(type("G", (), {"grid": (3, 5)}))))
    a = diagnose(t, regions={"edited": cov, "source": BoxRegion((0, 2, 0, 3))})
    b = diagnose(t, regions={"edit": cov.on_grid(t.images[1].geometry)})
    assert a.summary["lift_edit"] == pytest.approx(1 / cov.on_grid(t.images[1].geometry).mean())
    assert a.summary["lift_edit"] == pytest.approx(b.summary["lift_edit"])
    assert a.summary["lift_src"] == pytest.approx(1.0)  # uniform source attention
    assert math.isnan(b.summary["lift_src"])


def test_verdict_names_each_failure_mode_with_its_threshold():
    spans, n_keys = synthetic_layout(GRIDS)
    cov = np.zeros((3, 5))
    cov[0, 0] = 1.0
    edited = np.ones(15)
    edited[14] = 400.0  # a sink far from the region, on the border
    w = key_weights(source=np.full(24, 0.05), edited=edited, other=1.0)
    d = diagnose(trace_from(w), regions={"edited": cov})
    v = d.verdict
    assert set(v.failures) == {"source_neglect", "spatial_collapse", "sink_domination", "ungrounded"}
    line = str(v)
    assert "\n" not in line and "source_share=" in line and "< 0.2" in line and "sink_share=" in line
    assert v.decisions["ungrounded"].evidence.startswith("lift_edit=")
    # without the sink the region is still ignored, but attention is no longer collapsed
    assert d.summary["entropy_norm_edit_nosink"] == pytest.approx(1.0, abs=1e-6)
    # thresholds are parameters
    lenient = diagnose(
        trace_from(w), regions={"edited": cov}, thresholds={"source_share": 0.001, "lift": 0.0}
    )
    assert "source_neglect" not in lenient.verdict and "ungrounded" not in lenient.verdict


def test_decide_undetermined_and_clean():
    v = decide({"source_share": float("nan")}, Thresholds())
    assert v.failures == [] and set(v.undetermined) == {
        "source_neglect",
        "spatial_collapse",
        "sink_domination",
        "ungrounded",
    }
    clean = {"source_share": 0.45, "entropy_norm_src": 0.9, "entropy_norm_edit": 0.9, "sink_share": 0.1}
    clean |= {"concentration_src": 0.1, "concentration_edit": 0.1, "lift_edit": 3.0}
    assert str(decide(clean)) == "no failure mode"


def test_undefined_rows_are_skipped_in_means():
    _, n_keys = synthetic_layout(GRIDS)
    w = key_weights(source=np.ones(24), edited=np.ones(15)).repeat(1, 2, 3, 1)
    w[0, 0, 0] = key_weights(other=1.0)  # one row looks at no image
    d = diagnose(trace_from(w.contiguous()))
    assert d.summary["entropy_norm_src"] == pytest.approx(1.0, abs=1e-6)
    assert d.reasons["entropy_norm_src"] == "no attention on the image (1/6 rows)"
    assert d.rows["entropy_src"].value.shape == (1, 2, 3)
