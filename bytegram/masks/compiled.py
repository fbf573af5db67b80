"""``compile(grammar, vocab)``: bind a grammar to a vocabulary, once, immutably.

A ``CompiledGrammar`` holds everything that depends on grammar content plus a vocabulary
fingerprint (the token index); it is shareable across threads. ``matcher()`` makes the cheap
per-sequence objects.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidArgument, Unsupported
from .bitmask import allocate_bitmask, bitmask_width
from .matcher import DFAMatcher, Matcher
from .token_index import TokenIndex
from .vocab_index import vocab_index

if TYPE_CHECKING:
    from ..grammar.grammar import Grammar
    from .vocab import Vocabulary

__all__ = ["CompiledGrammar", "compile"]

class CompiledGrammar:
    """A grammar bound to a vocabulary. Immutable; make per-sequence state with ``matcher()``.

    ``vocab_size`` is the tokenizer's size; bitmasks may be wider (the model's logit width),
    with padding ids always disallowed.
    """

    def __init__(self, grammar: "Grammar", vocab: "Vocabulary") -> None:
        if grammar.kind != "regex":
            raise Unsupported(f"grammar kind {grammar.kind!r} cannot be compiled yet",
                              feature=grammar.kind)
        t0 = time.perf_counter()
        self.grammar = grammar
        self.vocab = vocab
        self.vocab_size = int(vocab.size)
        self.dfa = grammar.dfa
        vindex = vocab_index(vocab)
        self.eos_ids = vindex.eos_ids
        self.index = TokenIndex(self.dfa, vindex)
        # hot-path helpers for matchers
        self._flat_table = memoryview(self.dfa.transitions.reshape(-1)).cast("B").cast("i")
        self._accepting_list = self.dfa.accepting.tolist()
        self._eos_set = vindex.eos_set
        self._text_bytes = vindex.text_bytes
        self._eos_words = vindex.eos_words
        self.compile_seconds = time.perf_counter() - t0

    @property
    def bitmask_width(self) -> int:
        """Words per bitmask row for this vocabulary."""
        return bitmask_width(self.vocab_size)

    def allocate_bitmask(self, batch_size: int = 1, *, vocab_size: int | None = None,
                         backend: str = "numpy") -> Any:
        """A zeroed int32 bitmask ``[batch_size, ceil(V/32)]``; ``vocab_size`` may be the
        model's logit width when it exceeds the tokenizer's."""
        v = self.vocab_size if vocab_size is None else int(vocab_size)
        if v < self.vocab_size:
            raise InvalidArgument(f"vocab_size {v} is smaller than the vocabulary "
                                  f"({self.vocab_size} tokens)")
        return allocate_bitmask(batch_size, v, backend=backend)

    def matcher(self) -> Matcher:
        """A fresh per-sequence matcher at the start of the grammar."""
        return DFAMatcher(self)

    def stats(self) -> dict[str, Any]:
        """Sizes and timings, for ``bytegram compile --stats`` and benchmarks."""
        return {
            "kind": self.grammar.kind,
            "dfa_states": self.dfa.n_states,
            "mask_classes": self.index.n_classes,
            "masks_computed": self.index.n_cached,
            "vocab_size": self.vocab_size,
            "trie_nodes": self.index.trie.n_nodes,
            "compile_seconds": self.compile_seconds,
        }

    def __repr__(self) -> str:
        return (f"CompiledGrammar(kind={self.grammar.kind!r}, dfa_states={self.dfa.n_states}, "
                f"vocab_size={self.vocab_size})")


def compile(grammar: "Grammar", vocab: "Vocabulary") -> CompiledGrammar:  # noqa: A001
    """Bind ``grammar`` to ``vocab``. Masks are computed lazily, per visited state."""
    from ..grammar.grammar import Grammar
    from .vocab import Vocabulary

    if not isinstance(grammar, Grammar):
        raise InvalidArgument(f"compile() wants a bytegram.Grammar, got {type(grammar).__name__}; "
                              f"build one with Grammar.from_regex(...)")
    if not isinstance(vocab, Vocabulary):
        raise InvalidArgument(f"compile() wants a bytegram.Vocabulary, got "
                              f"{type(vocab).__name__}; load one with Vocabulary.from_...()")
    return CompiledGrammar(grammar, vocab)
