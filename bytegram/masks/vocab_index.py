"""Everything derived from a vocabulary alone, built once per vocabulary fingerprint and
shared by every grammar compiled against it: the token trie, the text tokens' bytes as a
list for fast single-token checks, and the packed mask of all text tokens.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .bitmask import bitmask_width, pack_bool
from .trie import TokenTrie

if TYPE_CHECKING:
    from .vocab import Vocabulary

__all__ = ["VocabIndex", "vocab_index"]


@dataclass(frozen=True, eq=False)
class VocabIndex:
    """Grammar-independent tables of one vocabulary (immutable)."""

    vocab_size: int
    width: int  # int32 words per bitmask row
    trie: TokenTrie
    text_bytes: list  # per id: bytes for text tokens, None for special/empty ones
    text_ids: np.ndarray  # sorted int32 ids of text tokens
    text_packed: np.ndarray  # packed words with every text token set
    eos_ids: np.ndarray  # sorted int32
    eos_set: frozenset
    eos_words: tuple  # (word index, int32 bit) per eos id

    @classmethod
    def build(cls, vocab: "Vocabulary") -> "VocabIndex":
        special = vocab.special_ids
        text_bytes = [None if (i in special or not b) else b
                      for i, b in enumerate(vocab.token_bytes)]
        ids = np.asarray([i for i, b in enumerate(text_bytes) if b is not None], dtype=np.int64)
        trie = TokenTrie.build([text_bytes[i] for i in ids], ids)
        size = int(vocab.size)
        width = bitmask_width(size)
        text_bool = np.zeros(size, dtype=bool)
        text_bool[ids] = True
        eos = np.asarray(sorted(vocab.eos_ids), dtype=np.int32)
        eos_words = tuple((int(e) >> 5, np.uint32(1 << (int(e) & 31)).view(np.int32))
                          for e in eos)
        packed = pack_bool(text_bool, width=width)
        for arr in (ids, packed, eos):
            arr.setflags(write=False)
        built = cls(size, width, trie, text_bytes, ids.astype(np.int32), packed, eos,
                    frozenset(int(e) for e in eos), eos_words)
        # what every grammar's masks read, built with the index rather than by a first mask
        _ = trie.node_ranges, trie.token_bytes
        return built

    @cached_property
    def trie_position(self) -> np.ndarray:
        """Per token id, its position among the trie's tokens (``trie.token_ids``); ids not
        in the trie (special, empty, padding) read one past the end. For moving a class over
        trie positions to ids with one gather."""
        n_tok = len(self.trie.token_ids)
        pos = np.full(self.vocab_size, n_tok, dtype=np.int64)
        pos[self.trie.token_ids] = np.arange(n_tok)
        pos.setflags(write=False)
        return pos


_CACHE: "OrderedDict[str, VocabIndex]" = OrderedDict()
_LOCK = threading.Lock()
_MAX = 8


def vocab_index(vocab: "Vocabulary") -> VocabIndex:
    """The shared ``VocabIndex`` of ``vocab`` (built on first use, LRU of 8 vocabularies)."""
    key = vocab.fingerprint
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    built = VocabIndex.build(vocab)
    with _LOCK:
        built = _CACHE.setdefault(key, built)
        while len(_CACHE) > _MAX:
            _CACHE.popitem(last=False)
    return built
