"""Regex -> minimal byte DFA: UTF-8 sequences, translation, agreement with ``re``, errors."""

from __future__ import annotations

import itertools
import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bytegram.errors import InvalidSyntax, LimitExceeded, Unsupported
from bytegram.grammar import ByteDFA, Grammar, regex_to_dfa
from bytegram.grammar.dfa import minimize_table, refine_partition
from bytegram.grammar.regex import _CASED_SCAN_LIMIT, _case_classes, translate
from bytegram.grammar.utf8 import MAX_CODE_POINT, encode_utf8, utf8_sequences

SETTINGS = settings(derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


# ---------------------------------------------------------------------------------------------
# helpers

def alive(dfa: ByteDFA, data: bytes) -> bool:
    return dfa.n_states > 0 and dfa.step(dfa.start, data) >= 0


def encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def byte_prefixes(data: bytes):
    return (data[:i] for i in range(len(data) + 1))


def is_minimal(dfa: ByteDFA) -> bool:
    """Independent check with Moore refinement: no two states are equivalent."""
    if dfa.n_states == 0:
        return True
    labels = refine_partition(dfa.transitions, dfa.accepting.astype(np.int64))
    return int(labels.max()) + 1 == dfa.n_states


# ---------------------------------------------------------------------------------------------
# UTF-8 sequences

_ALL_CPS = np.concatenate([np.arange(0, 0xD800), np.arange(0xE000, MAX_CODE_POINT + 1)])


def _encode_all(cps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized UTF-8: (bytes [n, 4] zero-padded, lengths [n])."""
    n = cps.size
    out = np.zeros((n, 4), np.int64)
    length = np.select([cps < 0x80, cps < 0x800, cps < 0x10000], [1, 2, 3], 4)
    l1, l2, l3, l4 = (length == 1), (length == 2), (length == 3), (length == 4)
    out[l1, 0] = cps[l1]
    c = cps[l2]
    out[l2, 0], out[l2, 1] = 0xC0 | (c >> 6), 0x80 | (c & 0x3F)
    c = cps[l3]
    out[l3, 0], out[l3, 1], out[l3, 2] = 0xE0 | (c >> 12), 0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F)
    c = cps[l4]
    out[l4, 0], out[l4, 1] = 0xF0 | (c >> 18), 0x80 | ((c >> 12) & 0x3F)
    out[l4, 2], out[l4, 3] = 0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F)
    return out, length


_ENC, _LEN = _encode_all(_ALL_CPS)


def _coverage(seqs, enc, length) -> np.ndarray:
    """How many sequences match each encoded code point."""
    count = np.zeros(enc.shape[0], np.int64)
    for seq in seqs:
        m = length == len(seq)
        for i, (lo, hi) in enumerate(seq):
            m &= (enc[:, i] >= lo) & (enc[:, i] <= hi)
        count += m
    return count


def _check_range(lo: int, hi: int, enc=_ENC, length=_LEN, cps=_ALL_CPS) -> None:
    seqs = utf8_sequences(lo, hi)
    cov = _coverage(seqs, enc, length)
    inside = (cps >= lo) & (cps <= hi)
    assert (cov[inside] == 1).all(), (hex(lo), hex(hi))
    assert (cov[~inside] == 0).all(), (hex(lo), hex(hi))
    # no extra (invalid) byte strings: the sequences hold exactly as many strings as scalars
    total = sum(int(np.prod([b - a + 1 for a, b in seq])) for seq in seqs)
    assert total == int(inside.sum())
    # valid byte ranges, in increasing code-point order
    assert all(1 <= len(s) <= 4 and all(0 <= a <= b <= 0xFF for a, b in s) for s in seqs)
    starts = [ord(bytes(a for a, _ in s).decode()) for s in seqs]
    assert starts == sorted(starts)


def test_utf8_vectorized_encoder_matches_python():
    sample = np.concatenate([np.arange(0, 0x900), _ALL_CPS[::997], _ALL_CPS[-300:]])
    enc, length = _encode_all(sample)
    for cp, row, n in zip(sample.tolist(), enc.tolist(), length.tolist()):
        assert bytes(row[:n]) == chr(cp).encode() == encode_utf8(cp)


def test_utf8_all_of_unicode():
    seqs = utf8_sequences(0, MAX_CODE_POINT)
    assert len(seqs) == 9
    _check_range(0, MAX_CODE_POINT)


def test_utf8_surrogates_and_empty():
    assert utf8_sequences(0xD800, 0xDFFF) == []
    assert utf8_sequences(5, 4) == []
    assert utf8_sequences(0xD7FF, 0xE000) == [[(0xED, 0xED), (0x9F, 0x9F), (0xBF, 0xBF)],
                                               [(0xEE, 0xEE), (0x80, 0x80), (0x80, 0x80)]]
    assert utf8_sequences(ord("a"), ord("z")) == [[(0x61, 0x7A)]]


def test_utf8_every_range_below_0x800_on_a_grid():
    cps = np.arange(0, 0x900)
    enc, length = _encode_all(cps)
    grid = sorted({0, 1, 0x3F, 0x40, 0x7E, 0x7F, 0x80, 0x81, 0xBF, 0xC0, 0xFF, 0x100, 0x13F,
                   0x140, 0x3FF, 0x400, 0x7BF, 0x7C0, 0x7FE, 0x7FF} | set(range(0, 0x800, 97)))
    for lo in grid:
        for hi in grid:
            if lo <= hi:
                _check_range(lo, hi, enc, length, cps)


def test_utf8_sampled_ranges():
    rng = random.Random(1234)
    edges = [0x7F, 0x80, 0x7FF, 0x800, 0xFFF, 0x1000, 0xD7FF, 0xD800, 0xDFFF, 0xE000, 0xFFFF,
             0x10000, 0x3FFFF, 0x40000, 0x10FFFF]
    window = 0x3000
    for _ in range(120):
        if rng.random() < 0.5:
            lo = max(0, rng.choice(edges) + rng.randint(-70, 70))
        else:
            lo = rng.randint(0, MAX_CODE_POINT)
        hi = min(MAX_CODE_POINT, lo + rng.choice([0, 1, 63, 64, 65, 4095, 4096, 5000, 0x2FFF]))
        sel = (_ALL_CPS >= lo - window) & (_ALL_CPS <= hi + window)
        _check_range(lo, hi, _ENC[sel], _LEN[sel], _ALL_CPS[sel])
    for lo, hi in [(0x80, 0x10FFFF), (0, 0xFFFF), (0x800, 0x10000), (0x10000, 0x10FFFF),
                   (0x1F300, 0x1F64F), (0x4E00, 0x9FFF), (0x3B1, 0x3C9)]:
        _check_range(lo, hi)


# ---------------------------------------------------------------------------------------------
# the translator

@pytest.mark.parametrize("pattern, text", [
    (r"\u00e9t\u00e9", "été"),
    (r"\u002a\u0028", r"\*\("),  # metacharacters come out escaped
    (r"\x41\101\0", "AA\0"),
    (r"\N{SNOWMAN}\U0001F600", "\u2603\U0001F600"),
    (r"^abc$", "abc"),
    (r"\Aabc\Z", "abc"),
    (r"^a|^b$|c$", "a|b|c"),
    (r"(?i)^ab$", "(?i)ab"),
    (r"a{,3}b{2,}c{1}d{,}", "a{0,3}b{2,}c{1}d{0,}"),
    (r"x{}y{a}z{1,x}", r"x\{\}y\{a\}z\{1,x\}"),
    (r"a*?b+?c??d{1,2}?", "a*b+c?d{1,2}"),
    (r"(?P<name>a)(?:b)(?#comment)c", "(a)(?:b)c"),
    ("(?x) a b # comment\n c [ ]", "abc\U0010fffd"),
    (r"(?ims)a(?-i:b)(?x:c d)", "(?ims)a(?-i:b)(?:cd)"),
    (r"\d\W\s", r"\d\W\s"),
    (r"a\.b\[\]", r"a\.b\[\]"),
])
def test_translate(pattern, text):
    tr = translate(pattern)
    assert tr.text == text
    assert len(tr.origin) == len(tr.text)


def test_translate_classes_become_placeholders():
    tr = translate(r"[\u005d\-a-c\d][^\]]")
    assert len(tr.text) == 2
    first, second = (tr.classes[c] for c in tr.text)
    assert first.ranges == ((0x2D, 0x2D), (0x30, 0x39), (0x5D, 0x5D), (0x61, 0x63))
    assert not first.negated and first.pos == 0
    assert second.ranges == ((0x5D, 0x5D),) and second.negated and second.pos == 15
    # a placeholder never collides with a literal of the pattern
    tr = translate("\U0010fffd[a]")
    assert tr.text[0] == "\U0010fffd" and tr.text[1] != "\U0010fffd"


def test_translate_origin_points_into_the_source():
    pattern = r"ab\u0063(d)"
    tr = translate(pattern)
    assert tr.text == "abc(d)"
    assert tr.origin == [0, 1, 2, 8, 9, 10]


# ---------------------------------------------------------------------------------------------
# agreement with re.fullmatch

A = re.ASCII
PATTERNS = [
    (r"\(?\d{3}\)?[-. ]?\d{3}[-. ]?\d{4}", A),  # phone number
    (r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", A),  # date
    (r"[\w.+-]+@[\w-]+(\.[\w-]+)+", A),  # email
    (r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", A),  # float
    (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", A),  # date-time
    (r"[a-zA-Z_][a-zA-Z0-9_]*", 0),
    (r"[α-ω]+", 0),
    (r"[^a]", 0),
    (r".", 0),
    (r"(?s).{2}", 0),
    (r"[\U0001F600-\U0001F64F\u2600-\u26FF]+", 0),  # emoji
    (r"[\u4e00-\u9fff]+", 0),  # CJK
    (r"cat|dog|bird|catfish|do", 0),
    (r"(ab|c){2,4}", 0),
    (r'"([^"\\]|\\.)*"', 0),  # JSON-ish string
    (r"(?i)straße|kelvin|[à-þ]+", 0),
    (r"[^\x00-\x7f]{1,3}", 0),
    (r"^(\+|-)?[0-9]+$", 0),
    (r"[\s\S]*x", A),
    (r"(?x) [a-z]+ \d+  # trailing comment", A),
    (r"\u00e9t\u00e9|\N{SNOWMAN}+", 0),
    (r"[^\W\d]+", A),
    (r"a{,3}b{2,}c?", 0),
    (r"x{}|{a,b}|[]a-]+|[^]]", 0),
    (r"\x41\101\0[\b]\t", 0),
    (r"(?i)[^k]", 0),
]

POOL = ["a", "b", "z", "A", "K", "0", "9", "-", "+", ".", "@", "_", " ", "\n", '"', "\\", "é", "ß",
        "α", "ω", "中", "\u212a", "😀", "\U0001F64F", "\x00", "x", "{", "}", "]", "\x7f", "\x80"]


def _check_string(dfa: ByteDFA, rx: re.Pattern, s: str) -> None:
    if not encodable(s):
        return
    data = s.encode()
    expected = rx.fullmatch(s) is not None
    assert dfa.matches(data) == expected, (rx.pattern, s)
    if expected:  # every prefix of a match is viable, even inside a multi-byte character
        for b in byte_prefixes(data):
            assert alive(dfa, b), (rx.pattern, s, b)


@pytest.fixture(scope="module")
def compiled():
    return {p: regex_to_dfa(p) for p, _ in PATTERNS}


@pytest.mark.parametrize("pattern, flags", PATTERNS, ids=[p for p, _ in PATTERNS])
@settings(SETTINGS, max_examples=50)
@given(data=st.data())
def test_agrees_with_re(compiled, pattern, flags, data):
    dfa = compiled[pattern]
    rx = re.compile(pattern, flags)
    positive = data.draw(st.from_regex(rx, fullmatch=True), label="positive")
    _check_string(dfa, rx, positive)
    for k in range(len(positive)):  # truncations
        _check_string(dfa, rx, positive[:k])
    chars = list(positive)
    i = data.draw(st.integers(0, len(chars)), label="index")
    c = data.draw(st.sampled_from(POOL), label="char")
    _check_string(dfa, rx, "".join(chars[:i] + [c] + chars[i:]))  # insertion
    if chars:
        j = min(i, len(chars) - 1)
        _check_string(dfa, rx, "".join(chars[:j] + chars[j + 1:]))  # deletion
        _check_string(dfa, rx, "".join(chars[:j] + [c] + chars[j + 1:]))  # replacement
    noise = data.draw(st.text(st.one_of(st.sampled_from(POOL), st.characters(
        blacklist_categories=("Cs",))), max_size=8), label="noise")
    _check_string(dfa, rx, noise)
    _check_string(dfa, rx, positive + noise)


def test_matches_known_strings(compiled):
    dfa = compiled[r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"]
    assert dfa.matches(b"2024-01-31T12:00:00Z")
    assert dfa.matches(b"2024-01-31T12:00:00.123+02:00")
    assert not dfa.matches(b"2024-01-31T12:00:00")
    dfa = compiled[r"[\u4e00-\u9fff]+"]
    assert dfa.matches("中文".encode()) and not dfa.matches("中a".encode())
    dfa = compiled[r"."]
    assert not dfa.matches(b"\n") and dfa.matches("😀".encode()) and not dfa.matches(b"")
    assert not dfa.matches(b"\xed\xa0\x80")  # an encoded surrogate is not UTF-8
    assert not dfa.matches(b"\xc0\x80")  # neither is an overlong encoding


def test_case_insensitive_matches_python_for_all_cased_characters():
    cased, _ = _case_classes()
    assert all(chr(c).lower() == chr(c) == chr(c).upper()
               for c in range(_CASED_SCAN_LIMIT, MAX_CODE_POINT + 1, 7))
    rng = random.Random(7)
    candidates = [chr(c) for c in cased]
    for c in rng.sample(cased, 40) + [ord("k"), ord("s"), ord("i"), 0x130, 0xDF, 0xB5]:
        patterns = ["(?i)" + re.escape(chr(c))]
        if c < 0x10000:  # CPython quirk: (?i)[Xx] with an astral X matches neither case of X
            patterns.append("(?i)[" + re.escape(chr(c)) + "x]")
        for pattern in patterns:
            dfa = regex_to_dfa(pattern)
            rx = re.compile(pattern)
            for d in candidates:
                assert dfa.matches(d.encode()) == (rx.fullmatch(d) is not None), (pattern, d)
    dfa = regex_to_dfa("(?ai)k")  # ASCII flag: no KELVIN SIGN
    assert dfa.matches(b"K") and not dfa.matches("\u212a".encode())
    assert regex_to_dfa("(?i)k").matches("\u212a".encode())


# ---------------------------------------------------------------------------------------------
# viable prefixes, by brute force on a tiny alphabet

ALPHABET = ["a", "b", "é"]


def _strings(alphabet, max_len):
    for n in range(max_len + 1):
        for t in itertools.product(alphabet, repeat=n):
            yield "".join(t)


@pytest.mark.parametrize("pattern", [r"(ab|é)*b", r"a+é?b{1,2}", r"(aé|ba)*", r"[^a]b",
                                     r"é{2}|a", r"é+", r"(a|é)*b"])
def test_viable_prefix_is_exact(pattern):
    dfa = regex_to_dfa(pattern)
    rx = re.compile(pattern)
    matches = [s for s in _strings(ALPHABET, 5) if rx.fullmatch(s)]
    viable = {b for s in matches for b in byte_prefixes(s.encode())}
    # every viable prefix of these patterns completes within 2 characters, so for prefixes of
    # strings of length <= 3 the brute force is exact in both directions
    for s in _strings(ALPHABET, 3):
        for b in byte_prefixes(s.encode()):
            assert alive(dfa, b) == (b in viable), (pattern, b)


def test_multibyte_prefix_is_viable():
    dfa = regex_to_dfa("é+")
    s = dfa.step(dfa.start, b"\xc3")
    assert s >= 0 and not dfa.accepting[s]
    assert dfa.matches("é".encode()) and dfa.matches("éé".encode())
    assert dfa.step(dfa.start, b"\xc3\xc3") == -1
    assert dfa.step(dfa.start, "é".encode() + b"\xc3") >= 0
    emoji = regex_to_dfa(r"[\U0001F600-\U0001F64F]")
    data = "😀".encode()
    for k in range(1, 4):
        assert alive(emoji, data[:k]) and not emoji.matches(data[:k])
    assert emoji.matches(data)


# ---------------------------------------------------------------------------------------------
# minimality

def test_minimal_and_canonical():
    assert regex_to_dfa("a|a").n_states == regex_to_dfa("a").n_states == 2
    a, b = regex_to_dfa("a|a"), regex_to_dfa("a")
    assert (a.transitions == b.transitions).all() and (a.accepting == b.accepting).all()
    assert regex_to_dfa("(ab)*").n_states == 2
    assert regex_to_dfa("(a|b)*abb").n_states == 4
    assert regex_to_dfa("[a-z]{0,500}").n_states == 501
    x, y = regex_to_dfa("(a|b)*"), regex_to_dfa("[ab]*")
    assert (x.transitions == y.transitions).all()
    for pattern, _ in PATTERNS[:12]:
        dfa = regex_to_dfa(pattern)
        assert is_minimal(dfa), pattern
        again = dfa.minimize()
        assert (again.transitions == dfa.transitions).all()
        assert (again.accepting == dfa.accepting).all()
        assert dfa.trim().n_states == dfa.n_states


def test_empty_language_and_empty_string():
    dfa = regex_to_dfa(r"[^\x00-\U0010ffff]")
    assert dfa.n_states == 0 and dfa.start == -1 and dfa.is_empty()
    assert not dfa.matches(b"") and not dfa.matches(b"a")
    dfa = regex_to_dfa("")
    assert dfa.n_states == 1 and dfa.matches(b"") and not dfa.matches(b"a")
    assert regex_to_dfa(r"\ud800").is_empty()  # a lone surrogate has no UTF-8 form


def test_minimize_table_against_moore_on_random_dfas():
    rng = np.random.default_rng(3)
    for _ in range(150):
        n, k = int(rng.integers(1, 25)), int(rng.integers(1, 5))
        table = np.where(rng.random((n, k)) < rng.random(), rng.integers(0, n, (n, k)), -1)
        acc = rng.random(n) < 0.4
        start = int(rng.integers(0, n))
        small, sacc = minimize_table(table, acc, start)
        full = np.full((n, 256), -1, np.int32)
        full[:, :k] = table
        ref = ByteDFA(full, acc, start).trim()
        if ref.n_states == 0:
            assert small.shape[0] == 0
            continue
        labels = refine_partition(ref.transitions, ref.accepting.astype(np.int64))
        assert small.shape[0] == int(labels.max()) + 1
        # same language on all strings up to length 5 over the k symbols
        for m in range(6):
            for w in itertools.product(range(k), repeat=m):
                q, p = 0, ref.start
                for c in w:
                    q = small[q, c] if q >= 0 else -1
                    p = ref.transitions[p, c] if p >= 0 else -1
                assert (q >= 0 and sacc[q]) == (p >= 0 and ref.accepting[p])


# ---------------------------------------------------------------------------------------------
# hypothesis-generated regexes over a small alphabet

_ATOMS = st.sampled_from(["a", "b", "é", "[ab]", "[^a]", "[aé]", ".", "(?:)", "[b-é]", "\\.",
                          "[^ab]", "(?i:é)", "(?i:[^a])", "[^é]", "É", "\\S", "\\d"])
# (\S and \d mean the same, ASCII or not, on the strings tested here)


def _extend(children):
    # no quantifier directly on a quantified group (a quantified child gets a literal appended):
    # Python's backtracking reference gets very slow on ((x*)+)* towers
    bare = children.map(lambda c: c + "b" if c.endswith(("*", "+", "?", "}")) else c)
    return st.one_of(
        st.tuples(children, children).map(lambda t: t[0] + t[1]),
        st.tuples(children, children).map(lambda t: f"(?:{t[0]}|{t[1]})"),
        bare.map(lambda c: f"(?:{c})*"),
        bare.map(lambda c: f"(?:{c})+"),
        bare.map(lambda c: f"(?:{c})?"),
        st.tuples(bare, st.integers(0, 2), st.integers(0, 2)).map(
            lambda t: f"(?:{t[0]}){{{min(t[1], t[2])},{max(t[1], t[2])}}}"),
        st.tuples(bare, st.integers(0, 3)).map(lambda t: f"({t[0]}){{{t[1]}}}"),
    )


_REGEXES = st.recursive(_ATOMS, _extend, max_leaves=8)
_SMALL = list(_strings(["a", "b", "é", "É", "."], 4))


@settings(SETTINGS, max_examples=600)
@given(pattern=_REGEXES)
def test_generated_regexes_agree_with_re(pattern):
    dfa = regex_to_dfa(pattern)
    rx = re.compile(pattern)
    rows = dfa.transitions.tolist()
    # _SMALL is prefix-closed and sorted by length: walk each string from its parent's state,
    # recording the states after every byte (also inside multi-byte characters)
    state = {"": dfa.start}
    inner: dict[str, list[int]] = {}
    for s in _SMALL[1:]:
        q = state[s[:-1]]
        seen = []
        for byte in s[-1].encode():
            q = rows[q][byte] if q >= 0 else -1
            seen.append(q)
        state[s] = q
        inner[s] = seen
    viable = set()
    for s in _SMALL:
        expected = rx.fullmatch(s) is not None
        q = state[s]
        assert (q >= 0 and bool(dfa.accepting[q])) == expected, (pattern, s)
        if expected:
            viable.update(s[:i] for i in range(len(s) + 1))
    for s in viable:  # every byte of every prefix of a match keeps the DFA alive
        assert all(q >= 0 for q in inner.get(s, [state[s]])), (pattern, s)
    assert is_minimal(dfa)


# ---------------------------------------------------------------------------------------------
# errors

@pytest.mark.parametrize("pattern, feature, pos", [
    (r"a(?=b)", "lookahead", 1),
    (r"(?!a)b", "negative lookahead", 0),
    (r"x(?<=a)b", "lookbehind", 1),
    (r"(?<!a)b", "negative lookbehind", 0),
    (r"(a)\1", "backreference", 3),
    (r"(?P<x>a)(?P=x)", "backreference (?P=name)", 8),
    (r"\bfoo", "word boundary", 0),
    (r"a\B", "non-word-boundary", 1),
    (r"a^b", "anchor '^'", 1),
    (r"a$b", "anchor '$'", 1),
    (r"(^a)", "anchor '^'", 1),
    (r"(a$)", "anchor '$'", 2),
    (r"a\Ab", "anchor \\A", 1),
    (r"a\Zb", "anchor \\Z", 1),
    (r"(a)?(?(1)b|c)", "conditional", 4),
])
def test_unsupported_features(pattern, feature, pos):
    try:
        re.compile(pattern)
    except re.error:
        with pytest.raises(InvalidSyntax):
            regex_to_dfa(pattern)
        return
    with pytest.raises(Unsupported) as info:
        regex_to_dfa(pattern)
    e = info.value
    assert feature in e.feature and feature in str(e)
    assert e.pos == pos and e.source == pattern
    assert "^" in str(e).splitlines()[-1]


@pytest.mark.parametrize("pattern, feature", [
    (r"(?>ab)c", "atomic group"),
    (r"a*+", "possessive quantifier"),
    (r"a{2}+", "possessive quantifier"),
    (r"(?a:b)(?i:c)", "scoped ASCII flag"),
])
def test_unsupported_newer_syntax(pattern, feature):
    try:
        re.compile(pattern)
    except re.error:  # older Pythons reject these outright
        with pytest.raises(InvalidSyntax):
            regex_to_dfa(pattern)
        return
    with pytest.raises(Unsupported, match=re.escape(feature)) as info:
        regex_to_dfa(pattern)
    assert info.value.pos is not None


@pytest.mark.parametrize("pattern", [r"(ab", r"ab)", r"[z-a]", r"*a", r"a{3,1}", r"\p{L}",
                                     r"[abc", r"a**", r"\u12", r"(?P<1x>a)", r"[\d-z]",
                                     "\\", r"\N{NO SUCH NAME}"])
def test_invalid_syntax(pattern):
    with pytest.raises(re.error) as ref:
        re.compile(pattern)
    with pytest.raises(InvalidSyntax) as info:
        regex_to_dfa(pattern)
    e = info.value
    assert isinstance(e, ValueError)
    assert e.pos == ref.value.pos and e.pos is not None
    assert e.source == pattern and "^" in str(e)


def test_limits():
    with pytest.raises(LimitExceeded) as info:
        regex_to_dfa("[a-z]{0,50}", max_states=10)
    e = info.value
    assert e.limit == "max_states" and e.value == 10 and "max_states" in str(e)
    assert regex_to_dfa("[a-z]{0,50}", max_states=51).n_states == 51
    # an exponential determinization stops at the limit instead of hanging
    with pytest.raises(LimitExceeded):
        regex_to_dfa("(a|b)*a(a|b){30}", max_states=2000)
    # so does a pattern whose NFA alone is too large
    with pytest.raises(LimitExceeded):
        regex_to_dfa("(a{1000}){1000}", max_states=1000)
    with pytest.raises(ValueError):
        regex_to_dfa("a", max_states=0)
    with pytest.raises(Unsupported, match="nested"):
        regex_to_dfa("(" * 150 + "a" + ")" * 150)


# ---------------------------------------------------------------------------------------------
# Grammar

def test_grammar_from_regex():
    g = Grammar.from_regex(r"[0-9]{3}-[0-9]{4}")
    assert g.kind == "regex" and g.source == r"[0-9]{3}-[0-9]{4}"
    assert g.relaxations == ()
    assert isinstance(g.dfa, ByteDFA) and g.dfa.matches(b"555-1234")
    assert len(g.content_hash) == 64
    assert g.content_hash == Grammar.from_regex(r"[0-9]{3}-[0-9]{4}").content_hash
    assert g.content_hash != Grammar.from_regex(r"[0-9]{3}-[0-9]{5}").content_hash
    assert g == Grammar.from_regex(r"[0-9]{3}-[0-9]{4}") and hash(g) == hash(Grammar.from_regex(
        r"[0-9]{3}-[0-9]{4}"))
    assert "regex" in repr(g) and "[0-9]{3}" in repr(g)
    with pytest.raises(AttributeError):
        g.kind = "lark"
    with pytest.raises(LimitExceeded):
        Grammar.from_regex("[a-z]{0,50}", max_states=5)
    with pytest.raises(Unsupported):
        Grammar.from_regex("(?=a)a")
