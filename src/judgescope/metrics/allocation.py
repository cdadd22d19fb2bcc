"""Allocation: how a row's attention splits between the source image, the edited image and everything else.

All inputs are masses (sums of attention weights) with shape ``[...]`` (typically ``[layers, heads,
queries]``); outputs are :class:`MetricValue` of the same shape.
"""

from __future__ import annotations

import torch

from ._base import EPS_MASS, MetricValue, as_weights

NO_IMAGE_MASS = "no attention on either image"
EMPTY_GROUP = "group has no tokens"


def source_share(m_src, m_edit) -> MetricValue:
    """s = m_S / (m_S + m_E) in [0, 1]; 0 = the edited image gets all image attention (source neglect)."""
    m_src, m_edit = as_weights(m_src, "m_src"), as_weights(m_edit, "m_edit")
    both = m_src + m_edit
    zero = both <= EPS_MASS
    return MetricValue.build(m_src / torch.where(zero, 1.0, both), {NO_IMAGE_MASS: zero})


def balance(m_src, m_edit) -> MetricValue:
    """1 - |2s - 1| in [0, 1]: 1 = equal attention to both images, 0 = one image gets it all."""
    s = source_share(m_src, m_edit)
    return MetricValue(1.0 - (2.0 * s.value - 1.0).abs(), s.reasons)


def image_share(image_mass, total=1.0) -> MetricValue:
    """Share of the row's attention on image tokens: image_mass / total, in [0, 1]."""
    image_mass, total = as_weights(image_mass, "image_mass"), as_weights(total, "total")
    image_mass, total = torch.broadcast_tensors(image_mass, total)
    zero = total <= EPS_MASS
    return MetricValue.build(image_mass / torch.where(zero, 1.0, total), {"row has no attention left": zero})


def per_token_efficiency(mass, n_tokens) -> MetricValue:
    """Attention per token of a group, mass / |group| (FastV's view); NaN for an empty group.

    Units: share of the row per token; uniform attention over T keys gives 1/T for every group.
    """
    mass = as_weights(mass, "mass")
    n = torch.as_tensor(n_tokens, dtype=torch.float64)
    mass, n = torch.broadcast_tensors(mass, n)
    empty = n <= 0
    return MetricValue.build(mass / torch.where(empty, 1.0, n), {EMPTY_GROUP: empty})
