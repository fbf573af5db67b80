"""llama.cpp GBNF grammars -> ``GrammarIR``.

Syntax: rules ``name ::= alternatives`` (names of letters, digits, ``-`` and ``_``; the start
rule is ``root``), literals ``"..."`` with escapes (``\\n \\r \\t \\\\ \\" \\[ \\] \\xHH
\\uHHHH \\UHHHHHHHH``), character classes ``[...]``/``[^...]`` with ranges, ``.`` (any
character), grouping ``( )``, alternation ``|``, repetition ``*``, ``+``, ``?``, ``{m}``,
``{m,}``, ``{m,n}``, comments ``#`` to the end of the line. A rule may span lines; a new rule
starts where ``name ::=`` appears.

GBNF is character-level and has no lexer: each literal and class becomes a terminal, and
the IR's every-split semantics gives exactly GBNF's language. Rules that are regular and do
not recurse are folded into one regex terminal (fewer, longer lexemes: faster masks); if the
regex is too large we keep the rule as BNF.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidSyntax, LimitExceeded
from .ir import GrammarIR, IRBuilder

__all__ = ["gbnf_to_ir", "parse_gbnf"]


# -- AST -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Cls:
    ranges: tuple[tuple[int, int], ...]
    negated: bool


@dataclass(frozen=True)
class Ref:
    name: str
    pos: int


@dataclass(frozen=True)
class Alt:
    options: tuple  # tuple of Seq


@dataclass(frozen=True)
class Seq:
    items: tuple


@dataclass(frozen=True)
class Rep:
    item: object
    lo: int
    hi: int | None


ANY = Cls(((0, 0x10FFFF),), False)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def error(self, msg: str, pos: int | None = None, hint: str | None = None) -> InvalidSyntax:
        return InvalidSyntax(f"invalid GBNF grammar: {msg}", source=self.text,
                             pos=self.i if pos is None else pos, hint=hint)

    def skip(self) -> None:
        t = self.text
        while self.i < len(t):
            c = t[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "#":
                while self.i < len(t) and t[self.i] != "\n":
                    self.i += 1
            else:
                break

    def name_at(self, i: int) -> int:
        t = self.text
        j = i
        while j < len(t) and (t[j].isalnum() or t[j] in "-_"):
            j += 1
        return j

    def at_rule_start(self) -> bool:
        j = self.name_at(self.i)
        if j == self.i:
            return False
        k = j
        while k < len(self.text) and self.text[k] in " \t":
            k += 1
        return self.text.startswith("::=", k)

    def parse(self) -> dict[str, tuple[Alt, int]]:
        rules: dict[str, tuple[Alt, int]] = {}
        self.skip()
        while self.i < len(self.text):
            start = self.i
            j = self.name_at(self.i)
            if j == self.i:
                raise self.error(f"expected a rule name, found {self.text[self.i]!r}",
                                 hint="rules look like: name ::= ...")
            name = self.text[self.i:j]
            self.i = j
            self.skip()
            if not self.text.startswith("::=", self.i):
                raise self.error("expected '::=' after the rule name")
            self.i += 3
            body = self.alternatives(nested=False)
            if name in rules:
                raise self.error(f"rule {name!r} is defined twice", pos=start,
                                 hint="put the alternatives of a rule on one rule with '|'")
            rules[name] = (body, start)
            self.skip()
        return rules

    def alternatives(self, *, nested: bool) -> Alt:
        options = [self.sequence(nested=nested)]
        while True:
            self.skip()
            if self.i < len(self.text) and self.text[self.i] == "|":
                self.i += 1
                options.append(self.sequence(nested=nested))
            else:
                return Alt(tuple(options))

    def sequence(self, *, nested: bool) -> Seq:
        items = []
        while True:
            self.skip()
            if self.i >= len(self.text):
                break
            c = self.text[self.i]
            if c in "|)":
                break
            if not nested and self.at_rule_start():
                break
            items.append(self.postfix(self.atom()))
        return Seq(tuple(items))

    def atom(self):
        t = self.text
        c = t[self.i]
        if c == '"':
            return Lit(self.literal())
        if c == "[":
            return self.char_class()
        if c == ".":
            self.i += 1
            return ANY
        if c == "(":
            open_pos = self.i
            self.i += 1
            body = self.alternatives(nested=True)
            self.skip()
            if self.i >= len(t) or t[self.i] != ")":
                raise self.error("unclosed parenthesis", pos=open_pos)
            self.i += 1
            return body
        j = self.name_at(self.i)
        if j > self.i:
            ref = Ref(t[self.i:j], self.i)
            self.i = j
            return ref
        raise self.error(f"unexpected character {c!r}")

    def postfix(self, item):
        t = self.text
        while self.i < len(t) and t[self.i] in "*+?{":
            c = t[self.i]
            if c == "*":
                item, self.i = Rep(item, 0, None), self.i + 1
            elif c == "+":
                item, self.i = Rep(item, 1, None), self.i + 1
            elif c == "?":
                item, self.i = Rep(item, 0, 1), self.i + 1
            else:
                start = self.i
                end = t.find("}", self.i)
                if end < 0:
                    raise self.error("unclosed '{'", pos=start)
                body = t[self.i + 1:end].replace(" ", "")
                try:
                    if "," in body:
                        a, b = body.split(",", 1)
                        lo, hi = int(a), (int(b) if b else None)
                    else:
                        lo = hi = int(body)
                except ValueError:
                    raise self.error(f"bad repetition {{{body}}}", pos=start,
                                     hint="use {m}, {m,} or {m,n}") from None
                if hi is not None and hi < lo:
                    raise self.error(f"bad repetition {{{body}}}: max < min", pos=start)
                item, self.i = Rep(item, lo, hi), end + 1
        return item

    def escape(self) -> int:
        t = self.text
        start = self.i
        self.i += 1
        if self.i >= len(t):
            raise self.error("dangling backslash", pos=start)
        c = t[self.i]
        self.i += 1
        simple = {"n": 10, "r": 13, "t": 9, "\\": 92, '"': 34, "[": 91, "]": 93, "-": 45,
                  "^": 94, "/": 47}
        if c in simple:
            return simple[c]
        width = {"x": 2, "u": 4, "U": 8}.get(c)
        if width is None:
            raise self.error(f"unknown escape \\{c}", pos=start)
        digits = t[self.i:self.i + width]
        if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise self.error(f"\\{c} needs {width} hex digits", pos=start)
        self.i += width
        cp = int(digits, 16)
        if cp > 0x10FFFF:
            raise self.error(f"code point {digits} is out of range", pos=start)
        return cp

    def literal(self) -> str:
        t = self.text
        start = self.i
        self.i += 1
        out = []
        while True:
            if self.i >= len(t) or t[self.i] == "\n":
                raise self.error("unterminated string literal", pos=start)
            c = t[self.i]
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "\\":
                out.append(chr(self.escape()))
            else:
                out.append(c)
                self.i += 1

    def class_char(self) -> int:
        t = self.text
        if t[self.i] == "\\":
            return self.escape()
        c = ord(t[self.i])
        self.i += 1
        return c

    def char_class(self) -> Cls:
        t = self.text
        start = self.i
        self.i += 1
        negated = self.i < len(t) and t[self.i] == "^"
        if negated:
            self.i += 1
        ranges = []
        while True:
            if self.i >= len(t):
                raise self.error("unterminated character class", pos=start)
            if t[self.i] == "]":
                self.i += 1
                break
            lo = self.class_char()
            hi = lo
            if self.i + 1 < len(t) and t[self.i] == "-" and t[self.i + 1] != "]":
                self.i += 1
                hi = self.class_char()
                if hi < lo:
                    raise self.error("character range out of order", pos=start)
            ranges.append((lo, hi))
        return Cls(tuple(ranges), negated)


def parse_gbnf(text: str) -> dict[str, tuple[Alt, int]]:
    """The rules of a GBNF grammar: name -> (body, offset of the definition)."""
    if not isinstance(text, str):
        raise InvalidSyntax(f"a GBNF grammar is text, got {type(text).__name__}")
    return _Parser(text).parse()


# -- to the IR -------------------------------------------------------------------------------

def _cp(c: int) -> str:
    return f"\\U{c:08x}"


def _cls_regex(node: Cls) -> str:
    if node is ANY:
        return "(?s:.)"
    body = "".join(_cp(lo) if lo == hi else f"{_cp(lo)}-{_cp(hi)}" for lo, hi in node.ranges)
    if not body:
        return "[^\\x00-\\U0010ffff]" if not node.negated else "(?s:.)"
    return f"[{'^' if node.negated else ''}{body}]"


class _Converter:
    def __init__(self, text: str, rules: dict[str, tuple[Alt, int]]) -> None:
        self.text = text
        self.rules = rules
        self.b = IRBuilder()
        self.regular: dict[str, str | None] = {}
        self._visiting: set[str] = set()

    def check_refs(self, node) -> None:
        if isinstance(node, Ref):
            if node.name not in self.rules:
                raise InvalidSyntax(f"invalid GBNF grammar: rule {node.name!r} is not defined",
                                    source=self.text, pos=node.pos,
                                    hint="define it with: name ::= ...")
        elif isinstance(node, Alt):
            for o in node.options:
                self.check_refs(o)
        elif isinstance(node, Seq):
            for it in node.items:
                self.check_refs(it)
        elif isinstance(node, Rep):
            self.check_refs(node.item)

    # regex of a node when it is regular (no recursion), else None
    def regex_of(self, node) -> str | None:
        if isinstance(node, Lit):
            return "".join(_cp(ord(c)) for c in node.text) if node.text else "(?:)"
        if isinstance(node, Cls):
            return _cls_regex(node)
        if isinstance(node, Ref):
            return self.rule_regex(node.name)
        if isinstance(node, Alt):
            parts = [self.regex_of(o) for o in node.options]
            return None if any(p is None for p in parts) else "(?:" + "|".join(parts) + ")"
        if isinstance(node, Seq):
            parts = [self.regex_of(o) for o in node.items]
            return None if any(p is None for p in parts) else "(?:" + "".join(parts) + ")"
        if isinstance(node, Rep):
            inner = self.regex_of(node.item)
            if inner is None:
                return None
            hi = "" if node.hi is None else str(node.hi)
            return f"(?:{inner}){{{node.lo},{hi}}}"
        raise AssertionError(node)

    def rule_regex(self, name: str) -> str | None:
        if name in self.regular:
            return self.regular[name]
        if name in self._visiting:
            return None  # recursive
        self._visiting.add(name)
        r = self.regex_of(self.rules[name][0])
        self._visiting.discard(name)
        if r is not None and len(r) > 20_000:
            r = None
        self.regular[name] = r
        return r

    def symbol(self, node) -> tuple[str, ...]:
        """Symbols for ``node`` in a right-hand side."""
        b = self.b
        if isinstance(node, Lit):
            return (b.literal(node.text),) if node.text else ()
        if isinstance(node, Cls):
            return (b.regex(_cls_regex(node)),)
        if isinstance(node, Ref):
            return (self.rule_symbol(node.name),)
        if isinstance(node, Alt):
            if len(node.options) == 1:
                return self.symbol(node.options[0])
            return (b.choice(*[self.symbol(o) for o in node.options]),)
        if isinstance(node, Seq):
            out: tuple[str, ...] = ()
            for it in node.items:
                out += self.symbol(it)
            return out
        if isinstance(node, Rep):
            inner = self.symbol(node.item)
            sym = inner[0] if len(inner) == 1 else b.seq(*inner)
            if not inner:
                return ()
            return (b.repeat(sym, node.lo, node.hi),)
        raise AssertionError(node)

    def rule_symbol(self, name: str) -> str:
        key = "rule:" + name
        if key in self.b._derived:
            return self.b._derived[key]
        regex = self.rule_regex(name)
        if regex is not None:
            try:
                sym = self.b.regex(regex, name=f"{name}#re")
                self.b._derived[key] = sym
                return sym
            except LimitExceeded:
                pass
        self.b._derived[key] = name
        body = self.rules[name][0]
        for opt in body.options:
            self.b.rule(name, self.symbol(opt))
        return name


def gbnf_to_ir(text: str, *, start: str = "root") -> GrammarIR:
    """Parse a GBNF grammar into the IR (start rule ``root`` unless told otherwise)."""
    rules = parse_gbnf(text)
    if start not in rules:
        raise InvalidSyntax(f"invalid GBNF grammar: no {start!r} rule", source=text, pos=0,
                            hint=f"define the start rule: {start} ::= ...")
    conv = _Converter(text, rules)
    for body, _ in rules.values():
        conv.check_refs(body)
    root = conv.rule_symbol(start)
    try:
        return conv.b.build(root)
    except InvalidSyntax as exc:
        raise InvalidSyntax(f"invalid GBNF grammar: {exc.message}", source=text,
                            pos=rules[start][1], hint=exc.hint) from None
