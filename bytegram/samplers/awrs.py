"""Adaptive weighted rejection sampling (Lipkin et al., COLM 2025), exact and lazy.

Sampling. Gumbel-max: the token with the largest key ``s_i + G_i`` (``s`` the penalized,
tempered logits, ``G`` standard Gumbel noise) is an exact draw from softmax(s); the first
*allowed* token in decreasing key order is an exact draw from the masked distribution. We
visit tokens in that order and check each with ``matcher.is_allowed`` until one passes, so the
number of checks depends on the forbidden mass near the top, not on the vocabulary size.

Laziness (no full-vocabulary sort, no noise for every token). One pass over the row gives
column maxima; the few columns near the top give the candidate set ``S = {i : x_i >= tau}``.
Every other token (the tail) has a logit below ``tau``, so its key is bounded; tail keys are
materialized only when the visit order reaches their level, by thinning: a binomial number of
uniformly placed proposals at the bound's rate, each kept with its exact conditional
probability and given a key from the truncated Gumbel. The visit order is therefore exactly
the order of fresh Gumbel keys over the whole vocabulary.

Weight. ``Z`` = allowed mass of softmax(s). We simulate the with-replacement rejection
sampler that draws i.i.d. tokens from softmax(s) until its second acceptance, with fresh
randomness (independent of the sampled token), reusing cached verdicts and checking new
tokens as needed. With ``N`` its number of draws, ``N - 2`` rejections and 2 acceptances are
negative-binomial, and ``1 / (N - 1)`` is unbiased for ``Z``:
``E[1/(N-1)] = sum_{n>=2} (n-1) Z^2 (1-Z)^(n-2) / (n-1) = Z``. Draws need no normalizer:
they come from an envelope (exact masses on ``S``, the bound ``tau`` on the tail) and a tail
proposal is accepted with probability ``exp(s_i - tau)``.

Fallback. After ``max_rejections`` forbidden tokens (or when the candidate set runs out) the
full mask is computed and the token is drawn from it, with the exact ``log Z``. The decision
depends only on the forbidden tokens seen before the first allowed one, which are independent
of which allowed token comes first, so the token stays an exact draw and the weight stays
unbiased. If the weight simulation itself needs more than ``max_rejections`` new checks (or
``max_draws`` draws), the mask is computed, ``Z`` is known exactly, and the remaining draws
are simulated as geometric counts (success probability ``Z``): the count ``N`` keeps its exact
distribution. Returning ``Z`` itself there would bias the estimate upward.

Truncations (top-k, top-p, min-p) act on the masked distribution exactly as in
``MaskedSampler``: tokens are scanned by decreasing logit (checked one by one) until the kept
set is certain, then one token is drawn from it. The scan needs the order of the candidate set
only, which is certain down to the tail bound; when the kept set reaches below it, or the scan
passes its budget, the sampler falls back to the masked path. Top-p without top-k computes the
row's normalizer (one pass) to bound the mass not yet scanned. Greedy visits by logit (lowest
id on ties); its weight is the temperature-0 limit: the fraction of the unconstrained argmax
ties that are allowed.
"""

from __future__ import annotations

import heapq
import math
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InvalidArgument
from .base import NO_TOKEN, Sample, SamplingParams, check_matchers, make_rng, normalize_prev_ids
from .masked import MaskedSampler, categorical, exact_log_z
from .transforms import _as_2d, _penalize_np, min_p_threshold, top_p_cutoff

__all__ = ["AdaptiveRejectionSampler"]

_NEG_INF = float("-inf")
_INF = float("inf")


class _Row:
    """One row prepared for lazy sampling: the candidate set and the tail bound.

    Scaled values are relative to ``M`` (the largest candidate value), in float64, computed
    from the same float32 products the masked path uses.
    """

    __slots__ = ("row", "v", "inv", "tau_raw", "tau_s", "n_tail", "pen", "s_ids", "s_f32",
                 "s_rel", "w", "cum", "M", "order_val", "tau_abs")

    def __init__(self) -> None:
        self.order_val: np.ndarray | None = None
        self.w: np.ndarray | None = None
        self.cum: np.ndarray | None = None

    def tail_ok(self, i: int, materialized: set) -> bool:
        """Whether id ``i`` is an unmaterialized tail token."""
        return not (self.row[i] >= self.tau_raw or i in self.pen or i in materialized)

    def tail_value(self, ids: np.ndarray) -> np.ndarray:
        """Scaled values (relative to M) of tail ids (no penalty applies to them)."""
        return (self.row[ids] * self.inv).astype(np.float64) - self.M

    def masses(self) -> tuple[np.ndarray, np.ndarray]:
        if self.w is None:
            self.w = np.exp(self.s_rel)
            self.cum = np.cumsum(self.w)
        return self.w, self.cum


