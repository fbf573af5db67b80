"""Byte-level DFAs: a dense int32 transition table over bytes 0..255.

``transitions[q, b]`` is the next state, or -1 (dead). ``accepting[q]`` says whether the
input read so far is in the language. State ``start`` is the initial state. After
``trim()`` every state can still reach an accepting state, so "not dead" means "viable
prefix": this is what makes a token mask exact.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

__all__ = ["ByteDFA", "refine_partition", "minimize_table", "useful_states", "mark_minimal",
           "content_key", "residual_key", "inside_key", "entering_bytes"]

DEAD = -1


def refine_partition(transitions: np.ndarray, initial: np.ndarray, *,
                     max_rounds: int | None = None) -> np.ndarray:
    """Moore-style partition refinement over a dense table.

    ``initial`` gives each state a starting class id. Two states stay together while their
    classes and the classes of all their successors (dead = its own class) agree. Stops at
    the fixpoint or after ``max_rounds`` rounds (after k rounds, states in one class agree
    on every string of length <= k). Returns class ids numbered 0..k-1 by first occurrence.
    """
    n = transitions.shape[0]
    _, labels = np.unique(initial, return_inverse=True)
    labels = labels.astype(np.int64).reshape(-1)
    n_classes = int(labels.max()) + 1 if n else 0
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        rounds += 1
        # successor classes, with dead mapped to -1
        succ = np.where(transitions >= 0, labels[np.maximum(transitions, 0)], -1)
        sig = np.concatenate([labels[:, None], succ], axis=1)
        _, new_labels = np.unique(sig, axis=0, return_inverse=True)
        new_labels = new_labels.astype(np.int64).reshape(-1)
        new_n = int(new_labels.max()) + 1 if n else 0
        labels = new_labels
        if new_n == n_classes:
            break
        n_classes = new_n
    # renumber by first occurrence so the result is deterministic and start-friendly
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return remap[labels]


def _reach(n: int, src: np.ndarray, dst: np.ndarray, seeds) -> np.ndarray:
    """States reachable from ``seeds`` along the edges ``src[i] -> dst[i]`` (bool [n])."""
    order = np.argsort(src, kind="stable")
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
    ptr_l = ptr.tolist()
    adj = dst[order].tolist()
    seen = np.zeros(n, bool)
    seen_l = seen.tolist()
    stack = [int(q) for q in seeds]
    for q in stack:
        seen_l[q] = True
    while stack:
        q = stack.pop()
        for r in adj[ptr_l[q]:ptr_l[q + 1]]:
            if not seen_l[r]:
                seen_l[r] = True
                stack.append(r)
    return np.array(seen_l, dtype=bool)


def useful_states(table: np.ndarray, accepting: np.ndarray, start: int) -> np.ndarray:
    """bool [n]: states reachable from ``start`` that can reach an accepting state.

    ``table`` is a dense transition table over any number of symbols (-1 = dead). Linear in
    the number of distinct edges (a graph search, not repeated sweeps over the table).
    """
    table = np.asarray(table)
    n = table.shape[0]
    if n == 0 or start < 0:
        return np.zeros(n, bool)
    tails, labels = np.nonzero(table >= 0)
    heads = table[tails, labels].astype(np.int64)
    key = np.unique(tails.astype(np.int64) * n + heads)  # distinct edges
    src, dst = key // n, key % n
    reach = _reach(n, src, dst, [start])
    live = _reach(n, dst, src, np.flatnonzero(np.asarray(accepting, bool)))
    return reach & live


class _Partition:
    """Refinable partition of 0..n-1 (Valmari & Lehtinen), with marking and splitting."""

    __slots__ = ("z", "E", "L", "S", "F", "P", "M", "W")

    def __init__(self, n: int) -> None:
        self.z = 1 if n else 0  # number of sets
        self.E = list(range(n))  # elements, grouped by set
        self.L = list(range(n))  # location of each element in E
        self.S = [0] * n  # set of each element
        self.F = [0] * max(n, 1)  # first index of each set in E
        self.P = [n] + [0] * max(n - 1, 0)  # past-the-end index of each set in E
        self.M = [0] * max(n, 1)  # number of marked elements of each set
        self.W: list[int] = []  # touched sets

    def mark(self, e: int) -> None:
        S, L, E, M = self.S, self.L, self.E, self.M
        s = S[e]
        i = L[e]
        j = self.F[s] + M[s]
        E[i] = E[j]
        L[E[i]] = i
        E[j] = e
        L[e] = j
        if not M[s]:
            self.W.append(s)
        M[s] += 1

    def split(self) -> None:
        F, P, M, S, E, W = self.F, self.P, self.M, self.S, self.E, self.W
        while W:
            s = W.pop()
            j = F[s] + M[s]
            if j == P[s]:
                M[s] = 0
                continue
            z = self.z
            if M[s] <= P[s] - j:  # the marked part is the smaller one: it becomes the new set
                F[z] = F[s]
                P[z] = F[s] = j
            else:
                P[z] = P[s]
                F[z] = P[s] = j
            for i in range(F[z], P[z]):
                S[E[i]] = z
            M[s] = M[z] = 0
            self.z = z + 1


def _bfs_order(table: np.ndarray, start: int) -> np.ndarray:
    """States in breadth-first order from ``start``, successors taken in column order."""
    n = table.shape[0]
    new_id = np.full(n, -1, np.int64)
    new_id[start] = 0
    order = [np.array([start], np.int64)]
    count = 1
    frontier = order[0]
    while frontier.size:
        succ = table[frontier].ravel()
        succ = succ[succ >= 0]
        succ = succ[new_id[succ] < 0]
        if not succ.size:
            break
        _, first = np.unique(succ, return_index=True)
        fresh = succ[np.sort(first)]
        new_id[fresh] = np.arange(count, count + fresh.size)
        count += fresh.size
        order.append(fresh)
        frontier = fresh
    return np.concatenate(order)


def _column_classes(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical columns: (class id of each column, first column of each class).

    Classes are numbered by their first column, so column order is kept. Columns are grouped
    by a random-weight hash (one float matrix product: numpy's integer products do not use
    BLAS and cost ~40x more on large tables), then checked exactly both ways (every column
    equals its class's first, the classes' first columns all differ: a float sum might
    round differently for equal columns), falling back to a sort.
    """
    t = np.asarray(table)
    if not t.shape[0]:
        return np.zeros(t.shape[1], np.int64), np.zeros(min(t.shape[1], 1), np.int64)
    w = np.random.default_rng(0x5EED).random(t.shape[0])
    _, first, inv = np.unique(w @ t, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    if not (t == t[:, first[inv]]).all() or \
            len({r.tobytes() for r in np.ascontiguousarray(t[:, first].T)}) < len(first):
        # a hash collision, or equal columns hashed apart: group exactly
        _, first, inv = np.unique(t.T, axis=0, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inv], np.sort(first)


def minimize_table(table: np.ndarray, accepting: np.ndarray,
                   start: int) -> tuple[np.ndarray, np.ndarray]:
    """Trim and minimize a DFA given as a dense table over ``k`` symbols (-1 = dead).

    Returns ``(table, accepting)`` of the minimal DFA with start state 0 and states numbered
    breadth-first from the start (successors in column order), so two DFAs for the same
    language give identical arrays. The empty language gives zero states. Runs Valmari's
    O(m log n) partition refinement over the m live transitions (partial DFAs need no sink).
    """
    table = np.asarray(table)
    k = table.shape[1]
    keep = useful_states(table, accepting, start)
    if table.shape[0] == 0 or start < 0 or not keep[start]:
        return np.zeros((0, k), np.int32), np.zeros(0, bool)
    idx = np.flatnonzero(keep)
    renum = np.full(table.shape[0], -1, np.int64)
    renum[idx] = np.arange(idx.size)
    sub = table[idx]
    sub = np.where(sub >= 0, renum[np.maximum(sub, 0)], -1)
    n = idx.size
    acc = np.asarray(accepting, bool)[idx]
    tails_a, labels_a = np.nonzero(sub >= 0)
    heads_a = sub[tails_a, labels_a]
    T = tails_a.tolist()
    mm = len(T)

    B = _Partition(n)
    for q in np.flatnonzero(acc).tolist():
        B.mark(q)
    B.split()

    # cords: transitions grouped by label
    C = _Partition(mm)
    if mm:
        by_label = np.argsort(labels_a, kind="stable")
        lab_sorted = labels_a[by_label]
        bounds = np.flatnonzero(np.diff(lab_sorted)) + 1
        firsts = np.concatenate([[0], bounds]).tolist()
        pasts = np.concatenate([bounds, [mm]]).tolist()
        C.E = by_label.tolist()
        loc = np.empty(mm, np.int64)
        loc[by_label] = np.arange(mm)
        C.L = loc.tolist()
        cord = np.empty(mm, np.int64)
        cord[by_label] = np.repeat(np.arange(len(firsts)), np.diff(firsts + [mm]))
        C.S = cord.tolist()
        C.F[:len(firsts)] = firsts
        C.P[:len(pasts)] = pasts
        C.z = len(firsts)

    # transitions by head
    by_head = np.argsort(heads_a, kind="stable").tolist()
    hptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(heads_a, minlength=n), out=hptr[1:])
    hptr_l = hptr.tolist()

    b, c = 1, 0
    BE, BF, BP = B.E, B.F, B.P
    CE, CF, CP = C.E, C.F, C.P
    bmark, cmark = B.mark, C.mark
    while c < C.z:
        for i in range(CF[c], CP[c]):
            bmark(T[CE[i]])
        B.split()
        c += 1
        while b < B.z:
            for i in range(BF[b], BP[b]):
                q = BE[i]
                for j in range(hptr_l[q], hptr_l[q + 1]):
                    cmark(by_head[j])
            C.split()
            b += 1

    block = np.array(B.S, np.int64)
    nb = B.z
    out = np.full((nb, k), -1, np.int64)
    out[block[tails_a], labels_a] = block[heads_a]
    out_acc = np.zeros(nb, bool)
    out_acc[block[acc]] = True
    order = _bfs_order(out, int(block[renum[start]]))
    pos = np.empty(nb, np.int64)
    pos[order] = np.arange(nb)
    out = out[order]
    out = np.where(out >= 0, pos[np.maximum(out, 0)], -1).astype(np.int32)
    return out, out_acc[order]


