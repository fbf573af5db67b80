"""Lark, GBNF and JSON front ends: languages (checked with the Earley reference and the
matcher), the error contract (typed errors with line, column and caret), relaxations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import bytegram
from bytegram import Grammar, Vocabulary
from bytegram.errors import InvalidArgument, InvalidSyntax, LimitExceeded, Unsupported
from bytegram.testing import EarleyRecognizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfg_grammars import GBNF_LIST, LARK, SAMPLES  # noqa: E402


def accepts(g: Grammar, data: bytes) -> bool:
    """Matcher verdict, checked against the Earley reference."""
    m = bytegram.compile(g, Vocabulary.byte_level()).matcher()
    fast = m.accept_bytes(data) and m.is_accepting()
    assert fast == EarleyRecognizer(g.ir).accepts(data), data
    return fast


# -- Lark ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LARK))
def test_lark_samples_accepted(name):
    assert accepts(Grammar.from_lark(LARK[name]), SAMPLES[name])


def test_lark_features():
    g = Grammar.from_lark(r'''
        start: pair ("," pair)* [";"] x~2 y~1..2 _sep{NAME, "|"}
        pair: KEY "="i VAL
        _sep{item, sep}: item (sep item)*
        x: "x"
        y: "y"
        KEY: /[a-z]+/i
        VAL: /\d+/ | "none"
        NAME: /[a-q]+/
    ''')
    assert accepts(g, b"Ab=1,c=none;xxyyfog|bad")
    assert accepts(g, b"a=1xxyq")
    assert not accepts(g, b"a=1xyq")
    assert not accepts(g, b"a=1xxyyyq")
    assert accepts(g, b"A=1xxyq")  # /[a-z]+/i


def test_lark_common_escaped_string_is_exact():
    g = Grammar.from_lark('start: ESCAPED_STRING ("," ESCAPED_STRING)*\n'
                          '%import common.ESCAPED_STRING')
    assert g.relaxations == ()
    assert accepts(g, rb'"a\"b","c"')
    assert not accepts(g, rb'"a"b"')
    assert accepts(g, rb'"a\\"')


def test_lark_ignore_at_both_ends_and_between():
    g = Grammar.from_lark('start: "a" "b"\n%ignore " "')
    for s in (b"ab", b" a b ", b"  a  b", b"a b  "):
        assert accepts(g, s)
    assert not accepts(g, b"a  c")


def test_epsilon_rules_and_nullable_terminals():
    from bytegram.grammar.ir import IRBuilder

    b = IRBuilder()
    a = b.regex("a*", name="A")  # nullable terminal
    ws = b.regex(" *", name="WS")  # nullable ignored terminal
    b.add_ignore(ws)
    b.rule("x", ())
    b.rule("x", (b.literal("x"), "x"))
    b.rule("start", (a, "x", b.literal("b"), a))
    g = Grammar.from_ir(b.build("start"))
    for s in (b"b", b"aab", b"xxb", b"axba", b" a x b a ", b"ba"):
        assert accepts(g, s)
    assert not accepts(g, b"bb")
    g = Grammar.from_lark('start: "a" x "b"\nx: | "x" x')
    assert accepts(g, b"ab") and accepts(g, b"axxb") and not accepts(g, b"axa")


def test_lark_zero_width_terminal_is_an_error():
    with pytest.raises(InvalidSyntax, match="zero-width"):
        Grammar.from_lark('start: A "b"\nA: /a*/')


def test_lark_start_option_and_priorities_ignored():
    text = 'start: "a"\nother.2: "b" | "c"\nT.5: "t"\nthird: T'
    assert accepts(Grammar.from_lark(text, start="other"), b"c")
    assert accepts(Grammar.from_lark(text, start="third"), b"t")
    assert Grammar.from_lark(text) != Grammar.from_lark(text, start="other")


def test_lark_lazy_regex_is_a_relaxation():
    g = Grammar.from_lark(r'start: /".*?"/')
    assert len(g.relaxations) == 1 and "lazy" in g.relaxations[0]
    assert accepts(g, b'"a" "b"')  # the full regular language, documented


def test_lark_non_lalr_grammars():
    # LR(1) but not LALR(1)
    g = Grammar.from_lark('start: "a" e "c" | "a" f "d" | "b" e "d" | "b" f "c"\n'
                          'e: "e"\nf: "e"')
    for s in (b"aec", b"aed", b"bed", b"bec"):
        assert accepts(g, s)
    # needs two tokens of lookahead
    g = Grammar.from_lark('start: a "x" "y" | b "x" "z"\na: "q"\nb: "q"')
    assert accepts(g, b"qxy") and accepts(g, b"qxz") and not accepts(g, b"qxx")
    # ambiguous
    g = Grammar.from_lark(LARK["ambig"])
    assert accepts(g, b"1+2+3*4") and not accepts(g, b"1++2")


@pytest.mark.parametrize("text, line, col, fragment", [
    ('start: "a" (\n', 1, 13, "Unclosed parenthesis"),
    ("start: foo\n", 1, 8, "foo"),
    ('start: "a"\nstart: "b"\n', 1, 1, "more than once"),
    ('start: "a"\n%ignore B\n', 2, 9, "B"),
    ('start: x\nx: x "a"\n', 1, 1, "never finish"),
    ('start: "a"\n  bad bad\n', 2, None, ""),
])
def test_lark_errors_have_positions(text, line, col, fragment):
    with pytest.raises(InvalidSyntax) as info:
        Grammar.from_lark(text)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, bytegram.BytegramError)
    assert err.line == line
    if col is not None:
        assert err.column == col
    assert fragment in str(err)
    assert "^" in str(err)


def test_lark_declare_and_lookaround_unsupported():
    with pytest.raises(Unsupported, match="%declare") as info:
        Grammar.from_lark("start: A\n%declare A")
    assert info.value.feature == "%declare"
    with pytest.raises(Unsupported, match="lookahead") as info:
        Grammar.from_lark("start: /a(?=b)/ /b/")
    assert "^" in str(info.value)


def test_lark_start_missing():
    with pytest.raises(InvalidSyntax):
        Grammar.from_lark('start: "a"', start="nope")


# -- GBNF ------------------------------------------------------------------------------------

def test_gbnf_sample_and_features():
    g = Grammar.from_gbnf(GBNF_LIST)
    assert accepts(g, SAMPLES["gbnf"])
    assert accepts(g, b"[]") and not accepts(g, b"[1,]")
    g = Grammar.from_gbnf(r'''
        root ::= greet " " name{1,3} "!"? tail
        greet ::= ("hi" | "hello") # comment
        name ::= [A-Z] [a-z]* | "\x41\u00e9"
        tail ::= [^\n]{0,2}
    ''')
    assert accepts(g, b"hi Bob!")
    assert accepts(g, "hello A\u00e9Zed".encode())
    assert accepts(g, b"hi BobAnnEve!..")
    assert not accepts(g, b"hi BobAnnEveZed!..")
    assert not accepts(g, b"hey Bob")


def test_gbnf_recursive_and_any():
    g = Grammar.from_gbnf('root ::= "(" root ")" | . ')
    assert accepts(g, b"((x))") and accepts(g, "(\u00e9)".encode())
    assert not accepts(g, b"((x)")


@pytest.mark.parametrize("text, line, col", [
    ('root ::= "a" (\n', 1, 14),
    ('root ::= "a"\nother ::= "b" missing\n', 2, 15),
    ('root ::= "a\n', 1, 10),
    ("root ::= [a-\n", 1, 10),
    ('root := "a"', 1, 6),
    ('main ::= "a"', 1, 1),
    ('root ::= "a"{3,1}', 1, 13),
    ('root ::= "a"\nroot ::= "b"', 2, 1),
])
def test_gbnf_errors_have_positions(text, line, col):
    with pytest.raises(InvalidSyntax) as info:
        Grammar.from_gbnf(text)
    assert (info.value.line, info.value.column) == (line, col), str(info.value)
    assert "^" in str(info.value)


# -- JSON ------------------------------------------------------------------------------------

def test_json_compact():
    g = Grammar.json()
    assert g.kind == "cfg" and g.source == "json:compact" and g.ir is not None
    for doc in ([1, "a", {"b": None, "c": [True, False]}], {}, [], "x\u00e9\n", -1.5e-7, 0):
        assert accepts(g, json.dumps(doc, separators=(",", ":")).encode())
    for bad in (b"[1, 2]", b"01", b'{"a" :1}', b"[1,]", b'"\x01"', b" 1", b"1.", b"tru"):
        assert not accepts(g, bad)


def test_json_flexible_bounded_whitespace():
    g = Grammar.json(whitespace="flexible", max_whitespace=4)
    assert g.source == "json:flexible:4"
    assert accepts(g, b' {\n  "a" : [ 1 ,2 ] } ')
    assert accepts(g, json.dumps({"a": [1, {"b": 2}]}, indent=1).encode())
    assert not accepts(g, b"[1,     2]")  # a run of 5
    assert accepts(g, b"[1,    2]")
    assert not accepts(g, b"[1,\f2]")
    assert Grammar.json(whitespace="flexible") != g


def test_json_bad_options():
    with pytest.raises(InvalidArgument):
        Grammar.json(whitespace="pretty")
    with pytest.raises(InvalidArgument):
        Grammar.json(whitespace="flexible", max_whitespace=0)


def test_grammar_hash_and_repr():
    a = Grammar.from_lark('start: "a"')
    assert a == Grammar.from_lark('start: "a"') and hash(a) == hash(Grammar.from_lark('start: "a"'))
    assert a != Grammar.from_lark('start: "b"')
    assert "cfg" in repr(a)


def test_limit_exceeded_on_large_lr_automaton():
    from bytegram.grammar.lr import build_lr_tables

    with pytest.raises(LimitExceeded) as info:
        build_lr_tables(Grammar.from_lark(LARK["pylike"]).ir, max_states=10)
    assert info.value.limit == "max_lr_states"
