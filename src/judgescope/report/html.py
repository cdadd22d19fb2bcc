"""report.html: one self-contained page (images embedded as data URIs) that opens offline."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .runner import write_atomic

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6}.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem}
.card b{font-size:1.3rem;display:block}.note{color:#666;font-size:.9rem}img{max-width:100%}
.bad{color:#a00}
"""

HEADLINE = [
    ("source_share", "source share", "0 = source neglected, 0.5 = balanced"),
    ("entropy_norm_src", "normalized entropy (source)", "1 = spread evenly, 0 = one token"),
    ("entropy_norm_edit", "normalized entropy (edited)", ""),
    ("lift_edit", "lift in edit region (edited)", "1 = no better than uniform"),
    ("sink_share", "sink share", "image attention held by sinks"),
]


def fig_to_data_uri(fig) -> str:
    """PNG data URI of a matplotlib figure (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def file_to_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, (float, np.floating)) else html.escape(str(x))


def _ci(m: dict) -> str:
    if not m or m.get("n", 0) == 0:
        return "n/a"
    return f"{fmt(m['mean'])} <span class=note>[{fmt(m['ci_low'])}, {fmt(m['ci_high'])}], n={m['n']}</span>"


def _distributions(df: pd.DataFrame) -> str | None:
    from matplotlib.figure import Figure

    cols = [c for c in ("source_share", "entropy_norm_src", "entropy_norm_edit", "lift_edit") if c in df]
    vals = {c: pd.to_numeric(df[c], errors="coerce").dropna() for c in cols}
    cols = [c for c in cols if len(vals[c])]
    if not cols:
        return None
    fig = Figure(figsize=(3.2 * len(cols), 2.6))
    for i, c in enumerate(cols):
        ax = fig.add_subplot(1, len(cols), i + 1)
        # Shares and normalized entropies live in [0, 1]: a fixed axis keeps near-constant values readable.
        bounded = c != "lift_edit"
        ax.hist(vals[c], bins=20 if bounded else min(20, max(5, len(vals[c]))), range=(0, 1) if bounded else None,
                color="#4a72b0")  # fmt: skip
        ax.ticklabel_format(axis="x", useOffset=False)
        ax.set_title(c, fontsize=9)
    fig.tight_layout()
    return fig_to_data_uri(fig)


def _layer_curves(out: Path) -> str | None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    path = out / "per_layer.csv"
    if not path.exists() or path.stat().st_size < 5:
        return None
    try:
        pl = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None
    if "layer" not in pl:
        return None
    cols = [
        c
        for c in ("source_share", "image_share", "entropy_norm_src", "entropy_norm_edit", "lift_edit")
        if c in pl
    ]
    mean = pl.groupby("layer")[cols].mean(numeric_only=True)
    fig = Figure(figsize=(7, 3))
    ax = fig.add_subplot(1, 1, 1)
    for c in cols:
        if c == "lift_edit":
            continue
        ax.plot(mean.index, mean[c], marker="o", label=c)
    ax.set_xlabel("decoder layer")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, 1.05)
    if "lift_edit" in cols and mean["lift_edit"].notna().any():
        ax2 = ax.twinx()
        ax2.plot(mean.index, mean["lift_edit"], "k--", label="lift_edit (right)")
        ax2.set_ylabel("lift")
        ax2.legend(loc="upper right", fontsize=8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.12, 1.0), fontsize=8)
    fig.tight_layout()
    return fig_to_data_uri(fig)


def _sample_gallery(out: Path, df: pd.DataFrame, column: str, ascending: bool, k: int = 3) -> str:
    from .tables import overlay_path

    if column not in df:
        return "<p class=note>not measured</p>"
    sub = (
        df[pd.to_numeric(df[column], errors="coerce").notna()]
        .sort_values(column, ascending=ascending)
        .head(k)
    )
    parts = []
    for _, row in sub.iterrows():
        p = overlay_path(out, row["sample_id"])
        caption = f"{html.escape(str(row['sample_id']))}: {column} = {fmt(row[column])}; {html.escape(str(row.get('verdict', '')))}"
        img = (
            f"<img alt='overlay {html.escape(str(row['sample_id']))}' src='{file_to_data_uri(p)}'>"
            if p.exists()
            else ""
        )
        parts.append(f"<figure>{img}<figcaption>{caption}</figcaption></figure>")
    return "\n".join(parts) or "<p class=note>no samples</p>"


def write_report(out: Path, records: list[dict], df: pd.DataFrame, summary: dict) -> Path:
    """Write ``out/report.html`` from the run's tables."""
    out = Path(out)
    ok = df[df["status"] == "ok"] if len(df) else df
    m = summary.get("metrics", {})
    title = f"judgescope report: {summary.get('judge')} / {summary.get('protocol')}"
    planted = (summary.get("planted") or {}).get("variant") if summary.get("planted") else None
    notes = []
    if planted:
        notes.append(
            f"This judge is <b>planted</b> ({html.escape(planted)}): its attention was changed on purpose."
        )
    if summary.get("tiny"):
        notes.append("This judge is a tiny random model: its attention shows mechanics, not meaning.")
    cards = "".join(
        f"<div class=card>{html.escape(label)}<b>{fmt(m.get(key, {}).get('mean'))}</b>"
        f"<span class=note>95% CI [{fmt(m.get(key, {}).get('ci_low'))}, {fmt(m.get(key, {}).get('ci_high'))}]"
        f"<br>{html.escape(hint)}</span></div>"
        for key, label, hint in HEADLINE
    )
    paper = "".join(
        f"<tr><td>{html.escape(r['metric'])}</td><td><code>{r['column']}</code></td><td>{r['better']}</td>"
        f"<td class=num>{_ci(m.get(r['column'], {}))}</td></tr>"
        for r in summary.get("paper_table", [])
    )
    verdicts = "".join(f"<tr><td>{html.escape(k)}</td><td class=num>{v}</td></tr>"
                       for k, v in sorted(summary.get("verdicts", {}).items())) or "<tr><td colspan=2>none</td></tr>"  # fmt: skip
    fails = (
        "".join(
            f"<tr><td>{html.escape(str(f['sample_id']))}</td><td>{fmt(f.get('line'))}</td>"
            f"<td class=bad>{html.escape(str(f.get('error')))}</td></tr>"
            for f in summary.get("failures", [])
        )
        or "<tr><td colspan=3>none</td></tr>"
    )
    beyond = "".join(
        f"<tr><td><code>{k}</code></td><td class=num>{_ci(v)}</td></tr>"
        for k, v in m.items()
        if k.startswith(("source_sensitivity", "order_sensitivity", "probe_", "attr_", "agree_"))
        and v.get("n")
    )
    dist = _distributions(ok) if len(ok) else None
    curves = _layer_curves(out)
    cols = [c for c in ("sample_id", "score", "source_share", "entropy_norm_src", "entropy_norm_edit", "lift_edit",
                        "sink_share", "verdict") if c in df]  # fmt: skip
    table = (
        ok[cols].to_html(index=False, float_format=lambda x: f"{x:.3f}", border=0, escape=True)
        if len(ok)
        else ""
    )
    body = f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{summary.get("n_ok", 0)} samples diagnosed, {summary.get("n_failed", 0)} failed. {" ".join(notes)}</p>
