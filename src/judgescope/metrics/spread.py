"""Spread of attention inside one image: entropy, concentration, Gini, and cross-image correspondence.

Inputs are raw attention weights over an image's grid tokens, ``[..., N]`` (row-major grid) or ``[..., rows,
cols]`` for :func:`correspondence`. Each row is renormalised inside the image first: p = w / sum(w).
"""

from __future__ import annotations

import torch

from ._base import ONE_TOKEN, ZERO_MASS, Dist, MetricValue, as_weights
from ._scan import scan

#: Default share of the grid's tokens that :func:`concentration` looks at (the top 5 %).
TOP_FRACTION = 0.05

CONSTANT_MAP = "map is constant (zero variance)"


def spread_metrics(w, keep=None, top_fraction: float = TOP_FRACTION) -> dict[str, MetricValue]:
    """All one-image spread metrics for rows of weights ``w`` ``[..., N]``.

    Args:
        w: non-negative weights over the grid tokens.
        keep: optional bool ``[..., N]`` of tokens kept (False = removed sink; the grid shrinks).
        top_fraction: share of tokens for ``concentration``; k = max(1, ceil(top_fraction * N)).

    Returns:
        ``entropy`` (nats, [0, log N]), ``entropy_norm`` ([0, 1]), ``effective_tokens`` ([1, N]),
        ``concentration`` ([k/N, 1]) and ``gini`` ([0, (N-1)/N]), each ``[...]``.
    """
    return _spread(Dist(w, keep), top_fraction)


def _spread(d: Dist, top_fraction: float = TOP_FRACTION) -> dict[str, MetricValue]:
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    n, n_all, shape = d.n, d.num_tokens, d.mass.shape
    k = torch.ceil(top_fraction * n - 1e-9).clamp(1, n_all).to(torch.long)
    sc = scan(d, int(k.max()))
    h = sc.entropy.reshape(shape)
    one = d.n <= 1
    base = {ZERO_MASS: d.zero}
    # log(n) is 0 for one token; the where() keeps the division finite before NaN is set by the reason.
    norm = h / torch.where(one, 1.0, torch.log(n.clamp_min(1)))
    # The top k of the ascending sort (dropped tokens, -1, sort first) are its last k positions.
    top = sc.top.reshape(*shape, -1).cumsum(-1, dtype=torch.float64)
    conc = top.gather(-1, (k - 1).unsqueeze(-1)).squeeze(-1)
    # Gini (sum p = 1): G = 2 sum_i i x_(i) / n - (n + 1) / n with i the 1-based ascending rank among kept
    # tokens. Kept token at sorted position j (0-based) has i = j + 1 - (N - n); the dropped ones hold -1.
    dropped = n_all - n
    sum_ix = sc.sum_ix.reshape(shape) + dropped * (dropped + 1) / 2 - dropped
    nn = n.clamp_min(1)
    gini = (2 * sum_ix / nn - (n + 1) / nn).clamp(0, 1)
    return {
        "entropy": MetricValue.build(h, base),
        "entropy_norm": MetricValue.build(norm, {**base, ONE_TOKEN: one}),
        "effective_tokens": MetricValue.build(torch.exp(h), base),
        "concentration": MetricValue.build(conc, {**base, ONE_TOKEN: one}),
        "gini": MetricValue.build(gini, {**base, ONE_TOKEN: one}),
    }


def entropy(w, keep=None) -> MetricValue:
    """H(p) = -sum p log p in nats (0 = all attention on one token, log N = uniform)."""
    return spread_metrics(w, keep)["entropy"]


def normalized_entropy(w, keep=None) -> MetricValue:
    """H(p) / log N in [0, 1]; NaN for a grid of one token."""
    return spread_metrics(w, keep)["entropy_norm"]


def concentration(w, keep=None, top_fraction: float = TOP_FRACTION) -> MetricValue:
    """Share of p held by the k = max(1, ceil(top_fraction * N)) most-attended tokens."""
    return spread_metrics(w, keep, top_fraction)["concentration"]


def gini(w, keep=None) -> MetricValue:
    """Gini coefficient of p: 0 = uniform, (N-1)/N = one-hot."""
    return spread_metrics(w, keep)["gini"]


