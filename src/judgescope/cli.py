"""The ``judgescope`` command line."""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    from .report.demo import run_demo

    path = run_demo(args.out, quick=args.quick)
    print(f"demo written to {path}")
    return 0


def _run(args) -> int:
    from .judges import GenerationSettings, load_judge
    from .report.data import read_dataset
    from .report.runner import RunOptions, run

    samples, bad = read_dataset(args.data)
    for b in bad:
        print(f"bad row: {b}", file=sys.stderr)
    judge = load_judge(args.judge, protocol=args.protocol, device=args.device, dtype=args.dtype,
                       generation=GenerationSettings(max_new_tokens=args.max_new_tokens))  # fmt: skip
    if args.planted:
        from .judges.planted import planted

        judge = planted(judge, args.planted)
    layers = [int(x) for x in args.layers.split(",")] if args.layers else None
    options = RunOptions(queries=args.queries, fallback=args.fallback or None, layers=layers, band=args.band,
                         regions=args.regions, save_traces=args.save_traces, overlays=not args.no_overlays,
                         call=args.call, probes=_probes(args.probes), attribution=args.attribution)  # fmt: skip
    result = run(judge, samples, args.out, options, bad_rows=bad, retry_failed=args.retry_failed)
    print(result.line())
    print(f"report: {result.out / 'report.html'}")
    return 0


def _calibrate(args) -> int:
    from .judges import GenerationSettings, load_judge
    from .report.calibrate import calibrate
    from .report.data import read_dataset
    from .report.runner import RunOptions

    samples, bad = read_dataset(args.data)
    judge = load_judge(args.judge, protocol=args.protocol, device=args.device, dtype=args.dtype,
                       generation=GenerationSettings(max_new_tokens=args.max_new_tokens))  # fmt: skip
    path = calibrate(judge, samples, args.out, RunOptions(queries=args.queries, regions=args.regions), bad)
    print(open(path).read())
    print(f"calibration written to {path}; comparison report: {path.parent / 'compare' / 'comparison.html'}")
    return 0


def _probes(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    from .behaviour import PROBES

    names = PROBES if text == "all" else tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [n for n in names if n not in PROBES]
    if unknown:
        raise SystemExit(f"unknown probes {unknown}; choose from {', '.join(PROBES)} or 'all'")
    return names


def _compare(args) -> int:
    from .report.compare import compare_runs

    path = compare_runs(args.runs, args.out)
    print(f"comparison written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="judgescope", description="Look inside image-edit judge models.")
    parser.add_argument(
        "--version", action="version", version=f"judgescope {__import__('judgescope').__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline demo on bundled edits and tiny built-in judges")
    demo.add_argument("--out", default="judgescope-demo", help="output folder (default: ./judgescope-demo)")
    demo.add_argument("--quick", action="store_true", help="fewer samples, for smoke tests")
    demo.set_defaults(func=_demo)

    r = sub.add_parser("run", help="diagnose a judge over a dataset (resumable)")
    r.add_argument("--judge", required=True, help="hub id or local folder of the judge model")
    r.add_argument(
        "--protocol", default="viescore", help="viescore, editscore, spatialreward, editthinker, valuehead"
    )
    r.add_argument("--data", required=True, help="manifest (.jsonl/.csv) or MagicBrush-style folder")
    r.add_argument("--out", required=True, help="run folder (rerun to resume)")
    r.add_argument(
        "--queries",
        default="score",
        help="query rows: score, box, reasoning, reward, last_prompt, generated, regex:<pattern>",
    )
    r.add_argument(
        "--fallback", default="last_prompt", help="query rows when --queries selects none ('' = fail)"
    )
    r.add_argument("--layers", default=None, help="comma-separated decoder layers to capture (default all)")
    r.add_argument("--band", default=None, help="layer band for summaries, e.g. 8:20 (default all)")
    r.add_argument("--regions", default="auto", choices=["auto", "diff", "boxes", "dataset", "none"])
    r.add_argument(
        "--call", default=None, help="protocol call to diagnose (default the first with the source)"
    )
    r.add_argument("--device", default=None)
    r.add_argument("--dtype", default=None, help="e.g. bfloat16")
    r.add_argument("--max-new-tokens", type=int, default=512)
    r.add_argument("--planted", default=None, help="run a planted variant of the judge (source_blind, ...)")
    r.add_argument(
        "--probes",
        default=None,
        help="behavioural probes: 'all' or a comma list of identical, "
        "blank_source, noise_source, knockout, swap",
    )
    r.add_argument(
        "--attribution",
        default=None,
        choices=["input_x_gradient", "integrated_gradients"],
        help="also attribute the score to image tokens and compare with attention",
    )
    r.add_argument("--save-traces", action="store_true")
    r.add_argument("--no-overlays", action="store_true")
    r.add_argument("--retry-failed", action="store_true", help="redo samples that failed before")
    r.set_defaults(func=_run)

    k = sub.add_parser(
        "calibrate", help="a judge next to its planted source_blind / uniform / spotlight selves"
    )
    k.add_argument("--judge", required=True)
    k.add_argument("--protocol", default="viescore")
    k.add_argument("--data", required=True)
    k.add_argument("--out", required=True)
    k.add_argument("--queries", default="score")
    k.add_argument("--regions", default="auto", choices=["auto", "diff", "boxes", "dataset", "none"])
    k.add_argument("--device", default=None)
    k.add_argument("--dtype", default=None)
    k.add_argument("--max-new-tokens", type=int, default=512)
    k.set_defaults(func=_calibrate)

    c = sub.add_parser("compare", help="paired comparison of runs on their shared samples")
    c.add_argument("runs", nargs="+", help="run folders (the first is the reference)")
    c.add_argument("--out", required=True)
    c.set_defaults(func=_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
