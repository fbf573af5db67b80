"""Number constraints as DFAs over the text of JSON numbers.

The universe of number texts bytegram accepts is ``-?(0|[1-9][0-9]*)(\\.[0-9]+)?``: JSON's
number syntax without an exponent (exact range checks on ``1e5``-style texts are not
regular in general, so exponent forms are never accepted: a documented false reject).
Every constraint below is a DFA that is *exact within that universe*: a text is accepted iff
its value satisfies the constraint. That is what makes intersection (``allOf``), union and
complement within the universe (``not``) exact too.

- ``integer`` (JSON Schema 2020-12 and the test suite: a number with zero fractional part is
  an integer): ``-?(0|[1-9][0-9]*)(\\.0+)?``.
- ``minimum``/``maximum``/``exclusive*``: digit-wise comparison regexes against the bound.
- ``multipleOf`` ``m``: with ``d`` decimals in ``m``, a multiple has at most ``d`` significant
  decimals; a remainder automaton over ``x * 10**d mod m * 10**d`` (states bounded).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

import numpy as np

from ...errors import LimitExceeded
from ..dfa import ByteDFA
from ..dfa_ops import intersect
from ..regex import regex_to_dfa

__all__ = ["NUMBER_UNIVERSE", "INTEGER_UNIVERSE", "number_universe", "integer_universe",
           "bound_dfa", "multiple_of_dfa", "exact_number_dfa", "to_decimal",
           "MAX_MULTIPLE_STATES", "exact_numbers_dfa"]

NUMBER_UNIVERSE = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
INTEGER_UNIVERSE = r"-?(?:0|[1-9][0-9]*)(?:\.0+)?"
MAX_MULTIPLE_STATES = 50_000


@lru_cache(maxsize=1)
def number_universe() -> ByteDFA:
    """All number texts accepted (no exponent)."""
    return regex_to_dfa(NUMBER_UNIVERSE)


@lru_cache(maxsize=1)
def integer_universe() -> ByteDFA:
    """Number texts whose value is an integer."""
    return regex_to_dfa(INTEGER_UNIVERSE)


def to_decimal(value: object) -> Decimal:
    """A JSON number (int or float) as an exact Decimal of its shortest repr."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        return Decimal(repr(value))
    return Decimal(value)


def _split(b: Decimal) -> tuple[str, str]:
    """Non-negative decimal -> (integer digits without leading zeros, fraction digits
    without trailing zeros)."""
    s = format(b, "f")
    if "." in s:
        ip, fp = s.split(".")
        fp = fp.rstrip("0")
    else:
        ip, fp = s, ""
    ip = ip.lstrip("0") or "0"
    return ip, fp


def _rng(lo: int, hi: int) -> str:
    if lo > hi:
        return ""
    return str(lo) if lo == hi else f"[{lo}-{hi}]"


def _int_gt(bi: str) -> list[str]:
    """Canonical integer digit strings > bi."""
    n = len(bi)
    out = [r"[1-9][0-9]{%d,}" % n]
    for k in range(n):
        d = int(bi[k])
        if d < 9:
            out.append(bi[:k] + _rng(d + 1, 9) + (r"[0-9]{%d}" % (n - k - 1)))
    return out


def _int_lt(bi: str) -> list[str]:
    """Canonical integer digit strings < bi."""
    n = len(bi)
    out = []
    if n >= 2:
        out.append("0")
        if n >= 3:
            out.append(r"[1-9][0-9]{0,%d}" % (n - 2))
        else:
            out.append("[1-9]")
    for k in range(n):
        d = int(bi[k])
        lo = 1 if (k == 0 and n > 1) else 0
        if d - 1 >= lo:
            out.append(bi[:k] + _rng(lo, d - 1) + (r"[0-9]{%d}" % (n - k - 1)))
    return out


def _frac_gt(bf: str) -> list[str]:
    if not bf:
        return [r"[0-9]*[1-9][0-9]*"]
    out = []
    for k in range(len(bf)):
        d = int(bf[k])
        if d < 9:
            out.append(bf[:k] + _rng(d + 1, 9) + "[0-9]*")
    out.append(bf + r"[0-9]*[1-9][0-9]*")
    return out


def _frac_lt(bf: str) -> list[str]:
    if not bf:
        return []
    out = []
    for k in range(len(bf)):
        d = int(bf[k])
        if d > 0:
            out.append(bf[:k] + _rng(0, d - 1) + "[0-9]*")
        if k > 0:
            out.append(bf[:k] + "0*")
    return out


