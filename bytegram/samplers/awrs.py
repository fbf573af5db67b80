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
``exp(s_i)``; the tail is simulated as one Poisson process of rate
``env = sum_c n_c exp(b_c)`` (the envelope): each point goes to a slot chosen in proportion to
its bound and is kept with probability ``exp(s_i - b_c)`` (thinning); points on candidates or
on tokens already visited are dropped. The merged order is exactly the order of fresh keys over
the whole vocabulary; the expected number of tail points before the first visit is about
``env`` relative to the top token's weight, usually well below one.

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
``log Z``. The decision depends only on what happens before the first allowed token arrives,
which is independent of which allowed token it is (Poisson marking), so the token stays an
exact draw and the weight stays unbiased. If the weight simulation itself needs more than
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

Exact means exact up to floating point: the envelope rates are float32 upper bounds with a
1e-4 relative slack that covers their rounding; a column whose bound is below ``e^-100`` of the
top token's weight underflows to rate 0, so its tokens (each below that relative mass) are
never proposed. Both effects are far below the float64 rounding of any softmax.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InvalidArgument
from .base import NO_TOKEN, Sample, SamplingParams, check_matchers, make_rng, normalize_prev_ids
from .masked import MaskedSampler, categorical, exact_log_z
from .transforms import _as_2d, _penalize_np, min_p_threshold, top_p_cutoff

__all__ = ["AdaptiveRejectionSampler"]

_NEG_INF = float("-inf")
_F32_NEG_INF = np.float32(-np.inf)
_F32_INF = np.float32(np.inf)
_LAYOUTS: dict[tuple[int, int], tuple[int, int, int]] = {}


