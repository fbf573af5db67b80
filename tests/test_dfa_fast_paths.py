"""Fast paths of the DFA layer against their slow references (exact equality of the tables).

- ``json_string_dfa`` / ``json_string_tail_dfa`` (the minimal-by-construction encoder)
  against ``reference_json_string_dfa`` (interval encoder + full minimization), state
  limits included;
- ``length_dfa`` (closed form) against ``regex_to_dfa``, errors included;
- DFAs marked minimal (regex, products, literals, name sets) against a full minimization;
- the product's byte classes and memo.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bytegram.errors import BytegramError, LimitExceeded
from bytegram.grammar.dfa import ByteDFA
from bytegram.grammar.dfa_ops import _classes, difference, intersect, union
from bytegram.grammar.ir import literal_dfa
from bytegram.grammar.json_schema import strings as S
from bytegram.grammar.json_schema.emit import _names_dfa
from bytegram.grammar.regex import regex_to_dfa

SETTINGS = settings(derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _full_minimize(d: ByteDFA) -> ByteDFA:
    """Valmari's minimization, whatever ``d`` is marked as."""
    return ByteDFA(d.transitions, d.accepting, d.start).minimize()


def _same(a: ByteDFA, b: ByteDFA) -> bool:
    return (a.start == b.start and a.transitions.shape == b.transitions.shape
            and bool((a.transitions == b.transitions).all())
            and bool((a.accepting == b.accepting).all()))


# character-level DFAs: every byte length, the escapes, the surrogate neighbourhood, astral
_ATOMS = st.sampled_from([
    "a", "b", "é", '"', "\\\\", "/", "\\n", "\\t", "\\x00", "\\x1f", "\\x7f", " ", "u",
    "\u4e00", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0001F600", "\U0010FFFF",
    "[a-f]", "[^a]", "(?s:.)", ".", "\\d", "[\u0080-\u07ff]", "[\u0800-\uffff]",
    "[\U00010000-\U0010ffff]", "[\x00-\x7f]", "[\ud000-\ud7ff]", "[\ue000-\U00010fff]",
    "[\U0010fff0-\U0010ffff]", "[\U000fffff-\U00100000]", "[\u07ff\u0800]", "[\x1f-\x23]",
    "[\U0001f000-\U0001f0ff]", "[\\\\-\\]]", "[\u00e0-\u00ef\u0100]",
])


def _extend(children):
    return st.one_of(
        st.tuples(children, children).map(lambda t: t[0] + t[1]),
        st.tuples(children, children).map(lambda t: f"(?:{t[0]}|{t[1]})"),
        children.map(lambda c: f"(?:{c})*"),
        children.map(lambda c: f"(?:{c})?"),
        st.tuples(children, st.integers(0, 3), st.integers(0, 3)).map(
            lambda t: f"(?:{t[0]}){{{min(t[1], t[2])},{max(t[1], t[2])}}}"),
    )


_PATTERNS = st.recursive(_ATOMS, _extend, max_leaves=6)
_NAMES = st.lists(st.text(alphabet='ab"\\é\u4e00\U0001F600\x01', max_size=4), max_size=4)


@st.composite
def _char_dfas(draw) -> ByteDFA:
    d = regex_to_dfa(draw(_PATTERNS))
    op = draw(st.sampled_from(["plain", "length", "minus names", "names", "complement"]))
    if op == "length":
        lo = draw(st.integers(0, 3))
        d = intersect(d, S.length_dfa(lo, lo + draw(st.integers(0, 3))))
    elif op == "minus names":
        d = difference(d, _names_dfa(draw(_NAMES)))
    elif op == "names":
        d = _names_dfa(draw(_NAMES))
    elif op == "complement":
        d = difference(S.any_string_dfa(), d)
    return d


def _fast(chars: ByteDFA, limit: int, quotes) -> ByteDFA:
    need = S._utf8_need(chars.transitions, chars.accepting, chars.start)
    assert need is not None
    out = S._FastEncoder(chars, need, limit, quotes).build()
    assert out is not None  # every state reachable: no fallback
    return out


def _outcome(f):
    try:
        return f()
    except LimitExceeded as e:
        return ("limit", str(e))


