"""Write the tutorial notebooks (no outputs) from the cells below. Run after editing a cell."""

from pathlib import Path

import nbformat as nbf

NB = Path(__file__).resolve().parents[1] / "notebooks"

SETUP = """from pathlib import Path
import judgescope
from judgescope.judges.tiny import build_tiny_judge
from judgescope.report.demo import demo_samples

# A tiny random Qwen2.5-VL judge built offline. Swap in a real judge with, e.g.,
# judgescope.load_judge("Qwen/Qwen2.5-VL-7B-Instruct", protocol="viescore", dtype="bfloat16")
judge_dir = build_tiny_judge("qwen2_5_vl", Path("notebook-judges") / "tiny-qwen2_5_vl", layers=4)
judge = judgescope.load_judge(judge_dir, protocol="viescore",
                              generation=judgescope.GenerationSettings(max_new_tokens=24))
samples = demo_samples()[:2]  # two bundled edits keep the notebook quick"""

NOTEBOOKS = {
    "01_explore_one_sample.ipynb": [
        (
            "md",
            "# Explore one sample\n\nWhere does a judge look when it scores an edit? This notebook runs a judge "
            "on one edit, captures the attention of its score tokens, and shows it on both images.\n\n"
            "It runs offline on a tiny random judge: the pictures show the mechanics, not meaning. Replace "
            "the judge with a real one to diagnose it.",
        ),
        ("code", SETUP),
        (
            "md",
            "## Evaluate and capture\n\n`judge.diagnose` generates the judge's answer, parses the score, then "
            "teacher-forces the answer and records the attention rows of the score tokens (falling back to "
            "the last prompt token when the random model writes no score).",
        ),
        (
            "code",
            "sample = samples[0]\noutput, trace = judge.diagnose(sample, queries='score', fallback='last_prompt')\n"
            "print(output.calls['sc'].text[:200])\nprint('score:', output.score, output.errors[:1])\ntrace",
        ),
        (
            "md",
            "## Measure\n\nThe edit region comes from the pixel difference of the two images; metrics use it "
            "for grounding (lift, pointing, AUROC).",
        ),
        (
            "code",
            "from judgescope.regions import Region, diff_mask\nfrom judgescope.metrics import diagnose\n\n"
            "images = sample.images()\nregion = Region.from_diff(diff_mask(images['source'], images['edited']))\n"
            "regions = {'source': region, 'edited': region.resized(images['edited'].size)}\n"
            "diag = diagnose(trace, regions=regions)\nprint(diag.verdict)\n"
            "{k: round(v, 3) for k, v in diag.summary.items() if k in ('source_share', 'entropy_norm_src', "
            "'entropy_norm_edit', 'lift_edit', 'sink_share')}",
        ),
        ("md", "## Look"),
        (
            "code",
            "from judgescope import viz\n\nviz.overlay(trace, images, mask={k: r.mask for k, r in regions.items()})",
        ),
        ("code", "viz.layer_profile(trace, mask=regions['edited'].mask)"),
        ("code", "viz.head_grid(trace, image='source', mode='share')"),
        (
            "md",
            "## Beyond attention\n\nAttention is not explanation. A judge that truly neglects the source also "
            "draws little gradient attribution from it, and barely changes its score when the source changes. "
            "`attribute` gives an attribution map on the same token grids (so every metric and overlay works "
            "on it); `probe_sample` scores the sample under controlled changes of the source.",
        ),
        (
            "code",
            "from judgescope.attribution import agreement, attribute\n\n"
            "attr = attribute(judge, sample, method='input_x_gradient', output=output)\n"
            "print(agreement(trace, attr))\nviz.overlay(attr, images, mask={k: r.mask for k, r in regions.items()})",
        ),
        (
            "code",
            "from judgescope.behaviour import probe_sample\n\n"
            "probes = probe_sample(judge, sample, output=output)\n"
            "{k: round(v, 3) for k, v in probes.summary().items() if k.endswith('_delta') or 'sensitivity' in k}",
        ),
        ("md", "## Interactive explorer\n\nPick the layer, head, query row and normalisation."),
        ("code", "viz.explore(trace, images, mask={k: r.mask for k, r in regions.items()})"),
    ],
    "02_batch_diagnosis.ipynb": [
        (
            "md",
            "# Batch diagnosis\n\nRun a judge over a dataset and get one table per sample, per-layer curves "
            "and a self-contained `report.html`. The same runs from the shell:\n\n"
            "`judgescope run --judge PATH --protocol viescore --data manifest.jsonl --out runs/base`\n\n"
            "Runs are resumable: rerun the same command after an interruption.",
        ),
        ("code", SETUP),
        (
            "code",
            "from judgescope.report.demo import demo_manifest\nfrom judgescope.report.data import read_manifest\n"
            "from judgescope.report.runner import RunOptions, run\n\n"
            "samples, bad = read_manifest(demo_manifest())  # four bundled edits with known masks\n"
            "result = run(judge, samples, 'notebook-runs/base', RunOptions(fallback='last_prompt'))\n"
            "print(result.line())",
        ),
        (
            "code",
            "import pandas as pd\n\ndf = pd.read_csv('notebook-runs/base/metrics.csv')\n"
            "df[['sample_id', 'score', 'source_share', 'entropy_norm_src', 'lift_edit', 'verdict']]",
        ),
        (
            "code",
            "import json\n\nsummary = json.loads(open('notebook-runs/base/summary.json').read())\n"
            "pd.DataFrame(summary['paper_table'])",
        ),
        ("md", "Open `notebook-runs/base/report.html` in a browser for the full report."),
    ],
    "03_compare_judges.ipynb": [
        (
            "md",
            "# Compare judges\n\nThe same samples under several judges, paired per sample with bootstrap "
            "confidence intervals. Here the tiny judge is compared with two *planted* versions of itself: "
            "`source_blind` (cannot see the source image) and `spotlight` (attention pushed into the edit "
            "region). A real judge sits somewhere between them.",
        ),
        ("code", SETUP),
        (
            "code",
            "from judgescope.judges.planted import planted\nfrom judgescope.report.runner import RunOptions, run\n\n"
            "options = RunOptions(fallback='last_prompt')\nruns = []\n"
            "for name, j in [('base', judge), ('source_blind', planted(judge, 'source_blind')),\n"
            "                ('spotlight', planted(judge, 'spotlight'))]:\n"
            "    runs.append(f'notebook-runs/{name}')\n    print(name, run(j, samples, runs[-1], options).line())",
        ),
        (
            "code",
            "import pandas as pd\nfrom judgescope.report.compare import compare_runs\n\n"
            "html_path = compare_runs(runs, 'notebook-runs/compare')\n"
            "table = pd.read_csv('notebook-runs/compare/comparison.csv')\n"
            "table[table.metric.isin(['source_share', 'lift_edit', 'correspondence'])][\n"
            "    ['judge', 'metric', 'mean_a', 'mean_b', 'mean_diff', 'ci_low', 'ci_high', 'less_collapse']]",
        ),
        ("md", "## Side by side"),
        (
            "code",
            "from judgescope import viz\n\nsample = samples[0]\n"
            "traces = [j.diagnose(sample, fallback='last_prompt')[1] for j in\n"
            "          (judge, planted(judge, 'source_blind'), planted(judge, 'spotlight'))]\n"
            "viz.compare(traces, sample.images(), labels=['base', 'source_blind', 'spotlight'])",
        ),
    ],
}


def main():
    NB.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
                    for kind, src in cells]  # fmt: skip
        nbf.write(nb, NB / name)
    print(f"wrote {len(NOTEBOOKS)} notebooks to {NB}")


if __name__ == "__main__":
    main()
