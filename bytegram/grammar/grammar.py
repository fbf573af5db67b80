"""Grammar: an immutable description of a language, compiled down to byte-level automata.

A ``Grammar`` is what users build (``Grammar.from_regex(...)``; Lark grammars and JSON Schema
come later as other constructors) and what the rest of bytegram consumes. ``kind`` says which
constructor made it, ``source`` is the text it was made from, and ``content_hash`` (sha256 of
kind and source) is the cache key for everything derived from the grammar alone.
"""

from __future__ import annotations

import hashlib

from .dfa import ByteDFA
from .regex import regex_to_dfa

__all__ = ["Grammar"]


class Grammar:
    """An immutable, shareable grammar.

    Attributes:
        kind: ``"regex"`` (more kinds later).
        source: the text the grammar was built from (the pattern for a regex).
        dfa: the minimal trimmed byte DFA of the language (for ``kind == "regex"``).
        relaxations: what was relaxed or ignored while compiling (empty for a regex).
        content_hash: hex sha256 of ``kind`` and ``source``.
    """

    __slots__ = ("kind", "source", "dfa", "relaxations", "content_hash")

    kind: str
    source: str
    dfa: ByteDFA | None
    relaxations: tuple[str, ...]
    content_hash: str

    def __init__(self, kind: str, source: str, *, dfa: ByteDFA | None = None,
                 relaxations: tuple[str, ...] = ()) -> None:
        set_ = object.__setattr__
        set_(self, "kind", kind)
        set_(self, "source", source)
        set_(self, "dfa", dfa)
        set_(self, "relaxations", tuple(relaxations))
        set_(self, "content_hash", self.hash_of(kind, source))

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
        return cls("regex", pattern, dfa=regex_to_dfa(pattern, max_states=max_states))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Grammar is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Grammar is immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Grammar):
            return NotImplemented
        return (self.kind, self.source) == (other.kind, other.source)

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def __repr__(self) -> str:
        src = self.source if len(self.source) <= 60 else self.source[:57] + "..."
        extra = f", states={self.dfa.n_states}" if self.dfa is not None else ""
        if self.relaxations:
            extra += f", relaxations={self.relaxations!r}"
        return f"Grammar(kind={self.kind!r}, source={src!r}{extra})"
