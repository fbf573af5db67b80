"""``bytegram.generate``: constrained generation end to end, for one prompt or a batch.

Resolves the model (the bundled byte-level model, a transformers causal LM, or anything with
the ``LanguageModel`` protocol), compiles the constraint against the model's vocabulary,
and runs the decode loop with the chosen sampler ("awrs", "masked", "greedy" or "smc").
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import InvalidArgument
from .grammar import Grammar
from .masks import CompiledGrammar, Vocabulary, compile

__all__ = ["generate", "GenerationResult", "GenerationStats", "resolve_grammar",
           "resolve_model"]

SAMPLERS = ("awrs", "masked", "greedy", "smc")


@dataclass
class GenerationStats:
    """Where the time went: ``engine_seconds`` is sampling + grammar work, excluding the
    model's forward passes (``model_seconds``)."""

    tokens: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0
    engine_seconds: float = 0.0
    checks: int = 0
    fallbacks: int = 0
    sampler: str = ""

    @property
    def checks_per_token(self) -> float:
        return self.checks / self.tokens if self.tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "seconds": round(self.seconds, 4),
                "model_seconds": round(self.model_seconds, 4),
                "engine_seconds": round(self.engine_seconds, 4),
                "checks_per_token": round(self.checks_per_token, 2),
                "fallbacks": self.fallbacks, "sampler": self.sampler}


@dataclass
class GenerationResult:
    """One generated output. ``value`` is the parsed JSON when a schema was given and the
    output is complete; ``complete`` says whether end-of-sequence was reached (False when
    ``max_new_tokens`` ran out first)."""

    text: str
    token_ids: list[int]
    complete: bool
    value: Any = None
    stats: GenerationStats = field(default_factory=GenerationStats)


def resolve_grammar(*, schema: Any = None, regex: str | None = None,
                    grammar: Any = None) -> Grammar:
    """Exactly one of ``schema`` (dict, JSON text or Pydantic model), ``regex`` or ``grammar``
    (a ``Grammar`` or Lark text) -> ``Grammar``."""
    given = [n for n, v in (("schema", schema), ("regex", regex), ("grammar", grammar))
             if v is not None]
    if len(given) != 1:
        raise InvalidArgument(f"give exactly one of schema=, regex= or grammar= "
                              f"(got {', '.join(given) or 'none'})")
    if regex is not None:
        return Grammar.from_regex(regex)
    if grammar is not None:
        if isinstance(grammar, Grammar):
            return grammar
        if isinstance(grammar, str):
            return _require(Grammar, "from_lark", "Lark grammars")(grammar)
        raise InvalidArgument(f"grammar= wants a Grammar or Lark text, got "
                              f"{type(grammar).__name__}")
    return _require(Grammar, "from_json_schema", "JSON Schema")(schema)


def _require(obj: Any, name: str, what: str) -> Any:
    fn = getattr(obj, name, None)
    if fn is None:
        from .errors import Unsupported

        raise Unsupported(f"{what} are not supported by this build yet", feature=name)
    return fn


class _Model:
    """A resolved model: ``lm.logits(batch)``, its vocabulary and a text encoder."""

    def __init__(self, lm: Any, vocab: Vocabulary, encode: Any) -> None:
        self.lm = lm
        self.vocab = vocab
        self.encode = encode


