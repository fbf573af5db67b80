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

import hashlib
from functools import lru_cache

import numpy as np

from ...errors import LimitExceeded
from ..dfa import ByteDFA
from ..ir import literal_dfa
from ..regex import regex_to_dfa

__all__ = ["json_string_dfa", "any_string_dfa", "length_dfa", "literal_string_dfa",
           "DEFAULT_MAX_STRING_STATES", "dfa_key",
           "literal_json_dfa"]

DEFAULT_MAX_STRING_STATES = 100_000

_SHORT_ESCAPES = {ord('"'): 0x22, ord("\\"): 0x5C, ord("/"): 0x2F, ord("b"): 0x08,
                  ord("f"): 0x0C, ord("n"): 0x0A, ord("r"): 0x0D, ord("t"): 0x09}
_HEX_LOWER = b"0123456789abcdef"
_HEX_UPPER = b"0123456789ABCDEF"


@lru_cache(maxsize=1)
def any_string_dfa() -> ByteDFA:
    """Every string (character level): any sequence of Unicode scalars."""
    return regex_to_dfa(r"(?s:.)*")


@lru_cache(maxsize=256)
def length_dfa(lo: int, hi: int | None, *, max_states: int = DEFAULT_MAX_STRING_STATES
               ) -> ByteDFA:
    """Strings of ``lo`` to ``hi`` characters (``hi=None``: unbounded)."""
    hi_s = "" if hi is None else str(hi)
    return regex_to_dfa(r"(?s:.){%d,%s}" % (lo, hi_s), max_states=max_states)


def literal_string_dfa(value: str) -> ByteDFA:
    """Exactly the string ``value`` (character level). Lone surrogates are kept out by the
    caller: a value holding one yields the empty language."""
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), -1)
    return literal_dfa(data)


class _Encoder:
    """Builds the JSON-literal DFA of a character-level DFA (see module docstring)."""

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
    chars = chars.minimize()
    if chars.is_empty():
        return chars
    word = _single_word(chars)
    if word is not None and quotes:
        out = literal_json_dfa(word)
    else:
        out = _Encoder(chars, max_states, quotes).build()
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = out
    return out


_CACHE: dict[tuple, ByteDFA] = {}


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
    rows: list[list[int]] = []

    def new() -> int:
        rows.append([-1] * 256)
        return len(rows) - 1

    def hex_path(src: int, code: int, dst: int) -> None:
        s = src
        digits = "%04x" % code
        for k, ch in enumerate(digits):
            t = dst if k == 3 else new()
            rows[s][ord(ch)] = t
            rows[s][ord(ch.upper())] = t
            s = t

    start = new()
    cur = new()
    rows[start][0x22] = cur
    for ch in value:
        cp = ord(ch)
        nxt = new()
        if cp >= 0x20 and cp not in (0x22, 0x5C):
            data = ch.encode("utf-8")
            s = cur
            for k, byte in enumerate(data):
                t = nxt if k == len(data) - 1 else new()
                rows[s][byte] = t
                s = t
        esc = new()
        rows[cur][0x5C] = esc
        if cp in _SHORT_OF:
            rows[esc][_SHORT_OF[cp]] = nxt
        u = new()
        rows[esc][ord("u")] = u
        if cp < 0x10000:
            hex_path(u, cp, nxt)
        else:
            v = cp - 0x10000
            mid = new()
            hex_path(u, 0xD800 + (v >> 10), mid)
            u2 = new()
            rows[mid][0x5C] = u2
            u3 = new()
            rows[u2][ord("u")] = u3
            hex_path(u3, 0xDC00 + (v & 0x3FF), nxt)
        cur = nxt
    final = new()
    rows[cur][0x22] = final
    acc = np.zeros(len(rows), bool)
    acc[final] = True
    return ByteDFA(np.array(rows, np.int32), acc, start)


def dfa_key(d: ByteDFA) -> bytes:
    """A content key for a DFA (for caches)."""
    h = hashlib.sha1(d.transitions.tobytes())
    h.update(d.accepting.tobytes())
    h.update(str(d.start).encode())
    return h.digest()
