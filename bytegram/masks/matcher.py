"""Per-sequence matchers: the only objects in bytegram that hold mutable state.

A matcher tracks where one generated sequence stands in the grammar. It answers the token
questions of the decode loop (which ids are allowed, is this one allowed) and advances on
accepted tokens. Error contract: a forbidden token makes ``accept`` return False and leaves
the matcher unchanged; nothing here raises in the decode loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidArgument
from .bitmask import bitmask_row_view

if TYPE_CHECKING:
    from .compiled import CompiledGrammar

__all__ = ["Matcher", "HistoryMatcher", "DFAMatcher"]


class Matcher(ABC):
    """The per-sequence API shared by every grammar kind.

    ``fill_bitmask`` writes the allowed-token mask into a packed int32 row; ``is_allowed``
    checks one token without computing a mask; ``accept`` advances; ``fork`` copies cheaply;
    ``rollback`` undoes accepted tokens.
    """

    compiled: "CompiledGrammar"

    @abstractmethod
    def fill_bitmask(self, out: Any, row: int = 0) -> None:
        """Write the allowed tokens into ``out[row]`` (int32 ``[batch, ceil(V/32)]``)."""

    @abstractmethod
    def allowed_ids(self) -> np.ndarray:
        """Sorted array of the token ids allowed next."""

    @abstractmethod
    def is_allowed(self, token_id: int) -> bool:
        """Whether ``token_id`` may come next (cheap: no full mask is computed)."""

    @abstractmethod
    def accept(self, token_id: int) -> bool:
        """Advance by one token; False (and no change) if it is forbidden."""

    @abstractmethod
    def accept_bytes(self, data: bytes) -> bool:
        """Advance by raw bytes (one rollback step); False (and no change) if not viable."""

    @abstractmethod
    def is_accepting(self) -> bool:
        """Whether the text so far is a complete sentence of the language."""

    @abstractmethod
    def is_terminated(self) -> bool:
        """Whether an end-of-sequence token has been accepted."""

    @abstractmethod
    def fork(self) -> "Matcher":
        """An independent copy in the same state (O(1))."""

    @abstractmethod
    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` accepted steps (tokens or ``accept_bytes`` calls)."""

    @abstractmethod
    def reset(self) -> None:
        """Back to the start state with no history."""

    @property
    @abstractmethod
    def num_steps(self) -> int:
        """Number of steps that ``rollback`` can undo."""

    def accept_ids(self, token_ids: Any) -> int:
        """Accept tokens in order; returns how many were accepted before the first refusal."""
        n = 0
        for t in token_ids:
            if not self.accept(int(t)):
                break
            n += 1
        return n


