"""Per-terminal token classes (masks/lexeme_classes.py) against the token-by-token reference,
the trie's subtree ranges against the bytes, and CFG masks built from those classes against
masks built by walking the whole trie, on JSON Schema grammars and real vocabularies."""

from __future__ import annotations

import random

import numpy as np
import pytest

import bytegram
from bytegram import Grammar, Vocabulary
from bytegram.grammar.dfa import ByteDFA
from bytegram.grammar.regex import regex_to_dfa
from bytegram.masks import lexeme_classes
from bytegram.masks.vocab_index import vocab_index
from bytegram.testing import reference_pair_classes

REGEXES = [
    r'"(?:[^"\\]|\\.){0,5}"',
    r'"(?:[^"\\]|\\.)*"',
    r'"alpha_beta"',
    r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?",
    r"[a-z ]{0,12}",
    r"(?:ab|abc)+x?",
    r"he(?:llo)?",  # a literal with an accepting state inside it
    r"(?:ab)*",  # single-byte states in a cycle: not a literal
    r'"\\u00e9 caf\xc3\xa9 the_longest_property_name_of_all"',
    r'"(?:n|\\u006[eE])(?:a|\\u0061)me"',  # a property name and its escaped spellings
    r'"(?:alpha|beta|gamma|delta)"?',  # a small enum (accepting inside)
    r'"ab[^"]*"',  # narrow, then a wide state: the trie walk takes over
]


def _dense(cls: np.ndarray, n: int) -> np.ndarray:
    if cls.dtype == bool:
        return cls
    out = np.zeros(n, dtype=bool)
    out[cls] = True
    return out


def _sample_vocab(vocab: Vocabulary, seed: int, n: int = 2500) -> Vocabulary:
    """Random real tokens, every token with a quote or a backslash, and all single bytes."""
    rng = random.Random(seed)
    toks = [b for b in vocab.token_bytes if b]
    pick = set(rng.sample(toks, n)) | {b for b in toks if b'"' in b or b"\\" in b}
    pick |= {bytes([i]) for i in range(256)}
    return Vocabulary.from_bytes_list(sorted(pick))


def _random_dfa(rng: np.random.Generator, n: int) -> ByteDFA:
    """A random DFA over a few byte classes; not trimmed, accepting states with ways on."""
    classes = rng.integers(0, 4, size=256)
    per_class = rng.integers(-1, n, size=(n, 4))
    trans = per_class[:, classes].astype(np.int32)
    return ByteDFA(trans, rng.random(n) < 0.3)


@pytest.fixture(scope="module")
def small_vocab(gpt2_vocab):
    return _sample_vocab(gpt2_vocab, 0)


def _check_all_states(trie, tokens, dfa):
    n = len(tokens)
    for q in range(dfa.n_states):
        got = lexeme_classes.pair_classes(trie, dfa, q)
        for cls in (got.inside, got.completes):  # positions: sorted, each once
            assert cls.dtype == bool or bool(np.all(np.diff(cls) > 0)), q
        inside, completes = reference_pair_classes(tokens, dfa, q)
        assert np.array_equal(_dense(got.inside, n), inside), ("inside", q)
        assert np.array_equal(_dense(got.completes, n), completes), ("completes", q)


@pytest.mark.parametrize("pattern", REGEXES)
def test_pair_classes_match_reference(small_vocab, pattern):
    vi = vocab_index(small_vocab)
    tokens = [vi.text_bytes[i] for i in vi.trie.token_ids.tolist()]
    _check_all_states(vi.trie, tokens, regex_to_dfa(pattern))


@pytest.mark.parametrize("seed", range(6))
def test_pair_classes_random_dfas(small_vocab, seed):
    vi = vocab_index(small_vocab)
    tokens = [vi.text_bytes[i] for i in vi.trie.token_ids.tolist()]
    _check_all_states(vi.trie, tokens, _random_dfa(np.random.default_rng(seed), 7))


def test_pair_classes_shared_by_content(small_vocab):
    """Two DFA objects with the same content share one cached result."""
    vi = vocab_index(small_vocab)
    a = regex_to_dfa(r'"[a-z]*"')
    b = ByteDFA(a.transitions.copy(), a.accepting.copy())
    assert lexeme_classes.pair_classes(vi.trie, a, 1) is lexeme_classes.pair_classes(vi.trie, b, 1)


