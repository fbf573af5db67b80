"""A byte trie over a vocabulary's text tokens, stored level by level as flat arrays.

The trie knows nothing about grammars. Level ``i`` holds the distinct token prefixes of
length ``i + 1``: their last byte and the index of their parent at level ``i - 1``. Walking
an automaton over the whole vocabulary is then one gather per level over the live nodes
(see ``walk_live``), and every shared prefix is walked once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from ..errors import InvalidArgument

__all__ = ["TokenTrie", "coded_table", "expand_ranges"]

_SMALL_LEVEL = 2048  # levels this small are walked whole: a gather beats expanding children
_GO_SPARSE = 8  # a level with under 1/_GO_SPARSE of its nodes alive expands live nodes only
_GO_DENSE = 2  # ... and goes back to whole levels above 1/_GO_DENSE


@dataclass(frozen=True, eq=False)
class TokenTrie:
    """Level-wise trie of token byte strings.

    ``level_bytes[i]`` (uint8) and ``level_parent[i]`` (int64, index into level ``i-1``;
    zeros at level 0) describe the nodes of depth ``i + 1``; a node's children are the
    contiguous range ``child_lo[i][node]:child_hi[i][node]`` of level ``i + 1``.
    ``token_ids`` (int64) are the indexed tokens and ``token_level``/``token_node`` where
    each one ends. Tokens with equal bytes share a node.
    """

    level_bytes: tuple[np.ndarray, ...]
    level_parent: tuple[np.ndarray, ...]
    token_ids: np.ndarray
    token_level: np.ndarray
    token_node: np.ndarray
    child_lo: tuple[np.ndarray, ...] = ()
    child_hi: tuple[np.ndarray, ...] = ()
    level_offset: np.ndarray | None = None
    token_global: np.ndarray | None = None

    @property
    def depth(self) -> int:
        """Length of the longest token."""
        return len(self.level_bytes)

    @property
    def n_nodes(self) -> int:
        return int(sum(len(b) for b in self.level_bytes))

    @classmethod
    def build(cls, tokens: list[bytes], token_ids: np.ndarray) -> "TokenTrie":
        """Build from byte strings (non-empty) and their ids."""
        token_ids = np.asarray(token_ids, dtype=np.int64)
        if len(tokens) != len(token_ids):
            raise InvalidArgument("tokens and token_ids differ in length")
        if any(len(t) == 0 for t in tokens):
            raise InvalidArgument("empty tokens cannot be indexed")
        order = sorted(range(len(tokens)), key=tokens.__getitem__)
        srt = [tokens[i] for i in order]
        n = len(srt)
        lengths = np.fromiter((len(t) for t in srt), dtype=np.int64, count=n)
        depth = int(lengths.max()) if n else 0
        flat = np.frombuffer(b"".join(srt), dtype=np.uint8)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        lcp = _lcp_with_previous(srt, flat, starts, lengths)
        level_bytes = []
        level_parent = []
        end_level = lengths - 1
        end_node = np.empty(n, dtype=np.int64)
        active = np.arange(n)  # rows (in sorted order) longer than the current level
        prev_node = np.zeros(n, dtype=np.int64)
        for i in range(depth):
            keep = lengths[active] > i
            active = active[keep]
            parent_node = prev_node[keep]
            start = lcp[active] <= i
            node = np.cumsum(start) - 1  # node index of each active row at this level
            level_bytes.append(flat[starts[active[start]] + i])
            level_parent.append(parent_node[start] if i else np.zeros(int(start.sum()), np.int64))
            ends = lengths[active] == i + 1
            end_node[active[ends]] = node[ends]
            prev_node = node
        ids_sorted = token_ids[np.asarray(order, dtype=np.int64)]
        # children of a node are contiguous at the next level (rows are sorted)
        child_lo, child_hi = [], []
        for i in range(depth):
            n_i = len(level_bytes[i])
            if i + 1 < depth:
                par = level_parent[i + 1]
                child_lo.append(np.searchsorted(par, np.arange(n_i), "left"))
                child_hi.append(np.searchsorted(par, np.arange(n_i), "right"))
            else:
                child_lo.append(np.zeros(n_i, np.int64))
                child_hi.append(np.zeros(n_i, np.int64))
        sizes = np.array([len(b) for b in level_bytes], dtype=np.int64)
        level_offset = np.concatenate([[0], np.cumsum(sizes)])
        token_global = level_offset[end_level] + end_node
        for arr in (*level_bytes, *level_parent, *child_lo, *child_hi, ids_sorted, end_level,
                    end_node, level_offset, token_global):
            arr.setflags(write=False)
        return cls(tuple(level_bytes), tuple(level_parent), ids_sorted, end_level, end_node,
                   tuple(child_lo), tuple(child_hi), level_offset, token_global)

    def walk_live(self, step: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  state: int | None = None, *, first: np.ndarray | None = None
                  ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Walk an automaton over the trie from ``state``: ``(final, nodes, states)``.
        ``step(states, bytes)`` gives the successors (int32 arrays; ``states`` is always a
        fresh array that the step may overwrite); 0 is the dead state and must stay dead (an
        all-0 row, as in ``coded_table``).
        ``first`` instead of ``state``: the states of the depth-1 nodes (one per first
        byte, 0 = not walked), so that a walk can cover only some first-byte subtrees.

        While much of a level is alive, and on every small level (the deep ones: long
        chains of a few tokens), every node is computed from its parent with one gather and
        a step; once the live part of a large level is small, only the children of live
        nodes are expanded. A walk that never holds a large level whole returns
        ``final=None`` and its live nodes (global indices) with their states; otherwise
        ``final`` (int32 per global node, 0 = dead) holds every node and the lists are
        empty."""
        n_nodes = int(self.level_offset[-1]) if self.depth else 0
        empty = np.zeros(0, np.int64), np.zeros(0, np.int32)
        if self.depth == 0 or not len(self.token_global):
            return None, *empty
        final = None
        got_nodes: list[np.ndarray] = []
        got_states: list[np.ndarray] = []
        if first is not None:
            cur = np.asarray(first, dtype=np.int32)
        else:
            cur = step(np.full(len(self.level_bytes[0]), state, dtype=np.int32),
                       self.level_bytes[0])
        gidx = self._global_index
        nodes = None  # None: ``cur`` is the whole level (0 where dead); else live nodes
        for i in range(self.depth):
            off = int(self.level_offset[i])
            size = len(cur) if nodes is None else len(self.level_bytes[i])
            if nodes is None and size > _SMALL_LEVEL \
                    and np.count_nonzero(cur) * _GO_SPARSE < size:
                nodes = np.flatnonzero(cur)  # mostly dead: go sparse
                cur = cur[nodes]
            if nodes is None:
                if final is None and size > _SMALL_LEVEL:
                    final = np.zeros(n_nodes, dtype=np.int32)
                if final is not None:
                    final[off: off + size] = cur
                else:  # a small level kept whole (dead entries dropped at the end)
                    got_nodes.append(gidx[off: off + size])
                    got_states.append(cur)
            elif final is not None:
                final[off + nodes] = cur
            else:
                got_nodes.append(nodes + off)
                got_states.append(cur)
            if i + 1 == self.depth or not len(cur):
                break
            if nodes is not None and (len(nodes) * _GO_DENSE > size
                                      or len(self.level_bytes[i + 1]) <= _SMALL_LEVEL):
                full = np.zeros(size, dtype=cur.dtype)  # mostly alive, or small levels
                full[nodes] = cur  # below: a gather per level beats expanding children
                nodes, cur = None, full
            if nodes is None:
                if size <= _SMALL_LEVEL and not cur.any():
                    break
                cur = step(cur.take(self.level_parent[i + 1]), self.level_bytes[i + 1])
            else:
                cnt = self._child_count[i].take(nodes)
                child = expand_ranges(self.child_lo[i].take(nodes), cnt)
                if not len(child):
                    break
                nxt = step(np.repeat(cur, cnt), self.level_bytes[i + 1].take(child))
                keep = nxt > 0
                nodes = child[keep]
                cur = nxt[keep]
        if final is not None:
            if got_nodes:
                final[np.concatenate(got_nodes)] = np.concatenate(got_states)
            return final, *empty
        if not got_nodes:
            return None, *empty
        got = np.concatenate(got_nodes)
        states = np.concatenate(got_states).astype(np.int32, copy=False)
        live = states > 0
        return None, got[live], states[live]

    @cached_property
    def _child_count(self) -> tuple[np.ndarray, ...]:
        """Per level, each node's number of children."""
        out = tuple(hi - lo for lo, hi in zip(self.child_lo, self.child_hi))
        for arr in out:
            arr.setflags(write=False)
        return out

    @cached_property
    def _global_index(self) -> np.ndarray:
        """``arange`` over global node indices (slices name a whole level's nodes)."""
        idx = np.arange(int(self.level_offset[-1]) if self.depth else 0, dtype=np.int64)
        idx.setflags(write=False)
        return idx

    @cached_property
    def token_bytes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(flat, offsets)``: the bytes of the token at trie position ``p`` are
        ``flat[offsets[p]:offsets[p + 1]]`` (read back up the trie, once)."""
        n_tok = len(self.token_global)
        offsets = np.zeros(n_tok + 1, dtype=np.int64)
        np.cumsum(self.token_level + 1, out=offsets[1:])
        flat = np.zeros(int(offsets[-1]), dtype=np.uint8)
        if n_tok:
            all_bytes = np.concatenate(self.level_bytes)
            parent = np.concatenate([self.level_parent[0]] + [
                p + self.level_offset[i] for i, p in enumerate(self.level_parent[1:])])
            node = self.token_global.copy()
            pos = offsets[1:] - 1  # each token's last byte, then up the trie
            left = self.token_level.copy()  # bytes above the current one
            while len(node):
                flat[pos] = all_bytes[node]
                keep = left > 0
                node, pos, left = parent[node[keep]], pos[keep] - 1, left[keep] - 1
        flat.setflags(write=False)
        offsets.setflags(write=False)
        return flat, offsets

    def walk_tokens(self, positions: np.ndarray, code: int,
                    step: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                    stop: Callable[[np.ndarray], np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Walk the tokens at trie ``positions`` (a few, chosen: the trie walk covers the
        vocabulary) from the coded state ``code``, all at once, byte position by byte
        position, stepping only the live ones (``step`` as in ``walk_live``; 0 = dead).
        Returns each token's final code and, with ``stop`` (codes -> bool), which tokens
        were retired on a step where it held (their code is the one of that step)."""
        flat, off = self.token_bytes
        starts = off.take(positions)
        lens = off.take(positions + 1) - starts
        codes = np.full(len(positions), code, dtype=np.int32)
        stopped = np.zeros(len(positions), dtype=bool) if stop is not None else None
        live = np.arange(len(positions))
        k = 0
        while len(live):
            live = live[lens.take(live) > k]
            if not len(live):
                break
            cur = step(codes.take(live), flat.take(starts.take(live) + k))
            codes[live] = cur
            keep = cur != 0
            if stopped is not None:
                hit = stop(cur)
                stopped[live[hit]] = True
                keep &= ~hit
            live = live[keep]
            k += 1
        return codes, stopped

    @cached_property
    def node_ranges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per global node: ``(end_hi, sub_lo, sub_hi)`` over trie token positions. Tokens
        are in byte order, so the tokens below a node (itself included) are the range
        ``sub_lo:sub_hi``, and those ending exactly at it ``sub_lo:end_hi``."""
        n_nodes = int(self.level_offset[-1]) if self.depth else 0
        n_tok = len(self.token_global)
        pos = np.arange(n_tok, dtype=np.int64)
        sub_lo = np.full(n_nodes, n_tok, dtype=np.int64)
        end_hi = np.zeros(n_nodes, dtype=np.int64)
        np.minimum.at(sub_lo, self.token_global, pos)
        np.maximum.at(end_hi, self.token_global, pos + 1)
        ends = end_hi > 0
        sub_hi = end_hi.copy()
        for i in range(self.depth - 2, -1, -1):  # bottom-up: a node's range ends with its
            off, nxt = int(self.level_offset[i]), int(self.level_offset[i + 1])  # last child
            lo, hi = self.child_lo[i], self.child_hi[i]
            has = hi > lo
            rows = np.flatnonzero(has)
            sub_hi[off + rows] = sub_hi[nxt + hi[rows] - 1]
            first = sub_lo[nxt + lo[rows]]
            sub_lo[off + rows] = np.minimum(sub_lo[off + rows], first)
        end_hi = np.where(ends, end_hi, sub_lo)  # no token ends here: an empty range
        for arr in (end_hi, sub_lo, sub_hi):
            arr.setflags(write=False)
        return end_hi, sub_lo, sub_hi

    def live_positions(self, codes: np.ndarray, state: int) -> np.ndarray:
        """Trie token positions (unsorted) of the tokens whose bytes keep a DFA alive from
        ``state``, for the DFA's ``coded_table``."""
        def step(cur: np.ndarray, data: np.ndarray) -> np.ndarray:
            cur += data
            return codes.take(cur)

        final, nodes, _ = self.walk_live(step, (state + 1) << 8)
        if final is not None:
            return np.flatnonzero(final.take(self.token_global))
        end_hi, sub_lo, _ = self.node_ranges  # the tokens ending at a node: one range
        lo = sub_lo.take(nodes)
        return expand_ranges(lo, end_hi.take(nodes) - lo)