def content_key(dfa: "ByteDFA") -> bytes:
    """A digest of the table, the accepting flags and the start (for caches keyed by a DFA's
    content); computed once per object."""
    key = dfa.__dict__.get("_key")
    if key is None:
        h = hashlib.sha1(dfa.transitions.tobytes())
        h.update(dfa.accepting.tobytes())
        h.update(str(dfa.start).encode())
        key = h.digest()
        object.__setattr__(dfa, "_key", key)
    return key


def residual_key(dfa: "ByteDFA", state: int, *, max_states: int = 64) -> bytes | None:
    """A digest of the part of ``dfa`` reachable from ``state``, numbered breadth-first
    (successors by byte): equal digests mean isomorphic automata from the two states, hence
    equal behaviour on every input, across different DFAs. None when more than
    ``max_states`` states are reachable (the search stops there). Memoized per object."""
    memo = dfa.__dict__.get("_residual")
    if memo is None:
        memo = {}
        object.__setattr__(dfa, "_residual", memo)
    got = memo.get((state, max_states), False)
    if got is not False:
        return got
    t = dfa.transitions
    pos = np.full(t.shape[0] + 1, -1, dtype=np.int64)
    pos[-1] = 0  # (dead successors, -1, read this slot: never new)
    pos[state] = 0
    order = [state]
    front = order
    key: bytes | None = None
    while front:
        succ = t[front].ravel()
        new = succ[pos[succ] < 0].tolist()
        if not new:
            break
        front = list(dict.fromkeys(new))  # in order of discovery
        if len(order) + len(front) > max_states:
            order = []
            break
        pos[front] = np.arange(len(order), len(order) + len(front))
        order += front
    if order:
        sub = t[order]
        relabeled = pos[sub]
        relabeled[sub < 0] = -1
        h = hashlib.blake2b(relabeled.astype(np.int32).tobytes(), digest_size=20)
        h.update(dfa.accepting[order].tobytes())
        key = h.digest()
    memo[(state, max_states)] = key
    return key


