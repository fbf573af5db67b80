"""The scannerless lexer of a context-free grammar, over interned states, grammar-level only.

Lexer states. A lexer state is a set of ``(terminal, dfa state)`` pairs: the terminals whose
lexeme may still be in progress (a subset construction over the disjoint union of the
terminal DFAs). Interned to small ints; transition rows (256 next ids, -1 = dead) are built
lazily with array ops. ``fresh(mask)`` is the state at the start of a lexeme for the
terminals in ``mask`` (plus the ignored ones); ``universal`` is ``fresh`` of every terminal.

Walk states. Walking a token's bytes from a lexer state ``L`` may complete terminals and
start new lexemes. Which terminals the parser takes after a completion depends on its stack,
so after a completion of terminal ``t`` the walk continues with the lexer of every terminal
that may follow ``t`` in *some* parse (``follow``: read off the LR tables, a superset of what
any stack can take; the universal lexer after an ignored lexeme) and *records* the terminals it
completed: a walk state is a set of ``(sequence id, lexer state)`` pairs, where
sequence ids intern tuples of completed terminals in a trie (an ignored terminal is recorded
as the pseudo-terminal ``ign``, so that the empty sequence means "still in the lexeme the
walk started in"). The parser later
checks each recorded sequence against its stack; the walk itself is stack-independent, so its
transitions are computed once and shared by every stack and token. They live in one table
coded like ``trie.coded_table`` (a step is one add and one gather), built entry by entry
where a walk reads few bytes of a state (most states reached after a completion are read on
one or two bytes) and row by row where it reads many.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import LimitExceeded
from ..grammar.dfa import entering_bytes
from ..grammar.lr import LRTables

__all__ = ["LexerSpace", "ROOT_SEQ", "unique_columns"]

ROOT_SEQ = 0  # the empty sequence of completed terminals

_ROW_AT = 16  # a walk reading this many bytes of a state not built gets its whole row
_WEIGHTS = np.random.default_rng(0x6279746567).integers(1, 1 << 62, size=64, dtype=np.int64)


def unique_columns(mat: np.ndarray) -> tuple[list[list[int]], list[int]]:
    """The distinct columns of ``mat`` ([k, 256] ints) in first-seen order, and the index
    of each column's class. Columns are hashed (one matrix product) and the grouping is
    then verified exactly; a hash collision falls back to comparing tuples."""
    k = mat.shape[0]
    if k == 1:
        keys = mat[0]
    elif k <= len(_WEIGHTS):
        keys = _WEIGHTS[:k] @ mat.astype(np.int64)  # wraps around: a hash, checked below
    else:
        keys = None
    if keys is not None:
        _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        if k == 1 or np.array_equal(mat[:, first[inv]], mat):
            order = np.argsort(first)  # classes in first-seen order
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            cols = mat[:, first[order]].T.tolist()
            return cols, rank[inv].tolist()
    seen: dict[tuple[int, ...], int] = {}
    inv_list = []
    for col in map(tuple, mat.T.tolist()):
        inv_list.append(seen.setdefault(col, len(seen)))
    return [list(c) for c in seen], inv_list


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
        # per terminal and DFA state: whether some byte continues the lexeme (on demand)
        self._has_out: list[list[bool] | None] = [None] * len(self._tt)
        self._acc = [d.accepting.tolist() for d in tables.terminal_dfas]
        self._boundary: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # by alive terminals
        self._term_boundary_memo: dict[int, tuple[np.ndarray, np.ndarray]] = {}
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
        # walk transitions, coded as ``trie.coded_table`` codes automaton states: walk state
        # w is ``(w + 1) << 8`` and its successor on byte b is the entry at code + b (the
        # next state's code; 0 = dead: row 0 is all 0); -1 marks an entry not built yet.
        # Entries are built one by one where a walk reads few bytes of a state, whole rows
        # where it reads many (``build_walk``).
        self._walk_table = np.full((65, 256), -1, dtype=np.int32)
        self._walk_table[0] = 0
        self._lex_next: dict[int, int] = {}  # lex << 8 | byte -> next lex, rows not built
        self._init_walk: dict[int, int] = {}
        self._dead_end: dict[int, bool] = {}
        self._implied: dict[int, frozenset[tuple[int, int]]] = {}
        self._static: dict[int, bool] = {}
        # terminals that may come right after each terminal in some parse: those with an
        # action in a state that shifting it leads to (canonical LR(1): exact per state)
        follow = [0] * self.n_terms
        for s_actions in tables.actions:
            for t, codes in s_actions.items():
                if t < self.n_terms:
                    for code in codes:
                        if code >= 0:
                            follow[t] |= tables.next_mask[code]
        self.follow_mask = tuple(f & ((1 << self.n_terms) - 1) for f in follow)
        self._after: dict[int, int] = {}
        all_terms = (1 << self.n_terms) - 1
        self.universal = self.fresh(all_terms)

    # -- lexer states --------------------------------------------------------------------

    def _intern_lex(self, items: tuple[tuple[int, int], ...], *, fresh: bool = False) -> int:
        """The id of the lexer state with ``items``. ``fresh`` states (no byte of the lexeme
        read yet: a token boundary) are kept apart from equal items reached by reading bytes
        (a DFA may return to its start state), since only a boundary may end the input."""
        key = (fresh, items)
        lid = self.lex_ids.get(key)
        if lid is not None:
            return lid
        with self._lock:
            lid = self.lex_ids.get(key)
            if lid is not None:
                return lid
            lid = len(self.lex_items)
            alive = 0
            done = []
            for t, q in items:
                alive |= 1 << t
                if self._acc[t][q]:
                    done.append(t)
            self.lex_items.append(items)
            self.lex_alive.append(alive)
            self.lex_done.append(tuple(done))
            self.lex_fresh.append(fresh)
            self.lex_rows.append(None)
            self.lex_ids[key] = lid
            return lid

    def fresh(self, term_mask: int) -> int:
        """The lexer state at the start of a lexeme of the terminals in ``term_mask``
        (ignored terminals are always added). With none, the state has no pair: the input
        may only end here."""
        term_mask = (term_mask | self.ignore_mask) & ((1 << self.n_terms) - 1)
        hit = self._fresh.get(term_mask)
        if hit is None:
            items = tuple((t, self._start[t]) for t in range(self.n_terms) if term_mask >> t & 1)
            hit = self._intern_lex(items, fresh=True)  # may be empty: only the end
            self._fresh[term_mask] = hit
        return hit

    def restrict(self, lex: int, term_mask: int) -> int:
        """``lex`` keeping only terminals in ``term_mask`` or ignored; -1 if none is left."""
        key = (lex, term_mask)
        hit = self._restrict.get(key)
        if hit is None:
            keep = term_mask | self.ignore_mask
            if self.lex_fresh[lex]:  # a lexeme not begun: as if started for these terminals
                hit = self.fresh(term_mask & self.lex_alive[lex])
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
        if len(items) == 1:  # one terminal: its DFA row, each next state interned once
            t, q = items[0]
            drow = self._tt[t][q].tolist()
            succ = {q2: self._intern_lex(((t, q2),)) for q2 in set(drow) if q2 >= 0}
            succ[-1] = -1
            row = [succ[q2] for q2 in drow]
        else:
            mat = np.stack([self._tt[t][q] for t, q in items])  # [k, 256]
            cols, inv = unique_columns(mat)
            ids = []
            for col in cols:
                nxt = tuple((items[j][0], q) for j, q in enumerate(col) if q >= 0)
                ids.append(self._intern_lex(nxt) if nxt else -1)
            row = [ids[k] for k in inv]
        self.lex_rows[lex] = row
        return row

    def lex_next(self, lex: int, byte: int) -> int:
        """Next lexer state of ``lex`` on ``byte`` (-1 = dead), without building its row."""
        row = self.lex_rows[lex]
        if row is not None:
            return row[byte]
        key = lex << 8 | byte
        hit = self._lex_next.get(key)
        if hit is None:
            nxt = tuple((t, q2) for t, q in self.lex_items[lex]
                        if (q2 := int(self._tt[t][q, byte])) >= 0)
            hit = self._intern_lex(nxt) if nxt else -1
            self._lex_next[key] = hit
        return hit

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
            items = self.lex_items[lex]  # (read off the DFAs: no lexer row to build)
            flag = bool(items) and not any(self._continues(t)[q] for t, q in items)
            self._dead_end[lex] = flag
        return flag

    def _continues(self, term: int) -> list[bool]:
        """Per state of ``term``'s DFA: whether some byte leads on."""
        flags = self._has_out[term]
        if flags is None:
            flags = self._has_out[term] = (self._tt[term] >= 0).any(axis=1).tolist()
        return flags

    def after(self, term: int) -> int:
        """The lexer state that starts the next lexeme once ``term`` is complete: a fresh
        lexeme of the terminals that may follow it (any terminal after an ignored one)."""
        hit = self._after.get(term)
        if hit is None:
            hit = self.universal if self.ignore_mask >> term & 1 \
                else self.fresh(self.follow_mask[term])
            self._after[term] = hit
        return hit

    def boundary_bytes(self, lex: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ends, starts)``, bool per byte value: the bytes on which a lexeme of a
        terminal alive in ``lex`` may end, and those that may begin the next lexeme after
        any of them (``after``). A token from ``lex`` that completes a lexeme holds a byte
        of ``ends`` followed by a byte of ``starts`` or by its own end."""
        key = self.lex_alive[lex]
        hit = self._boundary.get(key)
        if hit is None:
            ends = np.zeros(256, dtype=bool)
            starts = np.zeros(256, dtype=bool)
            for t in range(self.n_terms):
                if key >> t & 1:
                    e, s = self._term_boundary(t)
                    ends |= e
                    starts |= s
            hit = self._boundary[key] = (ends, starts)
        return hit

    def _term_boundary(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """``boundary_bytes`` of one terminal (memoized)."""
        hit = self._term_boundary_memo.get(term)
        if hit is None:
            starts = np.zeros(256, dtype=bool)
            for t, q in self.lex_items[self.after(term)]:
                starts |= self._tt[t][q] >= 0
            ends = entering_bytes(self.tables.terminal_dfas[term])
            hit = self._term_boundary_memo[term] = (ends, starts)
        return hit

    def _completion(self, seq: int, term: int) -> tuple[int, int]:
        """The walk-state pair after the lexeme of ``term`` completes following ``seq``."""
        return (self.seq_push(seq, self.ign if self.ignore_mask >> term & 1 else term),
                self.after(term))

    def _close(self, pairs: set[tuple[int, int]], seq: int, lex: int) -> None:
        if not self.dead_end(lex):
            pairs.add((seq, lex))
        for t in self.lex_done[lex]:
            pairs.add(self._completion(seq, t))

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
            self._walk_ids[items] = wid
            if wid + 1 >= self._walk_table.shape[0]:
                grown = np.full((self._walk_table.shape[0] * 2, 256), -1, dtype=np.int32)
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

    def _build_row(self, wid: int) -> None:
        """Build every entry of walk state ``wid``'s row of the walk table."""
        items = self.walk_items[wid]
        if len(items) == 1:  # one reading: its lexer row, each next lexer state closed once
            seq = items[0][0]
            lrow = self.lex_row(items[0][1])
            succ = {-1: -1}
            for nl in set(lrow):
                if nl >= 0:
                    pairs: set[tuple[int, int]] = set()
                    self._close(pairs, seq, nl)
                    succ[nl] = self._intern_walk(pairs)
            row = [succ[nl] for nl in lrow]
        else:
            mat = np.asarray([self.lex_row(lex) for _, lex in items], dtype=np.int64)
            cols, inv = unique_columns(mat)  # [k, 256] -> distinct columns
            ids = []
            for col in cols:
                pairs = set()
                for (seq, _), nl in zip(items, col):
                    if nl >= 0:
                        self._close(pairs, seq, nl)
                ids.append(self._intern_walk(pairs) if pairs else -1)
            row = [ids[k] for k in inv]
        with self._lock:
            self._walk_table[wid + 1] = (np.asarray(row, dtype=np.int32) + 1) << 8

    def walk_static(self, wid: int) -> bool:
        """Whether a token ending in walk state ``wid`` is allowed whatever the stack: some
        reading is still inside the lexeme the walk started in (nothing completed), and
        that lexer state was already restricted to what the stack can take."""
        flag = self._static.get(wid)
        if flag is None:
            flag = any(seq == ROOT_SEQ and lx != self.universal
                       for seq, lx in self.walk_items[wid])
            self._static[wid] = flag
        return flag

    def implied(self, wid: int) -> frozenset[tuple[int, int]]:
        """Pairs of walk state ``wid`` that are the completion of another pair's lexeme: a
        reading kept for that pair regenerates them (on its next walk)."""
        hit = self._implied.get(wid)
        if hit is None:
            out = set()
            for seq, lex in self.walk_items[wid]:
                for t in self.lex_done[lex]:
                    out.add(self._completion(seq, t))
            hit = frozenset(out)
            self._implied[wid] = hit
        return hit

    def walk_table_flat(self) -> np.ndarray:
        """The coded walk table (see ``__init__``) raveled, entries as they are now."""
        return self._walk_table.reshape(-1)

    def build_walk(self, codes: np.ndarray) -> np.ndarray:
        """Build the walk-table entries at ``codes`` (a state's code plus a byte) that are
        not built yet, and return the flat table (it may be replaced when it grows: use the
        returned one). A state missing ``_ROW_AT`` bytes or more gets its whole row."""
        missing = np.unique(codes[self._walk_table.reshape(-1).take(codes) < 0])
        if len(missing):
            rows = missing >> 8  # sorted
            cuts = np.flatnonzero(rows[1:] != rows[:-1]) + 1
            bounds = [0, *cuts.tolist(), len(rows)]
            for f, e in zip(bounds[:-1], bounds[1:]):
                wid = int(rows[f]) - 1
                if e - f >= _ROW_AT:
                    self._build_row(wid)
                else:
                    for code in missing[f:e].tolist():
                        self.walk_next(wid, code & 255)
        return self._walk_table.reshape(-1)

    def walk_next(self, wid: int, byte: int) -> int:
        """Next walk state of ``wid`` on ``byte`` (-1 = dead); the entry is built on first
        use, from the lexer transitions of that byte alone."""
        code = int(self._walk_table[wid + 1, byte])
        if code >= 0:
            return (code >> 8) - 1
        pairs: set[tuple[int, int]] = set()
        for seq, lex in self.walk_items[wid]:
            nl = self.lex_next(lex, byte)
            if nl >= 0:
                self._close(pairs, seq, nl)
        nxt = self._intern_walk(pairs) if pairs else -1
        with self._lock:
            self._walk_table[wid + 1, byte] = (nxt + 1) << 8
        return nxt

    def walk_bytes(self, wid: int, data: bytes) -> int:
        """Walk ``data`` from walk state ``wid``; -1 once dead."""
        for b in data:
            wid = self.walk_next(wid, b)
            if wid < 0:
                return -1
        return wid