def resolve_model(model: Any = None, *, tokenizer: Any = None) -> _Model:
    """``None``/"bundled" -> the bundled byte-level model; a transformers model (with its
    tokenizer) -> an adapter; anything with ``logits(batch)`` and either a ``vocab``
    attribute or a ``tokenizer=`` -> used as is."""
    if model is None or (isinstance(model, str) and model == "bundled"):
        from .models import ByteLM

        lm = ByteLM.load()
        return _Model(lm, lm.vocab, lm.encode)
    if isinstance(model, str):
        from .integrations.transformers import load_hf_model

        return resolve_model(*load_hf_model(model))
    if _is_hf_model(model):
        from .integrations.transformers import HFLanguageModel

        if tokenizer is None:
            raise InvalidArgument("a transformers model needs tokenizer= (its tokenizer)")
        lm = HFLanguageModel(model, tokenizer)
        return _Model(lm, lm.vocab, lm.encode)
    if callable(getattr(model, "logits", None)):
        vocab = getattr(model, "vocab", None)
        if not isinstance(vocab, Vocabulary):
            if tokenizer is None:
                raise InvalidArgument("this model has no .vocab: pass tokenizer= "
                                      "(a Vocabulary or a transformers tokenizer)")
            vocab = tokenizer if isinstance(tokenizer, Vocabulary) else Vocabulary.from_hf(tokenizer)
        encode = getattr(model, "encode", None)
        if encode is None and tokenizer is not None and hasattr(tokenizer, "encode") \
                and not isinstance(tokenizer, Vocabulary):
            encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
        if encode is None:
            encode = _greedy_encoder(vocab)
        return _Model(model, vocab, encode)
    raise InvalidArgument(f"model must be None (bundled), a transformers model, or have a "
                          f"logits(batch) method; got {type(model).__name__}")


def _is_hf_model(model: Any) -> bool:
    return hasattr(model, "config") and hasattr(model, "forward") \
        and hasattr(model, "get_input_embeddings")


def _greedy_encoder(vocab: Vocabulary) -> Any:
    """Longest-match encoding over the vocabulary's text tokens (for prompts only)."""
    table = {}
    for i, b in enumerate(vocab.token_bytes):
        if b and not vocab.is_special(i):
            table.setdefault(b, i)
    longest = max((len(b) for b in table), default=1)

    def encode(text: str) -> list[int]:
        data = text.encode("utf-8")
        out, i = [], 0
        while i < len(data):
            for n in range(min(longest, len(data) - i), 0, -1):
                t = table.get(data[i:i + n])
                if t is not None:
                    out.append(t)
                    i += n
                    break
            else:
                raise InvalidArgument(f"byte {data[i]:#x} of the prompt has no token")
        return out

    return encode


def _make_sampler(kind: str, *, temperature: float, top_p: float, seed: int | None) -> Any:
    from .samplers import AdaptiveRejectionSampler, MaskedSampler

    # the decode loop never reads the weights (only SMC does): skip their estimate
    top_p_arg = None if top_p is None or top_p >= 1.0 else top_p
    if kind == "greedy":
        return AdaptiveRejectionSampler(temperature=0.0, seed=seed, compute_weights=False)
    if kind == "masked":
        return MaskedSampler(temperature=temperature, top_p=top_p_arg, seed=seed,
                             compute_weights=False)
    return AdaptiveRejectionSampler(temperature=temperature, top_p=top_p_arg, seed=seed,
                                    compute_weights=False)


