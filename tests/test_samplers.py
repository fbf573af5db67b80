"""Samplers draw from the exact masked distribution, for every transform setting.

The reference distribution here is computed independently of the samplers' code: numpy,
float64, from the matcher's allowed ids, with the transform semantics spelled out (float32
penalty and temperature products, ties kept at every truncation boundary). Each test draws a
few thousand tokens with a fixed seed and runs a chi-square goodness-of-fit test against the
reference; the p-value threshold is 1e-4, and a sample on a zero-probability token fails at
once. The rejection sampler is also run with its lazy tail forced on the small vocabularies
(candidate columns of 16 tokens, tiny windows), which exercises the thinned Poisson envelope.
Helpers here are imported by the other test_samplers_* files.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import bytegram
from bytegram import Grammar, Vocabulary
from bytegram.errors import InvalidArgument
from bytegram.samplers import (NO_TOKEN, AdaptiveRejectionSampler, MaskedSampler, Sample,
                               SamplingParams)
from bytegram.samplers.awrs_order import _Stream

# ---------------------------------------------------------------------------------------
# helpers


def chi2_pvalue(counts: np.ndarray, probs: np.ndarray, *, min_expected: float = 5.0) -> float:
    """Pearson chi-square goodness-of-fit p-value; cells with a small expected count are
    pooled into one. Uses the regularized upper incomplete gamma (scipy is not needed)."""
    counts = np.asarray(counts, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    n = counts.sum()
    assert not np.any((probs == 0) & (counts > 0)), "sampled a token of probability 0"
    exp = probs * n
    big = exp >= min_expected
    obs_cells = list(counts[big])
    exp_cells = list(exp[big])
    if (~big).any() and exp[~big].sum() > 0:
        obs_cells.append(counts[~big].sum())
        exp_cells.append(exp[~big].sum())
    obs_cells = np.array(obs_cells)
    exp_cells = np.array(exp_cells)
    df = len(obs_cells) - 1
    if df <= 0:
        return 1.0
    stat = float(np.sum((obs_cells - exp_cells) ** 2 / exp_cells))
    return float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64),
                                         torch.tensor(stat / 2, dtype=torch.float64)))


def reference_distribution(logits: np.ndarray, allowed: np.ndarray, params: SamplingParams,
                           prev_ids=None) -> np.ndarray:
    """The masked distribution, computed the slow and obvious way (float64 numpy)."""
    x = np.asarray(logits, dtype=np.float32).copy()
    v = len(x)
    if params.repetition_penalty is not None and prev_ids is not None:
        r = np.float32(params.repetition_penalty)
        for t in set(int(i) for i in prev_ids):
            if 0 <= t < v:
                x[t] = x[t] * r if x[t] < 0 else x[t] * np.float32(1.0 / params.repetition_penalty)
    if not params.greedy:
        x = (x * np.float32(1.0 / params.temperature)).astype(np.float32)
    ok = np.zeros(v, dtype=bool)
    ok[allowed[allowed < v]] = True
    ok &= np.isfinite(x)
    out = np.zeros(v)
    if not ok.any():
        return out
    ids = np.flatnonzero(ok)
    vals = x[ids].astype(np.float64)
    if params.greedy:
        best = ids[vals == vals.max()].min()
        out[best] = 1.0
        return out
    keep = np.ones(len(ids), dtype=bool)
    if params.top_k is not None and params.top_k < len(ids):
        kth = np.sort(vals)[::-1][params.top_k - 1]
        keep &= vals >= kth
    if params.top_p is not None:
        kv = np.sort(vals[keep])[::-1]
        e = np.exp(kv - kv[0])
        c = np.cumsum(e) / e.sum()
        j = min(int(np.argmax(c >= params.top_p)) if (c >= params.top_p).any() else len(kv) - 1,
                len(kv) - 1)
        keep &= vals >= kv[j]
    if params.min_p is not None:
        mx = vals[keep].max()
        keep &= vals >= mx + math.log(params.min_p)
    kv = vals[keep]
    e = np.exp(kv - kv.max())
    out[ids[keep]] = e / e.sum()
    return out


def exact_log_z(logits: np.ndarray, allowed: np.ndarray, params: SamplingParams,
                prev_ids=None) -> float:
    """log of the allowed mass of softmax(penalized, tempered logits)."""
    x = np.asarray(logits, dtype=np.float32).copy()
    if params.repetition_penalty is not None and prev_ids is not None:
        r = np.float32(params.repetition_penalty)
        for t in set(int(i) for i in prev_ids):
            x[t] = x[t] * r if x[t] < 0 else x[t] * np.float32(1.0 / params.repetition_penalty)
    x = x.astype(np.float64) / (params.temperature or 1.0)
    e = np.exp(x - x.max())
    a = e[allowed[allowed < len(x)]].sum()
    return math.log(a / e.sum()) if a > 0 else -math.inf


def force_tail(sampler: AdaptiveRejectionSampler, *, columns: int = 16, max_cols: int = 2,
               deltas=(3.0, 1.0, 0.0)) -> AdaptiveRejectionSampler:
    """Make the lazy candidate/tail machinery run on a small vocabulary."""
    sampler._DIRECT_MAX_V = 0
    sampler._COLUMNS = columns
    sampler._MAX_COLS = max_cols
    sampler._DELTAS = deltas
    return sampler


def draw(sampler, logits, matcher, n: int, prev_ids=None) -> list[Sample]:
    t = torch.as_tensor(logits)
    return [sampler.sample(t, matcher, prev_ids=prev_ids) for _ in range(n)]


def counts_of(samples: list[Sample], v: int) -> np.ndarray:
    ids = [s.token_id for s in samples]
    assert NO_TOKEN not in ids
    return np.bincount(ids, minlength=v)


BYTES = Vocabulary.byte_level(eos_id=256)


def byte_case(seed: int, pattern: str, prefix: bytes, *, scale: float = 2.0,
              boost_forbidden: float = 2.5, ties: bool = False, target_z: float = 0.4):
    """(logits, matcher, allowed ids) on the 257-token byte vocabulary. Some forbidden tokens
    are pushed to the top so that the rejection sampler rejects; the allowed tokens are then
    shifted so that their mass is about ``target_z``."""
    compiled = bytegram.compile(Grammar.from_regex(pattern), BYTES)
    m = compiled.matcher()
    assert m.accept_bytes(prefix)
    allowed = m.allowed_ids()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(BYTES.size) * scale
    forb = np.setdiff1d(np.arange(BYTES.size), allowed)
    x[rng.choice(forb, 3, replace=False)] += boost_forbidden + scale
    x[rng.choice(allowed, min(3, len(allowed)), replace=False)] += scale
    a = np.exp(x[allowed]).sum()
    f = np.exp(x[forb]).sum()
    x[allowed] += math.log(target_z / (1 - target_z) * f / a)
    if ties:
        x = np.round(x * 2) / 2
    return torch.tensor(x, dtype=torch.float32), m, allowed


SETTINGS = [
    dict(),
    dict(temperature=0.6),
    dict(temperature=1.7),
    dict(top_k=3),
    dict(top_k=1),
    dict(top_p=0.7),
    dict(top_p=0.95, temperature=0.8),
    dict(min_p=0.2),
    dict(top_k=5, top_p=0.8, min_p=0.05),
    dict(repetition_penalty=1.5),
    dict(top_p=0.9, repetition_penalty=1.3),
]
PREV = [ord("1"), ord("2"), ord("a"), ord("-"), 7]

CASES = {
    "digits": (r"[0-9]{2,4}(-[0-9]{2})?", b"1"),
    "words": (r"(cat|car|cart|dog)( (cat|car|dog))*", b"ca"),
    "accepting": (r"[a-c]+", b"ab"),  # EOS allowed here
}


# ---------------------------------------------------------------------------------------
# chi-square: both samplers against the reference, every setting


@pytest.mark.parametrize("case,setting",
                         [(c, i) for i in range(len(SETTINGS))
                          for c in (sorted(CASES) if i in (0, 3, 5) else
                                    ["words", "accepting"] if i % 2 else ["digits", "words"])])
def test_awrs_matches_reference(case, setting):
    kw = SETTINGS[setting]
    pattern, prefix = CASES[case]
    logits, m, allowed = byte_case(setting * 7 + len(case), pattern, prefix)
    prev = PREV if "repetition_penalty" in kw else None
    params = SamplingParams(**kw)
    ref = reference_distribution(logits.numpy(), allowed, params, prev)
    n = 1500
    aw = AdaptiveRejectionSampler(seed=200 + setting, **kw)
    samples = draw(aw, logits, m, n, prev)
    assert chi2_pvalue(counts_of(samples, len(ref)), ref) > 1e-4
    assert all(m.is_allowed(s.token_id) for s in samples[:50])


@pytest.mark.parametrize("setting", range(len(SETTINGS)))
def test_awrs_lazy_tail_matches_reference(setting):
    """The candidate set + thinned tail envelope path, forced on 257 tokens (16 columns of 16
    and a remainder of 1), must give the same distribution."""
    kw = SETTINGS[setting]
    logits, m, allowed = byte_case(1000 + setting, r"[a-z]+( [a-z]+)?", b"ab", scale=2.5)
    prev = PREV if "repetition_penalty" in kw else None
    params = SamplingParams(**kw)
    ref = reference_distribution(logits.numpy(), allowed, params, prev)
    aw = force_tail(AdaptiveRejectionSampler(seed=7 + setting, **kw),
                    max_cols=1 + setting % 6, deltas=(6.0, 3.0, 1.0, 0.0))
    samples = draw(aw, logits, m, 1500, prev)
    assert chi2_pvalue(counts_of(samples, len(ref)), ref) > 1e-4


@pytest.mark.parametrize("kw", [dict(top_k=3), dict(min_p=0.2), dict(top_p=0.6),
                                dict(top_k=6, top_p=0.9), dict(temperature=0)])
def test_awrs_truncation_scan_with_tail(kw):
    """A clear top group of candidates above the tail bound: the truncation scans certify
    their kept sets (no fallback for most draws) and still match the reference."""
    compiled = bytegram.compile(Grammar.from_regex(r"[a-m]+"), BYTES)
    m = compiled.matcher()
    allowed = m.allowed_ids()
    rng = np.random.default_rng(21)
    x = rng.standard_normal(BYTES.size)
    x[allowed[:8]] += 6 + rng.random(8)
    x[[ord("z"), ord("0")]] += 6.5  # forbidden tokens at the top
    logits = torch.tensor(x, dtype=torch.float32)
    ref = reference_distribution(x.astype(np.float32), allowed, SamplingParams(**kw))
    aw = force_tail(AdaptiveRejectionSampler(seed=3, **kw), max_cols=12,
                    deltas=(4.0, 2.0, 0.0))
    ctx = aw._prepare(x.astype(np.float32), None)
    assert ctx.n_tail > 200
    samples = draw(aw, logits, m, 1000 if kw.get("temperature") == 0 else 3000)
    assert np.mean([s.fell_back for s in samples]) < 0.5
    assert chi2_pvalue(counts_of(samples, len(ref)), ref) > 1e-4


@pytest.mark.parametrize("setting", [0, 1, 3, 5, 7, 9, 10])
@pytest.mark.parametrize("dense", [False, True])
def test_masked_matches_reference(setting, dense):
    """With the exact weight; ``dense``: the mask applied to the exponentials by
    ``zero_forbidden`` (every byte-vocabulary mask is sparse otherwise)."""
    kw = SETTINGS[setting]
    logits, m, allowed = byte_case(50 + setting, r"(cat|car|cart|dog)( (cat|car|dog))*", b"ca")
    # (the penalized ids include allowed ones: "t" and "r" may follow "ca")
    prev = PREV + [ord("t"), ord("r")] if "repetition_penalty" in kw else None
    ref = reference_distribution(logits.numpy(), allowed, SamplingParams(**kw), prev)
    ms = MaskedSampler(seed=setting, **kw)
    if dense:
        ms._SPARSE_WORDS = -1
    samples = draw(ms, logits, m, 3000, prev)
    assert chi2_pvalue(counts_of(samples, len(ref)), ref) > 1e-4
    lz = exact_log_z(logits.numpy(), allowed, SamplingParams(**kw), prev)
    assert samples[0].log_weight == pytest.approx(lz, abs=1e-5)
    assert not samples[0].fell_back and samples[0].n_checks == 0


@pytest.mark.parametrize("setting,mode", [
    (setting, mode) for setting in [0, 1, 2, 3, 5, 7, 8, 9, 10]
    for mode in ["sparse", "raw", "raw_tail", "raw_give_way", "direct", "lazy_tail", "give_way"]
    # (draw_allowed serves the settings without a truncation)
    if not mode.startswith("raw") or not SamplingParams(**SETTINGS[setting]).truncates])
def test_masked_without_weights_matches_reference(setting, mode):
    """The weightless path: a categorical over the ids read off a sparse mask; without a
    truncation, draws from the raw row checked against the mask (``draw_allowed``: direct,
    with the lazy tail forced, and giving way after one forbidden draw or one empty
    attempt, which must not bias the draw); then (``draw_allowed`` skipped) the masked copy
    drawn by LazyCategorical: direct (the whole row is one candidate set), with the lazy
    tail forced, and giving way to the categorical after one attempt. With a truncation,
    the kept values of the gathered or masked row."""
    kw = SETTINGS[setting]
    # (target_z=0.3: about two draws in three from the raw row are forbidden)
    logits, m, allowed = byte_case(70 + setting, r"(cat|car|cart|dog)( (cat|car|dog))*", b"ca",
                                   target_z=0.3)
    # (the penalized ids include allowed ones: "t" and "r" may follow "ca")
    prev = PREV + [ord("t"), ord("r")] if "repetition_penalty" in kw else None
    ref = reference_distribution(logits.numpy(), allowed, SamplingParams(**kw), prev)
    ms = MaskedSampler(seed=setting, compute_weights=False, **kw)
    if mode != "sparse":
        ms._SPARSE_WORDS = -1  # (every mask of the byte vocabulary is sparse)
    if mode in ("raw_tail", "raw_give_way"):
        force_tail(ms._lazy_raw, columns=8, max_cols=1, deltas=(2.0, 0.0))
    if mode == "raw_give_way":
        ms._lazy_raw.MAX_REJECTIONS = 0
        ms._lazy_raw.MAX_ATTEMPTS = 1
    if mode in ("direct", "lazy_tail", "give_way"):
        ms._lazy_raw.MAX_REJECTIONS = -1  # (draw_allowed gives way before its first draw)
    if mode in ("lazy_tail", "give_way"):
        force_tail(ms._lazy, columns=8, max_cols=1, deltas=(2.0, 0.0))
    if mode == "give_way":
        ms._lazy.MAX_ATTEMPTS = 1
    samples = draw(ms, logits, m, 3000, prev)
    assert chi2_pvalue(counts_of(samples, len(ref)), ref) > 1e-4
    assert all(math.isnan(s.log_weight) and not s.fell_back for s in samples[:10])


def test_lazy_categorical_matches_softmax():
    """LazyCategorical alone on rows with -inf entries (never drawn), a flat row and a
    peaked one, with its tail forced; an all -inf row gives -1."""
    from bytegram.samplers.awrs_row import LazyCategorical

    rng = np.random.default_rng(3)
    cases = [(0.5, 0.3, 0.0), (3.0, 0.6, 0.0), (1.0, 0.0, math.inf), (2.0, 0.5, math.inf)]
    for scale, frac_inf, gain in cases:  # (gain: the envelope per column, or one rate)
        x = (rng.standard_normal(300) * scale).astype(np.float32)
        x[rng.random(300) < frac_inf] = -np.inf
        p = np.exp(x.astype(np.float64) - x.max())
        p /= p.sum()
        lazy = force_tail(LazyCategorical(np.random.default_rng(5)), columns=10, max_cols=2,
                          deltas=(1.0, 0.0))
        lazy._GLOBAL_GAIN = gain
        ids = [lazy.draw(x) for _ in range(6000)]
        assert min(ids) >= 0
        assert chi2_pvalue(np.bincount(ids, minlength=300), p) > 1e-4
    assert LazyCategorical(np.random.default_rng(0)).draw(
        np.full(5000, -np.inf, dtype=np.float32)) == -1


@pytest.mark.parametrize("peaked", [False, True])
@pytest.mark.parametrize("gain", [0.0, math.inf])
def test_lazy_categorical_draw_allowed_matches_masked_softmax(peaked, gain):
    """draw_allowed on a raw row against softmax over the allowed ids of a random mask
    (-inf entries too), the lazy tail forced: tail points one by one (the candidates
    outweigh the tail: ``peaked``, a few tokens far above the rest, allowed and forbidden)
    or in blocks, per-column or one rate; every drawn token is checked."""
    from bytegram.masks.bitmask import pack_ids
    from bytegram.samplers.awrs_row import LazyCategorical

    rng = np.random.default_rng(11 + 2 * peaked + (gain > 0))
    v = 300
    x = (rng.standard_normal(v) * (0.3 if peaked else 2.0)).astype(np.float32)
    x[rng.random(v) < 0.1] = -np.inf
    allowed = rng.random(v) < 0.5
    if peaked:  # two allowed and two forbidden tokens on top, in one column of the layout
        col = np.arange(v) % 10 == 0
        top = np.concatenate([np.flatnonzero(allowed & col)[:2],
                              np.flatnonzero(~allowed & col)[:2]])
        x[top] = 6.0
    words = pack_ids(np.flatnonzero(allowed), (v + 31) // 32)
    p = np.where(allowed, np.exp(x.astype(np.float64) - x.max()), 0.0)
    p /= p.sum()
    lazy = force_tail(LazyCategorical(np.random.default_rng(7)), columns=10, max_cols=2,
                      deltas=(5.0, 0.0))
    lazy._GLOBAL_GAIN = gain
    lazy.MAX_REJECTIONS = 10_000  # (no giving way: every draw comes from draw_allowed)
    ctx = lazy._prepare(x, None)
    assert (ctx.env <= ctx.masses()[-1]) == peaked  # (which tail path is exercised)
    ids = [lazy.draw_allowed(x, words) for _ in range(6000)]
    assert min(ids) >= 0
    assert chi2_pvalue(np.bincount(ids, minlength=v), p) > 1e-4


@pytest.mark.parametrize("direct,rows", [(4096, 64), (16, 8), (16, 7)])
def test_categorical_matches_softmax(monkeypatch, direct, rows):
    """categorical() against softmax: one running sum, and the two-level search (block
    bounds, a uniform past a block's exact sum drawn again) with blocks the columns of
    8 rows (a remainder block of 3 values) or 7 rows (none), on rows with -inf entries,
    a dominant token at a block's end or in the remainder, and a flat row, with and
    without a floor (a truncation threshold); an all -inf row gives -1."""
    from bytegram.samplers import categorical as cat_mod

    monkeypatch.setattr(cat_mod, "_CAT_DIRECT", direct)
    monkeypatch.setattr(cat_mod, "_CAT_ROWS", rows)
    rng = np.random.default_rng(11)
    x0 = (rng.standard_normal(203) * 2.0).astype(np.float32)
    x1 = x0.copy()
    x1[rng.random(203) < 0.5] = -np.inf
    x2 = np.full(203, -3.0, dtype=np.float32)
    x2[(rows - 1) * (203 // rows)] = 4.0  # (most of the mass on the last token of block 0)
    x3 = (rng.standard_normal(203) * 0.1).astype(np.float32)
    x4 = np.full(203, -3.0, dtype=np.float32)
    x4[-2:] = (3.0, 4.0)  # (most of the mass in the remainder block, with 8 rows)
    for x in (x0, x1, x2, x3, x4):
        p = np.exp(x.astype(np.float64) - x.max())
        p /= p.sum()
        draws = [cat_mod.categorical(x, rng) for _ in range(6000)]
        assert min(draws) >= 0
        assert chi2_pvalue(np.bincount(draws, minlength=len(x)), p) > 1e-4
    for x in (x0, x1, x0[:12]):  # a floor: only the entries at or above it
        floor = np.float32(np.median(x[np.isfinite(x)]))
        p = np.where(x >= floor, np.exp(x.astype(np.float64) - x.max()), 0.0)
        p /= p.sum()
        draws = [cat_mod.categorical(x, rng, floor=floor) for _ in range(4000)]
        assert chi2_pvalue(np.bincount(draws, minlength=len(x)), p) > 1e-4
    assert cat_mod.categorical(np.full(300, -np.inf, dtype=np.float32), rng) == -1
    assert cat_mod.categorical(np.zeros(0, dtype=np.float32), rng) == -1


def test_truncation_ties_are_kept_identically():
    """Logits on a 0.5 grid: many ties at the top-k / top-p / min-p boundaries."""
    logits, m, allowed = byte_case(3, r"[a-z0-9]+", b"", scale=1.0, ties=True)
    for kw in (dict(top_k=4), dict(top_p=0.5), dict(min_p=0.6), dict(top_k=2, min_p=0.9)):
        params = SamplingParams(**kw)
        ref = reference_distribution(logits.numpy(), allowed, params)
        if kw == dict(top_k=4):
            assert np.count_nonzero(ref) >= 4
        for sampler in (AdaptiveRejectionSampler(seed=1, **kw), MaskedSampler(seed=1, **kw),
                        force_tail(AdaptiveRejectionSampler(seed=2, **kw)),
                        weightless(3, lazy=False, **kw), weightless(4, lazy=True, **kw)):
            samples = draw(sampler, logits, m, 1200)
            assert chi2_pvalue(counts_of(samples, len(ref)), ref) > 1e-4, (kw, sampler)


def test_multibyte_tokens():
    """A small vocabulary of overlapping multi-byte tokens (from_bytes_list) and a regex."""
    toks = [b"a", b"b", b"ab", b"abc", b"c", b"ca", b"bca", b"cab", b"x", b"ax", b"", b"bb"]
    vocab = Vocabulary.from_bytes_list(toks, eos_ids=[10])
    compiled = bytegram.compile(Grammar.from_regex(r"(ab|abc|ca)+b?"), vocab)
    rng = np.random.default_rng(5)
    for prefix in (b"", b"abca"):
        m = compiled.matcher()
        assert m.accept_bytes(prefix)
        allowed = m.allowed_ids()
        x = torch.tensor(rng.standard_normal(vocab.size) * 1.5, dtype=torch.float32)
        for kw in (dict(), dict(top_k=2), dict(temperature=0.5, top_p=0.9)):
            ref = reference_distribution(x.numpy(), allowed, SamplingParams(**kw))
            for sampler in (AdaptiveRejectionSampler(seed=3, **kw),
                            force_tail(AdaptiveRejectionSampler(seed=4, **kw), columns=3,
                                       max_cols=1)):
                samples = draw(sampler, x, m, 1000)
                assert chi2_pvalue(counts_of(samples, vocab.size), ref) > 1e-4


def weightless(seed: int, *, lazy: bool, **kw) -> MaskedSampler:
    """MaskedSampler(compute_weights=False), on its sparse-mask path or (``lazy``) on
    LazyCategorical (raw rows checked against the mask, then masked rows) with the lazy tail
    forced (every byte-vocabulary mask is sparse)."""
    ms = MaskedSampler(seed=seed, compute_weights=False, **kw)
    if lazy:
        ms._SPARSE_WORDS = -1
        force_tail(ms._lazy_raw, columns=8, max_cols=1, deltas=(2.0, 0.0))
        force_tail(ms._lazy, columns=8, max_cols=1, deltas=(2.0, 0.0))
    return ms


def test_logits_wider_than_vocabulary():
    """Padding columns (ids >= vocab size) are never sampled, even with large logits."""
    logits, m, allowed = byte_case(9, r"[0-9]+", b"")
    wide = torch.cat([logits, torch.full((40,), 3.0)])
    ref = reference_distribution(wide.numpy(), allowed, SamplingParams())
    assert ref[257:].sum() == 0
    for sampler in (AdaptiveRejectionSampler(seed=1), MaskedSampler(seed=1),
                    force_tail(AdaptiveRejectionSampler(seed=2)), weightless(3, lazy=False),
                    weightless(4, lazy=True)):
        samples = draw(sampler, wide, m, 2000)
        assert chi2_pvalue(counts_of(samples, len(ref)), ref) > 1e-4


# ---------------------------------------------------------------------------------------
# the visit order of the lazy stream is the Gumbel (Plackett-Luce) order


def stream_order_pvalue(aw: AdaptiveRejectionSampler, x: np.ndarray, n: int = 12000) -> float:
    """Chi-square p-value of the first two tokens visited by ``aw``'s lazy stream on logits
    ``x``, pooled over ``n`` fresh streams, against the exact Plackett-Luce law
    P(i first, j second) = p_i p_j / (1 - p_i)."""
    ctx = aw._prepare(x, None)
    v = len(x)
    p = np.exp(x.astype(np.float64) - x.max())
    p /= p.sum()
    counts = np.zeros((v, v))
    for _ in range(n):
        st = _Stream(ctx, aw.rng, 10**6)
        got = []
        for _ in range(2):
            kind, i = st.next()
            got.append(int(ctx.s_ids[i]) if kind == 0 else i)
        counts[got[0], got[1]] += 1
    probs = p[:, None] * p[None, :] / (1 - p[:, None])
    np.fill_diagonal(probs, 0.0)
    return chi2_pvalue(counts.ravel(), probs.ravel())


def test_stream_order_is_plackett_luce():
    """The lazy stream (candidates + thinned tail) visits tokens in Gumbel order."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(40) * 1.2).astype(np.float32)
    aw = force_tail(AdaptiveRejectionSampler(seed=5), columns=8, max_cols=1, deltas=(0.5, 0.0))
    ctx = aw._prepare(x, None)
    assert ctx.n_tail > 30 and ctx.env > 0
    assert stream_order_pvalue(aw, x) > 1e-4


# ---------------------------------------------------------------------------------------
# greedy, edge cases, API


@pytest.mark.parametrize("case", sorted(CASES))
def test_greedy_is_identical(case):
    pattern, prefix = CASES[case]
    for seed in range(20):
        logits, m, allowed = byte_case(seed, pattern, prefix, ties=seed % 2 == 0)
        ref = reference_distribution(logits.numpy(), allowed, SamplingParams(temperature=0))
        want = int(np.argmax(ref))
        a = AdaptiveRejectionSampler(temperature=0).sample(logits, m)
        b = MaskedSampler(temperature=0).sample(logits, m)
        c = force_tail(AdaptiveRejectionSampler(temperature=0)).sample(logits, m)
        assert a.token_id == b.token_id == c.token_id == want
        assert a.log_weight == b.log_weight == c.log_weight


def test_greedy_weight_is_the_zero_temperature_limit():
    logits, m, allowed = byte_case(1, r"[0-9]+", b"")
    x = logits.clone()
    x[ord("5")] = 50.0  # allowed argmax: Z -> 1
    assert AdaptiveRejectionSampler(temperature=0).sample(x, m).log_weight == 0.0
    x[ord("a")] = 60.0  # forbidden argmax: Z -> 0
    s = AdaptiveRejectionSampler(temperature=0).sample(x, m)
    assert s.token_id == ord("5") and s.log_weight == -math.inf
    x[ord("7")] = 60.0  # tie between an allowed and a forbidden argmax: Z -> 1/2
    for sampler in (AdaptiveRejectionSampler(temperature=0), MaskedSampler(temperature=0)):
        s = sampler.sample(x, m)
        assert s.token_id == ord("7") and s.log_weight == pytest.approx(math.log(0.5))


def test_no_allowed_token():
    """A state whose allowed tokens all have -inf logits, and a terminated matcher."""
    logits, m, allowed = byte_case(2, r"[0-9]+", b"")
    x = logits.clone()
    x[allowed] = -math.inf
    for sampler in (AdaptiveRejectionSampler(seed=0), MaskedSampler(seed=0),
                    AdaptiveRejectionSampler(seed=0, top_k=3),
                    force_tail(AdaptiveRejectionSampler(seed=0)),
                    AdaptiveRejectionSampler(temperature=0), weightless(0, lazy=False),
                    weightless(0, lazy=True)):
        s = sampler.sample(x, m)
        assert s.token_id == NO_TOKEN and s.log_weight == -math.inf
    compiled = bytegram.compile(Grammar.from_regex("a"), BYTES)
    t = compiled.matcher()
    assert t.accept_bytes(b"a") and t.accept(256) and t.is_terminated()
    for sampler in (AdaptiveRejectionSampler(seed=0), MaskedSampler(seed=0),
                    weightless(0, lazy=False), weightless(0, lazy=True)):
        assert sampler.sample(logits, t).token_id == NO_TOKEN
    allinf = torch.full((257,), -math.inf)
    assert AdaptiveRejectionSampler(seed=0).sample(allinf, m).token_id == NO_TOKEN


def test_sample_unpacks_and_batch_api():
    logits, m, allowed = byte_case(4, r"[0-9]+", b"")
    s = AdaptiveRejectionSampler(seed=0).sample(logits, m)
    tok, lw = s
    assert (tok, lw) == (s.token_id, s.log_weight) == tuple(s) and len(s) == 2 and s[0] == tok
    assert tok in allowed and s.n_checks >= 1
    batch = torch.stack([logits, logits.flip(0)])
    m2 = m.fork()
    for sampler in (AdaptiveRejectionSampler(seed=0), MaskedSampler(seed=0)):
        out = sampler.sample_batch(batch, [m, m2])
        assert len(out) == 2 and all(o.token_id in allowed for o in out)
        out = sampler.sample_batch(batch.numpy(), [m, m2], prev_ids=[[1, 2], []])
        assert len(out) == 2
    no_w = AdaptiveRejectionSampler(seed=0, compute_weights=False).sample(logits, m)
    assert no_w.token_id in allowed and math.isnan(no_w.log_weight)
    # numpy rows, float64 and float16 rows, a [1, V] row
    for x in (logits.numpy(), logits.double(), logits.half(), logits[None],
              logits.clone().requires_grad_()):
        for sampler in (AdaptiveRejectionSampler(seed=0), MaskedSampler(seed=0),
                        weightless(0, lazy=False), weightless(0, lazy=True)):
            assert sampler.sample(x, m).token_id in allowed
    for lazy in (False, True):  # a batch with prev_ids on the weightless path
        out = weightless(0, lazy=lazy, repetition_penalty=1.2).sample_batch(
            batch, [m, m2], prev_ids=[[48, 49], None])
        assert len(out) == 2 and all(o.token_id in allowed for o in out)


def test_reproducible_and_caller_logits_untouched():
    logits, m, _ = byte_case(6, r"[0-9a-f]+", b"")
    before = logits.clone()
    for lazy in (False, True):
        a = weightless(42, lazy=lazy, repetition_penalty=1.3).sample(logits, m, prev_ids=[48])
        b = weightless(42, lazy=lazy, repetition_penalty=1.3).sample(logits, m, prev_ids=[48])
        assert a.token_id == b.token_id
    for cls in (AdaptiveRejectionSampler, MaskedSampler):
        a = [cls(seed=42, top_p=0.9, repetition_penalty=1.3).sample(logits, m, prev_ids=[48])
             for _ in range(1)]
        b = [cls(seed=42, top_p=0.9, repetition_penalty=1.3).sample(logits, m, prev_ids=[48])
             for _ in range(1)]
        assert a == b
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        assert cls(generator=g1).sample(logits, m) == cls(generator=g2).sample(logits, m)
    assert torch.equal(logits, before)


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_masked_weight_on_vocabulary_sized_rows(scale, gpt2_vocab):
    """The exact weight on GPT-2-sized rows (float32 exponentials, float32 column sums)
    against float64 sums: within 1e-5 in log space, for a dense mask (letters
    and spaces) and a sparse one (digits), flat and peaked logits; MaskedSampler without
    and with a truncation, and AWRS's masked fallback."""
    rng = np.random.default_rng(int(scale))
    x = torch.from_numpy((rng.standard_normal(gpt2_vocab.size) * scale).astype(np.float32))
    for pattern in (r"[a-z ]+", r"[0-9]+"):
        m = bytegram.compile(Grammar.from_regex(pattern), gpt2_vocab).matcher()
        allowed = m.allowed_ids()
        want = exact_log_z(x.numpy(), allowed, SamplingParams())
        # (with a truncation the weight is still the untruncated allowed mass: top-p takes
        # the log-space path, AWRS with top-k falls back to the mask at once here)
        for sampler in (MaskedSampler(seed=0), MaskedSampler(seed=0, top_p=0.9),
                        AdaptiveRejectionSampler(seed=0, top_k=50)):
            s = sampler.sample(x, m)
            assert s.token_id in set(allowed.tolist())
            assert isinstance(sampler, MaskedSampler) or s.fell_back
            assert s.log_weight == pytest.approx(want, abs=1e-5), (pattern, scale, sampler)


@pytest.mark.parametrize("scale", [0.5, 4.0])
@pytest.mark.parametrize("kw", [dict(), dict(temperature=0.7, repetition_penalty=1.3)])
def test_row_mass_within_its_bound(scale, kw):
    """AWRS's row mass for top-p (float32 exponentials and column sums) within half its
    stated error bound of the float64 sum, on GPT-2-sized rows with -inf entries, flat and
    peaked, plain and with a temperature and a penalty (the certified scan relies on it)."""
    from bytegram.samplers.sums import MASS32_REL_ERR

    rng = np.random.default_rng(int(scale * 10) + len(kw))
    v = 50257
    x = (rng.standard_normal(v) * scale).astype(np.float32)
    x[rng.random(v) < 0.1] = -np.inf
    x[:3] = (9.0, 8.5, 8.0)
    aw = AdaptiveRejectionSampler(seed=0, top_p=0.9, **kw)
    pen = np.array([1, 7, 500, 40000]) if kw else None
    ctx = aw._prepare(x, pen)
    s = x.astype(np.float64)
    if pen is not None:
        s[pen] = np.where(s[pen] > 0, s[pen] / 1.3, s[pen] * 1.3)
    s = (s.astype(np.float32) * aw._inv).astype(np.float64)
    want = float(np.exp(s - ctx.M).sum())
    got = aw._row_mass(ctx, x, pen)
    assert abs(got - want) <= 0.5 * MASS32_REL_ERR * want, (got, want)


def test_masked_batch_of_wide_rows(gpt2_vocab):
    """sample_batch over GPT-2-sized rows with dense masks draws exactly what sample()
    draws row by row with the same seed, and each row matches the reference distribution.
    (Column maxima for the whole batch in one call, tried, was 6-9% slower at batch 32:
    each row was then read from memory twice.)"""
    m = bytegram.compile(Grammar.from_regex(r"[a-z ]+"), gpt2_vocab).matcher()
    bm = m.compiled.allocate_bitmask(1)
    m.fill_bitmask(bm)
    assert np.count_nonzero(bm[0]) > MaskedSampler._SPARSE_WORDS  # (a dense mask)
    allowed = m.allowed_ids()
    forbidden = np.setdiff1d(np.arange(gpt2_vocab.size), allowed)
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, gpt2_vocab.size)) * 0.5).astype(np.float32)
    for r in range(3):  # a few allowed and forbidden tokens on top, different per row
        x[r, rng.choice(allowed, 5, replace=False)] += 4.0
        x[r, rng.choice(forbidden, 5, replace=False)] += 5.0
    xt = torch.from_numpy(x)
    batched = MaskedSampler(seed=5, compute_weights=False)
    by_row = MaskedSampler(seed=5, compute_weights=False)
    toks = []
    for _ in range(1500):
        got = [s.token_id for s in batched.sample_batch(xt, [m] * 3)]
        assert got == [by_row.sample(xt[r], m).token_id for r in range(3)]
        toks.append(got)
    toks = np.array(toks)
    for r in range(3):
        ref = reference_distribution(x[r], allowed, SamplingParams())
        assert chi2_pvalue(np.bincount(toks[:, r], minlength=len(ref)), ref) > 1e-4


