"""String constraints: character-level DFAs, and their JSON encoding.

Every string constraint (``pattern``, ``format``, ``minLength``/``maxLength``, ``enum``,
declared property names, ...) is first a *character-level* language: a ``ByteDFA`` over the
UTF-8 encoding of the decoded string value. Constraints combine exactly with DFA products
(``dfa_ops``). Only at the end does :func:`json_string_dfa` turn a character-level DFA into
the DFA of the JSON string literals (quotes included) whose decoded value is in the
language: every character may be written raw (when JSON allows it) or escaped (``\\n``,
``\\"``, ``\\/``, ``\\u00e9`` in either hex case, surrogate pairs for astral characters).
So ``maxLength`` counts characters, and ``"\\u00e9"`` is one character, as the standard says.

Lone surrogate escapes (``"\\ud800"``) are never accepted: they decode to no Unicode scalar.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...errors import LimitExceeded
from ..dfa import ByteDFA, _bfs_order, content_key, mark_minimal
from ..dfa_ops import mark_utf8_all
from ..ir import literal_dfa
from ..regex import _check_with_re, dfa_limit_error, nfa_limit_error, regex_to_dfa

__all__ = ["json_string_dfa", "any_string_dfa", "length_dfa", "literal_string_dfa",
           "DEFAULT_MAX_STRING_STATES", "dfa_key",
           "literal_json_dfa", "json_string_tail_dfa"]

DEFAULT_MAX_STRING_STATES = 100_000

_SHORT_ESCAPES = {ord('"'): 0x22, ord("\\"): 0x5C, ord("/"): 0x2F, ord("b"): 0x08,
                  ord("f"): 0x0C, ord("n"): 0x0A, ord("r"): 0x0D, ord("t"): 0x09}
_HEX_LOWER = b"0123456789abcdef"
_HEX_UPPER = b"0123456789ABCDEF"


@lru_cache(maxsize=1)
def any_string_dfa() -> ByteDFA:
    """Every string (character level): any sequence of Unicode scalars."""
    return mark_utf8_all(regex_to_dfa(r"(?s:.)*"))


@lru_cache(maxsize=256)
def length_dfa(lo: int, hi: int | None, *, max_states: int = DEFAULT_MAX_STRING_STATES
               ) -> ByteDFA:
    """Strings of ``lo`` to ``hi`` characters (``hi=None``: unbounded).

    The DFA (and the errors) of ``regex_to_dfa(r"(?s:.){lo,hi}")``, built directly: its
    minimal DFA is known in closed form (see ``_length_table``)."""
    hi_s = "" if hi is None else str(hi)
    pattern = r"(?s:.){%d,%s}" % (lo, hi_s)
    if (type(lo) is not int or lo < 0 or (hi is not None and (type(hi) is not int or hi < lo))
            or type(max_states) is not int or max_states < 1):
        return regex_to_dfa(pattern, max_states=max_states)
    # state counts of the regex compiler's NFA and DFA for this pattern (checked in tests)
    if hi is None:
        n_nfa, n_dfa = (13, 8) if lo == 0 else (10 * lo + 2, 8 * lo + 1)
    else:
        n_nfa, n_dfa = 10 * hi + (3 if hi > lo else 2), 8 * hi + 1
    if n_nfa > 8 * max_states + 10_000 or n_dfa > max_states:
        _check_with_re(pattern)  # a count too large for ``re`` is a syntax error there
        raise nfa_limit_error(max_states) if n_nfa > 8 * max_states + 10_000 else \
            dfa_limit_error(max_states)
    table, acc = _length_table(lo, hi)
    return mark_minimal(ByteDFA(table, acc, 0), canonical=True)


def _length_table(lo: int, hi: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The minimal DFA of ``lo..hi`` UTF-8 characters, numbered breadth-first.

    Boundary state B_i has read i characters, i = 0..P (P = ``hi``, or ``lo`` when ``hi``
    is None: then B_P loops). Each B_j, j >= 1, comes with seven states inside a character
    that lead to it, after C2-DF, E0, E1-EC/EE-EF, ED, F0, F1-F3, F4 (byte order, hence
    breadth-first order): B_0 = 0, B_j = 8j - 7, its inside states 8j - 6 .. 8j. For
    ``{0,}`` (P = 0) B_0 loops through inside states 1..7."""
    if hi is None and lo == 0:
        n = 8
        src, dst_b, m1 = np.array([0]), np.array([0]), np.array([1])
        acc_ids = np.array([0])
    else:
        p = lo if hi is None else hi
        n = 8 * p + 1
        j = np.arange(1, p + 1)
        b_ids = np.concatenate([[0], 8 * j - 7])  # B_0 .. B_P
        m1 = 8 * j - 6
        src, dst_b = b_ids[:-1], b_ids[1:]
        if hi is None:  # B_P loops
            src = np.concatenate([src, b_ids[-1:]])
            dst_b = np.concatenate([dst_b, b_ids[-1:]])
        acc_ids = b_ids[lo:]
    t = np.full((n, 256), -1, np.int32)
    if src.size:
        bs = src[:, None]
        inside = (dst_b + 1 if not (hi is None and lo == 0) else m1)[:, None]
        t[bs, np.arange(0x80)] = dst_b[:, None]
        for lo_b, hi_b, k in ((0xC2, 0xE0, 0), (0xE0, 0xE1, 1), (0xE1, 0xED, 2), (0xED, 0xEE, 3),
                              (0xEE, 0xF0, 2), (0xF0, 0xF1, 4), (0xF1, 0xF4, 5), (0xF4, 0xF5, 6)):
            t[bs, np.arange(lo_b, hi_b)] = inside + k
        mb = m1[:, None]
        back = mb - 1 if not (hi is None and lo == 0) else np.zeros_like(mb)
        for k, lo_b, hi_b, tgt in ((0, 0x80, 0xC0, back), (1, 0xA0, 0xC0, mb),
                                   (2, 0x80, 0xC0, mb), (3, 0x80, 0xA0, mb),
                                   (4, 0x90, 0xC0, mb + 2), (5, 0x80, 0xC0, mb + 2),
                                   (6, 0x80, 0x90, mb + 2)):
            t[mb + k, np.arange(lo_b, hi_b)] = tgt
    acc = np.zeros(n, bool)
    acc[acc_ids] = True
    return t, acc


