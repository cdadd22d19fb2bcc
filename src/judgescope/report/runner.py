"""``judgescope run``: a judge over a dataset, resumable, one atomic file per finished sample.

Layout of a run folder::

    run.json               judge, protocol and options (a rerun must match them)
    samples/<id>.json      one per sample: status ok|failed, scores, summary metrics, verdict, error
    overlays/<id>.png      attention overlay of the sample (optional)
    traces/<id>.safetensors  captured rows (optional)
    metrics.csv  per_layer.csv  summary.json  report.html   rebuilt from samples/ at the end of every run

Because the tables are rebuilt from ``samples/`` in manifest order, a run interrupted and resumed gives the
same tables as an uninterrupted one, with no duplicates.
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import JudgescopeError
from ..sample import Sample
from .data import BadRow

SUMMARY_METRICS = [
    "source_share", "image_share", "balance", "entropy_src", "entropy_edit", "entropy_norm_src",
    "entropy_norm_edit", "entropy_gap", "concentration_src", "concentration_edit", "correspondence",
    "sink_share", "in_region_edit", "lift_edit", "lift_src", "pointing_edit", "iou_edit", "auroc_edit",
]  # fmt: skip


@dataclass
class RunOptions:
    """Options of a run (recorded in ``run.json``).

    Attributes:
        queries: query spec (``"score"``, ``"last_prompt"``, ``"regex:..."`` ...).
        fallback: query spec used when ``queries`` selects nothing (recorded per sample); None = failure.
        layers: decoder layers to capture (None = all).
        band: layers of the band summary, ``"a:b"`` style or list (None = all captured).
        regions: ``"auto"`` (dataset mask, else pixel difference), ``"diff"``, ``"boxes"`` (the judge's
            predicted boxes), ``"dataset"``, or ``"none"``.
        save_traces, overlays: write traces / overlay PNGs per sample.
        probes: behavioural probes to run (see :mod:`judgescope.behaviour`), e.g. ``("identical", "knockout")``.
        attribution: an attribution method (``"input_x_gradient"``, ``"integrated_gradients"``) to compare with
            attention (see :mod:`judgescope.attribution`).
    """

    queries: str = "score"
    fallback: str | None = "last_prompt"
    layers: list[int] | None = None
    band: str | list[int] | None = None
    regions: str = "auto"
    save_traces: bool = False
    overlays: bool = True
    call: str | None = None
    probes: tuple[str, ...] = ()
    attribution: str | None = None


@dataclass
class RunResult:
    """Counts of one call of :func:`run`; ``new`` lists the sample ids processed by this call."""

    out: Path
    done: int = 0
    failed: int = 0
    skipped: int = 0
    new: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"done {self.done}, failed {self.failed}, skipped {self.skipped} (already finished) -> {self.out}"
        )


def safe_name(sample_id: str) -> str:
    """A file-name-safe, collision-resistant version of a sample id."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", sample_id).strip("._")[:80] or "sample"
    if clean != sample_id:
        clean += "-" + format(abs(hash_id(sample_id)), "x")[:8]
    return clean


def hash_id(text: str) -> int:
    import hashlib

    return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16)


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a crash leaves either the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _json_safe(x):
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def edit_regions(sample: Sample, images: dict, output, mode: str, call: str):
    """``({"source": Region, "edited": Region} or None, source-of-region label)``."""
    from ..regions import Region, diff_mask, magicbrush_mask

    src, edited = images["source"], images["edited"]
    region = None
    label = "none"
    if mode in ("auto", "dataset") and sample.mask is not None:
        mask = (
            sample.mask
            if isinstance(sample.mask, np.ndarray)
            else magicbrush_mask(sample.mask, size=src.size)
        )
        region, label = Region.from_mask(np.asarray(mask, dtype=bool), name="dataset"), "dataset"
    elif mode == "dataset":
        raise JudgescopeError(f"sample {sample.id!r}: regions=dataset but the sample has no mask")
    elif mode in ("auto", "diff"):
        region, label = Region.from_diff(diff_mask(src, edited)), "diff"
    elif mode == "boxes":
        boxes = [b for b in output.calls[call].boxes if b.image == "edited"] if call in output.calls else []
        if boxes:
            edited_region = Region.from_boxes([b.xyxy for b in boxes], edited.size, name="boxes")
            return {"source": edited_region.resized(src.size), "edited": edited_region}, "boxes"
    if region is None or region.mask.sum() == 0:
        return None, label
    if region.size != src.size:
        region = region.resized(src.size)
    return {"source": region, "edited": region.resized(edited.size)}, label


def process_sample(judge, sample: Sample, options: RunOptions, out: Path) -> dict:
    """Diagnose one sample and return its record (raises on failure; the caller records it)."""
    from ..metrics import diagnose
    from ..probe.diagnose import default_call

    images = sample.images(judge.min_image_side)
    call = options.call or default_call(judge.protocol)
    output, trace = judge.diagnose(sample, queries=options.queries, layers=options.layers, call=call,
                                   fallback=options.fallback)  # fmt: skip
    regions, region_source = edit_regions(sample, images, output, options.regions, call)
    diag = diagnose(trace, regions=regions, band=parse_band(options.band))
    name = safe_name(sample.id)
    if options.save_traces:
        trace.save(out / "traces" / f"{name}.safetensors")
    if options.overlays:
        _save_overlay(trace, images, regions, output, call, out / "overlays" / f"{name}.png")
    per_layer = diag.per_layer.reset_index().to_dict(orient="records")
    extra = beyond_attention(judge, sample, output, trace, regions, options, call)
    return {
        "sample_id": sample.id,
        "status": "ok",
        "judge": judge.name,
        "protocol": judge.protocol.name,
        "planted": (judge.meta.get("planted") or {}).get("variant", ""),
        "score": output.score,
        "scores": output.scores,
        "label": sample.label,
        "error": "; ".join(output.errors),
        "query_fallback": trace.meta.get("query_fallback", ""),
        "queries": list(trace.query_tokens),
        "region_source": region_source,
        "verdict": str(diag.verdict),
        "failures": list(diag.verdict.failures),
        "summary": diag.summary,
        "reasons": {k: v for k, v in diag.reasons.items() if v},
        "per_layer": per_layer,
        "extra": extra,
        "line": sample.meta.get("line"),
    }


