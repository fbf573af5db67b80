"""The lexer's walk table (bytegram.masks.cfg_lexer): entries built one byte at a time must
agree with whole rows, and both with the readings the walk states stand for.

Two ``LexerSpace`` objects over the same LR tables walk the same byte strings: one builds
entries one by one (``walk_bytes``), the other asks ``build_walk`` for every byte of each
state it reaches (whole rows). Walk-state ids differ between the two (they are interned in
visit order), so states are compared by their readings (``walk_items``), translated back to
terminal sequences and lexer items.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytegram import Grammar
from bytegram.grammar.lr import build_lr_tables
from bytegram.masks.cfg_lexer import LexerSpace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfg_grammars import LARK, SAMPLES  # noqa: E402

NAMES = sorted([*LARK, "json"])


@lru_cache(maxsize=None)
def tables(name: str):
    g = Grammar.json() if name == "json" else Grammar.from_lark(LARK[name])
    return build_lr_tables(g.ir)


def readings(space: LexerSpace, wid: int) -> frozenset:
    """Walk state ``wid`` as (terminal sequence, lexer items) pairs: ids-independent."""
    if wid < 0:
        return frozenset()
    return frozenset((space.seq_terms(seq), space.lex_fresh[lex], space.lex_items[lex])
                     for seq, lex in space.walk_items[wid])


def walk_by_rows(space: LexerSpace, wid: int, data: bytes) -> int:
    for b in data:
        codes = ((wid + 1) << 8) + np.arange(256, dtype=np.int32)
        code = int(space.build_walk(codes)[((wid + 1) << 8) + b])
        assert code >= 0, "build_walk left an entry of a whole row unbuilt"
        wid = (code >> 8) - 1
        if wid < 0:
            return -1
    return wid


chunks = st.lists(st.one_of(st.binary(min_size=1, max_size=6),
                            st.sampled_from(sorted(set(b for s in SAMPLES.values() for b in
                                                       (s[i:i + 4] for i in range(len(s))))))),
                  min_size=1, max_size=6).map(b"".join)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.one_of(chunks, st.sampled_from([s[i:j] for s in SAMPLES.values()
                                               for i, j in ((0, 9), (3, 17), (5, 30))])),
       start=st.integers(0, 40))
def test_entries_agree_with_whole_rows(name, data, start):
    t = tables(name)
    one, rows = LexerSpace(t), LexerSpace(t)
    # a lexer state to start from: fresh for some terminal subset, maybe a byte into it
    mask = (start * 0x9E3779B1) % (1 << t.n_terminals) or (1 << t.n_terminals) - 1
    lex_a, lex_b = one.fresh(mask), rows.fresh(mask)
    first = SAMPLES.get(name, b"a")[start % len(SAMPLES.get(name, b"a"))]
    na, nb = one.lex_next(lex_a, first), rows.lex_row(lex_b)[first]
    assert (na < 0) == (nb < 0)
    if na >= 0:
        assert one.lex_items[na] == rows.lex_items[nb]
        lex_a, lex_b = na, nb
    wa = one.walk_bytes(one.initial_walk(lex_a), data)
    wb = walk_by_rows(rows, rows.initial_walk(lex_b), data)
    assert readings(one, wa) == readings(rows, wb)
    # and byte by byte: every prefix agrees, through entries that are now partly built
    wa, wb = one.initial_walk(lex_a), rows.initial_walk(lex_b)
    for b in data:
        wa, wb = one.walk_next(wa, b), rows.walk_next(wb, b)
        assert readings(one, wa) == readings(rows, wb)
        if wa < 0:
            break