def test_node_ranges_cover_prefixes(small_vocab):
    vi = vocab_index(small_vocab)
    trie = vi.trie
    tokens = [vi.text_bytes[i] for i in trie.token_ids.tolist()]
    end_hi, sub_lo, sub_hi = trie.node_ranges
    rng = np.random.default_rng(1)
    for g in rng.choice(int(trie.level_offset[-1]), size=300, replace=False).tolist():
        level = int(np.searchsorted(trie.level_offset, g, side="right")) - 1
        node = g - int(trie.level_offset[level])
        path = []
        for lv in range(level, -1, -1):
            path.append(int(trie.level_bytes[lv][node]))
            node = int(trie.level_parent[lv][node])
        prefix = bytes(reversed(path))
        below = [p for p, t in enumerate(tokens) if t.startswith(prefix)]
        ending = [p for p, t in enumerate(tokens) if t == prefix]
        assert below == list(range(sub_lo[g], sub_hi[g]))
        assert ending == list(range(sub_lo[g], end_hi[g]))


SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string"},
                                      "tag": {"type": "string", "maxLength": 6},
                                      "kind": {"enum": ["alpha", "beta", "a\"q"]}},
     "required": ["name"]},
    {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+-[0-9]{2,3}$"}},
    {"type": "object", "additionalProperties": {"type": "integer"},
     "properties": {"id": {"type": "string", "format": "uuid"}}},
    {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "boolean"},
                                      "c": {"type": ["string", "null"]}}},
]


@pytest.mark.parametrize("which", range(len(SCHEMAS)))
@pytest.mark.parametrize("order", ["schema", "any"])
def test_split_masks_equal_full_walk(gpt2_vocab, which, order):
    """Random walks: every mask from per-terminal classes equals the whole-trie walk's."""
    g = Grammar.from_json_schema(SCHEMAS[which], whitespace="flexible", property_order=order)
    fast = bytegram.compile(g, gpt2_vocab)
    full = bytegram.compile(g, gpt2_vocab)
    full.cfg_index.split = False
    rng = np.random.default_rng(which)
    for _ in range(3):
        a, b = fast.matcher(), full.matcher()
        for _ in range(40):
            ids = a.allowed_ids()
            assert np.array_equal(ids, b.allowed_ids())
            text = ids[ids < gpt2_vocab.size]
            text = text[[t not in a.compiled.eos_ids for t in text.tolist()]]
            if not len(text):
                break
            tok = int(rng.choice(text))
            assert a.accept(tok) and b.accept(tok)


def test_residual_key_is_the_language_from_a_state():
    """Equal digests for states whose automata are the same up to numbering (in different
    DFAs), different digests when acceptance or a transition differs, None past the bound."""
    from bytegram.grammar.dfa import residual_key

    a = regex_to_dfa(r'"[a-z]*"')
    b = regex_to_dfa(r'[0-9]+"[a-z]*"')
    qa = a.step(a.start, b'"')
    qb = b.step(b.start, b'12"')
    assert residual_key(a, qa) == residual_key(b, qb)
    assert residual_key(a, qa) != residual_key(a, a.start)
    c = regex_to_dfa(r'"[a-z]*"?')  # the closing quote optional: the state after '"' accepts
    assert residual_key(c, c.step(c.start, b'"')) != residual_key(a, qa)
    d = regex_to_dfa(r'"[a-y]*"')  # one byte fewer on the loop
    assert residual_key(d, d.step(d.start, b'"')) != residual_key(a, qa)
    long = regex_to_dfa(r"[a-z]{0,100}")
    assert residual_key(long, long.start) is None
    assert residual_key(long, long.start, max_states=200) is not None