ATTRIBUTION_COLUMNS = ("source_share", "entropy_norm_src", "entropy_norm_edit", "lift_edit", "correspondence")


def beyond_attention(
    judge, sample, output, trace, regions, options: RunOptions, call: str
) -> dict[str, float]:
    """Flat columns from behavioural probes and attribution (empty when neither is asked for).

    Attribution columns: ``attr_<metric>`` (the same metrics computed on the attribution map) and the
    agreement between attention and attribution (``agree_*``); probe columns: ``probe_*`` and
    ``source_sensitivity`` (see docs/behaviour.md).
    """
    extra: dict[str, float] = {}
    if options.attribution:
        from ..attribution import agreement, attribute
        from ..metrics import diagnose

        attr = attribute(judge, sample, method=options.attribution, call=call, output=output)
        summary = diagnose(attr, regions=regions).summary
        extra.update({f"attr_{m}": summary.get(m, float("nan")) for m in ATTRIBUTION_COLUMNS})
        extra.update(agreement(trace, attr))
    if options.probes:
        from ..behaviour import probe_sample

        extra.update(
            probe_sample(judge, sample, probes=tuple(options.probes), output=output, call=call).summary()
        )
    return extra


def parse_band(band):
    """A CLI band ``"a:b"`` (inclusive decoder layers; either side may be empty) as a slice for
    :func:`judgescope.metrics.aggregate.resolve_band`; lists and None pass through."""
    if not isinstance(band, str):
        return band
    a, _, b = band.partition(":")
    return slice(int(a) if a else None, int(b) + 1 if b else None)


def _save_overlay(trace, images, regions, output, call, path: Path) -> None:
    import matplotlib.pyplot as plt

    from ..viz import overlay

    masks = {k: r.mask for k, r in regions.items()} if regions else None
    boxes = [b.xyxy for b in output.calls[call].boxes] if call in output.calls else None
    imgs = {s.name: images[s.name] for s in trace.images}
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = overlay(trace, imgs, mask=masks, boxes=boxes or None, title=f"{trace.sample_id} - {trace.judge}")
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


def run(judge, samples: list[Sample], out: str | Path, options: RunOptions | None = None,
        bad_rows: list[BadRow] = (), retry_failed: bool = False, progress: bool = True) -> RunResult:  # fmt: skip
    """Run ``judge`` over ``samples`` into ``out``; resumable (see the module docstring)."""
    from tqdm import tqdm

    from .tables import build_tables

    options = options or RunOptions()
    out = Path(out)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    header = {"judge": judge.name, "protocol": judge.protocol.name, "options": asdict(options),
              "planted": judge.meta.get("planted"), "tiny": judge.meta.get("tiny")}  # fmt: skip
    run_file = out / "run.json"
    if run_file.exists():
        old = json.loads(run_file.read_text())
        if (old.get("judge"), old.get("protocol")) != (header["judge"], header["protocol"]):
            raise JudgescopeError(
                f"{out} holds a run of {old.get('judge')} / {old.get('protocol')}; use another --out for "
                f"{header['judge']} / {header['protocol']}"
            )
    write_atomic(run_file, json.dumps(_json_safe(header), indent=2))
    order = [s.id for s in samples] + [b.sample_id for b in bad_rows]
    write_atomic(out / "order.json", json.dumps(order))
    result = RunResult(out)
    for bad in bad_rows:
        _record(out, {"sample_id": bad.sample_id, "status": "failed", "error": bad.problem, "line": bad.line,
                      "judge": judge.name, "protocol": judge.protocol.name})  # fmt: skip
        result.failed += 1
    todo = []
    for s in samples:
        rec = _existing(out, s.id)
        if rec is not None and (rec["status"] == "ok" or not retry_failed):
            result.skipped += 1
        else:
            todo.append(s)
    bar = tqdm(todo, desc=f"judgescope {judge.name.split('/')[-1]}", unit="sample", disable=not progress)
    for sample in bar:
        t0 = time.perf_counter()
        try:
            rec = process_sample(judge, sample, options, out)
            result.done += 1
        except Exception as e:  # noqa: BLE001 - a batch run records every failure and goes on
            if isinstance(e, KeyboardInterrupt):
                raise
            rec = {"sample_id": sample.id, "status": "failed", "judge": judge.name, "protocol": judge.protocol.name,
                   "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=5),
                   "line": sample.meta.get("line")}  # fmt: skip
            result.failed += 1
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        _record(out, rec)
        result.new.append(sample.id)
    build_tables(out)
    return result


def _record(out: Path, rec: dict) -> None:
    write_atomic(
        out / "samples" / f"{safe_name(rec['sample_id'])}.json", json.dumps(_json_safe(rec), indent=1)
    )


def _existing(out: Path, sample_id: str) -> dict | None:
    path = out / "samples" / f"{safe_name(sample_id)}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:  # a foreign half-written file: redo the sample
        return None
