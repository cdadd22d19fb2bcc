"""One blocked pass over the rows of a :class:`Dist`: entropy, the ascending sort and everything read from it.

Per block of rows (see :data:`~judgescope.metrics._base.BLOCK_ELEMENTS`) p is formed, its entropy taken, and
its values sorted together with the region labels; the sort feeds concentration (top values), Gini (sum of
rank x value), and the rank statistics of grounding (pointing, top-k intersection, Mann-Whitney U). Only
per-row results are kept, so no temporary is ever the size of the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._base import Dist, _rows

#: The bits of 1.0f: a 0/1 label bit times these, read as float32, is 0.0 or 1.0.
_ONE_BITS = 0x3F800000


@dataclass(frozen=True)
class Scan:
    """Per-row results of :func:`scan`, each ``[R]`` over the flattened rows (float64 unless noted).

    Attributes:
        entropy: H(p) in nats.
        sum_ix: sum_j (j + 1) s_j over the ascending sort s, dropped tokens counting as -1 at the front.
        top: ``[R, k_max]`` the k_max largest values of p, descending (p's dtype; 0 where fewer are kept).
        in_region: sum_j p_j c_j, or None without a region.
        pointing, inter, u: rank statistics of the labels (see :func:`_rank_stats_ties`), or None without one.
    """

    entropy: torch.Tensor
    sum_ix: torch.Tensor
    top: torch.Tensor
    in_region: torch.Tensor | None
    pointing: torch.Tensor | None
    inter: torch.Tensor | None
    u: torch.Tensor | None


def scan(d: Dist, k_max: int) -> Scan:
    """All per-row quantities of ``d`` that need p or its sort, with at least ``k_max`` top values.

    Memoised on ``d`` (a later call with a smaller ``k_max`` reuses the result).
    """
    got = d.memo.get("scan")
    if got is not None and got.top.shape[-1] >= k_max:
        return got
    n_all, rows = d.num_tokens, d.w2.shape[0]
    k_max = min(max(k_max, 1), n_all)
    f64 = torch.float64
    h, sum_ix = torch.empty(rows, dtype=f64), torch.empty(rows, dtype=f64)
    top = torch.empty(rows, k_max, dtype=d.dtype)
    in_region = None if d.region is None else torch.empty(rows, dtype=f64)
    has_label = d.label is not None
    pointing, inter, u = (torch.empty(rows, dtype=f64) for _ in range(3)) if has_label else (None,) * 3
    n = d.n.reshape(-1)
    dropped = n_all - n
    if has_label:
        npos = torch.broadcast_to(d.label.sum(-1).double(), d.mass.shape).reshape(-1)
        k_lab = npos.clamp(1, n_all).to(torch.long)  # IoU's k
        lab_rows = _rows(d.label, tuple(d.mass.shape))  # [N] or [R, N]; dropped tokens sort apart anyway
    j1 = torch.arange(1, n_all + 1, dtype=d.dtype)
    # Positions sums are exact integers in float32 while they stay below 2^24.
    exact = torch.float32 if n_all * (n_all + 1) / 2 < 2**24 else f64
    j1_exact = torch.arange(1, n_all + 1, dtype=exact)

    ties = []
    for r0, r1 in d.blocks():
        p = d.p_block(r0, r1)
        if in_region is not None:
            in_region[r0:r1] = p @ d.region
        # -sum p log p with 0 log 0 = 0: log p >= -745 for every positive float, so the clamp only turns the
        # -inf of p = 0 into a finite value that the product with 0 zeroes.
        plogp = torch.log(p).clamp_min_(-745.0).mul_(p)
        h[r0:r1] = -plogp.sum(-1)
        del plogp
        lab_b = None if not has_label else (lab_rows if lab_rows.ndim == 1 else lab_rows[r0:r1])
        keep_b = None if d.cols is None else (d.keep2 if d.keep2.ndim == 1 else d.keep2[r0:r1])
        s, lab, labf, tied = _sort_block(p, lab_b, d.cols, keep_b, dropped[r0:r1])
        sum_ix[r0:r1] = s @ j1
        top[r0:r1] = s[:, n_all - k_max :].flip(-1).clamp_min(0)
        if not has_label:
            continue
        # Closed forms for rows without ties: the top token's label; labels among the last k positions;
        # U = sum over labelled of (unlabelled kept below) = sum of 1-based positions - dropped - (1 + .. + npos).
        kb, nb = k_lab[r0:r1], npos[r0:r1]
        pointing[r0:r1] = labf[:, -1]
        ks = torch.unique(kb)
        if len(ks) == 1:
            inter[r0:r1] = labf[:, n_all - int(ks[0]) :].sum(-1, dtype=f64)
        else:
            inter[r0:r1] = (labf * (torch.arange(n_all) >= n_all - kb.unsqueeze(-1))).sum(-1, dtype=f64)
        pos_sum = (labf.to(exact) @ j1_exact).double()
        u[r0:r1] = pos_sum - dropped[r0:r1] * nb - nb * (nb + 1) / 2
        tied_idx = torch.nonzero(tied).flatten()
        if len(tied_idx):  # kept for one exact pass over all tied rows at the end
            ties.append(
                (r0 + tied_idx, s[tied_idx], lab[tied_idx] if lab is not None else labf[tied_idx] != 0)
            )
    if ties:
        idx, s_t, lab_t = (torch.cat(x) for x in zip(*ties))
        pointing[idx], inter[idx], u[idx] = _rank_stats_ties(s_t, lab_t, k_lab[idx])
    out = Scan(h, sum_ix, top, in_region, pointing, inter, u)
    d.memo["scan"] = out
    return out


def _sort_block(p, lab, cols, keep, dropped):
    """Sort a block ``p`` ``[b, N]`` ascending with dropped tokens first as -1.

    Returns ``(s, lab_sorted, labf, tied)``: sorted values, bool labels in that order (None when only
    ``labf`` was formed), labels as 0/1 in p's dtype (None without labels), and bool ``[b]`` rows where a
    labelled and an unlabelled kept token tie exactly (ties within one label leave pointing, IoU and AUROC
    as the closed forms give them). Among equal values unlabelled tokens come first.

    float32 rows are sorted as one int32 key per token, value bits << 1 | label (the bits of a non-negative
    float sort like the float; numpy's SIMD integer sort is several times faster than an argsort). Dropped
    tokens get distinct negative even keys, so they sort first and never look tied: adjacent keys of equal
    values differ by at most 1 (exactly 1 across labels), of different values by at least 2.
    """
    if p.dtype != torch.float32:
        return _sort_block_lex(p, lab, cols, keep)
    key = p.numpy().view(np.int32) << 1
    if lab is not None:
        key |= lab.numpy()
    if cols is not None:
        codes = -2 * (cols.numpy().astype(np.int32) + 1)
        key[:, cols.numpy()] = np.where(keep.numpy(), key[:, cols.numpy()], codes)
    key.sort(axis=-1)
    s = torch.from_numpy((key >> 1).view(np.float32))
    if cols is not None:
        counts = torch.unique(dropped)
        if len(counts) == 1:  # the usual case: the same sinks in every row
            s[:, : int(counts[0])] = -1.0
        else:
            s.masked_fill_(torch.arange(s.shape[-1]) < dropped.unsqueeze(-1), -1.0)
    if lab is None:
        return s, None, None, None
    bits = key & 1
    bits *= _ONE_BITS
    # Only tie groups holding both labels change a rank statistic; such a group has adjacent keys 2v, 2v + 1.
    tied = torch.from_numpy((key[:, 1:] - key[:, :-1] == 1).any(-1))
    return s, None, torch.from_numpy(bits.view(np.float32)), tied


def _sort_block_lex(p, lab, cols, keep):
    """:func:`_sort_block` for float64 rows: a lexicographic argsort of (value, label)."""
    q = p
    if cols is not None:
        q = p.clone()
        q[:, cols] = torch.where(keep, p[:, cols], -1.0)
    qn = q.numpy()
    if lab is None:
        return torch.from_numpy(np.sort(qn, axis=-1)), None, None, None
    labn = np.broadcast_to(lab.numpy(), qn.shape)
    order = np.lexsort((labn, qn), axis=-1)
    s = torch.from_numpy(np.take_along_axis(qn, order, -1))
    lab_s = torch.from_numpy(np.take_along_axis(labn, order, -1))
    tied = ((s[:, 1:] == s[:, :-1]) & (lab_s[:, 1:] != lab_s[:, :-1])).any(-1)
    return s, lab_s, lab_s.to(p.dtype), tied


def _rank_stats_ties(s: torch.Tensor, lab: torch.Tensor, k: torch.Tensor):
    """Exact pointing, top-k intersection and U for rows ``s`` ``[r, N]`` sorted ascending (dropped tokens -1
    first) with bool labels ``lab`` (unlabelled first among equal values); ``k`` ``[r]``.

    pointing = share of labelled tokens among the exact maxima; inter = labelled tokens among the top k, the
    tie group straddling the k-th slot sharing its slots fractionally; U = sum over labelled tokens of the
    unlabelled kept tokens below plus half the tied ones (all float64 ``[r]``).
    """
    r, n_all = s.shape
    neg = ~lab & (s >= 0)
    poscum = lab.cumsum(-1, dtype=torch.int32)
    negcum = neg.cumsum(-1, dtype=torch.int32)
    same = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    new = torch.cat([torch.ones_like(same[:, :1]), ~same], -1)
    first = torch.where(new, torch.arange(n_all), 0).cummax(-1).values  # first position of each tie group
    last_pos = torch.full((r,), n_all - 1, dtype=torch.long)

    def at(cum: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """cum at sorted position ``pos`` ``[r]`` (0 for pos = -1), as float64."""
        got = cum.gather(-1, pos.clamp_min(0).unsqueeze(-1)).squeeze(-1).double()
        return torch.where(pos >= 0, got, 0.0)

    def group_first(pos: torch.Tensor) -> torch.Tensor:
        return first.gather(-1, pos.unsqueeze(-1)).squeeze(-1)

    f = group_first(last_pos)
    pointing = (at(poscum, last_pos) - at(poscum, f - 1)) / (n_all - f).double()

    pk = n_all - k
    f = group_first(pk)
    last = f + (s == s.gather(-1, pk.unsqueeze(-1))).sum(-1) - 1
    above = at(poscum, last_pos) - at(poscum, last)
    in_group = at(poscum, last) - at(poscum, f - 1)
    slots = (k - (n_all - 1 - last)).double() / (last - f + 1).double()
    inter = above + slots * in_group

    # With unlabelled-first tie order, negcum at a labelled position counts all tied unlabelled tokens.
    u_all = (negcum * lab).sum(-1).double()
    before = negcum.gather(-1, (first - 1).clamp_min(0)) * (first > 0)
    u = 0.5 * (u_all + (before * lab).sum(-1).double())
    return pointing, inter, u
