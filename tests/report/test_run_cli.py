"""The batch run end to end through the CLI on a tiny judge: bad rows, resume after a kill, compare."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from judgescope.cli import main
from judgescope.report.demo import demo_manifest

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The bundled demo edits plus a corrupt image, a missing file and a row without instruction."""
    d = tmp_path_factory.mktemp("data")
    src = demo_manifest().parent
    for p in src.iterdir():
        shutil.copy(p, d / p.name)
    (d / "corrupt.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    rows = [json.loads(line) for line in (d / "manifest.jsonl").read_text().splitlines()]
    rows.insert(
        1, {"id": "corrupt", "source": "corrupt.jpg", "edited": rows[0]["edited"], "instruction": "x"}
    )
    rows.insert(3, {"id": "missing", "source": "nope.jpg", "edited": rows[0]["edited"], "instruction": "x"})
    rows.append(
        {"id": "noinstr", "source": rows[0]["source"], "edited": rows[0]["edited"], "instruction": ""}
    )
    (d / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d / "manifest.jsonl"


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory):
    from judgescope.judges.tiny import build_tiny_judge

    return build_tiny_judge("qwen2_5_vl", tmp_path_factory.mktemp("j") / "tiny", layers=2)


def _args(judge_dir, data, out, *extra):
    return ["run", "--judge", str(judge_dir), "--data", str(data), "--out", str(out), "--max-new-tokens", "6",
            *extra]  # fmt: skip


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, judge_dir, dataset):
    out = tmp_path_factory.mktemp("runs") / "full"
    assert main(_args(judge_dir, dataset, out)) == 0
    return out


def test_bad_rows_are_recorded_and_the_rest_runs(full_run):
    df = pd.read_csv(full_run / "metrics.csv")
    status = dict(zip(df["sample_id"], df["status"]))
    assert status["corrupt"] == "failed" and status["missing"] == "failed" and status["noinstr"] == "failed"
    assert sum(v == "ok" for v in status.values()) == 4
    errors = dict(zip(df["sample_id"], df["error"].fillna("")))
    assert "corrupt" in errors["corrupt"] and "not found" in errors["missing"]
    summary = json.loads((full_run / "summary.json").read_text())
    lines = {f["sample_id"]: f["line"] for f in summary["failures"]}
    assert lines["missing"] == 4 and lines["noinstr"] == 7
    for col in ("source_share", "image_share", "balance", "entropy_src", "entropy_edit", "entropy_norm_src",
                "entropy_norm_edit", "entropy_gap", "concentration_src", "concentration_edit", "correspondence",
                "sink_share", "in_region_edit", "lift_edit", "lift_src", "pointing_edit", "iou_edit",
                "auroc_edit", "verdict"):  # fmt: skip
        assert col in df.columns, col
    ok = df[df["status"] == "ok"]
    assert ok["source_share"].between(0, 1).all() and ok["lift_edit"].notna().all()
    assert (full_run / "report.html").exists() and (full_run / "per_layer.csv").exists()


def test_rerun_skips_finished_samples(full_run, judge_dir, dataset, capsys):
    before = (full_run / "metrics.csv").read_text()
    assert main(_args(judge_dir, dataset, full_run)) == 0
    assert "done 0" in capsys.readouterr().out
    assert (full_run / "metrics.csv").read_text() == before


def test_killed_run_resumes_to_the_same_table(tmp_path, full_run, judge_dir, dataset):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "judgescope.cli", *_args(judge_dir, dataset, out)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:
        done = [p for p in (out / "samples").glob("*.json")] if (out / "samples").exists() else []
        ok = [p for p in done if json.loads(p.read_text()).get("status") == "ok"]
        if len(ok) >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name for p in (out / "samples").glob("*.json")}
    assert 0 < len(finished) < 7, "the kill should land mid-run"
    assert main(_args(judge_dir, dataset, out)) == 0
    a = pd.read_csv(full_run / "metrics.csv")
    b = pd.read_csv(out / "metrics.csv")
    assert list(b["sample_id"]) == list(a["sample_id"])  # same order, no duplicates
    pd.testing.assert_frame_equal(a, b)


