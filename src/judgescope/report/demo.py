"""``judgescope demo``: the whole path, offline, on bundled edits and a tiny built-in judge.

Runs ``run`` for the built-in judge and for its planted ``source_blind`` and ``spotlight`` variants, then
``compare`` with the source-blind judge as the reference, and writes both reports. Takes well under two minutes on 2 CPU cores.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pandas as pd

from ..judges import GenerationSettings, load_judge
from ..judges.planted import planted
from ..judges.tiny import build_tiny_judge
from .compare import compare_runs
from .data import read_manifest
from .runner import RunOptions, run

DEFAULT_FAMILY = "qwen2_5_vl"
DEMO_VARIANTS = ("source_blind", "spotlight")


def demo_manifest() -> Path:
    """Path of the bundled manifest (four real photographs with known local edits)."""
    return Path(str(files("judgescope") / "data" / "demo" / "manifest.jsonl"))


def demo_samples():
    """The bundled samples (``list[Sample]``)."""
    samples, bad = read_manifest(demo_manifest())
    if bad:
        raise RuntimeError(f"bundled demo data is broken: {bad}")
    return samples


def run_demo(out: str | Path, quick: bool = False, progress: bool = True) -> Path:
    """Run the demo into ``out``; returns the folder of the main report."""
    out = Path(out)
    judge_dir = out / "judges" / f"tiny-{DEFAULT_FAMILY}"
    if not (judge_dir / "config.json").exists():
        build_tiny_judge(DEFAULT_FAMILY, judge_dir, layers=4)
    judge = load_judge(judge_dir, protocol="viescore", generation=GenerationSettings(max_new_tokens=24),
                       name=f"tiny-{DEFAULT_FAMILY}")  # fmt: skip
    samples = demo_samples()[: 2 if quick else None]
    # Probes and attribution too, so that the report shows behaviour next to attention.
    options = RunOptions(queries="score", fallback="last_prompt", regions="auto", overlays=True,
                         probes=("identical", "blank_source", "knockout", "swap"),
                         attribution="input_x_gradient")  # fmt: skip
    runs = [out / "runs" / "base"]
    result = run(judge, samples, runs[0], options, progress=progress)
    print(f"base judge: {result.line()}")
    for variant in DEMO_VARIANTS:
        runs.append(out / "runs" / variant)
        print(
            f"{variant}: {run(planted(judge, variant), samples, runs[-1], options, progress=progress).line()}"
        )
    # The source-blind judge is the reference: the base judge and the grounded spotlight judge are each
    # compared with true source neglect.
    cmp = compare_runs([runs[1], runs[0], *runs[2:]], out / "compare")
    table = pd.read_csv(cmp.parent / "comparison.csv")
    key = table[table["metric"].isin(["source_share", "lift_edit"])]
    print("\npaired differences against the source-blind judge (95 % bootstrap CI):")
    for _, r in key.iterrows():
        print(
            f"  {r['judge']:<32} {r['metric']:<13} {r['mean_diff']:+.3f}  [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
        )
    print(f"comparison: {cmp}")
    print(f"report: {runs[0] / 'report.html'}")
    return runs[0]
