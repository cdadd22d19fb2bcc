"""Cost of "beyond attention" per sample, relative to a plain ``judge.evaluate`` on a tiny judge.

Times, per sample of the bundled demo photographs: ``judge.evaluate`` (generation of every call), then
``attribute`` (input x gradient, integrated gradients) and ``probe_sample`` (logit scores only, and "auto",
which also generates under each probe when the unchanged answer parses), and prints each as a ratio to the
evaluate time. Usage::

    python benchmarks/beyond_attention.py [--family qwen2_5_vl] [--layers 4] [--samples 2] [--steps 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def _time(fn, repeats: int) -> float:
    best = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t)
    return min(best)


def main(argv=None) -> None:
    from judgescope.attribution import attribute
    from judgescope.behaviour import probe_sample
    from judgescope.judges import GenerationSettings, Judge
    from judgescope.judges.tiny import build_tiny_model_and_processor
    from judgescope.report.demo import demo_samples

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="qwen2_5_vl")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)

    model, processor = build_tiny_model_and_processor(args.family, layers=args.layers)
    judge = Judge(
        model, processor, "viescore", generation=GenerationSettings(max_new_tokens=args.max_new_tokens)
    )
    rows: dict[str, list[float]] = {}
    for sample in demo_samples()[: args.samples]:
        out = judge.evaluate(sample)  # warm-up, and the output the others reuse
        n = judge.prepare(sample, "sc").prompt_len
        runs = {
            "evaluate": lambda s=sample: judge.evaluate(s),
            "attribute input_x_gradient": lambda s=sample, o=out: attribute(
                judge, s, "input_x_gradient", output=o
            ),
            f"attribute integrated_gradients ({args.steps} steps)": lambda s=sample, o=out: attribute(
                judge, s, "integrated_gradients", output=o, steps=args.steps
            ),
            "probe_sample score=logit (5 probes)": lambda s=sample, o=out: probe_sample(
                judge, s, output=o, score="logit"
            ),
            "probe_sample score=auto (5 probes)": lambda s=sample, o=out: probe_sample(judge, s, output=o),
        }
        times = {name: _time(fn, args.repeats) for name, fn in runs.items()}
        print(f"sample {sample.id}: prompt {n} tokens, evaluate {times['evaluate']:.3f} s")
        for name, t in times.items():
            rows.setdefault(name, []).append(t / times["evaluate"])
    threads = torch.get_num_threads()
    print(f"\n{args.family}, {args.layers} layers, {args.samples} samples, CPU threads {threads}")
    print(f"{'':48s} time / evaluate (median over samples)")
    for name, ratios in rows.items():
        print(f"{name:48s} {statistics.median(ratios):6.2f}x")


if __name__ == "__main__":
    main()
