"""JSON Schema -> ``Node`` (the normalized, typed form; see ``nodes``) -> grammar IR.

``schema_to_ir`` is the entry point. The walk evaluates a schema into a ``Node`` keyword by
keyword, with the standard's semantics (drafts 4, 6, 7, 2019-09, 2020-12; ``$schema`` picks
one). Subschemas of items and properties stay unevaluated ``Expr``s until the emitter
(``emit``) needs them, which is what lets ``$ref`` recurse.

Honesty: a keyword or combination we cannot express exactly is reported with its JSON
pointer; all reports are collected and raised once as ``Unsupported``, unless
``lenient=True``, in which case the constraint is relaxed (a superset is accepted) and the
report lands in ``relaxations``. Unknown ``format``s accept any string and are always listed
in ``relaxations``. Keywords with no validation meaning (annotations, unknown keywords) are
ignored, as the standard says.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ...errors import InvalidSyntax, LimitExceeded, Unsupported
from ..dfa_ops import difference, disjoint, union
from ..regex import regex_to_dfa
from . import nodes as N
from .ecma import pattern_dfa
from .formats import UNCHECKED_FORMATS, format_regex
from .nodes import (ANY, NEVER, TRUE, ArrayPart, Atom, Node, ObjectPart, SimpleObj, StrSpec,
                    node_and, node_not, node_or)
from .numbers import (bound_dfa, exact_number_dfa, integer_universe, multiple_of_dfa,
                      number_universe, to_decimal)
from .refs import Located, Registry
from .strings import any_string_dfa, literal_string_dfa

__all__ = ["SchemaCompiler", "SchemaAtom", "NotAtom", "ConstAtom"]


class SchemaAtom(Atom):
    """A located subschema as a conjunct."""

    def __init__(self, loc: Located) -> None:
        self.loc = loc
        self.key = ("S",) + loc.key


class NotAtom(Atom):
    """The negation of an ``Expr``."""

    def __init__(self, expr: frozenset) -> None:
        self.expr = expr
        self.key = ("N", expr)


class ConstAtom(Atom):
    """Exactly one JSON value (``const``/``enum`` members inside arrays and objects)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.key = ("C", json.dumps(value, sort_keys=True))


_FALSE_LOC = Located(False, "", 2020, "")
FALSE_EXPR = frozenset([SchemaAtom(_FALSE_LOC)])
N._FALSE_EXPR[0] = FALSE_EXPR

_MAX_EVAL_DEPTH = 200