@pytest.mark.parametrize("kw,peaked", [
    (dict(top_k=20), False), (dict(top_k=20, top_p=0.8), False),
    (dict(top_k=30, min_p=0.2, temperature=0.8), False), (dict(min_p=0.05), False),
    (dict(top_p=0.9), False), (dict(top_p=0.9), True),
    (dict(top_p=0.6, min_p=0.3, temperature=0.8), True)])
@pytest.mark.parametrize("weights", [False, True])
def test_masked_truncations_on_wide_rows(kw, peaked, weights, gpt2_vocab):
    """MaskedSampler on GPT-2-sized rows with a dense mask, against the reference
    distribution, without and with the weight (``_sample_truncated``, the same draw):
    top-k (the kept set read off the columns near the top, then top-p or min-p within it),
    min-p alone (the values above its threshold), top-p (with min-p) from the values near
    the top when 40 allowed logits stand out (peaked), else from every allowed value;
    forbidden tokens sit among the largest logits."""
    m = bytegram.compile(Grammar.from_regex(r"[a-z ]+"), gpt2_vocab).matcher()
    allowed = m.allowed_ids()
    forbidden = np.setdiff1d(np.arange(gpt2_vocab.size), allowed)
    rng = np.random.default_rng(8)
    x = rng.standard_normal(gpt2_vocab.size).astype(np.float32)
    x[rng.choice(forbidden, 30, replace=False)] += 4.0
    if peaked:
        x[rng.choice(allowed, 40, replace=False)] += 7.0
    ref = reference_distribution(x, allowed, SamplingParams(**kw))
    ms = MaskedSampler(seed=9, compute_weights=weights, **kw)
    samples = draw(ms, torch.from_numpy(x), m, 3000)
    assert chi2_pvalue(counts_of(samples, len(ref)), ref) > 1e-4
    if weights:
        want = exact_log_z(x, allowed, SamplingParams(**kw))
        assert all(s.log_weight == pytest.approx(want, abs=1e-5) for s in samples[:20])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("wide", [False, True])
