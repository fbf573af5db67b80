"""``Node`` -> grammar IR rules: JSON syntax, whitespace policy, property order, counts.

Serialization accepted:

- ``whitespace="compact"``: exactly ``json.dumps(x, separators=(",", ":"))`` up to string
  escapes and number spelling: no whitespace anywhere outside strings.
- ``whitespace="flexible"``: a run of 0..``max_whitespace`` JSON whitespace characters
  (space, tab, LF, CR) on each side of ``{ } [ ] , :`` (so ``json.dumps`` defaults and
  ``indent=`` output up to that run length); never before or after the whole document.

Strings are single terminals (the JSON-escaped constraint DFA, see ``strings``) except long
unconstrained ones (``maxLength`` > 64), which become a sequence of 64-character block
terminals plus a tail, so that ``maxLength: 32767`` costs a few small DFAs, not 600k states.

Objects (``property_order``): an automaton over members turned into rules ``First_s``
(no comma yet) / ``Rest_s``. ``"schema"``: declared properties in schema order, required
ones mandatory, undeclared ("additional") members anywhere. ``"any"``: any order; the set of
declared names seen so far is tracked, so each appears at most once and required ones must
appear; when tracking every name would exceed ``max_object_states``, only required and
dependency-related names are tracked and other declared names may repeat (each value is
still validated; a duplicate key is outside JSON Schema's data model; recorded in
``relaxations``). Undeclared keys are strings minus the declared names (a DFA difference),
split by which ``patternProperties`` they match.
"""

from __future__ import annotations

from itertools import combinations
from typing import Callable, Hashable

import numpy as np

from ...errors import LimitExceeded
from ..dfa import ByteDFA, mark_minimal
from ..dfa_ops import difference, intersect, mark_finite_utf8
from ..ir import IRBuilder, Terminal, literal_dfa
from .nodes import TRUE, ArrayPart, Node, ObjectPart, StrSpec
from .strings import (any_string_dfa, dfa_key, json_string_dfa, json_string_tail_dfa,
                      length_dfa, literal_string_dfa)

__all__ = ["Emitter", "BLOCK"]

BLOCK = 64  # strings longer than this (without other constraints) use block terminals
MAX_PATTERN_REGIONS = 6


_dfa_key = dfa_key


