"""Boolean operations on byte DFAs: intersection, union, difference (product construction).

Front ends (JSON Schema above all) need them to combine constraints exactly: a string with a
``pattern`` and a ``format`` is the intersection of two languages, the keys of additional
properties are all strings minus the declared names, ``not`` of a string schema is a
difference from the universe of strings. Every result is trimmed and minimized.

The product walks only reachable pairs and works over the byte classes that both operands
agree on, so its cost is (reachable pairs) x (distinct columns), with a configurable limit.
"""

from __future__ import annotations

import numpy as np

from ..errors import LimitExceeded
from .dfa import ByteDFA, minimize_table

__all__ = ["intersect", "union", "difference", "empty_dfa", "is_subset", "disjoint",
           "DEFAULT_MAX_PRODUCT_STATES"]

DEFAULT_MAX_PRODUCT_STATES = 50_000


def empty_dfa() -> ByteDFA:
    """The DFA of the empty language (zero states, start -1)."""
    return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), -1)


def _classes(*dfas: ByteDFA) -> tuple[np.ndarray, np.ndarray]:
    """(class id of each byte, one representative byte per class) shared by ``dfas``."""
    cols = np.concatenate([d.transitions for d in dfas], axis=0)
    _, first, inv = np.unique(cols.T, axis=0, return_index=True, return_inverse=True)
    return inv.reshape(-1), first


def _product(a: ByteDFA, b: ByteDFA, mode: str, max_states: int) -> ByteDFA:
    a_empty = a.n_states == 0 or a.start < 0
    b_empty = b.n_states == 0 or b.start < 0
    if mode == "and" and (a_empty or b_empty):
        return empty_dfa()
    if mode == "diff" and a_empty:
        return empty_dfa()
    if mode == "diff" and b_empty:
        return a.minimize()
    if mode == "or" and a_empty:
        return b.minimize()
    if mode == "or" and b_empty:
        return a.minimize()
    cls, reps = _classes(a, b)
    ta = a.transitions[:, reps].tolist()
    tb = b.transitions[:, reps].tolist()
    acc_a = a.accepting.tolist()
    acc_b = b.accepting.tolist()
    k = len(reps)
    dead_row = [-1] * k
    start = (a.start, b.start)
    ids = {start: 0}
    pairs = [start]
    rows: list[list[int]] = []
    acc: list[bool] = []
    i = 0
    need_both = mode == "and"
    need_a = mode == "diff"
    while i < len(pairs):
        qa, qb = pairs[i]
        ra = ta[qa] if qa >= 0 else dead_row
        rb = tb[qb] if qb >= 0 else dead_row
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
                    raise LimitExceeded("a DFA product (intersection / difference) needs too "
                                        "many states", limit="max_product_states",
                                        value=max_states,
                                        hint="simplify the combined constraints")
                ids[key] = sid
                pairs.append(key)
            row[c] = sid
        rows.append(row)
        fa = qa >= 0 and acc_a[qa]
        fb = qb >= 0 and acc_b[qb]
        acc.append((fa and fb) if mode == "and" else (fa and not fb) if mode == "diff"
                   else (fa or fb))
        i += 1
    table = np.array(rows, dtype=np.int64).reshape(len(rows), k)
    small, sacc = minimize_table(table, np.array(acc, bool), 0)
    if small.shape[0] == 0:
        return empty_dfa()
    return ByteDFA(small[:, cls], sacc, 0)


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
