"""The fast token masks against the slow reference (bytegram.testing) on random walks."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bytegram
from bytegram import Grammar, Vocabulary
from bytegram.testing import reference_dfa_mask

REGEXES = {
    "phone": r"\(?[0-9]{3}\)?[ -]?[0-9]{3}-[0-9]{4}",
    "date": r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
    "email": r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,6}",
    "float": r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?",
    "greek_cyrillic": r"[α-ωА-я]+( [α-ωА-я]+)*",
    "cjk_emoji": "[\u4e00-\u9fff\U0001F600-\U0001F64F]{1,10}",
    "colors": r"(red|green|blue|yellow|purple)( and (red|green|blue))?",
    "bounded": r"[a-z]{0,300}",
    "json_string": r'"([^"\\\x00-\x1f]|\\["\\/bfnrt])*"',
    "words": r"( ?[A-Z][a-z]+){1,6}\.",
}


def walk_and_compare(compiled, vocab, rng: random.Random, steps: int, *,
                     check_ids: int = 64) -> int:
    """Walk random allowed tokens; at every state compare the fast mask to the reference."""
    m = compiled.matcher()
    prefix = b""
    bitmask = compiled.allocate_bitmask(1)
    visited = 0
    eos = set(vocab.eos_ids)
    for _ in range(steps):
        ref = reference_dfa_mask(compiled.dfa, vocab, prefix)
        m.fill_bitmask(bitmask)
        fast = bytegram.unpack_bitmask(bitmask, vocab.size)[0]
        assert np.array_equal(fast, ref), (
            f"mask differs after {prefix!r}: extra {np.flatnonzero(fast & ~ref)[:10]}, "
            f"missing {np.flatnonzero(ref & ~fast)[:10]}")
        assert np.array_equal(m.allowed_ids(), np.flatnonzero(ref))
        allowed = np.flatnonzero(ref)
        if vocab.size <= 5000:  # small vocabularies: check every id
            probe = list(range(vocab.size + 40))
        else:
            probe = rng.sample(range(vocab.size), check_ids) + [vocab.size, vocab.size + 7]
            probe += [int(x) for x in rng.sample(list(allowed), min(check_ids, len(allowed)))]
        for t in probe:
            assert m.is_allowed(t) == (t < vocab.size and bool(ref[t])), (prefix, t)
        visited += 1
        text = [int(t) for t in allowed if t not in eos]
        if not text:
            break
        tok = rng.choice(text)
        assert m.accept(tok)
        prefix += vocab.token_bytes[tok]
    return visited


@pytest.mark.parametrize("name", sorted(REGEXES))
def test_byte_vocab_walks(name):
    vocab = Vocabulary.byte_level()
    compiled = bytegram.compile(Grammar.from_regex(REGEXES[name]), vocab)
    rng = random.Random(hash(name) % 1000)
    for _ in range(5):
        assert walk_and_compare(compiled, vocab, rng, 25) >= 1


@pytest.mark.parametrize("name", sorted(REGEXES))
def test_gpt2_walks(name, gpt2_vocab):
    compiled = bytegram.compile(Grammar.from_regex(REGEXES[name]), gpt2_vocab)
    rng = random.Random(7)
    for _ in range(3):
        walk_and_compare(compiled, gpt2_vocab, rng, 6)


@pytest.mark.parametrize("name", ["email", "cjk_emoji", "bounded", "json_string", "float"])
def test_llama3_walks(name, llama3_vocab):
    compiled = bytegram.compile(Grammar.from_regex(REGEXES[name]), llama3_vocab)
    walk_and_compare(compiled, llama3_vocab, random.Random(3), 4)


def test_sampled_multibyte_vocab(llama3_vocab):
    """A vocabulary of partial UTF-8 sequences and long tokens, from Llama-3's own."""
    rng = random.Random(11)
    toks = sorted({b for b in llama3_vocab.token_bytes if b}, key=len)
    pool = rng.sample(toks, 3000) + [bytes([b]) for b in range(256)] + toks[-50:]
    vocab = Vocabulary.from_bytes_list(pool + [b"<eos>"], eos_ids=[len(pool)],
                                       special_ids=[len(pool)])
    for name in ("cjk_emoji", "greek_cyrillic", "json_string"):
        compiled = bytegram.compile(Grammar.from_regex(REGEXES[name]), vocab)
        for _ in range(4):
            walk_and_compare(compiled, vocab, rng, 12)