class _Stream:
    """Tokens in decreasing Gumbel-key order over the candidate set and the lazy tail."""

    __slots__ = ("ctx", "rng", "keys", "order", "pos", "blk", "pending", "level",
                 "materialized", "n_rem")

    def __init__(self, ctx: _Row, rng: np.random.Generator) -> None:
        self.ctx = ctx
        self.rng = rng
        n = len(ctx.s_rel)
        self.keys = ctx.s_rel - np.log(rng.standard_exponential(n))
        self.pos = 0
        self.blk = 0
        self.order = np.zeros(0, dtype=np.int64)
        self.pending: list[tuple[float, int]] = []
        self.level = _INF
        self.materialized: set[int] = set()
        self.n_rem = ctx.n_tail

    def _extend(self) -> None:
        n = len(self.keys)
        done = len(self.order)
        size = n if n <= 64 else min(n, (8, 64, 512)[self.blk] if self.blk < 3 else n)
        self.blk += 1
        if size >= n:
            rest = np.argsort(-self.keys, kind="stable")
        else:
            part = np.argpartition(-self.keys, size - 1)[:size]
            rest = part[np.argsort(-self.keys[part], kind="stable")]
        self.order = rest if done == 0 else np.concatenate([self.order, rest[done:]])

    def _lower(self, target: float) -> None:
        """Materialize every tail token whose key lies in (target, level]."""
        ctx = self.ctx
        rng = self.rng
        tau = ctx.tau_s
        lo = max(target, -700.0 + tau)
        e_new = math.exp(-(lo - tau))
        e_old = 0.0 if self.level == _INF else math.exp(-(self.level - tau))
        q_bound = -math.expm1(-(e_new - e_old))
        k = int(rng.binomial(self.n_rem, q_bound)) if q_bound > 0 else 0
        if k:
            v = ctx.v
            chosen: list[int] = []
            seen = set()
            while len(chosen) < k:
                i = int(rng.integers(v))
                if i in seen or not ctx.tail_ok(i, self.materialized):
                    continue
                seen.add(i)
                chosen.append(i)
            ids = np.asarray(chosen, dtype=np.int64)
            s = ctx.tail_value(ids)
            es = np.exp(s)
            q_i = -np.expm1(-es * (math.exp(-lo) - (0.0 if self.level == _INF
                                                      else math.exp(-self.level))))
            keep = rng.random(k) * q_bound < q_i
            for i, si, ok in zip(chosen, s.tolist(), keep.tolist()):
                if not ok:
                    continue
                # truncated Gumbel on (lo - si, level - si]: E = exp(-G) is Exp(1) on [eb, ea)
                eb = 0.0 if self.level == _INF else math.exp(-(self.level - si))
                ea = math.exp(-(lo - si))
                y = -math.log1p(-rng.random() * -math.expm1(-(ea - eb)))
                key = si - math.log(eb + y)
                self.materialized.add(i)
                self.n_rem -= 1
                heapq.heappush(self.pending, (-key, i))
        self.level = lo

    def next(self) -> tuple[int, int] | None:
        """(kind, index): kind 0 = candidate position, 1 = tail token id; None when the
        candidate set and the materialized tail are exhausted."""
        if self.pos >= len(self.order) and len(self.order) < len(self.keys):
            self._extend()
        s_key = self.keys[self.order[self.pos]] if self.pos < len(self.order) else _NEG_INF
        p_key = -self.pending[0][0] if self.pending else _NEG_INF
        top = s_key if s_key > p_key else p_key
        if top == _NEG_INF:
            return None
        if self.n_rem > 0 and self.level > top:
            self._lower(top - 0.5)
            p_key = -self.pending[0][0] if self.pending else _NEG_INF
        if p_key > s_key:
            _, i = heapq.heappop(self.pending)
            return 1, i
        self.pos += 1
        return 0, int(self.order[self.pos - 1])


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
    an exact draw from the same distribution ``MaskedSampler`` draws from, for every setting;
    ``log_weight`` is the log of an unbiased estimate of the allowed mass ``Z`` of the
    penalized, tempered distribution (exact ``log Z`` when it fell back to the mask).

    Keyword options: ``temperature`` (0 = greedy), ``top_k``, ``top_p``, ``min_p``,
    ``repetition_penalty``, ``max_rejections`` (forbidden tokens visited before the full-mask
    fallback; also the budget of new checks for the weight), ``max_draws`` (draws of the weight
    simulation before it finishes from the mask), ``seed`` or ``generator``.

    Settings and exactness: plain sampling and greedy are exact by rejection; top-k and min-p
    are exact by an ordered scan; top-p is exact by a certified scan (one extra pass for the
    normalizer without top-k). Whenever a scan cannot certify its kept set the sampler uses
    the masked path (``fell_back=True``), which is exact too. The hot path is numpy on CPU;
    logits on another device are copied to the host one row at a time.
    """

    # tuning knobs (class attributes so tests can force the lazy tail on small vocabularies)
    _DIRECT_MAX_V = 4096  # rows this narrow are one candidate set (no tail)
    _COLUMNS = 2048  # layout of the max pass: [V // C, C]
    _MAX_COLS = 32  # at most this many columns (by maximum) give candidates
    _DELTA = 16.0  # candidate window below the maximum, in scaled-logit units
    _SCAN_BUDGET = 512  # most checks a truncation scan makes before falling back

    def __init__(self, *, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, min_p: float | None = None,
                 repetition_penalty: float | None = None, max_rejections: int = 32,
                 max_draws: int = 100_000, seed: int | None = None, generator: Any = None,
                 params: SamplingParams | None = None) -> None:
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
        self._masked = MaskedSampler(params=params, generator=self.rng)

    def __repr__(self) -> str:
        return (f"AdaptiveRejectionSampler({self.params}, max_rejections="
                f"{self.max_rejections})")

    # -- public API ----------------------------------------------------------------------

    def sample(self, logits: Any, matcher: Any, *, prev_ids: Any = None) -> Sample:
        """One token for one sequence (``logits`` ``[V]`` or ``[1, V]``). The matcher is not
        advanced."""
        x, _ = _as_2d(logits)
        if x.shape[0] != 1:
            raise InvalidArgument(f"sample() takes one row of logits, got {x.shape[0]}; "
                                  f"use sample_batch()")
        return self._sample_row(_row_numpy(x, 0), matcher, prev_ids)

    def sample_batch(self, logits: Any, matchers: Sequence[Any], *,
                     prev_ids: Sequence[Any] | None = None) -> list[Sample]:
        """One token per row of ``logits`` ``[batch, V]`` (rows are independent)."""
        x, _ = _as_2d(logits)
        check_matchers(matchers, x.shape[0])
        if prev_ids is not None and len(prev_ids) != x.shape[0]:
            raise InvalidArgument(f"prev_ids has {len(prev_ids)} rows, logits {x.shape[0]}")
        host = x if isinstance(x, np.ndarray) else (x if x.device.type == "cpu" else x.cpu())
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
            stream = _Stream(ctx, self.rng)
            checks = 0
            rejections = 0
            is_allowed = matcher.is_allowed
            while True:
                nxt = stream.next()
                if nxt is None or rejections >= self.max_rejections:
                    return self._fallback(row, matcher, pen, checks)
                kind, i = nxt
                if kind == 0:
                    tok = int(ctx.s_ids[i])
                    ok = is_allowed(tok)
                    s_verdict[i] = ok
                else:
                    tok = i
                    ok = is_allowed(tok)
                    t_verdict[tok] = ok
                checks += 1
                if ok:
                    break
                rejections += 1
        log_w, est_checks, fb = self._estimate(ctx, row, matcher, pen, s_verdict, t_verdict)
        return Sample(tok, log_w, checks + est_checks, fb)

    def _prepare(self, row: np.ndarray, pen: np.ndarray | None) -> _Row | None:
        v = row.shape[0]
        inv = self.params.inv_temperature
        ctx = _Row()
        ctx.row = row
        ctx.v = v
        ctx.inv = inv
        if pen is not None:
            pen = pen[(pen >= 0) & (pen < v)]
            if len(pen) == 0:
                pen = None
        if v <= self._DIRECT_MAX_V:
            m = float(row.max()) if v else _NEG_INF
            if m == _NEG_INF and pen is None:
                return None
            ids = np.flatnonzero(row > -np.inf)
            tau_raw = _NEG_INF
        else:
            c = self._COLUMNS
            r = v // c
            if r == 0:
                c, r = v, 1
            main = row[: r * c].reshape(r, c)
            colmax = main.max(axis=0)
            rem = row[r * c:]
            m = float(colmax.max())
            if len(rem):
                m = max(m, float(rem.max()))
            if m == _NEG_INF:
                if pen is None:
                    return None
                tau_raw = _INF
                ids = np.zeros(0, dtype=np.int64)
            else:
                tau_raw = m - self._DELTA / float(inv)
                cols = np.flatnonzero(colmax >= tau_raw)
                if len(cols) > self._MAX_COLS:
                    cm = colmax[cols]
                    tau_raw = float(np.partition(cm, len(cm) - self._MAX_COLS)[len(cm) - self._MAX_COLS])
                    cols = cols[cm >= tau_raw]
                sub = main[:, cols]
                rr, cc = np.nonzero(sub >= tau_raw)
                ids = rr * c + cols[cc]
                if len(rem):
                    extra = np.flatnonzero(rem >= tau_raw)
                    if len(extra):
                        ids = np.concatenate([ids, extra + r * c])
        ctx.tau_raw = tau_raw
        if pen is not None:
            ctx.pen = set(pen.tolist())
            ids = np.union1d(ids, pen)
            raw = row[ids].astype(np.float32)
            in_pen = np.isin(ids, pen, assume_unique=True)
            raw[in_pen] = _penalize_np(raw[in_pen], self.params.repetition_penalty)
            n_s0_or_pen = len(ids)
        else:
            ctx.pen = ()
            raw = row[ids]
            n_s0_or_pen = len(ids)
        s32 = raw * inv
        if s32.dtype != np.float32:
            s32 = s32.astype(np.float32)
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
        if tau_raw == _NEG_INF or tau_raw == _INF:
            ctx.n_tail = 0
            ctx.tau_abs = _NEG_INF
            ctx.tau_s = _NEG_INF
        else:
            ctx.n_tail = v - n_s0_or_pen
            # a float64 upper bound of fl32(x * inv) for every tail x < tau_raw
            t = float(np.float32(tau_raw) * inv)
            ctx.tau_abs = t + 1e-6 * (abs(t) + 1.0)
            ctx.tau_s = ctx.tau_abs - mx
        return ctx

    # -- the weight ------------------------------------------------------------------------

    def _estimate(self, ctx: _Row, row: np.ndarray, matcher: Any, pen: Any,
                  s_verdict: np.ndarray, t_verdict: dict[int, bool]) -> tuple[float, int, bool]:
        """log of 1/(N-1), N = draws of a with-replacement rejection sampler until its second
        acceptance (fresh randomness, cached verdicts)."""
        rng = self.rng
        w, cum = ctx.masses()
        w_s = float(cum[-1])
        env = ctx.v * math.exp(ctx.tau_s) if ctx.n_tail > 0 else 0.0
        total = w_s + env
        n = 0
        succ = 0
        new_checks = 0
        cap = self.max_rejections
        is_allowed = matcher.is_allowed
        last = len(cum) - 1
        batch = 8
        while True:
            u = rng.random(batch) * total
            in_s = u < w_s
            n_s = int(np.count_nonzero(in_s))
            if n_s == batch:
                pos = np.searchsorted(cum, u, side="right")
                np.minimum(pos, last, out=pos)
                codes = s_verdict[pos]
                kinds = None
            else:
                pos = np.zeros(batch, dtype=np.int64)
                pos[in_s] = np.minimum(np.searchsorted(cum, u[in_s], side="right"), last)
                codes = np.where(in_s, s_verdict[pos], -2).astype(np.int8)
                kinds = self._tail_attempts(ctx, ~in_s, pos, codes, t_verdict)
            interesting = np.flatnonzero(codes != 0)
            # draws before each interesting attempt: attempts that are draws (code != -3)
            if kinds is not None:
                is_draw = codes != -3
                draws_before = np.cumsum(is_draw) - is_draw
            else:
                is_draw = None
                draws_before = None
            for a in interesting.tolist():
                code = int(codes[a])
                if code == -3:
                    continue
                n_at = n + (a if draws_before is None else int(draws_before[a])) + 1
                if n_at > self.max_draws:
                    return self._finish_exact(ctx, row, matcher, pen, n_at - 1, succ,
                                              new_checks, None)
                if kinds is not None and kinds[a] == 1:
                    tok = int(pos[a])
                    ok = t_verdict.get(tok)
                    if ok is None:
                        if new_checks >= cap:
                            return self._finish_exact(ctx, row, matcher, pen, n_at - 1, succ,
                                                      new_checks, tok)
                        ok = is_allowed(tok)
                        new_checks += 1
                        t_verdict[tok] = ok
                else:
                    p_ = int(pos[a])
                    c = int(s_verdict[p_])
                    if c < 0:
                        tok = int(ctx.s_ids[p_])
                        if new_checks >= cap:
                            return self._finish_exact(ctx, row, matcher, pen, n_at - 1, succ,
                                                      new_checks, tok)
                        ok = is_allowed(tok)
                        new_checks += 1
                        s_verdict[p_] = ok
                    else:
                        ok = bool(c)
                if ok:
                    succ += 1
                    if succ == 2:
                        return -math.log(n_at - 1), new_checks, False
            n += batch if is_draw is None else int(np.count_nonzero(is_draw))
            if n > self.max_draws:
                return self._finish_exact(ctx, row, matcher, pen, n, succ, new_checks, None)
            if batch < 4096:
                batch *= 4

    def _tail_attempts(self, ctx: _Row, tail_mask: np.ndarray, pos: np.ndarray,
                       codes: np.ndarray, t_verdict: dict[int, bool]) -> np.ndarray:
        """Resolve envelope attempts that landed on the tail part: a uniform id, rejected if
        it is not a tail token, accepted with probability exp(s_i - tau). Writes the id to
        ``pos`` and a code (-3 = no draw, 2 = tail draw) to ``codes``; returns kinds (1 for
        tail draws)."""
        rng = self.rng
        idx = np.flatnonzero(tail_mask)
        ids = rng.integers(0, ctx.v, size=len(idx))
        vals = ctx.row[ids]
        ok = vals < ctx.tau_raw
        if ctx.pen:
            ok &= ~np.isin(ids, np.fromiter(ctx.pen, dtype=np.int64))
        s = (vals * ctx.inv).astype(np.float64) - ctx.M
        ok &= rng.random(len(idx)) < np.exp(np.minimum(s - ctx.tau_s, 0.0))
        kinds = np.zeros(len(codes), dtype=np.int8)
        codes[idx] = np.where(ok, 2, -3)
        pos[idx] = ids
        kinds[idx] = 1
        return kinds

    def _exact_mask(self, row: np.ndarray, matcher: Any, pen: Any) -> tuple[np.ndarray, np.ndarray]:
        """(penalized tempered float32 row, boolean allowed mask) from the full mask."""
        work = self._masked._prepare(torch.from_numpy(np.ascontiguousarray(row))[None],
                                     None if pen is None else [pen])
        bm = self._masked._fill([matcher], 1, row.shape[0])
        from .. import unpack_bitmask

        allowed = unpack_bitmask(bm, row.shape[0])[0]
        if allowed.shape[0] < row.shape[0]:
            allowed = np.concatenate([allowed, np.zeros(row.shape[0] - allowed.shape[0], bool)])
        return work[0].numpy(), allowed

    def _finish_exact(self, ctx: _Row, row: np.ndarray, matcher: Any, pen: Any, n: int,
                      succ: int, new_checks: int, pending_tok: int | None
                      ) -> tuple[float, int, bool]:
        """Finish the draw count from the exact mask: ``n`` draws resolved with ``succ``
        successes; ``pending_tok`` is a drawn token whose verdict is still unknown."""
        work, allowed = self._exact_mask(row, matcher, pen)
        log_z = exact_log_z(work, allowed)
        z = math.exp(log_z)
        if pending_tok is not None:
            n += 1
            if allowed[pending_tok]:
                succ += 1
        if succ < 2:
            if z <= 0:
                return _NEG_INF, new_checks, True
            n += int(self.rng.geometric(z, size=2 - succ).sum()) if z < 1 else 2 - succ
        return -math.log(n - 1), new_checks, True

    # -- fallback ----------------------------------------------------------------------------

    def _fallback(self, row: np.ndarray, matcher: Any, pen: Any, checks: int) -> Sample:
        work = self._masked._prepare(torch.from_numpy(np.ascontiguousarray(row))[None],
                                     None if pen is None else [pen])
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
        w, _ = ctx.masses()
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
            j = next((k for k, c in enumerate(cum) if c >= hi), None)
            if j is not None and (j == 0 or cum[j - 1] < lo):
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
        t = x[i]
        if t.device.type != "cpu":
            t = t.cpu()
        r = t.detach().numpy() if t.dtype in (torch.float32,) else t.detach().float().numpy()
    if r.dtype != np.float32:
        r = r.astype(np.float32)
    return r
