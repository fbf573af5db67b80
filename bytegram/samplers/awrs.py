"""Adaptive weighted rejection sampling (Lipkin et al., COLM 2025), exact and lazy.

Sampling. Gumbel-max as an exponential race: token ``i`` gets the key ``s_i - log E_i``
(``s`` the penalized, tempered logits, ``E_i`` standard exponential); the first *allowed*
token in decreasing key order is an exact draw from the masked distribution. Tokens are
visited in that order and checked with ``matcher.is_allowed`` until one passes, so the number
of checks depends on the forbidden mass near the top, not on the vocabulary size.

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

First draw. Before any key is drawn, one attempt of a with-replacement sampler: a candidate in
proportion to its weight, or (in proportion to ``env``) a tail point, kept with its thinning
probability, else the attempt is repeated. That is an unconstrained draw from softmax(s); if it
is allowed it is the sample (rejection sampling), otherwise the visit stream above starts
afresh (known verdicts are reused). Exact: with ``p`` = softmax(s) and any exact sampler of
the masked distribution after a rejection, an allowed ``y`` comes out with probability
``p(y) + (1 - Z) p(y) / Z = p(y) / Z``. When the model puts most of its mass on allowed tokens
this is one draw and one check: no keys, no sort.

Weight. ``Z`` = allowed mass of softmax(s). We simulate the with-replacement rejection
sampler that draws i.i.d. tokens from softmax(s) until its second acceptance, with fresh
randomness (independent of the sampled token), reusing cached verdicts and checking new
tokens as needed. With ``N`` its number of draws (``N - 2`` rejections, 2 acceptances,
negative binomial), ``1 / (N - 1)`` is unbiased for ``Z``:
``E[1/(N-1)] = sum_{n>=2} (n-1) Z^2 (1-Z)^(n-2) / (n-1) = Z``. Draws need no normalizer: an
attempt picks a candidate in proportion to its exact weight, or the tail envelope in
proportion to ``env``; a tail attempt is kept with probability ``exp(s_i - b_c)``.

Fallback. After ``max_rejections`` forbidden tokens (or when the candidates and the tail
budget run out) the full mask is computed and the token is drawn from it, with the exact
``log Z`` (the allowed ids are read off the mask: the same values in the same order as
``MaskedSampler``, one categorical draw, no masked copy of the row). The decision depends only
on what happens before the first allowed token arrives, which is independent of which allowed
token it is (Poisson marking), so the token stays an exact draw and the weight stays unbiased. If the weight simulation itself needs more than
``max_rejections`` new checks (or ``max_draws`` draws), the mask is computed, ``Z`` is known
exactly, and the remaining draws are simulated as geometric counts (success probability
``Z``), so ``N`` keeps its exact distribution. (Returning ``Z`` itself at that point would
bias the estimate upward: that stop is correlated with a large ``N``.)

Truncations (top-k, top-p, min-p) act on the masked distribution exactly as in
``MaskedSampler``: candidates are scanned by decreasing value (checked one by one) until the
kept set is certain, then one token is drawn from it. The candidate order is certain down to
the tail bound; when the kept set reaches below it, or the scan passes its budget, the sampler
takes the masked path. Top-p without top-k computes the row's normalizer (one pass) to bound
the mass not yet scanned. Greedy visits by value (lowest id on ties); its weight is the
temperature-0 limit: the fraction of the unconstrained argmax ties that are allowed.

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
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..errors import InvalidArgument
from .base import NO_TOKEN, Sample, SamplingParams, check_matchers, make_rng, normalize_prev_ids
from .masked import MaskedSampler, _lse, categorical, exact_log_z
from .transforms import _as_2d, _penalize_np, min_p_threshold, top_p_cutoff, truncate_values

__all__ = ["AdaptiveRejectionSampler"]

_NEG_INF = float("-inf")
_F32 = np.dtype(np.float32)
_F32_NEG_INF = np.float32(-np.inf)
_F32_INF = np.float32(np.inf)
_LAYOUTS: dict[tuple[int, int], "_Layout"] = {}
_SMALL = 48  # candidate sets up to this size keep their weights in Python lists
_SCALAR_TAIL = 8  # tail points of a row placed one by one before vectorized blocks
_exp = math.exp
_max_reduce = np.maximum.reduce
_BITS32 = np.arange(32, dtype=np.int32)


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
    (``propose_many``) handed out one by one. Attributes that keep their class default until
    used cost nothing to set up: a row is prepared for every call.
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
    tail_pos = 0
    tail_k = 1  # 1 .. _SCALAR_TAIL: scalar points; then blocks of 16, 32, ...

    def __init__(self, row: np.ndarray, inv: np.float32) -> None:
        self.row = row
        self.v = row.shape[0]
        self.inv = inv

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
            wts = self.env_rate.astype(np.float64)
            if lay.n_rem:
                wts[:-1] *= lay.rows
                wts[-1] *= lay.n_rem
            else:
                wts *= lay.rows
            # (torch's running sum is a few times faster than numpy's on this size)
            cum = self.env_cum = torch.cumsum(torch.from_numpy(wts), 0).numpy()
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

    def propose_one(self, rng: np.random.Generator) -> int:
        """One envelope point, placed and thinned (scalar ``propose_many``): its tail token
        id if kept, else -1. Per column: placed by block and slot (``_blocks``), so a few
        points need no running sum over every column."""
        glob = self.glob_rate
        random = rng.random
        if glob is not None:
            i = int(rng.integers(self.v))
            bound = glob
        else:
            blocks = self._blocks()
            u = random() * self.env
            b = bisect_right(blocks, u)
            if b >= len(blocks):  # past the blocks (the slack of ``env``): no token
                return -1
            if b:
                u -= blocks[b - 1]
            lay = self.lay
            ncol = lay.cols
            if b * lay.blk >= ncol:  # the remainder past rows * cols
                c = ncol
                i = lay.rows * ncol + int(rng.integers(lay.n_rem))
            else:
                slots = self._block_cum(b)
                j = bisect_right(slots, u / lay.rows)
                if j >= len(slots):  # past the block's slots (its slack): no token
                    return -1
                c = b * lay.blk + j
                i = int(rng.integers(lay.rows)) * ncol + c
            bound = float(self.env_rate[c])
        x = self.row[i]
        if not x < self.tau_raw or (self.pen and i in self.pen):
            return -1
        s = float(x * self.inv) if self.inv != 1 else float(x)
        return i if random() * bound < _exp(s - self.M) else -1

    def propose_many(self, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``k`` envelope points at once: token ids (-1 off the tail) and keep decisions."""
        glob = self.glob_rate
        if glob is not None:  # one rate for every token: a uniform token
            ids = rng.integers(self.v, size=k)
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
            ids = rng.integers(lay.rows, size=k)
            ids *= ncol
            ids += c
            if lay.n_rem:
                rem = c >= ncol
                if rem.any():
                    ids[rem] = lay.rows * ncol + rng.integers(lay.n_rem, size=int(rem.sum()))
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

    def next_tail(self, rng: np.random.Generator) -> int:
        """One envelope point, placed and thinned: its tail token id if kept, else -1 (thinned,
        or on a slot that is not a tail token). Points are i.i.d.: the first ``_SCALAR_TAIL``
        are drawn one by one (unless the tail outweighs the candidates), then in blocks (16
        or 32, then doubling) handed out in order. Needs ``masses()`` (``W``)."""
        pos = self.tail_pos
        buf = self.tail_buf
        if pos >= len(buf):
            k = self.tail_k
            if k <= _SCALAR_TAIL:  # the first points of a row one at a time: often a few suffice
                if self.env <= self.W:
                    self.tail_k = k + 1 if k < _SCALAR_TAIL else 16
                    return self.propose_one(rng)
                k = 32  # (unless the tail outweighs the candidates: many points to come)
            self.tail_k = min(2 * k, 4096)
            ids, keep = self.propose_many(rng, k)
            buf = self.tail_buf = np.where(keep, ids, -1).tolist()
            pos = 0
        self.tail_pos = pos + 1
        return buf[pos]


