"""JSON Schema -> grammar IR (drafts 4, 6, 7, 2019-09, 2020-12).

    ir, relaxations = schema_to_ir({"type": "object", "properties": {...}})

Modules: ``refs`` ($ref/$id/$anchor, drafts, remotes), ``ecma`` (ECMA-262 patterns),
``strings`` (character-level constraints and their JSON encoding), ``numbers`` (number-text
DFAs: ranges, integers, multipleOf), ``formats``, ``nodes`` (the typed normal form and its
boolean algebra), ``compiler`` (schema walk), ``emit`` (IR rules: syntax, whitespace,
property order). See ``bytegram.Grammar.from_json_schema`` for the user-facing contract.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from ...errors import InvalidArgument, InvalidSyntax, Unsupported
from ..ir import GrammarIR, productive_nonterminals
from .compiler import SchemaAtom, SchemaCompiler
from .emit import Emitter
from .refs import DEFAULT_BASE, Registry, draft_of

__all__ = ["schema_to_ir", "load_schema"]


def load_schema(schema: Any) -> Any:
    """A schema given as a dict/bool, a JSON string, or a Pydantic model class -> dict/bool."""
    if isinstance(schema, (dict, bool)):
        return schema
    if isinstance(schema, (str, bytes)):
        try:
            return json.loads(schema)
        except json.JSONDecodeError as e:
            raise InvalidSyntax(f"the schema is not valid JSON: {e.msg}", source=str(schema),
                                pos=e.pos) from None
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        return schema.model_json_schema()
    raise InvalidArgument(f"a schema must be a dict, a bool, a JSON string or a Pydantic "
                          f"model class, got {type(schema).__name__}")


def schema_to_ir(schema: Any, *, whitespace: str = "compact", strict: bool = False,
                 lenient: bool = False, property_order: str = "schema",
                 max_whitespace: int = 16, max_object_states: int = 256,
                 draft: int | None = None, base_uri: str = DEFAULT_BASE,
                 max_compile_seconds: float = 10.0,
                 remotes: Mapping[str, Any] | Callable[[str], Any] | None = None
                 ) -> tuple[GrammarIR, tuple[str, ...]]:
    """Compile ``schema`` into a ``GrammarIR`` and the tuple of relaxations.

    Raises ``Unsupported`` (listing every offending keyword with its JSON pointer) unless
    ``lenient``; ``LimitExceeded`` when a size limit is hit; ``InvalidSyntax`` for a
    malformed schema; ``LimitExceeded(limit="max_compile_seconds")`` when compiling runs
    past ``max_compile_seconds`` (checked between steps; one DFA product is bounded by its
    own state limit). See the ``emit`` module for the serialization and order policies.
    """
    if whitespace not in ("compact", "flexible"):
        raise InvalidArgument(f"whitespace must be 'compact' or 'flexible', got {whitespace!r}")
    if property_order not in ("schema", "any"):
        raise InvalidArgument(f"property_order must be 'schema' or 'any', got "
                              f"{property_order!r}")
    if not isinstance(max_whitespace, int) or max_whitespace < 0:
        raise InvalidArgument("max_whitespace must be a non-negative int")
    schema = load_schema(schema)
    d = draft if draft is not None else draft_of(schema, 2020)
    reg = Registry(schema, draft=d, base_uri=base_uri, remotes=remotes)
    cx = SchemaCompiler(reg, strict=strict, lenient=lenient, max_seconds=max_compile_seconds)
    em = Emitter(cx, whitespace=whitespace, max_whitespace=max_whitespace,
                 property_order=property_order, max_object_states=max_object_states)
    root = cx.sub(schema, reg.root, "") if not isinstance(schema, dict) else \
        frozenset([SchemaAtom(reg.root)])
    start = em.expr(root)
    if cx.problems and not lenient:
        raise Unsupported("the schema uses features bytegram cannot enforce exactly:\n  "
                          + "\n  ".join(cx.problems), feature="json-schema",
                          hint="pass lenient=True to accept a superset (listed in "
                               "grammar.relaxations)")
    if start is None:
        raise Unsupported("the schema accepts no JSON document at all",
                          feature="unsatisfiable schema", where="/")
    _prune(em, start)
    ir = em.b.build(start)
    return ir, tuple(cx.relaxations)


def _prune(em: Emitter, start: str) -> None:
    """Drop rules using symbols that derive no finite document (e.g. a required property
    whose schema recurses forever); the start symbol must survive."""
    b = em.b
    terms = b.terminals
    rules = b.rules
    productive = productive_nonterminals(rules, terms)
    if start not in productive:
        raise Unsupported("the schema accepts no finite JSON document",
                          feature="unsatisfiable schema", where="/")
    b.rules = [r for r in rules if r.lhs in productive
               and all(s in terms or s in productive for s in r.rhs)]
