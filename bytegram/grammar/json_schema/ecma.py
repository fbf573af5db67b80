"""ECMA-262 regular expressions (JSON Schema ``pattern``) -> Python-style regexes -> DFAs.

JSON Schema patterns are ECMA-262 regexes with *search* semantics: ``"pattern": "a+"``
matches any string containing an ``a``; only a pattern anchoring itself (``^...$``) is a
full match. The differences with Python's syntax that matter, translated explicitly here:

- ``.`` excludes ``\\n``, ``\\r``, U+2028 and U+2029 (Python: only ``\\n``);
- ``\\s``/``\\S`` are Unicode whitespace (Python's regex front end here: ASCII); ``\\d``,
  ``\\w`` are ASCII in both;
- ``\\uXXXX`` (surrogate pairs combined), ``\\u{X...}``, ``\\cX``, ``\\/``;
- ``\\p{..}``/``\\P{..}`` Unicode general categories (``L``, ``Lu``, ``Letter``, ...) become
  explicit ranges; scripts and binary properties are Unsupported;
- ``(?<name>...)`` named groups; ``[^]`` (any character) and ``[]`` (nothing);
- ``\\b`` inside a class is a backspace.

Unsupported (raised with the pattern and position): lookaround, backreferences, word
boundaries, and ``^``/``$`` anywhere but at the start/end of a top-level alternative.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ...errors import InvalidSyntax, Unsupported
from ..dfa import ByteDFA
from ..regex import regex_to_dfa

__all__ = ["translate_ecma", "pattern_dfa", "ECMA_WHITESPACE"]

ECMA_WHITESPACE = ((0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680),
                   (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
                   (0x3000, 0x3000), (0xFEFF, 0xFEFF))
_DOT_EXCLUDED = ((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029))
_MAX = 0x10FFFF
_QUANT = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_CATEGORY_NAMES = {
    "Letter": "L", "Cased_Letter": "LC", "Uppercase_Letter": "Lu", "Lowercase_Letter": "Ll",
    "Titlecase_Letter": "Lt", "Modifier_Letter": "Lm", "Other_Letter": "Lo", "Mark": "M",
    "Combining_Mark": "M", "Nonspacing_Mark": "Mn", "Spacing_Mark": "Mc", "Enclosing_Mark": "Me",
    "Number": "N", "Decimal_Number": "Nd", "digit": "Nd", "Letter_Number": "Nl",
    "Other_Number": "No", "Punctuation": "P", "punct": "P", "Connector_Punctuation": "Pc",
    "Dash_Punctuation": "Pd", "Open_Punctuation": "Ps", "Close_Punctuation": "Pe",
    "Initial_Punctuation": "Pi", "Final_Punctuation": "Pf", "Other_Punctuation": "Po",
    "Symbol": "S", "Math_Symbol": "Sm", "Currency_Symbol": "Sc", "Modifier_Symbol": "Sk",
    "Other_Symbol": "So", "Separator": "Z", "Space_Separator": "Zs", "Line_Separator": "Zl",
    "Paragraph_Separator": "Zp", "Other": "C", "Control": "Cc", "cntrl": "Cc", "Format": "Cf",
    "Surrogate": "Cs", "Private_Use": "Co", "Unassigned": "Cn",
}


def _complement(ranges) -> tuple:
    out, nxt = [], 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= _MAX:
        out.append((nxt, _MAX))
    return tuple(out)


@lru_cache(maxsize=1)
def _category_table() -> dict[str, tuple]:
    """General category -> code-point ranges (one pass over all of Unicode, cached)."""
    table: dict[str, list[list[int]]] = {}
    prev = None
    for cp in range(_MAX + 1):
        cat = unicodedata.category(chr(cp))
        lst = table.setdefault(cat, [])
        if prev == cat and lst and lst[-1][1] == cp - 1:
            lst[-1][1] = cp
        else:
            lst.append([cp, cp])
        prev = cat
    return {k: tuple(tuple(x) for x in v) for k, v in table.items()}


def _category_ranges(name: str, pattern: str, pos: int) -> tuple:
    short = _CATEGORY_NAMES.get(name, name)
    if short.startswith("General_Category=") or short.startswith("gc="):
        short = _CATEGORY_NAMES.get(short.split("=", 1)[1], short.split("=", 1)[1])
    table = _category_table()
    if short == "LC":
        cats = ["Lu", "Ll", "Lt"]
    elif len(short) == 1:
        cats = [c for c in table if c[0] == short]
    else:
        cats = [short]
    if not cats or any(c not in table and c != "Cn" for c in cats):
        raise Unsupported(f"Unicode property \\p{{{name}}} is not supported (general "
                          f"categories only)", feature="\\p{...}", source=pattern, pos=pos)
    out: list = []
    for c in cats:
        out.extend(table.get(c, ()))
    return tuple(sorted(out))


def _cp_text(cp: int) -> str:
    return "\\U%08x" % cp if cp > 0xFFFF else "\\u%04x" % cp


def _ranges_text(ranges) -> str:
    """Class body (no brackets) for code-point ranges."""
    parts = []
    for lo, hi in ranges:
        parts.append(_cp_text(lo) if lo == hi else f"{_cp_text(lo)}-{_cp_text(hi)}")
    return "".join(parts)


def _class_of(ranges) -> str:
    return f"[{_ranges_text(ranges)}]" if ranges else "[^\\x00-\\U0010ffff]"


class _Ecma:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.n = len(pattern)
        self.i = 0
        self.depth = 0

    def err(self, msg: str, pos: int) -> Unsupported:
        return Unsupported(f"ECMA-262 regex feature not supported: {msg}", feature=msg,
                           source=self.p, pos=pos)

    def hex(self, start: int, count: int) -> int | None:
        s = self.p[start:start + count]
        if len(s) == count and all(c in "0123456789abcdefABCDEF" for c in s):
            return int(s, 16)
        return None

    def escape(self, in_class: bool) -> tuple[str, object]:
        """Translate the escape at self.i; returns (kind, value): ("cp", int),
        ("ranges", ranges) or ("text", python_text)."""
        p, i = self.p, self.i
        if i + 1 >= self.n:
            raise InvalidSyntax("pattern ends with a backslash", source=p, pos=i)
        c = p[i + 1]
        self.i = i + 2
        if c == "d":
            return "ranges", ((0x30, 0x39),)
        if c == "D":
            return "ranges", _complement(((0x30, 0x39),))
        if c == "w":
            return "ranges", ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
        if c == "W":
            return "ranges", _complement(((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F),
                                          (0x61, 0x7A)))
        if c == "s":
            return "ranges", ECMA_WHITESPACE
        if c == "S":
            return "ranges", _complement(ECMA_WHITESPACE)
        if c in "pP":
            if not p.startswith("{", i + 2) or p.find("}", i + 3) < 0:
                raise InvalidSyntax("\\p needs {Name}", source=p, pos=i)
            end = p.find("}", i + 3)
            r = _category_ranges(p[i + 3:end], p, i)
            self.i = end + 1
            return "ranges", (r if c == "p" else _complement(r))
        if c == "u":
            if p.startswith("{", i + 2):
                end = p.find("}", i + 3)
                try:
                    cp = int(p[i + 3:end], 16)
                except ValueError:
                    raise InvalidSyntax("bad \\u{...} escape", source=p, pos=i) from None
                self.i = end + 1
                return "cp", cp
            cp = self.hex(i + 2, 4)
            if cp is None:
                return "cp", ord("u")  # identity escape (Annex B)
            self.i = i + 6
            if 0xD800 <= cp <= 0xDBFF and p.startswith("\\u", self.i):
                lo = self.hex(self.i + 2, 4)
                if lo is not None and 0xDC00 <= lo <= 0xDFFF:
                    self.i += 6
                    return "cp", 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
            if 0xD800 <= cp <= 0xDFFF:
                return "ranges", ()  # a lone surrogate matches no Unicode scalar
            return "cp", cp
        if c == "x":
            cp = self.hex(i + 2, 2)
            if cp is None:
                return "cp", ord("x")
            self.i = i + 4
            return "cp", cp
        if c == "c" and i + 2 < self.n and p[i + 2].isascii() and p[i + 2].isalpha():
            self.i = i + 3
            return "cp", ord(p[i + 2]) % 32
        simple = {"t": 9, "n": 10, "v": 11, "f": 12, "r": 13, "0": 0}
        if c in simple and not (c == "0" and i + 2 < self.n and p[i + 2].isdigit()):
            return "cp", simple[c]
        if c == "b":
            if in_class:
                return "cp", 8
            raise self.err("word boundary \\b", i)
        if c == "B":
            raise self.err("non-word-boundary \\B", i)
        if c.isdigit() or c == "k":
            raise self.err("backreference", i)
        return "cp", ord(c)  # identity escape: \/ \. \- \$ ...

    def char_class(self) -> str:
        p = self.p
        start = self.i
        self.i += 1
        negated = self.i < self.n and p[self.i] == "^"
        if negated:
            self.i += 1
        items: list[tuple[int, int]] = []
        while True:
            if self.i >= self.n:
                raise InvalidSyntax("unterminated character class", source=p, pos=start)
            c = p[self.i]
            if c == "]":
                self.i += 1
                break
            lo = self.class_atom()
            if (isinstance(lo, int) and self.i + 1 < self.n and p[self.i] == "-"
                    and p[self.i + 1] != "]"):
                self.i += 1
                hi = self.class_atom()
                if not isinstance(hi, int) or hi < lo:
                    raise InvalidSyntax("bad range in character class", source=p,
                                        pos=self.i - 1)
                items.append((lo, hi))
            elif isinstance(lo, int):
                items.append((lo, lo))
            else:
                items.extend(lo)
        ranges = _complement(items) if negated else tuple(sorted(items))
        return _class_of(_merge(ranges))

    def class_atom(self):
        c = self.p[self.i]
        if c == "\\":
            kind, val = self.escape(True)
            return val
        cp = ord(c)
        self.i += 1
        if 0xD800 <= cp <= 0xDBFF and self.i < self.n and 0xDC00 <= ord(self.p[self.i]) <= 0xDFFF:
            cp = 0x10000 + ((cp - 0xD800) << 10) + (ord(self.p[self.i]) - 0xDC00)
            self.i += 1
        return cp

    def run(self) -> list[tuple[str, bool, bool]]:
        """Top-level alternatives as (python text, anchored at start, anchored at end)."""
        p = self.p
        alts: list[tuple[str, bool, bool]] = []
        out: list[str] = []
        anchored_start = False
        anchored_end = False
        at_alt_start = True
        while self.i < self.n:
            c = p[self.i]
            if anchored_end:
                if c == "|" and self.depth == 0:
                    pass
                elif c == "$":
                    self.i += 1
                    continue
                else:
                    raise self.err("'$' before the end of the pattern", self.i - 1)
            if c == "\\":
                kind, val = self.escape(False)
                if kind == "cp":
                    cp = int(val)  # type: ignore[arg-type]
                    out.append(_class_of(((cp, cp),)) if not (0x20 < cp < 0x7F and
                               (chr(cp).isalnum())) else chr(cp))
                else:
                    out.append(_class_of(_merge(val)))  # type: ignore[arg-type]
            elif c == "[":
                out.append(self.char_class())
            elif c == ".":
                out.append(_class_of(_complement(_DOT_EXCLUDED)))
                self.i += 1
            elif c == "^":
                if self.depth == 0 and at_alt_start:
                    anchored_start = True
                    self.i += 1
                    continue
                raise self.err("'^' not at the start of a top-level alternative", self.i)
            elif c == "$":
                if self.depth == 0:
                    anchored_end = True
                    self.i += 1
                    continue
                raise self.err("'$' inside a group", self.i)
            elif c == "|" and self.depth == 0:
                alts.append(("".join(out), anchored_start, anchored_end))
                out, anchored_start, anchored_end = [], False, False
                self.i += 1
                at_alt_start = True
                continue
            elif c == "(":
                if p.startswith("(?=", self.i) or p.startswith("(?!", self.i):
                    raise self.err("lookahead", self.i)
                if p.startswith("(?<=", self.i) or p.startswith("(?<!", self.i):
                    raise self.err("lookbehind", self.i)
                if p.startswith("(?<", self.i):
                    end = p.find(">", self.i)
                    out.append("(?P<" + p[self.i + 3:end] + ">")
                    self.i = end + 1
                elif p.startswith("(?:", self.i):
                    out.append("(?:")
                    self.i += 3
                elif p.startswith("(?", self.i):
                    raise self.err("group modifier (?...)", self.i)
                else:
                    out.append("(")
                    self.i += 1
                self.depth += 1
            elif c == ")":
                self.depth -= 1
                out.append(")")
                self.i += 1
            elif c == "{" and _QUANT.match(p, self.i):
                m = _QUANT.match(p, self.i)
                out.append(m.group(0))
                self.i = m.end()
            else:
                cp = ord(c)
                self.i += 1
                if 0xD800 <= cp <= 0xDBFF and self.i < self.n and \
                        0xDC00 <= ord(p[self.i]) <= 0xDFFF:
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (ord(p[self.i]) - 0xDC00)
                    self.i += 1
                if c in "*+?{}|" or c.isalnum():
                    out.append(c if cp < 0x10000 or not c.isalnum() else chr(cp))
                else:
                    out.append(_class_of(((cp, cp),)))
            at_alt_start = False
        alts.append(("".join(out), anchored_start, anchored_end))
        return alts


def _merge(ranges) -> tuple:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((a, b) for a, b in out)


def translate_ecma(pattern: str) -> list[tuple[str, bool, bool]]:
    """Translate an ECMA-262 pattern: a list of top-level alternatives, each as
    (Python regex text, anchored at start, anchored at end)."""
    return _Ecma(pattern).run()


@lru_cache(maxsize=1024)
def pattern_dfa(pattern: str, *, max_states: int = 100_000) -> ByteDFA:
    """Character-level DFA of the strings in which ECMA-262 ``pattern`` finds a match."""
    anything = "(?s:.)*"
    parts = []
    for text, a_start, a_end in translate_ecma(pattern):
        parts.append(("" if a_start else anything) + "(?:" + text + ")"
                     + ("" if a_end else anything))
    full = "|".join(f"(?:{x})" for x in parts)
    return regex_to_dfa(full, max_states=max_states)
