"""Token masks of a context-free grammar over one vocabulary: classify once, check per stack.

For each lexer state ``L`` (the lexeme in progress, restricted to the terminals the parser
can take), every token is walked once over the vocabulary trie, level by level with array
ops, through the stack-independent walk states of ``LexerSpace``. The walk state a token
ends in says everything the parser needs: which terminal sequences the token may complete
and in which lexer state each reading ends. Tokens are grouped by that walk state:

- *static* groups keep a reading inside the current lexeme without completing anything:
  allowed whatever the stack (the lexer state is already restricted to what it can take);
- the other groups are *dynamic*: each is checked once per stack context by simulating its
  terminal sequences (``StackContext``), and allowed or not as a whole.

Tokens spanning several terminals (``"},{"``) are judged exactly: their sequences are
simulated in full. A mask depends only on ``L`` and the top ``d`` states of the stack, where
``d`` is the deepest state the simulations read; masks are cached under that key.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from .bitmask import pack_bool
from .cfg_lexer import LexerSpace
from .cfg_parser import StackContext, StackNode
from .lexeme_classes import mark, pair_classes, prepare
from .trie import expand_ranges
from .vocab_index import VocabIndex

__all__ = ["CFGIndex", "LexClasses", "element_ok"]

# dense classes kept in id order, per vocabulary index (128 KB each on Llama-3): id(class)
# -> (class, bool per id); a class is held, so its id is not reused while it is here
_BY_ID: "weakref.WeakKeyDictionary[VocabIndex, dict[int, tuple]]" = weakref.WeakKeyDictionary()
_BY_ID_LOCK = threading.Lock()
_BY_ID_MAX = 32


@dataclass(frozen=True, eq=False)
class LexClasses:
    """The vocabulary classified from one lexer state: a static bool mask of tokens allowed
    whatever the stack, and the dynamic groups (walk state, sorted token ids)."""

    static: np.ndarray  # bool [vocab_size]
    group_walk: tuple[int, ...]
    group_ids: tuple[np.ndarray, ...]


def element_ok(ctx: StackContext, lexer: LexerSpace, seq: int, lex: int) -> bool:
    """Whether the walk-state element ``(seq, lex)`` is viable on ``ctx``'s stack: the
    sequence parses and the lexeme in progress can still become a terminal it takes."""
    vss = ctx.sim(seq)
    if not vss:
        return False
    if lex == lexer.universal or lexer.lex_fresh[lex]:
        return True
    alive = lexer.lex_alive[lex]
    nm = ctx.tables.next_mask
    ign = lexer.ignore_mask
    for vs in vss:
        if alive & (nm[ctx.top(vs)] | ign):
            return True
    return False


def walk_ok(ctx: StackContext, lexer: LexerSpace, wid: int) -> bool:
    """Whether any element of walk state ``wid`` is viable on ``ctx``'s stack."""
    for seq, lex in lexer.walk_items[wid]:
        if element_ok(ctx, lexer, seq, lex):
            return True
    return False


def can_end(ctx: StackContext, lexer: LexerSpace, lex: int) -> bool:
    """Whether the input may end in a reading at lexer state ``lex`` on ``ctx``'s stack."""
    eof_bit = 1 << ctx.tables.eof
    nm = ctx.tables.next_mask
    for seq, lx in lexer.walk_items[lexer.initial_walk(lex)]:
        if lx == lexer.universal or lexer.lex_fresh[lx]:
            for vs in ctx.sim(seq):
                if nm[ctx.top(vs)] & eof_bit:
                    return True
    return False


