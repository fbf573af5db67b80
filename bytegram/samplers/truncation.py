"""Truncations of one row of float32 values (numpy): the thresholds of top-k, top-p and
min-p, shared by both samplers and by the batched torch transforms (``transforms``).

Every truncation keeps the values at or above a threshold (ties at the boundary kept), so
together they keep ``vals >= truncation_threshold(vals, params)``. ``top_p_cutoff`` is the
definition on values sorted descending (float64 exponentials and running mass);
``top_p_threshold`` finds the same cutoff without sorting every value.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import SamplingParams
from .sums import MASS32_REL_ERR, sum32

__all__ = ["top_p_cutoff", "top_p_threshold", "top_k_threshold", "top_k_ids",
           "min_p_threshold", "truncation_threshold", "truncate_values"]

_TOP_P_SORT = 2048  # top_p_threshold: value sets up to this size are sorted
_TOP_P_BINS = 256  # top_p_threshold: bins of each mass histogram
_TOP_P_CHUNK = 16384  # top_p_threshold: values histogrammed per step
_TOP_P_ROUNDS = 8  # top_p_threshold: histogram rounds at most, then a sort
_TOP_P_WINDOWS = (12.0, 6.0)  # top_p_threshold: windows below the maximum tried first
_TOP_K_ROWS = 64  # top_k_threshold: rows of the column layout of its max pass


def top_p_cutoff(sorted_desc: np.ndarray, p: float) -> int:
    """Index of the top-p cutoff in logits sorted descending (finite only): the first index
    where the cumulative softmax mass reaches ``p``. Float64, shared by both samplers."""
    e = np.exp(sorted_desc.astype(np.float64) - float(sorted_desc[0]))
    cum = np.cumsum(e)
    j = int(np.count_nonzero(cum < p * cum[-1]))
    return min(j, len(sorted_desc) - 1)


def top_p_threshold(vals: np.ndarray, p: float) -> np.float32:
    """The top-p cutoff value of the float32 ``vals`` (keep ``vals >= cutoff``; -inf
    entries are never kept, at least one value is finite): ``top_p_cutoff`` on the values
    sorted descending, without sorting them all (a sort costs ~25 ns per value here: 1.3 ms
    for 50k). The cutoff is the largest value ``t`` whose mass
    ``sum(exp(x - max) for x >= t)`` reaches ``p`` of the total (float64 exponentials, as
    ``top_p_cutoff``). When the values near the top hold that mass, they alone are sorted
    (``_top_p_near_top``); otherwise large sets are narrowed by histograms of the mass over
    ``_TOP_P_BINS`` equal value bins (``_mass_bins``): the first bin whose running mass
    reaches the target holds the cutoff; its values are histogrammed again, or sorted once
    few. The histograms sum in another order than a sorted running sum: their cut can differ
    only where a running sum is within float64 rounding of the target."""
    x = np.asarray(vals)
    if len(x) <= _TOP_P_SORT:
        kv = -np.sort(-x)
        return np.float32(kv[top_p_cutoff(kv, p)])
    mx = float(x.max())
    near = _top_p_near_top(x, mx, p)
    if near is not None:
        return near
    fin = x > -np.inf
    if not fin.all():
        x = x.take(np.flatnonzero(fin))  # (a boolean index costs ~5x more on such masks)
    vals = x
    w = None  # the weights exp(x - mx) of the region, once it is small
    hist = _mass_bins(x, mx, None)
    if hist is None:
        return np.float32(mx)
    bins, mass = hist
    target = p * float(mass.sum())
    above = 0.0  # the mass of the values above the region still searched
    for rounds in range(_TOP_P_ROUNDS):
        cum = np.cumsum(mass)
        cum += above
        k = min(int(np.count_nonzero(cum < target)), _TOP_P_BINS - 1)
        if k:
            above = float(cum[k - 1])
        sel = np.flatnonzero(bins == k)
        x = x.take(sel)
        if w is None:
            w = np.subtract(x, mx, dtype=np.float64)
            np.exp(w, out=w)
        else:
            w = w.take(sel)
        # (each round leaves at least one value out: the extremes fall in bins 0 and last;
        # values spread very unevenly may need many, hence the cap, then a sort)
        if len(x) <= _TOP_P_SORT or rounds == _TOP_P_ROUNDS - 1:
            break
        hist = _mass_bins(x, mx, w)
        if hist is None:  # one value left: it is the cutoff
            return np.float32(x[0])
        bins, mass = hist
    order = np.argsort(-x, kind="stable")
    xs = x[order]
    cum = np.cumsum(w[order])
    cum += above
    j = int(np.count_nonzero(cum < target))
    if j < len(xs):
        return np.float32(xs[j])
    # (rounding: the region's mass fell short of the target) the next value below it
    below = vals.take(np.flatnonzero(vals < xs[-1]))
    return np.float32(below.max() if len(below) else xs[-1])


def _top_p_near_top(x: np.ndarray, mx: float, p: float) -> np.float32 | None:
    """The top-p cutoff of ``x`` (maximum ``mx``, finite) from the values near the top, or
    None when it cannot be certain that way. The candidates are the values within
    ``_TOP_P_WINDOWS`` of the maximum (the widest window that leaves at most
    ``_TOP_P_SORT``); sorted, their float64 running mass is the definition's first running
    sums exactly. The total mass comes from float32 exponentials (``sums.sum32``), within
    ``MASS32_REL_ERR`` of the float64 total: the cutoff is certain when the first running
    sum that reaches ``p`` times the total's upper bound is also the first that reaches
    ``p`` times its lower bound. About 3x faster than the histograms on a row of 128k
    values whose top holds the mass (one float32 exp pass against several float64 ones)."""
    for d in _TOP_P_WINDOWS:
        near = x >= np.float32(mx - d)
        if np.count_nonzero(near) <= _TOP_P_SORT:  # (counted first: cheap when it declines)
            cand = np.flatnonzero(near)
            break
    else:
        return None
    e = np.subtract(x, np.float32(mx), dtype=np.float32)
    np.exp(e, out=e)
    total = sum32(e)
    xs = -np.sort(-x[cand])
    cum = np.cumsum(np.exp(xs.astype(np.float64) - mx))
    j = int(np.count_nonzero(cum < p * total * (1.0 + MASS32_REL_ERR)))
    if j >= len(xs) or int(np.count_nonzero(cum < p * total * (1.0 - MASS32_REL_ERR))) != j:
        return None
    return np.float32(xs[j])


def _mass_bins(x: np.ndarray, mx: float,
               w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(bin of each value, float64 mass per bin) over ``_TOP_P_BINS`` equal value bins from
    ``x.max()`` (bin 0) down to ``x.min()``; None when all values are equal. Bin numbers are
    monotone in the value (ties share a bin). ``w``: the values' weights, or None to compute
    ``exp(x - mx)`` chunk by chunk (megabyte temporaries cost page faults here: a float64
    copy of 128k values took ~1 ms that way, against ~0.1 ms in chunks)."""
    hi = x.max()
    span = float(hi) - float(x.min())
    if span == 0.0:
        return None
    scale = _TOP_P_BINS / span
    n = len(x)
    bins = np.empty(n, dtype=np.uint8)
    mass = np.zeros(_TOP_P_BINS)
    step = _TOP_P_CHUNK
    for s in range(0, n, step):
        xc = x[s: s + step]
        b = np.subtract(hi, xc, dtype=np.float64)
        b *= scale
        bi = b.astype(np.intp)
        np.minimum(bi, _TOP_P_BINS - 1, out=bi)
        if w is None:
            wc = np.subtract(xc, mx, dtype=np.float64)
            np.exp(wc, out=wc)
        else:
            wc = w[s: s + step]
        mass += np.bincount(bi, weights=wc, minlength=_TOP_P_BINS)
        bins[s: s + step] = bi
    return bins, mass


