"""Context-free token masks against the slow Earley reference (bytegram.testing) on random walks.

Every mask the walks visit must equal ``reference_cfg_mask`` exactly; ``is_allowed`` must
agree with it on every id (byte vocabulary) or on a sample (larger vocabularies). Real
tokenizers are too large for the oracle, so GPT-2 and Llama-3 are sampled: 1,500 random real
tokens, every real token that occurs inside the grammar's sample text (multi-terminal tokens
such as ``"},{"``), all single bytes, and an end-of-sequence token.
"""

from __future__ import annotations

import random
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bytegram
from bytegram import Grammar, Vocabulary
from bytegram.testing import EarleyRecognizer, reference_cfg_mask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfg_grammars import GBNF_LIST, LARK, SAMPLES  # noqa: E402
from conftest import data_file  # noqa: E402

GRAMMARS = sorted([*LARK, "json", "json_flexible", "gbnf"])


@lru_cache(maxsize=None)
def grammar(name: str) -> Grammar:
    if name == "json":
        return Grammar.json()
    if name == "json_flexible":
        return Grammar.json(whitespace="flexible", max_whitespace=3)
    if name == "gbnf":
        return Grammar.from_gbnf(GBNF_LIST)
    return Grammar.from_lark(LARK[name])


@lru_cache(maxsize=None)
def recognizer(name: str) -> EarleyRecognizer:
    return EarleyRecognizer(grammar(name).ir)


@lru_cache(maxsize=None)
def byte_vocab() -> Vocabulary:
    return Vocabulary.byte_level(eos_id=256)


@lru_cache(maxsize=None)
def full_vocab(which: str) -> Vocabulary:
    return Vocabulary.from_tokenizer_json(data_file("tokenizers", which, "tokenizer.json"))


@lru_cache(maxsize=None)
def sampled_vocab(which: str, name: str) -> Vocabulary:
    """A sub-vocabulary of a real tokenizer (see the module docstring)."""
    full = full_vocab(which)
    rng = random.Random(f"{which}:{name}")
    text = [i for i in range(full.size) if i not in full.special_ids]
    sample = SAMPLES[name]
    toks = {full.token_bytes[i] for i in rng.sample(text, 1500)}
    toks |= {full.token_bytes[i] for i in text if full.token_bytes[i] in sample}
    toks |= {bytes([b]) for b in range(256)}
    ordered = sorted(toks)
    rng.shuffle(ordered)
    return Vocabulary.from_bytes_list(ordered + [b"<eos>"], eos_ids=[len(ordered)],
                                      special_ids=[len(ordered)])


@lru_cache(maxsize=None)
def compiled(name: str, vocab: Vocabulary):
    return bytegram.compile(grammar(name), vocab)


def check_state(c, m, name: str, vocab: Vocabulary, prefix: bytes, rng: random.Random,
                *, probes: int) -> np.ndarray:
    """Compare the matcher's mask, allowed ids and is_allowed with the reference."""
    ref = reference_cfg_mask(grammar(name).ir, vocab, prefix, recognizer=recognizer(name))
    ids = [int(t) for t in (range(vocab.size + 3) if vocab.size <= 300 else (
        rng.sample(range(vocab.size), probes)
        + rng.sample(list(np.flatnonzero(ref)), min(probes, int(ref.sum())))))]

    def probe(when: str) -> None:
        for t in ids:
            assert m.is_allowed(t) == (t < vocab.size and bool(ref[t])), (name, prefix, t, when)

    # is_allowed walks the token's bytes from the readings whose mask is not cached (usually
    # none is before the first mask of a state), and answers from the cached masks after
    probe("before the mask")
    bitmask = c.allocate_bitmask(1, vocab_size=vocab.size + 40)
    m.fill_bitmask(bitmask)
    fast = bytegram.unpack_bitmask(bitmask)[0]
    assert not fast[vocab.size:].any(), "padding ids must never be allowed"
    fast = fast[: vocab.size]
    assert np.array_equal(fast, ref), (
        f"{name}: mask differs after {prefix!r}: extra "
        f"{[vocab.token_bytes[i] for i in np.flatnonzero(fast & ~ref)[:8]]}, missing "
        f"{[vocab.token_bytes[i] for i in np.flatnonzero(ref & ~fast)[:8]]}")
    assert np.array_equal(m.allowed_ids(), np.flatnonzero(ref))
    assert m.is_accepting() == bool(recognizer(name).accepts(prefix))
    probe("after the mask")
    return ref


