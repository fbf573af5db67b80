"""Shared pieces of the samplers: the ``Sample`` result, sampling parameters, random sources.

Every sampler returns a ``Sample``: the token id, the log of an unbiased estimate of the
allowed probability mass ``Z`` (the SMC incremental weight), how many single-token checks it
made and whether it fell back to a full mask. ``Sample`` unpacks as ``(token_id, log_weight)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InvalidArgument

__all__ = ["Sample", "SamplingParams", "make_rng", "NO_TOKEN"]

#: token id returned when no token is allowed (the allowed mass is 0); its weight is -inf.
NO_TOKEN = -1


@dataclass(frozen=True)
class Sample:
    """One sampled token.

    ``token_id``: the id (``NO_TOKEN`` = -1 when nothing is allowed). ``log_weight``: log of an
    unbiased estimate of ``Z``, the allowed probability mass under the model distribution after
    the repetition penalty and temperature (truncations are not part of it); exactly ``log Z``
    when a full mask was used. ``n_checks``: single-token grammar checks made. ``fell_back``:
    whether the full mask was computed. Unpacks as ``token_id, log_weight = sample``.
    """

    token_id: int
    log_weight: float
    n_checks: int = 0
    fell_back: bool = False

    def __iter__(self) -> Iterator[Any]:
        yield self.token_id
        yield self.log_weight

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Any:
        return (self.token_id, self.log_weight)[i]


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidArgument(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be finite, got {value}")
    return value


@dataclass(frozen=True)
class SamplingParams:
    """The logits transforms, applied in this order: repetition penalty, temperature, the
    grammar mask, top-k, top-p, min-p (truncations act on the masked distribution).

    ``temperature=0`` is greedy (the allowed token with the largest logit, lowest id on ties;
    truncations are then irrelevant). ``top_k=None``, ``top_p=1``, ``min_p=0`` and
    ``repetition_penalty=1`` (or None) disable their transform. Ties at a truncation
    boundary are kept: top-k keeps every token whose logit equals the k-th largest.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None

    def __post_init__(self) -> None:
        t = _check_number("temperature", self.temperature)
        if t < 0:
            raise InvalidArgument(f"temperature must be >= 0 (0 = greedy), got {t}")
        object.__setattr__(self, "temperature", t)
        if self.top_k is not None:
            if isinstance(self.top_k, bool) or not isinstance(self.top_k, (int, np.integer)):
                raise InvalidArgument(f"top_k must be an int or None, got "
                                      f"{type(self.top_k).__name__}")
            if self.top_k < 1:
                raise InvalidArgument(f"top_k must be >= 1 (None disables it), got {self.top_k}")
            object.__setattr__(self, "top_k", int(self.top_k))
        if self.top_p is not None:
            p = _check_number("top_p", self.top_p)
            if not 0 < p <= 1:
                raise InvalidArgument(f"top_p must be in (0, 1], got {p}")
            object.__setattr__(self, "top_p", None if p == 1 else p)
        if self.min_p is not None:
            q = _check_number("min_p", self.min_p)
            if not 0 <= q <= 1:
                raise InvalidArgument(f"min_p must be in [0, 1], got {q}")
            object.__setattr__(self, "min_p", None if q == 0 else q)
        if self.repetition_penalty is not None:
            r = _check_number("repetition_penalty", self.repetition_penalty)
            if r <= 0:
                raise InvalidArgument(f"repetition_penalty must be > 0, got {r}")
            object.__setattr__(self, "repetition_penalty", None if r == 1 else r)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def truncates(self) -> bool:
        """Whether a truncation (top-k, top-p, min-p) is active (never for greedy)."""
        return not self.greedy and (self.top_k is not None or self.top_p is not None
                                    or self.min_p is not None)

    @property
    def inv_temperature(self) -> np.float32:
        """The float32 factor the logits are multiplied by (1 for greedy). Both samplers scale
        with this same float32 multiply, so their scaled logits are bit-identical."""
        return np.float32(1.0) if self.greedy else np.float32(1.0 / self.temperature)


def make_rng(seed: int | None = None, generator: Any = None) -> np.random.Generator:
    """A numpy Generator from a seed, a numpy Generator (used as is) or a torch.Generator
    (one 63-bit seed is drawn from it, so its state decides the stream)."""
    if generator is not None and seed is not None:
        raise InvalidArgument("pass either seed or generator, not both")
    if generator is None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise InvalidArgument(f"seed must be an int or None, got {type(seed).__name__}")
        return np.random.default_rng(seed)
    if isinstance(generator, np.random.Generator):
        return generator
    import torch

    if isinstance(generator, torch.Generator):
        s = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        return np.random.default_rng(s)
    raise InvalidArgument(f"generator must be a torch.Generator or numpy Generator, got "
                          f"{type(generator).__name__}")


def normalize_prev_ids(prev_ids: Any, *, vocab_size: int | None = None) -> np.ndarray | None:
    """Previous token ids of one sequence as a unique int64 array (None if empty); with
    ``vocab_size``, only the ids in ``[0, vocab_size)`` (the columns of the logits), None if
    none is."""
    if prev_ids is None:
        return None
    if hasattr(prev_ids, "detach"):
        prev_ids = prev_ids.detach().cpu().numpy()
    arr = np.asarray(prev_ids)
    if arr.size == 0:
        return None
    if arr.dtype.kind not in "iu":
        raise InvalidArgument(f"prev_ids must hold integers, got dtype {arr.dtype}")
    ids = np.unique(arr.reshape(-1).astype(np.int64))
    if vocab_size is not None:
        ids = ids[(ids >= 0) & (ids < vocab_size)]
        if not len(ids):
            return None
    return ids


def check_top(top: float) -> None:
    """Raise ``InvalidArgument`` when ``top``, the largest logit a sampler read in a row, is
    NaN or +inf (``max`` propagates NaN): no distribution is defined, and drawing anyway
    would return an arbitrary token. Free where the maximum is computed anyway."""
    if top != top or top == math.inf:
        raise InvalidArgument(
            f"logits hold {'NaN' if top != top else '+inf'}: every logit must be finite or "
            f"-inf (check the model's output, e.g. for a float16 overflow)")


def check_matchers(matchers: Sequence[Any], batch: int) -> None:
    if len(matchers) != batch:
        raise InvalidArgument(f"got {len(matchers)} matchers for {batch} rows of logits")
