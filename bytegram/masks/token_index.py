"""Token index: for each DFA state, which tokens keep the automaton alive.

Token t is allowed in state q iff walking t's bytes from q never hits dead (the DFA is
trimmed, so alive means "still a viable prefix"). States whose behaviour agrees on every
string up to the longest token's length have identical masks: they are merged by that many
rounds of partition refinement, so a bounded repetition such as ``[a-z]{0,5000}`` costs a
handful of masks. Masks are computed lazily on first visit, cached per merged class, and
stored in whichever form is smallest (allowed ids, forbidden ids, or packed words).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..grammar.dfa import ByteDFA, refine_partition
from .bitmask import pack_bool, unpack_ids
from .trie import coded_table
from .vocab_index import VocabIndex

__all__ = ["StateMask", "TokenIndex"]


@dataclass(frozen=True, eq=False)
class StateMask:
    """The text tokens allowed in one class of states, in its most compact form.

    Exactly one of ``allowed`` (sorted ids), ``forbidden`` (sorted text ids that are not
    allowed) or ``packed`` (int32 words) is set. End-of-sequence ids are not part of it.
    """

    n_allowed: int
    allowed: np.ndarray | None
    forbidden: np.ndarray | None
    packed: np.ndarray | None

    def fill(self, row: np.ndarray, text_packed: np.ndarray) -> None:
        """Write this mask into a packed row (``row`` may be wider than the vocabulary)."""
        w = len(text_packed)
        if self.packed is not None:
            row[:w] = self.packed
        elif self.allowed is not None:
            row[:w] = 0
            ids = self.allowed
            if len(ids):
                np.bitwise_or.at(row, ids >> 5, _bits(ids))
        else:
            row[:w] = text_packed
            ids = self.forbidden
            if len(ids):
                np.bitwise_xor.at(row, ids >> 5, _bits(ids))
        if len(row) > w:
            row[w:] = 0

    def to_ids(self, text_ids: np.ndarray) -> np.ndarray:
        """Sorted allowed ids."""
        if self.allowed is not None:
            return self.allowed
        if self.forbidden is not None:
            return np.setdiff1d(text_ids, self.forbidden, assume_unique=True)
        return unpack_ids(self.packed, 32 * len(self.packed)).astype(np.int32)


_BIT = (np.uint32(1) << np.arange(32, dtype=np.uint32)).view(np.int32)


def _bits(ids: np.ndarray) -> np.ndarray:
    return _BIT[ids & 31]


class TokenIndex:
    """Lazily computed per-state token masks of one DFA over one vocabulary's trie.

    Thread-safe: computing a class twice yields the same result, and the cache is filled
    under a lock.
    """

    def __init__(self, dfa: ByteDFA, vocab: VocabIndex) -> None:
        self.dfa = dfa
        self.trie = vocab.trie
        self.vocab_size = vocab.vocab_size
        self.width = vocab.width
        self.codes = coded_table(dfa.transitions)
        self.text_ids = vocab.text_ids
        self.text_packed = vocab.text_packed
        self.state_class = self._mask_classes()
        self._cache: dict[int, StateMask] = {}
        self._lock = threading.Lock()

    def _mask_classes(self) -> np.ndarray:
        """Merge states that agree on liveness for every string up to the longest token."""
        n = self.dfa.n_states
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        t = self.dfa.transitions
        # identical byte columns behave alike: refine over one representative byte per class
        _, reps = np.unique(t.T, axis=0, return_index=True)
        return refine_partition(t[:, np.sort(reps)], np.zeros(n, dtype=np.int64),
                                max_rounds=max(self.trie.depth, 1))

    @property
    def n_classes(self) -> int:
        return int(self.state_class.max()) + 1 if len(self.state_class) else 0

    @property
    def n_cached(self) -> int:
        """Number of mask classes computed so far."""
        return len(self._cache)

    def state_mask(self, state: int) -> StateMask:
        """The mask of ``state`` (computed on first visit of its class)."""
        cls = int(self.state_class[state])
        m = self._cache.get(cls)
        if m is None:
            m = self._compute(state)
            with self._lock:
                m = self._cache.setdefault(cls, m)
        return m

    def _compute(self, state: int) -> StateMask:
        pos = self.trie.live_positions(self.codes, state)
        allowed = np.sort(self.trie.token_ids.take(pos)).astype(np.int32)
        k = len(allowed)
        n_text = len(self.text_ids)
        n_forbidden = n_text - k
        # store the smallest representation: 4 bytes per id or per word
        if k <= self.width and k <= n_forbidden:
            m = StateMask(k, allowed, None, None)
        elif n_forbidden <= self.width:
            forb = np.setdiff1d(self.text_ids, allowed, assume_unique=True).astype(np.int32)
            m = StateMask(k, None, forb, None)
        else:
            bits = np.zeros(self.vocab_size, dtype=bool)
            bits[allowed] = True
            m = StateMask(k, None, None, pack_bool(bits, width=self.width))
        for arr in (m.allowed, m.forbidden, m.packed):
            if arr is not None:
                arr.setflags(write=False)
        return m