def walk(name: str, vocab: Vocabulary, seed: int, *, steps: int, probes: int = 40) -> int:
    """Start after a random valid prefix of the sample text, then take random allowed
    tokens (longer ones preferred), checking every state against the reference."""
    c = compiled(name, vocab)
    rng = random.Random(seed)
    m = c.matcher()
    sample = SAMPLES[name]
    cut = rng.randrange(len(sample) + 1)
    assert m.accept_bytes(sample[:cut]) or cut == 0
    prefix = sample[:cut]
    eos = set(int(e) for e in vocab.eos_ids)
    visited = 0
    for _ in range(steps):
        ref = check_state(c, m, name, vocab, prefix, rng, probes=probes)
        visited += 1
        allowed = [int(t) for t in np.flatnonzero(ref) if int(t) not in eos]
        if not allowed:
            break
        weights = [len(vocab.token_bytes[t]) ** 2 for t in allowed]
        tok = rng.choices(allowed, weights)[0]
        assert m.accept(tok)
        prefix += vocab.token_bytes[tok]
    return visited


SETTINGS = dict(derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name", GRAMMARS)
@settings(max_examples=6, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_byte_vocab_walks(name, seed):
    assert walk(name, byte_vocab(), seed, steps=10) >= 1


@pytest.mark.parametrize("name", GRAMMARS)
@settings(max_examples=2, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_gpt2_sampled_walks(name, seed):
    assert walk(name, sampled_vocab("gpt2", name), seed, steps=6) >= 1


@pytest.mark.parametrize("name", GRAMMARS)
@settings(max_examples=2, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_llama3_sampled_walks(name, seed):
    assert walk(name, sampled_vocab("llama3", name), seed, steps=6) >= 1


def test_multi_terminal_tokens_are_exact():
    """Tokens spanning several terminals, judged after specific prefixes."""
    toks = [b'"},{"', b'":"', b'"]}', b'},', b'1,', b'"]', b'":', b'}]', b'":[', b'e+',
            b'"x"', b"]]", b",{", b"1e", b'",', b"true}", b"null,"]
    toks += [bytes([b]) for b in range(256)]
    vocab = Vocabulary.from_bytes_list(toks)
    c = bytegram.compile(Grammar.json(), vocab)
    for prefix in (b'[{"a":"b', b'{"a":[{"b":1', b'{"a":"x', b'[1', b'[{"a":[1],"b":"c',
                   b'{"a":{"b":[[', b'[[1]', b"{", b'{"a":tru'):
        m = c.matcher()
        assert m.accept_bytes(prefix)
        ref = reference_cfg_mask(grammar("json").ir, vocab, prefix, recognizer=recognizer("json"))
        assert np.array_equal(m.allowed_ids(), np.flatnonzero(ref)), prefix
        for t in range(len(toks)):
            assert m.is_allowed(t) == bool(ref[t]), (prefix, toks[t])


def test_full_llama3_json_document(llama3_vocab):
    """A real document tokenized by Llama-3 walks through, and every token is allowed."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(data_file("tokenizers", "llama3", "tokenizer.json")))
    doc = SAMPLES["json"].decode()
    ids = tok.encode(doc, add_special_tokens=False).ids
    c = bytegram.compile(Grammar.json(), llama3_vocab)
    m = c.matcher()
    bitmask = c.allocate_bitmask(1)
    for i in ids:
        m.fill_bitmask(bitmask)
        assert bytegram.unpack_bitmask(bitmask, llama3_vocab.size)[0][i]
        assert m.is_allowed(i)
        assert m.accept(i)
    assert m.is_accepting()
    eos = int(llama3_vocab.eos_ids[0])
    assert m.is_allowed(eos) and m.accept(eos) and m.is_terminated()
