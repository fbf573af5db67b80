"""Which tokens stay inside one terminal's lexeme, and which may complete it, per vocabulary.

For one terminal DFA, one of its states ``q`` and one token trie, every token is walked once
through the DFA alone (no grammar, no parser): ``inside`` tokens leave the DFA alive in a
state with some byte still to go (the lexeme continues past the token), ``completes`` tokens
pass through an accepting state at some byte boundary (the lexeme may end inside or at the
end of the token, and the rest of the token belongs to the next lexemes). Every other token
kills the lexeme without completing it.

The CFG classification (``cfg_index``) combines these per-pair classes for a lexer state
(in a lexeme or at its start): a token is allowed whatever the stack iff it is ``inside``
for some pair; only the ``completes`` tokens need the grammar-level walk. Inside a JSON
string that is a few thousand tokens instead of the whole vocabulary.

Results depend only on the DFA's content, the state and the trie, so they are cached
process-wide (keyed by a digest of the DFA, per trie, bounded by bytes): every grammar that
uses the same string terminal shares them. ``inside`` is also cached under
``grammar.dfa.inside_key``, which does not see acceptance: a property name that may not be
one of a few declared names stays inside where any string does, so every such terminal of
every object shares one class, and ``completes`` is then read off the few tokens holding a
byte that enters an accepting state. From a narrow state (a literal, a property name and
its escaped spellings) the classes are read off the trie nodes along its few strings by a
depth-first search. Otherwise the classes are assembled from
per-first-byte *pieces*: the tokens under the trie's depth-1 node for byte ``b`` depend only
on the automaton from ``dfa(q, b)``, so a piece is cached under that successor state and
reused by every state that shares it (along a key or a string most bytes lead to the same
state), and, when it is large, under a digest of the automaton reachable from the successor
(``grammar.dfa.residual_key``), which most string terminals of most grammars share. A walk
covers only the missing subtrees.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..grammar.dfa import ByteDFA, content_key, entering_bytes, inside_key, residual_key
from .trie import TokenTrie, coded_table, expand_ranges

__all__ = ["PairClasses", "pair_classes", "prepare", "mark", "clear_cache"]

MAX_CACHE_BYTES = 128 << 20  # per process, over every trie
_DENSE = 8  # a class with more than 1/_DENSE of the tokens is kept as a bool array
_WIDE = 64  # inside classes are shared (inside_key) for DFAs with a state this permissive


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

_CODED: "weakref.WeakKeyDictionary[ByteDFA, tuple]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _coded(dfa: ByteDFA) -> tuple:
    """The DFA's ``coded_table`` for ``walk_live`` (state ``q`` coded ``(q + 1) << 8``, 0
    dead); per ``q + 1`` whether it is inside a lexeme (alive with a way on) and
    accepting. Memoized per object."""
    hit = _CODED.get(dfa)
    if hit is None:
        t = dfa.transitions
        codes = coded_table(t)
        table = codes.reshape(-1, 256)
        inside = np.zeros(t.shape[0] + 1, dtype=bool)
        inside[1:] = table[1:].any(axis=1)
        accepting = np.zeros(t.shape[0] + 1, dtype=bool)
        accepting[1:] = dfa.accepting
        hit = (codes, inside, accepting)
        with _LOCK:
            _CODED[dfa] = hit
    return hit


def _ranges(lo: np.ndarray, hi: np.ndarray, n: int, *, disjoint: bool) -> np.ndarray:
    """The union of ``[lo, hi)`` ranges of ``0..n`` as a class (sorted positions or bools);
    ``disjoint``: the ranges do not overlap (in any order)."""
    cnt = hi - lo
    size = int(cnt.sum())
    if size * _DENSE <= n:
        pos = expand_ranges(lo, cnt)
        return np.sort(pos) if disjoint else np.unique(pos)  # (nested ranges repeat)
    diff = np.bincount(lo, minlength=n + 1) - np.bincount(hi, minlength=n + 1)
    return np.cumsum(diff[:n]) > 0


_SHARE_MIN = 4096  # missing pieces of a state weighing this many tokens look across DFAs


_NARROW_FAN = 8  # a state with more bytes leading on ends a narrow walk (see _narrow)
_NARROW_NODES = 512  # ... and so does meeting more trie nodes than this


def _narrow(trie: TokenTrie, dfa: ByteDFA, state: int, n_tok: int) -> PairClasses | None:
    """The classes of a state from which few strings lead on (a literal, a property name
    and its escaped spellings, a small enum), read off the trie nodes along those strings
    by a depth-first search: a token is ``inside`` when it ends at a node alive in a state
    with a way on, and ``completes`` when its path passes a node in an accepting state (or
    the state accepts). None as soon as a state with more than ``_NARROW_FAN`` bytes
    leading on, or more than ``_NARROW_NODES`` nodes, is met (the trie walk then does it)."""
    live = _live_bytes(dfa)
    if live[state] is None or not trie.depth:
        return None
    t = dfa.transitions
    acc = dfa.accepting
    end_hi, sub_lo, sub_hi = trie.node_ranges
    offs = trie.level_offset.tolist()
    ins_lo: list[int] = []
    ins_hi: list[int] = []
    done_lo: list[int] = []
    done_hi: list[int] = []
    stack = [(0, 0, len(trie.level_bytes[0]), state)]  # (level, child range, parent state)
    budget = _NARROW_NODES
    while stack:
        i, lo, hi, s = stack.pop()
        level = trie.level_bytes[i]
        for b in live[s]:  # type: ignore[union-attr]
            k = lo + int(level[lo:hi].searchsorted(b))
            if k >= hi or level[k] != b:
                continue
            budget -= 1
            s2 = int(t[s, b])
            if budget < 0 or live[s2] is None:
                return None
            g = offs[i] + k
            if live[s2] and end_hi[g] > sub_lo[g]:
                ins_lo.append(int(sub_lo[g]))
                ins_hi.append(int(end_hi[g]))
            if acc[s2]:  # every token below completes: no need to go further for that
                done_lo.append(int(sub_lo[g]))
                done_hi.append(int(sub_hi[g]))
            if live[s2] and i + 1 < trie.depth:
                c_lo, c_hi = int(trie.child_lo[i][k]), int(trie.child_hi[i][k])
                if c_lo < c_hi:
                    stack.append((i + 1, c_lo, c_hi, s2))
    inside = _few_ranges(ins_lo, ins_hi, n_tok)
    completes = np.ones(n_tok, dtype=bool) if acc[state] \
        else _few_ranges(done_lo, done_hi, n_tok)
    return PairClasses(_fix(inside, n_tok), _fix(completes, n_tok))


def _few_ranges(lo: list[int], hi: list[int], n: int) -> np.ndarray:
    """``_ranges`` of ranges given as lists (maybe nested), in Python when they hold few
    positions (a property name's classes: a handful of tokens)."""
    if sum(hi) - sum(lo) > 256:
        return _ranges(np.array(lo, np.int64), np.array(hi, np.int64), n, disjoint=False)
    return np.array(sorted({p for a, b in zip(lo, hi) for p in range(a, b)}), np.int64)


def _live_bytes(dfa: ByteDFA) -> "_LiveBytes":
    """Per state, the bytes with a successor when there are at most ``_NARROW_FAN`` of
    them, else None (filled in on demand, memoized per object)."""
    got = dfa.__dict__.get("_narrow_bytes")
    if got is None:
        got = _LiveBytes(dfa.transitions)
        object.__setattr__(dfa, "_narrow_bytes", got)
    return got


class _LiveBytes(dict):
    def __init__(self, table: np.ndarray) -> None:
        super().__init__()
        self.table = table

    def __missing__(self, q: int) -> list[int] | None:
        live = np.flatnonzero(self.table[q] >= 0)
        got = live.tolist() if len(live) <= _NARROW_FAN else None
        self[q] = got
        return got


def _wide(dfa: ByteDFA) -> bool:
    """Whether some state of ``dfa`` has at least ``_WIDE`` bytes leading on (memoized)."""
    got = dfa.__dict__.get("_wide")
    if got is None:
        got = bool(dfa.n_states) and int((dfa.transitions >= 0).sum(axis=1).max()) >= _WIDE
        object.__setattr__(dfa, "_wide", got)
    return got


def _compute(trie: TokenTrie, dfa: ByteDFA, state: int, entries: "_Entries") -> PairClasses:
    """Assemble the classes from per-first-byte pieces: the tokens below the depth-1 node of
    byte ``b`` depend only on the automaton from ``s = dfa(state, b)``, so a piece is cached
    under ``(DFA content, s, node)`` and shared by every state with the same successor on
    ``b`` (most bytes of a string, a key or a name lead to the same state from most of its
    states). When a state's missing pieces are large, they are also looked up by the digest
    of the automaton reachable from ``s`` (``residual_key``): the tail of a JSON string is
    the same in most string terminals of most grammars. The rest come from one walk."""
    n_tok = len(trie.token_ids)
    narrow = _narrow(trie, dfa, state, n_tok)
    if narrow is not None:  # a literal, a property name: the trie nodes along its strings
        return narrow
    _, sub_lo, sub_hi = trie.node_ranges
    ck = content_key(dfa)
    succ = dfa.transitions[state].take(trie.level_bytes[0])  # per depth-1 node; -1 dead
    roots = np.flatnonzero(succ >= 0)
    pieces: dict[int, tuple] = {}
    missing: dict[int, list[int]] = {}  # successor state -> depth-1 nodes
    get = entries.items.get
    for j, s in zip(roots.tolist(), succ[roots].tolist()):
        hit = get(("piece", ck, s, j))
        if hit is None:
            missing.setdefault(s, []).append(j)
        else:
            pieces[j] = hit
    todo: list[tuple[int, list[tuple]]] = []  # (node, keys to store its piece under)
    for s, nodes in missing.items():
        rk = None
        if int((sub_hi[nodes] - sub_lo[nodes]).sum()) >= _SHARE_MIN:
            rk = residual_key(dfa, s)
        for j in nodes:
            keys = [("piece", ck, s, j)]
            if rk is not None:
                hit = get(("piece", rk, j))
                if hit is not None:
                    pieces[j] = hit
                    continue
                keys.append(("piece", rk, j))
            todo.append((j, keys))
    accepting = bool(dfa.accepting[state])
    if not todo:
        return _assemble(pieces, sub_lo, sub_hi, n_tok, accepting)
    walked, inside, completes = _walk_pieces(trie, dfa, succ, todo, entries)
    if not pieces:  # every live subtree was walked: the walk's classes are the answer
        if accepting:
            completes = np.ones(n_tok, dtype=bool)
        return PairClasses(_fix(inside, n_tok), _fix(completes, n_tok))
    pieces.update(walked)
    return _assemble(pieces, sub_lo, sub_hi, n_tok, accepting)


def _assemble(pieces: dict[int, tuple], sub_lo: np.ndarray, sub_hi: np.ndarray, n_tok: int,
              accepting: bool) -> PairClasses:
    """The classes over every token from the pieces of the live depth-1 subtrees (the
    others are neither inside nor complete); ``accepting``: the lexeme may end before the
    token, so every token completes it. Sparse pieces concatenate into sorted positions
    without a pass over the vocabulary."""
    order = sorted(pieces)
    if not accepting and all(pieces[j][0].dtype != bool and pieces[j][1].dtype != bool
                             for j in order):
        empty = np.zeros(0, dtype=np.int64)
        inside = np.concatenate([empty] + [pieces[j][0] for j in order])
        completes = np.concatenate([empty] + [pieces[j][1] for j in order])
        return PairClasses(_fix(inside, n_tok), _fix(completes, n_tok))
    inside = np.zeros(n_tok, dtype=bool)
    completes = np.full(n_tok, accepting, dtype=bool)
    spans = list(zip(order, sub_lo[order].tolist(), sub_hi[order].tolist()))
    for c, acc in enumerate((inside, completes)):
        run = None  # [flags, offset, lo, hi]: adjacent subtrees read from one array
        for j, lo, hi in spans:
            piece = pieces[j]
            flags, off = piece[c], piece[2]
            if flags.dtype != bool:
                acc[flags] = True
            elif run is not None and run[0] is flags and run[1] == off and run[3] == lo:
                run[3] = hi
                continue
            else:
                if run is not None:
                    acc[run[2]:run[3]] |= run[0][run[2] - run[1]: run[3] - run[1]]
                run = [flags, off, lo, hi]
        if run is not None:
            acc[run[2]:run[3]] |= run[0][run[2] - run[1]: run[3] - run[1]]
    return PairClasses(_fix(inside, n_tok), _fix(completes, n_tok))


def _walk_pieces(trie: TokenTrie, dfa: ByteDFA, succ: np.ndarray,
                 todo: list[tuple[int, list[tuple]]], entries: "_Entries"
                 ) -> tuple[dict[int, tuple], np.ndarray, np.ndarray]:
    """One walk of the live part of the subtrees ``todo`` (depth-1 nodes, entered in states
    ``succ``): a token is ``inside`` when its own node is alive in a state with a way on,
    and ``completes`` when its node or an ancestor below the root is accepting (tokens below
    a node are one range of trie positions). Each subtree's piece is cached. Returns the
    pieces and the walk's classes over every token (none outside the walked subtrees)."""
    n_tok = len(trie.token_ids)
    end_hi, sub_lo, sub_hi = trie.node_ranges
    table, inside_st, accepting_st = _coded(dfa)

    def step(codes: np.ndarray, data: np.ndarray) -> np.ndarray:
        codes += data  # (a fresh array: walk_live's contract)
        return table.take(codes)

    roots = np.array([j for j, _ in todo], dtype=np.int64)
    first = np.zeros(len(succ), dtype=np.int32)
    first[roots] = (succ[roots] + 1) << 8
    final, nodes, codes = trie.walk_live(step, first=first)
    los, his = sub_lo[roots], sub_hi[roots]
    if final is not None:  # a dense walk: every node's state
        ends = final.take(trie.token_global)
        ends >>= 8
        inside = inside_st.take(ends)
        acc_states = np.flatnonzero(accepting_st)
        if len(acc_states) == 1:  # (a comparison is cheaper than a gather)
            acc = np.flatnonzero(final == acc_states[0] << 8)
        else:
            acc = np.flatnonzero(accepting_st.take(final >> 8))
    else:  # a small walk: its live nodes only
        states = codes >> 8
        ins = nodes[inside_st[states]]
        inside = _ranges(sub_lo[ins], end_hi[ins], n_tok, disjoint=True)
        acc = nodes[accepting_st[states]]
    completes = _ranges(sub_lo[acc], sub_hi[acc], n_tok, disjoint=False)
    inside.setflags(write=False)
    completes.setflags(write=False)
    # a piece: (inside, completes, offset, bytes); each class either sorted positions (its
    # own) or flags read at [lo - offset, hi - offset): views of the whole walk's arrays
    # when the walk covered much of the vocabulary, else copies of its own range (a few
    # small pieces must not keep whole arrays alive)
    shared = int((his - los).sum()) * 4 >= n_tok
    lo_l, hi_l = los.tolist(), his.tolist()
    cuts = [None if f.dtype == bool else
            (np.searchsorted(f, los).tolist(), np.searchsorted(f, his).tolist())
            for f in (inside, completes)]
    out = {}
    with _LOCK:
        for n, (j, keys) in enumerate(todo):
            lo, hi = lo_l[n], hi_l[n]
            cls = []
            size = 0
            for flags, cut in zip((inside, completes), cuts):
                if cut is not None:
                    a, b = cut[0][n], cut[1][n]
                    cls.append(flags[a:b])
                    size += min((b - a) * flags.itemsize, hi - lo)
                else:
                    cls.append(flags if shared else flags[lo:hi].copy())
                    size += hi - lo
            piece = out[j] = (cls[0], cls[1], 0 if shared else lo, size)
            for k in keys:
                if k not in entries.items:
                    entries.items[k] = piece
                    entries.nbytes += size
    return out, inside, completes


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
    """The cached classes and first-byte pieces of one trie, least recently used first, and
    their size in bytes. Keys: ``("pair", DFA content, state)`` -> ``PairClasses``;
    ``("piece", DFA content, successor state, depth-1 node)`` and ``("piece", residual
    digest, depth-1 node)`` -> (inside, completes, offset, bytes) (see ``_walk_pieces``);
    ``("inside", *inside_key)`` -> an ``inside`` class; ``("holding", byte flags)`` -> the
    positions of the tokens holding one of those bytes."""

    __slots__ = ("items", "nbytes", "__weakref__")

    def __init__(self) -> None:
        self.items: OrderedDict[tuple, object] = OrderedDict()
        self.nbytes = 0


_CACHE: "weakref.WeakKeyDictionary[TokenTrie, _Entries]" = weakref.WeakKeyDictionary()


def _entries(trie: TokenTrie) -> _Entries:
    entries = _CACHE.get(trie)
    if entries is None:
        with _LOCK:
            entries = _CACHE.get(trie)
            if entries is None:
                entries = _CACHE[trie] = _Entries()
    return entries


def pair_classes(trie: TokenTrie, dfa: ByteDFA, state: int) -> PairClasses:
    """The classes of ``(dfa, state)`` over ``trie`` (cached by DFA content). ``inside``
    is also cached by ``inside_key`` (states and DFAs that keep the same tokens inside
    share it); with it known, ``completes`` is read off the few tokens that contain a byte
    entering an accepting state (``_completes``) instead of walking the trie."""
    state = int(state)
    key = ("pair", content_key(dfa), state)
    entries = _entries(trie)
    hit = entries.items.get(key)
    if hit is not None:
        with _LOCK:
            if key in entries.items:
                entries.items.move_to_end(key)
        return hit  # type: ignore[return-value]
    # (only DFAs with a permissive state, one with at least _WIDE bytes leading on, keep
    # classes large enough that the key's cost pays off)
    ikey = ("inside", *inside_key(dfa, state, depth=trie.depth)) if _wide(dfa) else None
    inside = entries.items.get(ikey) if ikey is not None else None
    completes = _completes(trie, dfa, state, entries) if inside is not None else None
    if completes is not None:
        got = PairClasses(inside, completes)  # type: ignore[arg-type]
    else:
        got = _compute(trie, dfa, state, entries)
    with _LOCK:
        if key not in entries.items:
            entries.items[key] = got
            entries.nbytes += got.nbytes
        if ikey is not None and ikey not in entries.items:
            entries.items[ikey] = got.inside
            entries.nbytes += got.inside.nbytes
        _evict()
    return got


def prepare(trie: TokenTrie, dfa: ByteDFA) -> None:
    """Do now the per-DFA work that ``pair_classes`` would do on its first calls for
    ``dfa``, so that a compile pays for it instead of a mask: the refinement behind
    ``inside_key`` for a wide DFA (0.5-2 ms for the names of a large object's other
    properties), the classes after the first byte for a narrow one opening with a single
    byte (a property name after its quote: every name of an object is read there at once).
    """
    if not dfa.n_states:
        return
    if _wide(dfa):
        inside_key(dfa, dfa.start, depth=trie.depth)
        return
    live = _live_bytes(dfa)
    first = live[dfa.start]
    if first is not None and len(first) == 1:  # a property name: its state after '"'
        pair_classes(trie, dfa, int(dfa.transitions[dfa.start, first[0]]))


def _completes(trie: TokenTrie, dfa: ByteDFA, state: int, entries: "_Entries"
               ) -> np.ndarray | None:
    """The ``completes`` class of ``(dfa, state)``: a token passes an accepting state at a
    byte boundary only if it holds a byte that enters one (or the state accepts: every
    token), so only the tokens holding such a byte are walked. None when they are more than
    1/_DENSE of the vocabulary (the trie walk is then cheaper)."""
    n_tok = len(trie.token_ids)
    if dfa.accepting[state]:
        return _fix(np.ones(n_tok, dtype=bool), n_tok)
    cand = _holding(trie, entering_bytes(dfa), entries)
    if len(cand) * _DENSE > n_tok:
        return None
    if not len(cand):
        return _fix(cand, n_tok)
    table, _, accepting_st = _coded(dfa)

    def step(codes: np.ndarray, data: np.ndarray) -> np.ndarray:
        codes += data
        return table.take(codes)

    _, done = trie.walk_tokens(cand, (state + 1) << 8, step,
                               stop=lambda codes: accepting_st.take(codes >> 8))
    return _fix(cand[done], n_tok)  # (``cand`` is sorted)


def _holding(trie: TokenTrie, which: np.ndarray, entries: "_Entries") -> np.ndarray:
    """Sorted trie positions of the tokens holding a byte flagged in ``which`` (bool per
    byte value; cached)."""
    key = ("holding", which.tobytes())
    hit = entries.items.get(key)
    if hit is None:
        flat, off = trie.token_bytes
        at = np.flatnonzero(which[flat])
        hit = np.unique(np.searchsorted(off, at, side="right") - 1)
        hit.setflags(write=False)
        with _LOCK:
            entries.items[key] = hit
            entries.nbytes += hit.nbytes
    return hit  # type: ignore[return-value]


def _evict() -> None:
    """Drop the oldest classes of the largest tries until the total fits the budget."""
    tries = list(_CACHE.values())
    total = sum(e.nbytes for e in tries)
    while total > MAX_CACHE_BYTES:
        largest = max(tries, key=lambda e: e.nbytes)
        if not largest.items:
            return
        _, old = largest.items.popitem(last=False)
        size = old.nbytes if isinstance(old, (PairClasses, np.ndarray)) else old[3]
        largest.nbytes -= size
        total -= size


def clear_cache() -> None:
    """Drop every cached class (tests, memory)."""
    with _LOCK:
        _CACHE.clear()
