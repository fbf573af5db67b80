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
    from .grammar.ir import GrammarIR
    from .masks.vocab import Vocabulary

__all__ = ["reference_dfa_mask", "reference_dfa_allowed_ids", "EarleyRecognizer",
           "reference_cfg_mask", "reference_cfg_allowed_ids", "sample_document",
           "sample_terminal", "reference_pair_classes", "reference_token_states"]


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


# -- context-free grammars: a byte-level scannerless Earley recognizer ---------------------

class EarleyRecognizer:
    """Earley over bytes for a ``GrammarIR``, with terminals scanned through their DFAs.

    Implements the IR's semantics literally: ignored terminals are allowed between any two
    terminals and at both ends (by rewriting every terminal occurrence ``T`` to ``WS T`` and
    the start to ``start WS``, with ``WS -> ε | WS I`` for each ignored ``I``), and every way
    of splitting the bytes into terminals counts. A chart is a list of Earley sets; ``scan``
    builds the next set from the previous ones without changing them, so callers can branch.

    Items: ``(rule, dot, origin)`` for rules and ``(-1 - terminal, dfa_state, origin)`` for a
    terminal being scanned. Nullable symbols are advanced over at prediction time
    (Aycock and Horspool), which makes empty completions unnecessary.
    """

    def __init__(self, ir: "GrammarIR") -> None:
        self.ir = ir
        terms = list(ir.terminals)
        self.term_index = {n: i for i, n in enumerate(terms)}
        self._term_names = terms
        self.term_tables = [ir.terminals[n].dfa.transitions.tolist() for n in terms]
        self.term_accept = [ir.terminals[n].dfa.accepting.tolist() for n in terms]
        self.term_start = [ir.terminals[n].dfa.start for n in terms]
        rules: list[tuple[str, tuple[str, ...]]] = []
        ws = None
        if ir.ignore:
            ws = "WS#ref"
            rules.append((ws, ()))
            for ig in ir.ignore:
                rules.append((ws, (ws, ig)))
        for r in ir.rules:
            rhs: list[str] = []
            for sym in r.rhs:
                if ws is not None and sym in ir.terminals:
                    rhs.append(ws)
                rhs.append(sym)
            rules.append((r.lhs, tuple(rhs)))
        self.start = "START#ref"
        rules.append((self.start, (ir.start, ws) if ws else (ir.start,)))
        self.rules = rules
        self.start_rule = len(rules) - 1
        self.by_lhs: dict[str, list[int]] = {}
        for i, (lhs, _) in enumerate(rules):
            self.by_lhs.setdefault(lhs, []).append(i)
        nullable = {n for n in terms if ir.terminals[n].nullable}
        changed = True
        while changed:
            changed = False
            for lhs, rhs in rules:
                if lhs not in nullable and all(x in nullable for x in rhs):
                    nullable.add(lhs)
                    changed = True
        self.nullable = nullable

    # -- chart construction --------------------------------------------------------------

    def _close(self, seeds: list[tuple[int, int, int]], k: int,
               chart: list[set]) -> frozenset:
        items: set = set()
        work = list(seeds)
        rules, by_lhs, nullable = self.rules, self.by_lhs, self.nullable
        while work:
            item = work.pop()
            if item in items:
                continue
            items.add(item)
            r, dot, origin = item
            if r < 0:
                continue
            lhs, rhs = rules[r]
            if dot == len(rhs):  # completion (origin < k: the nullable trick covers k)
                if origin < k:
                    for it in chart[origin]:
                        rr, dd, oo = it
                        if rr >= 0 and dd < len(rules[rr][1]) and rules[rr][1][dd] == lhs:
                            work.append((rr, dd + 1, oo))
                continue
            sym = rhs[dot]
            if sym in nullable:
                work.append((r, dot + 1, origin))
            ti = self.term_index.get(sym)
            if ti is not None:
                work.append((-1 - ti, self.term_start[ti], k))
            else:
                for rr in by_lhs.get(sym, ()):
                    work.append((rr, 0, k))
        return frozenset(items)

    def initial(self) -> list[frozenset]:
        """The chart before any byte: one set."""
        return [self._close([(self.start_rule, 0, 0)], 0, [])]

    def scan(self, chart: list[frozenset], byte: int) -> frozenset:
        """The Earley set after ``byte``, given the chart so far (not modified)."""
        k = len(chart)
        seeds = []
        done_terms: set[tuple[int, int]] = set()
        for r, q, origin in chart[-1]:
            if r >= 0:
                continue
            ti = -1 - r
            q2 = self.term_tables[ti][q][byte]
            if q2 < 0:
                continue
            seeds.append((r, q2, origin))
            if self.term_accept[ti][q2]:
                done_terms.add((ti, origin))
        for ti, origin in done_terms:
            name = self._term_names[ti]
            for rr, dd, oo in chart[origin]:
                if rr >= 0:
                    rhs = self.rules[rr][1]
                    if dd < len(rhs) and rhs[dd] == name:
                        seeds.append((rr, dd + 1, oo))
        return self._close(seeds, k, chart)

    def chart_for(self, data: bytes) -> list[frozenset] | None:
        """The chart after ``data``, or None once no reading survives."""
        chart = self.initial()
        for b in data:
            nxt = self.scan(chart, b)
            if not nxt:
                return None
            chart.append(nxt)
        return chart

    def is_complete(self, chart: list[frozenset]) -> bool:
        """Whether the bytes of ``chart`` form a sentence."""
        n_rhs = len(self.rules[self.start_rule][1])
        return (self.start_rule, n_rhs, 0) in chart[-1]

    def is_viable(self, data: bytes) -> bool:
        """Whether ``data`` is a prefix of some sentence."""
        return self.chart_for(data) is not None

    def accepts(self, data: bytes) -> bool:
        """Whether ``data`` is a sentence."""
        chart = self.chart_for(data)
        return chart is not None and self.is_complete(chart)