class SchemaCompiler:
    """Evaluates located schemas into ``Node``s, collecting what it cannot express."""

    def __init__(self, registry: Registry, *, strict: bool = False, lenient: bool = False,
                 max_exprs: int = 20_000, max_seconds: float = 10.0) -> None:
        self.registry = registry
        self.max_seconds = max_seconds
        self.deadline = time.monotonic() + max_seconds
        self.strict = strict
        self.lenient = lenient
        self.problems: list[str] = []
        self.relaxations: list[str] = []
        self._schema_memo: dict[tuple, Node] = {}
        self._expr_memo: dict[frozenset, Node] = {}
        self._active: set[tuple] = set()
        self._where: list[str] = ["/"]
        self.max_exprs = max_exprs

    # -- reporting -------------------------------------------------------------------------
    def report(self, feature: str, message: str) -> None:
        """Record an inexpressible constraint at the current pointer (see module doc)."""
        entry = f"{self._where[-1] or '/'}: {feature}: {message}"
        if entry in self.problems:
            return
        self.problems.append(entry)
        if self.lenient:
            self.relaxations.append(entry)

    def relax(self, feature: str, message: str) -> None:
        """Record a relaxation that is allowed even when not lenient (unknown formats)."""
        entry = f"{self._where[-1] or '/'}: {feature}: {message}"
        if entry not in self.relaxations:
            self.relaxations.append(entry)

    def neg(self, expr: frozenset) -> frozenset:
        if len(expr) == 1:
            (a,) = tuple(expr)
            if isinstance(a, NotAtom):
                return a.expr
        return frozenset([NotAtom(expr)])

    # -- expressions -----------------------------------------------------------------------
    def sub(self, schema: Any, parent: Located, suffix: str) -> frozenset:
        """The Expr of subschema ``schema`` of ``parent`` (``suffix``: pointer part)."""
        if schema is True or schema == {}:
            return TRUE
        if schema is False:
            return FALSE_EXPR
        if not isinstance(schema, dict):
            raise InvalidSyntax(f"a schema must be an object or a boolean, got "
                                f"{type(schema).__name__} at {parent.pointer}{suffix}")
        return frozenset([SchemaAtom(self.registry.enter(schema, parent, suffix))])

    def check_time(self) -> None:
        """Raise LimitExceeded once the compile has run past ``max_seconds``."""
        if time.monotonic() > self.deadline:
            raise LimitExceeded("compiling the schema takes too long",
                                limit="max_compile_seconds", value=self.max_seconds,
                                hint="simplify the schema or raise max_compile_seconds")

    def eval_expr(self, expr: frozenset) -> Node:
        hit = self._expr_memo.get(expr)
        if hit is not None:
            return hit
        self.check_time()
        if len(self._expr_memo) > self.max_exprs:
            raise LimitExceeded("the schema expands into too many distinct subschema "
                                "combinations", limit="max_exprs", value=self.max_exprs)
        node = ANY()
        for atom in sorted(expr, key=_atom_order):
            node = node_and(node, self.eval_atom(atom))
            if node.is_empty():
                break
        self._expr_memo[expr] = node
        return node

    def eval_atom(self, atom: Atom) -> Node:
        if isinstance(atom, SchemaAtom):
            return self.eval_schema(atom.loc)
        if isinstance(atom, NotAtom):
            return node_not(self.eval_expr(atom.expr), self)
        if isinstance(atom, ConstAtom):
            return self.const_node(atom.value)
        raise TypeError(atom)

    def const_node(self, v: Any) -> Node:
        """Exactly the JSON value ``v`` (numbers by value: 1 and 1.0 are equal)."""
        if v is None:
            return Node(null=True)
        if isinstance(v, bool):
            return Node(true=v, false=not v)
        if isinstance(v, (int, float)):
            return Node(number=exact_number_dfa(to_decimal(v)))
        if isinstance(v, str):
            d = literal_string_dfa(v)
            return NEVER if d.is_empty() else Node(string=StrSpec(d))
        if isinstance(v, list):
            return Node(arrays=(ArrayPart(tuple(frozenset([ConstAtom(x)]) for x in v),
                                          FALSE_EXPR, len(v), len(v)),))
        if isinstance(v, dict):
            props = tuple((k, frozenset([ConstAtom(x)])) for k, x in v.items())
            return Node(objects=(ObjectPart((SimpleObj(props, (), FALSE_EXPR),),
                                            frozenset(v)),))
        raise InvalidSyntax(f"not a JSON value: {v!r}")

    def enum_node(self, values: list) -> Node:
        """Union of constants; all strings at once as one trie DFA (a long enum must not
        cost one DFA product per member)."""
        u = NEVER
        words = [v for v in values if isinstance(v, str)]
        if words:
            from .emit import _names_dfa
            d = _names_dfa(words)
            if not d.is_empty():
                u = Node(string=StrSpec(d))
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            from .numbers import exact_numbers_dfa
            u = node_or(u, Node(number=exact_numbers_dfa(tuple(to_decimal(v) for v in numbers))))
        for v in values:
            if not isinstance(v, str) and (isinstance(v, bool) or
                                           not isinstance(v, (int, float))):
                u = node_or(u, self.const_node(v))
        return u

    # -- schemas ---------------------------------------------------------------------------
    def eval_schema(self, loc: Located) -> Node:
        s = loc.schema
        if s is True:
            return ANY()
        if s is False:
            return NEVER
        key = loc.key
        hit = self._schema_memo.get(key)
        if hit is not None:
            return hit
        if key in self._active or len(self._active) > _MAX_EVAL_DEPTH:
            raise Unsupported("a $ref cycle that never descends into an array or object "
                              "(infinite recursion)", feature="$ref", where=loc.pointer or "/")
        self._active.add(key)
        self._where.append(loc.pointer)
        try:
            node = self._eval(loc)
        finally:
            self._active.discard(key)
            self._where.pop()
        self._schema_memo[key] = node
        return node

    def _eval(self, loc: Located) -> Node:
        s: dict = loc.schema
        d = loc.draft
        node = ANY()
        if "$ref" in s:
            ref = s["$ref"]
            if not isinstance(ref, str):
                raise InvalidSyntax(f"$ref must be a string at {loc.pointer or '/'}")
            target = self.registry.resolve(ref, loc)
            node = node_and(node, self.eval_schema(target))
            if d <= 7:
                return node
        for kw in ("$dynamicRef", "$recursiveRef"):
            if kw in s:
                self.report(kw, "dynamic references are not supported")
        if "type" in s:
            node = node_and(node, _type_node(s["type"], loc))
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise InvalidSyntax(f"enum must be an array at {loc.pointer or '/'}")
            node = node_and(node, self.enum_node(s["enum"]))
        if "const" in s and d >= 6:
            node = node_and(node, self.const_node(s["const"]))
        if node.number is not None:
            node = replace(node, number=self._numbers(s, d, node.number))
        if node.string is not None:
            node = replace(node, string=self._strings(s, node.string))
        if node.arrays:
            part = self._array_part(s, loc)
            if part is not None:
                node = replace(node, arrays=N._product(node.arrays, (part,), N._merge_arrays))
        if node.objects:
            part = self._object_part(s, loc)
            if part is not None:
                node = replace(node, objects=N._product(node.objects, (part,),
                                                        N._merge_objects))
            node = self._dependent_schemas(s, loc, node)
        for i, sub in enumerate(_list(s, "allOf", loc)):
            node = node_and(node, self.eval_expr(self.sub(sub, loc, f"/allOf/{i}")))
        if "anyOf" in s:
            u = NEVER
            for i, sub in enumerate(_list(s, "anyOf", loc)):
                u = node_or(u, self.eval_expr(self.sub(sub, loc, f"/anyOf/{i}")))
            node = node_and(node, u)
        if "oneOf" in s:
            branches = [self.eval_expr(self.sub(sub, loc, f"/oneOf/{i}"))
                        for i, sub in enumerate(_list(s, "oneOf", loc))]
            node = node_and(node, self._one_of(branches))
        if "not" in s:
            node = node_and(node, node_not(self.eval_expr(self.sub(s["not"], loc, "/not")),
                                           self))
        if "if" in s and d >= 7 and ("then" in s or "else" in s):
            cond = self.sub(s["if"], loc, "/if")
            then = self.sub(s.get("then", True), loc, "/then")
            els = self.sub(s.get("else", True), loc, "/else")
            node = node_and(node, node_or(self.eval_expr(cond | then),
                                          self.eval_expr(self.neg(cond) | els)))
        return node

    # -- scalars ---------------------------------------------------------------------------
    def _numbers(self, s: dict, d: int, dfa):
        def num(kw: str) -> Decimal | None:
            v = s.get(kw)
            if v is None or isinstance(v, bool):
                return None
            return to_decimal(v)

        cons = []
        lo, hi = num("minimum"), num("maximum")
        if d <= 4:
            if lo is not None:
                cons.append(bound_dfa(lo, "gt" if s.get("exclusiveMinimum") is True else "ge"))
            if hi is not None:
                cons.append(bound_dfa(hi, "lt" if s.get("exclusiveMaximum") is True else "le"))
        else:
            if lo is not None:
                cons.append(bound_dfa(lo, "ge"))
            if hi is not None:
                cons.append(bound_dfa(hi, "le"))
            xlo, xhi = num("exclusiveMinimum"), num("exclusiveMaximum")
            if xlo is not None:
                cons.append(bound_dfa(xlo, "gt"))
            if xhi is not None:
                cons.append(bound_dfa(xhi, "lt"))
        m = num("multipleOf")
        if m is not None and m > 0:
            cons.append(multiple_of_dfa(m))
        for c in cons:
            if dfa is None:
                break
            dfa = N._dfa_and(dfa, c)
        return dfa

    def _strings(self, s: dict, spec: StrSpec) -> StrSpec | None:
        lo = s.get("minLength")
        hi = s.get("maxLength")
        cons = StrSpec(any_string_dfa(), int(lo) if isinstance(lo, (int, float)) else 0,
                       int(hi) if isinstance(hi, (int, float)) else None)
        if isinstance(s.get("pattern"), str):
            try:
                cons = N._str_and(cons, StrSpec(pattern_dfa(s["pattern"])))
            except Unsupported as e:
                self.report("pattern", str(e).splitlines()[0] + f" in {s['pattern']!r}")
        fmt = s.get("format")
        if isinstance(fmt, str) and cons is not None:
            rx = format_regex(fmt)
            if rx is not None:
                cons = N._str_and(cons, StrSpec(_format_dfa(fmt, rx)))
            else:
                kind = "cannot be checked" if fmt in UNCHECKED_FORMATS else "is unknown"
                self.relax("format", f"format {fmt!r} {kind}: any string accepted")
        return N._str_and(spec, cons)

    # -- arrays ----------------------------------------------------------------------------
    def _array_part(self, s: dict, loc: Located) -> ArrayPart | None:
        d = loc.draft
        prefix: tuple = ()
        rest = TRUE
        items = s.get("items")
        if d >= 2020:
            if isinstance(s.get("prefixItems"), list):
                prefix = tuple(self.sub(x, loc, f"/prefixItems/{i}")
                               for i, x in enumerate(s["prefixItems"]))
            if "items" in s:
                rest = self.sub(items, loc, "/items")
        else:
            if isinstance(items, list):
                prefix = tuple(self.sub(x, loc, f"/items/{i}") for i, x in enumerate(items))
                if "additionalItems" in s:
                    rest = self.sub(s["additionalItems"], loc, "/additionalItems")
            elif "items" in s:
                rest = self.sub(items, loc, "/items")
        lo = int(s.get("minItems", 0) or 0)
        hi = s.get("maxItems")
        hi = int(hi) if isinstance(hi, (int, float)) else None
        contains: tuple = ()
        if "contains" in s and d >= 6:
            cmin = s.get("minContains", 1) if d >= 2019 else 1
            cmax = s.get("maxContains") if d >= 2019 else None
            c = self.sub(s["contains"], loc, "/contains")
            if cmin > 0 or cmax is not None:
                contains = ((c, int(cmin), None if cmax is None else int(cmax)),)
        unique = s.get("uniqueItems") is True
        if "unevaluatedItems" in s and s["unevaluatedItems"] is not True:
            if any(k in s for k in ("allOf", "anyOf", "oneOf", "not", "if", "$ref",
                                    "$dynamicRef", "$recursiveRef", "contains")):
                self.report("unevaluatedItems", "only supported without applicators "
                            "(allOf/anyOf/oneOf/not/if/$ref/contains) in the same schema")
            elif "items" not in s and not (d < 2020 and "additionalItems" in s
                                           and isinstance(items, list)):
                rest = self.sub(s["unevaluatedItems"], loc, "/unevaluatedItems")
        part = ArrayPart(prefix, rest, lo, hi, contains, unique, loc.pointer)
        return None if part.trivial() else part

    # -- objects ---------------------------------------------------------------------------
    def _object_part(self, s: dict, loc: Located) -> ObjectPart | None:
        d = loc.draft
        props = tuple((name, self.sub(sub, loc, f"/properties/{_esc(name)}"))
                      for name, sub in _map(s, "properties", loc).items())
        patterns = []
        for src, sub in _map(s, "patternProperties", loc).items():
            try:
                pdfa = pattern_dfa(src)
            except Unsupported as e:
                self.report("patternProperties", str(e).splitlines()[0] + f" in {src!r}")
                pdfa = any_string_dfa()
            patterns.append((src, pdfa, self.sub(sub, loc, f"/patternProperties/{_esc(src)}")))
        if "additionalProperties" in s:
            additional = self.sub(s["additionalProperties"], loc, "/additionalProperties")
        elif self.strict:
            additional = FALSE_EXPR
        else:
            additional = TRUE
        if "unevaluatedProperties" in s and s["unevaluatedProperties"] is not True:
            if any(k in s for k in ("allOf", "anyOf", "oneOf", "not", "if", "$ref",
                                    "dependentSchemas", "$dynamicRef", "$recursiveRef")):
                self.report("unevaluatedProperties", "only supported without applicators "
                            "(allOf/anyOf/oneOf/not/if/$ref/dependentSchemas) in the same "
                            "schema")
            elif "additionalProperties" not in s:
                additional = self.sub(s["unevaluatedProperties"], loc,
                                      "/unevaluatedProperties")
        names = None
        if "propertyNames" in s:
            pn = self.eval_expr(self.sub(s["propertyNames"], loc, "/propertyNames"))
            names = pn.string.materialize() if pn.string is not None else \
                regex_to_dfa("[^\\x00-\\U0010ffff]")
        required = frozenset(x for x in s.get("required", ()) if isinstance(x, str)) \
            if isinstance(s.get("required"), list) else frozenset()
        lo = int(s.get("minProperties", 0) or 0)
        hi = s.get("maxProperties")
        hi = int(hi) if isinstance(hi, (int, float)) else None
        deps = []
        dep_kw = "dependentRequired" if d >= 2019 else "dependencies"
        for name, v in _map(s, dep_kw, loc).items():
            if isinstance(v, list):
                deps.append((name, frozenset(v)))
        simple = SimpleObj(props, tuple(patterns), additional, names)
        part = ObjectPart((simple,), required, lo, hi, tuple(deps))
        return None if part.trivial() else part

    def _dependent_schemas(self, s: dict, loc: Located, node: Node) -> Node:
        kw = "dependentSchemas" if loc.draft >= 2019 else "dependencies"
        for name, sub in _map(s, kw, loc).items():
            if isinstance(sub, list):
                continue
            expr = self.sub(sub, loc, f"/{kw}/{_esc(name)}")
            dep = self.eval_expr(expr)
            absent = Node(objects=(ObjectPart((SimpleObj(((name, FALSE_EXPR),)),)),))
            present = node_and(Node(objects=(ObjectPart(required=frozenset([name])),)), dep)
            present = replace(present, null=False, true=False, false=False, number=None,
                              string=None, arrays=())
            nonobj = replace(ANY(), objects=())
            node = node_and(node, node_or(nonobj, node_or(absent, present)))
        return node

    # -- oneOf -----------------------------------------------------------------------------
    def _one_of(self, branches: list[Node]) -> Node:
        """Exactly one branch: exact for scalars (DFA algebra) and for pairwise-disjoint
        arrays/objects; otherwise reported (relaxed: at least one)."""
        null = sum(b.null for b in branches) == 1
        true = sum(b.true for b in branches) == 1
        false = sum(b.false for b in branches) == 1
        number = _exactly_one([b.number for b in branches])
        strs = [b.string for b in branches]
        if sum(x is not None for x in strs) <= 1:
            string = next((x for x in strs if x is not None), None)
        else:
            d = _exactly_one([None if x is None else x.materialize() for x in strs])
            string = None if d is None else StrSpec(d)
        out = {}
        for kind in ("arrays", "objects"):
            groups = [getattr(b, kind) for b in branches]
            idx = [i for i, g in enumerate(groups) if g]
            overlap = {i: [j for j in idx if j != i
                           and not self._parts_disjoint(groups[i], groups[j], kind)]
                       for i in idx}
            merged: tuple = ()
            for i in idx:
                if not overlap[i]:
                    merged += groups[i]
                    continue
                try:  # exact: this branch and not the overlapping others
                    t = Node(**{kind: groups[i]})
                    for j in overlap[i]:
                        t = node_and(t, node_not(Node(**{kind: groups[j]}), self))
                    merged += getattr(t, kind)
                except LimitExceeded:
                    self.report("oneOf", f"branches may both match the same {kind[:-1]} and "
                                "exclusivity is too costly to express; not enforced")
                    merged += groups[i]
            out[kind] = merged
        arrays, objects = out["arrays"], out["objects"]
        return Node(null, true, false, number, string, arrays, objects)

    def _parts_disjoint(self, xs: tuple, ys: tuple, kind: str) -> bool:
        for x in xs:
            for y in ys:
                if kind == "arrays":
                    if not _ranges_disjoint(x.lo, x.hi, y.lo, y.hi):
                        return False
                elif not self._objects_disjoint(x, y):
                    return False
        return True

    def _objects_disjoint(self, x: ObjectPart, y: ObjectPart) -> bool:
        if _ranges_disjoint(x.lo, x.hi, y.lo, y.hi):
            return True
        for name in x.required & y.required:
            vx = self._prop_value(x, name)
            vy = self._prop_value(y, name)
            if vx is None or vy is None:
                continue
            if _scalar_disjoint(vx, vy):
                return True
        for name in x.required:  # y forbids a name x requires
            vy = self._prop_value(y, name)
            if vy is not None and vy.is_empty():
                return True
        for name in y.required:
            vx = self._prop_value(x, name)
            if vx is not None and vx.is_empty():
                return True
        return False

    def _prop_value(self, part: ObjectPart, name: str) -> Node | None:
        expr: frozenset = TRUE
        for c in part.conj:
            found = [e for n, e in c.props if n == name]
            if found:
                for e in found:
                    expr = expr | e
            elif not c.patterns:
                expr = expr | c.additional
            else:
                return None
        return self.eval_expr(expr)


