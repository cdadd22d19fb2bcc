"""Paired comparison of two judges with bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from judgescope.metrics import compare_paired


def frames(n=60, shift=0.0, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(n)]
    base = rng.random(n)
    a = pd.DataFrame({"sample_id": ids, "source_share": base, "lift_edit": base * 2})
    b = pd.DataFrame(
        {"sample_id": ids, "source_share": base + shift + rng.normal(0, noise, n), "lift_edit": base * 2}
    )
    return a, b


def test_clear_difference_excludes_zero():
    a, b = frames(shift=0.2)
    out = compare_paired(a, b, metrics=["source_share"]).set_index("metric")
    row = out.loc["source_share"]
    assert row["n"] == 60 and row["n_dropped"] == 0
    assert row["mean_diff"] == pytest.approx(row["mean_b"] - row["mean_a"])
    assert row["ci_low"] < row["mean_diff"] < row["ci_high"]
    assert row["ci_low"] > 0.1 and bool(row["excludes_zero"])


def test_no_difference_contains_zero_and_is_reproducible():
    a, b = frames(shift=0.0, seed=1)
    out1, out2 = compare_paired(a, b), compare_paired(a, b)
    pd.testing.assert_frame_equal(out1, out2)
    row = out1.set_index("metric").loc["source_share"]
    assert row["ci_low"] < 0 < row["ci_high"] and not row["excludes_zero"]
    same = out1.set_index("metric").loc["lift_edit"]  # identical values: zero-width interval at 0
    assert same["mean_diff"] == 0 and same["ci_low"] == 0 and not same["excludes_zero"]
    assert compare_paired(a, b, seed=5).set_index("metric").loc["source_share", "ci_low"] != row["ci_low"]


def test_nans_dropped_pairwise_and_unmatched_samples_ignored():
    a, b = frames(n=10, shift=1.0, noise=0.0)
    a.loc[2, "source_share"] = np.nan
    b.loc[5, "source_share"] = np.nan
    b = b.drop(index=9)
    row = compare_paired(a, b, metrics="source_share").iloc[0]
    assert row["n"] == 7 and row["n_dropped"] == 2
    assert row["mean_diff"] == pytest.approx(1.0)
    assert row["ci_low"] == pytest.approx(1.0) and row["ci_high"] == pytest.approx(1.0)


def test_degenerate_inputs():
    a = pd.DataFrame({"sample_id": ["x"], "m": [1.0]})
    b = pd.DataFrame({"sample_id": ["x"], "m": [2.0]})
    row = compare_paired(a, b).iloc[0]
    assert row["mean_diff"] == 1.0 and np.isnan(row["ci_low"]) and "fewer than 2" in row["reason"]
    row = compare_paired(a, b.assign(m=np.nan)).iloc[0]
    assert row["n"] == 0 and np.isnan(row["mean_diff"]) and row["reason"]
    with pytest.raises(ValueError, match="repeats"):
        compare_paired(pd.concat([a, a]), b)
    with pytest.raises(KeyError):
        compare_paired(a, b, metrics=["nope"])