def test_pieces_shared_across_dfas_and_states(small_vocab, monkeypatch):
    """Classes assembled from pieces cached by other states and by other DFAs with the same
    tail (every lookup across DFAs enabled) equal the reference at every state."""
    monkeypatch.setattr(lexeme_classes, "_SHARE_MIN", 0)
    lexeme_classes.clear_cache()
    vi = vocab_index(small_vocab)
    tokens = [vi.text_bytes[i] for i in vi.trie.token_ids.tolist()]
    for pattern in (r'"(?:[^"\\]|\\.)*"', r'[a-z_]{1,3}"(?:[^"\\]|\\.)*"',
                    r'"(?:[^"\\]|\\.)*"[0-9]?', r'(?:"(?:[^"\\]|\\.)*",)+'):
        _check_all_states(vi.trie, tokens, regex_to_dfa(pattern))
    lexeme_classes.clear_cache()


def test_literal_classes_on_its_trie_path():
    """A literal with an accepting state inside it (``he`` or ``hello``), on a vocabulary
    with tokens along, off and past its path: every state against the reference."""
    toks = sorted({bytes([i]) for i in range(256)} | {b"he", b"hex", b"hel", b"hell",
                                                      b"hello", b"hellos", b"elk", b"lo"})
    vi = vocab_index(Vocabulary.from_bytes_list(toks))
    tokens = [vi.text_bytes[i] for i in vi.trie.token_ids.tolist()]
    _check_all_states(vi.trie, tokens, regex_to_dfa(r"he(?:llo)?"))


def _inside_ref(tokens, dfa, q):
    return reference_pair_classes(tokens, dfa, q)[0]


@pytest.mark.parametrize("seed", range(8))
def test_inside_key_equal_means_equal_inside(seed):
    """States (of one DFA or of two) with equal ``inside_key`` keep the same tokens inside,
    on every input up to the key's depth: settled quotients (digests, across DFAs) and
    refinements cut at the depth (within a DFA) alike."""
    from bytegram.grammar.dfa import inside_key

    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 3, size=256)
    dfas = []
    for n in (5, 9):
        per_class = rng.integers(-1, n, size=(n, 3))
        dfas.append(ByteDFA(per_class[:, classes].astype(np.int32), rng.random(n) < 0.3))
    reps = [int(np.flatnonzero(classes == c)[0]) for c in range(3) if (classes == c).any()]
    for depth in (2, 4, 64):
        tokens = [bytes(w) for k in range(1, min(depth, 4) + 1)
                  for w in np.array(np.meshgrid(*[reps] * k)).T.reshape(-1, k).tolist()]
        seen: dict = {}
        for d in dfas:
            for q in range(d.n_states):
                key = inside_key(d, q, depth=depth)
                got = _inside_ref(tokens, d, q)
                if key in seen:
                    assert np.array_equal(seen[key], got), (depth, key)
                seen.setdefault(key, got)


def test_inside_shared_between_string_terminals(small_vocab):
    """A JSON string that may not be one of a few names keeps the same tokens inside as any
    JSON string: one key for both, and every state of each (the second with the first's
    classes cached) equals the reference."""
    from bytegram.grammar.dfa import inside_key
    from bytegram.grammar.dfa_ops import difference

    lexeme_classes.clear_cache()
    vi = vocab_index(small_vocab)
    tokens = [vi.text_bytes[i] for i in vi.trie.token_ids.tolist()]
    any_string = regex_to_dfa(r'"(?:[^"\\]|\\.)*"')
    not_names = difference(any_string, regex_to_dfa(r'"(?:name|age|a\\u0062c)"')).minimize()
    depth = vi.trie.depth
    qa = any_string.step(any_string.start, b'"na')
    qb = not_names.step(not_names.start, b'"na')
    assert inside_key(any_string, qa, depth=depth) == inside_key(not_names, qb, depth=depth)
    _check_all_states(vi.trie, tokens, any_string)
    _check_all_states(vi.trie, tokens, not_names)
    lexeme_classes.clear_cache()


def test_narrow_walk_gives_up_past_its_budget(small_vocab, monkeypatch):
    """With a node budget of 2 the depth-first walk gives up half-way and the trie walk
    answers; both equal the reference."""
    monkeypatch.setattr(lexeme_classes, "_NARROW_NODES", 2)
    lexeme_classes.clear_cache()
    vi = vocab_index(small_vocab)
    tokens = [vi.text_bytes[i] for i in vi.trie.token_ids.tolist()]
    _check_all_states(vi.trie, tokens, regex_to_dfa(r'"(?:alpha|beta|gamma)"'))
    lexeme_classes.clear_cache()
