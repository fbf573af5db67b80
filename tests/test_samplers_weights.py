"""The rejection sampler's weight is an unbiased estimate of the allowed mass Z.

The estimator: simulate a with-replacement rejection sampler until its second acceptance;
with N its number of draws, 1/(N-1) is unbiased for Z (negative binomial with r = 2). Each
test compares the mean of exp(log_weight) over many draws with the exact Z computed from the
full mask, with a tolerance of 5 standard errors of the mean (fixed seeds, so deterministic).
The paths covered: the plain estimator, the lazy tail envelope, the vectorized many-draws
path, both fallbacks (the sampling stage's, which returns the exact Z, and the estimator's own
cap, which finishes the count from the mask), and the draw cap.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bytegram.samplers import AdaptiveRejectionSampler, MaskedSampler, SamplingParams
from test_samplers import byte_case, exact_log_z, force_tail


def assert_unbiased(weights: np.ndarray, z: float, *, sigmas: float = 5.0) -> None:
    weights = np.asarray(weights, dtype=np.float64)
    se = weights.std(ddof=1) / math.sqrt(len(weights))
    assert abs(weights.mean() - z) <= sigmas * se + 1e-12, (weights.mean(), z, se)


def test_negative_binomial_estimator_is_unbiased():
    """E[1/(N-1)] = Z for N = trials until the 2nd success: exactly (the series) and by
    simulation; the naive 2/N is biased (it overestimates Z, by Jensen's inequality)."""
    for z in (0.9, 0.5, 0.1, 0.01):
        n = np.arange(2, 200_000, dtype=np.float64)
        pmf = (n - 1) * z * z * (1 - z) ** (n - 2)
        assert float(np.sum(pmf / (n - 1))) == pytest.approx(z, rel=1e-9)
    rng = np.random.default_rng(0)
    for z in (0.7, 0.2, 0.03):
        trials = rng.negative_binomial(2, z, size=400_000) + 2  # failures + 2 successes
        assert_unbiased(1.0 / (trials - 1), z)
        assert np.mean(2.0 / trials) > z * 1.05


def _estimates(aw: AdaptiveRejectionSampler, logits: torch.Tensor, m, n: int, prev=None):
    """n weight estimates through the estimator alone (the sampling stage is independent of
    it), each with a fresh verdict cache."""
    row = logits.numpy()
    pen = None if prev is None else np.unique(np.asarray(prev, dtype=np.int64))
    ctx = aw._prepare(row, pen)
    out = np.empty(n)
    fell = 0
    for i in range(n):
        s_verdict = np.full(len(ctx.s_ids), -1, dtype=np.int8)
        lw, _, fb = aw._estimate(ctx, row, m, pen, s_verdict, {})
        out[i] = math.exp(lw)
        fell += fb
    return out, fell / n


def test_estimator_mean_over_1e5_draws():
    logits, m, allowed = byte_case(11, r"[0-9]{2,4}(-[0-9]{2})?", b"1", target_z=0.45)
    z = math.exp(exact_log_z(logits.numpy(), allowed, SamplingParams()))
    w, fell = _estimates(AdaptiveRejectionSampler(seed=1), logits, m, 100_000)
    assert fell < 0.01
    assert_unbiased(w, z)


@pytest.mark.parametrize("target_z", [0.6, 0.08])
def test_estimator_with_lazy_tail(target_z):
    logits, m, allowed = byte_case(12, r"[a-z]+( [a-z]+)?", b"ab", scale=2.5,
                                   target_z=target_z)
    z = math.exp(exact_log_z(logits.numpy(), allowed, SamplingParams()))
    aw = force_tail(AdaptiveRejectionSampler(seed=2, max_rejections=64), max_cols=4,
                    deltas=(4.0, 2.0, 0.0))
    assert aw._prepare(logits.numpy(), None).env > 0.1
    w, _ = _estimates(aw, logits, m, 6_000 if target_z > 0.5 else 2_000)
    assert_unbiased(w, z)


def test_estimator_many_draws_vectorized():
    """Little allowed mass on a few heavy forbidden tokens: hundreds of draws per estimate
    (the vectorized path), few checks."""
    logits, m, allowed = byte_case(13, r"[0-9]+", b"", scale=1.0, target_z=0.01)
    x = logits.clone()
    z = math.exp(exact_log_z(x.numpy(), allowed, SamplingParams()))
    aw = AdaptiveRejectionSampler(seed=3, max_rejections=256)
    w, fell = _estimates(aw, x, m, 5_000)
    assert fell < 0.05
    assert_unbiased(w, z)


@pytest.mark.parametrize("kw", [dict(max_rejections=1), dict(max_draws=3),
                                dict(max_rejections=2, max_draws=10)])
def test_estimator_caps_finish_from_the_mask(kw):
    """When the estimator hits its check or draw cap it computes the mask and simulates the
    rest of the count: the mean is still Z."""
    logits, m, allowed = byte_case(14, r"(cat|car|cart|dog)( (cat|car|dog))*", b"ca",
                                   target_z=0.3)
    z = math.exp(exact_log_z(logits.numpy(), allowed, SamplingParams()))
    w, fell = _estimates(AdaptiveRejectionSampler(seed=4, **kw), logits, m, 20_000)
    assert fell > 0.2  # the cap path is really exercised
    assert_unbiased(w, z)


@pytest.mark.parametrize("kw", [dict(), dict(max_rejections=1), dict(temperature=0.7),
                                dict(repetition_penalty=1.8), dict(top_k=3)])
def test_sample_weights_are_unbiased(kw):
    """End to end through sample(): with max_rejections=1 the sampling stage often falls
    back (exact Z) and otherwise estimates; either way the mean is Z. Truncation settings
    estimate the untruncated Z."""
    logits, m, allowed = byte_case(15, r"[0-9a-f]+( [0-9a-f]+)?", b"ab", target_z=0.5)
    prev = [ord("a"), ord("1"), ord("z")] if "repetition_penalty" in kw else None
    params = SamplingParams(**{k: v for k, v in kw.items() if k != "max_rejections"})
    z = math.exp(exact_log_z(logits.numpy(), allowed, params, prev))
    aw = AdaptiveRejectionSampler(seed=5, **kw)
    samples = [aw.sample(logits, m, prev_ids=prev) for _ in range(8_000)]
    w = np.exp([s.log_weight for s in samples])
    if kw == dict(max_rejections=1):
        assert np.mean([s.fell_back for s in samples]) > 0.2
    assert_unbiased(w, z)
    exact = [s.log_weight for s in samples if s.fell_back and s.n_checks > 0]
    if kw == dict(max_rejections=1):
        # the sampling stage's fallback returns the exact log Z
        assert any(lw == pytest.approx(math.log(z), abs=1e-6) for lw in exact)


def test_masked_weight_is_exact_and_deterministic():
    logits, m, allowed = byte_case(16, r"[0-9]+", b"", target_z=0.2)
    z = exact_log_z(logits.numpy(), allowed, SamplingParams(temperature=1.3))
    ws = {MaskedSampler(seed=i, temperature=1.3).sample(logits, m).log_weight for i in range(5)}
    assert len(ws) == 1 and ws.pop() == pytest.approx(z, abs=1e-6)
