"""Paired comparison of two judges measured on the same samples, with bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

COMPARE_COLUMNS = [
    "metric",
    "n",
    "n_dropped",
    "mean_a",
    "mean_b",
    "mean_diff",
    "ci_low",
    "ci_high",
    "excludes_zero",
    "reason",
]


def compare_paired(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metrics=None,
    on: str = "sample_id",
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Compare judge B with judge A metric by metric over the samples both measured.

    Args:
        a, b: one row per sample, a column ``on`` and one numeric column per metric (e.g. ``Diagnosis.summary``
            rows with the sample id added).
        metrics: metric columns to compare; default every numeric column present in both.
        on: the sample key; samples present in only one frame are ignored, duplicates are an error.
        n_boot: bootstrap resamples of the paired samples.
        seed: seed of the bootstrap (results are reproducible).
        level: confidence level of the percentile interval.

    Returns:
        One row per metric: ``n`` (pairs with both values defined), ``n_dropped`` (matched pairs dropped for a
        NaN on either side), ``mean_a``, ``mean_b``, ``mean_diff`` = mean(b - a), the percentile bootstrap CI
        ``ci_low``/``ci_high`` of the mean difference, ``excludes_zero`` (CI entirely above or below 0) and a
        ``reason`` when the CI is undefined (fewer than 2 pairs).
    """
    for name, df in (("a", a), ("b", b)):
        if on not in df.columns:
            raise KeyError(f"frame {name} has no column {on!r}")
        if df[on].duplicated().any():
            raise ValueError(
                f"frame {name} repeats samples in {on!r}: {list(df[on][df[on].duplicated()][:5])}"
            )
    if metrics is None:
        num_a = set(a.select_dtypes("number").columns)
        metrics = [c for c in b.select_dtypes("number").columns if c in num_a and c != on]
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [m for m in metrics if m not in a.columns or m not in b.columns]
    if missing:
        raise KeyError(f"metrics {missing} are not columns of both frames")
    merged = a[[on, *metrics]].merge(b[[on, *metrics]], on=on, suffixes=("_a", "_b"))
    alpha = (1 - level) / 2
    out = []
    for m in metrics:
        va = merged[f"{m}_a"].to_numpy(dtype=np.float64)
        vb = merged[f"{m}_b"].to_numpy(dtype=np.float64)
        ok = ~(np.isnan(va) | np.isnan(vb))
        va, vb = va[ok], vb[ok]
        n = len(va)
        row = {"metric": m, "n": n, "n_dropped": int((~ok).sum())}
        row.update(mean_a=np.nan, mean_b=np.nan, mean_diff=np.nan, ci_low=np.nan, ci_high=np.nan)
        row.update(excludes_zero=False, reason="")
        if n == 0:
            row["reason"] = "no pair with both values defined"
        else:
            d = vb - va
            row.update(mean_a=va.mean(), mean_b=vb.mean(), mean_diff=d.mean())
            if n < 2:
                row["reason"] = "fewer than 2 pairs: no confidence interval"
            else:
                rng = np.random.default_rng(seed)  # per metric: results do not depend on the metric list
                boot = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
                lo, hi = np.quantile(boot, [alpha, 1 - alpha])
                row.update(ci_low=lo, ci_high=hi, excludes_zero=bool(lo > 0 or hi < 0))
        out.append(row)
    return pd.DataFrame(out, columns=COMPARE_COLUMNS)
