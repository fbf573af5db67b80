"""Exact categorical draws and log-sums over float32 logits (or their exponentials).

Shared by the samplers: ``categorical`` (softmax of logits, optionally above a truncation
threshold), ``truncated_index`` (the draw after top-k / top-p / min-p), ``_draw_weights``
(nonnegative weights: one running sum, or a two-level search over blocks), and the
logsumexp ``_lse`` / ``exact_log_z`` of the exact weights. Exponentials are float32
(within a few ulps); the running sums of the draws are float64; long sums are float32
column sums, then float64 (``sums``).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate

import numpy as np

from .base import SamplingParams
from .sums import ROWS, column_sums, sum32
from .truncation import truncation_threshold

__all__ = ["categorical", "truncated_index", "exact_log_z"]

_NEG_INF = float("-inf")
_CAT_DIRECT = 4096  # categorical: vectors up to this long take one running sum
_CAT_ROWS = ROWS  # two-level search: blocks are the columns of [_CAT_ROWS, n // _CAT_ROWS]


def categorical(values: np.ndarray, rng: np.random.Generator, *,
                floor: np.float32 | None = None) -> int:
    """Index drawn with probability softmax(values) (-inf entries never), from the float32
    exponentials summed in float64 (``_draw_weights``). ``floor``: only entries ``>= floor``
    are drawn (a truncation threshold; at least the largest entry must reach it). -1 if
    every entry is -inf."""
    v = np.asarray(values)
    n = v.size
    if n <= 16:  # a few values: the same sums in Python
        if n == 0:
            return -1
        xs = v.tolist()
        mx = max(xs)
        if mx == -math.inf:
            return -1
        if floor is not None:
            xs = [x if x >= floor else -math.inf for x in xs]
        cum = list(accumulate(math.exp(x - mx) for x in xs))
        return min(bisect_right(cum, rng.random() * cum[-1]), n - 1)
    mx = float(v.max())
    if mx == -math.inf:
        return -1
    e = np.subtract(v, np.float32(mx), dtype=np.float32)  # (as _lse: float32 exponentials)
    np.exp(e, out=e)
    if floor is not None and floor > -np.inf:
        np.multiply(e, v >= floor, out=e)
    return _draw_weights(e, rng)


def truncated_index(vals: np.ndarray, params: SamplingParams,
                    rng: np.random.Generator) -> int:
    """Index drawn from softmax(vals) restricted to the values kept by top-k, top-p and
    min-p (``truncation_threshold``); ``vals``: finite float32, at least one. A kept set of
    at most a quarter of the values is gathered first (a categorical over a few values);
    a larger one is drawn in place, above the threshold (no copy of the kept values)."""
    thr = truncation_threshold(vals, params)
    kept = np.flatnonzero(vals >= thr)
    if 4 * len(kept) <= len(vals):
        return int(kept[categorical(vals[kept], rng)])
    return categorical(vals, rng, floor=thr)


def _draw_weights(w: np.ndarray, rng: np.random.Generator,
                  sums: np.ndarray | None = None) -> int:
    """Index drawn with probability ``w[i] / sum(w)`` for nonnegative float weights with a
    positive sum, summed in float64. Up to ``_CAT_DIRECT`` values: one running sum and a
    binary search. Longer vectors are searched in two levels, as a running sum over every
    value costs ~3 ns each here (0.4 ms for 128k, up to 1.3 ms when its megabyte output
    page-faults): blocks (``_block_sums``: the strided columns of a ``[_CAT_ROWS, C]``
    layout, then the remainder), each weighed by its float32 sum raised by that sum's
    worst-case rounding error (an upper bound of its float64 sum), then one block by its
    own float64 running sum; a uniform past that exact sum (the bound's excess, about 1e-5
    of the mass) is drawn again, so the draw stays exact. ``sums``: the block sums when the
    caller has them."""
    n = len(w)
    if n <= _CAT_DIRECT:
        cum = np.cumsum(w, dtype=np.float64)
        i = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        return min(i, n - 1)
    r = _CAT_ROWS
    c = n // r
    if sums is None:
        sums = _block_sums(w)
    cum = np.cumsum(sums, dtype=np.float64)
    cum *= 1.0 + r * 2.0 ** -23  # each block's bound: a float32 sum of <= r terms
    total = float(cum[-1])
    last = len(cum) - 1
    while True:
        u = rng.random() * total
        b = min(int(cum.searchsorted(u, side="right")), last)
        if b:
            u -= float(cum[b - 1])
        if b < c:  # column b: the values b, b + c, ..., b + (r - 1) c
            exact = np.cumsum(w[b: r * c: c], dtype=np.float64)
            if u < exact[-1]:
                return b + c * int(exact.searchsorted(u, side="right"))
        else:  # the remainder past r * c
            exact = np.cumsum(w[r * c:], dtype=np.float64)
            if u < exact[-1]:
                return r * c + int(exact.searchsorted(u, side="right"))


def _block_sums(w: np.ndarray) -> np.ndarray:
    """float32 sums of the blocks of ``w`` (at least ``_CAT_ROWS`` values) that
    ``_draw_weights`` searches: the columns of its ``[_CAT_ROWS, len(w) // _CAT_ROWS]``
    layout, then the remainder (``sums.column_sums``), each within ``_CAT_ROWS - 1``
    float32 ulps of its exact value: the bound ``_draw_weights`` is written for."""
    return column_sums(w, _CAT_ROWS)


def _lse(vals: np.ndarray, mx: float) -> float:
    """logsumexp of a float32 vector whose maximum is ``mx`` (-inf for an all -inf vector):
    float32 differences and exponentials (each within a few float32 ulps, ~1e-7 relative),
    summed by ``sums.sum32`` (relative error of a few 1e-6 at worst, ~1e-8 measured). Float64
    exponentials cost 2-3x more here (~150 against ~60 us per 128k values, ~1 ms when
    their megabyte temporaries page-fault), for a precision no weight needs."""
    if mx == -math.inf:
        return _NEG_INF
    e = np.subtract(vals, np.float32(mx), dtype=np.float32)
    np.exp(e, out=e)
    return mx + math.log(sum32(e))


def exact_log_z(work_row: np.ndarray, allowed_row: np.ndarray) -> float:
    """log of the allowed mass of softmax(work_row), in log space (finite even when the mass
    underflows); ``allowed_row`` is a boolean mask. -inf when nothing allowed is finite."""
    mx = float(work_row.max())
    vals = work_row[allowed_row]
    if mx == -math.inf or len(vals) == 0:
        return _NEG_INF
    amx = float(vals.max())
    if amx == -math.inf:
        return _NEG_INF
    return _lse(vals, amx) - _lse(work_row, mx)
