"""Python-style regex -> minimal byte DFA.

Pipeline:

1. ``re.compile`` validates the pattern: whatever Python's ``re`` rejects is
   :class:`~bytegram.errors.InvalidSyntax` (with ``re.error``'s position and a caret).
2. :func:`translate` (a small explicit scanner, tested on its own) rewrites the pattern for
   interegular and rejects what we cannot compile with :class:`~bytegram.errors.Unsupported`
   naming the feature and its position: lookaround, backreferences, word boundaries, anchors
   that are not at the very start / end, atomic groups, possessive quantifiers, conditionals.
   It strips a leading ``^`` / ``\\A`` and a trailing ``$`` / ``\\Z`` of each top-level
   alternative (the DFA always matches the whole output), turns ``\\uXXXX``, ``\\UXXXXXXXX``,
   ``\\xHH``, ``\\N{NAME}``, octal and control escapes into (escaped) literal characters,
   handles verbose mode and comments, and replaces every character class ``[...]`` by one
   private placeholder character whose code-point ranges it computes itself (so a class such
   as ``[^"]`` or ``[\\u4e00-\\u9fff]`` is never enumerated character by character).
3. ``interegular.parse_pattern`` parses the result (groups, alternation, repetition, flags).
4. The parse tree becomes a Thompson NFA over bytes: each set of code points becomes its
   UTF-8 byte-range sequences (:mod:`bytegram.grammar.utf8`), with shared suffix states.
5. Subset construction over byte classes, with ``max_states`` checked as states are created
   (never a hang: interegular's own ``to_fsm`` is not used, its determinization can explode),
   then trimming and minimization (:func:`bytegram.grammar.dfa.minimize_table`).

Semantics (documented gaps with respect to Python's ``re``):

- Full match: the DFA accepts exactly the byte strings that are UTF-8 encodings of strings
  ``s`` with ``re.fullmatch(pattern, s)``. Lone surrogates have no UTF-8 form and are never
  matched.
- ``\\d``, ``\\w``, ``\\s`` (and ``\\D``, ``\\W``, ``\\S``) are ASCII-only, as in interegular
  and ``re.ASCII``: ``[0-9]``, ``[a-zA-Z0-9_]``, ``[ \\t\\n\\r\\f\\v]``.
- ``.`` excludes ``\\n`` unless ``(?s)``; negated classes span all of Unicode.
- Flags: ``i``, ``s``, ``x`` (verbose), ``m`` (no effect once anchors are at the ends), ``a``
  and ``u`` (accepted; classes are ASCII anyway), globally or scoped ``(?i:...)``.
  Case-insensitive matching follows ``re``: characters are equal when their lowercase forms
  are, or ``re``'s table of extra cases relates them (K / KELVIN SIGN, s / LONG S, ...);
  a global ``(?a)`` folds ASCII letters only; a scoped ``(?a:...)`` in a pattern that also
  uses ``i`` is Unsupported.
  (CPython's own ``(?i)[Xx]`` with an astral cased ``X`` matches neither case of ``X``, a
  quirk we do not copy.)
- Lazy quantifiers (``*?``) are accepted: under full-match semantics they match the same set.
- Group nesting deeper than ``MAX_NESTING`` (100) is Unsupported (interegular's recursive
  parser would overflow the stack).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import InvalidSyntax, LimitExceeded, Unsupported
from .dfa import ByteDFA, mark_minimal, minimize_table
from .utf8 import MAX_CODE_POINT, utf8_sequences

try:  # interegular's parse tree (0.3.x); we use its parser, not its FSM construction
    import interegular
    from interegular.patterns import (_DOT, _EMPTY, Pattern, REFlags, _CharGroup,
                                      _Concatenation, _NonCapturing, _Repeated)
except ImportError as _exc:  # pragma: no cover - a dependency problem, not an input problem
    raise ImportError("bytegram needs interegular>=0.3.3,<0.4 (its parse tree is used)") from _exc

__all__ = ["regex_to_dfa", "cached_regex_to_dfa", "translate", "Translation", "MAX_NESTING"]

MAX_NESTING = 100  # group nesting depth interegular's recursive-descent parser copes with

_HINT_STATES = ("raise max_states (Grammar.from_regex(pattern, max_states=...)) or simplify "
                "the pattern (large bounded repetitions such as {0,5000} of multi-byte "
                "classes, or a* ... (a|b){n} style patterns, need many states)")

# --------------------------------------------------------------------------------------------
# code-point range sets: sorted tuples of disjoint inclusive (lo, hi) pairs

Ranges = tuple  # tuple[tuple[int, int], ...]


def _normalize(ranges) -> Ranges:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if lo > hi:
            continue
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1][1] = hi
        else:
            out.append([lo, hi])
    return tuple((a, b) for a, b in out)


def _complement(ranges: Ranges) -> Ranges:
    out = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CODE_POINT:
        out.append((nxt, MAX_CODE_POINT))
    return tuple(out)


def _chars_to_ranges(chars) -> Ranges:
    return _normalize((ord(c), ord(c)) for c in chars if len(c) == 1)


_DIGIT = ((0x30, 0x39),)
_SPACE = ((0x09, 0x0D), (0x20, 0x20))
_WORD = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_SHORTHAND = {
    "d": _DIGIT, "D": _complement(_DIGIT),
    "s": _SPACE, "S": _complement(_SPACE),
    "w": _WORD, "W": _complement(_WORD),
}
_CASED_SCAN_LIMIT = 0x20000  # no code point above this has a case mapping (checked in tests)


def _python_case_fixes() -> dict[int, tuple[int, ...]]:
    """Python's extra case equivalences (e.g. i / DOTLESS I, s / LONG S), when available."""
    try:  # CPython >= 3.11
        from re import _casefix
        return dict(_casefix._EXTRA_CASES)
    except (ImportError, AttributeError):
        pass
    try:  # CPython 3.10
        import sre_compile
        return dict(sre_compile._ignorecase_fixes)
    except (ImportError, AttributeError):
        return {}


