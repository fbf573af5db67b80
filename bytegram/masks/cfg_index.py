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
from dataclasses import dataclass

import numpy as np

from .bitmask import pack_bool
from .cfg_lexer import ROOT_SEQ, LexerSpace
from .cfg_parser import StackContext, StackNode
from .vocab_index import VocabIndex

__all__ = ["CFGIndex", "LexClasses", "element_ok"]


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

    def __init__(self, lexer: LexerSpace, vocab: VocabIndex, *, max_readings: int) -> None:
        self.lexer = lexer
        self.tables = lexer.tables
        self.vocab = vocab
        self.trie = vocab.trie
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
        """Walk state each trie token ends in (-1 = dead), in trie token order."""
        trie = self.trie
        lexer = self.lexer
        final = np.full(int(trie.level_offset[-1]) if trie.depth else 0, -1, dtype=np.int32)
        if trie.depth == 0:
            return final[trie.token_global] if len(trie.token_global) else final
        w0 = lexer.initial_walk(lex)
        row = np.asarray(lexer.walk_row(w0), dtype=np.int32)
        states = row[trie.level_bytes[0].astype(np.int64)]
        keep = states >= 0
        nodes = np.flatnonzero(keep)
        states = states[keep]
        for i in range(trie.depth):
            if not len(nodes):
                break
            final[trie.level_offset[i] + nodes] = states
            if i + 1 == trie.depth:
                break
            lo = trie.child_lo[i][nodes]
            cnt = trie.child_hi[i][nodes] - lo
            total = int(cnt.sum())
            if not total:
                break
            base = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
            child = base + np.arange(total)
            parent_ws = np.repeat(states, cnt)
            table = lexer.walk_table(np.unique(parent_ws))
            nxt = table[parent_ws, trie.level_bytes[i + 1][child]]
            keep = nxt >= 0
            nodes = child[keep]
            states = nxt[keep]
        return final[trie.token_global]

    def _classify(self, lex: int) -> LexClasses:
        lexer = self.lexer
        trie = self.trie
        ws = self._final_walk_states(lex)
        live = ws >= 0
        ids = trie.token_ids[live]
        ws = ws[live]
        static = np.zeros(self.vocab_size, dtype=bool)
        uniq, inv = np.unique(ws, return_inverse=True)
        inv = inv.reshape(-1)
        is_static = np.zeros(len(uniq), dtype=bool)
        for j, w in enumerate(uniq.tolist()):
            for seq, lx in lexer.walk_items[w]:
                if seq == ROOT_SEQ and lx != lexer.universal:
                    is_static[j] = True
                    break
        tok_static = is_static[inv]
        static[ids[tok_static]] = True
        dyn = ~tok_static
        d_ids = ids[dyn]
        d_inv = inv[dyn]
        order = np.argsort(d_inv, kind="stable")
        d_ids = d_ids[order]
        d_inv = d_inv[order]
        cuts = np.flatnonzero(np.diff(d_inv)) + 1
        starts = np.concatenate([[0], cuts]) if len(d_inv) else np.zeros(0, np.int64)
        ends = np.concatenate([cuts, [len(d_inv)]]) if len(d_inv) else np.zeros(0, np.int64)
        group_walk = tuple(int(uniq[d_inv[s]]) for s in starts.tolist())
        group_ids = tuple(np.sort(d_ids[s:e]).astype(np.int32)
                          for s, e in zip(starts.tolist(), ends.tolist()))
        static.setflags(write=False)
        return LexClasses(static, group_walk, group_ids)

    # -- masks ---------------------------------------------------------------------------

    def context(self, node: StackNode) -> StackContext:
        return StackContext(self.tables, node, self.lexer, max_stacks=self.max_readings)

    def reading_mask(self, node: StackNode, lex: int) -> tuple[np.ndarray, bool]:
        """Packed text-token mask and can-end flag of one reading (cached by context)."""
        entry = self._masks.get(lex)
        if entry is not None:
            depths, table = entry
            for d in depths:
                hit = table.get(node.top_states(d))
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