def _alt(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    if not parts:
        return ""
    return "(?:" + "|".join(parts) + ")"


def _mag(op: str, b: Decimal) -> str:
    """Regex (may be '' for none) for non-negative magnitude texts m with m op b (b >= 0)."""
    bi, bf = _split(b)
    eq = [bi + r"(?:\.0+)?"] if not bf else [bi + r"\." + bf + "0*"]
    if op in ("gt", "ge"):
        parts = [_alt(_int_gt(bi)) + r"(?:\.[0-9]+)?"]
        fg = _alt(_frac_gt(bf))
        if fg:
            parts.append(bi + r"\." + fg)
    else:
        parts = []
        il = _alt(_int_lt(bi))
        if il:
            parts.append(il + r"(?:\.[0-9]+)?")
        if bf:
            parts.append(bi)
            fl = _alt(_frac_lt(bf))
            if fl:
                parts.append(bi + r"\." + fl)
    if op in ("ge", "le"):
        parts += eq
    return _alt(parts)


_ANY_MAG = r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"


@lru_cache(maxsize=512)
def bound_dfa(bound: Decimal, op: str) -> ByteDFA:
    """Number texts x (in the universe) with ``x op bound``; op in gt, ge, lt, le."""
    flip = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
    if op in ("gt", "ge"):
        if bound >= 0:
            pos = _mag(op, bound)
            neg = _mag("le", Decimal(0)) if (bound == 0 and op == "ge") else ""
        else:
            pos = _ANY_MAG
            neg = _mag(flip[op], -bound)  # -m > b  <=>  m < -b
    else:
        if bound >= 0:
            pos = _mag(op, bound)
            neg = _mag("gt", Decimal(0)) if (bound == 0 and op == "lt") else _ANY_MAG
        else:
            pos = ""
            neg = _mag(flip[op], -bound)  # -m < b  <=>  m > -b
    parts = []
    if pos:
        parts.append(pos)
    if neg:
        parts.append("-" + neg)
    if not parts:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), -1)
    return regex_to_dfa("|".join(f"(?:{p})" for p in parts))


@lru_cache(maxsize=512)
def multiple_of_dfa(m: Decimal) -> ByteDFA:
    """Number texts whose value is an integer multiple of ``m`` (> 0)."""
    sign, digits, exp = m.normalize().as_tuple()
    d = max(0, -int(exp))
    big = int(m * (Decimal(10) ** d))
    states: dict[tuple, int] = {}
    rows: list[list[int]] = []
    acc: list[bool] = []

    def sid(key: tuple, accepting: bool) -> int:
        s = states.get(key)
        if s is None:
            s = len(rows)
            if s > MAX_MULTIPLE_STATES:
                raise LimitExceeded("multipleOf needs too many automaton states",
                                    limit="max_multiple_states", value=MAX_MULTIPLE_STATES,
                                    hint="use a simpler multipleOf")
            states[key] = s
            rows.append([-1] * 256)
            acc.append(accepting)
        return s

    def ok(r: int, k: int) -> bool:
        return (r * 10 ** (d - k)) % big == 0

    start = sid(("start",), False)
    sign_s = sid(("sign",), False)
    rows[start][ord("-")] = sign_s
    work = []
    for s0 in (start, sign_s):
        z = sid(("zero",), True)
        rows[s0][ord("0")] = z
        for c in range(1, 10):
            t = sid(("int", c % big), ok(c % big, 0))
            rows[s0][48 + c] = t
            work.append(("int", c % big))
    dot0 = sid(("frac", 0, 0), False)
    rows[states[("zero",)]][ord(".")] = dot0
    work.append(("frac", 0, 0))
    seen = set()
    while work:
        key = work.pop()
        if key in seen:
            continue
        seen.add(key)
        s = states[key]
        if key[0] == "int":
            r = key[1]
            for c in range(10):
                nk = ("int", (r * 10 + c) % big)
                rows[s][48 + c] = sid(nk, ok(nk[1], 0))
                work.append(nk)
            nk = ("frac", r, 0)
            rows[s][ord(".")] = sid(nk, False)
            work.append(nk)
        elif key[0] == "frac":
            _, r, k = key
            if k < d:
                for c in range(10):
                    nk = ("frac", (r * 10 + c) % big, k + 1)
                    rows[s][48 + c] = sid(nk, ok(nk[1], k + 1))
                    work.append(nk)
            else:
                nk = ("fracz", r)
                rows[s][ord("0")] = sid(nk, ok(r, d))
                work.append(nk)
        if key[0] == "fracz":
            pass
    for key, s in list(states.items()):
        if key[0] == "fracz":
            rows[s][ord("0")] = s
    dfa = ByteDFA(np.array(rows, np.int32), np.array(acc, bool), start).minimize()
    return intersect(dfa, number_universe())


@lru_cache(maxsize=2048)
def exact_number_dfa(value: Decimal) -> ByteDFA:
    """Number texts equal to ``value`` (trailing fractional zeros allowed)."""
    ip, fp = _split(abs(value))
    body = ip + (r"\." + fp + "0*" if fp else r"(?:\.0+)?")
    if value == 0:
        return regex_to_dfa("-?" + body)
    return regex_to_dfa(("-" if value < 0 else "") + body)


@lru_cache(maxsize=512)
def exact_numbers_dfa(values: tuple) -> ByteDFA:
    """Number texts equal to one of ``values`` (Decimals), as one regex alternation."""
    parts = []
    for value in sorted(set(values)):
        ip, fp = _split(abs(value))
        body = ip + (r"\." + fp + "0*" if fp else r"(?:\.0+)?")
        sign = "-?" if value == 0 else ("-" if value < 0 else "")
        parts.append(sign + body)
    return regex_to_dfa("|".join(f"(?:{p})" for p in parts))


def decimal_or_none(value: object) -> Decimal | None:
    try:
        return to_decimal(value)
    except (TypeError, ValueError, InvalidOperation):
        return None
