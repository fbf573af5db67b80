"""Lark grammars -> ``GrammarIR``. The only module of bytegram that imports lark.

Lark is used as a front end through its public API: ``lark.Lark(text, parser="earley",
lexer="dynamic")`` parses the grammar (rules, terminals, literals, regexes with flags,
``?``/``*``/``+``/``[]``, ``~n``/``~n..m``, templates, ``%import`` of ``common.lark`` and
other grammars, ``%ignore``) and expands it to plain BNF; we read ``.terminals`` (each a
``TerminalDef`` whose pattern is a string or a regex with flags), ``.rules`` and
``.ignore_tokens``, and build the IR ourselves. Terminal regexes go through bytegram's own
``regex_to_dfa`` (Python ``re`` syntax; flags ``i``/``s``/``m``/``x`` are applied as a scoped
group, which is exactly what Lark's ``to_regexp()`` writes).

Semantics (the IR's, documented differences from Lark's own parsers):

- Every reading is kept (scannerless, no maximal munch, no lexer or rule priority):
  priorities (``rule.2``, ``TERM.2``) and ``%override`` choices of precedence are accepted
  and ignored; ambiguous grammars are fine.
- A regex terminal denotes its full regular language: a lazy quantifier (``/".*?"/``)
  matches the same strings as the greedy one, so ``"a" "b"`` is one such string. Lark's own
  lexer stops at the first match. Each terminal using a lazy quantifier is listed in the
  grammar's ``relaxations``. The well-known ``common.lark`` terminals written with lazy
  quantifiers and lookbehind (``ESCAPED_STRING``, ``C_COMMENT``) are replaced by exact
  equivalents.
- ``%declare`` (terminals fed by a custom lexer) is refused with ``Unsupported``; so is
  lookaround in a terminal regex.
- Tree shaping (``?rule``, ``_rule``, ``-> alias``, ``!rule``) does not change the language
  and is ignored.
"""

from __future__ import annotations

import re

from ..errors import BytegramError, InvalidSyntax, Unsupported
from .ir import GrammarIR, IRBuilder

__all__ = ["lark_to_ir"]

try:
    import lark
    from lark.exceptions import GrammarError, LarkError, UnexpectedInput
except ImportError as _exc:  # pragma: no cover - a dependency problem
    raise ImportError("Grammar.from_lark needs lark>=1.1 (pip install lark)") from _exc

# common.lark terminals whose Lark regexes rely on lazy matching or lookbehind
_EXACT = {
    r'".*?(?<!\\)(\\\\)*?"': r'"([^"\\\n]|\\[^\n])*"',
    "/\\*(.|\n)*?\\*/": r"/\*([^*]|\*+[^*/])*\*+/",
    "/\\*(?:.|\n)*?\\*/": r"/\*([^*]|\*+[^*/])*\*+/",
}

_LAZY = re.compile(r"(?<!\\)(?:[*+?}])\?")


def _pos_from_line_col(text: str, line: int | None, col: int | None) -> int | None:
    if line is None:
        return None
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    return sum(len(x) + 1 for x in lines[: line - 1]) + max((col or 1) - 1, 0)


def _find_name(text: str, name: str) -> int | None:
    """Offset of the first use of ``name`` as a whole word in ``text`` (for messages)."""
    m = re.search(r"(?<![\w.])" + re.escape(name) + r"(?!\w)", text)
    return m.start() if m else None


def _find_terminal(text: str, name: str, value: str) -> int | None:
    """Offset of a terminal's definition, or of its anonymous regex/string in a rule."""
    if not name.startswith("__"):
        m = re.search(r"^\s*" + re.escape(name) + r"\b", text, re.M)
        if m:
            return m.start() + len(m.group(0)) - len(name)
    for needle in (f"/{value}/", f'"{value}"'):
        i = text.find(needle)
        if i >= 0:
            return i
    return _find_name(text, name)


