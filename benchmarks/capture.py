"""What does ``capture_attention`` cost? Wall time and peak memory of one full forward pass, three ways.

For a tiny random Qwen2.5-VL and Qwen3-VL (4 text layers, hidden 256, 8 heads / 4 kv heads, intermediate 512)
fed two ~1,190-token images (T ~ 2,400 tokens), in one run of this script:

- ``sdpa``: the plain forward, the baseline;
- ``capture``: the same forward inside ``capture_attention`` keeping the last 16 positions in every layer,
  including assembling ``cap.attention``;
- ``eager``: eager attention with ``output_attentions=True`` (the usual way, O(T^2) per layer).

Time is the median over ``--runs`` runs after one warm-up run per variant, all under ``torch.no_grad``. sdpa
and capture runs alternate (sdpa, capture; capture, sdpa; ...), and their ratio column is the median of the
per-round ratios, so load from other processes mostly cancels; eager runs come after them; the minimum is
printed too. CPU runs use one torch thread unless ``--threads`` says otherwise: with several OpenMP threads on
a busy machine every small op waits for a descheduled thread (10-16 ms for a 300 K-element multiply on the
shared 2-core machine, 0.06 ms with one thread), which buries the capture's small ops in scheduler noise.
Peak memory is the increase over the memory in use just before the forward, also the median over runs:

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus ``memory_allocated``
  before (tensors only, not the caching allocator's reserve).
- CPU: the kernel's resident-set high-water mark (``VmHWM``), reset before each forward by writing ``5``
  to ``/proc/self/clear_refs``, minus the resident set (``VmRSS``) at that moment. So that the resident set
  follows the live tensors, glibc is told to serve every allocation of 256 KiB or more with its own ``mmap``
  (returned to the system on free) and the heap is trimmed before each forward; otherwise freed memory stays
  cached in the heap and a later forward's peak hides in it. That setting makes every large allocation
  page-fault, which would distort the times, so the memory runs (``--mem-runs``, same schedule) take place
  in a second, spawned process per family that builds the same model and inputs (same seed).

``--real-shape`` gives the text decoder Qwen2.5-VL-7B's (or Qwen3-VL-8B's) real shape and vocabulary in
bfloat16, for a GPU; ``--layers`` cuts the layer count (``--real-shape --layers 1`` checks the path on CPU).
The vision tower stays tiny in every mode, so the baseline is the text decoder plus a cheap vision tower.

Run: ``python benchmarks/capture.py [--runs N] [--family qwen2_5_vl qwen3_vl] [--device cpu|cuda]
[--dtype float32|bfloat16] [--real-shape] [--layers N] [--queries N] [--threads N] [--mem-runs N]``.
It fails loudly if the capture changes the logits or its rows differ from eager's.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import multiprocessing
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from judgescope.hooks import capture_attention
from judgescope.judges.tiny import build_tiny_model_and_processor

VARIANTS = ("sdpa", "capture", "eager")
TINY_SHAPE = dict(
    layers=4, hidden_size=256, num_attention_heads=8, num_key_value_heads=4, intermediate_size=512
)  # fmt: skip
# The released models' text decoders (head_dim 128 follows from hidden / heads in both).
REAL_SHAPES = {
    "qwen2_5_vl": dict(layers=28, hidden_size=3584, num_attention_heads=28, num_key_value_heads=4,
                       intermediate_size=18944, vocab_size=152064),  # Qwen2.5-VL-7B-Instruct
    "qwen3_vl": dict(layers=36, hidden_size=4096, num_attention_heads=32, num_key_value_heads=8,
                     intermediate_size=12288, vocab_size=151936),  # Qwen3-VL-8B-Instruct
}  # fmt: skip
# (width, height) giving a 34 x 35 grid of 1,190 tokens: 28 px tokens for Qwen2.5-VL, 32 px for Qwen3-VL.
IMAGE_SIZE = {"qwen2_5_vl": (980, 952), "qwen3_vl": (1120, 1088)}
_MB = 2**20


# -- memory accounting --------------------------------------------------------------------------------------
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def setup_host_accounting() -> None:
    """Make RSS track live allocations: big blocks get their own mmap (no dynamic threshold), heap trimmed."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        raise RuntimeError("CPU peak memory needs glibc (mallopt) and Linux /proc")
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 256 * 1024)
    libc.mallopt(m_trim_threshold, 256 * 1024)