def entering_bytes(dfa: "ByteDFA") -> np.ndarray:
    """Per byte value, whether it leads some state of ``dfa`` into an accepting state (bool
    [256], read-only, memoized per object): a lexeme can only end on one of these bytes."""
    got = dfa.__dict__.get("_entering")
    if got is None:
        t = dfa.transitions
        got = ((t >= 0) & dfa.accepting[np.maximum(t, 0)]).any(axis=0)
        got.setflags(write=False)
        object.__setattr__(dfa, "_entering", got)
    return got


def inside_key(dfa: "ByteDFA", state: int, *, depth: int) -> tuple:
    """A key for the inputs of at most ``depth`` bytes that leave ``dfa`` alive from
    ``state`` in a state with a way on (the tokens *inside* a lexeme, see
    ``masks.lexeme_classes``): equal keys mean equal such inputs, also across DFAs.

    Which inputs stay inside depends only on the automaton restricted to the states with a
    way on: acceptance does not matter, so a JSON string whose closed form may not be one of
    a few property names stays inside exactly where any JSON string does. The restricted
    automaton is refined (Moore) for up to ``depth`` rounds, once per DFA and depth. When
    the refinement settles, the key is a digest of the quotient automaton from the state's
    class (``residual_key``: shared across DFAs); otherwise, and for quotients too large to
    digest, it is the DFA's content key and the class, which states of one DFA share when
    no input of at most ``depth`` bytes tells them apart."""
    memo = dfa.__dict__.get("_inside")
    if memo is None:
        memo = {}
        object.__setattr__(dfa, "_inside", memo)
    parts = memo.get(depth)
    if parts is None:  # (shared by every DFA object with this content: grammars rebuild them)
        ck = (content_key(dfa), depth)
        parts = _PARTITIONS.get(ck)
        if parts is None:
            parts = _inside_partition(dfa, depth)
            with _PARTITIONS_LOCK:
                _PARTITIONS[ck] = parts
                while len(_PARTITIONS) > _PARTITIONS_MAX:
                    _PARTITIONS.popitem(last=False)
        memo[depth] = parts
    labels, quotient, keys = parts
    c = int(labels[state])
    if c < 0:
        return ("none",)
    key = keys.get(c)
    if key is None:
        digest = residual_key(quotient, c, max_states=_DIGEST_MAX) \
            if quotient is not None else None
        key = keys[c] = ("digest", digest) if digest is not None \
            else ("dfa", content_key(dfa), depth, c)
    return key


