"""Sequential Monte Carlo over constrained generations.

Target: the model's distribution over complete outputs (ending in EOS within
``max_new_tokens``) conditioned on the output being in the grammar's language. Token-by-token
masking samples each token from the masked distribution, which is biased toward prefixes that
have much allowed mass *now* even when they lead to little valid mass later. Each particle is
extended by a constrained sampler, its log weight grows by the sampler's ``log_weight`` (an
unbiased estimate of the allowed mass ``Z`` at that step, so the product is an unbiased
estimate of p(sequence) / q(sequence)), and particles are resampled when the effective sample
size falls below ``ess_threshold * N``. The product over resampling epochs of the mean weight
is an unbiased estimate of the probability that the model's output is valid and complete.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from ..errors import InvalidArgument
from .awrs import AdaptiveRejectionSampler
from .base import NO_TOKEN, make_rng
from .masked import MaskedSampler

__all__ = ["LanguageModel", "SMC", "SMCResult", "resample_indices", "log_mean_exp"]

_NEG_INF = float("-inf")


@runtime_checkable
class LanguageModel(Protocol):
    """What SMC needs from a model: next-token logits for a batch of token-id sequences."""

    def logits(self, sequences: Sequence[Sequence[int]]) -> Any:
        """Float ``[len(sequences), V]`` tensor (or array) of next-token logits."""
        ...


def log_mean_exp(logw: np.ndarray) -> float:
    """log(mean(exp(logw))), -inf when every weight is 0."""
    if len(logw) == 0:
        return _NEG_INF
    m = float(np.max(logw))
    if m == _NEG_INF:
        return _NEG_INF
    return m + math.log(float(np.mean(np.exp(logw - m))))


def resample_indices(weights: np.ndarray, rng: np.random.Generator, *,
                     method: str = "systematic") -> np.ndarray:
    """Ancestor indices for ``len(weights)`` offspring (weights normalized, summing to 1).

    ``systematic``: one uniform, evenly spaced positions (lower variance); ``multinomial``:
    independent draws. Both give each particle ``N * w_i`` offspring in expectation.
    """
    n = len(weights)
    cum = np.cumsum(weights)
    cum[-1] = 1.0
    if method == "systematic":
        u = (rng.random() + np.arange(n)) / n
    elif method == "multinomial":
        u = rng.random(n)
    else:
        raise InvalidArgument(f"resampling must be 'systematic' or 'multinomial', got {method!r}")
    return np.minimum(np.searchsorted(cum, u, side="right"), n - 1)


@dataclass
class SMCResult:
    """Weighted particles after SMC.

    ``sequences``: generated token ids per particle (EOS included when complete).
    ``log_weights``: final unnormalized log weights (-inf for incomplete or dead particles).
    ``log_marginal_likelihood``: log of the unbiased estimate of P(complete valid output).
    ``complete``: which particles ended with EOS. ``n_incomplete``: particles that hit
    ``max_new_tokens`` or a dead end (weight 0). ``n_resamples``: resampling steps.
    ``ess_history``: ESS / N after each step.
    """

    sequences: list[list[int]]
    log_weights: np.ndarray
    log_marginal_likelihood: float
    complete: np.ndarray
    n_incomplete: int
    n_resamples: int
    ess_history: list[float] = field(default_factory=list)

    @property
    def weights(self) -> np.ndarray:
        """Normalized weights (all zero when every particle has weight 0)."""
        lw = self.log_weights
        m = float(np.max(lw)) if len(lw) else _NEG_INF
        if m == _NEG_INF:
            return np.zeros(len(lw))
        w = np.exp(lw - m)
        return w / w.sum()

    def posterior(self) -> dict[tuple[int, ...], float]:
        """Normalized weight of each distinct complete sequence."""
        out: dict[tuple[int, ...], float] = {}
        for seq, w in zip(self.sequences, self.weights.tolist()):
            if w > 0:
                key = tuple(seq)
                out[key] = out.get(key, 0.0) + w
        return out


class SMC:
    """Sequential Monte Carlo with ``n_particles`` particles over one compiled grammar.

    ``model``: a ``LanguageModel``. ``compiled``: a ``CompiledGrammar`` (particles are forked
    from ``compiled.matcher()``). ``sampler``: an ``AdaptiveRejectionSampler`` (default) or
    ``MaskedSampler`` without truncation (top-k/top-p/min-p make the weights improper, so they
    are refused); its temperature and repetition penalty define the target. Keyword options:
    ``ess_threshold`` (resample when ESS < threshold * N; 0 never, 1 every step),
    ``resampling`` ("systematic" or "multinomial"), ``max_new_tokens``, ``seed``/``generator``
    (for resampling).
    """

    def __init__(self, model: LanguageModel, compiled: Any, *, n_particles: int = 16,
                 sampler: Any = None, ess_threshold: float = 0.5,
                 resampling: str = "systematic", max_new_tokens: int = 256,
                 seed: int | None = None, generator: Any = None) -> None:
        if not callable(getattr(model, "logits", None)):
            raise InvalidArgument(f"model must have a logits(sequences) method (the "
                                  f"LanguageModel protocol), got {type(model).__name__}")
        if not callable(getattr(compiled, "matcher", None)):
            raise InvalidArgument(f"compiled must be a CompiledGrammar, got "
                                  f"{type(compiled).__name__}")
        if isinstance(n_particles, bool) or not isinstance(n_particles, int) or n_particles < 1:
            raise InvalidArgument(f"n_particles must be an int >= 1, got {n_particles!r}")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
                or max_new_tokens < 1:
            raise InvalidArgument(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
        if not isinstance(ess_threshold, (int, float)) or not 0 <= ess_threshold <= 1:
            raise InvalidArgument(f"ess_threshold must be in [0, 1], got {ess_threshold!r}")
        if resampling not in ("systematic", "multinomial"):
            raise InvalidArgument(f"resampling must be 'systematic' or 'multinomial', got "
                                  f"{resampling!r}")
        self.rng = make_rng(seed, generator)
        if sampler is None:
            sampler = AdaptiveRejectionSampler(seed=int(self.rng.integers(2**62)))
        if not isinstance(sampler, (AdaptiveRejectionSampler, MaskedSampler)):
            raise InvalidArgument(f"sampler must be an AdaptiveRejectionSampler or "
                                  f"MaskedSampler, got {type(sampler).__name__}")
        if sampler.params.truncates:
            raise InvalidArgument("SMC needs an untruncated sampler: with top-k, top-p or "
                                  "min-p the per-step weights are not importance weights of "
                                  "any fixed target")
        if not sampler.compute_weights:
            raise InvalidArgument("SMC needs the sampler's weights: pass a sampler built with "
                                  "compute_weights=True")
        if sampler.params.greedy:
            raise InvalidArgument("SMC needs temperature > 0 (greedy decoding has no "
                                  "distribution to correct)")
        self.model = model
        self.compiled = compiled
        self.n_particles = n_particles
        self.sampler = sampler
        self.ess_threshold = float(ess_threshold)
        self.resampling = resampling
        self.max_new_tokens = max_new_tokens

    def run(self, prompt_ids: Sequence[int] = ()) -> SMCResult:
        """Generate; returns the weighted particles and the log marginal likelihood."""
        prompt = [int(t) for t in prompt_ids]
        n = self.n_particles
        root = self.compiled.matcher()
        matchers = [root.fork() for _ in range(n)]
        seqs: list[list[int]] = [[] for _ in range(n)]
        logw = np.zeros(n)
        done = np.zeros(n, dtype=bool)
        complete = np.zeros(n, dtype=bool)
        log_ml = 0.0
        n_resamples = 0
        ess_hist: list[float] = []
        penalty = self.sampler.params.repetition_penalty is not None
        for _ in range(self.max_new_tokens):
            active = np.flatnonzero(~done)
            if len(active) == 0:
                break
            batch = [prompt + seqs[i] for i in active]
            logits = self.model.logits(batch)
            if isinstance(logits, np.ndarray):
                logits = torch.from_numpy(logits)
            if not isinstance(logits, torch.Tensor) or logits.ndim != 2 \
                    or logits.shape[0] != len(active):
                raise InvalidArgument(f"model.logits returned "
                                      f"{getattr(logits, 'shape', type(logits).__name__)}; "
                                      f"want [{len(active)}, V]")
            samples = self.sampler.sample_batch(logits, [matchers[i] for i in active],
                                                prev_ids=batch if penalty else None)
            for i, s in zip(active.tolist(), samples):
                if s.token_id == NO_TOKEN or s.log_weight == _NEG_INF:
                    logw[i] = _NEG_INF
                    done[i] = True
                    continue
                if not matchers[i].accept(s.token_id):  # pragma: no cover - sampler contract
                    logw[i] = _NEG_INF
                    done[i] = True
                    continue
                seqs[i].append(s.token_id)
                logw[i] += s.log_weight
                if matchers[i].is_terminated():
                    done[i] = True
                    complete[i] = True
            w_ok = logw > _NEG_INF
            if not w_ok.any():
                log_ml = _NEG_INF
                break
            m = float(logw.max())
            w = np.exp(logw - m)
            w /= w.sum()
            ess = 1.0 / float(np.sum(w * w))
            ess_hist.append(ess / n)
            if ess < self.ess_threshold * n and not done.all():
                log_ml += log_mean_exp(logw)
                idx = resample_indices(w, self.rng, method=self.resampling)
                matchers = [matchers[j].fork() for j in idx]
                seqs = [list(seqs[j]) for j in idx]
                done = done[idx].copy()
                complete = complete[idx].copy()
                logw = np.zeros(n)
                n_resamples += 1
        incomplete = ~complete
        logw = np.where(incomplete, _NEG_INF, logw)
        if log_ml != _NEG_INF:
            log_ml += log_mean_exp(logw)
        return SMCResult(seqs, logw, log_ml, complete, int(incomplete.sum()), n_resamples,
                         ess_hist)
