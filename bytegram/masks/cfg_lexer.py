"""The scannerless lexer of a context-free grammar, over interned states, grammar-level only.

Lexer states. A lexer state is a set of ``(terminal, dfa state)`` pairs: the terminals whose
lexeme may still be in progress (a subset construction over the disjoint union of the
terminal DFAs). Interned to small ints; transition rows (256 next ids, -1 = dead) are built
lazily with array ops. ``fresh(mask)`` is the state at the start of a lexeme for the
terminals in ``mask`` (plus the ignored ones); ``universal`` is ``fresh`` of every terminal.

Walk states. Walking a token's bytes from a lexer state ``L`` may complete terminals and
start new lexemes. Which terminals the parser takes after a completion depends on its stack,
so after the first completion the walk continues with the universal lexer and *records* the
terminals it completed: a walk state is a set of ``(sequence id, lexer state)`` pairs, where
sequence ids intern tuples of completed terminals in a trie (an ignored terminal is recorded
as the pseudo-terminal ``ign``, so that the empty sequence means "still in the lexeme the
walk started in"). The parser later
checks each recorded sequence against its stack; the walk itself is stack-independent, so its
transitions are computed once and shared by every stack and token.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import LimitExceeded
from ..grammar.lr import LRTables

__all__ = ["LexerSpace", "ROOT_SEQ"]

ROOT_SEQ = 0  # the empty sequence of completed terminals


class LexerSpace:
    """Interned lexer states, completed-terminal sequences and walk states of one grammar.

    Shared by every matcher of every vocabulary compiled from the same grammar; grows
    lazily and is guarded by a lock (ids are never reused, so readers need no lock).
    """

    def __init__(self, tables: LRTables, *, max_walk_states: int = 2_000_000,
                 max_walk_width: int = 4096) -> None:
        self.tables = tables
        self.n_terms = tables.n_terminals
        self.ign = tables.n_terminals + 1  # pseudo-terminal: an ignored lexeme ended
        self.ignore_mask = tables.ignore_mask
        self._tt = [d.transitions for d in tables.terminal_dfas]
        self._acc = [d.accepting.tolist() for d in tables.terminal_dfas]
        self._start = [d.start for d in tables.terminal_dfas]
        self.max_walk_states = max_walk_states
        self.max_walk_width = max_walk_width
        self._lock = threading.RLock()
        # lexer states
        self.lex_items: list[tuple[tuple[int, int], ...]] = []
        self.lex_ids: dict[tuple, int] = {}
        self.lex_alive: list[int] = []  # bitmask of terminals present
        self.lex_done: list[tuple[int, ...]] = []  # terminals accepting here
        self.lex_fresh: list[bool] = []
        self.lex_rows: list[list[int] | None] = []
        self._fresh: dict[int, int] = {}
        self._restrict: dict[tuple[int, int], int] = {}
        # completed-terminal sequences: id -> (parent id, terminal); id 0 = empty
        self.seq_parent: list[int] = [-1]
        self.seq_term: list[int] = [-1]
        self.seq_len: list[int] = [0]
        self._seq_ids: dict[tuple[int, int], int] = {}
        # walk states: tuple of (seq, lex) pairs
        self.walk_items: list[tuple[tuple[int, int], ...]] = []
        self._walk_ids: dict[tuple, int] = {}
        self.walk_rows: list[list[int] | None] = []
        self._walk_table = np.full((64, 256), -2, dtype=np.int32)
        self._init_walk: dict[int, int] = {}
        self._dead_end: dict[int, bool] = {}
        self._implied: dict[int, frozenset[int]] = {}
        all_terms = (1 << self.n_terms) - 1
        self.universal = self.fresh(all_terms)

    # -- lexer states --------------------------------------------------------------------

    def _intern_lex(self, items: tuple[tuple[int, int], ...]) -> int:
        lid = self.lex_ids.get(items)
        if lid is not None:
            return lid
        with self._lock:
            lid = self.lex_ids.get(items)
            if lid is not None:
                return lid
            lid = len(self.lex_items)
            alive = 0
            done = []
            fresh = True
            for t, q in items:
                alive |= 1 << t
                if self._acc[t][q]:
                    done.append(t)
                if q != self._start[t]:
                    fresh = False
            self.lex_items.append(items)
            self.lex_alive.append(alive)
            self.lex_done.append(tuple(done))
            self.lex_fresh.append(fresh)
            self.lex_rows.append(None)
            self.lex_ids[items] = lid
            return lid

    def fresh(self, term_mask: int) -> int:
        """The lexer state at the start of a lexeme of the terminals in ``term_mask``
        (ignored terminals are always added). With none, the state has no pair: the input
        may only end here."""
        term_mask = (term_mask | self.ignore_mask) & ((1 << self.n_terms) - 1)
        hit = self._fresh.get(term_mask)
        if hit is None:
            items = tuple((t, self._start[t]) for t in range(self.n_terms) if term_mask >> t & 1)
            hit = self._intern_lex(items)  # may be empty: at a boundary, only the end
            self._fresh[term_mask] = hit
        return hit

    def restrict(self, lex: int, term_mask: int) -> int:
        """``lex`` keeping only terminals in ``term_mask`` or ignored; -1 if none is left."""
        key = (lex, term_mask)
        hit = self._restrict.get(key)
        if hit is None:
            keep = term_mask | self.ignore_mask
            if lex == self.universal:
                hit = self.fresh(term_mask)
            elif self.lex_alive[lex] & ~keep == 0:
                hit = lex
            else:
                items = tuple(p for p in self.lex_items[lex] if keep >> p[0] & 1)
                hit = self._intern_lex(items) if items else -1
            self._restrict[key] = hit
        return hit

    def lex_row(self, lex: int) -> list[int]:
        """Next lexer state of ``lex`` for each byte (-1 = dead)."""
        row = self.lex_rows[lex]
        if row is not None:
            return row
        items = self.lex_items[lex]
        if not items:
            row = [-1] * 256
            self.lex_rows[lex] = row
            return row
        mat = np.stack([self._tt[t][q] for t, q in items])  # [k, 256]
        cols, inv = np.unique(mat.T, axis=0, return_inverse=True)
        ids = []
        for col in cols.tolist():
            nxt = tuple((items[j][0], q) for j, q in enumerate(col) if q >= 0)
            ids.append(self._intern_lex(nxt) if nxt else -1)
        row = [ids[k] for k in inv.reshape(-1).tolist()]
        self.lex_rows[lex] = row
        return row

    # -- sequences -----------------------------------------------------------------------

    def seq_push(self, seq: int, term: int) -> int:
        """The sequence ``seq`` followed by ``term``. ``term == ign`` records an ignored
        lexeme (a no-op for the parser, but it marks that the lexeme in progress is a new
        one); consecutive ones collapse."""
        if term == self.ign and self.seq_term[seq] == term:
            return seq
        key = (seq, term)
        sid = self._seq_ids.get(key)
        if sid is None:
            with self._lock:
                sid = self._seq_ids.get(key)
                if sid is None:
                    sid = len(self.seq_parent)
                    self.seq_parent.append(seq)
                    self.seq_term.append(term)
                    self.seq_len.append(self.seq_len[seq] + 1)
                    self._seq_ids[key] = sid
        return sid

    def seq_terms(self, seq: int) -> tuple[int, ...]:
        out = []
        while seq > 0:
            out.append(self.seq_term[seq])
            seq = self.seq_parent[seq]
        return tuple(reversed(out))

    # -- walk states ---------------------------------------------------------------------

    def dead_end(self, lex: int) -> bool:
        """Whether ``lex`` has pairs but no byte continues it (every pair is then complete:
        its completions say all there is to say, so the walk drops it)."""
        flag = self._dead_end.get(lex)
        if flag is None:
            flag = bool(self.lex_items[lex]) and all(x < 0 for x in self.lex_row(lex))
            self._dead_end[lex] = flag
        return flag

    def _close(self, pairs: set[tuple[int, int]], seq: int, lex: int) -> None:
        if not self.dead_end(lex):
            pairs.add((seq, lex))
        for t in self.lex_done[lex]:
            pairs.add((self.seq_push(seq, self.ign if self.ignore_mask >> t & 1 else t),
                       self.universal))

    def _intern_walk(self, pairs: set[tuple[int, int]]) -> int:
        if len(pairs) > self.max_walk_width:
            raise LimitExceeded("a token splits into too many lexical readings",
                                limit="max_walk_width", value=self.max_walk_width,
                                hint="the grammar is very lexically ambiguous; separate "
                                     "adjacent terminals or raise max_walk_width")
        items = tuple(sorted(pairs))
        wid = self._walk_ids.get(items)
        if wid is not None:
            return wid
        with self._lock:
            wid = self._walk_ids.get(items)
            if wid is not None:
                return wid
            wid = len(self.walk_items)
            if wid >= self.max_walk_states:
                raise LimitExceeded("too many token walk states", limit="max_walk_states",
                                    value=self.max_walk_states,
                                    hint="raise max_walk_states")
            self.walk_items.append(items)
            self.walk_rows.append(None)
            self._walk_ids[items] = wid
            if wid >= self._walk_table.shape[0]:
                grown = np.full((self._walk_table.shape[0] * 2, 256), -2, dtype=np.int32)
                grown[: self._walk_table.shape[0]] = self._walk_table
                self._walk_table = grown
            return wid

    def initial_walk(self, lex: int) -> int:
        """The walk state before any byte of a token, from lexer state ``lex`` (the lexeme in
        progress may be complete already)."""
        wid = self._init_walk.get(lex)
        if wid is None:
            pairs: set[tuple[int, int]] = set()
            self._close(pairs, ROOT_SEQ, lex)
            wid = self._intern_walk(pairs)
            self._init_walk[lex] = wid
        return wid

    def walk_row(self, wid: int) -> list[int]:
        """Next walk state of ``wid`` for each byte (-1 = dead); built on first use."""
        row = self.walk_rows[wid]
        if row is not None:
            return row
        items = self.walk_items[wid]
        rows = [self.lex_row(lex) for _, lex in items]
        mat = np.asarray(rows, dtype=np.int64)  # [k, 256]
        cols, inv = np.unique(mat.T, axis=0, return_inverse=True)
        ids = []
        for col in cols.tolist():
            pairs: set[tuple[int, int]] = set()
            for (seq, _), nl in zip(items, col):
                if nl >= 0:
                    self._close(pairs, seq, nl)
            ids.append(self._intern_walk(pairs) if pairs else -1)
        row = [ids[k] for k in inv.reshape(-1).tolist()]
        with self._lock:
            self._walk_table[wid] = row
            self.walk_rows[wid] = row
        return row

    def implied(self, wid: int) -> frozenset[int]:
        """Sequences ``s`` such that ``(s, universal)`` in walk state ``wid`` is the completion
        of another pair's lexeme: a reading kept for that pair regenerates it."""
        hit = self._implied.get(wid)
        if hit is None:
            out = set()
            for seq, lex in self.walk_items[wid]:
                if lex == self.universal:
                    continue
                for t in self.lex_done[lex]:
                    out.add(self.seq_push(seq, self.ign if self.ignore_mask >> t & 1 else t))
            hit = frozenset(out)
            self._implied[wid] = hit
        return hit

    def walk_table(self, wids: np.ndarray) -> np.ndarray:
        """The walk table with rows ``wids`` built (a view that may be replaced on growth)."""
        table = self._walk_table
        need = np.unique(wids[table[wids, 0] == -2]) if len(wids) else wids
        for w in need.tolist():
            self.walk_row(w)
        return self._walk_table

    def walk_bytes(self, wid: int, data: bytes) -> int:
        """Walk ``data`` from walk state ``wid``; -1 once dead."""
        rows = self.walk_rows
        for b in data:
            row = rows[wid]
            if row is None:
                row = self.walk_row(wid)
            wid = row[b]
            if wid < 0:
                return -1
        return wid
