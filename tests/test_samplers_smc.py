"""SMC corrects the bias of token-by-token masking toward the globally conditioned model.

The toy: tokens a, b, c and EOS; the language is {ab, ac, ba, bc}. The model likes to start
with "a" but, after "a", puts most of its mass on EOS (forbidden there), so the valid
continuations of "a" carry little mass. Token-by-token masking still picks "a" two times in
three; the model conditioned on a complete valid output prefers strings starting with "b".
Everything is enumerable: the target, the masking distribution and P(valid, complete).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import bytegram
from bytegram import Grammar, Vocabulary
from bytegram.errors import InvalidArgument
from bytegram.samplers import (SMC, AdaptiveRejectionSampler, LanguageModel, MaskedSampler,
                               SMCResult)
from bytegram.samplers.smc import log_mean_exp, resample_indices

A, B, C, EOS = 0, 1, 2, 3
VOCAB = Vocabulary.from_bytes_list([b"a", b"b", b"c", b""], eos_ids=[EOS])
LANG = ["ab", "ac", "ba", "bc"]
CONDITIONALS = {
    (): [0.6, 0.3, 0.05, 0.05],
    (A,): [0.05, 0.05, 0.1, 0.8],
    (B,): [0.45, 0.1, 0.4, 0.05],
}
DEFAULT = [0.1, 0.1, 0.1, 0.7]


class ToyModel:
    """A LanguageModel whose next-token distribution depends on the generated prefix."""

    def __init__(self) -> None:
        self.calls = 0
        self.rows = 0

    def probs(self, prefix: tuple[int, ...]) -> np.ndarray:
        return np.asarray(CONDITIONALS.get(prefix, DEFAULT), dtype=np.float64)

    def logits(self, sequences):
        self.calls += 1
        self.rows += len(sequences)
        return torch.tensor(np.log([self.probs(tuple(s)) for s in sequences]),
                            dtype=torch.float32)


def seq_ids(s: str) -> tuple[int, ...]:
    return tuple("abc".index(ch) for ch in s) + (EOS,)


def model_prob(model: ToyModel, ids: tuple[int, ...]) -> float:
    p = 1.0
    for i, t in enumerate(ids):
        p *= model.probs(ids[:i])[t]
    return p


def masking_prob(model: ToyModel, ids: tuple[int, ...], matcher) -> float:
    """Probability that token-by-token masking generates ``ids``."""
    m = matcher.fork()
    p = 1.0
    for i, t in enumerate(ids):
        probs = model.probs(ids[:i])
        allowed = m.allowed_ids()
        p *= probs[t] / probs[allowed].sum()
        assert m.accept(int(t))
    return p


def kl(p: dict, q: dict) -> float:
    return sum(pv * math.log(pv / q[k]) for k, pv in p.items() if pv > 0)


@pytest.fixture(scope="module")
def toy():
    compiled = bytegram.compile(Grammar.from_regex("ab|ac|ba|bc"), VOCAB)
    model = ToyModel()
    joint = {seq_ids(s): model_prob(model, seq_ids(s)) for s in LANG}
    p_valid = sum(joint.values())
    target = {k: v / p_valid for k, v in joint.items()}
    masking = {k: masking_prob(model, k, compiled.matcher()) for k in target}
    assert sum(masking.values()) == pytest.approx(1.0)
    return compiled, model, target, masking, p_valid


def pooled_posterior(results: list[SMCResult]) -> dict:
    out: dict = {}
    for r in results:
        for k, w in r.posterior().items():
            out[k] = out.get(k, 0.0) + w / len(results)
    return out


@pytest.mark.parametrize("sampler_cls,resampling", [(AdaptiveRejectionSampler, "systematic"),
                                                    (MaskedSampler, "multinomial")])
def test_smc_beats_token_masking(toy, sampler_cls, resampling):
    compiled, model, target, masking, p_valid = toy
    kl_mask = kl(masking, target)
    assert kl_mask > 0.3  # masking is badly biased here
    results = []
    for run in range(600):  # KL of the pooled posterior: noise ~ 1/runs (150 runs: flaky)
        smc = SMC(model, compiled, n_particles=8, sampler=sampler_cls(seed=run),
                  resampling=resampling, ess_threshold=0.9, max_new_tokens=6, seed=1000 + run)
        res = smc.run()
        assert res.n_incomplete == 0 and res.complete.all()
        results.append(res)
    post = pooled_posterior(results)
    assert set(post) <= set(target)
    kl_smc = kl(post, target)
    assert kl_smc < 0.05 * kl_mask, (kl_smc, kl_mask)
    # the marginal likelihood estimate is unbiased for P(valid, complete)
    ml = np.exp([r.log_marginal_likelihood for r in results])
    se = ml.std(ddof=1) / math.sqrt(len(ml))
    assert abs(ml.mean() - p_valid) <= 5 * se + 1e-9
    assert any(r.n_resamples > 0 for r in results)


def test_smc_without_resampling_is_importance_sampling(toy):
    """ess_threshold=0: no resampling; the weighted particles are still consistent."""
    compiled, model, target, masking, p_valid = toy
    results = [SMC(model, compiled, n_particles=16, ess_threshold=0.0, seed=r,
                   sampler=AdaptiveRejectionSampler(seed=r)).run() for r in range(80)]
    assert all(r.n_resamples == 0 for r in results)
    assert kl(pooled_posterior(results), target) < 0.05 * kl(masking, target)


def test_incomplete_particles_get_zero_weight(toy):
    compiled, model, _, _, _ = toy
    res = SMC(model, compiled, n_particles=5, max_new_tokens=2, seed=0).run()
    assert res.n_incomplete == 5 and not res.complete.any()
    assert np.all(res.log_weights == -math.inf)
    assert res.log_marginal_likelihood == -math.inf
    assert res.weights.sum() == 0 and res.posterior() == {}
    assert all(len(s) == 2 for s in res.sequences)


def test_dead_ends_and_batched_model_calls():
    """A language whose continuation has no token in the vocabulary: particles that reach it
    die (weight 0) instead of raising; the model is called once per step for all live
    particles."""
    compiled = bytegram.compile(Grammar.from_regex("a(b|d)|c"), VOCAB)
    model = ToyModel()
    res = SMC(model, compiled, n_particles=6, max_new_tokens=5, seed=3,
              sampler=MaskedSampler(seed=3)).run()
    for seq, ok in zip(res.sequences, res.complete):
        assert ok == (tuple(seq) in {(A, B, EOS), (C, EOS)})
    assert model.calls <= 5 and model.rows <= 6 * 5


def test_resampling_schemes_are_unbiased():
    rng = np.random.default_rng(0)
    w = np.array([0.5, 0.25, 0.15, 0.1, 0.0])
    for method in ("systematic", "multinomial"):
        counts = np.zeros(5)
        for _ in range(4000):
            counts += np.bincount(resample_indices(w, rng, method=method), minlength=5)
        assert np.allclose(counts / 4000, 5 * w, atol=0.05)
        assert counts[-1] == 0
    # systematic: offspring counts are floor or ceil of N * w
    for _ in range(100):
        c = np.bincount(resample_indices(w, rng, method="systematic"), minlength=5)
        assert np.all(np.abs(c - 5 * w) < 1)
    assert log_mean_exp(np.array([-math.inf, -math.inf])) == -math.inf
    assert log_mean_exp(np.log([1.0, 3.0])) == pytest.approx(math.log(2.0))


def test_smc_arguments(toy):
    compiled, model, _, _, _ = toy
    assert isinstance(model, LanguageModel)
    for kw in (dict(n_particles=0), dict(ess_threshold=1.5), dict(resampling="stratified"),
               dict(max_new_tokens=0), dict(sampler=AdaptiveRejectionSampler(top_k=5)),
               dict(sampler=MaskedSampler(temperature=0)), dict(sampler="awrs"),
               dict(sampler=AdaptiveRejectionSampler(compute_weights=False))):
        with pytest.raises(InvalidArgument):
            SMC(model, compiled, **kw)
    with pytest.raises(InvalidArgument):
        SMC(object(), compiled)

    class Broken:
        def logits(self, sequences):
            return torch.zeros(len(sequences) + 1, 4)

    with pytest.raises(InvalidArgument):
        SMC(Broken(), compiled, n_particles=2).run()