def expand_ranges(lo: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """The ranges ``[lo[i], lo[i] + cnt[i])`` one after the other, as one int64 array
    (children of chosen nodes, tokens below chosen nodes)."""
    ends = np.cumsum(cnt)
    total = int(ends[-1]) if len(ends) else 0
    base = lo - ends
    base += cnt  # element k of range i = base[i] + (its index in the output)
    out = np.repeat(base, cnt)
    out += np.arange(total)
    return out


def coded_table(transitions: np.ndarray) -> np.ndarray:
    """A DFA table (``[n, 256]``, -1 dead) coded for ``TokenTrie.walk_live``: state ``q`` is
    ``(q + 1) << 8`` and 0 is dead (an all-0 row), so that a step is ``codes += bytes``
    and one gather from this raveled int32 table."""
    table = np.zeros((transitions.shape[0] + 1, 256), dtype=np.int32)
    np.add(transitions, 1, out=table[1:])
    table <<= 8
    table = table.reshape(-1)
    table.setflags(write=False)
    return table


def _lcp_with_previous(srt: list[bytes], flat: np.ndarray, starts: np.ndarray,
                       lengths: np.ndarray, width: int = 16) -> np.ndarray:
    """Longest common prefix of each sorted token with the one before it (0 for the first).

    Compares the first ``width`` bytes with array ops and finishes the few longer ties in
    Python, so that one very long token does not cost a [n, max_len] matrix.
    """
    n = len(srt)
    lcp = np.zeros(n, dtype=np.int64)
    if n < 2:
        return lcp
    cols = np.arange(width)
    pos = starts[:, None] + cols[None, :]
    valid = cols[None, :] < lengths[:, None]
    head = np.where(valid, flat[np.minimum(pos, len(flat) - 1)].astype(np.int16), -1)
    diff = head[1:] != head[:-1]
    any_diff = diff.any(axis=1)
    lcp[1:] = np.where(any_diff, diff.argmax(axis=1), width)
    for j in np.flatnonzero(~any_diff) + 1:
        a, b = srt[j - 1], srt[j]
        k = width
        m = min(len(a), len(b))
        while k < m and a[k] == b[k]:
            k += 1
        lcp[j] = k
    return lcp