def literal_string_dfa(value: str) -> ByteDFA:
    """Exactly the string ``value`` (character level). Lone surrogates are kept out by the
    caller: a value holding one yields the empty language."""
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), -1)
    return literal_dfa(data)


class _Encoder:
    """Builds the JSON-literal DFA of a character-level DFA (see module docstring) from
    code-point interval maps, then minimizes it. The reference for ``_FastEncoder``; used
    by ``json_string_dfa`` only for DFAs that are not UTF-8 shaped."""

    def __init__(self, dfa: ByteDFA, max_states: int, quotes: bool = True) -> None:
        self.quotes = quotes
        self.T = dfa.transitions.tolist()
        self.acc = dfa.accepting.tolist()
        self.n = dfa.n_states
        self.rows: list[list[int]] = []
        self.accepting: list[bool] = []
        self.max_states = max_states
        self._cont: dict[tuple[int, int], tuple] = {}
        self._hex: dict[tuple, int] = {}
        self._low: dict[tuple, int] = {}

    def new_state(self, accepting: bool = False) -> int:
        sid = len(self.rows)
        if sid >= self.max_states:
            raise LimitExceeded("a JSON string terminal needs too many DFA states",
                                limit="max_string_states", value=self.max_states,
                                hint="lower maxLength or simplify pattern/format")
        self.rows.append([-1] * 256)
        self.accepting.append(accepting)
        return sid

    # -- code point -> target maps ---------------------------------------------------------
    def cont(self, s: int, k: int) -> tuple:
        """Intervals (lo, hi, target) over the 6k-bit values of k continuation bytes."""
        if k == 0:
            return ((0, 0, s),)
        key = (s, k)
        hit = self._cont.get(key)
        if hit is not None:
            return hit
        out: list[list[int]] = []
        row = self.T[s]
        size = 1 << (6 * (k - 1))
        for i in range(64):
            t = row[0x80 + i]
            if t < 0:
                continue
            base = i * size
            for lo, hi, tg in self.cont(t, k - 1):
                lo += base
                hi += base
                if out and out[-1][1] + 1 == lo and out[-1][2] == tg:
                    out[-1][1] = hi
                else:
                    out.append([lo, hi, tg])
        res = tuple(tuple(x) for x in out)
        self._cont[key] = res
        return res

    def cp_map(self, q: int) -> list[list[int]]:
        """Intervals (lo, hi, target) of code points c with δ*(q, utf8(c)) = target."""
        row = self.T[q]
        out: list[list[int]] = []

        def add(lo: int, hi: int, tg: int) -> None:
            if lo > hi:
                return
            if out and out[-1][1] + 1 == lo and out[-1][2] == tg:
                out[-1][1] = hi
            else:
                out.append([lo, hi, tg])

        for b in range(0x80):
            if row[b] >= 0:
                add(b, b, row[b])
        for lead in range(0xC2, 0xF5):
            s = row[lead]
            if s < 0:
                continue
            if lead < 0xE0:
                k, base, vlo, vhi = 1, (lead & 0x1F) << 6, 0x80, 0x7FF
            elif lead < 0xF0:
                k, base, vlo, vhi = 2, (lead & 0x0F) << 12, 0x800, 0xFFFF
            else:
                k, base, vlo, vhi = 3, (lead & 0x07) << 18, 0x10000, 0x10FFFF
            for lo, hi, tg in self.cont(s, k):
                lo, hi = max(lo + base, vlo), min(hi + base, vhi)
                if lo <= 0xDFFF and hi >= 0xD800:  # surrogates are not scalars
                    add(lo, 0xD7FF, tg)
                    add(0xE000, hi, tg)
                else:
                    add(lo, hi, tg)
        return out

    # -- \uXXXX tries ----------------------------------------------------------------------
    def hex_trie(self, intervals: tuple, width: int) -> int:
        """A state reading ``width`` hex digits (either case) whose value v leads to the
        target of the interval holding v (intervals are over [0, 16**width))."""
        if width == 0:
            return intervals[0][2]
        key = (intervals, width)
        hit = self._hex.get(key)
        if hit is not None:
            return hit
        s = self.new_state()
        size = 16 ** (width - 1)
        for d in range(16):
            lo_d, hi_d = d * size, (d + 1) * size - 1
            sub = tuple((max(lo, lo_d) - lo_d, min(hi, hi_d) - lo_d, tg)
                        for lo, hi, tg in intervals if lo <= hi_d and hi >= lo_d)
            if not sub:
                continue
            child = self.hex_trie(sub, width - 1)
            self.rows[s][_HEX_LOWER[d]] = child
            self.rows[s][_HEX_UPPER[d]] = child
        self._hex[key] = s
        return s

    def low_surrogate_state(self, sub: tuple) -> int:
        """After a high surrogate: ``\\u`` + low surrogate (DC00-DFFF) -> target by ``sub``
        (intervals over the 10 low bits)."""
        hit = self._low.get(sub)
        if hit is not None:
            return hit
        s = self.new_state()
        u = self.new_state()
        self.rows[s][0x5C] = u
        self.rows[u][ord("u")] = self.hex_trie(
            tuple((0xDC00 + lo, 0xDC00 + hi, tg) for lo, hi, tg in sub), 4)
        self._low[sub] = s
        return s

    def escape_state(self, q: int, cps: list[list[int]]) -> int | None:
        """The state after ``\\`` at character boundary ``q`` (None: no character fits)."""
        if not cps:
            return None
        bmp: list[tuple[int, int, int]] = []
        astral: list[tuple[int, int, int]] = []
        for lo, hi, tg in cps:
            if lo <= 0xFFFF:
                bmp.append((lo, min(hi, 0xFFFF), tg))
            if hi >= 0x10000:
                astral.append((max(lo, 0x10000) - 0x10000, hi - 0x10000, tg))
        # high surrogates: h ranges fully inside one interval share one low-surrogate state
        hs: list[list] = []

        def add_h(h_lo: int, h_hi: int, st: int) -> None:
            if hs and hs[-1][1] + 1 == 0xD800 + h_lo and hs[-1][2] == st:
                hs[-1][1] = 0xD800 + h_hi
            else:
                hs.append([0xD800 + h_lo, 0xD800 + h_hi, st])

        for h_lo, h_hi, sub in _h_groups(astral):
            add_h(h_lo, h_hi, self.low_surrogate_state(sub))
        full = sorted(bmp + [tuple(x) for x in hs])
        e = self.new_state()
        lookup = {}
        for lo, hi, tg in cps:
            if lo <= 0x5C:
                for c in range(lo, min(hi, 0x5C) + 1):
                    lookup[c] = tg
        for letter, cp in _SHORT_ESCAPES.items():
            if cp in lookup:
                self.rows[e][letter] = lookup[cp]
        self.rows[e][ord("u")] = self.hex_trie(tuple(full), 4)
        return e

    def build(self) -> ByteDFA:
        n = self.n
        for q in range(n):
            row = list(self.T[q])
            for b in range(0x20):
                row[b] = -1
            row[0x22] = -1
            row[0x5C] = -1
            self.rows.append(row)
            self.accepting.append(False)
        final = self.new_state(True) if self.quotes else -1
        for q in range(n):
            if self.acc[q] and self.quotes:
                self.rows[q][0x22] = final
            cps = self.cp_map(q)
            e = self.escape_state(q, cps)
            if e is not None:
                self.rows[q][0x5C] = e
        if self.quotes:
            start = self.new_state()
            self.rows[start][0x22] = 0  # the char DFA's start is state 0 (minimized)
        else:
            start = 0
            for q in range(n):
                self.accepting[q] = bool(self.acc[q])
        table = np.array(self.rows, dtype=np.int32)
        return ByteDFA(table, np.array(self.accepting, bool), start).minimize()


