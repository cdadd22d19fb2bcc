"""Property tests: ranges and invariances hold for arbitrary attention rows."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from judgescope.metrics import balance, correspondence, grounding_metrics, source_share, spread_metrics

FAST = settings(max_examples=60, deadline=None)
# zeros or values well above the "no attention" threshold (1e-30), so that scaling never crosses it
weights = arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.integers(2, 40)),
    elements=st.one_of(st.just(0.0), st.floats(1e-9, 1e3)),
)


def finite(t: torch.Tensor) -> torch.Tensor:
    return t[~torch.isnan(t)]


@FAST
@given(weights)
def test_spread_ranges(w):
    m = spread_metrics(w)
    n = w.shape[-1]
    assert bool(
        (finite(m["entropy_norm"].value) >= -1e-9).all()
        and (finite(m["entropy_norm"].value) <= 1 + 1e-9).all()
    )
    assert bool((finite(m["gini"].value) >= 0).all() and (finite(m["gini"].value) <= 1).all())
    assert bool((finite(m["concentration"].value) <= 1 + 1e-9).all())
    eff = finite(m["effective_tokens"].value)
    assert bool((eff >= 1 - 1e-9).all() and (eff <= n + 1e-6).all())
    assert torch.equal(torch.isnan(m["entropy"].value), torch.as_tensor(w.sum(-1) <= 1e-12))


@FAST
@given(arrays(np.float64, 6, elements=st.floats(0, 1e3)), arrays(np.float64, 6, elements=st.floats(0, 1e3)))
def test_shares_in_unit_interval(ms, me):
    s = finite(source_share(ms, me).value)
    b = finite(balance(ms, me).value)
    assert bool(((s >= 0) & (s <= 1)).all()) and bool(((b >= 0) & (b <= 1)).all())


@FAST
@given(
    arrays(np.float64, (3, 4, 5), elements=st.floats(0, 10)),
    arrays(np.float64, (3, 2, 3), elements=st.floats(0, 10)),
)
def test_correspondence_in_range(a, b):
    r = finite(correspondence(a, b).value)
    assert bool(((r >= -1) & (r <= 1)).all())


@FAST
@given(weights, st.floats(1e-3, 1e3), st.integers(0, 2**31 - 1))
def test_scaling_a_row_changes_no_normalized_metric(w, scale, seed):
    cov = np.random.default_rng(seed).random(w.shape[-1])
    a = {**spread_metrics(w), **grounding_metrics(w, cov)}
    b = {**spread_metrics(w * scale), **grounding_metrics(w * scale, cov)}
    for name in a:
        if name == "area":
            continue
        assert torch.allclose(a[name].value, b[name].value, rtol=1e-6, atol=1e-9, equal_nan=True), name


@FAST
@given(arrays(np.float64, (3, 30), elements=st.floats(0, 100)), st.integers(0, 2**31 - 1))
def test_permuting_tokens_inside_region_keeps_in_region(w, seed):
    gen = np.random.default_rng(seed)
    cov = (gen.random(30) < 0.4).astype(np.float64)
    inside = np.flatnonzero(cov == 1)
    perm = np.arange(30)
    perm[inside] = gen.permutation(inside)
    a = grounding_metrics(w, cov)
    b = grounding_metrics(w[:, perm], cov)
    for name in ("in_region", "lift", "auroc", "area"):
        assert torch.allclose(a[name].value, b[name].value, equal_nan=True), name


@FAST
@given(
    # values far from float32 underflow: there float32 rounding would create ties float64 does not have
    arrays(np.float32, (2, 25), elements=st.one_of(st.just(0.0), st.floats(2**-20, 1, width=32))),
    st.integers(0, 2**31 - 1),
)
def test_grounding_ranges_and_dtypes_agree(w, seed):
    cov = np.random.default_rng(seed).random(25)
    g32 = grounding_metrics(torch.as_tensor(w), cov)
    g64 = grounding_metrics(torch.as_tensor(w, dtype=torch.float64), cov)
    for name in ("pointing", "iou", "auroc"):
        v = finite(g32[name].value)
        assert bool(((v >= 0) & (v <= 1)).all()), name
        assert torch.allclose(g32[name].value, g64[name].value, atol=1e-6, equal_nan=True), name