def test_non_finite_logits_raise_invalid_argument(bad, wide, gpt2_vocab):
    """NaN or +inf at an allowed token: every sampler and path raises InvalidArgument (no
    distribution is defined) instead of drawing an arbitrary token or failing inside numpy.
    ``wide``: GPT-2's 50,257 tokens (the lazy max pass); else the byte vocabulary (one
    candidate set). Masks: as they come (sparse) and forced dense."""
    vocab = gpt2_vocab if wide else BYTES
    m = bytegram.compile(Grammar.from_regex(r"[0-9]+"), vocab).matcher()
    logits = torch.zeros(vocab.size)
    logits[int(m.allowed_ids()[3])] = bad
    for kw in (dict(), dict(temperature=0), dict(top_p=0.9), dict(temperature=0.7)):
        for weights in (True, False):
            samplers = [AdaptiveRejectionSampler(seed=0, compute_weights=weights, **kw)]
            for sparse_words in (MaskedSampler._SPARSE_WORDS, -1):
                ms = MaskedSampler(seed=0, compute_weights=weights, **kw)
                ms._SPARSE_WORDS = sparse_words
                samplers.append(ms)
            for sampler in samplers:
                with pytest.raises(InvalidArgument, match="finite"):
                    sampler.sample(logits, m)


