"""Tables of a run folder, rebuilt from its per-sample records: metrics.csv, per_layer.csv, summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .runner import SUMMARY_METRICS, _json_safe, safe_name, write_atomic

BASE_COLUMNS = ["sample_id", "judge", "protocol", "planted", "status", "score", "error", "label", "region_source",
                "query_fallback"]  # fmt: skip
# Columns added by probes and attribution, summarised and compared when present.
BEYOND_COLUMNS = ["source_sensitivity", "order_sensitivity", "probe_knockout_delta", "probe_identical_delta",
                  "attr_source_share", "attr_lift_edit", "agree_spearman", "agree_topk_overlap"]  # fmt: skip
PAPER_TABLE = [  # (paper's name, our column, better)
    ("entropy difference |dH| (nats)", "entropy_gap", "lower"),
    ("source entropy H_src (nats)", "entropy_src", "higher"),
    ("concentration, top 5 % (edited)", "concentration_edit", "lower"),
    ("correspondence (consistency)", "correspondence", "higher"),
]


def load_records(out: Path) -> list[dict]:
    """Per-sample records in manifest order (then any others, sorted by id)."""
    out = Path(out)
    order = json.loads((out / "order.json").read_text()) if (out / "order.json").exists() else []
    recs = {}
    for p in sorted((out / "samples").glob("*.json")):
        rec = json.loads(p.read_text())
        recs[rec["sample_id"]] = rec
    ordered = [recs.pop(i) for i in order if i in recs]
    return ordered + [recs[k] for k in sorted(recs)]


def metrics_frame(records: list[dict]) -> pd.DataFrame:
    """One row per sample with the stable columns (see docs/report.md)."""
    rows = []
    for r in records:
        row = {k: r.get(k) for k in BASE_COLUMNS}
        for name, value in (r.get("scores") or {}).items():
            row[f"score.{name}"] = value
        summary = r.get("summary") or {}
        for m in SUMMARY_METRICS:
            row[m] = summary.get(m)
        row["verdict"] = r.get("verdict", "")
        for m, v in (r.get("extra") or {}).items():
            row[m] = v
        for m, v in summary.items():
            if m not in row:
                row[m] = v
        rows.append(row)
    df = pd.DataFrame(rows)
    for m in (*SUMMARY_METRICS, *BEYOND_COLUMNS):
        if m in df:
            df[m] = pd.to_numeric(df[m], errors="coerce")
    return df


def bootstrap_ci(
    values, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float, int]:
    """``(mean, ci_low, ci_high, n)`` of the finite values, percentile bootstrap; NaNs when fewer than 2."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan"), 0
    if len(v) < 2:
        return float(v.mean()), float("nan"), float("nan"), len(v)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return float(v.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a)), len(v)


def build_tables(out: Path) -> dict:
    """Write metrics.csv, per_layer.csv, summary.json and report.html; return the summary."""
    from .html import write_report

    out = Path(out)
    records = load_records(out)
    df = metrics_frame(records)
    tmp = out / ".metrics.csv.tmp"
    df.to_csv(tmp, index=False)
    tmp.replace(out / "metrics.csv")
    layer_rows = [{"sample_id": r["sample_id"], **row} for r in records if r.get("status") == "ok"
                  for row in r.get("per_layer", [])]  # fmt: skip
    tmp = out / ".per_layer.csv.tmp"
    pd.DataFrame(layer_rows).to_csv(tmp, index=False)
    tmp.replace(out / "per_layer.csv")
    ok = df[df["status"] == "ok"] if len(df) else df
    run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    summary = {
        "judge": run.get("judge"),
        "protocol": run.get("protocol"),
        "planted": run.get("planted"),
        "tiny": run.get("tiny"),
        "n_samples": len(df),
        "n_ok": int(len(ok)),
        "n_failed": int((df["status"] == "failed").sum()) if len(df) else 0,
        "metrics": {},
        "verdicts": {},
        "failures": [
            {"sample_id": r["sample_id"], "line": r.get("line"), "error": r.get("error")}
            for r in records
            if r.get("status") == "failed"
        ],  # fmt: skip
    }
    for m in (*SUMMARY_METRICS, *BEYOND_COLUMNS):
        if m in ok:
            mean, lo, hi, n = bootstrap_ci(ok[m].tolist())
            summary["metrics"][m] = {"mean": mean, "ci_low": lo, "ci_high": hi, "n": n}
    for r in records:
        for mode in r.get("failures", []) or []:
            summary["verdicts"][mode] = summary["verdicts"].get(mode, 0) + 1
    summary["paper_table"] = [{"metric": name, "column": col, "better": better, **summary["metrics"].get(col, {})}
                              for name, col, better in PAPER_TABLE]  # fmt: skip
    write_atomic(out / "summary.json", json.dumps(_json_safe(summary), indent=2))
    write_report(out, records, df, summary)
    return summary


def overlay_path(out: Path, sample_id: str) -> Path:
    return Path(out) / "overlays" / f"{safe_name(sample_id)}.png"
