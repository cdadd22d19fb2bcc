"""Shared fixtures: tiny random judges of every family, built once per test session, and images."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from judgescope.judges import GenerationSettings, Judge
from judgescope.judges.tiny import FAMILIES, build_tiny_model_and_processor
from judgescope.sample import Sample

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


# Judges and a sample shared by the attribution and behaviour tests.
@pytest.fixture(scope="module")
def qwen(tiny_model):
    return tiny_model("qwen2_5_vl", 2)


@pytest.fixture(scope="module")
def vie(qwen):
    model, processor = qwen
    return Judge(model, processor, "viescore", generation=GenerationSettings(max_new_tokens=6))


@pytest.fixture(scope="module")
def value_judge(qwen):
    model, processor = qwen
    torch.manual_seed(3)
    return Judge(model, processor, "valuehead", value_head=nn.Linear(model.config.text_config.hidden_size, 1))


@pytest.fixture(scope="module")
def sample(make_image):
    return Sample("s1", make_image(84, 56, 0), make_image(84, 56, 1), "make the sky red")
