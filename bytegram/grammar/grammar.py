"""Grammar: an immutable description of a language, compiled down to byte-level automata.

A ``Grammar`` is what users build (``Grammar.from_regex(...)``, ``Grammar.from_lark(...)``,
``Grammar.from_gbnf(...)``, ``Grammar.json()``) and what the rest of bytegram consumes.
``kind`` says what it compiles to (``"regex"``: one byte DFA; ``"cfg"``: a ``GrammarIR``),
``source`` is the text it was made from, and ``content_hash`` (sha256 of kind and source, plus
the IR's own hash for a context-free grammar) is the cache key for everything derived from
the grammar alone.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from .dfa import ByteDFA
from .regex import cached_regex_to_dfa

if TYPE_CHECKING:
    from .ir import GrammarIR

__all__ = ["Grammar"]


class Grammar:
    """An immutable, shareable grammar.

    Attributes:
        kind: ``"regex"`` or ``"cfg"`` (Lark, GBNF, the built-in JSON grammar).
        source: the text the grammar was built from (the pattern for a regex, the grammar
            text for Lark/GBNF, ``"json:compact"`` and the like for the JSON grammar).
        dfa: the minimal trimmed byte DFA of the language (for ``kind == "regex"``).
        ir: the grammar IR (for ``kind == "cfg"``).
        relaxations: what was relaxed or ignored while compiling (empty for a regex).
        content_hash: hex sha256 of ``kind`` and ``source`` (and of the IR when present).
    """

    __slots__ = ("kind", "source", "dfa", "ir", "relaxations", "content_hash")

    kind: str
    source: str
    dfa: ByteDFA | None
    ir: "GrammarIR | None"
    relaxations: tuple[str, ...]
    content_hash: str

    def __init__(self, kind: str, source: str, *, dfa: ByteDFA | None = None,
                 ir: "GrammarIR | None" = None, relaxations: tuple[str, ...] = ()) -> None:
        set_ = object.__setattr__
        set_(self, "kind", kind)
        set_(self, "source", source)
        set_(self, "dfa", dfa)
        set_(self, "ir", ir)
        set_(self, "relaxations", tuple(relaxations))
        h = self.hash_of(kind, source)
        if ir is not None:
            h = self.hash_of(kind, h + "\0" + ir.content_hash)
        set_(self, "content_hash", h)

    @staticmethod
    def hash_of(kind: str, source: str) -> str:
        """The content hash of a grammar of ``kind`` built from ``source``."""
        h = hashlib.sha256()
        h.update(kind.encode())
        h.update(b"\0")
        h.update(source.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    @classmethod
    def from_regex(cls, pattern: str, *, max_states: int = 100_000) -> "Grammar":
        """A Python-style regex; the language is its full matches.

        See :func:`bytegram.grammar.regex.regex_to_dfa` for the supported syntax, the
        semantics (ASCII ``\\d``/``\\w``/``\\s``; a leading ``^`` and trailing ``$`` are
        allowed) and the errors (``InvalidSyntax``, ``Unsupported``, ``LimitExceeded``).
        """
        return cls("regex", pattern, dfa=cached_regex_to_dfa(pattern, max_states=max_states))

    @classmethod
    def from_lark(cls, text: str, *, start: str = "start") -> "Grammar":
        """A Lark grammar (full Lark syntax; see :mod:`bytegram.grammar.lark_frontend` for
        the semantics: every reading is kept, priorities are ignored, lazy quantifiers
        match their full regular language). Errors: ``InvalidSyntax`` with line and column,
        ``Unsupported`` (``%declare``, lookaround, ...)."""
        from .lark_frontend import lark_to_ir

        ir, relaxations = lark_to_ir(text, start=start)
        source = text if start == "start" else f"{text}\n// start={start}"
        return cls("cfg", source, ir=ir, relaxations=relaxations)

    @classmethod
    def from_gbnf(cls, text: str, *, start: str = "root") -> "Grammar":
        """A llama.cpp GBNF grammar (root rule ``root``); see :mod:`bytegram.grammar.gbnf`."""
        from .gbnf import gbnf_to_ir

        ir = gbnf_to_ir(text, start=start)
        source = text if start == "root" else f"{text}\n# start={start}"
        return cls("cfg", source, ir=ir)

    @classmethod
    def from_ir(cls, ir: "GrammarIR", *, source: str | None = None) -> "Grammar":
        """A context-free grammar from a ready ``GrammarIR`` (front ends, JSON Schema)."""
        return cls("cfg", source if source is not None else f"ir:{ir.content_hash}", ir=ir)

    @classmethod
    def json(cls, *, whitespace: str = "compact", max_whitespace: int = 16) -> "Grammar":
        """Any JSON value (RFC 8259). ``whitespace="compact"``: no whitespace at all;
        ``"flexible"``: a run of at most ``max_whitespace`` JSON whitespace bytes
        (space, tab, newline, carriage return) wherever RFC 8259 allows whitespace (16 by
        default: enough for ``indent=2`` to depth 7; never unbounded, models loop on free
        whitespace). See :mod:`bytegram.grammar.json_grammar`."""
        from .json_grammar import json_ir

        ir = json_ir(whitespace=whitespace, max_whitespace=max_whitespace)
        source = "json:compact" if whitespace == "compact" else f"json:flexible:{max_whitespace}"
        return cls("cfg", source, ir=ir)

    @classmethod
    def from_json_schema(cls, schema: object, *, whitespace: str = "compact",
                         strict: bool = False, lenient: bool = False,
                         property_order: str = "schema", max_whitespace: int = 16,
                         max_object_states: int = 256, max_compile_seconds: float = 10.0,
                         remotes: object = None) -> "Grammar":
        """The JSON documents valid under a JSON Schema (a dict, a JSON string, or a Pydantic
        model class); drafts 4, 6, 7, 2019-09, 2020-12 (``$schema``; default 2020-12).

        ``whitespace``: ``"compact"`` (exactly the ``separators=(",", ":")`` form) or
        ``"flexible"`` (up to ``max_whitespace`` JSON whitespace characters around each
        ``{ } [ ] , :``, covering ``json.dumps`` defaults and ``indent=``).
        ``property_order``: ``"schema"`` (declared order; for generation) or ``"any"`` (any
        order, each declared name at most once while ``max_object_states`` allows; for
        checking arbitrary documents). ``strict=True`` forbids undeclared properties where
        ``additionalProperties`` is absent (OpenAI strict mode). ``remotes``: a mapping or
        callable URI -> schema for remote ``$ref`` (nothing is fetched).

        Errors: ``Unsupported`` lists every keyword that cannot be enforced exactly, with its
        JSON pointer; with ``lenient=True`` they are relaxed instead (a superset is
        accepted) and listed in ``relaxations``. Unknown formats are always relaxed and
        listed. ``LimitExceeded`` names the limit hit (``max_compile_seconds`` bounds the
        whole compile). Number texts never use exponents;
        see :mod:`bytegram.grammar.json_schema` for the exact policies.

        Compiled schemas are cached in memory and on disk (``bytegram.cache``), keyed by the
        schema's exact JSON text (key order included), the options above and ``remotes``
        (a callable ``remotes`` is never cached); ``max_compile_seconds`` is not part of the
        key, and errors are never cached.
        """
        import json as _json

        from .json_schema import load_schema, schema_to_ir

        loaded = load_schema(schema)
        options = [whitespace, strict, lenient, property_order, max_whitespace,
                   max_object_states]
        key = _schema_key(loaded, options, remotes)
        hit = _cached_schema_ir(key) if key is not None else None
        if hit is None:
            ir, relaxations = schema_to_ir(loaded, whitespace=whitespace, strict=strict,
                                           lenient=lenient, property_order=property_order,
                                           max_whitespace=max_whitespace,
                                           max_object_states=max_object_states,
                                           max_compile_seconds=max_compile_seconds,
                                           remotes=remotes)  # type: ignore[arg-type]
            hit = (ir, tuple(relaxations))
            if key is not None:
                _store_schema_ir(key, hit)
        ir, relaxations = hit
        source = _json.dumps(loaded, sort_keys=True) + "\n" + _json.dumps(options)
        return cls("cfg", source, ir=ir, relaxations=relaxations)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Grammar is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Grammar is immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Grammar):
            return NotImplemented
        return self.content_hash == other.content_hash

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def __repr__(self) -> str:
        src = self.source if len(self.source) <= 60 else self.source[:57] + "..."
        extra = f", states={self.dfa.n_states}" if self.dfa is not None else ""
        if self.relaxations:
            extra += f", relaxations={self.relaxations!r}"
        return f"Grammar(kind={self.kind!r}, source={src!r}{extra})"


# -- schema -> IR cache (memory LRU, then disk) ----------------------------------------------

_SCHEMA_KIND = "json-schema-ir"
_SCHEMA_MEMO: "OrderedDict[str, tuple[GrammarIR, tuple[str, ...]]]" = OrderedDict()
_SCHEMA_LOCK = threading.Lock()
_SCHEMA_MEMO_MAX = 32


def _canonical_json(value: object) -> str | None:
    """Exact JSON text of a plain JSON value (dicts with str keys in their own order, lists,
    str, int, float, bool, None), or None for anything else (then nothing is cached: the
    text could not tell such values apart). Key order is kept: it is the property order."""
    stack = [value]
    budget = 5_000_000  # a self-containing dict would never end
    while stack:
        budget -= 1
        if budget < 0:
            return None
        v = stack.pop()
        if isinstance(v, dict):
            for k, x in v.items():
                if not isinstance(k, str):
                    return None
                stack.append(x)
        elif type(v) is list:
            stack.extend(v)
        elif not (v is None or type(v) in (str, int, float, bool)):
            return None
    try:
        return json.dumps(value, separators=(",", ":"))
    except (ValueError, RecursionError):  # a cycle, or nesting too deep for json
        return None


def _schema_key(loaded: object, options: list, remotes: object) -> str | None:
    """Cache key of a schema compile: the schema's exact JSON, every option that changes
    the result and the remote schemas; None when the inputs cannot be keyed (a callable or
    non-JSON ``remotes``, non-JSON values in the schema). ``max_compile_seconds`` is left
    out: it only decides whether a compile finishes, and failures are never cached."""
    from collections.abc import Mapping

    from .. import cache

    text = _canonical_json(loaded)
    if text is None:
        return None
    if remotes is None:
        remote_text = ""
    elif isinstance(remotes, Mapping):
        remote_text = _canonical_json(dict(remotes))
        if remote_text is None:
            return None
    else:
        return None
    return cache.cache_key(_SCHEMA_KIND, text, repr(options), remote_text)


def _cached_schema_ir(key: str) -> "tuple[GrammarIR, tuple[str, ...]] | None":
    """The compiled schema under ``key``: from the memory LRU, else from disk."""
    from .. import cache

    with _SCHEMA_LOCK:
        hit = _SCHEMA_MEMO.get(key)
        if hit is not None:
            _SCHEMA_MEMO.move_to_end(key)
            return hit
    hit = cache.load_as(_SCHEMA_KIND, key, _decode_schema_ir)
    if hit is not None:
        _remember(key, hit)
    return hit


def _store_schema_ir(key: str, value: "tuple[GrammarIR, tuple[str, ...]]") -> None:
    """Remember a freshly compiled schema in memory and on disk."""
    from .. import cache
    from .serialize import ir_to_arrays

    _remember(key, value)
    if cache.cache_dir() is not None:
        arrays, meta = ir_to_arrays(value[0])
        meta["relaxations"] = list(value[1])
        cache.save(_SCHEMA_KIND, key, arrays, meta)


def _remember(key: str, value: "tuple[GrammarIR, tuple[str, ...]]") -> None:
    with _SCHEMA_LOCK:
        _SCHEMA_MEMO[key] = value
        _SCHEMA_MEMO.move_to_end(key)
        while len(_SCHEMA_MEMO) > _SCHEMA_MEMO_MAX:
            _SCHEMA_MEMO.popitem(last=False)


def _decode_schema_ir(arrays: dict, meta: dict) -> "tuple[GrammarIR, tuple[str, ...]]":
    from .serialize import ir_from_arrays

    relaxations = meta["relaxations"]
    if not (isinstance(relaxations, list) and all(isinstance(r, str) for r in relaxations)):
        raise ValueError("relaxations are not a list of strings")
    return ir_from_arrays(arrays, meta), tuple(relaxations)
