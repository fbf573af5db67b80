"""Canonical LR(1) tables built from a ``GrammarIR``, with every conflict kept (GLR-style).

Why canonical LR(1) and not LALR(1): a canonical LR(1) state reached by a viable prefix
``γ`` holds exactly the LR(1) items valid for ``γ``, so ``action[s][t]`` is non-empty iff
``γ t`` is again a viable prefix. The set of terminals a stack can take next is therefore
read off its top state, with no simulation of reductions: this is what makes the lexer
restriction (and hence the token masks) exact. Conflicts are not errors: every action is
kept and the parser forks (a set of stacks), so ambiguous and non-LR grammars work.

The IR is normalized first (``normalize``): a nullable terminal ``T`` (one whose language
contains the empty string) becomes ``T'`` = ``T`` minus the empty string, and each use of
``T`` becomes an optional ``T'``; ignored terminals simply lose the empty string. After
this no terminal matches the empty string, so the lexer never completes a terminal without
reading a byte. The language is unchanged.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..errors import LimitExceeded
from .dfa import ByteDFA
from .ir import GrammarIR

__all__ = ["LRTables", "build_lr_tables", "normalize", "ACCEPT"]

ACCEPT = -(1 << 30)  # action code: accept (only on the end-of-input terminal)
# action codes: shift to state s is s (>= 0); reduce by rule r is -(r + 1)


@dataclass(frozen=True, eq=False)
class LRTables:
    """LR(1) tables over normalized terminals.

    ``terminal_names[i]``/``terminal_dfas[i]`` for ``i < n_terminals`` (none nullable);
    index ``eof = n_terminals`` is the end of input. ``ignore_mask`` is a bitmask over
    terminal indices. ``rule_lhs[r]``/``rule_len[r]`` describe rule ``r`` (rule 0 is the
    augmented start rule). ``actions[s]`` maps a terminal index to a tuple of action codes
    (see ``ACCEPT``); ``gotos[s]`` maps a nonterminal index to a state. ``next_mask[s]`` is
    the bitmask of terminals (``eof`` included) with at least one action in state ``s``.
    """

    terminal_names: tuple[str, ...]
    terminal_dfas: tuple[ByteDFA, ...]
    ignore_mask: int
    nonterminal_names: tuple[str, ...]
    rule_lhs: tuple[int, ...]
    rule_len: tuple[int, ...]
    rule_text: tuple[str, ...]
    actions: tuple[dict, ...]
    gotos: tuple[dict, ...]
    next_mask: tuple[int, ...]
    n_conflicts: int

    @property
    def n_terminals(self) -> int:
        return len(self.terminal_names)

    @property
    def eof(self) -> int:
        return len(self.terminal_names)

    @property
    def n_states(self) -> int:
        return len(self.actions)


def _without_empty(dfa: ByteDFA) -> ByteDFA:
    """``dfa`` minus the empty string: a copy of the start row as a new, non-accepting start."""
    n = dfa.n_states
    table = np.concatenate([dfa.transitions, dfa.transitions[dfa.start][None, :]], axis=0)
    acc = np.concatenate([dfa.accepting, [False]])
    return ByteDFA(table, acc, n).minimize()


def normalize(ir: GrammarIR) -> tuple[dict[str, ByteDFA], list[tuple[str, tuple[str, ...]]],
                                      list[str]]:
    """Terminals (none nullable), rules and ignore names of a grammar equal to ``ir``'s."""
    terms: dict[str, ByteDFA] = {}
    optional: dict[str, str | None] = {}  # nullable terminal -> optional nonterminal or None
    extra: list[tuple[str, tuple[str, ...]]] = []
    for name, t in ir.terminals.items():
        if not t.nullable:
            terms[name] = t.dfa
            continue
        rest = _without_empty(t.dfa)
        if rest.is_empty():
            optional[name] = None  # the terminal is the empty string: drop its uses
            continue
        terms[name] = rest
        opt = f"{name}?#opt"
        optional[name] = opt
        extra += [(opt, (name,)), (opt, ())]
    rules = []
    for r in ir.rules:
        rhs = []
        for s in r.rhs:
            if s in optional:
                if optional[s] is not None:
                    rhs.append(optional[s])
            else:
                rhs.append(s)
        rules.append((r.lhs, tuple(rhs)))
    used = {s for _, rhs in rules for s in rhs}
    rules += [x for x in extra if x[0] in used]
    ignore = [n for n in ir.ignore if n in terms]
    return terms, rules, ignore


def _first_sets(n_nt: int, rules: list[tuple[int, tuple[int, ...]]],
                n_t: int) -> tuple[list[int], list[bool]]:
    """FIRST bitmask (over terminals) and nullability of each nonterminal.

    Symbols: terminals are ``0..n_t`` (``n_t`` = eof), nonterminals are ``n_t + 1 + k``.
    """
    first = [0] * n_nt
    nullable = [False] * n_nt
    base = n_t + 1
    changed = True
    while changed:
        changed = False
        for lhs, rhs in rules:
            f = first[lhs]
            all_null = True
            for s in rhs:
                if s < base:
                    f |= 1 << s
                    all_null = False
                    break
                f |= first[s - base]
                if not nullable[s - base]:
                    all_null = False
                    break
            if f != first[lhs]:
                first[lhs] = f
                changed = True
            if all_null and not nullable[lhs]:
                nullable[lhs] = True
                changed = True
    return first, nullable