def _inside_partition(dfa: "ByteDFA", depth: int
                      ) -> tuple[np.ndarray, "ByteDFA | None", dict[int, tuple]]:
    """Classes of the states with a way on (-1 for the others) after at most ``depth``
    rounds of refinement, and the quotient automaton (every state accepting) when the
    refinement settled."""
    t = dfa.transitions
    n = t.shape[0]
    labels = np.full(n, -1, np.int64)
    if not n:
        return labels, None, {}
    cls, reps = _column_classes(t)
    tr = t[:, reps]  # one column per byte class
    idx = np.flatnonzero((tr >= 0).any(axis=1))  # the states with a way on
    if not len(idx):
        return labels, None, {}
    renum = np.full(n + 1, -1, np.int64)  # (slot n: dead successors read -1)
    renum[idx] = np.arange(len(idx))
    sub = renum[tr[idx]]  # successors among the states with a way on, -1 = dead
    lab, stable = _moore(sub, depth)
    labels[idx] = lab
    quotient = None
    m = int(lab.max()) + 1
    if stable and m <= _DIGEST_MAX:  # (larger quotients get no digest: see inside_key)
        first = np.zeros(m, np.int64)
        first[lab[::-1]] = np.arange(len(lab))[::-1]  # a representative per class
        q_sub = sub[first]
        q_tab = np.where(q_sub >= 0, lab[np.maximum(q_sub, 0)], -1)[:, cls]
        quotient = ByteDFA(q_tab.astype(np.int32), np.ones(m, dtype=bool), 0)
    return labels, quotient, {}


