"""Boolean operations on byte DFAs: intersection, union, difference (product construction).

Front ends (JSON Schema above all) need them to combine constraints exactly: a string with a
``pattern`` and a ``format`` is the intersection of two languages, the keys of additional
properties are all strings minus the declared names, ``not`` of a string schema is a
difference from the universe of strings. Every result is trimmed and minimized.

The product walks only reachable pairs and works over the byte classes that both operands
agree on, so its cost is (reachable pairs) x (distinct columns), with a configurable limit;
large ones walk breadth-first a level at a time with numpy. Results are memoized by the
operands' contents (schemas repeat the same products), and all strings minus a finite set
(undeclared property names) skip the minimization, which could not merge anything there.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..errors import LimitExceeded
from .dfa import (ByteDFA, _bfs_order, _column_classes, content_key, mark_minimal,
                  minimize_table)

__all__ = ["intersect", "union", "difference", "empty_dfa", "is_subset", "disjoint",
           "DEFAULT_MAX_PRODUCT_STATES"]

DEFAULT_MAX_PRODUCT_STATES = 50_000


def empty_dfa() -> ByteDFA:
    """The DFA of the empty language (zero states, start -1)."""
    return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), -1)


def _classes(*dfas: ByteDFA) -> tuple[np.ndarray, np.ndarray]:
    """(class id of each byte, one representative byte per class) shared by ``dfas``.

    Classes are the distinct columns of the stacked tables, numbered in the lexicographic
    order of their columns, each represented by its first byte (what ``np.unique(cols.T,
    axis=0)`` gives; grouped here by a hash, then only the representatives are sorted)."""
    cols = np.concatenate([d.transitions for d in dfas], axis=0)
    cls, first = _column_classes(cols)
    order = np.lexsort(cols[::-1, first])
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[cls], first[order]


def _product(a: ByteDFA, b: ByteDFA, mode: str, max_states: int) -> ByteDFA:
    """The trimmed minimal DFA of ``mode`` ("and", "or", "diff") over ``a`` and ``b``,
    behind an LRU keyed by the operands' contents (schemas repeat the same products)."""
    key = (content_key(a), content_key(b), mode)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            _MEMO.move_to_end(key)
    if hit is not None:
        dfa, pairs = hit
        if dfa is None and max_states <= pairs:  # known to need more than ``pairs`` states
            raise _too_many_pairs(max_states)
        if dfa is not None:
            if pairs > max(max_states, 1):  # (the start pair is never refused)
                raise _too_many_pairs(max_states)
            out = ByteDFA(dfa.transitions, dfa.accepting, dfa.start)  # a new object, as before
            out.__dict__.update(dfa.__dict__)
            return out
    try:
        dfa, pairs = _product_uncached(a, b, mode, max_states)
    except LimitExceeded:
        _remember(key, None, max_states, 0)
        raise
    _remember(key, dfa, pairs, dfa.n_states)
    return dfa


_MEMO: "OrderedDict[tuple, tuple[ByteDFA | None, int]]" = OrderedDict()
_MEMO_STATES = [0]  # states held by the memo
_MEMO_MAX_STATES = 1 << 16  # at most this many states in all (256 int32 each: 64 MiB)
_MEMO_MAX_ONE = 1 << 13
_MEMO_LOCK = threading.Lock()


def _remember(key: tuple, dfa: ByteDFA | None, pairs: int, size: int) -> None:
    if size > _MEMO_MAX_ONE:
        return
    with _MEMO_LOCK:
        _remember_locked(key, dfa, pairs, size)


def _remember_locked(key: tuple, dfa: ByteDFA | None, pairs: int, size: int) -> None:
    old = _MEMO.pop(key, None)
    if old is not None and old[0] is not None:
        _MEMO_STATES[0] -= old[0].n_states
    _MEMO[key] = (dfa, pairs)
    _MEMO_STATES[0] += size
    while _MEMO and (_MEMO_STATES[0] > _MEMO_MAX_STATES or len(_MEMO) > 8192):
        _, (d, _) = _MEMO.popitem(last=False)
        if d is not None:
            _MEMO_STATES[0] -= d.n_states