class CFGIndex:
    """Per-vocabulary classification of lexer states and the cache of masks per context."""

    split = True  # classify mid-lexeme states from per-terminal classes (False: full walk)

    def __init__(self, lexer: LexerSpace, vocab: VocabIndex, *, max_readings: int) -> None:
        self.lexer = lexer
        self.tables = lexer.tables
        self.vocab = vocab
        self.trie = vocab.trie
        for dfa in self.tables.terminal_dfas:
            prepare(self.trie, dfa)
        self.width = vocab.width
        self.vocab_size = vocab.vocab_size
        self.max_readings = max_readings
        self._classes: dict[int, LexClasses] = {}
        self._masks: dict[int, tuple[list[int], dict[tuple, tuple[np.ndarray, bool]]]] = {}
        self._lock = threading.Lock()

    # -- classification ------------------------------------------------------------------

    def classes(self, lex: int) -> LexClasses:
        """The classification of the vocabulary from lexer state ``lex`` (cached)."""
        hit = self._classes.get(lex)
        if hit is None:
            hit = self._classify(lex)
            with self._lock:
                hit = self._classes.setdefault(lex, hit)
        return hit

    def _final_walk_states(self, lex: int) -> np.ndarray:
        """Walk state each trie token ends in (-1 = dead), in trie token order: one walk
        of the trie (``TokenTrie.walk_live``) over the coded walk table."""
        trie = self.trie
        w0 = self.lexer.initial_walk(lex)
        final, nodes, states = trie.walk_live(self._step, (w0 + 1) << 8)
        if final is None:
            final = np.zeros(int(trie.level_offset[-1]) if trie.depth else 0, dtype=np.int32)
            final[nodes] = states
        return (final[trie.token_global] >> 8) - 1

    def _step(self, codes: np.ndarray, data: np.ndarray) -> np.ndarray:
        """Codes of the successors of coded walk states ``codes`` (overwritten) on bytes
        ``data``; entries not built yet read -1, so one ``min`` tells whether any was."""
        codes += data
        nxt = self.lexer.walk_table_flat().take(codes)
        if len(nxt) and nxt.min() < 0:
            nxt = self.lexer.build_walk(codes).take(codes)
        return nxt

    def _classify(self, lex: int) -> LexClasses:
        """Classify from lexer state ``lex``. The tokens that stay inside a lexeme (a
        string, say) come from per-terminal classes shared by every grammar
        (``lexeme_classes``) and only the tokens that may complete it are walked; when a
        lexeme may end here already, or from the universal state, or when most tokens
        would be walked anyway, every token is walked over the trie."""
        lexer = self.lexer
        if self.split and lex != lexer.universal and lexer.lex_items[lex] \
                and not lexer.lex_done[lex]:
            got = self._classify_split(lex)
            if got is not None:
                return got
        ws = self._final_walk_states(lex)
        live = np.flatnonzero(ws >= 0)
        return self._group(self.trie.token_ids.take(live), ws.take(live), None)

    def _classify_split(self, lex: int) -> LexClasses | None:
        """Static tokens from the pairs' classes, the others walked; None when most tokens
        would need the walk (the whole-trie walk is then cheaper)."""
        trie = self.trie
        dfas = self.tables.terminal_dfas
        inside = np.zeros(len(trie.token_ids), dtype=bool)
        completes = np.zeros(len(trie.token_ids), dtype=bool)
        static = np.zeros(self.vocab_size, dtype=bool)  # (by id: the mask's order)
        for t, q in self.lexer.lex_items[lex]:
            pc = pair_classes(trie, dfas[t], q)
            mark(inside, pc.inside)
            mark(completes, pc.completes)
            if pc.inside.dtype == bool:  # dense: its id-order copy, kept while it is shared
                static |= self._by_id(pc.inside)
            else:
                static[trie.token_ids.take(pc.inside)] = True
        completes &= ~inside
        pos = np.flatnonzero(completes)
        if len(pos) * 8 > len(completes):
            return None
        pos = self._may_go_on(lex, pos)
        w0 = self.lexer.initial_walk(lex)
        codes, _ = trie.walk_tokens(pos, (w0 + 1) << 8, self._step)
        live = np.flatnonzero(codes)
        return self._group(trie.token_ids.take(pos.take(live)), (codes.take(live) >> 8) - 1,
                           static)

    def _by_id(self, flags: np.ndarray) -> np.ndarray:
        """A dense class (bool per trie token position) as bool per token id; the last
        ``_BY_ID_MAX`` are kept (classes are shared objects: the JSON-string one is met at
        every position of every string and property name)."""
        cache = _BY_ID.get(self.vocab)
        if cache is None:
            cache = _BY_ID.setdefault(self.vocab, {})
        key = id(flags)
        hit = cache.get(key)
        if hit is not None and hit[0] is flags:
            return hit[1]
        got = np.append(flags, False).take(self.vocab.trie_position)
        with _BY_ID_LOCK:
            cache[key] = (flags, got)
            while len(cache) > _BY_ID_MAX:
                cache.pop(next(iter(cache)))
        return got

    def _may_go_on(self, lex: int, pos: np.ndarray) -> np.ndarray:
        """The tokens at trie positions ``pos`` (each completing a lexeme of ``lex``'s pairs
        somewhere) that may survive the completion: a lexeme ends on a byte of ``ends`` and
        the next one begins with a byte of ``starts`` (or the token ends there). After a
        property name only ``:`` may follow, which rules out most of the tokens holding a
        quote."""
        if not len(pos):
            return pos
        ends, starts = self.lexer.boundary_bytes(lex)
        if starts.all():
            return pos
        flat, off = self.trie.token_bytes
        lo = off.take(pos)
        lens = off.take(pos + 1) - lo
        at = expand_ranges(lo, lens)  # every byte of every token, token after token
        first = np.cumsum(lens) - lens  # where each token's bytes begin in ``at``
        last = np.zeros(len(at), dtype=bool)
        last[first + lens - 1] = True
        nxt = flat.take(np.minimum(at + 1, len(flat) - 1))
        ok = ends.take(flat.take(at)) & (last | starts.take(nxt))
        return pos[np.add.reduceat(ok, first) > 0]

    def _group(self, ids: np.ndarray, ws: np.ndarray,
               static: np.ndarray | None) -> LexClasses:
        """``LexClasses`` from live tokens ``ids`` and their walk states ``ws`` (tokens in a
        static walk state are static), plus the tokens known to be static already
        (``static``: bool per token id, updated in place)."""
        lexer = self.lexer
        if static is None:
            static = np.zeros(self.vocab_size, dtype=bool)
        # walk ids are small dense ints: group with a presence table, not a sort
        n_walk = len(lexer.walk_items)
        present = np.zeros(n_walk, dtype=bool)
        present[ws] = True
        uniq = np.flatnonzero(present)
        is_static = np.zeros(n_walk, dtype=bool)
        for w in uniq.tolist():
            is_static[w] = lexer.walk_static(w)
        tok_static = is_static[ws]
        static[ids[tok_static]] = True
        dyn = ~tok_static
        d_ids = ids[dyn]
        d_ws = ws[dyn]
        group_walk: tuple[int, ...] = ()
        group_ids: tuple[np.ndarray, ...] = ()
        if len(d_ws):
            groups = np.flatnonzero(present & ~is_static)
            dense = np.full(n_walk, -1, dtype=np.int32)
            dense[groups] = np.arange(len(groups), dtype=np.int32)
            d_grp = dense[d_ws]
            if len(groups) < 1 << 15:
                d_grp = d_grp.astype(np.int16)  # numpy's stable sort is a radix sort here
            order = np.argsort(d_grp, kind="stable")
            d_ids = d_ids[order].astype(np.int32)
            counts = np.bincount(d_grp.astype(np.int64), minlength=len(groups))
            cuts = np.cumsum(counts)[:-1]
            group_walk = tuple(groups.tolist())
            group_ids = tuple(np.split(d_ids, cuts))
        static.setflags(write=False)
        return LexClasses(static, group_walk, group_ids)

    # -- masks ---------------------------------------------------------------------------

    def context(self, node: StackNode) -> StackContext:
        return StackContext(self.tables, node, self.lexer, max_stacks=self.max_readings)

    def cached_mask(self, node: StackNode, lex: int) -> tuple[np.ndarray, bool] | None:
        """``reading_mask``'s result when it is cached, else None (no work is done)."""
        entry = self._masks.get(lex)
        if entry is not None:
            depths, table = entry
            for d in depths:
                hit = table.get(node.top_states(d))
                if hit is not None:
                    return hit
        return None

    def reading_mask(self, node: StackNode, lex: int) -> tuple[np.ndarray, bool]:
        """Packed text-token mask and can-end flag of one reading (cached by context)."""
        hit = self.cached_mask(node, lex)
        if hit is not None:
            return hit
        cls = self.classes(lex)
        ctx = self.context(node)
        lexer = self.lexer
        chosen = [ids for w, ids in zip(cls.group_walk, cls.group_ids) if walk_ok(ctx, lexer, w)]
        ends = can_end(ctx, lexer, lex)
        if chosen:
            bits = cls.static.copy()
            bits[np.concatenate(chosen)] = True
        else:
            bits = cls.static
        packed = pack_bool(bits, width=self.width)
        packed.setflags(write=False)
        result = (packed, ends)
        key = node.top_states(ctx.depth)
        with self._lock:
            entry = self._masks.setdefault(lex, ([], {}))
            if ctx.depth not in entry[0]:
                entry[0].append(ctx.depth)
                entry[0].sort()
            entry[1][key] = result
        return result

    @property
    def n_cached(self) -> int:
        return sum(len(t) for _, t in self._masks.values())