def _exactly_one(dfas: list):
    present = [x for x in dfas if x is not None]
    if len(present) <= 1:
        return present[0] if present else None
    out = None
    for i, a in enumerate(dfas):
        if a is None:
            continue
        others = None
        for j, b in enumerate(dfas):
            if j != i and b is not None:
                others = b if others is None else union(others, b)
        only = a if others is None else difference(a, others)
        if not only.is_empty():
            out = only if out is None else union(out, only)
    return out


def _scalar_disjoint(a: Node, b: Node) -> bool:
    if a.arrays and b.arrays or a.objects and b.objects:
        return False
    if (a.null and b.null) or (a.true and b.true) or (a.false and b.false):
        return False
    if a.number is not None and b.number is not None and not disjoint(a.number, b.number):
        return False
    if a.string is not None and b.string is not None:
        if N._str_and(a.string, b.string) is not None and not disjoint(
                a.string.materialize(), b.string.materialize()):
            return False
    return True


def _ranges_disjoint(lo1: int, hi1, lo2: int, hi2) -> bool:
    return (hi1 is not None and hi1 < lo2) or (hi2 is not None and hi2 < lo1)


_FORMAT_CACHE: dict[str, Any] = {}


def _format_dfa(name: str, rx: str):
    hit = _FORMAT_CACHE.get(name)
    if hit is None:
        hit = _FORMAT_CACHE[name] = regex_to_dfa(rx)
    return hit