class Emitter:
    """Turns evaluated expressions into IR rules; one per compile."""

    def __init__(self, compiler, *, whitespace: str = "compact", max_whitespace: int = 16,
                 property_order: str = "schema", max_object_states: int = 256,
                 max_string_states: int = 20_000) -> None:
        self.cx = compiler
        self.b = IRBuilder()
        self.order = property_order
        self.max_object_states = max_object_states
        self.max_string_states = max_string_states
        self.memo: dict[frozenset, str | None] = {}
        self._terms: dict[Hashable, str] = {}
        if whitespace == "compact":
            ws = ""
        else:
            ws = "[ \\t\\n\\r]{0,%d}" % max_whitespace
        self.ws = ws
        self.LBRACE = self._punct("{", ws)
        self.RBRACE = self._punct("}", ws, before=True)
        self.LBRACK = self._punct("[", ws)
        self.RBRACK = self._punct("]", ws, before=True)
        self.COMMA = self._punct(",", ws, before=True, after=True)
        self.COLON = self._punct(":", ws, before=True, after=True)
        self.QUOTE = self.b.literal(b'"')

    def _punct(self, ch: str, ws: str, *, before: bool = False, after: bool | None = None
               ) -> str:
        if not ws:
            return self.b.literal(ch.encode())
        if after is None:
            after = not before
        rx = (ws if before else "") + "\\" + ch + (ws if after else "")
        return self.b.regex(rx)

    def term(self, key: Hashable, make: Callable[[], ByteDFA], source: str) -> str:
        name = self._terms.get(key)
        if name is None:
            dfa = make()
            if dfa.is_empty():
                raise LimitExceeded("internal: empty terminal", limit="none", value=None)
            name = self.b.fresh("T")
            # our DFAs are already minimal: skip IRBuilder.add_terminal's re-minimization
            self.b.terminals[name] = Terminal(name, dfa, source)
            self._terms[key] = name
        return name

    # -- values ----------------------------------------------------------------------------
    def expr(self, e: frozenset) -> str | None:
        """The symbol of expression ``e`` (None when it allows no value)."""
        if e in self.memo:
            return self.memo[e]
        self.cx.check_time()
        node = self.cx.eval_expr(e)
        if node.is_empty():
            self.memo[e] = None
            return None
        name = self.b.fresh("value")
        self.memo[e] = name
        for alt in self.node_alts(node):
            self.b.rule(name, (alt,))
        return name

    def node_alts(self, node: Node) -> list[str]:
        alts = []
        if node.null:
            alts.append(self.b.literal(b"null"))
        if node.true:
            alts.append(self.b.literal(b"true"))
        if node.false:
            alts.append(self.b.literal(b"false"))
        if node.number is not None:
            d = node.number
            alts.append(self.term(("num", _dfa_key(d)), lambda: d, "number"))
        if node.string is not None:
            s = self.string(node.string)
            if s is not None:
                alts.append(s)
        for p in node.arrays:
            s = self.array(p)
            if s is not None:
                alts.append(s)
        for p in node.objects:
            s = self.object(p)
            if s is not None:
                alts.append(s)
        return alts

    # -- strings ---------------------------------------------------------------------------
    def string(self, spec: StrSpec) -> str | None:
        big = (spec.hi is not None and spec.hi > BLOCK) or spec.lo > BLOCK
        key = ("str", _dfa_key(spec.dfa), spec.lo, spec.hi)
        if key in self._terms:
            return self._terms[key]
        if big and spec.dfa is any_string_dfa():
            sym = self._block_string(spec.lo, spec.hi)
            self._terms[key] = sym
            return sym
        try:
            chars = spec.materialize()
            if chars.is_empty():
                return None
            d = json_string_dfa(chars, max_states=self.max_string_states)
        except LimitExceeded:
            if not self.cx.lenient:
                raise
            self.cx.report("maxLength", f"length bounds [{spec.lo}, {spec.hi}] together with "
                           "pattern/format exceed the string state limit; bounds dropped")
            d = json_string_dfa(spec.dfa, max_states=self.max_string_states)
        return self.term(key, lambda: d, "string")

    def _block_string(self, lo: int, hi: int | None) -> str:
        b = self.b
        blk = self.term(("blk", BLOCK), lambda: json_string_dfa(
            length_dfa(BLOCK, BLOCK), quotes=False), f"string block of {BLOCK} characters")

        def tail(a: int, z: int) -> str:
            # the tail carries the closing quote, so it completes only there: adjacent
            # content terminals would otherwise split a token's characters every way
            return self.term(("tailq", a, z), lambda: json_string_tail_dfa(length_dfa(a, z)),
                             f'string tail of {a}..{z} characters + "')

        mlo = lo // BLOCK
        alts: list[tuple[str, ...]] = []
        if hi is None:
            alts.append(tuple([blk] * mlo) + (tail(lo % BLOCK, BLOCK - 1),))
            alts.append(tuple([blk] * (mlo + 1)) + (b.star(blk), tail(0, BLOCK - 1)))
        else:
            mhi = hi // BLOCK
            if mlo == mhi:
                alts.append(tuple([blk] * mlo) + (tail(lo % BLOCK, hi % BLOCK),))
            else:
                alts.append(tuple([blk] * mlo) + (tail(lo % BLOCK, BLOCK - 1),))
                if mhi - mlo >= 2:
                    alts.append(tuple([blk] * (mlo + 1))
                                + (b.repeat(blk, 0, mhi - mlo - 2), tail(0, BLOCK - 1)))
                alts.append(tuple([blk] * mhi) + (tail(0, hi % BLOCK),))
        body = b.choice(*alts)
        return b.seq(self.QUOTE, body)

    def key_colon(self, chars: ByteDFA, key: Hashable) -> tuple[str, str]:
        """The symbols of a property name whose characters are ``chars`` and the colon
        after it. Two terminals, not one: a name's lexeme then ends at its closing quote, so
        inside it the name reads like any JSON string (``lexeme_classes`` shares the tokens
        that stay inside between every string terminal)."""
        return self.term(("key", key), lambda: json_string_dfa(
            chars, max_states=self.max_string_states), "key"), self.COLON

    # -- containers ------------------------------------------------------------------------
    def automaton(self, start, edges: Callable, accepting: Callable, open_: str, close: str,
                  what: str) -> str:
        """Rules for a bracketed, comma-separated sequence driven by an automaton:
        ``edges(state)`` -> [(symbol or None for epsilon, next state)]."""
        b = self.b
        todo = [start]
        seen = {start}
        names: dict = {}
        while todo:
            s = todo.pop()
            if len(names) % 256 == 0:
                self.cx.check_time()
            if len(seen) > self.max_object_states * 4:
                raise LimitExceeded(f"{what} needs too many automaton states",
                                    limit="max_object_states", value=self.max_object_states,
                                    hint="raise max_object_states or simplify the schema")
            names[s] = (b.fresh("first"), b.fresh("rest"))
            for sym, t in edges(s):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        for s, (f, r) in names.items():
            if accepting(s):
                b.rule(f, ())
                b.rule(r, ())
            for sym, t in edges(s):
                ft, rt = names[t]
                if sym is None:
                    b.rule(f, (ft,))
                    b.rule(r, (rt,))
                else:
                    b.rule(f, (sym, rt))
                    b.rule(r, (self.COMMA, sym, rt))
        return b.seq(open_, names[start][0], close)

    def array(self, p: ArrayPart) -> str | None:
        self.cx._where.append(p.where or "/")
        try:
            return self._array(p)
        finally:
            self.cx._where.pop()

    def _array(self, p: ArrayPart) -> str | None:
        cx = self.cx
        contains = p.contains
        if len(contains) > 1:
            cx.report("contains", "several 'contains' constraints on one array")
            contains = contains[:1]
        if p.unique and not (p.hi is not None and p.hi <= 1):
            sym = self._unique_array(p)
            if sym is not None:
                return sym
            cx.report("uniqueItems", "only enforced for arrays of a few distinct scalars")
        k = len(p.prefix)
        hi = p.hi
        item = [self.expr(p.item(i)) for i in range(k + 1)]
        if contains:
            c, cmin, cmax = contains[0]
            cap = max(k, p.lo) if hi is None else hi
            if cap > 1000:
                raise LimitExceeded("'contains' with a large maxItems/minItems needs too many "
                                    "states", limit="max_items_states", value=1000)
            ccap = cmin if cmax is None else cmax

            def edges(s):
                i, n = s
                if hi is not None and i >= hi:
                    return []
                e = p.item(i)
                j = min(i + 1, cap)
                out = []
                counted = self.expr(e | c)
                if counted is not None and (cmax is None or n < cmax):
                    out.append((counted, (j, min(n + 1, ccap))))
                other = self.expr(e) if cmax is None else self.expr(e | self.cx.neg(c))
                if other is not None:
                    out.append((other, (j, n)))
                return out

            def accepting(s):
                i, n = s
                return i >= p.lo and n >= cmin and (cmax is None or n <= cmax)

            return self.automaton((0, 0), edges, accepting, self.LBRACK, self.RBRACK, "array")
        # no contains: explicit positions up to m, then a repeated tail
        m = max(k, p.lo)
        if hi is not None and hi < m:
            m = hi
        rest = item[k]

        def edges2(i):
            if i >= m:
                return []
            sym = item[min(i, k)]
            return [] if sym is None else [(sym, i + 1)]

        b = self.b
        # states 0..m-1 explicit; at m: the tail
        first: dict[int, str] = {}
        restn: dict[int, str] = {}
        for i in range(m + 1):
            first[i], restn[i] = b.fresh("afirst"), b.fresh("arest")
        for i in range(m):
            if i >= p.lo:
                b.rule(first[i], ())
                b.rule(restn[i], ())
            for sym, t in edges2(i):
                b.rule(first[i], (sym, restn[t]))
                b.rule(restn[i], (self.COMMA, sym, restn[t]))
        extra = None if hi is None else hi - m
        b.rule(first[m], ())
        b.rule(restn[m], ())
        if rest is not None and (extra is None or extra > 0):
            cr = b.seq(self.COMMA, rest)
            tail = b.star(cr) if extra is None else b.repeat(cr, 0, extra - 1)
            b.rule(restn[m], (cr, tail))
            b.rule(first[m], (rest, tail))
        return b.seq(self.LBRACK, first[0], self.RBRACK)

    def _unique_array(self, p: ArrayPart) -> str | None:
        """uniqueItems over a few distinct scalar values (no prefix/contains): subsets."""
        if p.prefix or p.contains:
            return None
        node = self.cx.eval_expr(p.rest)
        if node.arrays or node.objects or node.number is not None:
            return None
        values: list[str] = []
        if node.null:
            values.append(self.b.literal(b"null"))
        if node.true:
            values.append(self.b.literal(b"true"))
        if node.false:
            values.append(self.b.literal(b"false"))
        if node.string is not None:
            words = _finite_words(node.string.materialize(), 8)
            if words is None:
                return None
            for w in words:
                d = json_string_dfa(literal_dfa(w))
                values.append(self.term(("str", _dfa_key(literal_dfa(w)), 0, None),
                                        lambda d=d: d, "string"))
        if len(values) > 8:
            return None
        lo, hi = p.lo, p.hi

        def edges(mask):
            if hi is not None and bin(mask).count("1") >= hi:
                return []
            return [(v, mask | (1 << i)) for i, v in enumerate(values) if not mask >> i & 1]

        return self.automaton(0, edges, lambda m: bin(m).count("1") >= lo, self.LBRACK,
                              self.RBRACK, "array")

    def object(self, p: ObjectPart) -> str | None:
        cx = self.cx
        declared = _merge_orders([[name for name, _ in c.props] for c in p.conj])
        for name in sorted(p.required) + [n for a, ns in p.deps for n in [a, *sorted(ns)]]:
            if name not in declared:
                declared.append(name)
        members: dict[str, str | None] = {}
        for name in declared:
            ok = all(c.names is None or c.names.matches(name.encode("utf-8", "surrogatepass"))
                     for c in p.conj)
            expr = TRUE
            for c in p.conj:
                found = [e for n, e in c.props if n == name]
                pats = [e for _, d, e in c.patterns if d.matches(name.encode("utf-8", "replace"))]
                if found or pats:
                    for e in found + pats:
                        expr = expr | e
                else:
                    expr = expr | c.additional
            v = self.expr(expr) if ok else None
            if v is None:
                members[name] = None
                if name in p.required:
                    return None
                continue
            kd = literal_string_dfa(name)
            members[name] = self.b.seq(*self.key_colon(kd, ("lit", name)), v)
        extras = self._extra_members(p, declared)
        live = [n for n in declared if members[n] is not None]
        deps = [(a, ns) for a, ns in p.deps]
        dep_names = {a for a, _ in deps} | {n for _, ns in deps for n in ns}
        count_cap = p.hi if p.hi is not None else p.lo
        count_factor = count_cap + 1
        req_chain: list[str] = []  # required names forced into schema order (fallback)
        if self.order == "any":
            if (1 << len(live)) * count_factor <= self.max_object_states:
                tracked = live
            else:
                tracked = [n for n in live if n in p.required or n in dep_names]
                if (1 << len(tracked)) * count_factor > self.max_object_states:
                    req_chain = [n for n in live if n in p.required]
                    tracked = [n for n in live if n in dep_names and n not in p.required]
                    if (1 << len(tracked)) * count_factor > self.max_object_states:
                        raise LimitExceeded(
                            f"property_order='any' over {len(tracked)} dependent properties "
                            f"needs more than max_object_states states",
                            limit="max_object_states", value=self.max_object_states,
                            hint="raise max_object_states or use property_order='schema'")
                    cx.relax("property_order", f"{len(req_chain)} required properties are "
                             "too many to track in any order: they must follow schema order "
                             "(a restriction; raise max_object_states)")
                if len(tracked) + len(req_chain) < len(live):
                    cx.relax("property_order", f"{len(live) - len(tracked) - len(req_chain)} "
                             "optional properties may repeat (too many to track each at most "
                             "once)")
        else:
            tracked = [n for n in live if n in dep_names]
        bit = {n: 1 << i for i, n in enumerate(tracked)}
        req_mask = sum(bit[n] for n in p.required if n in bit)
        dep_masks = [(bit.get(a, 0), sum(bit.get(n, 0) for n in ns)) for a, ns in deps]

        def bump(n: int):
            if p.hi is not None:
                return None if n + 1 > p.hi else n + 1
            return min(n + 1, count_cap)

        def accepting_mask(mask: int, n: int) -> bool:
            return (mask & req_mask) == req_mask and n >= p.lo and all(
                not (mask & a) or (mask & need) == need for a, need in dep_masks)

        if self.order == "any":
            chain_pos = {n: i for i, n in enumerate(req_chain)}

            def edges(s):
                mask, n, rpos = s
                n2 = bump(n)
                if n2 is None:
                    return []
                out = []
                for name in live:
                    if name in chain_pos:
                        if chain_pos[name] == rpos:
                            out.append((members[name], (mask, n2, rpos + 1)))
                        continue
                    bt = bit.get(name, 0)
                    if bt and mask & bt:
                        continue
                    out.append((members[name], (mask | bt, n2, rpos)))
                for sym in extras:
                    out.append((sym, (mask, n2, rpos)))
                return out

            return self.automaton((0, 0, 0), edges,
                                  lambda s: s[2] == len(req_chain) and accepting_mask(s[0], s[1]),
                                  self.LBRACE, self.RBRACE, "object")

        order = declared

        def edges_s(s):
            pos, mask, n = s
            out = []
            n2 = bump(n)
            if pos < len(order):
                name = order[pos]
                if name not in p.required:
                    out.append((None, (pos + 1, mask, n)))
                if members[name] is not None and n2 is not None:
                    out.append((members[name], (pos + 1, mask | bit.get(name, 0), n2)))
            if n2 is not None:
                for sym in extras:
                    out.append((sym, (pos, mask, n2)))
            return out

        return self.automaton((0, 0, 0), edges_s,
                              lambda s: s[0] == len(order) and accepting_mask(s[1], s[2]),
                              self.LBRACE, self.RBRACE, "object")

    def _extra_members(self, p: ObjectPart, declared: list[str]) -> list[str]:
        """Member symbols for undeclared keys, one per patternProperties region."""
        pats = [(ci, src, d, e) for ci, c in enumerate(p.conj) for src, d, e in c.patterns]
        if len(pats) > MAX_PATTERN_REGIONS:
            raise LimitExceeded("too many patternProperties combine on one object",
                                limit="max_pattern_regions", value=MAX_PATTERN_REGIONS)
        if any(c.additional == _false_expr() for c in p.conj) and not pats:
            return []
        base = any_string_dfa()
        if declared:
            base = difference(base, _names_dfa(declared))
        for c in p.conj:
            if c.names is not None:
                base = intersect(base, c.names)
        out = []
        for r in range(len(pats) + 1):
            for sub in combinations(range(len(pats)), r):
                inside = set(sub)
                kd = base
                for i, (_, _, d, _) in enumerate(pats):
                    kd = intersect(kd, d) if i in inside else difference(kd, d)
                    if kd.is_empty():
                        break
                if kd.is_empty():
                    continue
                expr = TRUE
                for ci, c in enumerate(p.conj):
                    mine = [e for i, (cj, _, _, e) in enumerate(pats) if cj == ci and i in inside]
                    if mine:
                        for e in mine:
                            expr = expr | e
                    else:
                        expr = expr | c.additional
                v = self.expr(expr)
                if v is None:
                    continue
                out.append(self.b.seq(*self.key_colon(kd, ("dfa", _dfa_key(kd))), v))
        return out