# -- the fast encoder ----------------------------------------------------------------------
#
# The same DFA as ``_Encoder`` + ``minimize()``, built directly in its minimal form and then
# numbered breadth-first (which is all ``minimize`` would change). Every ``\uXXXX`` trie node
# is hash-consed on its content (width, 16 children), so equal nodes are one node; the tries
# are assembled from the character DFA's UTF-8 structure (the hex digits of a code point line
# up with its UTF-8 bytes: 3-byte lead = first digit, the next two bytes = the last three
# digits), with memos keyed by character-DFA states, never by code point or interval.
#
# Why the result is minimal when the character DFA C is minimal, trimmed and UTF-8 shaped
# (checked by ``_utf8_need``; otherwise the reference path runs): the JSON decoding is a
# function, so two character-boundary states with different languages keep different
# languages; states inside a character are told apart the same way, and from boundary
# states by their first bytes (continuation bytes only). A boundary state always has a word
# starting with '"' (accepting) or '\' (every character can be escaped); trie nodes only
# hex digits, escape states always 'u', the low-surrogate states '\' then 'u' then
# [dD][c-fC-F]; nodes of different widths differ at the first byte after the shorter one's
# digits; nodes of one width differ by content (two hash-consing tables for widths 1 and 2,
# numpy's for children that are boundary states / such nodes, dicts for children that are
# low-surrogate states / such nodes: their contents never meet). So no two states are
# equivalent, and all are reachable and co-reachable by construction (checked: the
# breadth-first numbering must reach every state). ``tests/test_dfa_fast_paths.py``
# compares both encoders on random inputs, state limits included.

