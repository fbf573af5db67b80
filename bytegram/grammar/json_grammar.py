"""The built-in JSON grammar (any JSON value, RFC 8259), built directly on ``IRBuilder``.

Terminals: strings (``"..."`` with the RFC's escapes; any Unicode scalar except ``"``, ``\\``
and controls U+0000-U+001F; surrogate escapes ``\\uD800`` are accepted as the RFC's grammar
does), numbers (``-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?``), the literals ``true``,
``false``, ``null`` and the six structural characters.

Whitespace policy:

- ``"compact"``: none at all (what ``json.dumps(..., separators=(",", ":"))`` writes);
- ``"flexible"``: wherever RFC 8259 allows whitespace (around structural characters and at
  both ends), one run of 1..``max_whitespace`` bytes of space, tab, newline or carriage
  return. Each gap holds exactly one optional terminal, so a run is never longer than
  ``max_whitespace``: models loop on unbounded whitespace.
"""

from __future__ import annotations

from ..errors import InvalidArgument
from .ir import GrammarIR, IRBuilder

__all__ = ["json_ir", "JSON_STRING", "JSON_NUMBER"]

JSON_STRING = r'"([^"\\\x00-\x1f]|\\(["\\/bfnrt]|u[0-9a-fA-F]{4}))*"'
JSON_NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"


def json_ir(*, whitespace: str = "compact", max_whitespace: int = 16) -> GrammarIR:
    """The JSON grammar IR under a whitespace policy (see the module docstring)."""
    if whitespace not in ("compact", "flexible"):
        raise InvalidArgument(f"whitespace must be 'compact' or 'flexible', got {whitespace!r}")
    if whitespace == "flexible" and not (isinstance(max_whitespace, int) and max_whitespace >= 1):
        raise InvalidArgument(f"max_whitespace must be an int >= 1, got {max_whitespace!r}")
    b = IRBuilder()
    string = b.regex(JSON_STRING, name="STRING")
    number = b.regex(JSON_NUMBER, name="NUMBER")
    lit = {c: b.literal(c, name=n) for c, n in (("{", "LBRACE"), ("}", "RBRACE"),
                                                 ("[", "LSQB"), ("]", "RSQB"),
                                                 (",", "COMMA"), (":", "COLON"),
                                                 ("true", "TRUE"), ("false", "FALSE"),
                                                 ("null", "NULL"))}
    if whitespace == "flexible":
        ws_t = b.regex(f"[ \\t\\n\\r]{{1,{max_whitespace}}}", name="WS")
        w: tuple[str, ...] = (b.optional(ws_t),)
    else:
        w = ()
    value = "value"
    b.rule("json", (*w, value, *w))
    for alt in ("object", "array", string, number, lit["true"], lit["false"], lit["null"]):
        b.rule(value, (alt,))
    # object: "{" ws "}" | "{" members "}"; member: ws STRING ws ":" ws value ws
    b.rule("object", (lit["{"], *w, lit["}"]))
    b.rule("object", (lit["{"], "members", lit["}"]))
    b.rule("members", ("member",))
    b.rule("members", ("members", lit[","], "member"))
    b.rule("member", (*w, string, *w, lit[":"], *w, value, *w))
    b.rule("array", (lit["["], *w, lit["]"]))
    b.rule("array", (lit["["], "elements", lit["]"]))
    b.rule("elements", ("element",))
    b.rule("elements", ("elements", lit[","], "element"))
    b.rule("element", (*w, value, *w))
    return b.build("json")