class _Row:
    """One row prepared for lazy sampling: candidates, their masses, the tail envelope.

    Values are the float32 products ``fl(x * inv)`` the masked path computes too; ``s_rel``
    is their float64 offset from ``M`` (the largest candidate value).
    """

    __slots__ = ("row", "v", "inv", "tau_raw", "tau_abs", "pen", "s_ids", "s_f32", "s_rel",
                 "M", "shift", "n_tail", "env", "env_w", "env_rate", "env_cum", "cols", "rows",
                 "n_rem", "w", "cum", "order_val")

    def __init__(self, row: np.ndarray, inv: np.float32) -> None:
        self.row = row
        self.v = row.shape[0]
        self.inv = inv
        self.n_tail = 0
        self.env = 0.0
        self.env_cum: np.ndarray | None = None
        self.w: np.ndarray | None = None
        self.cum: np.ndarray | None = None
        self.order_val: np.ndarray | None = None

    def masses(self) -> np.ndarray:
        """Cumulative candidate weights exp(s - M) (float64)."""
        if self.cum is None:
            self.w = np.exp(self.s_rel)
            self.cum = np.cumsum(self.w)
        return self.cum

    def _env_cum(self) -> np.ndarray:
        cum = self.env_cum
        if cum is None:
            cum = self.env_cum = np.cumsum(self.env_rate if self.env_w is None else self.env_w)
        return cum

    def propose(self, rng: np.random.Generator) -> tuple[int, float]:
        """One envelope point: (token id, keep probability), or (-1, 0) when it falls on a
        slot that is not a tail token."""
        cum = self._env_cum()
        c = min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")),
                len(cum) - 1)  # (a product that rounded up to the total)
        ncol = self.cols
        if c >= ncol:  # the remainder past rows * cols
            i = self.rows * ncol + int(rng.integers(self.n_rem))
        else:
            i = int(rng.integers(self.rows)) * ncol + c
        x = self.row[i]
        if not x < self.tau_raw or (self.pen and i in self.pen):
            return -1, 0.0
        return i, math.exp(float(x * self.inv) - self.shift) / self.env_rate[c]

    def propose_many(self, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``k`` envelope points at once: token ids (-1 off the tail) and keep decisions."""
        cum = self._env_cum()
        ncol = self.cols
        c = np.searchsorted(cum, rng.random(k) * cum[-1], side="right")
        np.minimum(c, len(cum) - 1, out=c)  # (a product that rounded up to the total)
        rem = c >= ncol
        r = rng.integers(self.rows, size=k)
        ids = r * ncol + c
        if rem.any():
            c[rem] = ncol
            ids[rem] = self.rows * ncol + rng.integers(self.n_rem, size=int(rem.sum()))
        x = self.row[ids]
        ok = x < self.tau_raw
        if self.pen:
            ok &= ~np.isin(ids, np.fromiter(self.pen, dtype=np.int64, count=len(self.pen)))
        s = (x * self.inv).astype(np.float64) - self.shift
        keep = ok & (rng.random(k) * self.env_rate[c] < np.exp(s))
        return np.where(ok, ids, -1), keep


class _Stream:
    """Tokens in decreasing key order: candidates by a blockwise partial sort (blocks of 1,
    8, 64, 512, then all), the tail by the thinned envelope process (module docstring)."""

    __slots__ = ("ctx", "rng", "keys", "order", "pos", "blk", "t", "next_key", "buf_keys",
                 "buf_ids", "buf_keep", "buf_pos", "materialized", "proposals",
                 "max_proposals")

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
        only when reached), then, after 16, in vectorized blocks."""
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
                if self.proposals >= 16:  # many points: a vectorized block
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
            i, keep_p = ctx.propose(rng)  # placed only when it is reached
            if i >= 0 and i not in self.materialized and rng.random() < keep_p:
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
    ``compute_weights`` (False skips the weight simulation; ``log_weight`` is then NaN except
    on the masked path, which gives the exact value for free).

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
        self.compute_weights = bool(compute_weights)
        self._masked = MaskedSampler(params=params, generator=self.rng)

    def __repr__(self) -> str:
        return (f"AdaptiveRejectionSampler({self.params}, max_rejections="
                f"{self.max_rejections})")

    # -- public API ----------------------------------------------------------------------

    def sample(self, logits: Any, matcher: Any, *, prev_ids: Any = None) -> Sample:
        """One token for one sequence (``logits`` ``[V]`` or ``[1, V]``); ``prev_ids`` are
        its previous tokens (for the repetition penalty). The matcher is not advanced."""
        if type(logits) is torch.Tensor and logits.ndim == 1 \
                and logits.dtype == torch.float32 and logits.is_cpu:
            # fast path: a view, no copy
            row = logits.detach().numpy() if logits.requires_grad else logits.numpy()
        elif type(logits) is np.ndarray and logits.ndim == 1 and logits.dtype == np.float32:
            row = logits
        else:
            x, _ = _as_2d(logits)
            if x.shape[0] != 1:
                raise InvalidArgument(f"sample() takes one row of logits, got {x.shape[0]}; "
                                      f"use sample_batch()")
            row = _row_numpy(x, 0)
        return self._sample_row(row, matcher, prev_ids)

    def sample_batch(self, logits: Any, matchers: Sequence[Any], *,
                     prev_ids: Sequence[Any] | None = None) -> list[Sample]:
        """One token per row of ``logits`` ``[batch, V]``, row ``i`` constrained by
        ``matchers[i]`` (rows are independent)."""
        x, _ = _as_2d(logits)
        check_matchers(matchers, x.shape[0])
        if prev_ids is not None and len(prev_ids) != x.shape[0]:
            raise InvalidArgument(f"prev_ids has {len(prev_ids)} rows, logits {x.shape[0]}")
        host = x if isinstance(x, np.ndarray) or x.device.type == "cpu" else x.cpu()
        return [self._sample_row(_row_numpy(host, i), m,
                                 None if prev_ids is None else prev_ids[i])
                for i, m in enumerate(matchers)]

    # -- one row ---------------------------------------------------------------------------

    def _sample_row(self, row: np.ndarray, matcher: Any, prev_ids: Any) -> Sample:
        if matcher.is_terminated():
            return Sample(NO_TOKEN, _NEG_INF, 0, False)
        p = self.params
        pen = normalize_prev_ids(prev_ids) if p.repetition_penalty is not None else None
        ctx = self._prepare(row, pen)
        if ctx is None:
            return Sample(NO_TOKEN, _NEG_INF, 0, False)
        s_verdict = np.full(len(ctx.s_ids), -1, dtype=np.int8)
        t_verdict: dict[int, bool] = {}
        if p.greedy:
            return self._greedy(ctx, row, matcher, pen, s_verdict)
        if p.truncates:
            res = self._truncated(ctx, row, matcher, pen, s_verdict)
            if isinstance(res, Sample):
                return res
            tok, checks = res
        else:
            stream = _Stream(ctx, self.rng, self._MAX_PROPOSALS)
            checks = 0
            rejections = 0
            forbidden_pos: list[int] = []
            is_allowed = matcher.is_allowed
            s_ids = ctx.s_ids
            while True:
                nxt = stream.next()
                if nxt is None or rejections >= self.max_rejections:
                    return self._fallback(row, matcher, pen, checks)
                kind, i = nxt
                if kind == 0:
                    tok = int(s_ids[i])
                    ok = is_allowed(tok)
                    s_verdict[i] = ok
                    if not ok:
                        forbidden_pos.append(i)
                else:
                    tok = i
                    ok = is_allowed(tok)
                    t_verdict[tok] = ok
                checks += 1
                if ok:
                    break
                rejections += 1
        if not self.compute_weights:
            return Sample(tok, math.nan, checks, False)
        if p.truncates:
            forbidden_pos = np.flatnonzero(s_verdict == 0).tolist()
        log_w, est_checks, fb = self._estimate(ctx, row, matcher, pen, s_verdict, t_verdict,
                                               forbidden_pos)
        return Sample(tok, log_w, checks + est_checks, fb)

    def _layout(self, v: int) -> tuple[int, int, int]:
        """(columns, rows, remainder) of the max pass for width ``v``: a divisor of ``v``
        near ``_COLUMNS`` when there is one (no remainder), else ``_COLUMNS``."""
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
            lay = _LAYOUTS[key] = (c, v // c, v - (v // c) * c)
        return lay

    def _prepare(self, row: np.ndarray, pen: np.ndarray | None) -> _Row | None:
        """Candidates and tail envelope of one row; None when every value is -inf."""
        v = row.shape[0]
        inv = self.params.inv_temperature
        ctx = _Row(row, inv)
        if pen is not None:
            pen = pen[(pen >= 0) & (pen < v)]
            if len(pen) == 0:
                pen = None
        tail = v > self._DIRECT_MAX_V
        if not tail:
            ids = np.flatnonzero(row > -np.inf)
            tau_raw = _F32_NEG_INF
        else:
            c, r, n_rem = self._layout(v)
            main = row[: r * c].reshape(r, c)
            colmax = main.max(axis=0)
            if n_rem:
                colmax = np.append(colmax, row[r * c:].max())
            m = float(colmax.max())
            if m == _NEG_INF:
                if pen is None:
                    return None
                tail = False
                ids = np.zeros(0, dtype=np.int64)
                tau_raw = _F32_INF
            else:
                finv = float(inv)
                for delta in self._DELTAS:
                    tau_raw = np.float32(m - delta / finv)
                    cols = np.flatnonzero(colmax >= tau_raw)
                    if len(cols) <= self._MAX_COLS:
                        break
                if n_rem and cols[-1] == c:
                    cols = cols[:-1]
                    extra = np.flatnonzero(row[r * c:] >= tau_raw) + r * c
                else:
                    extra = None
                sub = main.take(cols, axis=1)
                hit = sub >= tau_raw
                rr, cc = np.nonzero(hit)
                ids = rr * c + cols[cc]
                # the tail of a candidate column: its entries below tau, bounded by their max
                below = np.where(hit, _F32_NEG_INF, sub).max(axis=0)
                if extra is not None:
                    ids = np.concatenate([ids, extra])
                    rem = row[r * c:]
                    rem_below = rem[rem < tau_raw]
                    rem_below = rem_below.max() if len(rem_below) else _F32_NEG_INF
        ctx.tau_raw = tau_raw
        if pen is not None:
            # candidates = (S0 minus the penalized ids) + every penalized id, penalized
            ctx.pen = set(pen.tolist())
            ids = np.concatenate([ids[~np.isin(ids, pen)], pen])
            raw = row[ids]
            k = len(pen)
            raw[-k:] = _penalize_np(raw[-k:], self.params.repetition_penalty)
        else:
            ctx.pen = None
            raw = row[ids]
        n_s0_or_pen = len(ids)
        s32 = raw * inv if inv != 1 else raw
        if pen is not None or not tail:
            finite = s32 > -np.inf
            if not finite.all():
                ids = ids[finite]
                s32 = s32[finite]
            if len(ids) == 0:
                return None
        mx = float(s32.max())
        ctx.s_ids = ids
        ctx.s_f32 = s32
        ctx.M = mx
        ctx.s_rel = s32.astype(np.float64) - mx
        if not tail:
            ctx.tau_abs = _NEG_INF
            return ctx
        ctx.n_tail = v - n_s0_or_pen
        ctx.tau_abs = float(tau_raw * inv)
        # envelope: per-slot rate exp(b_c - M) where b_c = fl(colmax_c * inv) bounds every
        # tail value of column c; for a candidate column (and the remainder, last) b_c is the
        # largest entry below tau. float32, with the shift lowered by a small slack that
        # covers its rounding: rates are upper bounds up to float error far below float64
        # resolution.
        b = colmax * inv if inv != 1 else colmax
        shift = np.float32(mx - 1e-4 * (1.0 + abs(mx)))
        rate = b - shift
        np.exp(rate, out=rate)
        rate[cols] = np.exp((below * inv if inv != 1 else below) - shift)
        if n_rem and extra is not None:
            rate[-1] = math.exp(float(rem_below * inv) - float(shift))
        ctx.env_rate = rate
        ctx.shift = float(shift)
        to_m = math.exp(float(shift) - mx)  # rates are relative to ``shift``; env to ``M``
        if n_rem:
            env_w = rate.astype(np.float64) * r
            env_w[-1] = float(rate[-1]) * n_rem
            ctx.env_w = env_w
            ctx.env = float(env_w.sum()) * to_m
        else:
            ctx.env_w = None
            ctx.env = float(rate.sum(dtype=np.float64)) * r * to_m
        ctx.cols = c
        ctx.rows = r
        ctx.n_rem = n_rem
        return ctx

    # -- the weight ------------------------------------------------------------------------

    def _estimate(self, ctx: _Row, row: np.ndarray, matcher: Any, pen: Any,
                  s_verdict: np.ndarray, t_verdict: dict[int, bool],
                  known_forbidden: list[int] | None = None) -> tuple[float, int, bool]:
        """log 1/(N-1), N = draws of a with-replacement rejection sampler until its second
        acceptance (fresh randomness, cached verdicts). Returns (log weight, new checks,
        whether the mask was computed).

        Attempts are i.i.d.: a candidate in proportion to its weight, or the tail envelope in
        proportion to ``env`` (a tail attempt is a draw only when its point is kept). Runs of
        attempts on candidates already known to be forbidden are skipped in one geometric
        draw, so the work grows with the number of distinct tokens met, not with N."""
        rng = self.rng
        random = rng.random
        cum = ctx.masses()
        w = ctx.w
        env = ctx.env
        total = float(cum[-1]) + env
        last = len(cum) - 1
        cap = self.max_rejections
        max_draws = self.max_draws
        is_allowed = matcher.is_allowed
        s_ids = ctx.s_ids
        if known_forbidden:
            w_other = w.copy()
            w_other[known_forbidden] = 0.0
            cum_other = np.cumsum(w_other).tolist()
        else:
            w_other = None
            cum_other = cum.tolist()
        w_other_sum = cum_other[-1]
        stale: list[int] = []  # known forbidden, still in cum_other (their draws fail)
        stale_mass = 0.0
        n = succ = new = 0
        for _ in range(4096 + 64 * cap):  # attempts that are not skipped
            # stop decisions come before the skip: the skip reveals that the next attempt
            # is not a known-forbidden candidate, so that attempt must then be resolved
            if n >= max_draws:
                return self._finish_exact(row, matcher, pen, n, succ, new, None)
            rest = w_other_sum + env  # mass of the attempts that are not skipped
            if rest <= 1e-12 * total:  # Z below ~1e-12 (or underflow): finish exactly
                return self._finish_exact(row, matcher, pen, n, succ, new, None)
            if rest < total:
                n += int(rng.geometric(rest / total)) - 1  # skipped known-forbidden draws
            u = random() * rest
            if u < w_other_sum:
                j = bisect_right(cum_other, u)
                if j > last:
                    j = last
                ok = s_verdict[j]
                if ok < 0:
                    if new >= cap:
                        return self._finish_exact(row, matcher, pen, n, succ, new,
                                                  int(s_ids[j]))
                    ok = bool(is_allowed(int(s_ids[j])))
                    s_verdict[j] = ok
                    new += 1
                    if not ok:  # its later draws are failures; skipped after a rebuild
                        stale.append(j)
                        stale_mass += float(w[j])
                        if stale_mass > 0.25 * w_other_sum:  # amortized rebuild
                            if w_other is None:
                                w_other = w.copy()
                            w_other[stale] = 0.0
                            stale.clear()
                            stale_mass = 0.0
                            cum_other = np.cumsum(w_other).tolist()
                            w_other_sum = cum_other[-1]
            else:
                i, keep = ctx.propose(rng)
                if i < 0 or random() >= keep:
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
        """The masked path for this row: an exact draw with the exact weight."""
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