_NONE16 = (-1,) * 16
_SHORT_CPS = tuple(_SHORT_ESCAPES.values())  # code points, in the order of the letters
_SHORT_LETTER_COLS = np.array(list(_SHORT_ESCAPES), np.int64)
# UTF-8 lead bytes [lo, hi): continuation bytes still needed, range of the first of them
_LEADS = ((0xC2, 0xE0, 1, 0x80, 0xC0), (0xE0, 0xE1, 2, 0xA0, 0xC0), (0xE1, 0xED, 2, 0x80, 0xC0),
          (0xED, 0xEE, 2, 0x80, 0xA0), (0xEE, 0xF0, 2, 0x80, 0xC0), (0xF0, 0xF1, 3, 0x90, 0xC0),
          (0xF1, 0xF4, 3, 0x80, 0xC0), (0xF4, 0xF5, 3, 0x80, 0x90))
_HEX_COLS = np.frombuffer(_HEX_LOWER, np.uint8).astype(np.int64)
_HEX_UPPER_COLS = np.frombuffer(_HEX_UPPER[10:], np.uint8).astype(np.int64)
_RAW_FORBIDDEN = np.array(list(range(0x20)) + [0x22, 0x5C], np.int64)


def _utf8_shaped(t: np.ndarray, acc: np.ndarray, start: int) -> bool:
    """Whether a trimmed DFA reads only well-formed UTF-8 (scalars, no overlongs) with each
    state either at a character boundary or a fixed number of bytes into one character."""
    return _utf8_need(t, acc, start) is not None


def _utf8_need(t: np.ndarray, acc: np.ndarray, start: int) -> np.ndarray | None:
    """For a UTF-8 shaped trimmed DFA (see ``_utf8_shaped``): the number of continuation
    bytes each state still needs (0: at a character boundary); else None."""
    live = t >= 0
    inside = live[:, 0x80:0xC0].any(axis=1)
    if live[:, 0xC0:0xC2].any() or live[:, 0xF5:].any():
        return None
    if (inside & (live[:, :0x80].any(axis=1) | live[:, 0xC2:0xF5].any(axis=1))).any():
        return None
    if (acc & inside).any() or inside[start]:
        return None
    bound = np.flatnonzero(~inside)
    x = t[bound, :0x80]
    if inside[x[x >= 0]].any():
        return None
    need = np.zeros(t.shape[0], np.int8)  # bit k: k continuation bytes still needed
    for lo, hi, k, clo, chi in _LEADS:
        x = t[bound, lo:hi]
        x = x[x >= 0]
        if not x.size:
            continue
        if not inside[x].all() or live[x, 0x80:clo].any() or live[x, chi:0xC0].any():
            return None
        need[x] |= 1 << k
    for k in (3, 2, 1):
        x = t[np.flatnonzero(need & (1 << k)), 0x80:0xC0]
        x = x[x >= 0]
        if k == 1:
            if inside[x].any():
                return None
        else:
            if not inside[x].all():
                return None
            need[x] |= 1 << (k - 1)
    m = need[inside]
    if not ((m != 0) & ((m & (m - 1)) == 0)).all():
        return None
    return np.select([need == 2, need == 4, need == 8], [1, 2, 3], 0).astype(np.int8)