# -- hypothesis: random regexes over a small alphabet ----------------------------------------

ATOMS = st.sampled_from(["a", "b", "c", "[ab]", "[^a]", ".", "é", "[a-c]", "ab", "\\d"])


def _regex_strategy():
    return st.recursive(
        ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: p[0] + p[1]),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}|{p[1]})"),
            inner.map(lambda r: f"({r})*"),
            inner.map(lambda r: f"({r})+"),
            inner.map(lambda r: f"({r})?"),
            st.tuples(inner, st.integers(0, 3), st.integers(0, 3)).map(
                lambda p: f"({p[0]}){{{min(p[1], p[2])},{max(p[1], p[2])}}}"),
        ),
        max_leaves=6,
    )


SMALL_TOKENS = [b"a", b"b", b"c", b"ab", b"ba", b"abc", b"\xc3", b"\xa9", b"\xc3\xa9", b"1",
                b"12", b"x", b"\n", b"aa", b"caba", "é1".encode(), b"<eos>"]


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(pattern=_regex_strategy(), seed=st.integers(0, 10_000))
def test_random_regexes_small_vocab(pattern, seed):
    vocab = Vocabulary.from_bytes_list(SMALL_TOKENS, eos_ids=[len(SMALL_TOKENS) - 1],
                                       special_ids=[len(SMALL_TOKENS) - 1])
    compiled = bytegram.compile(Grammar.from_regex(pattern), vocab)
    walk_and_compare(compiled, vocab, random.Random(seed), 8)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(pattern=_regex_strategy(), seed=st.integers(0, 10_000))
def test_random_regexes_byte_vocab(pattern, seed):
    vocab = Vocabulary.byte_level()
    compiled = bytegram.compile(Grammar.from_regex(pattern), vocab)
    walk_and_compare(compiled, vocab, random.Random(seed), 8)


# -- matcher behaviour -----------------------------------------------------------------------

def _byte_vocab_with_eos():
    return Vocabulary.from_bytes_list([bytes([b]) for b in range(256)] + [b"</s>"],
                                      eos_ids=[256], special_ids=[256])


def test_forbidden_token_leaves_matcher_unchanged():
    vocab = _byte_vocab_with_eos()
    m = bytegram.compile(Grammar.from_regex("ab"), vocab).matcher()
    assert m.accept(ord("a"))
    before = m.allowed_ids().tolist()
    assert not m.accept(ord("x"))
    assert not m.accept(256)  # eos before the language accepts
    assert not m.accept(10_000)  # out of range
    assert not m.accept_bytes(b"zz")
    assert m.allowed_ids().tolist() == before == [ord("b")]
    assert m.num_steps == 1


def test_eos_only_when_accepting_and_terminates():
    vocab = _byte_vocab_with_eos()
    m = bytegram.compile(Grammar.from_regex("a+"), vocab).matcher()
    assert not m.is_allowed(256) and not m.is_accepting()
    assert m.accept(ord("a"))
    assert m.is_allowed(256) and m.is_accepting()
    assert m.allowed_ids().tolist() == [ord("a"), 256]
    assert m.accept(256) and m.is_terminated()
    assert m.allowed_ids().tolist() == [] and not m.is_allowed(ord("a"))
    m.rollback(1)
    assert not m.is_terminated() and m.is_allowed(ord("a"))


