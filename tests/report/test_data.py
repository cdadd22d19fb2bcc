"""Dataset readers: MagicBrush-style folders, PIE-Bench mapping files, and the CLI band syntax."""

import json

import numpy as np
from PIL import Image

from judgescope.report.data import read_dataset, read_piebench
from judgescope.report.runner import parse_band


def _img(path, w=64, h=48):
    Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(path)


def test_magicbrush_folder(tmp_path):
    good = tmp_path / "001"
    good.mkdir()
    _img(good / "source.png")
    _img(good / "target.png")
    _img(good / "mask.png")
    (good / "instruction.txt").write_text("add a hat\n")
    bad = tmp_path / "002"
    bad.mkdir()
    _img(bad / "source.png")
    samples, rows = read_dataset(tmp_path)
    assert [s.id for s in samples] == ["001"] and samples[0].instruction == "add a hat"
    assert samples[0].mask.name == "mask.png"
    assert len(rows) == 1 and rows[0].sample_id == "002" and "target" in rows[0].problem


def test_piebench_mapping(tmp_path):
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "edit" / "a").mkdir(parents=True)
    _img(tmp_path / "src" / "a" / "1.jpg", 512, 512)
    _img(tmp_path / "edit" / "a" / "1.jpg", 512, 512)
    mapping = {
        "000": {"image_path": "a/1.jpg", "editing_instruction": "make it red", "mask": [512 * 10 + 5, 3]},
        "001": {"image_path": "a/missing.jpg", "editing_instruction": "x", "mask": []},
    }
    (tmp_path / "map.json").write_text(json.dumps(mapping))
    samples, bad = read_piebench(tmp_path / "map.json", tmp_path / "src", tmp_path / "edit")
    assert [s.id for s in samples] == ["000"]
    assert samples[0].mask.sum() == 3 and samples[0].mask[10, 5:8].all()
    assert bad[0].sample_id == "001" and "not found" in bad[0].problem


def test_band_syntax_is_inclusive():
    assert parse_band("8:20") == slice(8, 21)
    assert parse_band(":3") == slice(None, 4) and parse_band("5:") == slice(5, None)
    assert parse_band([1, 2]) == [1, 2] and parse_band(None) is None