def reference_cfg_mask(ir: "GrammarIR", vocab: "Vocabulary", prefix: bytes, *,
                       token_ids: "np.ndarray | list[int] | None" = None,
                       terminated: bool = False, width: int | None = None,
                       recognizer: EarleyRecognizer | None = None) -> np.ndarray:
    """Boolean mask after ``prefix``: a text token is allowed iff ``prefix + token`` is a
    viable prefix (Earley, byte by byte); end-of-sequence iff ``prefix`` is a sentence.

    ``token_ids`` restricts the text tokens checked (others stay False) for vocabularies
    too large for this slow oracle. Tokens sharing leading bytes share the chart work.
    """
    rec = recognizer or EarleyRecognizer(ir)
    size = vocab.size if width is None else int(width)
    mask = np.zeros(size, dtype=bool)
    if terminated:
        return mask
    chart = rec.chart_for(prefix)
    if chart is None:
        return mask
    ids = range(vocab.size) if token_ids is None else [int(t) for t in token_ids]
    todo = sorted((vocab.token_bytes[t], t) for t in ids
                  if t not in vocab.special_ids and vocab.token_bytes[t])
    # depth-first over sorted tokens, keeping the chart of the shared leading bytes
    stack: list[frozenset] = []  # sets after prefix + cur[:i+1]
    cur = b""
    base = len(chart)
    for data, t in todo:
        common = 0
        m = min(len(cur), len(data), len(stack))
        while common < m and cur[common] == data[common]:
            common += 1
        del stack[common:]
        dead = False
        for i in range(common, len(data)):
            nxt = rec.scan(chart[:base] + stack, data[i])
            if not nxt:
                dead = True
                break
            stack.append(nxt)
        cur = data[:len(stack)]
        mask[t] = not dead
    if rec.is_complete(chart):
        for e in vocab.eos_ids:
            mask[e] = True
    return mask


def reference_cfg_allowed_ids(ir: "GrammarIR", vocab: "Vocabulary", prefix: bytes,
                              **kwargs) -> np.ndarray:
    """Sorted allowed ids after ``prefix`` (see ``reference_cfg_mask``)."""
    return np.flatnonzero(reference_cfg_mask(ir, vocab, prefix, **kwargs)).astype(np.int32)


# -- random documents from a grammar IR (witness generation) -------------------------------

def _dfa_distances(dfa: "ByteDFA") -> list[int]:
    """Shortest number of bytes from each state to an accepting state."""
    n = dfa.n_states
    dist = [-1] * n
    rev: list[list[int]] = [[] for _ in range(n)]
    table = dfa.transitions.tolist()
    for q in range(n):
        for t in set(table[q]):
            if t >= 0:
                rev[t].append(q)
    frontier = [q for q in range(n) if dfa.accepting[q]]
    for q in frontier:
        dist[q] = 0
    while frontier:
        nxt = []
        for q in frontier:
            for p in rev[q]:
                if dist[p] < 0:
                    dist[p] = dist[q] + 1
                    nxt.append(p)
        frontier = nxt
    return dist


