"""The token trie's automaton walk (``TokenTrie.walk_live``) against the token-by-token
reference, on random vocabularies with deep chains (long runs of one byte, as real
vocabularies have) and random automata, in each of its modes: levels walked whole, live
nodes expanded, dense and sparse results, walks from a state or from chosen first bytes;
and the tokens it keeps alive (``live_positions``, behind regex masks)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bytegram.masks import trie as trie_mod
from bytegram.masks.trie import TokenTrie, coded_table
from bytegram.testing import reference_token_states

ALPHABET = b"ab-\" "


@st.composite
def vocabularies(draw):
    words = draw(st.lists(st.binary(min_size=1, max_size=6).map(
        lambda w: bytes(ALPHABET[b % len(ALPHABET)] for b in w)), min_size=1, max_size=60))
    runs = draw(st.lists(st.tuples(st.sampled_from(list(ALPHABET)),
                                   st.integers(1, 40)), max_size=6))
    words += [bytes([b]) * n for b, n in runs]
    return sorted(set(words))


@st.composite
def automata(draw):
    n = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    table = rng.integers(-1, n, size=(n, 256))
    table[:, rng.random(256) < 0.3] = -1  # some bytes dead everywhere
    return table, int(rng.integers(0, n))


def _walk(trie: TokenTrie, table: np.ndarray, state: int, first=None) -> np.ndarray:
    """Per trie token position, the state it ends in (-1 dead), via walk_live."""
    shifted = np.zeros((len(table) + 1, 256), dtype=np.int32)
    shifted[1:] = table + 1
    flat = shifted.ravel()

    def step(states, data):
        states <<= 8
        states += data
        return flat.take(states)

    final, nodes, states = trie.walk_live(step, state + 1, first=first) if first is None \
        else trie.walk_live(step, first=first)
    n_nodes = int(trie.level_offset[-1])
    if final is None:
        assert len(nodes) == len(set(nodes.tolist())) and (states > 0).all()
        final = np.zeros(n_nodes, dtype=np.int32)
        final[nodes] = states
    return final[trie.token_global].astype(np.int64) - 1


@pytest.mark.parametrize("small", [0, 3, 2048])
@settings(max_examples=60, deadline=None, derandomize=True)
@given(words=vocabularies(), dfa=automata())
def test_walk_live_matches_token_by_token(small, words, dfa):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trie_mod, "_SMALL_LEVEL", small)
        _check(words, dfa)


def _check(words, dfa) -> None:
    table, state = dfa
    trie = TokenTrie.build(words, np.arange(len(words)))
    tokens = [words[i] for i in trie.token_ids.tolist()]
    want = reference_token_states(tokens, table, state)
    assert np.array_equal(_walk(trie, table, state), want)
    live = trie.live_positions(coded_table(table), state)  # (the regex masks' walk)
    assert sorted(live.tolist()) == np.flatnonzero(want >= 0).tolist()
    # from chosen first bytes: only those subtrees are walked
    succ = table[state].take(trie.level_bytes[0])
    first = np.zeros(len(succ), dtype=np.int32)
    chosen = np.arange(len(succ)) % 2 == 0
    first[chosen] = succ[chosen] + 1
    got = _walk(trie, table, state, first=first)
    in_chosen = np.isin(np.array([t[0] for t in tokens]), trie.level_bytes[0][chosen])
    assert np.array_equal(got, np.where(in_chosen, want, -1))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(words=vocabularies(), auto=automata(), pick=st.integers(0, 2**32 - 1),
       stop_at=st.integers(-1, 5))
def test_walk_tokens_matches_reference(words, auto, pick, stop_at):
    """``walk_tokens`` on a chosen subset of tokens: the final state of each equals the
    token-by-token reference; with ``stop``, a token is retired on the first byte that
    reaches the stop state and keeps that state."""
    table, state = auto
    trie = TokenTrie.build(words, np.arange(len(words)))
    tokens = [words[i] for i in trie.token_ids.tolist()]
    rng = np.random.default_rng(pick)
    pos = np.sort(rng.choice(len(tokens), size=rng.integers(0, len(tokens) + 1),
                             replace=False)).astype(np.int64)
    flat = coded_table(table)

    def step(codes, data):
        codes += data
        return flat.take(codes)

    if stop_at < 0:
        codes, stopped = trie.walk_tokens(pos, (state + 1) << 8, step)
        want = reference_token_states([tokens[p] for p in pos.tolist()], table, state)
        assert stopped is None and ((codes >> 8) - 1).tolist() == want.tolist()
        return
    codes, stopped = trie.walk_tokens(pos, (state + 1) << 8, step,
                                      stop=lambda c: c == (stop_at + 1) << 8)
    for n, p in enumerate(pos.tolist()):
        q, hit = state, False
        for b in tokens[p]:
            q = int(table[q, b])
            if q < 0 or q == stop_at:
                hit = q == stop_at
                break
        assert codes[n] == (q + 1) << 8 and stopped[n] == hit, (tokens[p], q)
