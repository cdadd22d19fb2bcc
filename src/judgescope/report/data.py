"""Datasets in: manifests (JSONL / CSV), MagicBrush-style folders, PIE-Bench mapping files.

Readers never stop at a bad row: they return the good samples and a list of :class:`BadRow` with the line
number and the problem, which the run records as failures.

Manifest fields (one row per sample): ``id``, ``source``, ``edited``, ``instruction`` (required); ``mask``
(path to a mask image, white = edited), ``boxes`` (JSON list of ``[x1, y1, x2, y2]`` in source pixels),
``label`` / ``score`` (human judgement). Paths are relative to the manifest's folder.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import SampleError
from ..sample import Sample

REQUIRED = ("id", "source", "edited", "instruction")


@dataclass(frozen=True)
class BadRow:
    """A manifest row that could not become a sample."""

    line: int
    sample_id: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line} ({self.sample_id}): {self.problem}"


def _row_to_sample(row: dict, base: Path, line: int) -> Sample:
    sid = str(row.get("id") or f"line{line}")
    missing = [k for k in REQUIRED if not str(row.get(k) or "").strip()]
    if missing:
        raise SampleError(sid, f"missing field(s) {missing}")
    paths = {}
    for key in ("source", "edited", "mask"):
        value = row.get(key)
        if value:
            p = Path(str(value))
            paths[key] = p if p.is_absolute() else base / p
            if not paths[key].exists():
                raise SampleError(sid, f"{key} file not found: {paths[key]}")
    boxes = row.get("boxes")
    if isinstance(boxes, str) and boxes.strip():
        try:
            boxes = json.loads(boxes)
        except json.JSONDecodeError as e:
            raise SampleError(sid, f"boxes is not a JSON list: {boxes!r}") from e
    label = row.get("label", row.get("score"))
    if isinstance(label, str):
        try:
            label = float(label) if label.strip() else None
        except ValueError:
            label = label.strip()
    meta = {k: v for k, v in row.items() if k not in (*REQUIRED, "mask", "boxes", "label", "score")}
    sample = Sample(sid, paths["source"], paths["edited"], str(row["instruction"]), mask=paths.get("mask"),
                    boxes=boxes or None, label=label, meta=meta)  # fmt: skip
    sample.meta["line"] = line
    return sample


def read_manifest(path: str | Path) -> tuple[list[Sample], list[BadRow]]:
    """Samples of a JSONL or CSV manifest, and the rows that could not be read.

    Images are checked for existence here and for readability when the run opens them; duplicate ids are bad
    rows (the first one wins).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"manifest not found: {path}")
    base = path.parent
    rows: list[tuple[int, dict | None, str]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f), start=2):  # line 1 is the header
                rows.append((i, row, ""))
    else:
        for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
                rows.append(
                    (
                        i,
                        row if isinstance(row, dict) else None,
                        "" if isinstance(row, dict) else "not a JSON object",
                    )
                )
            except json.JSONDecodeError as e:
                rows.append((i, None, f"invalid JSON: {e.msg}"))
    samples, bad, seen = [], [], set()
    for line, row, problem in rows:
        if row is None:
            bad.append(BadRow(line, f"line{line}", problem))
            continue
        try:
            sample = _row_to_sample(row, base, line)
        except SampleError as e:
            bad.append(BadRow(line, e.sample_id, e.problem))
            continue
        if sample.id in seen:
            bad.append(BadRow(line, sample.id, "duplicate id"))
            continue
        seen.add(sample.id)
        samples.append(sample)
    return samples, bad


def read_magicbrush(folder: str | Path) -> tuple[list[Sample], list[BadRow]]:
    """A MagicBrush-style folder: one sub-folder per sample with ``source*.png``, ``target*.png`` (edited),
    optional ``mask*.png`` and ``instruction.txt`` (or an ``edit_sessions.json`` is not required)."""
    folder = Path(folder)
    samples, bad = [], []
    for i, sub in enumerate(sorted(p for p in folder.iterdir() if p.is_dir()), start=1):

        def first(pattern, sub=sub):
            found = sorted(sub.glob(pattern))
            return found[0] if found else None

        src, tgt, mask, instr = first("source*"), first("target*"), first("mask*"), sub / "instruction.txt"
        try:
            if src is None or tgt is None:
                raise SampleError(sub.name, "needs source* and target* images")
            if not instr.exists():
                raise SampleError(sub.name, "instruction.txt missing")
            samples.append(Sample(sub.name, src, tgt, instr.read_text().strip(), mask=mask))
        except SampleError as e:
            bad.append(BadRow(i, e.sample_id, e.problem))
    return samples, bad


def read_piebench(mapping_file: str | Path, image_root: str | Path, edited_root: str | Path):
    """PIE-Bench: ``mapping_file.json`` entries (``image_path``, ``editing_instruction``, ``mask`` RLE), source
    images under ``image_root`` and edited images (same relative paths) under ``edited_root``.
    The RLE mask is decoded with :func:`judgescope.regions.piebench_mask` into ``sample.mask``."""
    from ..regions import piebench_mask

    mapping = json.loads(Path(mapping_file).read_text())
    samples, bad = [], []
    for i, (key, entry) in enumerate(mapping.items(), start=1):
        try:
            rel = entry["image_path"]
            src, edit = Path(image_root) / rel, Path(edited_root) / rel
            for p, what in ((src, "source"), (edit, "edited")):
                if not p.exists():
                    raise SampleError(key, f"{what} file not found: {p}")
            mask = piebench_mask(entry["mask"]) if entry.get("mask") else None
            samples.append(Sample(key, src, edit, entry.get("editing_instruction", ""), mask=mask))
        except (SampleError, KeyError) as e:
            problem = e.problem if isinstance(e, SampleError) else f"missing field {e}"
            bad.append(BadRow(i, key, problem))
    return samples, bad


def read_dataset(path: str | Path, **kwargs) -> tuple[list[Sample], list[BadRow]]:
    """A manifest file (``.jsonl``/``.json``/``.csv``) or a MagicBrush-style folder."""
    path = Path(path)
    if path.is_dir():
        return read_magicbrush(path)
    return read_manifest(path)