def _false_expr():
    from .compiler import FALSE_EXPR
    return FALSE_EXPR


def _names_dfa(names: list[str]) -> ByteDFA:
    """The minimal DFA of a finite set of strings: a trie, its equal subtries merged
    bottom-up (exact for an acyclic DFA), numbered as ``minimize()`` numbers."""
    kids: list[dict[int, int]] = [{}]
    acc = [False]
    for name in names:
        try:
            data = name.encode("utf-8")
        except UnicodeEncodeError:
            continue
        s = 0
        for byte in data:
            t = kids[s].get(byte)
            if t is None:
                t = len(kids)
                kids.append({})
                acc.append(False)
                kids[s][byte] = t
            s = t
        acc[s] = True
    if not any(acc):
        return ByteDFA(np.full((1, 256), -1, np.int32), np.zeros(1, bool), 0).minimize()
    cls = [0] * len(kids)
    ids: dict[tuple, int] = {}
    for v in range(len(kids) - 1, -1, -1):  # children come after their parents
        key = (acc[v], tuple(sorted((b, cls[c]) for b, c in kids[v].items())))
        cls[v] = ids.setdefault(key, len(ids))
    k = len(ids)
    table = np.full((k, 256), -1, np.int32)
    acc_out = np.zeros(k, bool)
    src, byt, dst = [], [], []
    for (f, row), c in ids.items():
        acc_out[c] = f
        for b, d in row:
            src.append(c)
            byt.append(b)
            dst.append(d)
    table[src, byt] = dst
    return mark_finite_utf8(mark_minimal(ByteDFA(table, acc_out, cls[0])).minimize())


