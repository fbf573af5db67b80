"""Code-point ranges -> UTF-8 byte-sequence ranges.

A range of Unicode scalar values ``[lo, hi]`` is split into a short list of *sequences*; each
sequence is a list of per-byte inclusive ranges ``[(lo1, hi1), (lo2, hi2), ...]`` and matches
exactly the byte strings ``b1 b2 ...`` with ``lo_i <= b_i <= hi_i``. Together the sequences
match exactly the UTF-8 encodings of the scalar values in ``[lo, hi]``: surrogates
(U+D800..U+DFFF) have no UTF-8 encoding and are left out, overlong and out-of-range encodings
are never produced. The algorithm is the one of RE2 and regex-automata (``Utf8Sequences``):
split at the 1/2/3/4-byte boundaries, then split until every byte after the first differing
one spans the full continuation range 0x80..0xBF. A range therefore never yields more than a
handful of sequences (all of Unicode gives 9), and no code point is ever enumerated.
"""

from __future__ import annotations

__all__ = ["utf8_sequences", "utf8_sequences_for_ranges", "MAX_CODE_POINT", "encode_utf8"]

MAX_CODE_POINT = 0x10FFFF
_SURROGATE_LO = 0xD800
_SURROGATE_HI = 0xDFFF
_LENGTH_LIMITS = (0x7F, 0x7FF, 0xFFFF)  # largest scalar of each encoded length 1, 2, 3


def encode_utf8(cp: int) -> bytes:
    """UTF-8 bytes of one scalar value (no surrogates), without going through ``str``."""
    if cp < 0x80:
        return bytes((cp,))
    if cp < 0x800:
        return bytes((0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)))
    if cp < 0x10000:
        return bytes((0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)))
    return bytes((0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3F), 0x80 | ((cp >> 6) & 0x3F),
                  0x80 | (cp & 0x3F)))


def utf8_sequences(lo: int, hi: int) -> list[list[tuple[int, int]]]:
    """UTF-8 byte-range sequences matching exactly the encodings of scalars ``lo..hi``.

    Sequences come out in increasing code-point order; an empty list when the range is empty
    or holds only surrogates. ``lo``/``hi`` are clamped to 0..0x10FFFF.
    """
    lo = max(lo, 0)
    hi = min(hi, MAX_CODE_POINT)
    out: list[list[tuple[int, int]]] = []
    if lo > hi:
        return out
    stack: list[tuple[int, int]] = [(lo, hi)]
    while stack:
        start, end = stack.pop()
        while start <= end:
            if start <= _SURROGATE_HI and end >= _SURROGATE_LO:  # cut out the surrogates
                if end > _SURROGATE_HI:
                    stack.append((_SURROGATE_HI + 1, end))
                end = _SURROGATE_LO - 1
                continue
            if _split(start, end, stack):
                end = stack[-1][0] - 1
                continue
            if end <= 0x7F:
                out.append([(start, end)])
                break
            a, b = encode_utf8(start), encode_utf8(end)
            out.append(list(zip(a, b)))
            break
    return out


def _split(start: int, end: int, stack: list[tuple[int, int]]) -> bool:
    """Push the upper part of ``[start, end]`` when it must be split; True if it was."""
    for limit in _LENGTH_LIMITS:  # split at encoded-length boundaries
        if start <= limit < end:
            stack.append((limit + 1, end))
            return True
    if end <= 0x7F:
        return False
    # split until the bytes after the first differing one span 80..BF fully
    for i in (1, 2, 3):
        m = (1 << (6 * i)) - 1
        if (start & ~m) != (end & ~m):
            if start & m:
                stack.append(((start | m) + 1, end))
                return True
            if (end & m) != m:
                stack.append((end & ~m, end))
                return True
    return False


def utf8_sequences_for_ranges(ranges) -> list[list[tuple[int, int]]]:
    """Sequences for a union of disjoint code-point ranges ``[(lo, hi), ...]``."""
    out: list[list[tuple[int, int]]] = []
    for lo, hi in ranges:
        out.extend(utf8_sequences(lo, hi))
    return out
