"""The rejection sampler's fast paths against its reference paths, and both against the
reference distribution.

- First draw: one with-replacement attempt before the Gumbel visit stream
  (``_FIRST_DRAW``); off, the sampler visits by Gumbel keys only (the reference path).
- Envelope: one rate for every tail token (``glob_rate``) or one per column (forced with
  ``_GLOBAL_GAIN``), on the lazy tail forced onto the byte vocabulary.
- Fallback with a truncation: the allowed ids read off the mask (``_FAST_FALLBACK``) draw the
  same token with the same weight as ``MaskedSampler``'s own path, at the same seed (without
  a truncation both fallbacks are that path).
- Batch: one max pass over all rows (``_BATCH_PASS``) gives the same samples as row by row.

Chi-square tests as in test_samplers.py (fixed seeds, p-value threshold 1e-4), plus a
two-sample chi-square between the fast and the reference path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import bytegram
from bytegram import Grammar, Vocabulary
from bytegram.samplers import AdaptiveRejectionSampler, SamplingParams
from test_samplers import (PREV, byte_case, chi2_pvalue, counts_of, draw, exact_log_z,
                           force_tail, reference_distribution, stream_order_pvalue)
from test_samplers_weights import _estimates, assert_unbiased


def two_sample_pvalue(a: np.ndarray, b: np.ndarray, *, min_expected: float = 5.0) -> float:
    """Chi-square test that two count vectors come from the same distribution (cells with a
    small expected count pooled)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = a.sum(), b.sum()
    tot = a + b
    ea, eb = tot * na / (na + nb), tot * nb / (na + nb)
    big = (ea >= min_expected) & (eb >= min_expected)
    cells = [(a[big], ea[big]), (b[big], eb[big])]
    if (~big).any() and tot[~big].sum() > 0:
        cells.append((np.array([a[~big].sum()]), np.array([ea[~big].sum()])))
        cells.append((np.array([b[~big].sum()]), np.array([eb[~big].sum()])))
    stat = float(sum(np.sum((o - e) ** 2 / e) for o, e in cells))
    df = int(big.sum()) + (1 if (~big).any() and tot[~big].sum() > 0 else 0) - 1
    if df <= 0:
        return 1.0
    return float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64),
                                         torch.tensor(stat / 2, dtype=torch.float64)))


def envelope(sampler: AdaptiveRejectionSampler, mode: str) -> AdaptiveRejectionSampler:
    """Force the lazy tail onto the byte vocabulary, with one envelope rate for the whole row
    ("global") or one per column ("column")."""
    force_tail(sampler, max_cols=2, deltas=(4.0, 2.0, 0.0))
    sampler._GLOBAL_GAIN = math.inf if mode == "global" else 0.0
    return sampler


SETTINGS = [dict(), dict(temperature=0.6), dict(repetition_penalty=1.5), dict(top_k=4),
            dict(temperature=1.4, top_p=0.8), dict(min_p=0.1)]