def _too_many_pairs(max_states: int) -> LimitExceeded:
    return LimitExceeded("a DFA product (intersection / difference) needs too many states",
                         limit="max_product_states", value=max_states,
                         hint="simplify the combined constraints")


def _product_uncached(a: ByteDFA, b: ByteDFA, mode: str, max_states: int
                      ) -> tuple[ByteDFA, int]:
    """(result, number of reachable state pairs)."""
    a_empty = a.n_states == 0 or a.start < 0
    b_empty = b.n_states == 0 or b.start < 0
    if mode == "and" and (a_empty or b_empty):
        return empty_dfa(), 0
    if mode == "diff" and a_empty:
        return empty_dfa(), 0
    if mode == "diff" and b_empty:
        return a.minimize(), 0
    if mode == "or" and a_empty:
        return b.minimize(), 0
    if mode == "or" and b_empty:
        return a.minimize(), 0
    cls, reps = _classes(a, b)
    ta = a.transitions[:, reps]
    tb = b.transitions[:, reps]
    if ta.shape[0] * tb.shape[0] * len(reps) > 4096 and \
            (ta.shape[0] + 1) * (tb.shape[0] + 1) <= _DENSE_PAIRS:
        table, acc = _pairs_levels(ta, tb, a.accepting, b.accepting, a.start, b.start, mode,
                                   max_states)
    else:
        table, acc = _pairs_python(ta, tb, a.accepting, b.accepting, a.start, b.start, mode,
                                   max_states)
    if mode == "diff" and a.__dict__.get("_utf8_all") and b.__dict__.get("_finite_utf8"):
        # every string minus a finite set: the product is trimmed and minimal already
        # (see ``mark_finite_utf8``), so only the breadth-first numbering is left to do
        order = _bfs_order(table, 0)
        pos = np.empty(order.size + 1, np.int64)
        pos[order] = np.arange(order.size)
        pos[-1] = -1
        small, sacc = pos[table[order]].astype(np.int32), acc[order]
    else:
        small, sacc = minimize_table(table, acc, 0)
    if small.shape[0] == 0:
        return empty_dfa(), table.shape[0]
    return mark_minimal(ByteDFA(small[:, cls], sacc, 0)), table.shape[0]


def mark_utf8_all(dfa: ByteDFA) -> ByteDFA:
    """Record that ``dfa`` is the minimal DFA of all well-formed UTF-8 strings (its eight
    states: every language infinite, any two differing on infinitely many strings)."""
    object.__setattr__(dfa, "_utf8_all", True)
    return dfa


def mark_finite_utf8(dfa: ByteDFA) -> ByteDFA:
    """Record that ``dfa`` is trimmed and minimal and accepts a finite set of well-formed
    UTF-8 strings. Then ``difference(U, dfa)``, U marked by ``mark_utf8_all``, needs no
    minimization: its states are the pairs (p, q) reached by a common word w, so L(q) =
    w^-1 L(dfa) is a finite subset of L(p) = w^-1 L(U) (q may be dead), and L(p) - L(q)
    determines p (the languages of U's states differ on infinitely many strings) and then
    L(q) (a subset of L(p)), hence q; and no pair is dead (L(p) is infinite)."""
    object.__setattr__(dfa, "_finite_utf8", True)
    return dfa


_DENSE_PAIRS = 1 << 22  # pair-id maps up to this size are dense arrays


def _pair_accepting(fa: np.ndarray, fb: np.ndarray, mode: str) -> np.ndarray:
    return (fa & fb) if mode == "and" else (fa & ~fb) if mode == "diff" else (fa | fb)