def generate(model: Any = None, prompt: str | Sequence[str] = "", *, schema: Any = None,
             regex: str | None = None, grammar: Any = None, tokenizer: Any = None,
             sampler: str = "awrs", max_new_tokens: int = 256, temperature: float = 1.0,
             top_p: float = 1.0, seed: int | None = None, n_particles: int = 8,
             compiled: CompiledGrammar | None = None,
             ) -> GenerationResult | list[GenerationResult]:
    """Generate text from ``model`` after ``prompt`` that satisfies the constraint.

    Give one of ``schema`` (JSON Schema), ``regex`` or ``grammar`` (Lark text or a
    ``Grammar``), or a ready ``compiled`` grammar for the model's vocabulary. ``model``
    defaults to the bundled byte-level model. ``sampler``: "awrs" (adaptive rejection,
    default), "masked", "greedy", or "smc" (``n_particles`` particles; returns the particle
    drawn by weight). A list of prompts gives a list of results (batched model calls).
    """
    if sampler not in SAMPLERS:
        raise InvalidArgument(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
            or max_new_tokens < 1:
        raise InvalidArgument(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
    resolved = resolve_model(model, tokenizer=tokenizer)
    if compiled is None:
        compiled = compile(resolve_grammar(schema=schema, regex=regex, grammar=grammar),
                           resolved.vocab)
    is_json = schema is not None
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if sampler == "smc":
        results = [_run_smc(resolved, compiled, p, n_particles=n_particles,
                            max_new_tokens=max_new_tokens, temperature=temperature,
                            seed=seed, is_json=is_json) for p in prompts]
    else:
        results = _run_batch(resolved, compiled, prompts, sampler=sampler,
                             max_new_tokens=max_new_tokens, temperature=temperature,
                             top_p=top_p, seed=seed, is_json=is_json)
    return results[0] if isinstance(prompt, str) else results


def _finish(vocab: Vocabulary, ids: list[int], complete: bool, is_json: bool,
            stats: GenerationStats) -> GenerationResult:
    text = vocab.decode(ids).decode("utf-8", errors="replace")
    value = None
    if is_json and complete:
        value = json.loads(text)
    return GenerationResult(text, ids, complete, value, stats)


def _run_batch(resolved: _Model, compiled: CompiledGrammar, prompts: list[str], *,
               sampler: str, max_new_tokens: int, temperature: float, top_p: float,
               seed: int | None, is_json: bool) -> list[GenerationResult]:
    smp = _make_sampler(sampler, temperature=temperature, top_p=top_p, seed=seed)
    prompt_ids = [list(resolved.encode(p)) for p in prompts]
    matchers = [compiled.matcher() for _ in prompts]
    gen: list[list[int]] = [[] for _ in prompts]
    stats = [GenerationStats(sampler=sampler) for _ in prompts]
    eos = set(int(e) for e in compiled.eos_ids)
    active = list(range(len(prompts)))
    t_start = time.perf_counter()
    for _ in range(max_new_tokens):
        if not active:
            break
        t0 = time.perf_counter()
        logits = resolved.lm.logits([prompt_ids[i] + gen[i] for i in active])
        t1 = time.perf_counter()
        samples = smp.sample_batch(logits, [matchers[i] for i in active])
        still = []
        for i, s in zip(active, samples):
            st = stats[i]
            st.checks += s.n_checks
            st.fallbacks += int(s.fell_back)
            if s.token_id < 0 or not matchers[i].accept(s.token_id):
                continue  # nothing allowed: a dead end (cannot happen for a trimmed grammar)
            st.tokens += 1
            if s.token_id in eos:
                continue
            gen[i].append(s.token_id)
            still.append(i)
        t2 = time.perf_counter()
        for i in active:
            stats[i].model_seconds += t1 - t0
            stats[i].engine_seconds += t2 - t1
        active = still
    elapsed = time.perf_counter() - t_start
    out = []
    for i in range(len(prompts)):
        stats[i].seconds = elapsed
        out.append(_finish(resolved.vocab, gen[i], matchers[i].is_terminated(), is_json,
                           stats[i]))
    return out


def _run_smc(resolved: _Model, compiled: CompiledGrammar, prompt: str, *, n_particles: int,
             max_new_tokens: int, temperature: float, seed: int | None,
             is_json: bool) -> GenerationResult:
    from .samplers import SMC, AdaptiveRejectionSampler

    t0 = time.perf_counter()
    smc = SMC(resolved.lm, compiled, n_particles=n_particles, max_new_tokens=max_new_tokens,
              sampler=AdaptiveRejectionSampler(temperature=temperature, seed=seed), seed=seed)
    res = smc.run(resolved.encode(prompt))
    w = res.weights
    stats = GenerationStats(sampler="smc", seconds=time.perf_counter() - t0)
    eos = set(int(e) for e in compiled.eos_ids)
    if w.sum() <= 0:
        return _finish(resolved.vocab, [], False, is_json, stats)
    pick = int(np.random.default_rng(seed).choice(len(w), p=w / w.sum()))
    ids = [t for t in res.sequences[pick] if t not in eos]
    stats.tokens = len(res.sequences[pick])
    return _finish(resolved.vocab, ids, bool(res.complete[pick]), is_json, stats)