@lru_cache(maxsize=1)
def _case_classes() -> tuple[list[int], dict[int, tuple[int, ...]]]:
    """Sorted cased code points, and for each its case-equivalence class.

    Python's ``re`` (IGNORECASE, str patterns) treats two characters as equal when their
    simple lowercase mappings are equal, or related by its table of extra cases; we rebuild
    that relation: ``lower()`` (first character of it for the one multi-character case,
    U+0130) plus ``re``'s extra cases, closed transitively.
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb

    everyone = set()
    for cp in range(_CASED_SCAN_LIMIT):
        ch = chr(cp)
        lo = ch.lower()
        if lo == ch and ch.upper() == ch:
            continue
        everyone.add(cp)
        if lo[0] != ch:
            everyone.add(ord(lo[0]))
            union(cp, ord(lo[0]))
    for lo, others in _python_case_fixes().items():
        for other in others:
            everyone.update((lo, other))
            union(lo, other)
    members: dict[int, list[int]] = {}
    for cp in sorted(everyone):
        members.setdefault(find(cp), []).append(cp)
    cls = {cp: tuple(members[find(cp)]) for cp in everyone}
    return sorted(everyone), cls


def _case_close_ascii(ranges: Ranges) -> Ranges:
    """Case variants under ``(?a)``: only ASCII letters fold."""
    extra = []
    for lo, hi in ranges:
        for a, b, delta in ((0x41, 0x5A, 32), (0x61, 0x7A, -32)):
            x, y = max(lo, a), min(hi, b)
            if x <= y:
                extra.append((x + delta, y + delta))
    return _normalize(list(ranges) + extra) if extra else ranges


def _case_close(ranges: Ranges) -> Ranges:
    """Add every case variant of the characters in ``ranges``."""
    cased, cls = _case_classes()
    extra = []
    i = 0
    n = len(cased)
    for lo, hi in ranges:  # both sorted: one merge pass
        while i < n and cased[i] < lo:
            i += 1
        while i < n and cased[i] <= hi:
            extra.extend(cls[cased[i]])
            i += 1
    if not extra:
        return ranges
    return _normalize(list(ranges) + [(c, c) for c in extra])


# --------------------------------------------------------------------------------------------
# the translator

@dataclass(frozen=True)
class ClassSpec:
    """A character class: positive ``ranges`` (before case folding), ``negated``, position."""

    ranges: Ranges
    negated: bool
    pos: int


@dataclass
class Translation:
    """Result of :func:`translate`.

    ``text`` is the pattern handed to interegular, ``origin[i]`` the position in the original
    pattern that produced ``text[i]``, ``classes`` maps each placeholder character in
    ``text`` to the class it stands for, and ``ascii_case`` is set by a global ``(?a)``.
    """

    text: str
    origin: list[int]
    classes: dict[str, ClassSpec] = field(default_factory=dict)
    ascii_case: bool = False  # (?a): case-insensitive matching folds ASCII letters only


_META_OUT = set("\\.^$*+?{}[]|()")
_WS = " \t\n\r\f\v"
_QUANT = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_FLAGS = re.compile(r"\(\?([aiLmsux]*)(?:-([aiLmsux]*))?([:)])")
_CONTROL = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_OCT = "01234567"
_HEX = "0123456789abcdefABCDEF"
_PLACEHOLDER_TOP = 0x10FFFD  # placeholders count down from here (plane 16 private use)


class _Placeholder:
    __slots__ = ("spec",)

    def __init__(self, spec: ClassSpec) -> None:
        self.spec = spec


def _unsupported(feature: str, pattern: str, pos: int, hint: str | None = None) -> Unsupported:
    return Unsupported(f"regex feature not supported: {feature}", feature=feature,
                       source=pattern, pos=pos, hint=hint)


class _Scanner:
    """One pass over a pattern that ``re.compile`` accepted."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.n = len(pattern)
        self.pieces: list[tuple[object, int]] = []  # (str or _Placeholder, origin)
        self.literals: set[int] = set()
        self.depth = 0
        self.verbose = [False]
        self.at_start = True  # at the start of a top-level alternative
        self.ascii_global = False
        self.ascii_scoped: int | None = None  # position of a scoped (?a:...)
        self.icase_seen = False

    # -- helpers ------------------------------------------------------------------------------
    def emit(self, text, pos: int) -> None:
        self.pieces.append((text, pos))

    def emit_literal(self, cp: int, pos: int) -> None:
        self.literals.add(cp)
        ch = chr(cp)
        self.emit("\\" + ch if ch in _META_OUT else ch, pos)

    def unsupported(self, feature: str, pos: int, hint: str | None = None) -> Unsupported:
        return _unsupported(feature, self.p, pos, hint)

    def skip_insignificant(self, i: int) -> int:
        """Skip verbose-mode whitespace and comments, and ``(?#...)`` comment groups."""
        p, n = self.p, self.n
        while i < n:
            if self.verbose[-1] and p[i] in _WS:
                i += 1
            elif self.verbose[-1] and p[i] == "#":
                j = p.find("\n", i)
                i = n if j < 0 else j + 1
            elif p.startswith("(?#", i):
                j = p.find(")", i)
                i = n if j < 0 else j + 1
            else:
                break
        return i

    def at_end(self, i: int) -> bool:
        """Whether a top-level anchor ending at ``i`` ends its alternative."""
        i = self.skip_insignificant(i)
        return i >= self.n or self.p[i] in "|$" or self.p.startswith("\\Z", i)

    def read_hex(self, i: int, count: int, what: str) -> tuple[int, int]:
        digits = self.p[i:i + count]
        if len(digits) != count or any(c not in _HEX for c in digits):
            raise InvalidSyntax(f"incomplete escape {what}", source=self.p, pos=i - 2)
        return int(digits, 16), i + count

    def read_escape_literal(self, i: int) -> tuple[int, int] | None:
        """Escapes that stand for one character, shared by classes and the outside.

        ``i`` points at the character after the backslash. Returns (code point, next index)
        or None when the escape is not a single-character one.
        """
        p = self.p
        c = p[i]
        if c in _CONTROL:
            return _CONTROL[c], i + 1
        if c == "x":
            return self.read_hex(i + 1, 2, "\\x")
        if c == "u":
            return self.read_hex(i + 1, 4, "\\u")
        if c == "U":
            cp, j = self.read_hex(i + 1, 8, "\\U")
            if cp > MAX_CODE_POINT:
                raise InvalidSyntax("bad escape \\U (beyond U+10FFFF)", source=p, pos=i - 1)
            return cp, j
        if c == "N":
            end = p.find("}", i)
            if not p.startswith("{", i + 1) or end < 0:
                raise InvalidSyntax("missing {NAME} after \\N", source=p, pos=i - 1)
            try:
                return ord(unicodedata.lookup(p[i + 2:end])), end + 1
            except KeyError:
                raise InvalidSyntax(f"undefined character name {p[i + 2:end]!r}", source=p,
                                    pos=i - 1) from None
        return None

    # -- main loop ----------------------------------------------------------------------------
    def run(self) -> Translation:
        p, n = self.p, self.n
        i = 0
        while i < n:
            c = p[i]
            if self.verbose[-1] and (c in _WS or c == "#"):
                i = self.skip_insignificant(i)
                continue
            if c == "\\":
                i = self.escape(i)
            elif c == "[":
                i = self.char_class(i)
                self.at_start = False
            elif c == "(":
                i = self.group(i)
            elif c == ")":
                self.depth -= 1
                if len(self.verbose) > 1:
                    self.verbose.pop()
                self.emit(")", i)
                i += 1
                self.at_start = False
            elif c == "|":
                self.emit("|", i)
                if self.depth == 0:
                    self.at_start = True
                i += 1
            elif c in "*+?":
                self.emit(c, i)
                i = self.quantifier_suffix(i + 1, i)
            elif c == "{":
                m = _QUANT.match(p, i)
                if m and (m.group(1) or m.group(2)):
                    lo = m.group(1) or "0"
                    text = "{" + lo + ("," + m.group(3) if m.group(2) else "") + "}"
                    self.emit(text, i)
                    i = self.quantifier_suffix(m.end(), i)
                else:
                    self.emit_literal(ord("{"), i)
                    i += 1
                    self.at_start = False
            elif c == "^":
                if not (self.depth == 0 and self.at_start):
                    raise self.unsupported("anchor '^' (only allowed at the start of the "
                                           "pattern or of a top-level alternative)", i)
                i += 1
            elif c == "$":
                if not (self.depth == 0 and self.at_end(i + 1)):
                    raise self.unsupported("anchor '$' (only allowed at the end of the "
                                           "pattern or of a top-level alternative)", i)
                i += 1
            elif c == ".":
                self.emit(".", i)
                i += 1
                self.at_start = False
            else:
                self.emit_literal(ord(c), i)
                i += 1
                self.at_start = False
        return self.finish()

    def quantifier_suffix(self, i: int, qpos: int) -> int:
        if i < self.n and self.p[i] == "?":  # lazy: same language under full match
            return i + 1
        if i < self.n and self.p[i] == "+":
            raise self.unsupported("possessive quantifier", qpos)
        return i

    def escape(self, i: int) -> int:
        p = self.p
        if i + 1 >= self.n:
            raise InvalidSyntax("bad escape (end of pattern)", source=p, pos=i)
        c = p[i + 1]
        lit = self.read_escape_literal(i + 1)
        if lit is not None:
            self.emit_literal(lit[0], i)
            self.at_start = False
            return lit[1]
        if c in "dDsSwW":
            self.emit("\\" + c, i)
            self.at_start = False
            return i + 2
        if c == "b":
            raise self.unsupported("word boundary \\b", i)
        if c == "B":
            raise self.unsupported("non-word-boundary \\B", i)
        if c == "A":
            if not (self.depth == 0 and self.at_start):
                raise self.unsupported("anchor \\A (only allowed at the start of the pattern "
                                       "or of a top-level alternative)", i)
            return i + 2
        if c == "Z":
            if not (self.depth == 0 and self.at_end(i + 2)):
                raise self.unsupported("anchor \\Z (only allowed at the end of the pattern "
                                       "or of a top-level alternative)", i)
            return i + 2
        if c == "0":
            j = i + 2
            while j < min(i + 4, self.n) and p[j] in _OCT:
                j += 1
            self.emit_literal(int(p[i + 1:j], 8), i)
            self.at_start = False
            return j
        if c.isdigit():
            if (c in _OCT and i + 3 < self.n and p[i + 2] in _OCT and p[i + 3] in _OCT):
                self.emit_literal(int(p[i + 1:i + 4], 8), i)
                self.at_start = False
                return i + 4
            raise self.unsupported("backreference", i)
        if c.isascii() and c.isalnum():
            raise InvalidSyntax(f"bad escape \\{c}", source=p, pos=i)
        self.emit_literal(ord(c), i)
        self.at_start = False
        return i + 2

    def class_atom(self, j: int) -> tuple[object, int]:
        """One class member at ``j``: (code point or Ranges of a shorthand, next index)."""
        p = self.p
        if p[j] != "\\":
            return ord(p[j]), j + 1
        if j + 1 >= self.n:
            raise InvalidSyntax("unterminated character set", source=p, pos=j)
        c = p[j + 1]
        lit = self.read_escape_literal(j + 1)
        if lit is not None:
            return lit
        if c in _SHORTHAND:
            return _SHORTHAND[c], j + 2
        if c == "b":
            return 8, j + 2
        if c in _OCT:
            k = j + 2
            while k < min(j + 4, self.n) and p[k] in _OCT:
                k += 1
            return int(p[j + 1:k], 8), k
        if c.isascii() and c.isalnum():
            raise InvalidSyntax(f"bad escape \\{c}", source=p, pos=j)
        return ord(c), j + 2

    def char_class(self, i: int) -> int:
        p, n = self.p, self.n
        j = i + 1
        negated = j < n and p[j] == "^"
        if negated:
            j += 1
        items: list[tuple[int, int]] = []
        first = True
        while True:
            if j >= n:
                raise InvalidSyntax("unterminated character set", source=p, pos=i)
            if p[j] == "]" and not first:
                j += 1
                break
            first = False
            a, j = self.class_atom(j)
            if (not isinstance(a, tuple) and j + 1 < n and p[j] == "-" and p[j + 1] != "]"):
                b, j2 = self.class_atom(j + 1)
                if isinstance(b, tuple) or b < a:
                    raise InvalidSyntax("bad character range", source=p, pos=j - 1)
                items.append((a, b))
                j = j2
            elif isinstance(a, tuple):
                items.extend(a)
            else:
                items.append((a, a))
        self.emit(_Placeholder(ClassSpec(_normalize(items), negated, i)), i)
        return j

    def group(self, i: int) -> int:
        p = self.p
        if self.depth >= MAX_NESTING:
            raise self.unsupported(f"groups nested more than {MAX_NESTING} deep", i)
        if not p.startswith("(?", i):
            self.open_group("(", i, self.verbose[-1])
            return i + 1
        c = p[i + 2] if i + 2 < self.n else ""
        if c == ":":
            self.open_group("(?:", i, self.verbose[-1])
            return i + 3
        if c == "P":
            if p.startswith("(?P<", i):
                end = p.find(">", i)
                self.open_group("(", i, self.verbose[-1])
                return end + 1
            if p.startswith("(?P=", i):
                raise self.unsupported("backreference (?P=name)", i)
            raise self.unsupported("group extension (?P...)", i)
        if c == "#":
            end = p.find(")", i)
            return self.n if end < 0 else end + 1
        if c == "=":
            raise self.unsupported("lookahead (?=...)", i)
        if c == "!":
            raise self.unsupported("negative lookahead (?!...)", i)
        if p.startswith("(?<=", i):
            raise self.unsupported("lookbehind (?<=...)", i)
        if p.startswith("(?<!", i):
            raise self.unsupported("negative lookbehind (?<!...)", i)
        if c == "(":
            raise self.unsupported("conditional group (?(...)...)", i)
        if c == ">":
            raise self.unsupported("atomic group (?>...)", i)
        m = _FLAGS.match(p, i)
        if not m:
            raise self.unsupported(f"group extension (?{c}...)", i)
        added, removed, end = m.group(1), m.group(2) or "", m.group(3)
        if "i" in added:
            self.icase_seen = True
        if "a" in added:
            if end == ")":
                self.ascii_global = True
            elif self.ascii_scoped is None:
                self.ascii_scoped = i
        keep_add = "".join(f for f in added if f in "ims")
        keep_rem = "".join(f for f in removed if f in "ims")
        if end == ")":  # global flags (Python requires them at the start)
            if "x" in added:
                self.verbose[0] = True
            if keep_add:
                self.emit(f"(?{keep_add})", i)
            return m.end()
        verbose = ("x" in added or self.verbose[-1]) and "x" not in removed
        text = "(?" + keep_add + ("-" + keep_rem if keep_rem else "") + ":"
        self.open_group(text, i, verbose)
        return m.end()

    def open_group(self, text: str, pos: int, verbose: bool) -> None:
        self.emit(text, pos)
        self.depth += 1
        self.verbose.append(verbose)
        self.at_start = False

    def finish(self) -> Translation:
        if self.ascii_scoped is not None and self.icase_seen:
            raise self.unsupported("scoped ASCII flag (?a:...) together with (?i)",
                                   self.ascii_scoped, hint="put (?a) at the start instead")
        # placeholders: private-use characters that occur nowhere else in the text
        used = set(self.literals)
        for piece, _ in self.pieces:
            if isinstance(piece, str):
                used.update(map(ord, piece))
        nxt = _PLACEHOLDER_TOP
        out: list[str] = []
        origin: list[int] = []
        classes: dict[str, ClassSpec] = {}
        for piece, pos in self.pieces:
            if isinstance(piece, _Placeholder):
                while nxt in used or 0xD800 <= nxt <= 0xDFFF:
                    nxt -= 1
                ch = chr(nxt)
                nxt -= 1
                classes[ch] = piece.spec
                piece = ch
            out.append(piece)
            origin.extend([pos] * len(piece))
        return Translation("".join(out), origin, classes, self.ascii_global)