def test_bad_arguments_raise_invalid_argument():
    logits, m, _ = byte_case(6, r"[0-9]+", b"")
    bad = [dict(temperature=-1), dict(temperature=float("nan")), dict(top_k=0),
           dict(top_k=2.5), dict(top_p=0), dict(top_p=1.5), dict(min_p=-0.1),
           dict(repetition_penalty=0), dict(temperature="hot")]
    for kw in bad:
        for cls in (AdaptiveRejectionSampler, MaskedSampler):
            with pytest.raises(InvalidArgument):
                cls(**kw)
    with pytest.raises(InvalidArgument):
        AdaptiveRejectionSampler(max_rejections=0)
    with pytest.raises(InvalidArgument):
        AdaptiveRejectionSampler(seed=1, generator=torch.Generator())
    with pytest.raises(InvalidArgument):
        AdaptiveRejectionSampler(generator=42)
    with pytest.raises(InvalidArgument):
        AdaptiveRejectionSampler().sample(torch.zeros(2, 257), m)
    with pytest.raises(InvalidArgument):
        MaskedSampler().sample_batch(torch.zeros(2, 257), [m])
    with pytest.raises(InvalidArgument):
        AdaptiveRejectionSampler().sample(torch.zeros(257, dtype=torch.int64), m)
    with pytest.raises(InvalidArgument):
        MaskedSampler().sample([0.0] * 257, m)
    # InvalidArgument is both a ValueError and a TypeError
    with pytest.raises(ValueError):
        SamplingParams(top_p=2)
    with pytest.raises(TypeError):
        SamplingParams(top_k="3")