def _area_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``[n_out, n_in]``: weight of input cell i in output cell o = overlap length / output cell length.

    Cells tile [0, 1]; rows sum to 1, so the result is the exact area average of the input.
    """
    edges_in = torch.linspace(0, 1, n_in + 1, dtype=torch.float64)
    edges_out = torch.linspace(0, 1, n_out + 1, dtype=torch.float64)
    lo = torch.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = torch.minimum(edges_out[1:, None], edges_in[None, 1:])
    return (hi - lo).clamp_min(0) * n_out


def resample_area(x, size: tuple[int, int]) -> torch.Tensor:
    """Exact area-weighted resampling of maps ``[..., rows, cols]`` onto ``size = (rows2, cols2)``.

    Each output cell is the area-weighted mean of the input cells it overlaps (both grids span the same
    image), so a constant map stays constant and the mean is preserved. Returns float64 (float32 for float32 input) ``[..., rows2, cols2]``.
    """
    x = torch.as_tensor(x)
    x = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    r_mat = _area_matrix(x.shape[-2], size[0]).to(x.dtype)
    c_mat = _area_matrix(x.shape[-1], size[1]).to(x.dtype)
    return r_mat @ x @ c_mat.T


def correspondence(map_a, map_b, keep_a=None, keep_b=None) -> MetricValue:
    """Pearson correlation of p_A and p_B after area resampling both onto the smaller grid.

    Args:
        map_a, map_b: weights ``[..., rows_a, cols_a]`` and ``[..., rows_b, cols_b]`` (same leading dims).
        keep_a, keep_b: optional bool ``[..., rows*cols]`` of kept tokens (removed tokens weigh 0).

    The common grid is ``(min(rows_a, rows_b), min(cols_a, cols_b))``. Returns ``[...]`` in [-1, 1]; 1 = the
    judge looks at the same places in both images. NaN where either image has no mass or a resampled map
    is constant (e.g. uniform attention, or a 1-token common grid).
    """
    a, b = as_weights(map_a, "map_a"), as_weights(map_b, "map_b")
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError("correspondence needs maps [..., rows, cols]")
    return _correspondence(
        Dist(a.flatten(-2), keep_a), Dist(b.flatten(-2), keep_b), a.shape[-2:], b.shape[-2:]
    )


def _dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """float64 ``[R]`` row-wise dot products of ``[R, M]`` maps, as one batched matmul (no temporary)."""
    return (x.unsqueeze(-2) @ y.unsqueeze(-1)).squeeze(-1).squeeze(-1).double()


def _centred(d: Dist, r0: int, r1: int, grid, size) -> tuple[torch.Tensor, torch.Tensor]:
    """p of rows ``r0:r1`` resampled onto ``size`` and centred, ``[b, M]``, and its mean ``[b]``."""
    r = d.p_block(r0, r1).unflatten(-1, tuple(grid))
    r = (r if tuple(grid) == tuple(size) else resample_area(r, size)).flatten(-2)
    mean = r.mean(-1, keepdim=True)
    return r.sub_(mean), mean.squeeze(-1)


def _correspondence(da: Dist, db: Dist, grid_a, grid_b) -> MetricValue:
    size = (min(grid_a[0], grid_b[0]), min(grid_a[1], grid_b[1]))
    m = size[0] * size[1]
    rows = da.w2.shape[0]
    va, vb, cov, mean_a, mean_b = (torch.empty(rows, dtype=torch.float64) for _ in range(5))
    for r0, r1 in da.blocks(max(da.num_tokens, db.num_tokens)):  # blocks: see BLOCK_ELEMENTS
        ra, mean_a[r0:r1] = _centred(da, r0, r1, grid_a, size)
        rb, mean_b[r0:r1] = _centred(db, r0, r1, grid_b, size)
        va[r0:r1], vb[r0:r1], cov[r0:r1] = _dot(ra, ra), _dot(rb, rb), _dot(ra, rb)
    shape = da.mass.shape
    va, vb, cov = va.reshape(shape), vb.reshape(shape), cov.reshape(shape)
    # Constant maps leave only rounding noise after centring; compare with the maps' squared scale m*mean^2.
    scale_a, scale_b = m * mean_a.reshape(shape) ** 2, m * mean_b.reshape(shape) ** 2
    flat = (va <= 1e-10 * scale_a) | (vb <= 1e-10 * scale_b)
    r = (cov / torch.sqrt(torch.where(flat, 1.0, va * vb))).clamp(-1.0, 1.0)
    zero = da.zero | db.zero
    if m == 1:
        return MetricValue.build(r, {ZERO_MASS: zero, ONE_TOKEN: torch.ones_like(flat)})
    return MetricValue.build(r, {ZERO_MASS: zero, CONSTANT_MAP: flat & ~zero})