def translate(pattern: str) -> Translation:
    """Rewrite a pattern that ``re.compile`` accepts into what interegular parses.

    Raises :class:`Unsupported` (with the feature and its position) for constructs a DFA
    cannot express or bytegram does not implement. See the module docstring.
    """
    return _Scanner(pattern).run()


# --------------------------------------------------------------------------------------------
# NFA over bytes

class _NFA:
    def __init__(self, limit: int, max_states: int) -> None:
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[int, int, int]]] = []  # (byte lo, byte hi, target)
        self.limit = limit
        self.max_states = max_states
        self._suffix: dict[tuple, int] = {}
        self._seqs: dict[Ranges, list[tuple[tuple[int, int], tuple]]] = {}

    def state(self) -> int:
        n = len(self.eps)
        if n >= self.limit:
            raise LimitExceeded(
                f"regex expands to more than {self.limit} NFA states before determinization",
                limit="max_states", value=self.max_states, hint=_HINT_STATES)
        self.eps.append([])
        self.edges.append([])
        return n

    def char_edge(self, src: int, dst: int, ranges: Ranges) -> None:
        seqs = self._seqs.get(ranges)
        if seqs is None:  # (first byte range, rest) per UTF-8 sequence
            seqs = [(seq[0], tuple(seq[1:])) for lo, hi in ranges
                    for seq in utf8_sequences(lo, hi)]
            self._seqs[ranges] = seqs
        out = self.edges[src]
        for (lo, hi), rest in seqs:
            out.append((lo, hi, self._suffix_state(rest, dst)))

    def _suffix_state(self, suffix: tuple, dst: int) -> int:
        """A state from which exactly the byte ranges ``suffix`` lead to ``dst``."""
        if not suffix:
            return dst
        key = (suffix, dst)
        s = self._suffix.get(key)
        if s is None:
            s = self.state()
            lo, hi = suffix[0]
            self.edges[s].append((lo, hi, self._suffix_state(suffix[1:], dst)))
            self._suffix[key] = s
        return s


