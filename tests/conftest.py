"""Shared fixtures: tiny random judges of every family, built once per test session, and images."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from PIL import Image

from judgescope.judges.tiny import FAMILIES, build_tiny_model_and_processor

QWEN = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")


@functools.cache
def tiny(family: str, layers: int = 2):
    """(model, processor) of a tiny judge, cached across tests (do not mutate the model)."""
    return build_tiny_model_and_processor(family, layers=layers)


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="session")
def tiny_model():
    """``tiny_model(family, layers=2) -> (model, processor)``, cached for the session."""
    return tiny


@pytest.fixture(scope="session")
def make_image():
    """``make_image(width, height, seed=0) -> PIL.Image`` of random noise."""
    return noise_image


@pytest.fixture(params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture(scope="session")
def tiny_judge_dir(tmp_path_factory):
    """A saved tiny Qwen2.5-VL judge folder (for load_judge)."""
    from judgescope.judges.tiny import build_tiny_judge

    return build_tiny_judge("qwen2_5_vl", tmp_path_factory.mktemp("judges") / "tiny-qwen2_5_vl")