_PARTITIONS: "OrderedDict[tuple, tuple]" = OrderedDict()  # by DFA content and depth
_PARTITIONS_LOCK = threading.Lock()
_PARTITIONS_MAX = 4096
_DIGEST_MAX = 64  # quotients up to this size are digested (shared across DFAs)
_MOORE_W = np.random.default_rng(0x1A51DE).integers(1, 1 << 62, size=257, dtype=np.int64)


def _moore(sub: np.ndarray, max_rounds: int) -> tuple[np.ndarray, bool]:
    """Moore refinement of the states of ``sub`` ([n, k] successors, -1 = dead), all in one
    class at first: ``(labels, stable)``. After r rounds, states in one class agree on
    which inputs of at most r symbols keep them alive. Rows are grouped by a hash (one
    matrix product per round), checked exactly; a collision falls back to a sort."""
    n, k = sub.shape
    labels = np.zeros(n + 1, np.int64)  # (slot n: the dead state, read by -1)
    labels[n] = -1
    n_classes = 1
    w = _MOORE_W[1:k + 1] if k < len(_MOORE_W) else None
    for _ in range(max_rounds):
        succ = labels.take(sub)
        own = labels[:n]
        inv = None
        if w is not None:
            h = succ @ w
            h += own * _MOORE_W[0]
            _, inv = np.unique(h, return_inverse=True)
            inv = inv.reshape(-1)
            first = np.empty(int(inv.max()) + 1, np.int64)
            first[inv[::-1]] = np.arange(n - 1, -1, -1)
            if not (np.array_equal(own.take(first).take(inv), own)
                    and np.array_equal(succ.take(first, axis=0).take(inv, axis=0), succ)):
                inv = None  # a hash collision
        if inv is None:
            _, inv = np.unique(np.concatenate([own[:, None], succ], axis=1), axis=0,
                               return_inverse=True)
            inv = inv.reshape(-1)
        labels[:n] = inv
        new_n = int(inv.max()) + 1
        if new_n == n_classes:
            return labels[:n].copy(), True
        n_classes = new_n
    return labels[:n].copy(), False


def mark_minimal(dfa: "ByteDFA", *, canonical: bool = False) -> "ByteDFA":
    """Record that ``dfa`` is trimmed and minimal (``canonical``: also numbered as
    ``minimize()`` numbers, start 0 and breadth-first), so that ``minimize()`` returns it
    as is (or only renumbers it). Only for DFAs built that way by construction."""
    object.__setattr__(dfa, "_minimal", 2 if canonical else 1)
    return dfa


