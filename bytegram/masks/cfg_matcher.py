"""The per-sequence matcher of a context-free grammar.

State: a set of *readings*, each a persistent parser stack plus the lexer state of the lexeme
in progress (restricted to the terminals that stack can take). Several readings coexist when
the text so far can be split or parsed in several ways; readings the parser rejects are
dropped. History is a cons list of past reading sets, so ``fork`` and ``rollback`` are O(1)
per step. Masks come from ``CFGIndex`` (cached per lexer state and bounded stack context).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidArgument, LimitExceeded
from .bitmask import bitmask_row_view, unpack_ids
from .cfg_index import can_end, walk_ok
from .cfg_parser import bottom_stack
from .matcher import HistoryMatcher

__all__ = ["CFGMatcher"]

Readings = tuple  # tuple[(StackNode, lexer state id), ...]
_CHUNK = 8  # bytes walked at once by accept_bytes


class CFGMatcher(HistoryMatcher):
    """Matcher for ``kind == "cfg"`` grammars (see the module docstring); the state is the
    tuple of readings."""

    __slots__ = ()

    def _initial(self) -> Readings:
        c = self.compiled
        return ((bottom_stack(), c.cfg_lexer.fresh(c.lr_tables.next_mask[0])),)

    # -- core ----------------------------------------------------------------------------

    def _advance(self, data: bytes) -> Readings | None:
        """The readings after ``data`` (None when it is not viable)."""
        if len(data) <= _CHUNK:
            return self._advance_from(self._state, data) or None
        # long inputs (accept_bytes): chunk by chunk, so that the parser prunes the lexical
        # readings as it goes (one walk over the whole text would keep every split)
        readings = self._state
        for i in range(0, len(data), _CHUNK):
            readings = self._advance_from(readings, data[i:i + _CHUNK])
            if not readings:
                return None
        return readings

    def _advance_from(self, readings: Readings, data: bytes) -> Readings:
        c = self.compiled
        lexer = c.cfg_lexer
        index = c.cfg_index
        nm = c.lr_tables.next_mask
        out: dict[tuple, None] = {}
        for node, lex in readings:
            w = lexer.walk_bytes(lexer.initial_walk(lex), data)
            if w < 0:
                continue
            ctx = index.context(node)
            items = lexer.walk_items[w]
            implied = lexer.implied(w)
            for seq, lx in items:
                if implied and (seq, lx) in implied:
                    continue  # the reading of the complete lexeme regenerates it
                for vs in ctx.sim(seq):
                    lx2 = lexer.restrict(lx, nm[ctx.top(vs)])
                    if lx2 < 0:
                        continue
                    out[(ctx.materialize(vs), lx2)] = None
                    if len(out) > c.max_readings:
                        raise LimitExceeded("too many simultaneous readings (the grammar is "
                                            "too ambiguous here)", limit="max_readings",
                                            value=c.max_readings,
                                            hint="raise compile(..., max_readings=...) or "
                                                 "disambiguate the grammar")
        return tuple(out)

    def _viable(self, data: bytes) -> bool:
        c = self.compiled
        lexer = c.cfg_lexer
        for node, lex in self._state:
            w = lexer.walk_bytes(lexer.initial_walk(lex), data)
            if w >= 0 and walk_ok(c.cfg_index.context(node), lexer, w):
                return True
        return False

    def _token_viable(self, token_id: int, data: bytes) -> bool:
        """``_viable`` for a text token: a reading whose mask is cached answers with one bit
        (the mask holds exactly the tokens its walk accepts); the others walk the bytes."""
        c = self.compiled
        index = c.cfg_index
        lexer = c.cfg_lexer
        word = token_id >> 5
        for node, lex in self._state:
            hit = index.cached_mask(node, lex)
            if hit is not None:
                if (hit[0].item(word) >> (token_id & 31)) & 1:
                    return True
                continue
            w = lexer.walk_bytes(lexer.initial_walk(lex), data)
            if w >= 0 and walk_ok(index.context(node), lexer, w):
                return True
        return False

    # -- queries -------------------------------------------------------------------------

    def is_accepting(self) -> bool:
        c = self.compiled
        for node, lex in self._state:
            if can_end(c.cfg_index.context(node), c.cfg_lexer, lex):
                return True
        return False

    def _packed(self) -> tuple[np.ndarray | None, bool]:
        index = self.compiled.cfg_index
        packed = None
        ends = False
        for node, lex in self._state:
            p, e = index.reading_mask(node, lex)
            ends = ends or e
            if packed is None:
                packed = p
            else:
                packed = packed | p
        return packed, ends

    def allowed_ids(self) -> np.ndarray:
        c = self.compiled
        if self._terminated:
            return np.zeros(0, dtype=np.int32)
        packed, ends = self._packed()
        ids = unpack_ids(packed, c.vocab_size).astype(np.int32)
        if ends and len(c.eos_ids):
            ids = np.union1d(ids, c.eos_ids).astype(np.int32)
        return ids

    def fill_bitmask(self, out: Any, row: int = 0) -> None:
        c = self.compiled
        view, flush = bitmask_row_view(out, row)
        width = c.cfg_index.width
        if view.shape[0] < width:
            raise InvalidArgument(f"bitmask has {view.shape[0]} words per row but the vocabulary "
                                  f"needs {width}; allocate it with compiled.allocate_bitmask()")
        if self._terminated:
            view[:] = 0
        else:
            packed, ends = self._packed()
            view[:width] = packed
            if view.shape[0] > width:
                view[width:] = 0
            if ends:
                for word, bit in c._eos_words:
                    view[word] |= bit
        if flush is not None:
            flush()

    @property
    def n_readings(self) -> int:
        """Number of simultaneous readings (parser stacks and lexemes in progress)."""
        return len(self._state)

    def __repr__(self) -> str:
        return (f"CFGMatcher(readings={len(self._state)}, terminated={self._terminated}, "
                f"steps={self._steps})")
