"""Every family: the decoder re-run reproduces the judge; blind planted judges give exact zeros."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from judgescope.attribution import attribute
from judgescope.behaviour import probe_sample
from judgescope.judges import Judge
from judgescope.judges.planted import planted
from judgescope.judges.tiny import FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_family(tiny_model, sample, family):
    model, processor = tiny_model(family, 2)
    torch.manual_seed(0)
    judge = Judge(
        model, processor, "valuehead", value_head=nn.Linear(model.config.get_text_config().hidden_size, 1)
    )
    attr = attribute(judge, sample, "input_x_gradient")
    assert attr.meta["target_value"] == pytest.approx(
        judge.reward(judge.prepare(sample, "instruction")), abs=1e-5
    )
    blind = planted(judge, "source_blind")
    zero = attribute(blind, sample, "input_x_gradient")
    assert float(zero.attention[..., list(zero.image("source").positions)].abs().max()) == 0.0
    vie = Judge(model, processor, "viescore")
    res = probe_sample(
        planted(vie, "source_blind"), sample, probes=("knockout", "blank_source"), score="logit"
    )
    assert res.probes["knockout"].delta == 0.0 and res.probes["blank_source"].delta == 0.0