def _pairs_python(ta: np.ndarray, tb: np.ndarray, acc_a: np.ndarray, acc_b: np.ndarray,
                  sa: int, sb: int, mode: str, max_states: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The reachable part of the product over shared classes (tables [n, k]): (table over
    the pairs, numbered in discovery order, accepting). Raises past ``max_states`` pairs."""
    ta_l = ta.tolist()
    tb_l = tb.tolist()
    k = ta.shape[1]
    dead_row = [-1] * k
    start = (sa, sb)
    ids = {start: 0}
    pairs = [start]
    rows: list[list[int]] = []
    i = 0
    need_both = mode == "and"
    need_a = mode == "diff"
    while i < len(pairs):
        qa, qb = pairs[i]
        ra = ta_l[qa] if qa >= 0 else dead_row
        rb = tb_l[qb] if qb >= 0 else dead_row
        row = [-1] * k
        for c in range(k):
            x, y = ra[c], rb[c]
            if need_both:
                if x < 0 or y < 0:
                    continue
            elif need_a:
                if x < 0:
                    continue
            elif x < 0 and y < 0:
                continue
            key = (x, y)
            sid = ids.get(key)
            if sid is None:
                sid = len(pairs)
                if sid >= max_states:
                    raise _too_many_pairs(max_states)
                ids[key] = sid
                pairs.append(key)
            row[c] = sid
        rows.append(row)
        i += 1
    pa = np.array([p[0] for p in pairs], np.int64)
    pb = np.array([p[1] for p in pairs], np.int64)
    fa = (pa >= 0) & np.append(acc_a, False)[pa]
    fb = (pb >= 0) & np.append(acc_b, False)[pb]
    table = np.array(rows, dtype=np.int64).reshape(len(rows), k)
    return table, _pair_accepting(fa, fb, mode)


def _pairs_levels(ta: np.ndarray, tb: np.ndarray, acc_a: np.ndarray, acc_b: np.ndarray,
                  sa: int, sb: int, mode: str, max_states: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``_pairs_python`` breadth-first a level at a time with numpy (a dense map from pairs
    to ids; pairs numbered in another order, which minimization does not see)."""
    na, nb = ta.shape[0], tb.shape[0]
    TA = np.vstack([ta, np.full((1, ta.shape[1]), -1, ta.dtype)]).astype(np.int64)
    TA[TA < 0] = na  # the dead state is row na (resp. nb)
    TB = np.vstack([tb, np.full((1, tb.shape[1]), -1, tb.dtype)]).astype(np.int64)
    TB[TB < 0] = nb
    w = nb + 1
    ids = np.full((na + 1) * w, -1, np.int64)
    start = (sa if sa >= 0 else na) * w + (sb if sb >= 0 else nb)
    ids[start] = 0
    frontier = np.array([start], np.int64)
    levels = [frontier]
    rows = []
    count = 1
    while frontier.size:
        xa = TA[frontier // w]
        xb = TB[frontier % w]
        if mode == "and":
            ok = (xa < na) & (xb < nb)
        elif mode == "diff":
            ok = xa < na
        else:
            ok = (xa < na) | (xb < nb)
        keys = xa * w + xb
        cand = keys[ok]
        fresh = np.unique(cand[ids[cand] < 0])
        if fresh.size and count + fresh.size > max_states:
            raise _too_many_pairs(max_states)
        ids[fresh] = np.arange(count, count + fresh.size)
        count += fresh.size
        rows.append(np.where(ok, ids[keys], -1))
        if fresh.size:
            levels.append(fresh)
        frontier = fresh
    pairs = np.concatenate(levels)
    pa, pb = pairs // w, pairs % w
    fa = np.append(acc_a, False)[pa]
    fb = np.append(acc_b, False)[pb]
    return np.concatenate(rows), _pair_accepting(fa, fb, mode)


def intersect(a: ByteDFA, b: ByteDFA, *, max_states: int = DEFAULT_MAX_PRODUCT_STATES) -> ByteDFA:
    """The DFA of L(a) ∩ L(b)."""
    return _product(a, b, "and", max_states)


def union(a: ByteDFA, b: ByteDFA, *, max_states: int = DEFAULT_MAX_PRODUCT_STATES) -> ByteDFA:
    """The DFA of L(a) ∪ L(b)."""
    return _product(a, b, "or", max_states)


def difference(a: ByteDFA, b: ByteDFA, *,
               max_states: int = DEFAULT_MAX_PRODUCT_STATES) -> ByteDFA:
    """The DFA of L(a) \\ L(b)."""
    return _product(a, b, "diff", max_states)


def is_subset(a: ByteDFA, b: ByteDFA) -> bool:
    """Whether L(a) ⊆ L(b)."""
    return difference(a, b).is_empty()


def disjoint(a: ByteDFA, b: ByteDFA) -> bool:
    """Whether L(a) ∩ L(b) is empty."""
    return intersect(a, b).is_empty()