def _finite_words(d: ByteDFA, limit: int) -> list[bytes] | None:
    """All words of ``d`` if there are at most ``limit`` (None otherwise or if infinite)."""
    out: list[bytes] = []
    t = d.transitions
    stack = [(d.start, b"")]
    steps = 0
    while stack:
        s, w = stack.pop()
        steps += 1
        if steps > 10_000 or len(w) > 256:
            return None
        if d.accepting[s]:
            out.append(w)
            if len(out) > limit:
                return None
        for byte in np.flatnonzero(t[s] >= 0).tolist():
            stack.append((int(t[s, byte]), w + bytes([byte])))
    return out


def _merge_orders(orders: list[list[str]]) -> list[str]:
    """One order of the names of several declared orders (allOf branches) that keeps each
    one's order where they agree: repeatedly the first name, by first appearance, that no
    order puts after a name not placed yet (when the orders conflict, the first unplaced)."""
    first: list[str] = []
    for order in orders:
        for name in order:
            if name not in first:
                first.append(name)
    if len(orders) < 2:
        return first
    pos = [{n: i for i, n in enumerate(o)} for o in orders]
    placed: set[str] = set()
    out: list[str] = []
    while len(out) < len(first):
        pick = None
        for name in first:
            if name in placed:
                continue
            if all(all(o[j] in placed for j in range(p[name])) for o, p in zip(orders, pos)
                   if name in p):
                pick = name
                break
        if pick is None:  # conflicting orders
            pick = next(n for n in first if n not in placed)
        placed.add(pick)
        out.append(pick)
    return out