def _translate_error(text: str, exc: LarkError) -> BytegramError:
    msg = str(exc).strip()
    if isinstance(exc, UnexpectedInput):
        pos = _pos_from_line_col(text, getattr(exc, "line", None), getattr(exc, "column", None))
        first = msg.split("\n", 1)[0]
        return InvalidSyntax(f"invalid Lark grammar: {first}", source=text, pos=pos,
                             hint="check the rule syntax near the caret")
    first = msg.split("\n", 1)[0]
    m = re.search(r"at line (\d+) column (\d+)", msg)
    if m:
        pos = _pos_from_line_col(text, int(m.group(1)), int(m.group(2)))
        first = first.split(", at line")[0]
        return InvalidSyntax(f"invalid Lark grammar: {first}", source=text, pos=pos,
                             hint="check the grammar syntax near the caret")
    m = re.search(r"(?:Rule|Terminal|Terminals?) \{?'([^']+)'", msg)
    pos = _find_name(text, m.group(1)) if m else None
    hint = None
    if "used but not defined" in msg or "not defined" in msg:
        hint = "define the rule/terminal, fix its spelling, or %import it"
    elif "more than once" in msg:
        hint = "give each rule one definition (alternatives go on one rule with '|')"
    return InvalidSyntax(f"invalid Lark grammar: {first}", source=text if pos is not None else None,
                         pos=pos, hint=hint)


def lark_to_ir(text: str, *, start: str = "start") -> tuple[GrammarIR, tuple[str, ...]]:
    """Parse a Lark grammar into the IR; returns ``(ir, relaxations)``."""
    if not isinstance(text, str):
        raise InvalidSyntax(f"a Lark grammar is text, got {type(text).__name__}")
    try:
        parser = lark.Lark(text, start=start, parser="earley", lexer="dynamic")
    except (GrammarError, LarkError) as exc:
        raise _translate_error(text, exc) from None
    except (KeyError, AssertionError, re.error) as exc:  # lark reports some errors this way
        raise InvalidSyntax(f"invalid Lark grammar: {exc}", hint="check the grammar") from None
    b = IRBuilder()
    relaxations: list[str] = []
    defined = set()
    for td in parser.terminals:
        pattern = td.pattern
        defined.add(td.name)
        if type(pattern).__name__ == "PatternStr" and not pattern.flags:
            b.literal(pattern.value, name=td.name)
            continue
        value = pattern.value
        if type(pattern).__name__ == "PatternStr":
            regex = re.escape(value)
        else:
            regex = _EXACT.get(value, value)
            if regex is value and _LAZY.search(value):
                relaxations.append(f"terminal {td.name}: lazy quantifier in /{value}/ matches "
                                   f"its full regular language (every reading is kept)")
        flags = "".join(sorted(f for f in pattern.flags if f in "imsx"))
        other = sorted(set(pattern.flags) - set("imsxlu"))
        if other:
            raise Unsupported(f"regex flag(s) {''.join(other)!r} on terminal {td.name}",
                              feature="regex flags", where=f"terminal {td.name}",
                              source=text, pos=_find_terminal(text, td.name, value))
        if flags:
            regex = f"(?{flags}:{regex})"
        try:
            b.regex(regex, name=td.name)
        except (InvalidSyntax, Unsupported) as exc:
            kind = type(exc)
            raise kind(f"terminal {td.name} (/{value}/): {exc.message}",
                       **({"feature": getattr(exc, "feature", None),
                           "where": f"terminal {td.name}"} if kind is Unsupported else {}),
                       source=text, pos=_find_terminal(text, td.name, value)) from None
    for rule in parser.rules:
        lhs = rule.origin.name
        rhs = []
        for sym in rule.expansion:
            if sym.is_term and sym.name not in defined:
                m = re.search(r"%declare\b", text)
                raise Unsupported(f"terminal {sym.name} is declared (%declare) but has no "
                                  f"pattern: bytegram has no custom lexer to produce it",
                                  feature="%declare", source=text,
                                  pos=m.start() if m else _find_name(text, sym.name),
                                  hint="define the terminal with a string or regex")
            rhs.append(sym.name)
        b.rule(str(lhs), tuple(str(s) for s in rhs))
    for name in parser.ignore_tokens:
        if name in defined:
            b.add_ignore(name)
    try:
        ir = b.build(start)
    except InvalidSyntax as exc:
        raise InvalidSyntax(f"invalid Lark grammar: {exc.message}", source=text,
                            pos=_find_name(text, start), hint=exc.hint) from None
    return ir, tuple(relaxations)