class _Builder:
    def __init__(self, nfa: _NFA, classes: dict[str, ClassSpec], ascii_case: bool) -> None:
        self.nfa = nfa
        self.classes = classes
        self.fold = _case_close_ascii if ascii_case else _case_close
        self._class_cache: dict[tuple[str, bool], Ranges] = {}

    def ranges_of(self, node: _CharGroup, flags: REFlags) -> Ranges:
        icase = bool(flags & REFlags.CASE_INSENSITIVE)
        chars = node.chars
        if len(chars) == 1 and not node.negated:
            (ch,) = chars
            spec = self.classes.get(ch)
            if spec is not None:
                key = (ch, icase)
                r = self._class_cache.get(key)
                if r is None:
                    r = self.fold(spec.ranges) if icase else spec.ranges
                    if spec.negated:
                        r = _complement(r)
                    self._class_cache[key] = r
                return r
        r = _chars_to_ranges(chars)
        if icase:
            r = self.fold(r)
        return _complement(r) if node.negated else r

    def build(self, node, flags: REFlags) -> tuple[int, int]:
        """Thompson fragment (entry, exit) for ``node``."""
        nfa = self.nfa
        if isinstance(node, Pattern):
            flags = (flags | node.added_flags) & ~node.removed_flags
            if len(node.options) == 1:
                return self.build(node.options[0], flags)
            s, e = nfa.state(), nfa.state()
            for opt in node.options:
                a, b = self.build(opt, flags)
                nfa.eps[s].append(a)
                nfa.eps[b].append(e)
            return s, e
        if isinstance(node, _Concatenation):
            s = e = nfa.state()
            for part in node.parts:
                if isinstance(part, _NonCapturing):  # the translator rejects lookaround first
                    raise Unsupported("regex feature not supported: lookaround",
                                      feature="lookaround")
                a, b = self.build(part, flags)
                nfa.eps[e].append(a)
                e = b
            return s, e
        if isinstance(node, _Repeated):
            return self.repeat(node, flags)
        if isinstance(node, _CharGroup):
            s, e = nfa.state(), nfa.state()
            nfa.char_edge(s, e, self.ranges_of(node, flags))
            return s, e
        if node is _DOT:
            s, e = nfa.state(), nfa.state()
            ranges = (((0, MAX_CODE_POINT),) if flags & REFlags.SINGLE_LINE
                      else ((0, 9), (11, MAX_CODE_POINT)))
            nfa.char_edge(s, e, ranges)
            return s, e
        if node is _EMPTY:
            s = nfa.state()
            return s, s
        raise Unsupported(f"regex construct not supported: {type(node).__name__}",
                          feature=type(node).__name__)

    def repeat(self, node: _Repeated, flags: REFlags) -> tuple[int, int]:
        nfa = self.nfa
        lo, hi = node.min, node.max
        s = e = nfa.state()
        for _ in range(lo - 1 if (hi is None and lo > 0) else lo):
            a, b = self.build(node.base, flags)
            nfa.eps[e].append(a)
            e = b
        if hi is None:
            if lo > 0:  # the last mandatory copy loops back on itself
                a, b = self.build(node.base, flags)
                nfa.eps[e].append(a)
                nfa.eps[b].append(a)
                return s, b
            loop = nfa.state()
            nfa.eps[e].append(loop)
            a, b = self.build(node.base, flags)
            nfa.eps[loop].append(a)
            nfa.eps[b].append(loop)
            return s, loop
        if hi > lo:  # nested optionals: (x(x(x)?)?)? keeps epsilon closures small
            out = nfa.state()
            for _ in range(hi - lo):
                a, b = self.build(node.base, flags)
                nfa.eps[e].append(a)
                nfa.eps[e].append(out)
                e = b
            nfa.eps[e].append(out)
            e = out
        return s, e