@dataclass(frozen=True, eq=False)
class ByteDFA:
    """An immutable DFA over bytes. See the module docstring for the representation."""

    transitions: np.ndarray  # int32 [n_states, 256], -1 = dead
    accepting: np.ndarray  # bool [n_states]
    start: int = 0

    def __post_init__(self) -> None:
        t = np.ascontiguousarray(self.transitions, dtype=np.int32)
        a = np.ascontiguousarray(self.accepting, dtype=bool)
        if t.ndim != 2 or t.shape[1] != 256 or a.shape != (t.shape[0],):
            raise ValueError(f"ByteDFA wants transitions [n, 256] and accepting [n], got "
                             f"{t.shape} and {a.shape}")
        t.setflags(write=False)
        a.setflags(write=False)
        object.__setattr__(self, "transitions", t)
        object.__setattr__(self, "accepting", a)

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    def step(self, state: int, data: bytes) -> int:
        """Walk ``data`` from ``state``; -1 once dead."""
        t = self.transitions
        for b in data:
            if state < 0:
                return DEAD
            state = int(t[state, b])
        return state

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` is in the language."""
        s = self.step(self.start, data)
        return s >= 0 and bool(self.accepting[s])

    def is_empty(self) -> bool:
        """Whether the language is empty (after trim, a DFA with no states)."""
        return self.n_states == 0

    def trim(self) -> "ByteDFA":
        """Drop states that are unreachable from start or cannot reach an accepting state.

        Transitions into dropped states become dead. An empty language yields a DFA with zero
        states (``start`` = -1).
        """
        n = self.n_states
        if n == 0 or self.start < 0:
            return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), -1)
        t = self.transitions
        keep = useful_states(t, self.accepting, self.start)
        if not keep[self.start]:
            return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), -1)
        new_id = np.full(n, -1, np.int64)
        # keep start first
        order = np.concatenate([[self.start], np.flatnonzero(keep & (np.arange(n) != self.start))])
        new_id[order] = np.arange(len(order))
        old = t[order]
        new_t = np.where(old >= 0, new_id[np.maximum(old, 0)], -1).astype(np.int32)
        return ByteDFA(new_t, self.accepting[order], 0)

    def minimize(self) -> "ByteDFA":
        """The minimal equivalent DFA (trimmed, start = 0, states in breadth-first order).

        Two DFAs for the same language minimize to identical tables. A DFA built minimal
        (``mark_minimal``) is only renumbered, or copied when already in this numbering.
        """
        if self.n_states == 0 or self.start < 0:
            return self.trim()
        known = self.__dict__.get("_minimal", 0)
        if known:  # minimal already: at most the breadth-first numbering is left to do
            # (a new object even then: callers may tell DFAs apart by identity)
            out = _renumbered(self, copy=True)
            if out is not None:
                return out
        cls, reps = _column_classes(self.transitions)
        table, acc = minimize_table(self.transitions[:, reps], self.accepting, self.start)
        if table.shape[0] == 0:
            return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), -1)
        return mark_minimal(ByteDFA(table[:, cls], acc, 0), canonical=True)

    def byte_classes(self) -> np.ndarray:
        """int array [256]: bytes with identical columns share a class id."""
        _, cls = np.unique(self.transitions.T, axis=0, return_inverse=True)
        return cls.reshape(-1).astype(np.int32)


def _renumbered(dfa: ByteDFA, *, copy: bool = False) -> ByteDFA | None:
    """A DFA marked minimal, numbered as ``minimize()`` numbers (start 0, breadth-first);
    None if it is not trimmed after all."""
    t = dfa.transitions
    n = t.shape[0]
    if dfa.__dict__.get("_minimal") == 2:
        order = None
    else:
        order = _bfs_order(t, dfa.start)
        if order.size != n:
            return None
        if dfa.start == 0 and (order == np.arange(n)).all():
            order = None
    if order is None:
        if not copy:
            return mark_minimal(dfa, canonical=True)
        out = mark_minimal(ByteDFA(t, dfa.accepting, 0), canonical=True)
        if "_key" in dfa.__dict__:
            object.__setattr__(out, "_key", dfa.__dict__["_key"])
        return out
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)
    out = t[order]
    out = np.where(out >= 0, pos[np.maximum(out, 0)], -1).astype(np.int32)
    return mark_minimal(ByteDFA(out, dfa.accepting[order], 0), canonical=True)
