"""Heavy attention inside the edit region is grounding, not a sink."""

import numpy as np
import torch

from judgescope.metrics import diagnose
from judgescope.probe.synthetic import synthetic_layout, synthetic_trace


def test_region_tokens_are_not_sinks_but_others_are():
    spans, keys = synthetic_layout(((4, 6), (4, 6)))
    w = torch.ones(keys)
    region = np.zeros((4, 6))
    region[1, 2] = 1.0
    for span in spans:
        w[span.positions[1 * 6 + 2]] = 200.0  # the region token of each image: heavy
    w[0] = 200.0  # the first token: a sink
    trace = synthetic_trace(w, grids=((4, 6), (4, 6)))
    without = diagnose(trace)
    assert {spans[0].positions[8], spans[1].positions[8], 0} <= set(without.sinks.positions)
    with_region = diagnose(trace, regions={"source": region, "edited": region})
    assert set(with_region.sinks.positions) == {0}
    assert with_region.summary["lift_edit"] > 5