def build_lr_tables(ir: GrammarIR, *, max_states: int = 50_000) -> LRTables:
    """Canonical LR(1) tables of ``ir`` (cached by content hash). ``LimitExceeded`` when the
    automaton would need more than ``max_states`` states."""
    key = (ir.content_hash, max_states)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    tables = _build(ir, max_states)
    with _LOCK:
        _CACHE[key] = tables
        while len(_CACHE) > 32:
            _CACHE.popitem(last=False)
    return tables


_CACHE: "OrderedDict[tuple, LRTables]" = OrderedDict()
_LOCK = threading.Lock()


def _build(ir: GrammarIR, max_states: int) -> LRTables:
    terms, named_rules, ignore = normalize(ir)
    t_names = tuple(terms)
    t_index = {n: i for i, n in enumerate(t_names)}
    n_t = len(t_names)
    eof = n_t
    base = n_t + 1
    nt_names = ["<start>"]
    for lhs, _ in named_rules:
        if lhs not in nt_names:
            nt_names.append(lhs)
    nt_index = {n: i for i, n in enumerate(nt_names)}

    def sym(s: str) -> int:
        return t_index[s] if s in t_index else base + nt_index[s]

    rules: list[tuple[int, tuple[int, ...]]] = [(0, (base + nt_index[ir.start],))]
    rules += [(nt_index[lhs], tuple(sym(s) for s in rhs)) for lhs, rhs in named_rules]
    first, nullable = _first_sets(len(nt_names), rules, n_t)
    by_lhs: list[list[int]] = [[] for _ in nt_names]
    for i, (lhs, _) in enumerate(rules):
        by_lhs[lhs].append(i)

    def first_of(seq: tuple[int, ...], la: int) -> int:
        f = 0
        for s in seq:
            if s < base:
                return f | (1 << s)
            f |= first[s - base]
            if not nullable[s - base]:
                return f
        return f | la

    # memo of the lookaheads contributed by (rule, dot) to the closure, independent of la
    def closure(kernel: dict[tuple[int, int], int]) -> dict[tuple[int, int], int]:
        items = dict(kernel)
        work = list(items)
        while work:
            r, d = work.pop()
            rhs = rules[r][1]
            if d >= len(rhs) or rhs[d] < base:
                continue
            la = first_of(rhs[d + 1:], items[(r, d)])
            for r2 in by_lhs[rhs[d] - base]:
                k = (r2, 0)
                old = items.get(k, 0)
                new = old | la
                if new != old or k not in items:
                    items[k] = new
                    work.append(k)
        return items

    states: dict[tuple, int] = {}
    kernels: list[dict[tuple[int, int], int]] = []

    def intern(kernel: dict[tuple[int, int], int]) -> int:
        key = tuple(sorted(kernel.items()))
        sid = states.get(key)
        if sid is None:
            sid = len(kernels)
            if sid >= max_states:
                raise LimitExceeded("the LR(1) automaton of the grammar is too large",
                                    limit="max_lr_states", value=max_states,
                                    hint="raise max_lr_states or simplify the grammar")
            states[key] = sid
            kernels.append(kernel)
        return sid

    intern({(0, 0): 1 << eof})
    actions: list[dict] = []
    gotos: list[dict] = []
    n_conflicts = 0
    i = 0
    while i < len(kernels):
        items = closure(kernels[i])
        act: dict[int, list[int]] = {}
        nexts: dict[int, dict[tuple[int, int], int]] = {}
        for (r, d), la in items.items():
            rhs = rules[r][1]
            if d < len(rhs):
                k = nexts.setdefault(rhs[d], {})
                k[(r, d + 1)] = k.get((r, d + 1), 0) | la
            else:
                code = ACCEPT if r == 0 else -(r + 1)
                bits = la
                while bits:
                    low = bits & -bits
                    t = low.bit_length() - 1
                    act.setdefault(t, []).append(code)
                    bits ^= low
        goto: dict[int, int] = {}
        for s in sorted(nexts):
            target = intern(nexts[s])
            if s < base:
                act.setdefault(s, []).append(target)
            else:
                goto[s - base] = target
        for t, codes in act.items():
            if len(codes) > 1:
                n_conflicts += 1
        actions.append({t: tuple(sorted(set(c))) for t, c in act.items()})
        gotos.append(goto)
        i += 1
    next_mask = tuple(sum(1 << t for t in a) for a in actions)
    ignore_mask = sum(1 << t_index[n] for n in ignore)
    return LRTables(
        terminal_names=t_names,
        terminal_dfas=tuple(terms[n] for n in t_names),
        ignore_mask=ignore_mask,
        nonterminal_names=tuple(nt_names),
        rule_lhs=tuple(lhs for lhs, _ in rules),
        rule_len=tuple(len(rhs) for _, rhs in rules),
        rule_text=tuple(f"{nt_names[lhs]} -> "
                        + " ".join(t_names[s] if s < n_t else nt_names[s - base] for s in rhs)
                        for lhs, rhs in rules),
        actions=tuple(actions),
        gotos=tuple(gotos),
        next_mask=next_mask,
        n_conflicts=n_conflicts,
    )