_W16 = np.random.default_rng(0x5EED16).integers(1, 1 << 62, size=16, dtype=np.int64)


def _intern_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hash-consing of the rows of an int array [r, 16]: (id of each row, -1 for a row of
    -1s; the distinct rows, in id order)."""
    ids = np.full(rows.shape[0], -1, np.int64)
    idx = np.flatnonzero((rows >= 0).any(axis=1))
    if not idx.size:
        return ids, rows[:0]
    sub = rows[idx]
    h = (sub.astype(np.int64) + 1) @ _W16  # wraps mod 2**64
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    if not (sub[first][inv] == sub).all():  # a hash collision: group exactly
        _, first, inv = np.unique(sub, axis=0, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
    ids[idx] = inv
    return ids, sub[first]


class _FastEncoder:
    """Builds ``json_string_dfa`` minimal by construction (see the comment above).

    The trie nodes of widths 1 and 2 (children: boundary states, resp. width-1 nodes) are
    hash-consed for all states at once with numpy; wider nodes, escape and low-surrogate
    states per boundary state with dicts. Node ids follow the character DFA's states."""

    def __init__(self, dfa: ByteDFA, need: np.ndarray, max_states: int,
                 quotes: bool | str) -> None:
        """``need``: from ``_utf8_need``. ``quotes``: True (both quotes), False (the body
        only) or "close" (the body and the closing quote; the state limit counts as for
        False, as ``_with_closing_quote`` of the body did)."""
        self.dfa = dfa
        self.need = need
        self.n = dfa.n_states
        self.quotes = quotes is True
        self.close = quotes is not False
        self.max_states = max_states
        self.keys: dict[tuple, int] = {}
        self.rows: list[tuple] = []
        self.next_id = self.n
        self.dup_escapes = 0  # escape states the reference encoder makes more than once
        self._w3: dict = {}
        self._top: dict = {}
        self._upper: dict = {}
        self._hs1: dict = {}
        self._hs2: dict = {}
        self._ls: dict = {}

    def node(self, key: tuple) -> int:
        nid = self.keys.get(key)
        if nid is None:
            nid = self.keys[key] = self.next_id
            self.next_id += 1
            self.rows.append(key)
        return nid

    def hexnode(self, width: int, children: tuple) -> int:
        return -1 if children == _NONE16 else self.node((width, children))

    # -- widths 1 and 2, vectorized ----------------------------------------------------------
    def small_nodes(self) -> tuple:
        T = self.dfa.transitions
        n, need = self.n, self.need
        B = np.flatnonzero(need == 0)
        M1 = np.flatnonzero(need == 1)
        M2 = np.flatnonzero(need == 2)
        # width 1 (last digit): a state needing one byte 0x80 | l << 4 | d, and the ASCII
        # rows of boundary states (U+0000..U+007F: first three digits 00 + d3 < 8)
        ids1, rows1 = _intern_rows(np.concatenate(
            [T[M1, 0x80:0xC0].reshape(-1, 16), T[B, :0x80].reshape(-1, 16)]))
        ids1 = np.where(ids1 >= 0, ids1 + self.next_id, -1)
        first1 = self.next_id
        self.next_id += rows1.shape[0]
        W1 = np.full((n + 1, 4), -1, np.int64)  # row n (index -1): the dead state
        W1[M1] = ids1[:4 * M1.size].reshape(-1, 4)
        A1 = ids1[4 * M1.size:].reshape(-1, 8)
        # width 2 (last two digits d3 d4): a state needing two bytes 0x80 | x << 2 | d3 >> 2
        # then 0x80 | (d3 & 3) << 4 | d4, for each x; for boundary states U+0000..U+00FF
        # (ASCII, then C2/C3) and U+0100..U+07FF (leads C4..DF)
        m2 = W1[T[M2, 0x80:0xC0]].reshape(-1, 16)
        n00 = np.concatenate([A1, W1[T[B, 0xC2]], W1[T[B, 0xC3]]], axis=1)
        mid = W1[T[B, 0xC4:0xE0]].reshape(-1, 16)
        ids2, rows2 = _intern_rows(np.concatenate([m2, n00, mid]))
        ids2 = np.where(ids2 >= 0, ids2 + self.next_id, -1)
        first2 = self.next_id
        self.next_id += rows2.shape[0]
        W2 = np.full((n + 1, 16), -1, np.int64)
        W2[M2] = ids2[:16 * M2.size].reshape(-1, 16)
        rest = ids2[16 * M2.size:]
        N00 = rest[:B.size]
        MID = rest[B.size:].reshape(-1, 7)
        self.W2 = W2.tolist()
        self.check_limit()
        return B, N00.tolist(), MID.tolist(), (first1, rows1), (first2, rows2)

    def check_limit(self, final: bool = False) -> None:
        """The state limit, counted as the reference encoder counts: its raw copies of the
        character DFA's states, its nodes (escape states once per boundary state), the
        final quote (not for "close") and the start quote. It checks as it creates states,
        so a partial count over the limit already fails; only nodes count here that the
        DFA needs (every node is reachable, see ``build``)."""
        nn = self.next_id - self.n
        counted = self.next_id + int(self.quotes) * (2 if final else 1) + self.dup_escapes
        if (nn or self.quotes) and counted > self.max_states:
            _too_many(self.max_states)

    # -- wider nodes, per boundary state ---------------------------------------------------
    def w3(self, s: int) -> int:
        """Last three digits after a 3-byte lead (s: its target)."""
        r = self._w3.get(s)
        if r is None:
            r = self._w3[s] = self.hexnode(3, tuple(self.W2[s]))
        return r

    def upper(self, row: list[int]) -> tuple:
        """Children 1..F of the root (U+1000..U+FFFF, high surrogates included)."""
        key = tuple(row[0xE1:0xF5])
        r = self._upper.get(key)
        if r is None:
            ch = []
            for d1 in range(1, 16):
                if d1 == 0xD:
                    astral = tuple(row[0xF0:0xF5])
                    dch = tuple(self.W2[row[0xED]][:8]) + tuple(
                        self.high(astral, j) for j in range(4))
                    ch.append(self.hexnode(3, dch + (-1, -1, -1, -1)))
                else:
                    ch.append(self.w3(row[0xE0 | d1]))
            r = self._upper[key] = tuple(ch)
        return r

    def high(self, astral: tuple, j: int) -> int:
        """Node for \\uD8xx..\\uDBxx with second digit 8 + j: each value is a high
        surrogate, leading to a low-surrogate state (astral: targets of F0..F4)."""
        key = (astral, j)
        r = self._hs2.get(key)
        if r is None:
            T = self.T
            ch = []
            for d3 in range(16):
                u0 = 0x40 + (j << 8) + (d3 << 4)  # (code point - 0x10000) >> 10, + 0x40
                a = astral[u0 >> 8]
                if a < 0:
                    ch.append(-1)
                    continue
                c = 0x80 | ((u0 >> 2) & 0x3F)
                ch.append(self.high1(tuple(T[a][c:c + 4])))
            r = self._hs2[key] = self.hexnode(2, tuple(ch))
        return r

    def high1(self, sbs: tuple) -> int:
        r = self._hs1.get(sbs)
        if r is None:
            ch = []
            for sb in sbs:
                if sb < 0:
                    ch += (-1, -1, -1, -1)
                else:
                    ch += (self.low(sb, 0), self.low(sb, 1), self.low(sb, 2), self.low(sb, 3))
            r = self._hs1[sbs] = self.hexnode(1, tuple(ch))
        return r

    def low(self, sb: int, r: int) -> int:
        """The state after a high surrogate: ``\\u`` + DC00..DFFF; sb is the state after the
        4-byte lead and one continuation byte, r the low 2 bits of the next byte's top."""
        key = (sb, r)
        hit = self._ls.get(key)
        if hit is None:
            l3 = self.hexnode(3, (-1,) * 12 + tuple(self.W2[sb][4 * r:4 * r + 4]))
            hit = -1
            if l3 >= 0:
                root = self.hexnode(4, (-1,) * 13 + (l3, -1, -1))
                hit = self.keys.get(("L", root))
                if hit is None:
                    hit = self.node(("L", root))
                    self.node(("U", root))
            self._ls[key] = hit
        return hit

    def build(self) -> ByteDFA | None:
        """The minimal DFA, numbered as ``minimize()`` numbers; None if a state turned out
        unreachable (then the caller takes the reference path)."""
        n = self.n
        B, N00, MID, (first1, rows1), (first2, rows2) = self.small_nodes()
        T = self.T = self.dfa.transitions.tolist()
        W2 = self.W2
        esc = [-1] * n
        hexnode = self.hexnode
        for i, q in enumerate(B.tolist()):
            row = T[q]
            e0 = row[0xE0]
            top = self._top.get(e0)
            if top is None:
                top = self._top[e0] = tuple(W2[e0][8:])
            x = hexnode(3, (N00[i], *MID[i], *top))
            root = hexnode(4, (x,) + self.upper(row))
            if root < 0:
                continue
            key = ("E", tuple([row[c] for c in _SHORT_CPS]), root)
            if key in self.keys:
                self.dup_escapes += 1
            esc[q] = self.node(key)
        self.check_limit(final=True)
        nn = self.next_id - n
        total = n + nn + int(self.close) + int(self.quotes)
        out = np.full((total, 256), -1, np.int32)
        raw = out[:n]
        raw[:] = self.dfa.transitions
        raw[:, _RAW_FORBIDDEN] = -1
        raw[:, 0x5C] = esc
        acc = np.zeros(total, bool)
        start = self.dfa.start
        if self.close:
            final = n + nn
            raw[self.dfa.accepting, 0x22] = final
            acc[final] = True
        else:
            acc[:n] = self.dfa.accepting
        if self.quotes:
            start = n + nn + 1
            out[start, 0x22] = self.dfa.start
        for first, rows in ((first1, rows1), (first2, rows2)):
            if rows.shape[0]:
                ids = np.arange(first, first + rows.shape[0])[:, None]
                out[ids, _HEX_COLS] = rows
                out[ids, _HEX_UPPER_COLS] = rows[:, 10:]
        hex_ids, hex_rows = [], []
        first_py = n + rows1.shape[0] + rows2.shape[0]
        for i, key in enumerate(self.rows):
            sid = first_py + i
            kind = key[0]
            if kind == "E":
                row = out[sid]
                row[_SHORT_LETTER_COLS] = key[1]
                row[0x75] = key[2]
            elif kind == "L":
                out[sid, 0x5C] = sid + 1  # its "U" state comes right after
            elif kind == "U":
                out[sid, 0x75] = key[1]
            else:
                hex_ids.append(sid)
                hex_rows.append(key[1])
        if hex_ids:
            ids = np.array(hex_ids, np.int64)[:, None]
            ch = np.array(hex_rows, np.int32)
            out[ids, _HEX_COLS] = ch
            out[ids, _HEX_UPPER_COLS] = ch[:, 10:]
        order = _bfs_order(out, start)
        if order.size != total:  # cannot happen for a UTF-8 shaped minimal input
            return None
        pos = np.empty(total + 1, np.int32)
        pos[order] = np.arange(total, dtype=np.int32)
        pos[total] = -1  # index -1: dead stays dead
        return mark_minimal(ByteDFA(pos[out[order]], acc[order], 0), canonical=True)


