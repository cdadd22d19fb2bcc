"""``judgescope compare``: paired comparison of run folders on their shared sample ids."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .html import CSS, file_to_data_uri, fmt
from .runner import SUMMARY_METRICS, _json_safe, write_atomic
from .tables import BEYOND_COLUMNS, load_records, metrics_frame, overlay_path

# For each metric: does a higher value mean less collapse? (None: neither direction is "better".)
LESS_COLLAPSE_IF_HIGHER = {
    "source_share": True, "balance": True, "entropy_src": True, "entropy_edit": True, "entropy_norm_src": True,
    "entropy_norm_edit": True, "entropy_gap": False, "concentration_src": False, "concentration_edit": False,
    "correspondence": True, "sink_share": False, "lift_edit": True, "lift_src": True, "in_region_edit": True,
    "pointing_edit": True, "iou_edit": True, "auroc_edit": True, "image_share": None,
    "source_sensitivity": True, "attr_source_share": True, "attr_lift_edit": True,
}  # fmt: skip


def _label(run: Path) -> str:
    info = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    name = str(info.get("judge") or run.name).rstrip("/").split("/")[-1]
    planted = (info.get("planted") or {}).get("variant") if info.get("planted") else None
    return f"{name}+{planted}" if planted and not name.endswith(planted) else name


def _human_agreement(df: pd.DataFrame) -> dict:
    """Spearman correlation of each metric with the human label over samples that have one."""
    if "label" not in df:
        return {}
    lab = pd.to_numeric(df["label"], errors="coerce")
    out = {}
    for m in ("score", *SUMMARY_METRICS):
        if m in df and lab.notna().sum() >= 3:
            x = pd.to_numeric(df[m], errors="coerce")
            ok = lab.notna() & x.notna()
            if ok.sum() >= 3 and x[ok].nunique() > 1 and lab[ok].nunique() > 1:
                out[m] = float(x[ok].rank().corr(lab[ok].rank()))
    return out


def compare_runs(runs, out, metrics=None, n_boot: int = 2000, seed: int = 0) -> Path:
    """Compare every run with the first one (the reference); writes comparison.csv/.json/.html into ``out``.

    Returns the HTML path. Differences are ``other - reference`` per sample, with percentile-bootstrap 95 % CIs.
    """
    from ..metrics import compare_paired

    runs = [Path(r) for r in runs]
    if len(runs) < 2:
        raise ValueError("compare needs at least two run folders")
    for r in runs:
        if not (r / "samples").is_dir():
            raise FileNotFoundError(f"{r} is not a judgescope run folder (no samples/)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = [metrics_frame(load_records(r)) for r in runs]
    frames = [f[f["status"] == "ok"] for f in frames]
    labels = [_label(r) for r in runs]
    wanted = [*SUMMARY_METRICS, *BEYOND_COLUMNS]
    metrics = metrics or [m for m in wanted if all(m in f and f[m].notna().any() for f in frames)]
    tables, payload = [], {"reference": labels[0], "runs": [str(r) for r in runs], "comparisons": []}
    ref = frames[0]
    for label, run, frame in zip(labels[1:], runs[1:], frames[1:]):
        shared = sorted(set(ref["sample_id"]) & set(frame["sample_id"]))
        cmp = compare_paired(ref, frame, metrics=metrics, n_boot=n_boot, seed=seed)
        cmp.insert(0, "judge", label)
        cmp.insert(1, "reference", labels[0])
        cmp["less_collapse"] = [_who(row, labels[0], label) for _, row in cmp.iterrows()]
        tables.append(cmp)
        diffs = _largest_differences(ref, frame, "source_share")
        payload["comparisons"].append({"judge": label, "run": str(run), "n_shared": len(shared),
                                       "metrics": cmp.to_dict(orient="records"), "largest_differences": diffs,
                                       "human_agreement": _human_agreement(frame)})  # fmt: skip
    payload["reference_human_agreement"] = _human_agreement(ref)
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(out / "comparison.csv", index=False)
    write_atomic(out / "comparison.json", json.dumps(_json_safe(payload), indent=2))
    return _write_html(out, runs, labels, table, payload)


MIN_EFFECT = 1e-3  # differences below this are float noise, whatever their confidence interval


def _who(row, ref_label: str, label: str) -> str:
    """The judge that collapses less on this metric, when the CI excludes 0 and the effect is not noise."""
    better = LESS_COLLAPSE_IF_HIGHER.get(row["metric"])
    if better is None or not bool(row.get("excludes_zero")) or abs(row["mean_diff"]) < MIN_EFFECT:
        return ""
    higher = row["mean_diff"] > 0
    return label if higher == better else ref_label


def _largest_differences(a: pd.DataFrame, b: pd.DataFrame, metric: str, k: int = 3) -> list[dict]:
    if metric not in a or metric not in b:
        return []
    m = a[["sample_id", metric]].merge(b[["sample_id", metric]], on="sample_id", suffixes=("_a", "_b"))
    m["diff"] = m[f"{metric}_b"] - m[f"{metric}_a"]
    m = m[np.isfinite(m["diff"])]
    m = m.reindex(m["diff"].abs().sort_values(ascending=False).index).head(k)
    return [{"sample_id": r["sample_id"], "a": r[f"{metric}_a"], "b": r[f"{metric}_b"], "diff": r["diff"]}
            for _, r in m.iterrows()]  # fmt: skip


def _write_html(out: Path, runs, labels, table: pd.DataFrame, payload: dict) -> Path:
    rows = []
    for _, r in table.iterrows():
        cls = " style='background:#eef7ee'" if r.get("excludes_zero") else ""
        rows.append(
            f"<tr{cls}><td>{html.escape(r['judge'])}</td><td><code>{r['metric']}</code></td><td class=num>{r['n']}</td>"
            f"<td class=num>{fmt(r['mean_a'])}</td><td class=num>{fmt(r['mean_b'])}</td>"
            f"<td class=num>{fmt(r['mean_diff'])}</td><td class=num>[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]</td>"
            f"<td>{html.escape(str(r.get('less_collapse') or ''))}</td></tr>"
        )
    galleries = []
    for comp, run in zip(payload["comparisons"], runs[1:]):
        for d in comp["largest_differences"]:
            imgs = []
            for lab, rr in ((labels[0], runs[0]), (comp["judge"], run)):
                p = overlay_path(rr, d["sample_id"])
                if p.exists():
                    imgs.append(f"<figure><img alt='{html.escape(lab)} {html.escape(d['sample_id'])}' "
                                f"src='{file_to_data_uri(p)}'><figcaption>{html.escape(lab)}</figcaption></figure>")  # fmt: skip
            galleries.append(f"<h3>{html.escape(d['sample_id'])}: source share {fmt(d['a'])} vs {fmt(d['b'])}</h3>"
                             + "".join(imgs))  # fmt: skip
    agree = "".join(
        f"<tr><td>{html.escape(c['judge'])}</td><td>{html.escape(json.dumps(_json_safe(c['human_agreement'])))}</td></tr>"
        for c in payload["comparisons"]
    )
    body = f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>judgescope comparison</title>
<style>{CSS}</style></head><body><h1>judgescope comparison</h1>
<p>Reference: <b>{html.escape(labels[0])}</b>; compared: {", ".join(html.escape(x) for x in labels[1:])}.
Differences are other - reference, paired per sample, with 95 % percentile-bootstrap confidence intervals;
green rows exclude 0.</p>
<table><tr><th>judge</th><th>metric</th><th>n</th><th>reference</th><th>judge</th><th>diff</th><th>95% CI</th>
<th>collapses less</th></tr>{"".join(rows)}</table>
<h2>Agreement with human labels (Spearman)</h2>
<table><tr><th>judge</th><th>metric: rho</th></tr>{agree or "<tr><td colspan=2>no labels</td></tr>"}</table>
<h2>Samples where the judges differ most</h2>{"".join(galleries) or "<p class=note>none</p>"}
</body></html>"""
    path = out / "comparison.html"
    write_atomic(path, body)
    return path