def test_retry_failed(tmp_path, full_run, judge_dir, dataset, capsys):
    out = tmp_path / "retry"
    shutil.copytree(full_run, out)
    assert main(_args(judge_dir, dataset, out, "--retry-failed")) == 0
    assert "done 0, failed 3" in capsys.readouterr().out  # 2 bad rows re-read, the corrupt image retried


def test_compare_two_runs(tmp_path, full_run, judge_dir, dataset):
    other = tmp_path / "layers"
    assert main(_args(judge_dir, dataset, other, "--layers", "1")) == 0
    cmp = tmp_path / "cmp"
    assert main(["compare", str(full_run), str(other), "--out", str(cmp)]) == 0
    table = pd.read_csv(cmp / "comparison.csv")
    row = table[table["metric"] == "source_share"].iloc[0]
    assert row["n"] == 4
    assert row["ci_low"] <= row["mean_diff"] <= row["ci_high"]
    assert (cmp / "comparison.html").exists() and json.loads((cmp / "comparison.json").read_text())[
        "comparisons"
    ]


def test_run_into_a_folder_of_another_judge_is_refused(tmp_path, full_run, dataset):
    from judgescope.judges.tiny import build_tiny_judge

    other = build_tiny_judge("qwen3_vl", tmp_path / "q3")
    with pytest.raises(Exception, match="holds a run of"):
        main(_args(other, dataset, full_run))


def test_demo_quick(tmp_path):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--quick"]) == 0
    assert (tmp_path / "demo" / "runs" / "base" / "report.html").exists()
    table = pd.read_csv(tmp_path / "demo" / "compare" / "comparison.csv")
    assert set(table["reference"]) == {"tiny-qwen2_5_vl+source_blind"}
    spot = table[table["judge"] == "tiny-qwen2_5_vl+spotlight"].set_index("metric")
    for metric in ("source_share", "lift_edit"):
        assert spot.loc[metric, "mean_diff"] > 0 and bool(spot.loc[metric, "excludes_zero"]), metric


def test_calibrate_places_the_judge_between_blind_and_grounded(tmp_path, judge_dir):
    from judgescope.report.demo import demo_manifest

    out = tmp_path / "cal"
    assert main(["calibrate", "--judge", str(judge_dir), "--data", str(demo_manifest()), "--out", str(out),
                 "--max-new-tokens", "4"]) == 0  # fmt: skip
    table = pd.read_csv(out / "calibration.csv").set_index("metric")
    assert table.loc["source_share", "source_blind"] == pytest.approx(0.0, abs=1e-6)
    assert table.loc["entropy_norm_src", "uniform"] == pytest.approx(1.0, abs=1e-4)
    assert table.loc["lift_edit", "spotlight"] > 3 > table.loc["lift_edit", "judge"]
    assert 0 <= table.loc["lift_edit", "position"] < 0.5
    assert (out / "compare" / "comparison.html").exists()


def test_probes_and_attribution_columns(tmp_path, judge_dir):
    import numpy as np

    from judgescope.report.demo import demo_manifest

    lines = demo_manifest().read_text().splitlines()[:2]
    manifest = tmp_path / "two.jsonl"
    src = demo_manifest().parent
    rows = [json.loads(x) for x in lines]
    for r in rows:
        for k in ("source", "edited", "mask"):
            r[k] = str(src / r[k])
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "beyond"
    args = _args(
        judge_dir, manifest, out, "--probes", "all", "--attribution", "input_x_gradient", "--no-overlays"
    )
    assert main(args) == 0
    df = pd.read_csv(out / "metrics.csv")
    assert (df["status"] == "ok").all()
    for col in ("source_sensitivity", "probe_knockout_delta", "attr_source_share", "agree_spearman"):
        assert col in df and np.isfinite(df[col]).all(), col
    assert "Beyond attention" in (out / "report.html").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["source_sensitivity"]["n"] == 2
    with pytest.raises(SystemExit, match="unknown probes"):
        main(_args(judge_dir, manifest, out, "--probes", "nonsense"))