def _too_many(max_states: int) -> None:
    raise LimitExceeded("a JSON string terminal needs too many DFA states",
                        limit="max_string_states", value=max_states,
                        hint="lower maxLength or simplify pattern/format")


def reference_json_string_dfa(chars: ByteDFA, *, max_states: int = DEFAULT_MAX_STRING_STATES,
                              quotes: bool | str = True) -> ByteDFA:
    """The slow reference for ``json_string_dfa`` / ``json_string_tail_dfa``
    (``quotes="close"``): the interval-based ``_Encoder`` followed by a full minimization,
    no cache, no single-word shortcut. For tests."""
    chars = chars.minimize()
    if chars.is_empty():
        return chars
    body = _Encoder(chars, max_states, quotes is True).build()
    return _with_closing_quote(body) if quotes == "close" else body


def _h_groups(astral: list[tuple[int, int, int]]):
    """(h_lo, h_hi, low-bits intervals) for the high-surrogate indices (0..1023) touched by
    ``astral`` (intervals over cp - 0x10000), runs of identical h merged analytically."""
    def sub_for(h: int) -> tuple:
        base = h << 10
        return tuple((max(lo, base) - base, min(hi, base + 0x3FF) - base, tg)
                     for lo, hi, tg in astral if lo <= base + 0x3FF and hi >= base)

    out: list[tuple[int, int, tuple]] = []
    done = -1
    for lo, hi, tg in astral:
        first, last = lo >> 10, hi >> 10
        h = max(first, done + 1)
        while h <= last:
            base = h << 10
            if lo <= base and hi >= base + 0x3FF:  # whole h inside this interval
                h_end = min(last, ((hi + 1) >> 10) - 1)
                out.append((h, h_end, ((0, 0x3FF, tg),)))
                h = h_end + 1
            else:
                out.append((h, h, sub_for(h)))
                h += 1
            done = h - 1
    return out


