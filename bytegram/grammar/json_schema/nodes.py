"""The normalized form of a schema: a union over JSON types, with exact boolean algebra.

A ``Node`` is the set of JSON values a schema (or a conjunction of schemas, an ``Expr``)
allows, split by type:

- ``null``, ``true``, ``false``: booleans (allowed or not);
- ``number``: a DFA over number texts (exact within the number universe, see ``numbers``);
- ``string``: a ``StrSpec``, a character-level DFA plus a length range kept apart (large
  ``maxLength`` values would make the DFA huge);
- ``arrays``/``objects``: unions of ``ArrayPart``/``ObjectPart``, each a conjunction of
  keyword constraints whose subschemas stay unevaluated ``Expr``s (so recursion is lazy).

Intersection (``allOf``) is exact for every type: scalars by DFA products, parts by merging
keyword lists. Union (``anyOf``) is exact. Complement (``not``) is exact for scalars and for
the array/object constraints that have a dual (``minItems`` <-> ``maxItems``, ``required``
-> some name absent, ...); the rest is reported through ``Ctx.report`` (Unsupported unless
lenient, then relaxed to a superset).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from ...errors import LimitExceeded
from ..dfa import ByteDFA
from ..dfa_ops import difference, intersect, union
from .numbers import number_universe
from .strings import any_string_dfa, length_dfa

__all__ = ["Expr", "Atom", "Node", "StrSpec", "ArrayPart", "ObjectPart", "SimpleObj",
           "TRUE", "node_and", "node_or", "node_not", "ANY", "NEVER", "MAX_PARTS"]

MAX_PARTS = 64


class Atom:
    """A conjunct of an ``Expr``: a located schema (``SchemaAtom`` in the compiler) or the
    negation of an ``Expr`` (``NotAtom``). Hashable by ``key``."""

    key: tuple

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Atom) and self.key == other.key


Expr = frozenset  # frozenset[Atom]: the conjunction of its atoms; empty = every value
TRUE: frozenset = frozenset()


@dataclass(frozen=True, eq=False)
class StrSpec:
    """Strings whose value is in ``dfa`` (character level) with ``lo <= len <= hi``."""

    dfa: ByteDFA
    lo: int = 0
    hi: int | None = None

    def materialize(self) -> ByteDFA:
        if self.lo == 0 and self.hi is None:
            return self.dfa
        return intersect(self.dfa, length_dfa(self.lo, self.hi))

    def is_any(self) -> bool:
        return self.dfa is any_string_dfa() and self.lo == 0 and self.hi is None


@dataclass(frozen=True)
class ArrayPart:
    """Arrays whose item ``i`` satisfies ``prefix[i]`` (``rest`` beyond), with
    ``lo <= length <= hi``, ``contains`` (expr, min, max) counts and ``unique`` items."""

    prefix: tuple = ()
    rest: frozenset = TRUE
    lo: int = 0
    hi: int | None = None
    contains: tuple = ()
    unique: bool = False
    where: str = field(default="", compare=False)  # JSON pointer, for messages

    def item(self, i: int) -> frozenset:
        return self.prefix[i] if i < len(self.prefix) else self.rest

    def trivial(self) -> bool:
        return (all(not p for p in self.prefix) and not self.rest and self.lo == 0
                and self.hi is None and not self.contains and not self.unique)


@dataclass(frozen=True, eq=False)
class SimpleObj:
    """One schema's object keywords: declared ``props``, ``patterns`` (ECMA regex, char DFA,
    expr), ``additional`` (applies to keys matching neither), ``names`` (propertyNames as a
    char DFA, None = any key)."""

    props: tuple = ()  # ((name, expr), ...)
    patterns: tuple = ()  # ((source, char dfa, expr), ...)
    additional: frozenset = TRUE
    names: ByteDFA | None = None


@dataclass(frozen=True, eq=False)
class ObjectPart:
    """The conjunction of ``conj`` (SimpleObj), ``required`` names, ``lo <= #props <= hi``
    and ``deps`` ((name, frozenset of names required when name is present), ...)."""

    conj: tuple = ()
    required: frozenset = frozenset()
    lo: int = 0
    hi: int | None = None
    deps: tuple = ()

    def trivial(self) -> bool:
        return (all(not c.props and not c.patterns and not c.additional and c.names is None
                    for c in self.conj)
                and not self.required and self.lo == 0 and self.hi is None and not self.deps)


@dataclass(frozen=True, eq=False)
class Node:
    """A set of JSON values, split by type (see module docstring)."""

    null: bool = False
    true: bool = False
    false: bool = False
    number: ByteDFA | None = None
    string: StrSpec | None = None
    arrays: tuple = ()
    objects: tuple = ()

    def is_empty(self) -> bool:
        return not (self.null or self.true or self.false or self.number is not None
                    or self.string is not None or self.arrays or self.objects)


def ANY() -> Node:
    return Node(True, True, True, number_universe(), StrSpec(any_string_dfa()),
                (ArrayPart(),), (ObjectPart(),))


NEVER = Node()


class Ctx(Protocol):
    def report(self, feature: str, message: str) -> None: ...
    def neg(self, expr: frozenset) -> frozenset: ...


def _dfa_and(a: ByteDFA | None, b: ByteDFA | None) -> ByteDFA | None:
    if a is None or b is None:
        return None
    if a is b:
        return a
    r = intersect(a, b)
    return None if r.is_empty() else r


def _dfa_or(a: ByteDFA | None, b: ByteDFA | None) -> ByteDFA | None:
    if a is None:
        return b
    if b is None or a is b:
        return a
    return union(a, b)


def _str_and(a: StrSpec | None, b: StrSpec | None) -> StrSpec | None:
    if a is None or b is None:
        return None
    dfa = a.dfa if b.dfa is any_string_dfa() else b.dfa if a.dfa is any_string_dfa() else \
        _dfa_and(a.dfa, b.dfa)
    if dfa is None or dfa.is_empty():
        return None
    lo = max(a.lo, b.lo)
    his = [h for h in (a.hi, b.hi) if h is not None]
    hi = min(his) if his else None
    if hi is not None and lo > hi:
        return None
    return StrSpec(dfa, lo, hi)


def _str_or(a: StrSpec | None, b: StrSpec | None) -> StrSpec | None:
    if a is None:
        return b
    if b is None:
        return a
    if a.is_any() or b.is_any():
        return a if a.is_any() else b
    if (a.lo, a.hi) == (b.lo, b.hi):
        return StrSpec(_dfa_or(a.dfa, b.dfa), a.lo, a.hi)
    return StrSpec(union(a.materialize(), b.materialize()))


def _merge_arrays(a: ArrayPart, b: ArrayPart) -> ArrayPart | None:
    n = max(len(a.prefix), len(b.prefix))
    prefix = tuple(a.item(i) | b.item(i) for i in range(n))
    lo = max(a.lo, b.lo)
    his = [h for h in (a.hi, b.hi) if h is not None]
    hi = min(his) if his else None
    if hi is not None and lo > hi:
        return None
    return ArrayPart(prefix, a.rest | b.rest, lo, hi, a.contains + b.contains,
                     a.unique or b.unique, a.where or b.where)


def _merge_objects(a: ObjectPart, b: ObjectPart) -> ObjectPart | None:
    lo = max(a.lo, b.lo)
    his = [h for h in (a.hi, b.hi) if h is not None]
    hi = min(his) if his else None
    if hi is not None and lo > hi:
        return None
    return ObjectPart(a.conj + b.conj, a.required | b.required, lo, hi, a.deps + b.deps)


def _product(xs: tuple, ys: tuple, merge: Callable) -> tuple:
    out = []
    for x in xs:
        for y in ys:
            m = merge(x, y)
            if m is not None:
                out.append(m)
    if len(out) > MAX_PARTS:
        raise LimitExceeded("allOf/not over anyOf branches multiplies into too many "
                            "alternatives", limit="max_parts", value=MAX_PARTS,
                            hint="factor the schema so that fewer alternatives combine")
    return tuple(out)


def node_and(a: Node, b: Node) -> Node:
    """Exact intersection."""
    return Node(a.null and b.null, a.true and b.true, a.false and b.false,
                _dfa_and(a.number, b.number), _str_and(a.string, b.string),
                _product(a.arrays, b.arrays, _merge_arrays),
                _product(a.objects, b.objects, _merge_objects))


def node_or(a: Node, b: Node) -> Node:
    """Exact union."""
    arrays = a.arrays + b.arrays
    objects = a.objects + b.objects
    if any(p.trivial() for p in arrays):
        arrays = (ArrayPart(),)
    if any(p.trivial() for p in objects):
        objects = (ObjectPart(),)
    return Node(a.null or b.null, a.true or b.true, a.false or b.false,
                _dfa_or(a.number, b.number), _str_or(a.string, b.string), arrays, objects)


def _not_array(p: ArrayPart, cx: Ctx) -> tuple:
    """Arrays not in ``p``: a union, one part per negated constraint."""
    out: list[ArrayPart] = []
    if p.lo > 0:
        out.append(ArrayPart(hi=p.lo - 1))
    if p.hi is not None:
        out.append(ArrayPart(lo=p.hi + 1))
    for i, e in enumerate(p.prefix):
        if e:
            pre = tuple(TRUE for _ in range(i)) + (cx.neg(e),)
            out.append(ArrayPart(prefix=pre, lo=i + 1))
    if p.rest:
        if p.prefix:
            cx.report("not", "'not' of 'items' after prefix items is not supported")
            out.append(ArrayPart())
        else:
            out.append(ArrayPart(contains=((cx.neg(p.rest), 1, None),)))
    for c, cmin, cmax in p.contains:
        if cmin > 0:
            out.append(ArrayPart(contains=((c, 0, cmin - 1),)))
        if cmax is not None:
            out.append(ArrayPart(contains=((c, cmax + 1, None),)))
    if p.unique:
        cx.report("not", "'not' of 'uniqueItems' is not supported")
        out.append(ArrayPart())
    return tuple(out)


def _not_object(p: ObjectPart, cx: Ctx) -> tuple:
    out: list[ObjectPart] = []
    for name in sorted(p.required):
        out.append(ObjectPart((SimpleObj(props=((name, _FALSE_EXPR[0]),)),)))
    if p.lo > 0:
        out.append(ObjectPart(hi=p.lo - 1))
    if p.hi is not None:
        out.append(ObjectPart(lo=p.hi + 1))
    for name, needed in p.deps:
        for other in sorted(needed):
            out.append(ObjectPart((SimpleObj(props=((other, _FALSE_EXPR[0]),)),),
                                  required=frozenset([name])))
    for c in p.conj:
        for name, e in c.props:
            if e:
                out.append(ObjectPart((SimpleObj(props=((name, cx.neg(e)),)),),
                                      required=frozenset([name])))
        if c.patterns or c.additional or c.names is not None:
            cx.report("not", "'not' of patternProperties / additionalProperties / "
                      "propertyNames is not supported")
            out.append(ObjectPart())
    return tuple(out)


_FALSE_EXPR: list = [None]  # set by the compiler: the Expr of the schema ``false``


def _and_all(parts_list: list[tuple], merge: Callable, universe: tuple) -> tuple:
    acc = universe
    for parts in parts_list:
        acc = _product(acc, parts, merge)
    return acc


def node_not(a: Node, cx: Ctx) -> Node:
    """Complement (exact where possible, otherwise reported and relaxed to a superset)."""
    number = None if a.number is None else difference(number_universe(), a.number)
    if a.number is None:
        number = number_universe()
    elif number.is_empty():
        number = None
    if a.string is None:
        string = StrSpec(any_string_dfa())
    else:
        d = difference(any_string_dfa(), a.string.materialize())
        string = None if d.is_empty() else StrSpec(d)
    if not a.arrays:
        arrays: tuple = (ArrayPart(),)
    elif any(p.trivial() for p in a.arrays):
        arrays = ()
    else:
        arrays = _and_all([_not_array(p, cx) for p in a.arrays], _merge_arrays, (ArrayPart(),))
    if not a.objects:
        objects: tuple = (ObjectPart(),)
    elif any(p.trivial() for p in a.objects):
        objects = ()
    else:
        objects = _and_all([_not_object(p, cx) for p in a.objects], _merge_objects,
                           (ObjectPart(),))
    return Node(not a.null, not a.true, not a.false, number, string, arrays, objects)