MODES = ["direct", "global", "column"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("setting", range(len(SETTINGS)))
def test_first_draw_matches_stream_only(mode, setting):
    kw = SETTINGS[setting]
    logits, m, allowed = byte_case(300 + setting, r"[a-z]+( [a-z]+)?", b"ab", scale=2.5,
                                   target_z=0.5)
    prev = PREV if "repetition_penalty" in kw else None
    ref = reference_distribution(logits.numpy(), allowed, SamplingParams(**kw), prev)
    counts = []
    for first in (True, False):
        aw = AdaptiveRejectionSampler(seed=11 * setting + first, **kw)
        if mode != "direct":
            envelope(aw, mode)
            pen = None if prev is None else np.unique(np.asarray(prev, dtype=np.int64))
            ctx = aw._prepare(logits.numpy(), pen)
            assert ctx.n_tail > 100 and ctx.env > 0
            assert (ctx.glob_rate is not None) == (mode == "global")
        aw._FIRST_DRAW = first
        samples = draw(aw, logits, m, 2000, prev)
        c = counts_of(samples, len(ref))
        assert chi2_pvalue(c, ref) > 1e-4, (first, mode, kw)
        counts.append(c)
    assert two_sample_pvalue(*counts) > 1e-4


@pytest.mark.parametrize("mode", ["global", "column"])
def test_stream_order_is_plackett_luce_per_envelope(mode):
    """First two tokens visited by the lazy stream, both envelope kinds, against exact
    P(i first, j second) = p_i p_j / (1 - p_i)."""
    rng = np.random.default_rng(12)
    x = (rng.standard_normal(40) * 1.2).astype(np.float32)
    aw = force_tail(AdaptiveRejectionSampler(seed=6), columns=8, max_cols=1, deltas=(0.5, 0.0))
    aw._GLOBAL_GAIN = math.inf if mode == "global" else 0.0
    ctx = aw._prepare(x, None)
    assert ctx.env > 0 and (ctx.glob_rate is not None) == (mode == "global")
    assert stream_order_pvalue(aw, x) > 1e-4


@pytest.mark.parametrize("mode", ["global", "column"])
def test_estimator_unbiased_per_envelope(mode):
    logits, m, allowed = byte_case(17, r"[a-z]+( [a-z]+)?", b"ab", scale=2.5, target_z=0.3)
    z = math.exp(exact_log_z(logits.numpy(), allowed, SamplingParams()))
    aw = envelope(AdaptiveRejectionSampler(seed=8, max_rejections=64), mode)
    w, _ = _estimates(aw, logits, m, 4000)
    assert_unbiased(w, z)


@pytest.mark.parametrize("kw", [dict(), dict(temperature=0.7), dict(repetition_penalty=1.3),
                                dict(top_k=3), dict(top_p=0.6), dict(min_p=0.3),
                                dict(top_k=5, top_p=0.9, temperature=1.5)])
def test_fast_fallback_is_the_masked_path(kw):
    """Same seed, same row: the same token and the same exact weight as MaskedSampler's
    path, on a byte vocabulary's masks (few words: both gather the allowed values), one
    allowing most tokens, and on logits wider than the vocabulary."""
    prev = PREV if "repetition_penalty" in kw else None
    pen = None if prev is None else np.unique(np.asarray(prev, dtype=np.int64))
    for seed, (pattern, prefix) in enumerate([(r"[0-9]+", b""), (r"[^x]+", b"a"),
                                              (r"(cat|dog)s?", b"ca")]):
        logits, m, _ = byte_case(400 + seed, pattern, prefix)
        for row in (logits.numpy(), np.concatenate([logits.numpy(), np.full(40, 3.0,
                                                                           np.float32)])):
            a = AdaptiveRejectionSampler(seed=seed, **kw)
            b = AdaptiveRejectionSampler(seed=seed, **kw)
            for _ in range(30):
                s = a._fallback(row, m, pen, 0)
                r = b._fallback_reference(row, m, pen, 0)
                assert s.token_id == r.token_id and s.fell_back
                assert s.log_weight == pytest.approx(r.log_weight, abs=1e-12)


def test_fallback_without_weights_is_nan():
    logits, m, allowed = byte_case(5, r"[0-9]+", b"")
    aw = AdaptiveRejectionSampler(seed=1, max_rejections=1, compute_weights=False)
    samples = draw(aw, logits, m, 200)
    fb = [s for s in samples if s.fell_back]
    assert fb and all(s.token_id in allowed and math.isnan(s.log_weight) for s in fb)


@pytest.mark.parametrize("kw", [dict(), dict(top_k=3), dict(temperature=0),
                                dict(repetition_penalty=1.4)])
def test_batch_pass_gives_the_same_samples(kw):
    """The column maxima of all rows in one call, or row by row: identical samples."""
    rows, matchers = [], []
    for i, (pattern, prefix) in enumerate([(r"[a-z]+", b"ab"), (r"[0-9]{2,4}", b"1"),
                                           (r"(cat|car|dog)+", b"ca"), (r"[^q]+", b"")]):
        logits, m, _ = byte_case(500 + i, pattern, prefix, scale=2.5)
        rows.append(logits)
        matchers.append(m)
    batch = torch.stack(rows)
    prev = [PREV, [], [1, 2], None] if "repetition_penalty" in kw else None
    out = []
    for batch_pass in (True, False):
        aw = force_tail(AdaptiveRejectionSampler(seed=9, **kw), max_cols=2,
                        deltas=(4.0, 2.0, 0.0))
        aw._BATCH_PASS = batch_pass
        out.append([aw.sample_batch(batch, matchers, prev_ids=prev) for _ in range(40)])
    assert out[0] == out[1]


def test_large_vocabulary_paths():
    """A 20,000-token vocabulary (the real column layout, no forcing): a peaked row is
    sampled without fallback and matches the reference; a flat row draws allowed tokens."""
    toks = [bytes([b]) for b in range(256)] + [f"w{i}".encode() for i in range(19_743)] + [b""]
    vocab = Vocabulary.from_bytes_list(toks, eos_ids=[len(toks) - 1])
    compiled = bytegram.compile(Grammar.from_regex(r"[a-m]+|w1[0-9]*"), vocab)
    m = compiled.matcher()
    allowed = m.allowed_ids()
    rng = np.random.default_rng(4)
    peaked = (rng.standard_normal(vocab.size) * 2.0).astype(np.float32)
    peaked[[ord("c"), ord("x")]] = peaked.max() + 6  # one allowed, one forbidden
    flat = (rng.standard_normal(vocab.size) * 0.2).astype(np.float32)
    aw = AdaptiveRejectionSampler(seed=2)
    samples = [aw.sample(torch.from_numpy(flat), m) for _ in range(300)]
    assert all(s.token_id in set(allowed.tolist()) for s in samples)
    samples = [aw.sample(torch.from_numpy(peaked), m) for _ in range(2000)]
    assert not any(s.fell_back for s in samples)
    ref = reference_distribution(peaked, allowed, SamplingParams())
    assert chi2_pvalue(counts_of(samples, vocab.size), ref) > 1e-4


# ---------------------------------------------------------------------------------------
# the per-column envelope: its bounds, and points placed one at a time (by block and slot)
# or in vectorized blocks (by a running sum over every slot) against the exact process

# (width, columns, temperature, logit scale, logit offset): a remainder slot and blocks of 2
# slots; a remainder and a partial last block (100 columns = 8 blocks of 12 + 4); large
# logits (the margin of the float32 rates under exp(M)); blocks of one slot
ENVELOPE_ROWS = [(257, 16, 1.0, 2.0, 0.0), (1009, 100, 0.7, 2.5, 0.0),
                 (2011, 64, 1.0, 1.5, 900.0), (40, 8, 1.3, 1.0, -50.0)]


def column_envelope(width: int, columns: int, temperature: float, scale: float,
                    offset: float, seed: int):
    """(sampler, row, prepared row) with the per-column envelope forced on a random row."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(width) * scale + offset).astype(np.float32)
    aw = force_tail(AdaptiveRejectionSampler(seed=seed, temperature=temperature),
                    columns=columns, max_cols=2, deltas=(1.0, 0.0))
    aw._GLOBAL_GAIN = 0.0
    ctx = aw._prepare(x, None)
    assert ctx.glob_rate is None and ctx.n_tail > width // 2
    return aw, x, ctx


def tail_weights(ctx, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tail ids, their exact weights exp(s - M), their envelope slots)."""
    s = (x * ctx.inv).astype(np.float32).astype(np.float64)
    ids = np.flatnonzero(x < ctx.tau_raw)
    lay = ctx.lay
    slot = np.where(ids < lay.rows * lay.cols, ids % lay.cols, lay.cols)
    return ids, np.exp(s[ids] - ctx.M), slot


@pytest.mark.parametrize("config", range(len(ENVELOPE_ROWS)))
def test_column_envelope_bounds(config):
    """Every tail token's weight is at most its slot's float32 rate; the slot weights sum to
    at most ``env`` (and not much less); each block's bound covers its slots' exact weight,
    and the blocks' total is at most ``env``."""
    for seed in range(25):
        aw, x, ctx = column_envelope(*ENVELOPE_ROWS[config], seed=seed)
        ids, w, slot = tail_weights(ctx, x)
        rate = ctx.env_rate.astype(np.float64)
        assert (w <= rate[slot]).all()
        lay = ctx.lay
        slot_w = rate * lay.rows
        if lay.n_rem:
            slot_w[-1] = rate[-1] * lay.n_rem
        assert slot_w.sum() <= ctx.env <= slot_w.sum() * (1 + 1e-3)
        blocks = np.diff(ctx._blocks(), prepend=0.0)
        main_w = slot_w[: lay.cols]
        exact = [main_w[b: b + lay.blk].sum() for b in range(0, lay.cols, lay.blk)]
        if lay.n_rem:
            exact.append(slot_w[-1])
        assert len(blocks) == len(exact)
        assert (blocks >= np.array(exact) * (1 - 1e-12)).all()
        assert ctx._blocks()[-1] <= ctx.env
        for b in range(len(exact) - (1 if lay.n_rem else 0)):
            slots = ctx._block_cum(b)  # that block's slots only
            assert len(slots) == len(range(b * lay.blk, min((b + 1) * lay.blk, lay.cols)))
            assert slots[-1] * lay.rows == pytest.approx(exact[b], rel=1e-12)


class _ScriptedRng:
    """Stands in for the sampler's generator: ``random()`` returns the scripted values in
    turn (a point's slot, its row: 0.0 is the first row of the layout, its thinning); with
    ``size``, one scripted array."""

    def __init__(self, values):
        self.values = list(values)

    def random(self, size=None):
        return self.values.pop(0)



@pytest.mark.parametrize("config", range(len(ENVELOPE_ROWS)))
def test_single_point_placement_by_block_and_slot(config):
    """``propose_one`` with scripted randomness: a point in the middle of a slot's interval
    lands in that slot (kept when it is a tail token and the thinning draw is 0); a point in
    a block's slack past its slots, or past the blocks' total, is no token."""
    aw, x, ctx = column_envelope(*ENVELOPE_ROWS[config], seed=7)
    lay = ctx.lay
    blocks = ctx._blocks()
    n_main = len(blocks) - (1 if lay.n_rem else 0)
    for b in range(len(blocks)):
        start = blocks[b - 1] if b else 0.0
        if b >= n_main:  # the remainder slot: its first token
            want = lay.rows * lay.cols
            u = start + 0.5 * (blocks[b] - start)
            got = ctx.propose_one(_ScriptedRng([u / ctx.env, 0.0, 0.0]).random)
            assert got == (want if x[want] < ctx.tau_raw else -1)
            continue
        slots = ctx._block_cum(b)
        prev = 0.0
        for j, edge in enumerate(slots):
            c = b * lay.blk + j
            u = start + 0.5 * (prev + edge) * lay.rows
            prev = edge
            got = ctx.propose_one(_ScriptedRng([u / ctx.env, 0.0, 0.0]).random)
            assert got == (c if x[c] < ctx.tau_raw else -1), (b, j)
        slack = blocks[b] - start - slots[-1] * lay.rows
        assert slack > 0
        u = blocks[b] - 0.25 * slack
        assert ctx.propose_one(_ScriptedRng([u / ctx.env, 0.0, 0.0]).random) == -1
    if ctx.env > blocks[-1]:
        u = 0.5 * (blocks[-1] + ctx.env)
        assert ctx.propose_one(_ScriptedRng([u / ctx.env, 0.0, 0.0]).random) == -1
    # vectorized: the middle of every slot's interval in the running sum, then past it
    cum = ctx._env_cum()
    mids = np.append(0.5 * (cum + np.concatenate([[0.0], cum[:-1]])), 0.5 * (cum[-1] + ctx.env))
    assert cum[-1] < ctx.env
    k = len(mids)
    ids, keep = ctx.propose_many(_ScriptedRng(  # slots, rows, the remainder's tokens, thinning
        [mids / ctx.env, np.zeros(k)] + ([np.zeros(1)] if lay.n_rem else []) + [np.zeros(k)]), k)
    want = np.append(np.arange(lay.cols + (1 if lay.n_rem else 0)), -1)
    if lay.n_rem:
        want[lay.cols] = lay.rows * lay.cols
    tail = np.zeros(k, dtype=bool)
    tail[:-1] = x[want[:-1]] < ctx.tau_raw
    assert np.array_equal(ids, np.where(tail, want, -1)) and np.array_equal(keep, tail)


@pytest.mark.parametrize("config", range(len(ENVELOPE_ROWS)))
def test_tail_points_follow_the_envelope(config):
    """A point of the tail process keeps tail token ``i`` with probability
    ``exp(s_i - M) / env`` exactly: points placed one at a time (``propose_one``: by block,
    then slot) and in vectorized blocks (``propose_many``), chi-square over the tail tokens
    plus the 'no token' outcome."""
    width = ENVELOPE_ROWS[config][0]
    aw, x, ctx = column_envelope(*ENVELOPE_ROWS[config], seed=100 + config)
    ids, w, _ = tail_weights(ctx, x)
    probs = np.zeros(width + 1)
    probs[ids] = w / ctx.env
    probs[width] = 1.0 - probs[:width].sum()
    n = 60_000
    one = np.array([ctx.propose_one(aw.rng.random) for _ in range(n)])
    many = np.concatenate([np.where(keep, got, -1)
                           for got, keep in (ctx.propose_many(aw.rng, 4000)
                                             for _ in range(n // 4000))])
    for got in (one, many):
        counts = np.bincount(np.where(got >= 0, got, width), minlength=width + 1)
        assert chi2_pvalue(counts, probs) > 1e-4