def json_string_dfa(chars: ByteDFA, *, max_states: int = DEFAULT_MAX_STRING_STATES,
                    quotes: bool = True) -> ByteDFA:
    """The JSON string literals (with quotes) whose decoded value is in ``chars``.

    ``chars`` is a character-level DFA (over UTF-8); the result accepts each string written
    with any mix of raw characters (except ``"``, ``\\`` and controls, which JSON forbids raw)
    and escapes. Empty ``chars`` gives the empty language. ``quotes=False`` gives the body
    only (for strings split over several terminals).
    """
    key = (dfa_key(chars), quotes)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    if not chars.__dict__.get("_minimal"):  # (any numbering will do: see ``_encode``)
        chars = chars.minimize()
    if chars.is_empty():
        return chars
    word = _single_word(chars)
    if word is not None and quotes:
        out = literal_json_dfa(word)
    else:
        out = _encode(chars, max_states, quotes)
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = out
    return out


_CACHE: dict[tuple, ByteDFA] = {}


def _encode(chars: ByteDFA, max_states: int, quotes: bool | str) -> ByteDFA:
    """The fast encoder when ``chars`` (minimal, not empty, numbered in any order: the
    result is numbered on its own) is UTF-8 shaped, else the reference one."""
    need = _utf8_need(chars.transitions, chars.accepting, chars.start)
    if need is not None:
        out = _FastEncoder(chars, need, max_states, quotes).build()
        if out is not None:
            return out
    body = _Encoder(chars.minimize(), max_states, quotes is True).build()
    return _with_closing_quote(body) if quotes == "close" else body