class _Stream:
    """Tokens in decreasing key order: candidates by a blockwise partial sort (blocks of 1,
    8, 64, 512, then all), the tail by the thinned envelope process (module docstring)."""

    __slots__ = ("ctx", "rng", "keys", "order", "pos", "blk", "t", "next_key", "buf_keys",
                 "buf_ids", "buf_keep", "buf_pos", "materialized", "proposals",
                 "max_proposals", "scalar")

    _BLOCKS = (1, 8, 64, 512)

    def __init__(self, ctx: _Row, rng: np.random.Generator, max_proposals: int) -> None:
        self.ctx = ctx
        self.rng = rng
        self.keys = ctx.s_rel - np.log(rng.standard_exponential(len(ctx.s_rel)))
        self.order: list[int] = []
        self.pos = 0
        self.blk = 0
        self.t = 0.0  # time exp(-key) of the last generated tail point
        self.next_key: float | None = None  # key of the pending (scalar) tail point
        self.buf_keys: list[float] = []
        self.buf_ids: list[int] = []
        self.buf_keep: list[bool] = []
        self.buf_pos = 0
        self.materialized: set[int] = set()
        self.proposals = 0
        self.max_proposals = max_proposals
        # tail points placed one at a time before vectorized blocks: none when the tail
        # outweighs the candidates (a flat row: many points come before any candidate)
        ctx.masses()
        self.scalar = 0 if ctx.env > 8.0 * ctx.W else 16

    def _extend(self) -> None:
        keys = self.keys
        n = len(keys)
        size = self._BLOCKS[self.blk] if self.blk < len(self._BLOCKS) else n
        self.blk += 1
        if size == 1:
            self.order = [int(np.argmax(keys))]
        elif size >= n:
            self.order = np.argsort(-keys).tolist()
        else:
            part = np.argpartition(-keys, size - 1)[:size]
            self.order = part[np.argsort(-keys[part])].tolist()

    def _tail(self, s_key: float) -> tuple[int, int] | None | bool:
        """The next tail token whose key exceeds ``s_key``; False when the candidate comes
        first; None when the tail budget is spent. Tail points come one at a time (placed
        only when reached), then, after 16 (at once on a flat row), in vectorized blocks."""
        ctx = self.ctx
        rng = self.rng
        while True:
            if self.buf_pos < len(self.buf_keys):  # block mode
                j = self.buf_pos
                if self.buf_keys[j] <= s_key:
                    return False
                self.buf_pos = j + 1
                self.proposals += 1
                if self.buf_keep[j]:
                    i = self.buf_ids[j]
                    if i not in self.materialized:
                        self.materialized.add(i)
                        return 1, i
                continue
            if self.next_key is None:
                if self.proposals >= self.max_proposals:
                    return None
                if self.proposals >= self.scalar:  # many points: a vectorized block
                    k = min(16 << min(self.proposals // 16, 10), 1 << 14)
                    times = self.t + np.cumsum(rng.standard_exponential(k)) / ctx.env
                    self.t = float(times[-1])
                    ids, keep = ctx.propose_many(rng, k)
                    self.buf_keys = (-np.log(times)).tolist()
                    self.buf_ids = ids.tolist()
                    self.buf_keep = keep.tolist()
                    self.buf_pos = 0
                    continue
                self.t += rng.standard_exponential() / ctx.env
                self.next_key = -math.log(self.t)
            if self.next_key <= s_key:
                return False
            self.next_key = None
            self.proposals += 1
            i = ctx.next_tail(rng)  # placed (and thinned) only when it is reached
            if i >= 0 and i not in self.materialized:
                self.materialized.add(i)
                return 1, i

    def next(self) -> tuple[int, int] | None:
        """(0, candidate position) or (1, tail token id); None when exhausted or the tail
        budget is spent."""
        if self.pos >= len(self.order) and len(self.order) < len(self.keys):
            self._extend()
        s_key = float(self.keys[self.order[self.pos]]) if self.pos < len(self.order) \
            else _NEG_INF
        if self.ctx.env > 0:
            got = self._tail(s_key)
            if got is not False:
                return got
        if s_key == _NEG_INF:
            return None
        self.pos += 1
        return 0, self.order[self.pos - 1]


class _Scan:
    """Candidates in decreasing value order (lowest id first on ties), checked one by one.
    The order is certain while values stay above the tail bound."""

    __slots__ = ("ctx", "order", "is_allowed", "verdict", "budget", "pos", "checks", "kept")

    def __init__(self, ctx: _Row, order: np.ndarray, is_allowed: Any, verdict: np.ndarray,
                 budget: int) -> None:
        self.ctx = ctx
        self.order = order
        self.is_allowed = is_allowed
        self.verdict = verdict
        self.budget = budget
        self.pos = 0
        self.checks = 0
        self.kept: list[int] = []  # candidate positions of allowed tokens, in order

    def next_value(self) -> float:
        return float(self.ctx.s_f32[self.order[self.pos]]) if self.pos < len(self.order) \
            else _NEG_INF

    def advance(self) -> int | None:
        """Check the next candidate; its position, or None when the order is no longer
        certain (the tail may interleave), the candidates are exhausted or the budget spent."""
        if self.pos >= len(self.order) or self.checks >= self.budget:
            return None
        i = int(self.order[self.pos])
        if self.ctx.s_f32[i] <= self.ctx.tau_abs:
            return None
        self.pos += 1
        v = self.verdict[i]
        if v < 0:
            v = bool(self.is_allowed(int(self.ctx.s_ids[i])))
            self.verdict[i] = v
            self.checks += 1
        if v:
            self.kept.append(i)
        return i

    def exhausted(self) -> bool:
        """Every token with nonzero mass has been scanned."""
        return self.pos >= len(self.order) and self.ctx.n_tail == 0

    def done_below(self, value: Any) -> bool:
        """Certain that every unscanned token's value is < ``value``."""
        return self.next_value() < value and (self.ctx.n_tail == 0
                                              or self.ctx.tau_abs < float(value))

    def take_ties(self, value: Any) -> bool:
        """Scan every candidate equal to ``value``; False if that cannot be done certainly."""
        while self.pos < len(self.order) and self.next_value() == value:
            if self.advance() is None:
                return False
        return True

    def scan_down_to(self, value: Any) -> bool:
        """Scan every token with value >= ``value``; False if not certain."""
        while self.pos < len(self.order) and self.next_value() >= value:
            if self.advance() is None:
                return False
        return self.done_below(value) or self.exhausted()


class AdaptiveRejectionSampler:
    """Exact constrained sampling by adaptive rejection, with an unbiased weight.

    ``sample(logits, matcher)`` returns a ``Sample`` (unpacks as ``(token_id, log_weight)``):
    an exact draw from the distribution ``MaskedSampler`` draws from, for every setting;
    ``log_weight`` is the log of an unbiased estimate of the allowed mass ``Z`` of the
    penalized, tempered distribution (exactly ``log Z`` when the draw fell back to the mask).

    Keyword options: ``temperature`` (0 = greedy), ``top_k``, ``top_p``, ``min_p``,
    ``repetition_penalty``, ``max_rejections`` (forbidden tokens visited before the full-mask
    fallback, and the budget of new checks of the weight simulation), ``max_draws`` (draws of
    the weight simulation before it finishes from the mask), ``seed`` or ``generator``,
    ``compute_weights`` (False skips the weight simulation and the masked path's two
    logsumexps over the row; ``log_weight`` is then NaN, except for greedy, whose weight is a
    count of ties).

    Exactness per setting: plain sampling and greedy are exact by rejection; top-k and min-p
    by an ordered scan of the candidates; top-p by a certified scan (plus one pass over the
    row for its normalizer when there is no top-k). Whenever a scan cannot certify its kept
    set (it would reach below the candidates, or passes ``_SCAN_BUDGET`` checks) the sampler
    takes the masked path (``fell_back=True``), which is exact too. The hot path is numpy on
    CPU; logits on another device are copied to the host.
    """

    # tuning knobs (class attributes, so that tests can force the lazy tail on small rows)
    _DIRECT_MAX_V = 4096  # rows this narrow are one candidate set, without a tail
    _COLUMNS = 2048  # layout of the max pass: [V // C, C] plus a remainder
    _MAX_COLS = 48  # at most this many columns give candidates
    _DELTAS = (11.0, 8.0, 5.0, 2.5, 0.0)  # candidate windows tried, scaled units
    _SCAN_BUDGET = 256  # most checks a truncation or greedy scan makes before falling back
    _TOP_P_BUDGET = 64  # most checks of a top-p scan without top-k
    _MAX_PROPOSALS = 4096  # tail points the visit stream may process before falling back
    _FIRST_DRAW = True  # start with one with-replacement draw (False: the Gumbel stream only)
    _FIRST_ATTEMPTS = 16  # thinned tail attempts of that draw before it gives way
    _BATCH_PASS = True  # sample_batch: one max pass over all rows (False: row by row)
    _GLOBAL_GAIN = 3.0  # one envelope rate for the row unless per column is this much tighter
    _FAST_FALLBACK = True  # fallback from the mask's allowed ids (False: MaskedSampler's path)

    def __init__(self, *, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, min_p: float | None = None,
                 repetition_penalty: float | None = None, max_rejections: int = 32,
                 max_draws: int = 100_000, seed: int | None = None, generator: Any = None,
                 compute_weights: bool = True, params: SamplingParams | None = None) -> None:
        if params is None:
            params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p,
                                    min_p=min_p, repetition_penalty=repetition_penalty)
        elif not isinstance(params, SamplingParams):
            raise InvalidArgument(f"params must be a SamplingParams, got {type(params).__name__}")
        for name, val in (("max_rejections", max_rejections), ("max_draws", max_draws)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
                raise InvalidArgument(f"{name} must be an int >= 1, got {val!r}")
        self.params = params
        self.max_rejections = int(max_rejections)
        self.max_draws = int(max_draws)
        self.rng = make_rng(seed, generator)
        self._uniform = _uniforms(self.rng).__next__  # (a buffered stream of rng.random())
        self.compute_weights = bool(compute_weights)
        self._masked = MaskedSampler(params=params, generator=self.rng)
        self._hint = 0  # index into _DELTAS of the last row's window (a search start only)
        self._inv = params.inv_temperature
        self._finv = float(self._inv)
        self._scaled = bool(self._inv != 1)  # (a temperature other than 1)
        self._is_greedy = params.greedy
        self._is_truncating = params.truncates
        self._penalized = params.repetition_penalty is not None

    def __repr__(self) -> str:
        return (f"AdaptiveRejectionSampler({self.params}, max_rejections="
                f"{self.max_rejections})")

    # -- public API ----------------------------------------------------------------------

    def sample(self, logits: Any, matcher: Any, *, prev_ids: Any = None) -> Sample:
        """One token for one sequence (``logits`` ``[V]`` or ``[1, V]``); ``prev_ids`` are
        its previous tokens (for the repetition penalty). The matcher is not advanced."""
        row = None
        if type(logits) is torch.Tensor:
            try:  # fast path: a view, no copy (raises off the CPU or with a gradient)
                row = logits.numpy()
            except (TypeError, RuntimeError):
                row = None
        elif type(logits) is np.ndarray:
            row = logits
        if row is None or row.ndim != 1 or (row.dtype is not _F32 and row.dtype != _F32):
            x, _ = _as_2d(logits)
            if x.shape[0] != 1:
                raise InvalidArgument(f"sample() takes one row of logits, got {x.shape[0]}; "
                                      f"use sample_batch()")
            row = _row_numpy(x, 0)
        return self._sample_row(row, matcher, prev_ids)

    def sample_batch(self, logits: Any, matchers: Sequence[Any], *,
                     prev_ids: Sequence[Any] | None = None) -> list[Sample]:
        """One token per row of ``logits`` ``[batch, V]``, row ``i`` constrained by
        ``matchers[i]`` (rows are independent). The pass over the logits (column maxima) is
        one vectorized call for the whole batch; the rest is per row, on a few candidates."""
        x, _ = _as_2d(logits)
        batch = x.shape[0]
        check_matchers(matchers, batch)
        if prev_ids is not None and len(prev_ids) != batch:
            raise InvalidArgument(f"prev_ids has {len(prev_ids)} rows, logits {batch}")
        host = _host_numpy(x)
        colmax = None
        v = host.shape[1]
        if batch > 1 and v > self._DIRECT_MAX_V and self._BATCH_PASS:
            lay = self._layout(v)
            c, r, n_rem = lay.cols, lay.rows, lay.n_rem
            colmax = host[:, : r * c].reshape(batch, r, c).max(axis=1)
            if n_rem:
                colmax = np.concatenate([colmax, host[:, r * c:].max(axis=1, keepdims=True)],
                                        axis=1)
        sample_row = self._sample_row
        return [sample_row(host[i], m, None if prev_ids is None else prev_ids[i],
                           None if colmax is None else colmax[i])
                for i, m in enumerate(matchers)]

    # -- one row ---------------------------------------------------------------------------

    def _sample_row(self, row: np.ndarray, matcher: Any, prev_ids: Any,
                    colmax: np.ndarray | None = None) -> Sample:
        if matcher.is_terminated():
            return Sample(NO_TOKEN, _NEG_INF, 0, False)
        pen = normalize_prev_ids(prev_ids) if self._penalized else None
        ctx = self._prepare(row, pen, colmax)
        if ctx is None:
            return Sample(NO_TOKEN, _NEG_INF, 0, False)
        s_verdict = [-1] * len(ctx.s_f32)  # per candidate: -1 unchecked, else allowed
        t_verdict: dict[int, bool] = {}
        if self._is_greedy:
            return self._greedy(ctx, row, matcher, pen, s_verdict)
        is_allowed = matcher.is_allowed
        if self._is_truncating:
            res = self._truncated(ctx, row, matcher, pen, s_verdict)
            if isinstance(res, Sample):
                return res
            tok, checks = res
            forbidden_pos = [i for i, ok in enumerate(s_verdict) if ok == 0]
        else:
            checks = 0
            forbidden_pos = []
            tok = NO_TOKEN
            if self._FIRST_DRAW:
                # one with-replacement attempt first: an unconstrained draw from softmax(s),
                # kept if allowed (rejection sampling); otherwise the Gumbel stream below
                # starts afresh, which is exact whatever happened before (module docstring).
                # An attempt is a candidate in proportion to its weight or (in proportion to
                # env) a tail point, kept with its thinning probability; at most
                # _FIRST_ATTEMPTS thinned tail points in a row before the stream takes over
                cum = ctx.masses()
                big_w = ctx.W
                total = big_w + ctx.env
                uniform = self._uniform
                for _ in range(self._FIRST_ATTEMPTS):
                    u = uniform() * total
                    if u < big_w:
                        j = bisect_right(cum, u)  # < len(cum): u < W = cum[-1]
                        tok = ctx.token(j)
                        ok = s_verdict[j] = is_allowed(tok)
                        if not ok:
                            forbidden_pos.append(j)
                            tok = NO_TOKEN
                        checks = 1
                        break
                    i = ctx.next_tail(self.rng)
                    if i >= 0:
                        ok = t_verdict[i] = is_allowed(i)
                        tok = i if ok else NO_TOKEN
                        checks = 1
                        break
            if tok < 0:
                res = self._visit(ctx, row, matcher, pen, s_verdict, t_verdict, forbidden_pos,
                                  checks)
                if isinstance(res, Sample):
                    return res
                tok, checks = res
        if not self.compute_weights:
            return Sample(tok, math.nan, checks, False)
        log_w, est_checks, fb = self._estimate(ctx, row, matcher, pen, s_verdict, t_verdict,
                                               forbidden_pos)
        return Sample(tok, log_w, checks + est_checks, fb)

    def _visit(self, ctx: _Row, row: np.ndarray, matcher: Any, pen: Any, s_verdict: Any,
               t_verdict: dict[int, bool], forbidden_pos: list[int],
               checks: int) -> Sample | tuple[int, int]:
        """Visit tokens in Gumbel order until one is allowed: (token, checks), or the masked
        fallback's Sample. Known verdicts are reused; ``max_rejections`` counts distinct
        forbidden tokens (including those already known)."""
        rejections = len(forbidden_pos) + sum(1 for ok in t_verdict.values() if not ok)
        if rejections >= self.max_rejections:
            return self._fallback(row, matcher, pen, checks)
        stream = _Stream(ctx, self.rng, self._MAX_PROPOSALS)
        is_allowed = matcher.is_allowed
        s_ids = ctx.s_ids
        while True:
            nxt = stream.next()
            if nxt is None:
                return self._fallback(row, matcher, pen, checks)
            kind, i = nxt
            if kind == 0:
                tok = int(s_ids[i])
                ok = s_verdict[i]
                if ok < 0:
                    ok = is_allowed(tok)
                    s_verdict[i] = ok
                    checks += 1
                    if not ok:
                        forbidden_pos.append(i)
                        rejections += 1
            else:
                tok = i
                ok = t_verdict.get(tok)
                if ok is None:
                    ok = is_allowed(tok)
                    t_verdict[tok] = ok
                    checks += 1
                    if not ok:
                        rejections += 1
            if ok:
                return tok, checks
            if rejections >= self.max_rejections:
                return self._fallback(row, matcher, pen, checks)

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
        """Candidates and tail envelope of one row; None when every value is -inf.
        ``colmax``: the row's column maxima when the caller computed them (batch pass)."""
        v = row.shape[0]
        if pen is not None:
            pen = pen[(pen >= 0) & (pen < v)]
            if len(pen) == 0:
                pen = None
        ctx = _Row(row, self._inv)
        if v <= self._DIRECT_MAX_V:  # one candidate set, no tail
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
        self._envelope(ctx, colmax, tau_abs, mx, lay)
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
        self._envelope(ctx, colmax, tau_abs, mx, lay)
        return ctx

    def _envelope(self, ctx: _Row, colmax: np.ndarray, tau_abs: float,
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
        # (a Python float: rounded to float32 in the subtraction, well within the margin)
        lo = mx - 1e-5 * (1.0 + abs(mx))
        rate = np.minimum(colmax, ctx.tau_raw)  # candidate columns: their tail is below tau
        if self._scaled:
            rate *= self._inv
        rate -= lo
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

    # -- the weight ------------------------------------------------------------------------

    def _estimate(self, ctx: _Row, row: np.ndarray, matcher: Any, pen: Any,
                  s_verdict: Any, t_verdict: dict[int, bool],
                  known_forbidden: list[int] | None = None) -> tuple[float, int, bool]:
        """log 1/(N-1), N = draws of a with-replacement rejection sampler until its second
        acceptance (fresh randomness, cached verdicts). Returns (log weight, new checks,
        whether the mask was computed).

        Attempts are i.i.d.: a candidate in proportion to its weight, or the tail envelope in
        proportion to ``env`` (a tail attempt is a draw only when its point is kept). Runs of
        attempts on candidates already known to be forbidden are skipped in one geometric
        draw, so the work grows with the number of distinct tokens met, not with N."""
        rng = self.rng
        uniform = self._uniform
        cum_list = ctx.masses()
        env = ctx.env
        big_w = ctx.W
        total = big_w + env
        max_draws = self.max_draws
        cap = self.max_rejections
        is_allowed = matcher.is_allowed
        n = succ = new = 0
        pending = None  # an attempt drawn (its uniform) but not resolved yet
        if not known_forbidden:
            # common case: while no candidate is known to be forbidden, attempts that land
            # on allowed candidates need none of the bookkeeping below, which takes over
            # (with the attempt at hand, or after a newly found forbidden candidate)
            while n < max_draws:
                u = uniform() * total
                if u >= big_w:
                    pending = u
                    break
                j = bisect_right(cum_list, u)  # (u < W = cum_list[-1])
                ok = s_verdict[j]
                if ok < 0:
                    if new >= cap:
                        pending = u
                        break
                    ok = s_verdict[j] = bool(is_allowed(ctx.token(j)))
                    new += 1
                n += 1
                if not ok:
                    known_forbidden = [j]  # (skipped from here on, as known)
                    break
                succ += 1
                if succ == 2:
                    return -math.log(n - 1), new, False
        w = ctx.w
        last = len(cum_list) - 1
        if known_forbidden:
            w_other = _zeroed(w, known_forbidden)
            cum_other = _cumlist(w_other)
        else:
            w_other = None
            cum_other = cum_list
        w_other_sum = cum_other[-1]
        stale: list[int] = []  # known forbidden, still in cum_other (their draws fail)
        stale_mass = 0.0
        for _ in range(4096 + 64 * cap):  # attempts that are not skipped
            # stop decisions come before the skip: the skip reveals that the next attempt
            # is not a known-forbidden candidate, so that attempt must then be resolved
            if n >= max_draws:
                return self._finish_exact(row, matcher, pen, n, succ, new, None)
            rest = w_other_sum + env  # mass of the attempts that are not skipped
            if rest < total:
                if rest <= 1e-12 * total:  # Z below ~1e-12 (or underflow): finish exactly
                    return self._finish_exact(row, matcher, pen, n, succ, new, None)
                n += int(rng.geometric(rest / total)) - 1  # skipped known-forbidden draws
            if pending is None:
                u = uniform() * rest
            else:  # (drawn above with rest == total: nothing is skipped before the loop)
                u = pending
                pending = None
            if u < w_other_sum:
                j = bisect_right(cum_other, u)
                if j > last:
                    j = last
                ok = s_verdict[j]
                if ok < 0:
                    tok = ctx.token(j)
                    if new >= cap:
                        return self._finish_exact(row, matcher, pen, n, succ, new, tok)
                    ok = bool(is_allowed(tok))
                    s_verdict[j] = ok
                    new += 1
                    if not ok:  # its later draws are failures; skipped after a rebuild
                        stale.append(j)
                        stale_mass += float(w[j])
                        if stale_mass > 0.25 * w_other_sum:  # amortized rebuild
                            w_other = _zeroed(w if w_other is None else w_other, stale)
                            stale.clear()
                            stale_mass = 0.0
                            cum_other = _cumlist(w_other)
                            w_other_sum = cum_other[-1]
            else:
                i = ctx.next_tail(rng)
                if i < 0:
                    continue  # a thinned tail attempt: not a draw
                ok = t_verdict.get(i)
                if ok is None:
                    if new >= cap:
                        return self._finish_exact(row, matcher, pen, n, succ, new, i)
                    ok = bool(is_allowed(i))
                    t_verdict[i] = ok
                    new += 1
            n += 1
            if ok:
                succ += 1
                if succ == 2:
                    return -math.log(n - 1), new, False
        return self._finish_exact(row, matcher, pen, n, succ, new, None)

    def _exact_mask(self, row: np.ndarray, matcher: Any, pen: Any
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(penalized, tempered float32 row; boolean allowed mask) from the full mask."""
        work = self._masked._prepare(row[None], None if pen is None else [pen])
        bm = self._masked._fill([matcher], 1, row.shape[0])
        bits = np.unpackbits(bm[0].view(np.uint8), bitorder="little")[: row.shape[0]]
        allowed = np.zeros(row.shape[0], dtype=bool)
        allowed[: len(bits)] = bits.astype(bool)
        return work[0], allowed

    def _finish_exact(self, row: np.ndarray, matcher: Any, pen: Any, n: int, succ: int,
                      new: int, pending_tok: int | None) -> tuple[float, int, bool]:
        """Finish the draw count from the exact mask: ``n`` draws resolved with ``succ``
        acceptances, and ``pending_tok`` drawn but not yet checked."""
        work, allowed = self._exact_mask(row, matcher, pen)
        log_z = exact_log_z(work, allowed)
        if pending_tok is not None:
            n += 1
            succ += bool(allowed[pending_tok])
        if succ >= 2:
            return -math.log(n - 1), new, True
        if log_z == _NEG_INF:  # pragma: no cover - the sampled token is allowed, so Z > 0
            return _NEG_INF, new, True
        need = 2 - succ
        if log_z > -30.0:
            z = math.exp(log_z)
            n += need if z >= 1 else int(self.rng.geometric(z, size=need).sum())
            return -math.log(n - 1), new, True
        # Z below 1e-13: a geometric count is E / -log(1 - Z) = E / Z (rounded up, which is
        # negligible here) with E standard exponential; stay in log space
        log_terms = [math.log(e) - log_z for e in self.rng.standard_exponential(need)]
        if n > 1:
            log_terms.append(math.log(n - 1))
        top = max(log_terms)
        return -(top + math.log(sum(math.exp(t - top) for t in log_terms))), new, True

    # -- fallback ----------------------------------------------------------------------------

    def _fallback(self, row: np.ndarray, matcher: Any, pen: Any, checks: int) -> Sample:
        """The masked path for this row: an exact draw (and the exact weight when weights
        are computed). The same draw as ``MaskedSampler`` (the same allowed values in the
        same order, one categorical draw), computed from the allowed ids of the mask
        without masking a copy of the whole row."""
        p = self.params
        if p.greedy or not self._FAST_FALLBACK:
            return self._fallback_reference(row, matcher, pen, checks)
        v = row.shape[0]
        bm = self._masked._fill([matcher], 1, v)
        ids = _allowed_ids(bm[0], v)
        vals = row[ids]
        if pen is not None:
            sel = np.isin(ids, pen)
            if sel.any():
                vals[sel] = _penalize_np(vals[sel], p.repetition_penalty)
        if self._inv != 1:
            vals *= self._inv
        fin = vals > -np.inf
        if not fin.all():
            ids = ids[fin]
            vals = vals[fin]
        if len(ids) == 0:
            return Sample(NO_TOKEN, _NEG_INF, checks, True)
        lw = math.nan
        if self.compute_weights:
            work = self._masked._prepare(row[None], None if pen is None else [pen])[0]
            lw = _lse(vals, float(vals.max())) - _lse(work, float(work.max()))
        if p.truncates:
            keep = truncate_values(vals, p)
            ids = ids[keep]
            vals = vals[keep]
        return Sample(int(ids[categorical(vals, self.rng)]), lw, checks, True)

    def _fallback_reference(self, row: np.ndarray, matcher: Any, pen: Any,
                            checks: int) -> Sample:
        """``MaskedSampler``'s own path on this row (mask a copy, sample), exact weight."""
        work = self._masked._prepare(row[None], None if pen is None else [pen])
        bm = self._masked._fill([matcher], 1, row.shape[0])
        s = self._masked._sample_prepared(work, bm)[0]
        return Sample(s.token_id, s.log_weight, checks, True)

    # -- greedy and truncations -------------------------------------------------------------

    def _value_order(self, ctx: _Row) -> np.ndarray:
        if ctx.order_val is None:
            ctx.order_val = np.lexsort((ctx.s_ids, -ctx.s_f32))
        return ctx.order_val

    def _greedy(self, ctx: _Row, row: np.ndarray, matcher: Any, pen: Any,
                s_verdict: np.ndarray) -> Sample:
        order = self._value_order(ctx)
        tau = ctx.tau_abs
        s32 = ctx.s_f32
        is_allowed = matcher.is_allowed
        checks = 0
        tok = NO_TOKEN
        for i in order.tolist():
            if s32[i] <= tau or checks >= self._SCAN_BUDGET:
                return self._fallback(row, matcher, pen, checks)
            ok = bool(is_allowed(int(ctx.s_ids[i])))
            s_verdict[i] = ok
            checks += 1
            if ok:
                tok = int(ctx.s_ids[i])
                break
        if tok == NO_TOKEN:
            return self._fallback(row, matcher, pen, checks)
        top = ctx.s_f32[order[0]]
        ties = order[ctx.s_f32[order] == top]
        n_ok = 0
        for i in ties.tolist():
            if s_verdict[i] < 0:
                s_verdict[i] = is_allowed(int(ctx.s_ids[i]))
                checks += 1
            n_ok += int(s_verdict[i])
        lw = math.log(n_ok / len(ties)) if n_ok else _NEG_INF
        return Sample(tok, lw, checks, False)

    def _truncated(self, ctx: _Row, row: np.ndarray, matcher: Any, pen: Any,
                   s_verdict: np.ndarray) -> Sample | tuple[int, int]:
        """Scan by decreasing value until the kept set of top-k / top-p / min-p is certain,
        then draw from it. Returns (token, checks), or the masked fallback's Sample."""
        p = self.params
        sc = _Scan(ctx, self._value_order(ctx), matcher.is_allowed, s_verdict,
                   self._SCAN_BUDGET)
        s32 = ctx.s_f32
        kept: list[int] | None = None  # the truncated set once it is certain
        if p.top_k is not None:
            while len(sc.kept) < p.top_k:
                if sc.advance() is None:
                    if not sc.exhausted():
                        return self._fallback(row, matcher, pen, sc.checks)
                    break
            if len(sc.kept) >= p.top_k:
                kth = s32[sc.kept[p.top_k - 1]]
                if not sc.take_ties(kth) or not sc.done_below(kth):
                    return self._fallback(row, matcher, pen, sc.checks)
            kept = list(sc.kept)
        if p.top_p is not None:
            if kept is not None:
                if kept:
                    thr = s32[kept[top_p_cutoff(s32[kept], p.top_p)]]
                    kept = [i for i in kept if s32[i] >= thr]
            else:
                sc.budget = min(sc.budget, self._TOP_P_BUDGET)
                kept = self._top_p_scan(ctx, row, pen, sc)
                if kept is None:
                    return self._fallback(row, matcher, pen, sc.checks)
        if p.min_p is not None:
            if kept is not None:
                if kept:
                    thr = min_p_threshold(float(s32[kept[0]]), p.min_p)
                    kept = [i for i in kept if s32[i] >= thr]
            else:
                while not sc.kept:
                    if sc.advance() is None:
                        return self._fallback(row, matcher, pen, sc.checks)
                thr = min_p_threshold(float(s32[sc.kept[0]]), p.min_p)
                if not sc.scan_down_to(thr):
                    return self._fallback(row, matcher, pen, sc.checks)
                kept = [i for i in sc.kept if s32[i] >= thr]
        if not kept:
            return self._fallback(row, matcher, pen, sc.checks)
        j = categorical(s32[kept], self.rng)
        return int(ctx.s_ids[kept[j]]), sc.checks

    def _top_p_scan(self, ctx: _Row, row: np.ndarray, pen: Any, sc: "_Scan") -> list[int] | None:
        """Certified top-p over the allowed tokens without a mask. With ``a`` the scanned
        allowed mass and ``r`` the unscanned total mass, ``Z_A`` lies in ``[a, a + r]``; the
        cutoff (first allowed prefix whose mass reaches ``p * Z_A``) is certain once some
        prefix reaches ``p * (a + r)`` while the one before it is below ``p * a``."""
        p = self.params.top_p
        ctx.masses()
        w = ctx.w
        total = self._row_mass(ctx, row, pen)
        scanned = 0.0
        cum: list[float] = []
        a = 0.0
        eps = 1e-12
        while True:
            n_before = len(sc.kept)
            i = sc.advance()
            if i is None:
                if not sc.exhausted():
                    return None
                rem = 0.0
            else:
                scanned += float(w[i])
                if len(sc.kept) > n_before:
                    a += float(w[i])
                    cum.append(a)
                rem = max(total - scanned, 0.0)
            hi = p * (a + rem) * (1 + eps) + 1e-300
            lo = p * a * (1 - eps)
            j = bisect_left(cum, hi)
            if j < len(cum) and (j == 0 or cum[j - 1] < lo):
                thr = ctx.s_f32[sc.kept[j]]
                if not sc.take_ties(thr) or not sc.done_below(thr):
                    return None
                return [k for k in sc.kept if ctx.s_f32[k] >= thr]
            if i is None:
                if not cum:
                    return []
                # everything scanned: the exact cutoff
                vals = ctx.s_f32[sc.kept]
                thr = vals[top_p_cutoff(vals, p)]
                return [k for k in sc.kept if ctx.s_f32[k] >= thr]

    def _row_mass(self, ctx: _Row, row: np.ndarray, pen: Any) -> float:
        """Exact total mass sum(exp(s - M)) of the row (one pass)."""
        s = row * ctx.inv
        if s.dtype != np.float32:
            s = s.astype(np.float32)
        if pen is not None:
            pen = pen[(pen >= 0) & (pen < ctx.v)]
            s = s.copy()
            s[pen] = _penalize_np(row[pen], self.params.repetition_penalty) * ctx.inv
        return float(np.exp(s.astype(np.float64) - ctx.M).sum())


def _uniforms(rng: np.random.Generator) -> Iterator[float]:
    """``rng.random()`` values, drawn 256 at a time (one call per value costs more than the
    few operations of a typical draw)."""
    while True:
        yield from rng.random(256).tolist()


def _allowed_ids(words: np.ndarray, v: int) -> np.ndarray:
    """Ascending token ids below ``v`` whose bit is set in a packed mask row (int32 words,
    bit ``t & 31`` of word ``t >> 5``): a sparse mask expands its nonzero words only."""
    nw = min(len(words), (v + 31) // 32)
    words = words[:nw]
    nz = words.nonzero()[0]
    if len(nz) * 4 <= nw:
        bits = (words[nz, None] >> _BITS32) & 1
        ids = (nz[:, None] * 32 + _BITS32)[bits.astype(bool)]
    else:
        ids = np.unpackbits(words.view(np.uint8), bitorder="little").nonzero()[0]
    if len(ids) and ids[-1] >= v:
        ids = ids[ids < v]
    return ids


def _zeroed(w: Any, idx: list[int]) -> Any:
    """A copy of the weights ``w`` (list or array) with the entries ``idx`` set to 0."""
    w = w.copy()
    if isinstance(w, list):
        for j in idx:
            w[j] = 0.0
    else:
        w[idx] = 0.0
    return w


def _cumlist(w: Any) -> list[float]:
    """Running sum of the weights ``w`` (list or array) as a list."""
    return list(_accumulate(w)) if isinstance(w, list) else np.cumsum(w).tolist()


def _host_numpy(x: Any) -> np.ndarray:
    """``[batch, V]`` logits as a float32 numpy array on the host (a view when possible)."""
    if isinstance(x, np.ndarray):
        return x if x.dtype == np.float32 else x.astype(np.float32)
    t = x.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype != torch.float32:
        t = t.float()
    return t.numpy()


def _row_numpy(x: Any, i: int) -> np.ndarray:
    """Row ``i`` as a float32 numpy array (a view when possible)."""
    if isinstance(x, np.ndarray):
        r = x[i]
    else:
        t = x[i].detach()
        if t.device.type != "cpu":
            t = t.cpu()
        r = t.numpy() if t.dtype == torch.float32 else t.float().numpy()
    if r.dtype != np.float32:
        r = r.astype(np.float32)
    return r