@contextlib.contextmanager
def peak_memory(device: torch.device):
    """Yields a dict whose ``"bytes"`` holds, after the block, the block's peak memory above its start."""
    out = {"bytes": float("nan")}
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield out
        torch.cuda.synchronize(device)
        out["bytes"] = torch.cuda.max_memory_allocated(device) - base
        return
    _libc().malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current VmRSS (Linux >= 4.0)
    base = _status_kb("VmRSS")
    yield out
    out["bytes"] = (_status_kb("VmHWM") - base) * 1024


# -- model and inputs ---------------------------------------------------------------------------------------
def build(family: str, device: torch.device, dtype: torch.dtype, real_shape: bool, layers: int | None):
    """``(model, inputs)``: a random-weight model of ``family`` and two noise images with a short prompt."""
    shape = dict(REAL_SHAPES[family] if real_shape else TINY_SHAPE)
    n_layers = layers or shape["layers"]
    del shape["layers"]
    # Weights are created in the target dtype on the device (a 7B model in float32 on the host would need
    # 30 GB); rotary inv_freq buffers stay float32, as with from_pretrained(dtype=...).
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            model, processor = build_tiny_model_and_processor(family, layers=n_layers, **shape)
    finally:
        torch.set_default_dtype(previous)
    model.to(device)
    rng = np.random.default_rng(0)
    w, h = IMAGE_SIZE[family]
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for _ in range(2)]
    text = "Rate how well the second image follows the instruction: make the sky red."
    msgs = [{"role": "user", "content": [{"type": "image"}] * 2 + [{"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=images, return_tensors="pt")
    inputs = {
        k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in inputs.items()
    }
    return model, inputs


# -- the three variants -------------------------------------------------------------------------------------
def run_variant(variant: str, model, inputs: dict, queries: list[int]):
    """One forward pass of ``variant``; returns what a user would keep (logits and attention rows)."""
    if variant == "sdpa":
        return model(**inputs).logits, None
    if variant == "capture":
        with capture_attention(model, queries) as cap:
            logits = model(**inputs).logits
        return logits, cap.attention
    model.set_attn_implementation("eager")
    try:
        out = model(**inputs, output_attentions=True)
    finally:
        model.set_attn_implementation("sdpa")
    return out.logits, torch.stack([a[0, :, queries] for a in out.attentions]).float().cpu()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Result:
    family: str
    tokens: int
    times: dict[str, list[float]]
    peaks: dict[str, list[float]]
    rows_bytes: int  # the captured rows the capture variant hands back (float32 on the host)

    def median(self, what: str, variant: str) -> float:
        return statistics.median((self.times if what == "time" else self.peaks)[variant])

    def time_ratio(self, variant: str) -> float:
        """Median over rounds of ``time(variant) / time(sdpa)`` of the same round (see :func:`schedule`)."""
        return statistics.median(
            t / t0 for t, t0 in zip(self.times[variant], self.times["sdpa"], strict=True)
        )


def check_agreement(family: str, outs: dict, dtype: torch.dtype) -> None:
    """The numbers mean nothing unless the variants agree: identical logits, and rows equal to eager's (to
    float32 error, or to bf16 rounding: eager rounds its weights to the model's dtype)."""
    plain, captured = outs["sdpa"][0], outs["capture"][0]
    if not torch.equal(plain, captured):
        diff = (plain.float() - captured.float()).abs().max().item()
        message = f"{family}: logits with capture differ from the plain forward by {diff:.2e}"
        if plain.device.type == "cpu":
            raise AssertionError(message)
        print(f"WARNING: {message} (GPU kernels may be non-deterministic; check with a second run)")
    err = (outs["capture"][1] - outs["eager"][1]).abs().max().item()
    if err > (1e-4 if dtype == torch.float32 else 2e-2):
        raise AssertionError(f"{family}: captured rows differ from eager rows by {err:.2e}")


def schedule(runs: int) -> list[tuple[int, str]]:
    """``(round, variant)`` in run order; round 0 is the warm-up.

    sdpa and capture alternate who goes first in each round, so that a first-in-round effect cancels in the
    median of their paired ratios. Eager goes in its own rounds after them: the forward after an eager pass
    re-faults the gigabyte eager just freed (measured: 1-1.5 s of 5.4 s at the 7B shape, one layer, on CPU).
    """
    pairs = [
        (r, v) for r in range(runs + 1) for v in (("sdpa", "capture") if r % 2 == 0 else ("capture", "sdpa"))
    ]
    return pairs + [(r, "eager") for r in range(runs + 1)]


@torch.no_grad()
def run_all(model, inputs: dict, queries: list[int], runs: int, device, what: tuple[str, ...]):
    """Warm-up, then ``runs`` runs of every variant: ``(first outputs, times, peaks)``."""
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    peaks: dict[str, list[float]] = {v: [] for v in VARIANTS}
    first = {}
    for r, v in schedule(runs):
        with peak_memory(device) if "peak" in what else contextlib.nullcontext({}) as mem:
            _sync(device)
            t0 = time.perf_counter()
            out = run_variant(v, model, inputs, queries)
            _sync(device)
            elapsed = time.perf_counter() - t0
        if r == 0:
            first[v] = out
        else:
            times[v].append(elapsed)
            peaks[v].append(mem.get("bytes", float("nan")))
        del out
    return first, times, peaks


def _host_peaks(family: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """CPU peak memory, in a fresh process: the allocator setting it needs would slow the timed runs."""
    _set_threads(args)
    setup_host_accounting()
    model, inputs = build(family, torch.device("cpu"), _dtype(args), args.real_shape, args.layers)
    T = inputs["input_ids"].shape[1]
    _, _, peaks = run_all(model, inputs, list(range(T - args.queries, T)), args.mem_runs, torch.device("cpu"),
                          ("peak",))  # fmt: skip
    return peaks


def measure(family: str, args: argparse.Namespace) -> Result:
    device, dtype = torch.device(args.device), _dtype(args)
    model, inputs = build(family, device, dtype, args.real_shape, args.layers)
    model.set_attn_implementation("sdpa")
    T = inputs["input_ids"].shape[1]
    queries = list(range(T - args.queries, T))
    what = ("time", "peak") if device.type == "cuda" else ("time",)
    first, times, peaks = run_all(model, inputs, queries, args.runs, device, what)
    check_agreement(family, first, dtype)
    rows_bytes = first["capture"][1].numel() * 4
    if device.type == "cpu":
        del model, first
        gc.collect()
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            peaks = pool.apply(_host_peaks, (family, args))
    return Result(family, T, times, peaks, rows_bytes)


def _set_threads(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)


def _dtype(args: argparse.Namespace) -> torch.dtype:
    return getattr(torch, args.dtype or ("bfloat16" if args.real_shape else "float32"))


def table(results: list[Result]) -> str:
    """A Markdown table: absolute numbers and ratios to the plain sdpa forward."""
    lines = [
        "| family | T | variant | time (s) | min (s) | x sdpa | peak memory (MB) | x sdpa |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        m0 = res.median("peak", "sdpa")
        for v in VARIANTS:
            t, tmin, m = res.median("time", v), min(res.times[v]), res.median("peak", v)
            lines.append(
                f"| {res.family} | {res.tokens} | {v} | {t:.3f} | {tmin:.3f} | {res.time_ratio(v):.2f} "
                f"| {m / _MB:.0f} | {m / m0:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Result]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per variant, after one warm-up")
    ap.add_argument("--family", nargs="+", default=["qwen2_5_vl", "qwen3_vl"], choices=sorted(IMAGE_SIZE))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                    help="default float32, bfloat16 with --real-shape")  # fmt: skip
    ap.add_argument("--real-shape", action="store_true", help="the 7B/8B text decoder shape (for a GPU)")
    ap.add_argument("--layers", type=int, default=None, help="override the number of text layers")
    ap.add_argument("--queries", type=int, default=16, help="captured rows: the last N positions")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1, see above; 0 = torch's default)")  # fmt: skip
    ap.add_argument("--mem-runs", type=int, default=2, help="CPU peak-memory runs per variant (own process)")
    args = ap.parse_args(argv)
    _set_threads(args)
    results = [measure(f, args) for f in args.family]
    dtype, device = _dtype(args), args.device
    shape = "real 7B/8B text shape" if args.real_shape else "tiny (4 layers, hidden 256, 8/4 heads)"
    layers = f", {args.layers} layers" if args.layers else ""
    print(f"{shape}{layers}, {dtype}, {device}, torch threads {torch.get_num_threads()}, "
          f"{args.queries} captured rows, median of {args.runs} runs")  # fmt: skip
    print(table(results))
    for r in results:
        extra = r.median("peak", "capture") - r.median("peak", "sdpa")
        print(f"{r.family}: capture peak - sdpa peak = {extra / _MB:.1f} MB; the captured rows it returns "
              f"(layers x heads x {args.queries} x T float32) = {r.rows_bytes / _MB:.1f} MB")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