def top_k_threshold(vals: np.ndarray, k: int) -> np.float32:
    """The k-th largest of the float32 ``vals`` (``1 <= k < len(vals)``; keep
    ``vals >= threshold``, ties included), without a selection over every value when k is
    small (``_near_top``: ~40 against ~100-150 us for torch.topk over 128k values, k = 50).
    A large k, or a short vector, takes one selection over everything."""
    near = _near_top(vals, k)
    if near is None:
        n = len(vals)
        if n > 4096:
            t = torch.topk(torch.from_numpy(np.ascontiguousarray(vals)), k, sorted=False)
            return np.float32(t.values.min())
        return np.float32(np.partition(vals, n - k)[n - k])
    v = near[0]
    if len(v) < k:  # (then the subset is every finite value: fewer than k)
        return np.float32(-np.inf)
    return np.float32(np.partition(v, len(v) - k)[len(v) - k])


def top_k_ids(vals: np.ndarray, k: int) -> np.ndarray:
    """Ids of the finite values of the float32 ``vals`` at or above their k-th largest (all
    finite ones when fewer than k are finite), ties included, ascending; for a small k read
    off the few values ``_near_top`` keeps, without a pass that gathers every finite value."""
    n = len(vals)
    near = _near_top(vals, k) if k < n else None
    if near is None:
        thr = top_k_threshold(vals, k) if k < n else np.float32(-np.inf)
        ids = np.flatnonzero(vals >= thr)
    else:
        v, pos = near
        if len(v) <= k:  # (all of the subset's finite values are kept)
            return np.sort(pos)
        thr = np.partition(v, len(v) - k)[len(v) - k]
        return np.sort(pos[v >= thr])
    return ids[vals[ids] > -np.inf] if thr == -np.inf else ids