def test_extreme_logit_gaps():
    """A forbidden token 10,000 nats above every allowed one: Z underflows any float, the
    draw and the log weight must still be right (the samplers work in log space)."""
    logits, m, allowed = byte_case(8, r"[0-9]+", b"")
    x = logits.clone()
    x[ord("a")] = 1e4
    ref = reference_distribution(x.numpy(), allowed, SamplingParams())
    e = np.exp(x.numpy()[allowed].astype(np.float64) - x.numpy()[allowed].max())
    want_lw = float(np.log(e.sum()) + x.numpy()[allowed].max() - 1e4)
    dense = MaskedSampler(seed=3)
    dense._SPARSE_WORDS = -1
    for sampler in (AdaptiveRejectionSampler(seed=1), MaskedSampler(seed=1), dense,
                    force_tail(AdaptiveRejectionSampler(seed=2))):
        samples = draw(sampler, x, m, 800)
        assert chi2_pvalue(counts_of(samples, len(ref)), ref) > 1e-4
        if isinstance(sampler, MaskedSampler):
            assert samples[0].log_weight == pytest.approx(want_lw, rel=1e-9)
        else:  # an estimate: log Z - log(Gamma(2, 1)) here, within a few nats
            assert all(abs(s.log_weight - want_lw) < 8 for s in samples[:50])
