"""The grammar IR every context-free front end converges on (Lark, GBNF, JSON Schema).

A ``GrammarIR`` is a plain BNF grammar whose terminals are byte-level regular languages
(each a trimmed ``ByteDFA``), plus a set of *ignored* terminals (whitespace, comments).

Semantics (scannerless, every reading kept): a byte string ``w`` is in the language iff
``w = x0 t1 x1 t2 ... tn xn`` where ``t1 ... tn`` is, terminal by terminal, a sentence the
rules derive from ``start`` (each ``ti`` in its terminal's language) and every ``xi`` is a
concatenation of zero or more ignored terminals' strings. There is no maximal munch and no
lexer priority: when a string can be split into terminals in several ways, every split
counts. Front ends must therefore produce terminals whose adjacency is unambiguous where the
user cares (e.g. a keyword followed by a name needs a separator in the grammar).

Construct with ``IRBuilder`` (fresh names, literals and regexes deduplicated, EBNF helpers),
then ``build()``, which validates: every symbol is defined, every nonterminal is productive
and reachable from ``start``, no terminal language is empty.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from ..errors import InvalidSyntax, LimitExceeded
from .dfa import ByteDFA, mark_minimal
from .regex import cached_regex_to_dfa

__all__ = ["Terminal", "Rule", "GrammarIR", "IRBuilder", "literal_dfa"]


@dataclass(frozen=True, eq=False)
class Terminal:
    """A named regular language over bytes. ``source`` is the text it was made from (a regex
    or a literal, for messages); ``literal`` is the exact bytes when it is a literal."""

    name: str
    dfa: ByteDFA
    source: str
    literal: bytes | None = None

    @property
    def nullable(self) -> bool:
        """Whether the terminal matches the empty string."""
        return self.dfa.n_states > 0 and bool(self.dfa.accepting[self.dfa.start])


@dataclass(frozen=True)
class Rule:
    """``lhs -> rhs``: ``rhs`` is a tuple of symbol names (terminals or nonterminals); an
    empty tuple is the empty production."""

    lhs: str
    rhs: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.lhs} -> {' '.join(self.rhs) if self.rhs else 'ε'}"


@dataclass(frozen=True, eq=False)
class GrammarIR:
    """A validated grammar: ``terminals`` by name, ``rules`` in order, ``start`` symbol and
    ``ignore`` terminal names. Immutable; ``content_hash`` identifies it for caching."""

    terminals: dict[str, Terminal]
    rules: tuple[Rule, ...]
    start: str
    ignore: tuple[str, ...] = ()
    content_hash: str = field(default="")

    @property
    def nonterminals(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.rules:
            seen.setdefault(r.lhs)
        return tuple(seen)

    def rules_for(self, lhs: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.lhs == lhs)

    def is_terminal(self, name: str) -> bool:
        return name in self.terminals

    def __str__(self) -> str:
        lines = [str(r) for r in self.rules]
        lines += [f"{t.name}: {t.source!r}" for t in self.terminals.values()]
        if self.ignore:
            lines.append(f"%ignore {' '.join(self.ignore)}")
        return "\n".join(lines)


def literal_dfa(data: bytes) -> ByteDFA:
    """The DFA of exactly one byte string."""
    import numpy as np

    n = len(data) + 1
    table = np.full((n, 256), -1, dtype=np.int32)
    for i, b in enumerate(data):
        table[i, b] = i + 1
    acc = np.zeros(n, dtype=bool)
    acc[-1] = True
    return mark_minimal(ByteDFA(table, acc, 0), canonical=True)  # a chain: minimal as is


class IRBuilder:
    """Collects terminals and rules, hands out fresh names, and validates on ``build()``.

    Terminal and nonterminal names share one namespace. Helpers return the symbol name to
    use in a right-hand side: ``literal(b"{")``, ``regex(r"[0-9]+")``, ``star(sym)``,
    ``plus(sym)``, ``optional(sym)``, ``seq(*syms)``, ``choice(*alternatives)``.
    """

    def __init__(self, *, max_regex_states: int = 100_000, max_rules: int = 200_000) -> None:
        self.terminals: dict[str, Terminal] = {}
        self.rules: list[Rule] = []
        self.ignore: list[str] = []
        self._literal_names: dict[bytes, str] = {}
        self._regex_names: dict[str, str] = {}
        self._derived: dict[tuple, str] = {}
        self._counter = 0
        self.max_regex_states = max_regex_states
        self.max_rules = max_rules

    # -- names ---------------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        """A new symbol name starting with ``prefix`` (never clashes with user names,
        which cannot contain ``#``)."""
        self._counter += 1
        return f"{prefix}#{self._counter}"

    def _taken(self, name: str) -> bool:
        return name in self.terminals or any(r.lhs == name for r in self.rules)

    # -- terminals -----------------------------------------------------------------------

    def add_terminal(self, name: str, dfa: ByteDFA, source: str, *,
                     literal: bytes | None = None) -> str:
        """Define terminal ``name`` (its DFA is trimmed and minimized here)."""
        if name in self.terminals:
            raise InvalidSyntax(f"terminal {name!r} is defined twice",
                                hint="give each terminal one definition")
        dfa = dfa.minimize()
        if dfa.is_empty():
            raise InvalidSyntax(f"terminal {name!r} ({source!r}) matches no string at all",
                                hint="an empty character class or contradictory constraints")
        self.terminals[name] = Terminal(name, dfa, source, literal)
        return name

    def literal(self, data: bytes | str, *, name: str | None = None) -> str:
        """A terminal for exactly ``data`` (deduplicated)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        hit = self._literal_names.get(data)
        if hit is not None and name is None:
            return hit
        name = name or self.fresh(f"LIT_{_short(data)}")
        self.add_terminal(name, literal_dfa(data), data.decode("utf-8", "replace"), literal=data)
        self._literal_names.setdefault(data, name)
        return name

    def regex(self, pattern: str, *, name: str | None = None) -> str:
        """A terminal for a Python-style regex (deduplicated by pattern)."""
        hit = self._regex_names.get(pattern)
        if hit is not None and name is None:
            return hit
        dfa = cached_regex_to_dfa(pattern, max_states=self.max_regex_states)
        name = name or self.fresh("RE")
        self.add_terminal(name, dfa, pattern)
        self._regex_names.setdefault(pattern, name)
        return name

    def terminal_dfa(self, dfa: ByteDFA, source: str, *, name: str | None = None) -> str:
        """A terminal from a ready DFA (e.g. a DFA difference built by a front end)."""
        return self.add_terminal(name or self.fresh("DFA"), dfa, source)

    def add_ignore(self, terminal: str) -> None:
        """Allow ``terminal`` between any two terminals and at both ends."""
        if terminal not in self.ignore:
            self.ignore.append(terminal)

    # -- rules ---------------------------------------------------------------------------

    def rule(self, lhs: str, rhs: Sequence[str] = ()) -> None:
        """Add one production ``lhs -> rhs``."""
        if lhs in self.terminals:
            raise InvalidSyntax(f"{lhs!r} is a terminal and cannot have rules")
        self.rules.append(Rule(lhs, tuple(rhs)))
        if len(self.rules) > self.max_rules:
            raise LimitExceeded("the grammar has too many rules", limit="max_rules",
                                value=self.max_rules, hint="raise IRBuilder(max_rules=...)")

    def choice(self, *alternatives: Sequence[str], name: str | None = None) -> str:
        """A nonterminal deriving each alternative (each a sequence of symbols)."""
        key = ("choice", tuple(tuple(a) for a in alternatives))
        if name is None and key in self._derived:
            return self._derived[key]
        lhs = name or self.fresh("alt")
        for alt in alternatives:
            self.rule(lhs, alt)
        if name is None:
            self._derived[key] = lhs
        return lhs

    def seq(self, *symbols: str) -> str:
        """A nonterminal deriving exactly the sequence ``symbols``."""
        return self.choice(tuple(symbols))

    def optional(self, symbol: str) -> str:
        """``symbol?``"""
        return self.choice((symbol,), ())

    def star(self, symbol: str) -> str:
        """``symbol*`` (left-recursive, so LR stacks stay shallow)."""
        key = ("star", symbol)
        if key not in self._derived:
            lhs = self.fresh("star")
            self.rule(lhs, ())
            self.rule(lhs, (lhs, symbol))
            self._derived[key] = lhs
        return self._derived[key]

    def plus(self, symbol: str) -> str:
        """``symbol+``"""
        key = ("plus", symbol)
        if key not in self._derived:
            lhs = self.fresh("plus")
            self.rule(lhs, (symbol,))
            self.rule(lhs, (lhs, symbol))
            self._derived[key] = lhs
        return self._derived[key]

    def repeat(self, symbol: str, lo: int, hi: int | None) -> str:
        """``symbol{lo,hi}`` (``hi=None``: unbounded), without exponential blow-up."""
        if lo < 0 or (hi is not None and hi < lo):
            raise InvalidSyntax(f"bad repetition bounds {{{lo},{hi}}}")
        key = ("repeat", symbol, lo, hi)
        if key in self._derived:
            return self._derived[key]
        parts = [symbol] * lo
        if hi is None:
            parts.append(self.star(symbol))
        else:
            # nested optionals: (s (s (s)?)?)? for the hi - lo optional copies
            tail: str | None = None
            for _ in range(hi - lo):
                inner = (symbol,) if tail is None else (symbol, tail)
                tail = self.choice(inner, ())
            if tail is not None:
                parts.append(tail)
        lhs = self.seq(*parts)
        self._derived[key] = lhs
        return lhs

    # -- build ---------------------------------------------------------------------------

    def build(self, start: str) -> GrammarIR:
        """Validate and freeze. Raises ``InvalidSyntax`` naming the offending symbols."""
        return make_ir(self.terminals, self.rules, start, self.ignore)


def productive_nonterminals(rules: Iterable[Rule], terminals) -> set[str]:
    """The nonterminals that derive some string of terminals (the least fixpoint), in time
    linear in the size of the grammar: each rule counts its symbols not yet known to be
    productive, and a symbol that becomes productive updates the rules using it."""
    missing: list[int] = []
    uses: dict[str, list[int]] = {}
    lhs: list[str] = []
    ready: list[int] = []
    for i, r in enumerate(rules):
        lhs.append(r.lhs)
        k = 0
        for s in r.rhs:
            if s not in terminals:
                k += 1
                uses.setdefault(s, []).append(i)
        missing.append(k)
        if not k:
            ready.append(i)
    productive: set[str] = set()
    while ready:
        sym = lhs[ready.pop()]
        if sym in productive:
            continue
        productive.add(sym)
        for i in uses.get(sym, ()):
            missing[i] -= 1
            if not missing[i]:
                ready.append(i)
    return productive


def make_ir(terminals: dict[str, Terminal], rules: Iterable[Rule], start: str,
            ignore: Iterable[str] = ()) -> GrammarIR:
    """Validate a grammar and return it as a ``GrammarIR``; unproductive or unreachable
    nonterminals are errors (they usually mean a typo), and so are undefined symbols."""
    rules = tuple(rules)
    ignore = tuple(ignore)
    lhs_set = {r.lhs for r in rules}
    if start not in lhs_set and start not in terminals:
        raise InvalidSyntax(f"start symbol {start!r} is not defined",
                            hint="define a rule for it or pass start=... naming an existing rule")
    for r in rules:
        for s in r.rhs:
            if s not in lhs_set and s not in terminals:
                raise InvalidSyntax(f"symbol {s!r} used in rule '{r}' is not defined",
                                    hint="define it as a rule or a terminal")
    for name in ignore:
        if name not in terminals:
            raise InvalidSyntax(f"%ignore names {name!r}, which is not a terminal")
    if start in terminals:  # a grammar that is a single terminal
        wrapped = "start#0"
        rules = (Rule(wrapped, (start,)),) + rules
        start = wrapped
        lhs_set.add(wrapped)
    productive = productive_nonterminals(rules, terminals)
    dead = sorted(lhs_set - productive)
    if dead:
        raise InvalidSyntax(f"rules {', '.join(dead[:10])} can never finish (every "
                            f"alternative needs itself or another unfinishable rule)",
                            hint="add a non-recursive alternative")
    # reachable symbols: drop unreachable rules and terminals silently (front ends may
    # define helpers that the chosen start does not use)
    reach = {start}
    stack = [start]
    by_lhs: dict[str, list[Rule]] = {}
    for r in rules:
        by_lhs.setdefault(r.lhs, []).append(r)
    while stack:
        sym = stack.pop()
        for r in by_lhs.get(sym, ()):
            for s in r.rhs:
                if s not in reach:
                    reach.add(s)
                    stack.append(s)
    reach.update(ignore)
    rules = tuple(r for r in rules if r.lhs in reach)
    terms = {n: t for n, t in terminals.items() if n in reach}
    h = hashlib.sha256()
    for r in rules:
        h.update(repr((r.lhs, r.rhs)).encode())
    for n, t in sorted(terms.items()):  # (fed piecewise: the digest of the concatenation)
        h.update(n.encode() + b"\0")
        h.update(t.dfa.transitions)
        h.update(t.dfa.accepting)
        h.update(b"\0" + str(t.dfa.start).encode())
    h.update(repr((start, ignore)).encode())
    return GrammarIR(terms, rules, start, ignore, h.hexdigest())


def _short(data: bytes) -> str:
    s = "".join(chr(b) if chr(b).isalnum() else "_" for b in data[:12])
    return s or "empty"