class HistoryMatcher(Matcher):
    """The bookkeeping every matcher kind shares: a grammar state, the terminated flag and a
    persistent history of past states (a cons list), so ``fork`` is O(1) and ``rollback`` is
    O(n). Subclasses say what a state is: ``_initial``, ``_advance`` (bytes -> next state,
    or None when the bytes are not viable), ``_viable`` and ``is_accepting``."""

    __slots__ = ("compiled", "_state", "_terminated", "_hist", "_steps")

    def __init__(self, compiled: "CompiledGrammar") -> None:
        self.compiled = compiled
        self.reset()

    @abstractmethod
    def _initial(self) -> Any:
        """The grammar state at the start of a sequence."""

    @abstractmethod
    def _advance(self, data: bytes) -> Any:
        """The state after ``data``, or None when ``data`` cannot come next."""

    def _viable(self, data: bytes) -> bool:
        """Whether ``data`` may come next (subclasses answer without building the state)."""
        return self._advance(data) is not None

    def reset(self) -> None:
        self._state = self._initial()
        self._terminated = False
        self._hist: tuple | None = None
        self._steps = 0

    def is_terminated(self) -> bool:
        return self._terminated

    def is_allowed(self, token_id: int) -> bool:
        c = self.compiled
        if self._terminated or not 0 <= token_id < c.vocab_size:
            return False
        if token_id in c._eos_set:
            return self.is_accepting()
        data = c._text_bytes[token_id]
        if data is None:
            return False
        return self._token_viable(token_id, data)

    def _token_viable(self, token_id: int, data: bytes) -> bool:
        """Whether text token ``token_id`` (bytes ``data``) may come next (subclasses may
        answer from a cached mask)."""
        return self._viable(data)

    def _push(self, new_state: Any, terminated: bool) -> None:
        self._hist = (self._state, self._terminated, self._hist)
        self._state = new_state
        self._terminated = terminated
        self._steps += 1

    def accept(self, token_id: int) -> bool:
        c = self.compiled
        if self._terminated or not 0 <= token_id < c.vocab_size:
            return False
        if token_id in c._eos_set:
            if not self.is_accepting():
                return False
            self._push(self._state, True)
            return True
        data = c._text_bytes[token_id]
        if data is None:
            return False
        new = self._advance(data)
        if new is None:
            return False
        self._push(new, False)
        return True

    def accept_bytes(self, data: bytes) -> bool:
        if self._terminated:
            return False
        new = self._advance(bytes(data))
        if new is None:
            return False
        self._push(new, False)
        return True

    def rollback(self, n: int = 1) -> None:
        if n < 0 or n > self._steps:
            raise InvalidArgument(f"cannot roll back {n} steps: the matcher has {self._steps}")
        for _ in range(n):
            self._state, self._terminated, self._hist = self._hist
        self._steps -= n

    @property
    def num_steps(self) -> int:
        return self._steps

    def fork(self) -> "HistoryMatcher":
        other = object.__new__(type(self))
        other.compiled = self.compiled
        other._state = self._state
        other._terminated = self._terminated
        other._hist = self._hist
        other._steps = self._steps
        return other


class DFAMatcher(HistoryMatcher):
    """Matcher for grammars that compile to a single byte DFA (regexes). The state is one
    DFA state id."""

    __slots__ = ()

    def _initial(self) -> int:
        return self.compiled.dfa.start

    def _walk(self, data: bytes) -> int:
        state = self._state
        if state < 0:
            return -1
        table = self.compiled._flat_table
        for b in data:
            state = table[(state << 8) | b]
            if state < 0:
                return -1
        return state

    def _advance(self, data: bytes) -> int | None:
        new = self._walk(data)
        return None if new < 0 else new

    def _viable(self, data: bytes) -> bool:
        return self._walk(data) >= 0

    def is_accepting(self) -> bool:
        s = self._state
        return s >= 0 and bool(self.compiled._accepting_list[s])

    def allowed_ids(self) -> np.ndarray:
        c = self.compiled
        if self._terminated or self._state < 0:
            return np.zeros(0, dtype=np.int32)
        ids = c.index.state_mask(self._state).to_ids(c.index.text_ids)
        if self.is_accepting() and len(c.eos_ids):
            ids = np.union1d(ids, c.eos_ids).astype(np.int32)
        return ids

    def fill_bitmask(self, out: Any, row: int = 0) -> None:
        c = self.compiled
        view, flush = bitmask_row_view(out, row)
        if view.shape[0] < c.index.width:
            raise InvalidArgument(f"bitmask has {view.shape[0]} words per row but the vocabulary "
                                  f"needs {c.index.width}; allocate it with "
                                  f"compiled.allocate_bitmask()")
        if self._terminated or self._state < 0:
            view[:] = 0
        else:
            c.index.state_mask(self._state).fill(view, c.index.text_packed)
            if self.is_accepting():
                for word, bit in c._eos_words:
                    view[word] |= bit
        if flush is not None:
            flush()

    def __repr__(self) -> str:
        return (f"DFAMatcher(state={self._state}, accepting={self.is_accepting()}, "
                f"terminated={self._terminated}, steps={self._steps})")
