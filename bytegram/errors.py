"""The error contract: every error bytegram raises derives from BytegramError and a built-in.

- InvalidSyntax: malformed input (regex, grammar, schema); carries a position and a caret.
- Unsupported: well-formed input using a feature bytegram does not implement; names it.
- LimitExceeded: a configured limit was hit; names the limit, its value and how to raise it.

A matcher fed a forbidden token never raises: it returns False and stays unchanged.
"""

from __future__ import annotations

__all__ = ["BytegramError", "InvalidSyntax", "Unsupported", "LimitExceeded", "InvalidArgument",
           "caret_excerpt", "line_col"]


def caret_excerpt(text: str, pos: int, *, width: int = 60) -> str:
    """Return the line of ``text`` containing ``pos`` with a caret under ``pos``.

    Long lines are cut to a window of ``width`` characters around the offending spot so the
    caret stays readable.
    """
    pos = max(0, min(pos, len(text)))
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    if line_end < 0:
        line_end = len(text)
    line = text[line_start:line_end]
    col = pos - line_start
    lo = max(0, col - width // 2)
    hi = min(len(line), lo + width)
    prefix = "..." if lo > 0 else ""
    suffix = "..." if hi < len(line) else ""
    shown = prefix + line[lo:hi] + suffix
    return f"    {shown}\n    {' ' * (len(prefix) + col - lo)}^"


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based (line, column) of character offset ``pos`` in ``text``."""
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


class BytegramError(Exception):
    """Base class of every error raised by bytegram."""


class InvalidSyntax(BytegramError, ValueError):
    """The input is malformed: a regex, grammar or schema that cannot be parsed.

    ``source`` is the text, ``pos`` the 0-based character offset of the problem (or None),
    ``line``/``column`` are 1-based, and ``hint`` says how to fix it when we know.
    """

    def __init__(self, message: str, *, source: str | None = None, pos: int | None = None,
                 hint: str | None = None) -> None:
        self.message = message
        self.source = source
        self.pos = pos
        self.hint = hint
        self.line: int | None = None
        self.column: int | None = None
        parts = [message]
        if source is not None and pos is not None:
            self.line, self.column = line_col(source, pos)
            parts[0] = f"{message} (line {self.line}, column {self.column})"
            parts.append(caret_excerpt(source, pos))
        if hint:
            parts.append(f"hint: {hint}")
        super().__init__("\n".join(parts))


class Unsupported(BytegramError, ValueError):
    """The input is valid but uses a feature bytegram does not support.

    ``feature`` names it; ``where`` says where (a position, a rule name, a JSON pointer).
    """

    def __init__(self, message: str, *, feature: str | None = None, where: str | None = None,
                 source: str | None = None, pos: int | None = None,
                 hint: str | None = None) -> None:
        self.message = message
        self.feature = feature
        self.where = where
        self.source = source
        self.pos = pos
        self.hint = hint
        parts = [message]
        if where is not None:
            parts[0] = f"{message} (at {where})"
        if source is not None and pos is not None:
            line, col = line_col(source, pos)
            if where is None:
                parts[0] = f"{message} (line {line}, column {col})"
            parts.append(caret_excerpt(source, pos))
        if hint:
            parts.append(f"hint: {hint}")
        super().__init__("\n".join(parts))


class LimitExceeded(BytegramError, ValueError):
    """A configured limit was exceeded: ``limit`` names it, ``value`` is its current setting."""

    def __init__(self, message: str, *, limit: str, value: object, hint: str | None = None) -> None:
        self.limit = limit
        self.value = value
        self.hint = hint
        text = f"{message} (limit {limit}={value!r})"
        if hint:
            text += f"\nhint: {hint}"
        super().__init__(text)


class InvalidArgument(BytegramError, ValueError, TypeError):
    """A call got an argument of the wrong type, shape or value (a caller bug, not bad input
    text). Catchable as ValueError or TypeError."""