def sample_terminal(dfa: "ByteDFA", rng, *, soft_max: int = 12,
                    _cache: dict | None = None) -> bytes:
    """A random string of a trimmed DFA: a random walk over live bytes that stops at an
    accepting state with probability 1/3, and after ``soft_max`` bytes heads for the
    nearest accepting state."""
    dist = _dfa_distances(dfa) if _cache is None else _cache.setdefault(id(dfa), _dfa_distances(dfa))
    table = dfa.transitions
    q = dfa.start
    out = bytearray()
    while True:
        if dfa.accepting[q] and (len(out) >= soft_max or rng.random() < 1 / 3):
            return bytes(out)
        row = table[q]
        live = np.flatnonzero(row >= 0)
        if len(out) >= soft_max:
            best = min(dist[int(row[b])] for b in live)
            live = [b for b in live if dist[int(row[b])] == best]
        if len(live) == 0:
            return bytes(out)
        b = int(live[rng.randrange(len(live))])
        out.append(b)
        q = int(row[b])


def sample_document(grammar, rng, *, max_depth: int = 40, soft_max: int = 12) -> bytes:
    """A random sentence of a grammar (a ``Grammar`` of kind cfg/regex, or a ``GrammarIR``).

    Alternatives are chosen uniformly; below ``max_depth`` nested nonterminals only the
    alternatives that finish soonest are allowed, so the walk always ends. Terminals are
    random strings of their DFAs (``sample_terminal``). Ignored terminals are never
    inserted. ``rng`` is a ``random.Random``.
    """
    ir = getattr(grammar, "ir", None) or grammar
    if getattr(grammar, "kind", None) == "regex":
        return sample_terminal(grammar.dfa, rng, soft_max=soft_max)
    by_lhs: dict[str, list[tuple[str, ...]]] = {}
    for r in ir.rules:
        by_lhs.setdefault(r.lhs, []).append(r.rhs)
    height: dict[str, float] = {t: 0 for t in ir.terminals}
    inf = float("inf")
    changed = True
    while changed:
        changed = False
        for lhs, alts in by_lhs.items():
            h = min((1 + max((height.get(s, inf) for s in rhs), default=0)) for rhs in alts)
            if h < height.get(lhs, inf):
                height[lhs] = h
                changed = True
    cache: dict = {}
    out = bytearray()
    stack: list[tuple[str, int]] = [(ir.start, 0)]
    while stack:
        sym, depth = stack.pop()
        term = ir.terminals.get(sym)
        if term is not None:
            out += sample_terminal(term.dfa, rng, soft_max=soft_max, _cache=cache)
            continue
        alts = by_lhs[sym]
        if depth >= max_depth:
            best = min(1 + max((height.get(s, inf) for s in rhs), default=0) for rhs in alts)
            alts = [rhs for rhs in alts
                    if 1 + max((height.get(s, inf) for s in rhs), default=0) == best]
        else:
            alts = [rhs for rhs in alts if all(height.get(s, inf) < inf for s in rhs)]
        rhs = alts[rng.randrange(len(alts))]
        for s in reversed(rhs):
            stack.append((s, depth + 1))
    return bytes(out)


def reference_pair_classes(tokens: "list[bytes]", dfa: "ByteDFA",
                           state: int) -> tuple[np.ndarray, np.ndarray]:
    """``masks.lexeme_classes.pair_classes`` token by token (slow reference): for each of
    ``tokens``, whether it leaves ``dfa`` alive from ``state`` in a state with a way on
    (``inside``) and whether it passes an accepting state at some byte boundary, the start
    included (``completes``). Two bool arrays in the order of ``tokens``."""
    t = dfa.transitions
    acc = dfa.accepting
    inside = np.zeros(len(tokens), dtype=bool)
    completes = np.zeros(len(tokens), dtype=bool)
    for pos, data in enumerate(tokens):
        q = state
        done = bool(acc[q])
        for b in data:
            q = int(t[q, b])
            if q < 0:
                break
            done = done or bool(acc[q])
        inside[pos] = q >= 0 and bool((t[q] >= 0).any())
        completes[pos] = done
    return inside, completes


def reference_token_states(tokens: "list[bytes]", table: np.ndarray,
                           state: int) -> np.ndarray:
    """``masks.trie.TokenTrie.walk_live`` token by token (slow reference): the state each
    of ``tokens`` leads to from ``state`` under ``table`` (``[n_states, 256]``, -1 dead),
    -1 where it dies. int64, in the order of ``tokens``."""
    rows = np.asarray(table).tolist()
    return np.array([_walk(rows, state, data) for data in tokens], dtype=np.int64)
