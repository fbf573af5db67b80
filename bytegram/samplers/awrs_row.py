"""One row of logits prepared for lazy sampling: candidates, their weights, the tail envelope.

Laziness (no sort of the vocabulary, no noise for every token). One pass over the row, laid
out as ``[V // C, C]``, gives column maxima. The columns whose maximum is near the top give
the candidate set ``S = {i : x_i >= tau}``; keys are drawn for ``S`` only and ordered by a
partial sort in growing blocks (1, 8, 64, 512, all). Every other token (the tail) has a value
bounded by ``b_c``, its column's maximum capped at ``tau``. In the time domain
``t_i = exp(-key_i)``, token ``i`` arrives as the first point of a Poisson process of rate
``exp(s_i)``; the tail is simulated as one Poisson process whose rate ``env`` is at least
``sum_c n_c exp(b_c)`` (the envelope): each point goes to a slot chosen in proportion to its
bound and is kept with probability ``exp(s_i - b_c)`` (thinning); a point in the part of
``env`` past the slots' total, or on a candidate, or on a token already visited, is dropped.
Any upper bound works, so ``env`` is a cheap float32 sum raised by its worst-case rounding
error. The merged order is exactly the order of fresh keys over the whole vocabulary; the
expected number of tail points before the first visit is about ``env`` relative to the top
token's weight, usually well below one. Tail points are i.i.d. (slot and thinning): the
first few of a row are placed one at a time by block of up to 64 column slots, then by slot
within the block (each block's weight an upper bound too, its excess dropped), so they need
no running sum over every column; later ones are drawn in vectorized blocks (one running
sum over all slots) and handed out in order. When the row is flat near its top, the
per-column envelope is hardly tighter than one rate ``exp(tau)`` for every token: points are
then uniform tokens, with no running sums over the columns to build. ``sample_batch``
computes the column maxima of all rows in one call.

Exact means exact up to floating point: the per-column rates are float32 values of
``exp(b_c - lo)`` with ``lo`` a little below ``M`` (the top value), a margin that covers the
float32 rounding of the subtraction and of ``exp``, so each rate bounds ``exp(b_c - M)`` from
above (the thinning compares with float64 ``exp(s_i - M)``); their sums are raised by the
worst-case rounding error of a float32 sum of that many terms. A column whose bound is below
about ``e^-87`` of the top token's weight gets a subnormal or zero float32 rate, so its tokens
(each below that relative mass) may be proposed too rarely or never. This is far below the
float64 rounding of any softmax.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from itertools import accumulate as _accumulate
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .base import check_top
from .transforms import _penalize_np

__all__ = ["RowPreparation", "LazyCategorical", "uniforms"]

_NEG_INF = float("-inf")
_F32_NEG_INF = np.float32(-np.inf)
_F32_INF = np.float32(np.inf)
_LAYOUTS: dict[tuple[int, int], "_Layout"] = {}
_SMALL = 48  # candidate sets up to this size keep their weights in Python lists
_SCALAR_TAIL = 8  # tail points of a row placed one by one before vectorized blocks
_exp = math.exp
_max_reduce = np.maximum.reduce


class _Layout:
    """The ``[rows, cols]`` layout of the max pass for one width (plus a remainder of
    ``n_rem`` tokens, the last envelope slot when nonzero), with constants of the per-column
    envelope: float32 ones for its total (a dot product) and the starts of the blocks of
    ``blk`` consecutive column slots that place a single tail point without a running sum
    over every column (``_Row.propose_one``)."""

    __slots__ = ("cols", "rows", "n_rem", "ones", "blk", "blk_starts")

    def __init__(self, v: int, c: int) -> None:
        self.cols = c
        self.rows = v // c
        self.n_rem = v - self.rows * c
        self.ones = np.ones(c, dtype=np.float32)
        # blocks of at most 64 slots, at most an eighth of the columns (see _Row._blocks)
        self.blk = max(1, min(64, c // 8))
        self.blk_starts = np.arange(0, c, self.blk)


class _Row:
    """One row prepared for lazy sampling: candidates, their masses, the tail envelope.

    Values are the float32 products ``fl(x * inv)`` the masked path computes too; ``s_rel``
    is their float64 offset from ``M`` (the largest candidate value). ``w``/``cum_list`` are
    the candidates' weights ``exp(s_rel)`` and their running sum (``W`` its total). The
    envelope is per column (``env_rate``: float32 slot rates, upper bounds of
    ``exp(b_c - M)``) or, when that is not much tighter, one rate ``glob_rate`` for every
    token of the row (no per-slot cumulative sum to build). ``env`` is the total rate of the
    tail process relative to ``M``; with per-column rates it may exceed the sum of the slot
    weights by a small slack (a point that lands past the last slot is no token). Tail
    points (``next_tail``): the first few of a row placed one at a time, by block of column
    slots and then by slot (``propose_one``), later ones in vectorized blocks
    (``propose_many``) handed out one by one, or searched a run at a time for the first kept
    one (``tail_run``). Attributes that keep their class default until used cost nothing to
    set up: a row is prepared for every call.
    """

    # defaults (class attributes), shadowed on the instance when set
    pen: set[int] | None = None
    _ids: np.ndarray | None = None
    n_tail = 0
    env = 0.0
    env_cum: np.ndarray | None = None
    blk_cum: list[float] | None = None
    glob_rate: float | None = None
    cum_list: list[float] | None = None
    _s_rel: np.ndarray | None = None
    order_val: np.ndarray | None = None
    tail_buf: Sequence[int] = ()
    tail_kept: Sequence[int] = ()
    tail_pos = 0
    tail_k = 1  # 1 .. _SCALAR_TAIL: scalar points; then blocks of 16, 32, ...

    def __init__(self, row: np.ndarray, inv: np.float32, uniform: Callable[[], float]) -> None:
        self.row = row
        self.v = row.shape[0]
        self.inv = inv
        self.uniform = uniform  # (the owner's buffered rng.random(), for scalar points)

    @property
    def s_ids(self) -> np.ndarray:
        """Token ids of the candidates (built on first use from their flat positions in the
        ``[rows, k]`` block of candidate columns)."""
        ids = self._ids
        if ids is None:
            q, rem = np.divmod(self._f, self._k)
            ids = q * self.cols
            ids += self._csel[rem]
            self._ids = ids
        return ids

    @property
    def s_rel(self) -> np.ndarray:
        """Candidate values minus ``M``, float64 (built on first use)."""
        r = self._s_rel
        if r is None:
            r = self._s_rel = np.subtract(self.s_f32, self.M, dtype=np.float64)
        return r

    def token(self, j: int) -> int:
        """Token id of candidate ``j``."""
        ids = self._ids
        if ids is not None:
            return int(ids[j])
        q, rem = divmod(self._f.item(j), self._k)
        return q * self.cols + self._csel.item(rem)

    def masses(self) -> list[float]:
        """Cumulative candidate weights exp(s - M) (float64, a list for ``bisect``); sets
        ``w`` (a list for a few candidates, else an array), ``cum_list`` and ``W``."""
        cum = self.cum_list
        if cum is None:
            if len(self.s_f32) <= _SMALL:  # (the same float64 differences as s_rel)
                mx = self.M
                w = self.w = [_exp(x - mx) for x in self.s_f32.tolist()]
                cum = self.cum_list = list(_accumulate(w))
            else:
                w = self.w = np.exp(self.s_rel)
                cum = self.cum_list = np.cumsum(w).tolist()
            self.W = cum[-1]
        return cum

    def _env_cum(self) -> np.ndarray:
        """Cumulative slot weights of the per-column envelope: ``rows`` tokens per column
        slot, ``n_rem`` in the remainder slot (the last one when ``n_rem``). float64; the
        total is at most ``env``."""
        cum = self.env_cum
        if cum is None:
            lay = self.lay
            # (torch's running sum is a few times faster than numpy's on this size)
            if lay.n_rem:
                wts = self.env_rate.astype(np.float64)
                wts[:-1] *= lay.rows
                wts[-1] *= lay.n_rem
                cum = torch.cumsum(torch.from_numpy(wts), 0).numpy()
            else:  # (the float32 rates summed in float64, then scaled by the rows)
                cum = torch.cumsum(torch.from_numpy(self.env_rate), 0,
                                   dtype=torch.float64).numpy()
                cum *= lay.rows
            self.env_cum = cum
        return cum

    def _blocks(self) -> list[float]:
        """Cumulative weights of the per-column envelope by blocks of ``lay.blk`` column
        slots (then the remainder slot), each an upper bound of its block's exact weight:
        the float32 block sum raised by its worst-case rounding error. Their total is at
        most ``env``, whose own margin (a sum over all the columns) exceeds what the blocks'
        margins add up to: a block is at most an eighth of the columns (or one column). A
        point is placed by block, then by slot within the block (``_block_cum``); the part
        of a block past its slots' exact weight is no token."""
        cum = self.blk_cum
        if cum is None:
            lay = self.lay
            rate = self.env_rate
            f = lay.rows * (1.0 + lay.blk * 2.0 ** -23)
            sums = np.add.reduceat(rate[: lay.cols] if lay.n_rem else rate, lay.blk_starts)
            wts = [x * f for x in sums.tolist()]
            if lay.n_rem:
                wts.append(float(rate[lay.cols]) * lay.n_rem)
            cum = self.blk_cum = list(_accumulate(wts))
            self.blk_slots = {}
        return cum

    def _block_cum(self, b: int) -> list[float]:
        """Running sum of the float32 rates of the column slots of block ``b`` (float64, a
        list for ``bisect``; one token's rate, multiply by ``rows`` for the slot)."""
        cum = self.blk_slots.get(b)
        if cum is None:
            lay = self.lay
            lo = b * lay.blk
            cum = self.blk_slots[b] = list(_accumulate(
                self.env_rate[lo: min(lo + lay.blk, lay.cols)].tolist()))
        return cum

    def propose_one(self, uniform: Callable[[], float]) -> int:
        """One envelope point, placed and thinned (scalar ``propose_many``): its tail token
        id if kept, else -1. Per column: placed by block and slot (``_blocks``), so a few
        points need no running sum over every column. ``uniform``: a source of uniforms in
        [0, 1) (``next_tail`` passes the owner's buffered stream: ``rng.random()`` costs
        ~1 us a call)."""
        glob = self.glob_rate
        if glob is not None:
            i = _below(uniform(), self.v)
            bound = glob
        else:
            blocks = self._blocks()
            u = uniform() * self.env
            b = bisect_right(blocks, u)
            if b >= len(blocks):  # past the blocks (the slack of ``env``): no token
                return -1
            if b:
                u -= blocks[b - 1]
            lay = self.lay
            ncol = lay.cols
            if b * lay.blk >= ncol:  # the remainder past rows * cols
                c = ncol
                i = lay.rows * ncol + _below(uniform(), lay.n_rem)
            else:
                slots = self._block_cum(b)
                j = bisect_right(slots, u / lay.rows)
                if j >= len(slots):  # past the block's slots (its slack): no token
                    return -1
                c = b * lay.blk + j
                i = _below(uniform(), lay.rows) * ncol + c
            bound = float(self.env_rate[c])
        x = self.row[i]
        if not x < self.tau_raw or (self.pen and i in self.pen):
            return -1
        s = float(x * self.inv) if self.inv != 1 else float(x)
        return i if uniform() * bound < _exp(s - self.M) else -1

    def propose_many(self, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``k`` envelope points at once: token ids (-1 off the tail) and keep decisions."""
        glob = self.glob_rate
        if glob is not None:  # one rate for every token: a uniform token
            ids = _below_many(rng, k, self.v)
            bound = glob
            past = None
        else:
            lay = self.lay
            cum = self._env_cum()
            ncol = lay.cols
            c = cum.searchsorted(rng.random(k) * self.env, side="right")
            past = c >= len(cum)  # past the slot total (the slack of ``env``): no token
            if past.any():
                c[past] = 0
            else:
                past = None
            ids = _below_many(rng, k, lay.rows)
            ids *= ncol
            ids += c
            if lay.n_rem:
                rem = c >= ncol
                if rem.any():
                    ids[rem] = lay.rows * ncol + _below_many(rng, int(rem.sum()), lay.n_rem)
            bound = self.env_rate[c]
        x = self.row[ids]
        ok = x < self.tau_raw
        if past is not None:
            ok &= ~past
        if self.pen:
            ok &= ~np.isin(ids, np.fromiter(self.pen, dtype=np.int64, count=len(self.pen)))
        s = (x * self.inv if self.inv != 1 else x).astype(np.float64)
        s -= self.M
        np.exp(s, out=s)
        keep = rng.random(k) * bound < s
        keep &= ok
        return np.where(ok, ids, -1), keep

    def draw(self, rng: np.random.Generator, tries: int) -> tuple[int, int]:
        """One draw from softmax(s) over the whole row, by i.i.d. attempts: a candidate in
        proportion to its weight, or (in proportion to ``env``) a tail point, kept with its
        thinning probability. Returns (candidate position or -1, token id); (-1, -1) when
        ``tries`` attempts in a row were thinned tail points. Tokens of value -inf are never
        drawn. Stopping after ``tries`` does not bias a caller that then draws exactly by
        other means: the stop depends only on attempts that produced no token.

        When the tail outweighs the candidates, the attempts are taken in runs: the number
        of tail attempts before the next candidate attempt is geometric, and a run of tail
        points is searched for its first kept one at once (``tail_run``): the same process.
        Scalar uniforms come from ``self.uniform``, vectors and geometric counts from
        ``rng``."""
        uniform = self.uniform
        cum = self.cum_list or self.masses()
        big_w = self.W
        total = big_w + self.env
        if self.env <= big_w:
            for _ in range(tries):
                u = uniform() * total
                if u < big_w:
                    j = bisect_right(cum, u)  # < len(cum): u < W = cum[-1]
                    return j, self.token(j)
                i = self.next_tail(rng)
                if i >= 0:
                    return -1, i
            return -1, -1
        p_cand = big_w / total
        left = tries
        while left > 0:
            g = int(rng.geometric(p_cand)) - 1  # tail attempts before a candidate attempt
            i, used = self.tail_run(rng, min(g, left))
            if i >= 0:
                return -1, i
            left -= used
            if used == g and left > 0:  # the candidate attempt
                j = min(bisect_right(cum, uniform() * big_w), len(cum) - 1)
                return j, self.token(j)
        return -1, -1

    def next_tail(self, rng: np.random.Generator) -> int:
        """One envelope point, placed and thinned: its tail token id if kept, else -1 (thinned,
        or on a slot that is not a tail token). Points are i.i.d.: the first ``_SCALAR_TAIL``
        are drawn one by one (unless the tail outweighs the candidates), then in blocks (16
        or 32, then doubling) handed out in order. Needs ``masses()`` (``W``)."""
        pos = self.tail_pos
        buf = self.tail_buf
        if pos >= len(buf):
            if self.tail_k <= _SCALAR_TAIL and self.env <= self.W:
                # the first points of a row one at a time: often a few suffice
                k = self.tail_k
                self.tail_k = k + 1 if k < _SCALAR_TAIL else 16
                return self.propose_one(self.uniform)
            self._refill(rng)
            buf = self.tail_buf
            pos = 0
        self.tail_pos = pos + 1
        return buf[pos]

    def tail_run(self, rng: np.random.Generator, n: int) -> tuple[int, int]:
        """Up to ``n`` envelope points, in the order ``next_tail`` hands them out: (the first
        kept tail token or -1, the number of points consumed)."""
        used = 0
        while used < n:
            pos = self.tail_pos
            if pos >= len(self.tail_buf):
                if self.tail_k <= _SCALAR_TAIL and self.env <= self.W:
                    used += 1
                    i = self.next_tail(rng)  # a scalar point
                    if i >= 0:
                        return i, used
                    continue
                self._refill(rng)
                pos = 0
            buf = self.tail_buf
            m = min(n - used, len(buf) - pos)
            kept = self.tail_kept
            k = bisect_left(kept, pos)
            if k < len(kept) and kept[k] < pos + m:
                q = kept[k]
                self.tail_pos = q + 1
                return buf[q], used + q - pos + 1
            self.tail_pos = pos + m
            used += m
        return -1, used

    def _refill(self, rng: np.random.Generator) -> None:
        """A new block of envelope points (32 at first, 128 with one rate for the row, whose
        uniform points cost less each and are kept less often; then doubling up to 4096):
        the token ids (-1 where thinned) and the positions of the kept ones."""
        k = self.tail_k
        if k <= _SCALAR_TAIL:
            k = 32 if self.glob_rate is None else 128
        self.tail_k = min(2 * k, 4096)
        ids, keep = self.propose_many(rng, k)
        self.tail_buf = np.where(keep, ids, -1).tolist()
        self.tail_kept = np.flatnonzero(keep).tolist()
        self.tail_pos = 0


class RowPreparation:
    """The preparation of a row (``_prepare``): the layout of the max pass, the candidate
    window, the candidates and the tail envelope. A mixin of ``AdaptiveRejectionSampler``,
    whose instances carry the options it reads (``params``, ``_inv``, ``_finv``,
    ``_scaled``, ``_hint``, ``_uniform``) and may override the tuning knobs below (tests
    force the lazy tail onto small vocabularies with them)."""

    # tuning knobs (class attributes, so that tests can set them on an instance)
    _DIRECT_MAX_V = 4096  # rows this narrow are one candidate set, without a tail
    _COLUMNS = 2048  # layout of the max pass: [V // C, C] plus a remainder
    _MAX_COLS = 48  # at most this many columns give candidates
    _DELTAS = (11.0, 8.0, 5.0, 2.5, 0.0)  # candidate windows tried, scaled units
    _GLOBAL_GAIN = 3.0  # one envelope rate for the row unless per column is this much tighter

    params: Any
    _inv: np.float32
    _finv: float
    _scaled: bool
    _hint: int
    _uniform: Callable[[], float]

    def _layout(self, v: int) -> _Layout:
        """The layout of the max pass for width ``v``: a divisor of ``v`` near ``_COLUMNS``
        columns when there is one (no remainder), else ``_COLUMNS``. Cached per (width,
        ``_COLUMNS``)."""
        key = (v, self._COLUMNS)
        lay = _LAYOUTS.get(key)
        if lay is None:
            target = min(self._COLUMNS, v)
            c = target
            for d in range(0, target // 2):
                if v % (target - d) == 0:
                    c = target - d
                    break
                if target + d <= v and v % (target + d) == 0:
                    c = target + d
                    break
            lay = _LAYOUTS[key] = _Layout(v, c)
        return lay

    def _column_maxima(self, rows: np.ndarray) -> np.ndarray | None:
        """The column maxima of every row of ``rows`` ``[batch, V]`` in one vectorized pass
        (``_prepare``'s ``colmax`` per row); None for rows narrow enough to need none."""
        batch, v = rows.shape
        if v <= self._DIRECT_MAX_V:
            return None
        lay = self._layout(v)
        c, r, n_rem = lay.cols, lay.rows, lay.n_rem
        colmax = rows[:, : r * c].reshape(batch, r, c).max(axis=1)
        if n_rem:
            colmax = np.concatenate([colmax, rows[:, r * c:].max(axis=1, keepdims=True)], axis=1)
        return colmax

    def _window(self, colmax: np.ndarray, m: float, finv: float) -> tuple[np.float32, np.ndarray]:
        """(tau, columns with maximum >= tau) for the largest window in ``_DELTAS`` that gives
        at most ``_MAX_COLS`` columns (the last window if none does). The column count only
        grows as the window widens, so the search starts at the previous row's window."""
        deltas = self._DELTAS
        last = len(deltas) - 1
        k = self._hint if self._hint <= last else last
        max_cols = self._MAX_COLS
        tau = np.float32(m - deltas[k] / finv)
        cols = (colmax >= tau).nonzero()[0]
        if len(cols) <= max_cols:
            while k > 0:  # try wider windows
                tau2 = np.float32(m - deltas[k - 1] / finv)
                cols2 = (colmax >= tau2).nonzero()[0]
                if len(cols2) > max_cols:
                    break
                k -= 1
                tau, cols = tau2, cols2
        else:
            while k < last:  # narrower
                k += 1
                tau = np.float32(m - deltas[k] / finv)
                cols = (colmax >= tau).nonzero()[0]
                if len(cols) <= max_cols:
                    break
        self._hint = k
        return tau, cols

    def _prepare(self, row: np.ndarray, pen: np.ndarray | None,
                 colmax: np.ndarray | None = None) -> _Row | None:
        """Candidates and tail envelope of one row; None when every value is -inf. ``pen``:
        the penalized ids (``normalize_prev_ids`` with the row's width: unique, in range,
        None when there are none); ``colmax``: the row's column maxima when the caller
        computed them (batch pass)."""
        v = row.shape[0]
        ctx = _Row(row, self._inv, self._uniform)
        if v <= self._DIRECT_MAX_V:  # one candidate set, no tail
            check_top(float(row.max()))
            ids = np.flatnonzero(row > -np.inf)
            return self._candidates(ctx, ids, row[ids], _F32_NEG_INF, pen)
        lay = _LAYOUTS.get((v, self._COLUMNS)) or self._layout(v)
        c, r, n_rem = lay.cols, lay.rows, lay.n_rem
        main = (row[: r * c] if n_rem else row).reshape(r, c)
        if colmax is None:
            colmax = _max_reduce(main, 0)
            if n_rem:
                colmax = np.append(colmax, row[r * c:].max())
        m = colmax.item(colmax.argmax())  # (a Python float: the float32 value, exactly)
        check_top(m)  # (argmax stops at the first NaN)
        if not m > _NEG_INF:  # every value is -inf: only penalized ids may be finite
            if pen is None:
                return None
            ids = np.zeros(0, dtype=np.int64)
            return self._candidates(ctx, ids, row[ids], _F32_INF, pen)
        if self._hint == 0:  # the widest window: accepted without a search when it fits
            tau_raw = np.float32(m - self._DELTAS[0] / self._finv)
            cols = (colmax >= tau_raw).nonzero()[0]
            if len(cols) > self._MAX_COLS:
                tau_raw, cols = self._window(colmax, m, self._finv)
        else:
            tau_raw, cols = self._window(colmax, m, self._finv)
        main_cols = cols
        extra = None
        if n_rem and len(cols) and cols[-1] == c:
            main_cols = cols[:-1]
            extra = np.flatnonzero(row[r * c:] >= tau_raw) + r * c
        sub = main.take(main_cols, axis=1)  # [r, k], C order
        f = (sub >= tau_raw).ravel().nonzero()[0]
        raw = sub.take(f)
        k = len(main_cols)
        ctx.cols = c
        if extra is not None or pen is not None:
            q, rem = np.divmod(f, k) if k else (f, f)
            ids = q * c
            if k:
                ids += main_cols[rem]
            if extra is not None:
                ids = np.concatenate([ids, extra])
                raw = np.concatenate([raw, row[extra]])
            return self._candidates(ctx, ids, raw, tau_raw, pen, lay, colmax, cols)
        # the common case: token ids built when needed (ctx.s_ids, ctx.token); the largest
        # candidate is the row maximum (products by inv are monotone)
        ctx._f = f
        ctx._k = k
        ctx._csel = main_cols
        ctx.tau_raw = tau_raw
        ctx.n_tail = v - len(raw)
        if self._scaled:
            inv = self._inv
            ctx.s_f32 = raw * inv
            mx = ctx.M = float(np.float32(m) * inv)
            tau_abs = ctx.tau_abs = float(tau_raw * inv)
        else:
            ctx.s_f32 = raw
            mx = ctx.M = m
            tau_abs = ctx.tau_abs = float(tau_raw)
        self._envelope(ctx, colmax, cols, tau_abs, mx, lay)
        return ctx

    def _candidates(self, ctx: _Row, ids: np.ndarray, raw: np.ndarray, tau_raw: np.float32,
                    pen: np.ndarray | None, lay: _Layout | None = None,
                    colmax: np.ndarray | None = None,
                    cols: np.ndarray | None = None) -> _Row | None:
        """``_prepare`` with explicit candidate ids: narrow rows (no tail), penalized
        tokens, a remainder column among the candidates. The penalized ids are candidates
        (their values change); candidates with value -inf are dropped. ``lay`` given: the
        row has a tail, bounded by the envelope of ``colmax`` (candidate columns ``cols``)."""
        inv = self._inv
        ctx.tau_raw = tau_raw
        if pen is not None:
            # candidates = (S0 minus the penalized ids) + every penalized id, penalized
            ctx.pen = set(pen.tolist())
            keep = ~np.isin(ids, pen)
            ids = np.concatenate([ids[keep], pen])
            raw = np.concatenate([raw[keep],
                                  _penalize_np(ctx.row[pen], self.params.repetition_penalty)])
        n_cand = len(ids)
        s32 = raw * inv if self._scaled else raw
        finite = s32 > -np.inf
        if not finite.all():
            ids = ids[finite]
            s32 = s32[finite]
        if len(ids) == 0:
            return None
        ctx._ids = ids
        ctx.s_f32 = s32
        mx = ctx.M = float(s32.max())
        if lay is None:  # no tail
            ctx.tau_abs = _NEG_INF
            return ctx
        ctx.n_tail = ctx.v - n_cand
        tau_abs = ctx.tau_abs = float(tau_raw * inv) if self._scaled else float(tau_raw)
        self._envelope(ctx, colmax, cols, tau_abs, mx, lay)
        return ctx

    def _envelope(self, ctx: _Row, colmax: np.ndarray, cols: np.ndarray, tau_abs: float,
                  mx: float, lay: _Layout) -> None:
        """The tail envelope of a prepared row, relative to the top weight ``exp(M)``.

        Every tail value is below ``tau`` and below its column's maximum, so
        ``b_c = fl(min(colmax_c, tau) * inv)`` bounds column ``c`` (the remainder is the last
        slot). One rate for every token, ``exp(tau - M)``, is used when the per-column
        envelope is not at least ``_GLOBAL_GAIN`` times smaller (a row flat near its top).
        Per-column rates are float32 ``exp(b_c - lo)`` with ``lo`` a little below ``M``: that
        margin covers the float32 rounding of the subtraction and of ``exp``, so each rate is
        an upper bound of ``exp(b_c - M)`` (the thinning compares with float64
        ``exp(s - M)``). Their total is a float32 dot product, raised by its worst-case
        rounding error: ``env`` is at least the sum of the slot weights, and a point placed
        past that sum is no token (thinned), which keeps the process exact."""
        # (rounded to float32, well within the margin)
        lo = np.float32(mx - 1e-5 * (1.0 + abs(mx)))
        # min(colmax, tau): the columns with a maximum >= tau (cols) have their tail below
        # tau, the others have colmax < tau (set on the few candidate columns only)
        if self._scaled:
            inv = self._inv
            rate = np.multiply(colmax, inv)
            rate -= lo
            rate[cols] = ctx.tau_raw * inv - lo
        else:
            rate = np.subtract(colmax, lo)
            rate[cols] = ctx.tau_raw - lo
        np.exp(rate, out=rate)
        c = lay.cols
        if lay.n_rem:
            env = float(rate[:c].dot(lay.ones)) * lay.rows + float(rate[c]) * lay.n_rem
        else:
            env = float(rate.dot(lay.ones)) * lay.rows
        env *= 1.0 + c * 2.0 ** -23  # bounds the rounding of any float32 summation
        glob_rate = _exp(tau_abs - mx)
        env_glob = ctx.v * glob_rate
        if env_glob <= self._GLOBAL_GAIN * env:
            ctx.glob_rate = glob_rate
            ctx.env = env_glob
        else:
            ctx.env_rate = rate
            ctx.env = env
            ctx.lay = lay


class LazyCategorical(RowPreparation):
    """Exact draws from softmax(row) for float32 rows (``-inf`` entries never drawn) without
    an ``exp`` over the row: the row is prepared as for the rejection sampler (one max pass,
    candidates, tail envelope) and drawn by i.i.d. attempts (``_Row.draw``). ``draw``
    returns -1 when ``MAX_ATTEMPTS`` attempts produced no token or nothing is finite: the
    caller then draws exactly by other means (which keeps the draw exact; see
    ``_Row.draw``). ``MaskedSampler`` uses it on masked rows, where every finite token is
    allowed, and (``draw_allowed``, with ``params``: the penalty and temperature applied to
    the values it reads) on raw rows checked against the mask, without a masked copy."""

    MAX_ATTEMPTS = 1024
    # draw_allowed: forbidden draws before it gives way (the expected number is 1/Z - 1)
    MAX_REJECTIONS = 16
    # one envelope rate for the row unless per column is 12 times tighter (the rejection
    # sampler: 3): its points need no running sum over the columns, and without checks a
    # few more thinned points cost less (flat masked rows: 76 -> 63 us per draw)
    _GLOBAL_GAIN = 12.0

    def __init__(self, rng: np.random.Generator, params: Any = None) -> None:
        # (params: read for the temperature and for penalized candidates; None: plain rows)
        self.params = params
        self._inv = np.float32(1.0) if params is None else params.inv_temperature
        self._finv = float(self._inv)
        self._scaled = bool(self._inv != 1)
        self._hint = 0
        self.rng = rng
        self._uniform = uniforms(rng).__next__

    def draw(self, row: np.ndarray) -> int:
        """A token id drawn from softmax(row), or -1 (see the class docstring)."""
        ctx = self._prepare(row, None)
        if ctx is None:
            return -1
        return ctx.draw(self.rng, self.MAX_ATTEMPTS)[1]

    def draw_allowed(self, row: np.ndarray, words: np.ndarray,
                     pen: np.ndarray | None = None) -> int:
        """A token id drawn from softmax(s) restricted to the ids allowed by the packed mask
        ``words`` (``s``: ``row`` penalized at ``pen`` and tempered, the float32 values of
        ``MaskedSampler``), by rejection: draws from softmax(s) over the whole row until one
        is allowed (a bit test each). -1 when it gives way (``MAX_REJECTIONS`` forbidden
        draws, or ``MAX_ATTEMPTS`` attempts without a token) or nothing is finite: the
        caller then draws exactly by other means. Exact: the stop depends only on draws
        that were rejected, so an allowed ``y`` comes out with probability ``p(y) / Z``
        whatever happens after a stop (``Z`` the allowed mass)."""
        ctx = self._prepare(row, pen)
        if ctx is None:
            return -1
        rng = self.rng
        n_words = len(words)
        for _ in range(self.MAX_REJECTIONS + 1):
            tok = ctx.draw(rng, self.MAX_ATTEMPTS)[1]
            if tok < 0:
                return -1
            w = tok >> 5
            if w < n_words and (words.item(w) >> (tok & 31)) & 1:
                return tok
        return -1


def _below(u: float, n: int) -> int:
    """A uniform integer in [0, n) from a uniform ``u`` in [0, 1): ``floor(u * n)``, exact
    for a power of two ``n`` (``u`` is a multiple of 2**-53), otherwise off by at most
    2**-53 per value; several times cheaper than ``Generator.integers``."""
    i = int(u * n)
    return i if i < n else n - 1


def _below_many(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    """``k`` uniform integers in [0, n) (int64), as ``_below``."""
    ids = (rng.random(k) * n).astype(np.int64)
    np.minimum(ids, n - 1, out=ids)
    return ids


def uniforms(rng: np.random.Generator) -> Iterator[float]:
    """``rng.random()`` values, drawn 256 at a time (one call per value costs more than the
    few operations of a typical draw)."""
    while True:
        yield from rng.random(256).tolist()