def _type_node(t: Any, loc: Located) -> Node:
    types = [t] if isinstance(t, str) else t
    if not isinstance(types, list) or not all(isinstance(x, str) for x in types):
        raise InvalidSyntax(f"type must be a string or a list of strings at "
                            f"{loc.pointer or '/'}")
    known = {"null", "boolean", "integer", "number", "string", "array", "object"}
    bad = [x for x in types if x not in known]
    if bad:
        raise InvalidSyntax(f"unknown type {bad[0]!r} at {loc.pointer or '/'}")
    number = None
    if "number" in types:
        number = number_universe()
    elif "integer" in types:
        # draft 4 and earlier: 1.0 is not an integer (as jsonschema's Draft4Validator)
        number = integer_universe() if loc.draft >= 6 else _plain_integers()
    return Node("null" in types, "boolean" in types, "boolean" in types, number,
                StrSpec(any_string_dfa()) if "string" in types else None,
                (ArrayPart(),) if "array" in types else (),
                (ObjectPart(),) if "object" in types else ())


_PLAIN_INT: list = []


def _plain_integers():
    if not _PLAIN_INT:
        _PLAIN_INT.append(regex_to_dfa(r"-?(?:0|[1-9][0-9]*)"))
    return _PLAIN_INT[0]


def _list(s: dict, kw: str, loc: Located) -> list:
    v = s.get(kw, [])
    if not isinstance(v, list):
        raise InvalidSyntax(f"{kw} must be an array at {loc.pointer or '/'}")
    return v


def _map(s: dict, kw: str, loc: Located) -> dict:
    v = s.get(kw, {})
    if not isinstance(v, dict):
        raise InvalidSyntax(f"{kw} must be an object at {loc.pointer or '/'}")
    return v


def _esc(name: str) -> str:
    return str(name).replace("~", "~0").replace("/", "~1")


def _atom_order(a: Atom) -> tuple:
    """A deterministic order of conjuncts (the same in every process: no object ids, no set
    iteration), which fixes the order in which allOf branches merge: constants, subschemas
    by base URI and JSON pointer, negations by their own conjuncts."""
    if isinstance(a, ConstAtom):
        return (0, a.key[1])
    if isinstance(a, SchemaAtom):
        return (1, a.loc.base, a.loc.pointer)
    if isinstance(a, NotAtom):
        return (2, tuple(sorted(_atom_order(x) for x in a.expr)))
    return (3, repr(a.key))