def _determinize(nfa: _NFA, start: int, accept: int,
                 max_states: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subset construction over byte classes: (table [n, k], accepting [n], class of byte)."""
    cuts = {0, 256}
    for edges in nfa.edges:
        for lo, hi, _ in edges:
            cuts.add(lo)
            cuts.add(hi + 1)
    cuts_l = sorted(cuts)
    k = len(cuts_l) - 1
    class_of_byte = np.repeat(np.arange(k), np.diff(cuts_l))
    first_class = {b: c for c, b in enumerate(cuts_l[:-1])}
    nfa._suffix.clear()
    cedges = nfa.edges  # rewritten in place: byte ranges -> class ranges
    for q, edges in enumerate(cedges):
        if edges:
            cedges[q] = [(first_class[lo], first_class[hi + 1] - 1 if hi + 1 < 256 else k - 1, d)
                         for lo, hi, d in edges]
    eps = nfa.eps

    # a DFA state is keyed by the states of its closure that matter: those with byte edges,
    # and the accepting one (pure epsilon states would only make the keys bigger)
    important = [bool(cedges[q]) or q == accept for q in range(len(eps))]

    def closure(seeds) -> frozenset:
        seen = set(seeds)
        stack = list(seen)
        while stack:
            for r in eps[stack.pop()]:
                if r not in seen:
                    seen.add(r)
                    stack.append(r)
        return frozenset(q for q in seen if important[q])

    ids: dict[frozenset, int] = {}
    by_moves: dict[frozenset, int] = {}  # closure cache keyed by the pre-closure move set
    sets: list[frozenset] = []
    rows: list[list[int]] = []

    def intern(state_set: frozenset) -> int:
        sid = ids.get(state_set)
        if sid is None:
            sid = len(sets)
            if sid >= max_states:
                raise dfa_limit_error(max_states)
            ids[state_set] = sid
            sets.append(state_set)
        return sid

    intern(closure([start]))
    i = 0
    while i < len(sets):
        moves: dict[int, set[int]] = {}
        for q in sets[i]:
            for clo, chi, d in cedges[q]:
                for c in range(clo, chi + 1):
                    bucket = moves.get(c)
                    if bucket is None:
                        moves[c] = {d}
                    else:
                        bucket.add(d)
        row = [-1] * k
        for c, targets in moves.items():
            key = frozenset(targets)
            sid = by_moves.get(key)
            if sid is None:
                sid = intern(closure(key))
                by_moves[key] = sid
            row[c] = sid
        rows.append(row)
        i += 1
    table = np.array(rows, dtype=np.int64).reshape(len(rows), k)
    accepting = np.array([accept in s for s in sets], dtype=bool)
    return table, accepting, class_of_byte


# --------------------------------------------------------------------------------------------

def _check_with_re(pattern: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile(pattern)
        except re.error as e:
            pos = e.pos if e.pos is not None else None
            raise InvalidSyntax(f"invalid regex: {e.msg}", source=pattern, pos=pos) from None
        except RecursionError:
            raise Unsupported("regex nested too deeply", feature="deep nesting") from None
        except (OverflowError, ValueError) as e:
            raise InvalidSyntax(f"invalid regex: {e}", source=pattern, pos=None) from None


def _parse(pattern: str, tr: Translation):
    try:
        return interegular.parse_pattern(tr.text)
    except RecursionError:
        raise _unsupported("groups nested too deeply", pattern, 0) from None
    except Exception as e:  # interegular.patterns.Unsupported / InvalidSyntax / NoMatch
        ctx = e if hasattr(e, "index") else e.__context__
        idx = getattr(ctx, "index", None)
        pos = tr.origin[idx] if idx is not None and idx < len(tr.origin) else (
            len(pattern) if idx is not None else None)
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise Unsupported(f"regex construct not supported by the parser ({detail})",
                          feature="regex construct", source=pattern if pos is not None else None,
                          pos=pos) from None


def regex_to_dfa(pattern: str, *, max_states: int = 100_000) -> ByteDFA:
    """Compile a Python-style regex into the minimal trimmed byte DFA of its full matches.

    The DFA accepts exactly the UTF-8 encodings of the strings ``s`` for which
    ``re.fullmatch(pattern, s)`` succeeds (with the documented differences of the module
    docstring: ASCII ``\\d``/``\\w``/``\\s``). A leading ``^`` and a trailing ``$`` are
    accepted and change nothing. After trimming, every state reaches an accepting state, so a
    byte string is a viable prefix iff walking it never hits -1; a prefix may end inside a
    multi-byte character.

    Errors: :class:`InvalidSyntax` (what ``re`` rejects; position and caret),
    :class:`Unsupported` (lookaround, backreferences, ``\\b``/``\\B``, inner anchors, atomic
    groups, possessive quantifiers, conditionals; feature and position), and
    :class:`LimitExceeded` with ``limit="max_states"`` when determinization needs more than
    ``max_states`` states (or the NFA more than ``8 * max_states + 10_000``). Work is bounded
    by these limits; nothing is enumerated per code point.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be str, got {type(pattern).__name__}")
    if not isinstance(max_states, int) or max_states < 1:
        raise ValueError(f"max_states must be a positive int, got {max_states!r}")
    _check_with_re(pattern)
    tr = translate(pattern)
    tree = _parse(pattern, tr)
    nfa = _NFA(limit=8 * max_states + 10_000, max_states=max_states)
    builder = _Builder(nfa, tr.classes, tr.ascii_case)
    start, accept = builder.build(tree, REFlags(0))
    table, accepting, class_of_byte = _determinize(nfa, start, accept, max_states)
    small, acc = minimize_table(table, accepting, 0)
    if small.shape[0] == 0:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), -1)
    # classes are byte ranges in increasing order, so this is minimize()'s own numbering
    return mark_minimal(ByteDFA(small[:, class_of_byte], acc, 0), canonical=True)


