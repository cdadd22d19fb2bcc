"""Time ``judgescope.metrics.diagnose`` on a trace the size of a real judge's capture.

36 layers x 32 heads x 8 query rows over T ~ 3,000 keys with two 26 x 50 image grids (2 x 1,300 tokens),
a planted first-token sink, three border sinks on the edited image and an edit region. Run: ``python benchmarks/metrics.py [--repeat N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from judgescope.metrics import diagnose
from judgescope.probe.synthetic import synthetic_layout
from judgescope.probe.trace import Trace


def make_trace(layers: int = 36, heads: int = 32, queries: int = 8, grid=(26, 50), seed: int = 0) -> Trace:
    spans, keys = synthetic_layout((grid, grid), prefix=150, suffix=246)
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(layers, heads, queries, keys, generator=gen) * 1.5
    logits[..., 0] += 6.0  # a first-token sink
    edited = spans[1].positions
    logits[..., [edited[0], edited[grid[1] - 1], edited[-1]]] += 5.0  # three border sinks on the edited image
    attention = torch.softmax(logits, dim=-1)
    qpos = tuple(range(keys - queries, keys))
    return Trace(
        attention, tuple(range(layers)), qpos, tuple(f"t{p}" for p in qpos), spans, sample_id="bench"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    trace = make_trace()
    rows, cols = trace.images[1].grid
    cov = np.zeros((rows, cols))
    cov[5:15, 10:30] = 1.0
    diagnose(trace, regions={"edited": cov})  # warm-up
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        d = diagnose(trace, regions={"edited": cov})
        times.append(time.perf_counter() - t0)
    print(
        f"trace: {tuple(trace.attention.shape)} (T={trace.num_keys}), torch threads: {torch.get_num_threads()}"
    )
    print(f"diagnose: median {np.median(times):.3f} s, min {min(times):.3f} s over {args.repeat} runs")
    print(f"sinks at {d.sinks.positions}; verdict: {d.verdict}")


if __name__ == "__main__":
    main()