@settings(SETTINGS, max_examples=300)
@given(chars=_char_dfas(), quotes=st.sampled_from([True, False, "close"]))
def test_fast_json_string_encoder_matches_reference(chars, quotes):
    if chars.is_empty():
        return
    chars = chars.minimize()
    assert S._utf8_shaped(chars.transitions, chars.accepting, chars.start)
    ref = S.reference_json_string_dfa(chars, quotes=quotes)
    fast = _fast(chars, 10**7, quotes)
    assert _same(fast, ref)
    assert _same(_full_minimize(fast), fast)  # minimal and numbered as minimize() numbers
    # the state limit trips exactly where the reference encoder's did
    enc = S._Encoder(chars, 10**7, quotes is True)
    enc.build()
    need = len(enc.rows)
    for limit in (need - 1, need):
        want = _outcome(lambda: S.reference_json_string_dfa(chars, max_states=limit,
                                                             quotes=quotes))
        got = _outcome(lambda: _fast(chars, limit, quotes))
        assert isinstance(want, tuple) == isinstance(got, tuple)


@settings(SETTINGS, max_examples=60)
@given(chars=_char_dfas())
def test_json_string_dfa_entry_points(chars):
    if chars.is_empty():
        return
    S._CACHE.clear()
    # (a single word takes the literal shortcut: same language, its own numbering)
    assert _same(S.json_string_dfa(chars).minimize(), S.reference_json_string_dfa(chars))
    assert _same(S.json_string_dfa(chars, quotes=False),
                 S.reference_json_string_dfa(chars, quotes=False))
    assert _same(S.json_string_tail_dfa(chars),
                 S.reference_json_string_dfa(chars, quotes="close"))


@pytest.mark.parametrize("data", [b"\xff", b"\xed\xa0\x80", b"\xc0\x80", b"a\x80", b"\xe0\x80\x80"])
def test_json_string_dfa_falls_back_off_utf8(data):
    chars = union(literal_dfa(data), regex_to_dfa("[a-c]+"))
    assert not S._utf8_shaped(chars.transitions, chars.accepting, chars.start)
    S._CACHE.clear()
    assert _same(S.json_string_dfa(chars), S.reference_json_string_dfa(chars))


def test_length_dfa_matches_regex_compiler():
    def outcome(f):
        try:
            d = f()
            return d.transitions.tobytes(), d.accepting.tobytes(), d.start
        except BytegramError as e:
            return type(e).__name__, str(e), getattr(e, "limit", None)

    for lo in range(0, 7):
        for hi in [*range(lo, 9), None]:
            for limit in (1, 7, 8, 9, 16, 17, 25, 33, 41, 49, 57, 65, 100_000):
                pattern = r"(?s:.){%d,%s}" % (lo, "" if hi is None else hi)
                want = outcome(lambda: regex_to_dfa(pattern, max_states=limit))
                S.length_dfa.cache_clear()
                assert outcome(lambda: S.length_dfa(lo, hi, max_states=limit)) == want, \
                    (lo, hi, limit)
    # past the NFA limit (8 * limit + 10_000 states), past the DFA limit, too large for re,
    # bounds in the wrong order
    for lo, hi, limit in ((0, 2000, 10), (5, None, 1), (0, 300, 100), (3, 2000, 100),
                          (0, 5_000_000_000, 100_000), (3, 2, 100)):
        pattern = r"(?s:.){%d,%s}" % (lo, "" if hi is None else hi)
        S.length_dfa.cache_clear()
        got = outcome(lambda: S.length_dfa(lo, hi, max_states=limit))
        assert got[0] in ("LimitExceeded", "InvalidSyntax")
        assert got == outcome(lambda: regex_to_dfa(pattern, max_states=limit))


@settings(SETTINGS, max_examples=200)
@given(a=_char_dfas(), b=_char_dfas(), mode=st.sampled_from(["and", "or", "diff"]))
def test_marked_minimal_dfas_are_minimal(a, b, mode):
    for d in (a, b):  # regex outputs, products, name sets, length DFAs
        if not d.is_empty():
            assert _same(d.minimize(), _full_minimize(d))
    op = {"and": intersect, "or": union, "diff": difference}[mode]
    r = op(a, b)
    if not r.is_empty():
        assert _same(r.minimize(), _full_minimize(r))
    again = op(a, b)  # from the product memo: same table, a new object
    assert again is not r and _same(again, r)


def test_literal_and_name_dfas_are_minimal():
    rng = np.random.default_rng(11)
    alphabet = ['a', 'b', '"', '\\', '/', '\n', '\x00', 'é', '\u4e00', '\U0001F600', '\uffff']
    for _ in range(300):
        words = ["".join(rng.choice(alphabet, size=int(rng.integers(0, 5))))
                 for _ in range(int(rng.integers(0, 5)))]
        for w in words:
            d = S.literal_json_dfa(w)
            assert _full_minimize(d).n_states == d.n_states
        trie = _names_dfa(words)
        ref = _full_minimize(_trie(words))
        assert _same(trie, ref)


