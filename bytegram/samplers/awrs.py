"""Adaptive weighted rejection sampling (Lipkin et al., COLM 2025), exact and lazy.

Sampling. Gumbel-max as an exponential race: token ``i`` gets the key ``s_i - log E_i``
(``s`` the penalized, tempered logits, ``E_i`` standard exponential); the first *allowed*
token in decreasing key order is an exact draw from the masked distribution. Tokens are
visited in that order and checked with ``matcher.is_allowed`` until one passes, so the number
of checks depends on the forbidden mass near the top, not on the vocabulary size.

Laziness (no sort of the vocabulary, no noise for every token): one pass over the row gives
column maxima, hence a small candidate set near the top with exact weights and an envelope
that bounds every other token (the tail), sampled as a thinned Poisson process
(``awrs_row``); tokens are visited in the exact order of fresh keys over the whole vocabulary
(``awrs_order``).

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
``log Z``: ``MaskedSampler``'s own path, or with a truncation the same draw from the allowed
ids read off the mask (the same values in the same order, one categorical draw over the kept
ones, no masked copy of the row). The decision depends only on what happens before the
first allowed token arrives, which is independent of which allowed token it is (Poisson
marking), so the token stays an exact draw and the weight stays unbiased. If the weight
simulation itself needs more than ``max_rejections`` new checks (or ``max_draws`` draws),
the mask is computed, ``Z`` is known exactly, and the remaining draws are simulated as
geometric counts (success probability ``Z``), so ``N`` keeps its exact distribution.
(Returning ``Z`` itself at that point would bias the estimate upward: that stop is
correlated with a large ``N``.)

Truncations (top-k, top-p, min-p) act on the masked distribution exactly as in
``MaskedSampler``: candidates are scanned by decreasing value (checked one by one) until the
kept set is certain, then one token is drawn from it. The candidate order is certain down to
the tail bound; when the kept set reaches below it, or the scan passes its budget, the sampler
takes the masked path. Top-p without top-k computes the row's normalizer (one pass) to bound
the mass not yet scanned. Greedy visits by value (lowest id on ties); its weight is the
temperature-0 limit: the fraction of the unconstrained argmax ties that are allowed.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from itertools import accumulate as _accumulate
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InvalidArgument
from .base import NO_TOKEN, Sample, SamplingParams, check_matchers, make_rng, normalize_prev_ids
from .awrs_order import _Scan, _Stream
from .awrs_row import RowPreparation, _Row, uniforms
from .categorical import _lse, categorical, exact_log_z, truncated_index
from .masked import MaskedSampler
from .sums import MASS32_REL_ERR, sum32
from .transforms import _allowed_values, _as_2d, _host_numpy, _penalize_np
from .truncation import min_p_threshold, top_p_cutoff

__all__ = ["AdaptiveRejectionSampler"]

_NEG_INF = float("-inf")
_F32 = np.dtype(np.float32)


class AdaptiveRejectionSampler(RowPreparation):
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
    CPU; logits on another device are copied to the host. Logits with NaN or +inf raise
    ``InvalidArgument`` (found by the max pass).
    """

    # tuning knobs (class attributes, so that tests can force the lazy tail on small rows)
    _SCAN_BUDGET = 256  # most checks a truncation or greedy scan makes before falling back
    _TOP_P_BUDGET = 64  # most checks of a top-p scan without top-k
    _MAX_PROPOSALS = 4096  # tail points the visit stream may process before falling back
    _FIRST_DRAW = True  # start with one with-replacement draw (False: the Gumbel stream only)
    _FIRST_ATTEMPTS = 16  # thinned tail attempts of that draw before it gives way
    _BATCH_PASS = True  # sample_batch: one max pass over all rows (False: row by row)
    # with a truncation, fall back from the mask's allowed ids (False: MaskedSampler's path)
    _FAST_FALLBACK = True

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
        self._uniform = uniforms(self.rng).__next__  # (a buffered stream of rng.random())
        self.compute_weights = bool(compute_weights)
        self._masked = MaskedSampler(params=params, generator=self.rng,
                                     compute_weights=self.compute_weights)
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
            row = _host_numpy(x)[0]
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
        colmax = self._column_maxima(host) if batch > 1 and self._BATCH_PASS else None
        sample_row = self._sample_row
        return [sample_row(host[i], m, None if prev_ids is None else prev_ids[i],
                           None if colmax is None else colmax[i])
                for i, m in enumerate(matchers)]

    # -- one row ---------------------------------------------------------------------------

    def _sample_row(self, row: np.ndarray, matcher: Any, prev_ids: Any,
                    colmax: np.ndarray | None = None) -> Sample:
        if matcher.is_terminated():
            return Sample(NO_TOKEN, _NEG_INF, 0, False)
        pen = normalize_prev_ids(prev_ids, vocab_size=row.shape[0]) if self._penalized else None
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
                # starts afresh, which is exact whatever happened before (module docstring)
                j, tok = ctx.draw(self.rng, self._FIRST_ATTEMPTS)
                if tok >= 0:
                    ok = is_allowed(tok)
                    checks = 1
                    if j >= 0:
                        s_verdict[j] = ok
                        if not ok:
                            forbidden_pos.append(j)
                    else:
                        t_verdict[tok] = ok
                    if not ok:
                        tok = NO_TOKEN
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
        are computed). Without truncation, ``MaskedSampler``'s own path (mask a copy, draw
        without an exp over the row). With a truncation, a draw from the distribution
        ``MaskedSampler`` draws from, computed from the allowed ids of the mask without
        masking a copy of the row (for a sparse mask the same draw: the same allowed values
        in the same order, one categorical over the kept ones), and ``MaskedSampler``'s
        weight (``_masses``; in log space when the allowed mass is tiny, as there)."""
        p = self.params
        if p.greedy or not p.truncates or not self._FAST_FALLBACK:
            return self._fallback_reference(row, matcher, pen, checks)
        bm = self._masked._fill([matcher], 1, row.shape[0])
        ids, vals = _allowed_values(row, bm[0], pen, p.repetition_penalty, self._inv)
        if len(ids) == 0:
            return Sample(NO_TOKEN, _NEG_INF, checks, True)
        lw = math.nan
        if self.compute_weights:
            # (the row as it is when neither transform applies: no copy)
            work = row if pen is None and not self._scaled else \
                self._masked._prepare(row[None], None if pen is None else [pen])[0]
            masked = self._masked
            total, allowed = masked._masses(work, bm[0], masked._scratch(len(work)))[:2]
            lw = (math.log(allowed) - math.log(total) if allowed >= masked._TINY_MASS
                  else _lse(vals, float(vals.max())) - _lse(work, float(work.max())))
        return Sample(int(ids[truncated_index(vals, p, self.rng)]), lw, checks, True)

    def _fallback_reference(self, row: np.ndarray, matcher: Any, pen: Any,
                            checks: int) -> Sample:
        """``MaskedSampler``'s own path on this row (``sample_batch``: mask, sample), with the
        exact weight when weights are computed."""
        s = self._masked.sample_batch(row[None], [matcher],
                                      prev_ids=None if pen is None else [pen])[0]
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
        s32 = ctx.s_f32
        if p.top_k is not None and p.top_k > len(s32) and ctx.n_tail:
            # fewer candidates than k: the scan would reach the tail, which it cannot order
            return self._fallback(row, matcher, pen, 0)
        sc = _Scan(ctx, self._value_order(ctx), matcher.is_allowed, s_verdict,
                   self._SCAN_BUDGET)
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
        slack = MASS32_REL_ERR * total  # (rem bounds the unscanned mass from above)
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
                rem = max(total - scanned, 0.0) + slack
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
        """Total mass sum(exp(s - M)) of the row (one pass), within ``MASS32_REL_ERR``:
        float32 differences and exponentials, summed by ``sums.sum32`` (float64 exponentials
        cost ~190 us per 128k values here, float32 ~70 us; a float64 sum ~40 us, ``sum32``
        ~17 us). Without a penalty or temperature the row is read as it is (no product)."""
        mx = np.float32(ctx.M)
        if pen is None and not self._scaled:
            s = np.subtract(row, mx, dtype=np.float32)
        else:
            s = np.multiply(row, ctx.inv, dtype=np.float32)
            if pen is not None:
                s[pen] = _penalize_np(row[pen], self.params.repetition_penalty) * ctx.inv
            s -= mx
        np.exp(s, out=s)
        return sum32(s)


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
