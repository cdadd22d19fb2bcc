"""``judgescope calibrate``: a judge next to its own planted variants, to see where it sits.

The judge's metrics are compared with those of the same model made ``source_blind`` (true source neglect),
``uniform`` (no preference at all) and ``spotlight`` (grounded in the edit region by construction), on the
same samples. For each metric, ``position = (judge - blind) / (spotlight - blind)``: 0 means the judge looks
like its source-blind self, 1 like its grounded self (values outside [0, 1] are possible).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .runner import RunOptions, _json_safe, run, write_atomic
from .tables import load_records, metrics_frame

CALIBRATION_VARIANTS = ("source_blind", "uniform", "spotlight")
CALIBRATION_METRICS = ("source_share", "entropy_norm_src", "entropy_norm_edit", "lift_edit", "correspondence",
                       "sink_share")  # fmt: skip


def calibrate(
    judge, samples, out, options: RunOptions | None = None, bad_rows=(), progress: bool = True
) -> Path:
    """Run ``judge`` and its planted variants over ``samples`` into ``out``; returns ``out/calibration.csv``."""
    from ..judges.planted import planted
    from .compare import compare_runs

    out = Path(out)
    options = options or RunOptions()
    runs = {"judge": out / "runs" / "judge"}
    run(judge, samples, runs["judge"], options, bad_rows=bad_rows, progress=progress)
    for variant in CALIBRATION_VARIANTS:
        runs[variant] = out / "runs" / variant
        run(planted(judge, variant), samples, runs[variant], options, bad_rows=bad_rows, progress=progress)
    means = {}
    for name, path in runs.items():
        df = metrics_frame(load_records(path))
        df = df[df["status"] == "ok"]
        means[name] = {
            m: float(pd.to_numeric(df[m], errors="coerce").mean()) for m in CALIBRATION_METRICS if m in df
        }
    rows = []
    for m in CALIBRATION_METRICS:
        vals = {name: means[name].get(m, float("nan")) for name in runs}
        span = vals["spotlight"] - vals["source_blind"]
        position = (vals["judge"] - vals["source_blind"]) / span if abs(span) > 1e-9 else float("nan")
        rows.append({"metric": m, **vals, "position": position})
    table = pd.DataFrame(rows)
    table.to_csv(out / "calibration.csv", index=False)
    write_atomic(
        out / "calibration.json", json.dumps(_json_safe({"judge": judge.name, "rows": rows}), indent=2)
    )
    compare_runs([runs["judge"], *(runs[v] for v in CALIBRATION_VARIANTS)], out / "compare")
    return out / "calibration.csv"
