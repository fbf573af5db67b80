"""Which tokens stay inside one terminal's lexeme, and which may complete it, per vocabulary.

For one terminal DFA, one of its states ``q`` and one token trie, every token is walked once
through the DFA alone (no grammar, no parser): ``inside`` tokens leave the DFA alive in a
state with some byte still to go (the lexeme continues past the token), ``completes`` tokens
pass through an accepting state at some byte boundary (the lexeme may end inside or at the
end of the token, and the rest of the token belongs to the next lexemes). Every other token
kills the lexeme without completing it.

The CFG classification (``cfg_index``) combines these per-pair classes for a lexer state in
the middle of a lexeme: a token is allowed whatever the stack iff it is ``inside`` for some
pair; only the ``completes`` tokens need the grammar-level walk. Inside a JSON string that
is a few thousand tokens instead of the whole vocabulary.

Results depend only on the DFA's content, the state and the trie, so they are cached
process-wide (keyed by a digest of the DFA, per trie, bounded by bytes): every grammar that
uses the same string terminal shares them.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..grammar.dfa import ByteDFA, content_key
from .trie import TokenTrie

__all__ = ["PairClasses", "pair_classes", "mark", "clear_cache"]

MAX_CACHE_BYTES = 128 << 20  # per process, over every trie
_DENSE = 8  # a class with more than 1/_DENSE of the tokens is kept as a bool array


@dataclass(frozen=True, eq=False)
class PairClasses:
    """Token classes of one (terminal DFA, state) over one trie, in trie token order:
    ``inside`` and ``completes`` are either bool arrays over the trie's tokens or sorted
    int64 positions into them (whichever is smaller)."""

    inside: np.ndarray
    completes: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.inside.nbytes + self.completes.nbytes)


def mark(acc: np.ndarray, cls: np.ndarray) -> None:
    """``acc |= cls`` for a class in either representation (``acc`` a bool array)."""
    if cls.dtype == bool:
        acc |= cls
    else:
        acc[cls] = True


# -- one walk of the trie through the DFA -------------------------------------------------

_SHIFTED: "weakref.WeakKeyDictionary[ByteDFA, tuple]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _shifted(dfa: ByteDFA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The DFA with states shifted by one (0 = dead, an all-0 row) for ``walk_live``,
    raveled, and per shifted state whether it is inside a lexeme (alive with a way on)
    and accepting. Memoized per object."""
    hit = _SHIFTED.get(dfa)
    if hit is None:
        t = dfa.transitions
        table = np.zeros((t.shape[0] + 1, 256), dtype=np.int32)
        np.add(t, 1, out=table[1:])
        inside = np.zeros(t.shape[0] + 1, dtype=bool)
        inside[1:] = table[1:].any(axis=1)
        accepting = np.zeros(t.shape[0] + 1, dtype=bool)
        accepting[1:] = dfa.accepting
        hit = (table.reshape(-1), inside, accepting)
        with _LOCK:
            _SHIFTED[dfa] = hit
    return hit


def _ranges(lo: np.ndarray, hi: np.ndarray, n: int, *, disjoint: bool) -> np.ndarray:
    """The union of ``[lo, hi)`` ranges of ``0..n`` as a class (sorted positions or bools)."""
    cnt = hi - lo
    size = int(cnt.sum())
    if size * _DENSE <= n:
        keep = cnt > 0
        lo, cnt = lo[keep], cnt[keep]
        pos = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(size)
        return pos if disjoint else np.unique(pos)  # (nested ranges repeat positions)
    diff = np.bincount(lo, minlength=n + 1) - np.bincount(hi, minlength=n + 1)
    return np.cumsum(diff[:n]) > 0


def _compute(trie: TokenTrie, dfa: ByteDFA, state: int) -> PairClasses:
    """One walk of the live part of the trie: a token is ``inside`` when its own node is
    alive in a state with a way on, and ``completes`` when its node or an ancestor (or the
    start) is accepting: tokens below a node are one range of trie positions."""
    n_tok = len(trie.token_ids)
    end_hi, sub_lo, sub_hi = trie.node_ranges
    table, inside_st, accepting_st = _shifted(dfa)

    def step(states: np.ndarray, data: np.ndarray) -> np.ndarray:
        idx = states.astype(np.int64) << 8
        idx += data
        return table.take(idx)

    final, nodes, states = trie.walk_live(step, state + 1)
    if final is not None:  # a dense walk: every node's state
        inside = inside_st[final[trie.token_global]]
        acc = np.flatnonzero(accepting_st[final])
    else:
        ins = nodes[inside_st[states]]
        inside = _ranges(sub_lo[ins], end_hi[ins], n_tok, disjoint=True)
        acc = nodes[accepting_st[states]]
    if dfa.accepting[state]:
        completes = np.ones(n_tok, dtype=bool)
    else:
        completes = _ranges(sub_lo[acc], sub_hi[acc], n_tok, disjoint=False)
    return PairClasses(_fix(inside, n_tok), _fix(completes, n_tok))


def _fix(cls: np.ndarray, n: int) -> np.ndarray:
    """A class in the cheaper representation for its density, read-only."""
    if cls.dtype == bool:
        if np.count_nonzero(cls) * _DENSE <= n:
            cls = np.flatnonzero(cls)
    elif len(cls) * _DENSE > n:
        flags = np.zeros(n, dtype=bool)
        flags[cls] = True
        cls = flags
    cls.setflags(write=False)
    return cls


# -- the process-wide cache ------------------------------------------------------------------

class _Entries:
    """The cached classes of one trie, oldest first, and their size in bytes."""

    __slots__ = ("items", "nbytes", "__weakref__")

    def __init__(self) -> None:
        self.items: OrderedDict[tuple[bytes, int], PairClasses] = OrderedDict()
        self.nbytes = 0


_CACHE: "weakref.WeakKeyDictionary[TokenTrie, _Entries]" = weakref.WeakKeyDictionary()


def pair_classes(trie: TokenTrie, dfa: ByteDFA, state: int) -> PairClasses:
    """The classes of ``(dfa, state)`` over ``trie`` (cached by DFA content)."""
    key = (content_key(dfa), int(state))
    entries = _CACHE.get(trie)
    if entries is not None:
        hit = entries.items.get(key)
        if hit is not None:
            with _LOCK:
                if key in entries.items:
                    entries.items.move_to_end(key)
            return hit
    got = _compute(trie, dfa, state)
    with _LOCK:
        entries = _CACHE.get(trie)
        if entries is None:
            entries = _CACHE[trie] = _Entries()
        if key not in entries.items:
            entries.items[key] = got
            entries.nbytes += got.nbytes
            _evict()
    return got


def _evict() -> None:
    """Drop the oldest classes of the largest tries until the total fits the budget."""
    tries = list(_CACHE.values())
    total = sum(e.nbytes for e in tries)
    while total > MAX_CACHE_BYTES:
        largest = max(tries, key=lambda e: e.nbytes)
        if not largest.items:
            return
        _, old = largest.items.popitem(last=False)
        largest.nbytes -= old.nbytes
        total -= old.nbytes


def clear_cache() -> None:
    """Drop every cached class (tests, memory)."""
    with _LOCK:
        _CACHE.clear()