def json_string_tail_dfa(chars: ByteDFA, *, max_states: int = DEFAULT_MAX_STRING_STATES
                         ) -> ByteDFA:
    """``json_string_dfa(chars, quotes=False)`` followed by the closing quote (the last part
    of a string split over several terminals), minimized. ``chars`` must not be empty."""
    key = (dfa_key(chars), "close")
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    out = _encode(chars if chars.__dict__.get("_minimal") else chars.minimize(), max_states,
                  "close")
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = out
    return out


def _with_closing_quote(body: ByteDFA) -> ByteDFA:
    """``body`` followed by ``"`` (``body`` never reads a raw quote)."""
    n = body.n_states
    t = np.concatenate([body.transitions, np.full((1, 256), -1, np.int32)])
    t[np.flatnonzero(body.accepting), 0x22] = n
    acc = np.zeros(n + 1, bool)
    acc[n] = True
    return ByteDFA(t, acc, body.start).minimize()


def _single_word(d: ByteDFA) -> str | None:
    """The one string of a minimal DFA whose language is a single word, else None."""
    live = (d.transitions >= 0).sum(axis=1)
    if (live > 1).any() or int(d.accepting.sum()) != 1:
        return None
    out = bytearray()
    q = d.start
    seen = set()
    while not d.accepting[q]:
        if q in seen:
            return None
        seen.add(q)
        b = int(np.flatnonzero(d.transitions[q] >= 0)[0])
        out.append(b)
        q = int(d.transitions[q, b])
    if live[q]:
        return None
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


_SHORT_OF = {0x22: ord('"'), 0x5C: ord("\\"), 0x2F: ord("/"), 0x08: ord("b"), 0x0C: ord("f"),
             0x0A: ord("n"), 0x0D: ord("r"), 0x09: ord("t")}


def literal_json_dfa(value: str) -> ByteDFA:
    """The JSON string literals (quotes included) decoding to exactly ``value``: each
    character raw (when JSON allows), as a short escape, or as ``\\uXXXX`` (either hex
    case; surrogate pairs for astral characters). Built directly as a chain (no
    minimization needed: every state has a distinct residual language)."""
    src: list[int] = []
    byt: list[int] = []
    dst: list[int] = []
    count = [0]

    def new() -> int:
        count[0] += 1
        return count[0] - 1

    def edge(s: int, b: int, t: int) -> None:
        src.append(s)
        byt.append(b)
        dst.append(t)

    def hex_path(s: int, code: int, end: int) -> None:
        for k, ch in enumerate("%04x" % code):
            t = end if k == 3 else new()
            edge(s, ord(ch), t)
            if ch > "9":
                edge(s, ord(ch) - 32, t)
            s = t

    start = new()
    cur = new()
    edge(start, 0x22, cur)
    for ch in value:
        cp = ord(ch)
        nxt = new()
        if cp >= 0x20 and cp not in (0x22, 0x5C):
            data = ch.encode("utf-8")
            s = cur
            for k, byte in enumerate(data):
                t = nxt if k == len(data) - 1 else new()
                edge(s, byte, t)
                s = t
        esc = new()
        edge(cur, 0x5C, esc)
        if cp in _SHORT_OF:
            edge(esc, _SHORT_OF[cp], nxt)
        u = new()
        edge(esc, 0x75, u)
        if cp < 0x10000:
            hex_path(u, cp, nxt)
        else:
            v = cp - 0x10000
            mid = new()
            hex_path(u, 0xD800 + (v >> 10), mid)
            u2 = new()
            edge(mid, 0x5C, u2)
            u3 = new()
            edge(u2, 0x75, u3)
            hex_path(u3, 0xDC00 + (v & 0x3FF), nxt)
        cur = nxt
    final = new()
    edge(cur, 0x22, final)
    table = np.full((count[0], 256), -1, np.int32)
    table[src, byt] = dst
    acc = np.zeros(count[0], bool)
    acc[final] = True
    return mark_minimal(ByteDFA(table, acc, start))


def dfa_key(d: ByteDFA) -> bytes:
    """A content key for a DFA (for caches)."""
    return content_key(d)