def test_fork_and_rollback_are_independent():
    vocab = Vocabulary.byte_level()
    m = bytegram.compile(Grammar.from_regex("(ab|ac)d"), vocab).matcher()
    assert m.accept_bytes(b"a")
    f = m.fork()
    assert f.accept(ord("b")) and m.accept(ord("c"))
    assert f.allowed_ids().tolist() == m.allowed_ids().tolist() == [ord("d")]
    assert f.accept(ord("d")) and f.is_accepting() and not m.is_accepting()
    f.rollback(2)
    assert f.allowed_ids().tolist() == [ord("b"), ord("c")]
    with pytest.raises(bytegram.InvalidArgument):
        f.rollback(5)
    f.reset()
    assert f.num_steps == 0 and f.allowed_ids().tolist() == [ord("a")]


def test_special_tokens_never_allowed_as_text(gpt2_vocab):
    """Token 50256's text "<|endoftext|>" fits the regex, but a special token is not text."""
    compiled = bytegram.compile(Grammar.from_regex(r"<\|endoftext\|>x"), gpt2_vocab)
    m = compiled.matcher()
    assert 50256 in gpt2_vocab.eos_ids
    assert not m.is_allowed(50256) and 50256 not in m.allowed_ids()
    assert m.accept_bytes(b"<|endoftext|>")
    assert not m.is_allowed(50256)
    assert m.accept_bytes(b"x") and m.is_allowed(50256)


def test_padded_width_torch_and_numpy():
    vocab = _byte_vocab_with_eos()
    compiled = bytegram.compile(Grammar.from_regex("[a-c]+"), vocab)
    m = compiled.matcher()
    m.accept_bytes(b"a")
    np_mask = compiled.allocate_bitmask(3, vocab_size=1000)
    np_mask[:] = -1
    m.fill_bitmask(np_mask, row=1)
    t_mask = compiled.allocate_bitmask(2, vocab_size=1000, backend="torch")
    t_mask.fill_(-1)
    m.fill_bitmask(t_mask, row=0)
    for row in (bytegram.unpack_bitmask(np_mask, 1000)[1], bytegram.unpack_bitmask(t_mask, 1000)[0]):
        assert np.flatnonzero(row).tolist() == [97, 98, 99, 256]
    assert (np_mask[0] == -1).all() and (t_mask[1] == -1).all()
    with pytest.raises(bytegram.InvalidArgument):
        m.fill_bitmask(np.zeros((1, 2), np.int32))
    with pytest.raises(bytegram.InvalidArgument):
        m.fill_bitmask(torch.zeros((1, 32), dtype=torch.float32))


def test_bounded_repetition_merges_states(gpt2_vocab):
    """[a-z]{0,5000}: 5,001 DFA states but only ~depth+1 distinct masks."""
    compiled = bytegram.compile(Grammar.from_regex("[a-z]{0,5000}"), gpt2_vocab)
    assert compiled.dfa.n_states == 5001
    assert compiled.index.n_classes <= compiled.index.trie.depth + 2
    m = compiled.matcher()
    for _ in range(100):
        m.accept_bytes(b"abcdefghij")
    walk_and_compare(compiled, gpt2_vocab, random.Random(0), 3)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(v=st.one_of(st.integers(1, 400), st.sampled_from([5000, 50_000, 128_256])),
       extra_words=st.integers(-2, 2),
       density=st.sampled_from([0.0, 0.001, 0.005, 0.01, 0.03, 0.3, 0.5, 0.9, 0.97, 1.0]),
       seed=st.integers(0, 2**31))
def test_unpack_ids_match_unpack_bitmask(v, extra_words, density, seed):
    """unpack_ids lists the set bits below ``v`` that unpack_bitmask finds, ascending, as
    int64, on each of its paths: a few words (Python), a minority of nonzero words (their
    bits only: densities 0.005-0.01) and mostly nonzero words (every bit)."""
    from bytegram.masks.bitmask import unpack_ids

    rng = np.random.default_rng(seed)
    words = max(0, (v + 31) // 32 + extra_words)
    packed = np.packbits(rng.random(words * 32) < density, bitorder="little").view(np.int32)
    want = np.flatnonzero(bytegram.unpack_bitmask(packed[None], v)[0])
    got = unpack_ids(packed, v)
    assert got.dtype == np.int64 and np.array_equal(got, want)
