"""Known answers on synthetic traces."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from judgescope.metrics import correspondence, diagnose, grounding_metrics, resample_area, spread_metrics
from judgescope.probe.synthetic import one_hot_weights, synthetic_layout

sys.path.insert(0, str(Path(__file__).parent))
from metrics_helpers import GRIDS, key_weights, trace_from  # noqa: E402

N_SRC, N_EDIT = 24, 15


def test_uniform_over_all_keys():
    spans, n_keys = synthetic_layout(GRIDS)
    d = diagnose(trace_from(torch.ones(n_keys)))
    s = d.summary
    assert s["source_share"] == pytest.approx(N_SRC / (N_SRC + N_EDIT), abs=1e-6)
    assert s["image_share"] == pytest.approx((N_SRC + N_EDIT) / n_keys, abs=1e-6)
    assert s["balance"] == pytest.approx(1 - abs(2 * N_SRC / 39 - 1), abs=1e-6)
    for k in ("efficiency_src", "efficiency_edit", "efficiency_other"):
        assert s[k] == pytest.approx(1 / n_keys, rel=1e-5)
    for role, n in (("src", N_SRC), ("edit", N_EDIT)):
        assert s[f"entropy_{role}"] == pytest.approx(math.log(n), abs=1e-5)
        assert s[f"entropy_norm_{role}"] == pytest.approx(1.0, abs=1e-6)
        assert s[f"effective_tokens_{role}"] == pytest.approx(n, rel=1e-5)
        assert s[f"gini_{role}"] == pytest.approx(0.0, abs=1e-6)
        assert s[f"concentration_{role}"] == pytest.approx(math.ceil(0.05 * n) / n, abs=1e-6)
    assert s["entropy_gap"] == pytest.approx(math.log(N_SRC / N_EDIT), abs=1e-5)
    assert math.isnan(s["correspondence"]) and "constant" in d.reasons["correspondence"]
    assert s["sink_share"] == 0 and s["n_sinks"] == 0
    assert str(d.verdict).startswith("no failure mode")


def test_one_hot_on_edited_token():
    spans, n_keys = synthetic_layout(GRIDS)
    d = diagnose(trace_from(one_hot_weights(n_keys, spans[1].positions[7])))
    s = d.summary
    assert s["entropy_edit"] == pytest.approx(0.0, abs=1e-9)
    assert s["entropy_norm_edit"] == pytest.approx(0.0, abs=1e-9)
    assert s["effective_tokens_edit"] == pytest.approx(1.0)
    assert s["concentration_edit"] == pytest.approx(1.0)
    assert s["gini_edit"] == pytest.approx((N_EDIT - 1) / N_EDIT, abs=1e-6)
    assert s["source_share"] == 0.0 and s["balance"] == 0.0 and s["image_share"] == pytest.approx(1.0)
    assert math.isnan(s["entropy_src"]) and "no attention on the image" in d.reasons["entropy_src"]
    assert {"source_neglect", "spatial_collapse"} <= set(d.verdict.failures)


def test_all_mass_on_source():
    d = diagnose(trace_from(key_weights(source=np.ones(N_SRC))))
    assert d.summary["source_share"] == 1.0
    assert d.summary["balance"] == 0.0
    assert "source_neglect" not in d.verdict


def test_map_equal_to_mask_grounds_perfectly():
    cov = np.zeros((3, 5))
    cov[1:, 2:4] = 1.0
    t = trace_from(key_weights(source=np.ones(N_SRC), edited=cov))
    d = diagnose(t, regions={"edited": cov})
    s = d.summary
    assert s["in_region_edit"] == pytest.approx(1.0)
    assert s["area_edit"] == pytest.approx(cov.mean())
    assert s["lift_edit"] == pytest.approx(1 / cov.mean(), rel=1e-6)
    assert s["pointing_edit"] == 1.0 and s["iou_edit"] == 1.0 and s["auroc_edit"] == 1.0
    assert "ungrounded" not in d.verdict.failures
    assert math.isnan(s["lift_src"]) and "no region given" in d.reasons["lift_src"]


def test_uniform_map_is_chance_level_grounding():
    cov = np.zeros((3, 5))
    cov[0, :2] = 1.0
    g = grounding_metrics(torch.ones(4, 15), cov)
    assert torch.allclose(g["lift"].value, torch.ones(4, dtype=torch.float64))
    assert torch.allclose(g["auroc"].value, torch.full((4,), 0.5, dtype=torch.float64))
    # all 15 tokens tie for the maximum: the hit is the share of label tokens among them
    assert torch.allclose(g["pointing"].value, torch.full((4,), 2 / 15, dtype=torch.float64))
    # top-2 of a uniform map: each token holds 2/15 of a slot; expected intersection 4/15
    inter = 4 / 15
    assert torch.allclose(g["iou"].value, torch.full((4,), inter / (4 - inter), dtype=torch.float64))


def test_grounding_matches_brute_force_with_ties_and_dropped_tokens():
    gen = np.random.default_rng(3)
    w = gen.integers(0, 4, size=(50, 12)).astype(np.float32) + 0.0  # many ties, some zeros
    w[:, 0] += 1
    cov = gen.random(12)
    keep = np.ones((50, 12), dtype=bool)
    keep[::3, 5] = False
    for dtype in (np.float32, np.float64):
        g = grounding_metrics(torch.as_tensor(w.astype(dtype)), cov, keep=torch.as_tensor(keep))
        for i in range(50):
            k = keep[i]
            p = w[i][k] / w[i][k].sum()
            lab = cov[k] >= 0.5
            pos, neg = p[lab], p[~lab]
            want = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (
                len(pos) * len(neg)
            )
            assert g["auroc"].value[i].item() == pytest.approx(want, abs=1e-9)
            assert g["in_region"].value[i].item() == pytest.approx((p * cov[k]).sum(), rel=1e-6)
            assert g["area"].value[i].item() == pytest.approx(cov[k].mean())
            top = p == p.max()
            assert g["pointing"].value[i].item() == pytest.approx(lab[top].mean())
            # IoU with fractional ties, by enumeration of the tie group's slots
            kk = lab.sum()
            vk = np.sort(p)[::-1][kk - 1]
            above, tied = p > vk, p == vk
            inter = (above & lab).sum() + (kk - above.sum()) / tied.sum() * (tied & lab).sum()
            assert g["iou"].value[i].item() == pytest.approx(inter / (2 * kk - inter), abs=1e-9)


def test_spread_matches_brute_force_with_dropped_tokens():
    gen = np.random.default_rng(0)
    w = gen.random((40, 30)).astype(np.float32) ** 4
    keep = np.ones((40, 30), dtype=bool)
    keep[1::2, :4] = False
    m = spread_metrics(torch.as_tensor(w), keep=torch.as_tensor(keep), top_fraction=0.1)
    for i in range(40):
        p = w[i][keep[i]].astype(np.float64)
        p /= p.sum()
        n = len(p)
        h = -(p * np.log(p)).sum()
        assert m["entropy"].value[i].item() == pytest.approx(h, rel=1e-5)
        assert m["entropy_norm"].value[i].item() == pytest.approx(h / math.log(n), rel=1e-5)
        k = max(1, math.ceil(0.1 * n))
        assert m["concentration"].value[i].item() == pytest.approx(np.sort(p)[::-1][:k].sum(), rel=1e-5)
        gini = np.abs(p[:, None] - p[None]).sum() / (2 * n * p.sum())
        assert m["gini"].value[i].item() == pytest.approx(gini, abs=1e-5)


def test_concentration_rounds_up_and_takes_at_least_one_token():
    p = torch.tensor([[4.0, 3, 2, 1]])
    assert spread_metrics(p)["concentration"].value.item() == pytest.approx(0.4)  # k = max(1, ceil(0.2))
    p = torch.arange(1.0, 42.0).flip(0).unsqueeze(0)  # N = 41: k = ceil(2.05) = 3
    want = (41 + 40 + 39) / p.sum().item()
    assert spread_metrics(p)["concentration"].value.item() == pytest.approx(want)


def test_resample_area_is_exact():
    x = torch.arange(16.0).reshape(4, 4)
    assert torch.allclose(
        resample_area(x.double(), (2, 2)), torch.tensor([[2.5, 4.5], [10.5, 12.5]], dtype=torch.float64)
    )
    y = resample_area(
        torch.tensor([[0.0, 3.0, 6.0]], dtype=torch.float64), (1, 2)
    )  # cells [0,1/2) and [1/2,1) over 3 inputs
    assert torch.allclose(y, torch.tensor([[(0 * 2 + 3 * 1) / 3, (3 * 1 + 6 * 2) / 3]], dtype=torch.float64))
    z = torch.rand(7, 9, dtype=torch.float64)
    assert resample_area(z, (3, 4)).mean().item() == pytest.approx(z.mean().item())
    assert torch.allclose(resample_area(torch.ones(5, 7), (2, 3)), torch.ones(2, 3))
    assert resample_area(torch.ones(5, 7), (2, 3)).dtype == torch.float32


def test_correspondence_across_grids():
    coarse = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]])
    fine = coarse.repeat_interleave(2, 0).repeat_interleave(2, 1)  # same picture on a 4x6 grid
    assert correspondence(coarse, fine).value.item() == pytest.approx(1.0)
    assert correspondence(fine, coarse).value.item() == pytest.approx(1.0)
    assert correspondence(coarse, 10 - coarse).value.item() == pytest.approx(-1.0)
    batch = correspondence(torch.rand(2, 3, 4, 6), torch.rand(2, 3, 2, 3))
    assert batch.value.shape == (2, 3) and bool((batch.value.abs() <= 1).all())


def test_planted_sinks_are_found_exactly():
    spans, n_keys = synthetic_layout(GRIDS)
    w = key_weights(source=np.ones(N_SRC), edited=np.ones(N_EDIT), other=1.0)
    border = [spans[1].positions[i] for i in (0, 5, 14)]  # top-left, left edge, bottom-right of the 3x5 grid
    w[0] = 200.0
    w[border] = 40.0
    t = trace_from(w)
    d = diagnose(t)
    assert d.sinks.positions == (0, *border)
    assert set(d.sinks.table["group"]) == {"other", "edited"}
    img = N_SRC + 12 + 3 * 40.0
    assert d.summary["sink_share"] == pytest.approx(120 / img, rel=1e-5)
    # without sinks the edited image is uniform over its 12 remaining tokens
    assert d.summary["entropy_edit_nosink"] == pytest.approx(math.log(12), abs=1e-5)
    assert d.summary["entropy_norm_edit_nosink"] == pytest.approx(1.0, abs=1e-6)
    assert d.summary["source_share_nosink"] == pytest.approx(24 / 36, abs=1e-6)
    assert d.summary["entropy_norm_edit"] < 0.9
    assert "sink_domination" in d.verdict.failures
    # per-layer mode finds the same keys in every layer
    per_layer = diagnose(t, sink_mode="layer").sinks
    assert per_layer.positions == (0, *border) and len(per_layer.table) == 4 * t.num_layers


def test_sinks_from_hidden_state_norms():
    spans, n_keys = synthetic_layout(GRIDS)
    norms = np.ones(n_keys)
    norms[spans[0].positions[3]] = 50.0
    t = trace_from(torch.ones(n_keys))
    t.meta["hidden_norms"] = norms.tolist()
    d = diagnose(t)
    assert d.sinks.positions == (spans[0].positions[3],)
    assert list(d.sinks.table["by"]) == ["norm"]
    assert d.summary["entropy_norm_src_nosink"] == pytest.approx(1.0, abs=1e-6)


def test_more_than_two_images_and_roles():
    grids = ((2, 2), (2, 3), (3, 3))
    spans, n_keys = synthetic_layout(grids, names=("ref", "source", "edited"))
    t = trace_from(torch.ones(n_keys), grids=grids, names=("ref", "source", "edited"))
    s = diagnose(t).summary
    assert s["source_share"] == pytest.approx(6 / 15, abs=1e-6)  # the named images, not index 0/1
    assert s["image_share"] == pytest.approx(19 / n_keys, abs=1e-6)  # every image counts here
    t2 = trace_from(torch.ones(n_keys), grids=grids, names=("a", "b", "c"))
    assert diagnose(t2).summary["source_share"] == pytest.approx(4 / 10, abs=1e-6)  # index 0 and 1