<h2>Headline</h2><div class=cards>{cards}</div>
<p class=note>Means over samples with 95 % percentile-bootstrap confidence intervals. Definitions: docs/metrics.md.</p>
<h2>Paper-style table (SpatialReward's four measures, judgescope's definitions)</h2>
<table><tr><th>measure</th><th>column</th><th>better</th><th>mean [95% CI]</th></tr>{paper}</table>
{
        f"<h2>Beyond attention: probes and attribution</h2><p class=note>A judge that neglects the source has "
        f"source_sensitivity and attr_source_share near 0 (docs/behaviour.md, docs/attribution.md).</p>"
        f"<table><tr><th>measure</th><th>mean [95% CI]</th></tr>{beyond}</table>"
        if beyond
        else ""
    }
<h2>Verdicts</h2><table><tr><th>failure mode</th><th>samples</th></tr>{verdicts}</table>
<h2>Distributions</h2>{f"<img alt='distributions' src='{dist}'>" if dist else "<p class=note>no data</p>"}
<h2>Per layer (mean over samples)</h2>{
        f"<img alt='per-layer curves' src='{curves}'>" if curves else "<p class=note>no data</p>"
    }
<h2>Worst collapse (lowest source share)</h2>{_sample_gallery(out, ok, "source_share", True)}
<h2>Best grounded (highest lift in the edit region)</h2>{_sample_gallery(out, ok, "lift_edit", False)}
<h2>All samples</h2>{table}
<h2>Failures</h2><table><tr><th>sample</th><th>line</th><th>problem</th></tr>{fails}</table>
</body></html>"""
    path = out / "report.html"
    write_atomic(path, body)
    return path