def _near_top(vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(values, their ids) of a subset of ``vals`` that holds every value at or above the
    k-th largest, or None when k is too large for the layout (k > c / 8). The values are laid
    out as ``[rows, c]`` columns (plus a remainder); one max pass gives the column maxima,
    and ``K``, the k-th largest of them, is a lower bound of the k-th largest value (k
    columns hold a value >= K). Every value >= it is then in a column whose maximum is
    >= K, or in the remainder: those columns and the remainder, their -inf entries dropped
    (numpy's selection slows down ~10x on many equal values), are the subset."""
    n = len(vals)
    rows = _TOP_K_ROWS
    c = n // rows
    if k > c // 8:
        return None
    main = np.ascontiguousarray(vals[: rows * c]).reshape(rows, c)
    colmax = np.maximum.reduce(main, axis=0)
    lower = colmax[np.argpartition(colmax, c - k)[c - k]]
    cols = np.flatnonzero(colmax >= lower)
    v = main[:, cols].ravel()
    pos = (np.arange(rows, dtype=np.int64)[:, None] * c + cols).ravel()
    if rows * c < n:
        v = np.concatenate([v, vals[rows * c:]])
        pos = np.concatenate([pos, np.arange(rows * c, n, dtype=np.int64)])
    fin = v > -np.inf
    if not fin.all():
        fin = np.flatnonzero(fin)  # (take: a boolean index costs several times more)
        v, pos = v.take(fin), pos.take(fin)
    return v, pos


def min_p_threshold(max_value: float, min_p: float) -> np.float32:
    """The smallest float32 ``f`` with ``f >= max_value + log(min_p)`` (computed in float64):
    comparing float32 logits to ``f`` is exactly the float64 min-p test."""
    thr = float(max_value) + math.log(min_p)
    f = np.float32(thr)
    if float(f) < thr:
        f = np.nextafter(f, np.float32(np.inf))
    return np.float32(f)


def truncation_threshold(vals: np.ndarray, params: SamplingParams) -> np.float32:
    """The smallest kept value of top-k, top-p and min-p (in that order) over the finite
    float32 ``vals`` of one row: each keeps the values at or above a threshold (ties kept),
    so together they keep ``vals >= truncation_threshold(vals, params)``; -inf when nothing
    is truncated."""
    thr = np.float32(-np.inf)
    if len(vals) == 0 or params.greedy:
        return thr
    kv = vals
    if params.top_k is not None and params.top_k < len(vals):
        thr = top_k_threshold(vals, params.top_k)
        if params.top_p is not None:
            kv = vals.take(np.flatnonzero(vals >= thr))
    if params.top_p is not None and len(kv) > 1:
        thr = max(thr, top_p_threshold(kv, params.top_p))
    if params.min_p is not None:
        thr = max(thr, min_p_threshold(float(vals.max()), params.min_p))
    return np.float32(thr)


def truncate_values(vals: np.ndarray, params: SamplingParams) -> np.ndarray:
    """Boolean keep-mask of top-k, top-p and min-p (in that order) over the finite float32
    ``vals`` of one row: the numpy twin of ``apply_top_k/top_p/min_p``, same semantics."""
    return vals >= truncation_threshold(vals, params)