def _trie(words: list[str]) -> ByteDFA:
    rows, acc = [[-1] * 256], [False]
    for w in words:
        s = 0
        for byte in w.encode():
            if rows[s][byte] < 0:
                rows[s][byte] = len(rows)
                rows.append([-1] * 256)
                acc.append(False)
            s = rows[s][byte]
        acc[s] = True
    return ByteDFA(np.array(rows, np.int32), np.array(acc, bool), 0)


def test_product_classes_match_numpy_unique():
    rng = np.random.default_rng(5)
    for _ in range(300):
        ds = []
        for _ in range(2):
            n, k = int(rng.integers(1, 8)), int(rng.integers(1, 6))
            base = rng.integers(-1, n, size=(n, k))
            ds.append(ByteDFA(base[:, rng.integers(0, k, size=256)], rng.random(n) < .5, 0))
        cols = np.concatenate([d.transitions for d in ds])
        _, first, inv = np.unique(cols.T, axis=0, return_index=True, return_inverse=True)
        cls, reps = _classes(*ds)
        assert (cls == inv.reshape(-1)).all() and (reps == first).all()


@settings(SETTINGS, max_examples=150)
@given(a=_char_dfas(), b=_char_dfas(), mode=st.sampled_from(["and", "or", "diff"]))
def test_product_levels_match_python_walk(a, b, mode):
    from bytegram.grammar.dfa import minimize_table
    from bytegram.grammar.dfa_ops import _pairs_levels, _pairs_python

    if a.is_empty() or b.is_empty():
        return
    cls, reps = _classes(a, b)
    args = (a.transitions[:, reps], b.transitions[:, reps], a.accepting, b.accepting,
            a.start, b.start, mode)
    t1, acc1 = _pairs_python(*args, 10**6)
    t2, acc2 = _pairs_levels(*args, 10**6)
    assert t1.shape == t2.shape
    m1, m2 = minimize_table(t1, acc1, 0), minimize_table(t2, acc2, 0)
    assert (m1[0] == m2[0]).all() and (m1[1] == m2[1]).all()
    for limit in (t1.shape[0] - 1, t1.shape[0]):
        outcomes = []
        for f in (_pairs_python, _pairs_levels):
            try:
                f(*args, limit)
                outcomes.append("ok")
            except LimitExceeded:
                outcomes.append("limit")
        want = "ok" if limit >= t1.shape[0] or t1.shape[0] == 1 else "limit"
        assert outcomes[0] == outcomes[1] == want


@settings(SETTINGS, max_examples=200)
@given(names=st.lists(st.text(alphabet='ab"\\é\u4e00\U0001F600\x01\x7f\u07ff\u0800\uffff',
                              max_size=6), max_size=8))
def test_strings_minus_names_needs_no_minimization(names):
    from bytegram.grammar.dfa_ops import _product_uncached

    u, d = S.any_string_dfa(), _names_dfa(names)
    assert u.__dict__.get("_utf8_all")
    if d.is_empty():
        return
    assert d.__dict__.get("_finite_utf8")
    fast, pairs = _product_uncached(u, d, "diff", 10**6)
    plain = [ByteDFA(x.transitions, x.accepting, x.start) for x in (u, d)]  # unmarked
    ref, ref_pairs = _product_uncached(*plain, "diff", 10**6)
    assert pairs == ref_pairs and _same(fast, ref)


def test_product_memo_keeps_the_state_limit():
    from bytegram.grammar.dfa_ops import _product_uncached

    a, b = regex_to_dfa("[a-c]{0,6}x"), regex_to_dfa("[b-d]+x?")
    for op, mode in ((intersect, "and"), (union, "or"), (difference, "diff")):
        _, pairs = _product_uncached(a, b, mode, 10**6)
        op(a, b)  # remembered
        for limit in (pairs - 1, pairs):
            got = _outcome(lambda: op(a, b, max_states=limit))
            assert isinstance(got, tuple) == (limit < pairs)
        c = regex_to_dfa("[a-f]{0,9}")  # a failure is remembered too
        with pytest.raises(LimitExceeded):
            op(a, c, max_states=2)
        with pytest.raises(LimitExceeded):
            op(a, c, max_states=1)
        assert not op(a, c).is_empty() or mode == "and"
