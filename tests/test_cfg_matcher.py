"""The CFG matcher's contract: forbidden tokens, end of sequence, fork, rollback, reset,
reading limits, bitmask shapes, dispatch by grammar kind."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import bytegram
from bytegram import Grammar, Vocabulary
from bytegram.errors import InvalidArgument, LimitExceeded
from bytegram.masks.cfg_matcher import CFGMatcher
from bytegram.masks.matcher import DFAMatcher

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfg_grammars import LARK  # noqa: E402

TOKENS = [b"{", b"}", b'"a"', b":", b"1", b",", b'"', b"a", b"[", b"]", b'":"', b'"},{"',
          b"true", b" "]
EOS = len(TOKENS)


def vocab() -> Vocabulary:
    return Vocabulary.from_bytes_list(TOKENS + [b"</s>"], eos_ids=[EOS], special_ids=[EOS])


def ids(*toks: bytes) -> list[int]:
    return [TOKENS.index(t) for t in toks]


@pytest.fixture(scope="module")
def compiled():
    return bytegram.compile(Grammar.json(), vocab())


def test_dispatch_by_kind(compiled):
    assert isinstance(compiled.matcher(), CFGMatcher)
    assert compiled.dfa is None
    assert isinstance(bytegram.compile(Grammar.from_regex("a+"), vocab()).matcher(), DFAMatcher)
    s = compiled.stats()
    assert s["kind"] == "cfg" and s["lr_conflicts"] == 0


def test_forbidden_token_leaves_state_unchanged(compiled):
    m = compiled.matcher()
    assert m.accept_ids(ids(b"{", b'"a"', b":")) == 3
    before = m.allowed_ids().tolist()
    for bad in ids(b"}", b":", b",") + [EOS, -1, 10_000]:
        assert not m.is_allowed(bad)
        assert not m.accept(bad)
        assert m.num_steps == 3
        assert m.allowed_ids().tolist() == before
    assert not m.accept_bytes(b"}")
    assert m.num_steps == 3


def test_eos_and_termination(compiled):
    m = compiled.matcher()
    assert not m.is_accepting() and not m.is_allowed(EOS)
    assert m.accept_ids(ids(b"[", b"1", b"]")) == 3
    assert m.is_accepting() and m.is_allowed(EOS)
    assert EOS in m.allowed_ids()
    assert m.accept(EOS) and m.is_terminated()
    assert len(m.allowed_ids()) == 0
    assert not m.accept(TOKENS.index(b"1")) and not m.accept_bytes(b"1")
    bm = compiled.allocate_bitmask(1)
    bm[:] = -1
    m.fill_bitmask(bm)
    assert not bm.any()
    m.rollback(1)
    assert not m.is_terminated() and m.is_accepting()


def test_fork_and_rollback_are_independent(compiled):
    m = compiled.matcher()
    m.accept_ids(ids(b"[", b"{", b'"a"'))
    f = m.fork()
    assert f.accept(TOKENS.index(b'":"')) is False  # '"a"' then '":"' is not JSON
    assert f.accept(TOKENS.index(b":")) and f.accept(TOKENS.index(b"1"))
    assert f.num_steps == 5 and m.num_steps == 3
    assert TOKENS.index(b":") in m.allowed_ids()
    assert TOKENS.index(b'"},{"') not in m.allowed_ids()
    f.rollback(2)
    assert f.allowed_ids().tolist() == m.allowed_ids().tolist()
    with pytest.raises(InvalidArgument):
        f.rollback(4)
    f.reset()
    assert f.num_steps == 0 and f.allowed_ids().tolist() == compiled.matcher().allowed_ids().tolist()


def test_multi_terminal_token(compiled):
    m = compiled.matcher()
    m.accept_ids(ids(b"[", b"{", b'"a"', b":", b'"', b"a"))
    assert m.is_allowed(TOKENS.index(b'"},{"'))
    assert m.accept(TOKENS.index(b'"},{"'))
    # now inside a new key string: the reference decides
    from bytegram.testing import reference_cfg_allowed_ids

    prefix = b'[{"a":"a"},{"'
    assert m.allowed_ids().tolist() == reference_cfg_allowed_ids(
        compiled.grammar.ir, compiled.vocab, prefix).tolist()
    assert m.is_allowed(TOKENS.index(b'":"'))


def test_bitmask_padding_and_torch(compiled):
    m = compiled.matcher()
    bm = compiled.allocate_bitmask(2, vocab_size=200, backend="torch")
    bm[:] = -1
    m.fill_bitmask(bm, row=1)
    bits = bytegram.unpack_bitmask(bm)[1]
    assert set(np.flatnonzero(bits).tolist()) == set(m.allowed_ids().tolist())
    with pytest.raises(InvalidArgument):
        m.fill_bitmask(np.zeros((1, 0), np.int32))


def test_ambiguous_grammar_readings_and_limit():
    g = Grammar.from_lark(LARK["ambig"])
    v = Vocabulary.byte_level()
    m = bytegram.compile(g, v).matcher()
    assert m.accept_bytes(b"1+2+3+4+5")
    assert m.n_readings > 1 and m.is_accepting()
    small = bytegram.compile(g, v, max_readings=3).matcher()
    with pytest.raises(LimitExceeded) as info:
        small.accept_bytes(b"1+2+3+4+5+6+7+8")
    assert info.value.limit == "max_readings"


def test_accept_bytes_long_text_is_chunked():
    g = Grammar.from_lark(LARK["pylike"])
    m = bytegram.compile(g, Vocabulary.byte_level()).matcher()
    text = b"x = f(1, 2); " * 40
    assert m.accept_bytes(text) and m.is_accepting()
    assert not m.accept_bytes(b")")
