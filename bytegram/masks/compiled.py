"""``compile(grammar, vocab)``: bind a grammar to a vocabulary, once, immutably.

A ``CompiledGrammar`` holds everything that depends on grammar content plus a vocabulary
fingerprint (the token index); it is shareable across threads. ``matcher()`` makes the cheap
per-sequence objects.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument, Unsupported
from .bitmask import allocate_bitmask, bitmask_width
from .cfg_index import CFGIndex
from .cfg_matcher import CFGMatcher
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

    def __init__(self, grammar: "Grammar", vocab: "Vocabulary", *,
                 max_readings: int = 10_000) -> None:
        if grammar.kind not in ("regex", "cfg"):
            raise Unsupported(f"grammar kind {grammar.kind!r} cannot be compiled yet",
                              feature=grammar.kind)
        t0 = time.perf_counter()
        self.grammar = grammar
        self.vocab = vocab
        self.vocab_size = int(vocab.size)
        vindex = vocab_index(vocab)
        self.eos_ids = vindex.eos_ids
        self._eos_set = vindex.eos_set
        self._text_bytes = vindex.text_bytes
        self._eos_words = vindex.eos_words
        self.max_readings = int(max_readings)
        if grammar.kind == "cfg":
            from .cfg_compile import cfg_parts

            self.dfa = None
            self.lr_tables, self.cfg_lexer = cfg_parts(grammar.ir)
            self.cfg_index = CFGIndex(self.cfg_lexer, vindex, max_readings=self.max_readings)
            self._matcher_class: type = CFGMatcher
        else:
            self.dfa = grammar.dfa
            self.index = TokenIndex(self.dfa, vindex)
            # hot-path helpers for matchers
            self._flat_table = memoryview(self.dfa.transitions.reshape(-1)).cast("B").cast("i")
            self._accepting_list = self.dfa.accepting.tolist()
            self._matcher_class = DFAMatcher
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
        return self._matcher_class(self)

    def stats(self) -> dict[str, Any]:
        """Sizes and timings, for ``bytegram compile --stats`` and benchmarks."""
        if self.grammar.kind == "cfg":
            return {
                "kind": "cfg",
                "terminals": self.lr_tables.n_terminals,
                "lr_states": self.lr_tables.n_states,
                "lr_conflicts": self.lr_tables.n_conflicts,
                "lexer_states": len(self.cfg_lexer.lex_items),
                "walk_states": len(self.cfg_lexer.walk_items),
                "masks_computed": self.cfg_index.n_cached,
                "vocab_size": self.vocab_size,
                "compile_seconds": self.compile_seconds,
            }
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
        if self.dfa is None:
            return (f"CompiledGrammar(kind={self.grammar.kind!r}, "
                    f"lr_states={self.lr_tables.n_states}, vocab_size={self.vocab_size})")
        return (f"CompiledGrammar(kind={self.grammar.kind!r}, dfa_states={self.dfa.n_states}, "
                f"vocab_size={self.vocab_size})")


def compile(grammar: "Grammar", vocab: "Vocabulary", *,  # noqa: A001
            max_readings: int = 10_000) -> CompiledGrammar:
    """Bind ``grammar`` to ``vocab``. Masks are computed lazily, per visited state.

    ``max_readings`` bounds the simultaneous parser stacks of a context-free grammar
    (``LimitExceeded`` beyond it: a very ambiguous grammar never hangs)."""
    from ..grammar.grammar import Grammar
    from .vocab import Vocabulary

    if not isinstance(grammar, Grammar):
        raise InvalidArgument(f"compile() wants a bytegram.Grammar, got {type(grammar).__name__}; "
                              f"build one with Grammar.from_regex(...)")
    if not isinstance(vocab, Vocabulary):
        raise InvalidArgument(f"compile() wants a bytegram.Vocabulary, got "
                              f"{type(vocab).__name__}; load one with Vocabulary.from_...()")
    return CompiledGrammar(grammar, vocab, max_readings=max_readings)
