"""Tiny judges and samples shared by the behaviour tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from judgescope.judges import GenerationSettings, Judge
from judgescope.sample import Sample


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
