"""Slow, obvious reference implementations that the fast paths are tested against.

Shipped in the package so that users can check a mask themselves. Nothing here shares code
with the fast paths beyond the grammar's own automaton: no trie, no state merging, no
packed-mask tricks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .grammar.dfa import ByteDFA
    from .masks.vocab import Vocabulary

__all__ = ["reference_dfa_mask", "reference_dfa_allowed_ids"]


def _walk(table: list[list[int]], state: int, data: bytes) -> int:
    for b in data:
        if state < 0:
            return -1
        state = table[state][b]
    return state


def reference_dfa_mask(dfa: "ByteDFA", vocab: "Vocabulary", prefix: bytes, *,
                       terminated: bool = False, width: int | None = None) -> np.ndarray:
    """Boolean mask over ``width`` ids (default: vocabulary size) after ``prefix``.

    For each text token: run ``prefix + token`` from the start state; allowed iff the DFA is
    still alive (every state of a trimmed DFA can reach acceptance). End-of-sequence ids are
    allowed iff ``prefix`` is in the language. Special tokens and padding ids never are.
    """
    table = dfa.transitions.tolist()
    size = vocab.size if width is None else int(width)
    mask = np.zeros(size, dtype=bool)
    if terminated:
        return mask
    start = _walk(table, dfa.start, prefix) if dfa.start >= 0 else -1
    if start < 0:
        return mask
    for tid, data in enumerate(vocab.token_bytes):
        if tid in vocab.special_ids or not data:
            continue
        mask[tid] = _walk(table, start, data) >= 0
    if dfa.accepting[start]:
        for e in vocab.eos_ids:
            mask[e] = True
    return mask


def reference_dfa_allowed_ids(dfa: "ByteDFA", vocab: "Vocabulary", prefix: bytes) -> np.ndarray:
    """Sorted allowed ids after ``prefix`` (see ``reference_dfa_mask``)."""
    return np.flatnonzero(reference_dfa_mask(dfa, vocab, prefix)).astype(np.int32)