def nfa_limit_error(max_states: int) -> LimitExceeded:
    """The error ``regex_to_dfa`` raises when the NFA outgrows ``8 * max_states + 10_000``."""
    return LimitExceeded(
        f"regex expands to more than {8 * max_states + 10_000} NFA states before "
        f"determinization", limit="max_states", value=max_states, hint=_HINT_STATES)


def dfa_limit_error(max_states: int) -> LimitExceeded:
    """The error ``regex_to_dfa`` raises when determinization needs too many states."""
    return LimitExceeded(f"regex DFA needs more than {max_states} states",
                         limit="max_states", value=max_states, hint=_HINT_STATES)


_DFA_MEMO: "OrderedDict[tuple[str, int], ByteDFA]" = OrderedDict()
_DFA_MEMO_SIZE = 512


def cached_regex_to_dfa(pattern: str, *, max_states: int = 100_000) -> ByteDFA:
    """``regex_to_dfa`` behind an in-memory LRU and the disk cache (``bytegram.cache``).

    Grammars built from schemas repeat the same terminal regexes many times; a DFA depends
    on the pattern and the limit only, so both caches are exact.
    """
    from .. import cache

    memo_key = (pattern, max_states)
    hit = _DFA_MEMO.get(memo_key)
    if hit is not None:
        _DFA_MEMO.move_to_end(memo_key)
        return hit
    key = cache.cache_key("regex-dfa", pattern, str(max_states))
    stored = cache.load("regex-dfa", key)
    if stored is not None:
        arrays, _ = stored
        dfa = ByteDFA(arrays["transitions"], arrays["accepting"], int(arrays["start"]))
    else:
        dfa = regex_to_dfa(pattern, max_states=max_states)
        cache.save("regex-dfa", key, {"transitions": dfa.transitions,
                                      "accepting": dfa.accepting,
                                      "start": np.asarray(dfa.start)})
    _DFA_MEMO[memo_key] = dfa
    while len(_DFA_MEMO) > _DFA_MEMO_SIZE:
        _DFA_MEMO.popitem(last=False)
    return dfa
