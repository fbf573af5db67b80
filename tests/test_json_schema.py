"""Unit tests of the JSON Schema compiler: string encoding, numbers, ECMA patterns, DFA ops,
keyword semantics, policies (whitespace, property order, strict, lenient), errors, and the
token-by-token path through bytegram.compile."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

import bytegram
from bytegram import Grammar, LimitExceeded, Unsupported, Vocabulary
from bytegram.grammar.dfa_ops import difference, intersect, union
from bytegram.grammar.json_schema import schema_to_ir
from bytegram.grammar.json_schema.ecma import pattern_dfa
from bytegram.grammar.json_schema.numbers import bound_dfa, integer_universe, multiple_of_dfa
from bytegram.grammar.json_schema.strings import (any_string_dfa, json_string_dfa,
                                                  length_dfa, literal_json_dfa)
from bytegram.grammar.regex import regex_to_dfa
from bytegram.testing import EarleyRecognizer, sample_document

COMPACT = dict(separators=(",", ":"))


def accepts(schema, value_or_text, **kw) -> bool:
    ir, _ = schema_to_ir(schema, **kw)
    text = value_or_text if isinstance(value_or_text, bytes) else \
        json.dumps(value_or_text, **COMPACT).encode()
    return EarleyRecognizer(ir).accepts(text)


# -- strings ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["abé", "é", "", "a\n\t", "😀x", "\x00\x1f", 'a"b\\c/'])
def test_json_string_all_encodings(value):
    d = json_string_dfa(any_string_dfa())
    lit = literal_json_dfa(value)
    for enc in (json.dumps(value), json.dumps(value, ensure_ascii=False),
                json.dumps(value).replace("\\u00e9", "\\u00E9")):
        assert d.matches(enc.encode()) and lit.matches(enc.encode())
    assert not lit.matches(json.dumps(value + "x").encode())


def test_json_string_rejects_bad_escapes_and_raw_controls():
    d = json_string_dfa(any_string_dfa())
    for bad in [b'"\\ud800"', b'"\\ude00"', b'"\\x41"', b'"a\nb"', b'"\\u12"', b'"', b'"\\"']:
        assert not d.matches(bad), bad
    assert d.matches(b'"\\ud83d\\ude00"') and d.matches(b'"\\/"')


def test_length_counts_characters_not_bytes():
    d = json_string_dfa(length_dfa(2, 3))
    assert d.matches(json.dumps("éé").encode())  # escaped: 12 bytes, 2 characters
    assert d.matches('"éé"'.encode())
    assert d.matches(b'"\\ud83d\\ude00x"')  # one astral character + x
    assert not d.matches(b'"a"') and not d.matches(b'"abcd"')


def test_long_strings_use_blocks_and_stay_exact():
    schema = {"type": "string", "minLength": 70, "maxLength": 200}
    ir, _ = schema_to_ir(schema)
    rec = EarleyRecognizer(ir)
    for n, ok in [(69, False), (70, True), (128, True), (200, True), (201, False)]:
        assert rec.accepts(json.dumps("é" * n).encode()) == ok, n
        assert rec.accepts(json.dumps("a" * n).encode()) == ok, n
    assert max(t.dfa.n_states for t in ir.terminals.values()) < 5000


# -- numbers ------------------------------------------------------------------------------

def _texts(rng):
    out = ["0", "-0", "0.0", "1.5", "2.5000", "10", "9.99", "1000", "-1.5", "-10"]
    for _ in range(1500):
        ip = rng.choice(["0", str(rng.randint(1, 10 ** rng.randint(0, 4)))])
        s = ("-" if rng.random() < 0.4 else "") + ip
        if rng.random() < 0.5:
            s += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 4)))
        out.append(s)
    return out


def test_bounds_and_multiples_exact():
    texts = _texts(random.Random(1))
    for b in map(Decimal, ["0", "1.5", "-1.5", "10", "-0.5", "123.45"]):
        for op in ("gt", "ge", "lt", "le"):
            dfa = bound_dfa(b, op)
            for t in texts:
                v = Decimal(t)
                want = {"gt": v > b, "ge": v >= b, "lt": v < b, "le": v <= b}[op]
                assert dfa.matches(t.encode()) == want, (b, op, t)
    for m in map(Decimal, ["2", "0.01", "1.5", "0.3", "7"]):
        dfa = multiple_of_dfa(m)
        for t in texts:
            assert dfa.matches(t.encode()) == (Decimal(t) % m == 0), (m, t)
    for t in texts:
        assert integer_universe().matches(t.encode()) == (Decimal(t) == Decimal(t).to_integral())


def test_number_syntax():
    for text, ok in [(b"01", False), (b"1.", False), (b".5", False), (b"+1", False),
                     (b"1e5", False), (b"-0", True), (b"1.50", True)]:
        assert accepts({"type": "number"}, text) == ok, text
    assert accepts({"type": "integer"}, b"1.0")  # 2020-12: an integer
    assert not accepts({"$schema": "http://json-schema.org/draft-04/schema#",
                        "type": "integer"}, b"1.0")  # draft 4: not


# -- ECMA patterns --------------------------------------------------------------------------

@pytest.mark.parametrize("pattern,yes,no", [
    ("^[a-z]+$", ["abc"], ["", "ab1"]),
    ("a+", ["xax", "a"], ["", "b"]),
    ("\\p{L}", ["é"], ["1"]),
    ("^\\S+$", ["ab"], ["a b", "a\u00a0b"]),
    ("^a.c$", ["abc"], ["a\nc", "a\u2028c"]),
    ("\\ud83d\\ude00", ["x😀"], ["x"]),
    ("^a|b$", ["ax", "xb"], ["xa", "bx"]),
    ("[0-9]{2,}", ["a31b"], ["a3b"]),
    ("^\\/$", ["/"], ["\\/"]),
])
def test_ecma_patterns(pattern, yes, no):
    d = pattern_dfa(pattern)
    assert all(d.matches(s.encode()) for s in yes)
    assert not any(d.matches(s.encode()) for s in no)


def test_ecma_unsupported_named():
    for p in ["(?=a)", "\\1", "\\bx", "a^b"]:
        with pytest.raises(Unsupported):
            pattern_dfa(p)


def test_dfa_ops():
    a, b = regex_to_dfa("[a-c]+"), regex_to_dfa("b+|x")
    assert intersect(a, b).matches(b"bb") and not intersect(a, b).matches(b"x")
    assert union(a, b).matches(b"x") and difference(a, b).matches(b"ab")
    assert not difference(a, b).matches(b"bb")


# -- keywords -------------------------------------------------------------------------------

OBJ = {"type": "object", "properties": {"a": {"type": "integer", "minimum": 3},
                                        "b": {"type": "string", "maxLength": 3}},
       "required": ["a"]}


@pytest.mark.parametrize("doc,ok", [
    ('{"a":3}', True), ('{"a":2}', False), ('{"b":"x","a":5}', True),
    ('{"a":5,"b":"xxxx"}', False), ('{"a":5,"a":6}', False), ('{"a":5,"c":[1,{}]}', True),
    ('{"a":5,"b":1}', False), ('{"b":"x"}', False), ('{}', False),
])
def test_object_any_order(doc, ok):
    assert accepts(OBJ, doc.encode(), property_order="any") == ok


def test_declared_property_cannot_slip_through_as_extra():
    # "a" with a wrong type must not be accepted as an additional property
    assert not accepts({"properties": {"a": {"type": "integer"}}}, b'{"a":"x"}')
    assert not accepts({"properties": {"a": {"type": "integer"}}}, b'{"\\u0061":"x"}')
    assert accepts({"properties": {"a": {"type": "integer"}}}, b'{"ab":"x"}')


def test_schema_order_and_strict():
    assert accepts(OBJ, b'{"a":3,"b":"x"}')
    assert not accepts(OBJ, b'{"b":"x","a":3}')  # generation order
    assert not accepts(OBJ, b'{"a":3,"z":1}', strict=True)
    assert accepts(OBJ, b'{"a":3,"z":1}')


def test_schema_order_of_merged_branches():
    """allOf branches with overlapping declared orders: the generation order keeps each
    branch's order where they agree, whichever branch is listed first (in every process:
    it once followed the branches' memory addresses)."""
    short = {"properties": {"on": {}, "level": {}}}
    full = {"properties": {"on": {}, "url": {}, "token": {}, "level": {}},
            "additionalProperties": False}
    doc = b'{"on":true,"url":"u","token":"t","level":1}'
    for branches in ([short, full], [full, short]):
        assert accepts({"allOf": branches}, doc)
        assert not accepts({"allOf": branches}, b'{"on":true,"level":1,"url":"u"}')
    # conflicting orders: one order is chosen (the first listed names first), not a failure
    assert accepts({"allOf": [{"properties": {"a": {}, "b": {}}},
                              {"properties": {"b": {}, "a": {}}}]}, b'{"a":1,"b":2}')


@pytest.mark.parametrize("schema,doc,ok", [
    ({"type": "array", "items": {"enum": ["x", 1, None]}, "minItems": 1, "maxItems": 3},
     ["x", 1, None], True),
    ({"type": "array", "items": {"enum": ["x", 1, None]}, "maxItems": 2}, ["x", 1, None], False),
    ({"type": "array", "items": {"enum": ["x", 1]}}, [1.0], True),
    ({"prefixItems": [{"type": "integer"}], "items": False}, [1, 2], False),
    ({"contains": {"type": "string"}, "minContains": 2}, ["a", 1, "b"], True),
    ({"contains": {"type": "string"}, "maxContains": 1}, ["a", 1, "b"], False),
    ({"uniqueItems": True, "items": {"enum": ["a", "b"]}}, ["a", "a"], False),
    ({"uniqueItems": True, "items": {"enum": ["a", "b"]}}, ["b", "a"], True),
    ({"allOf": [{"minimum": 2}, {"maximum": 3}]}, 4, False),
    ({"anyOf": [{"type": "string", "format": "date"}, {"type": "number", "multipleOf": 0.5}]},
     "2020-02-30", False),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 3, False),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 2.5, True),
    ({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1, "b": 2}, False),
    ({"not": {"type": "string", "pattern": "^a"}}, "ab", False),
    ({"if": {"properties": {"t": {"const": "x"}}}, "then": {"required": ["x"]},
      "else": {"required": ["y"]}}, {"t": "x", "y": 1}, False),
    ({"dependentRequired": {"a": ["b"]}}, {"a": 1}, False),
    ({"dependentSchemas": {"a": {"required": ["b"]}}}, {"a": 1, "b": 2}, True),
    ({"propertyNames": {"maxLength": 2}}, {"abc": 1}, False),
    ({"patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
     {"xa": 1}, True),
    ({"patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
     {"ya": 1}, False),
    ({"minProperties": 2}, {"a": 1}, False),
    ({"const": {"a": [1, "x"]}}, {"a": [1.0, "x"]}, True),
])
def test_keywords(schema, doc, ok):
    assert accepts(schema, doc, property_order="any") == ok


def test_recursive_ref():
    schema = {"$defs": {"node": {"type": "object", "properties": {
        "v": {"type": "integer"}, "next": {"$ref": "#/$defs/node"}},
        "required": ["v"], "additionalProperties": False}}, "$ref": "#/$defs/node"}
    assert accepts(schema, {"v": 1, "next": {"v": 2, "next": {"v": 3}}})
    assert not accepts(schema, {"v": 1, "next": {}})


def test_flexible_whitespace_bounded():
    schema = {"type": "object", "properties": {"a": {"type": "array"}}}
    value = {"a": [1, {"b": 2}], "c": None}
    ir, _ = schema_to_ir(schema, whitespace="flexible", max_whitespace=8)
    rec = EarleyRecognizer(ir)
    assert rec.accepts(json.dumps(value).encode())
    assert rec.accepts(json.dumps(value, indent=2).encode())
    assert not rec.accepts(b'{"a":' + b" " * 9 + b"[]}")
    assert not rec.accepts(b' {"a":[]}')
    ir2, _ = schema_to_ir(schema)
    assert not EarleyRecognizer(ir2).accepts(json.dumps(value).encode())  # compact only


# -- errors and relaxations ---------------------------------------------------------------

def test_unsupported_lists_every_pointer():
    schema = {"properties": {"a": {"pattern": "(?=x)"}, "b": {"$dynamicRef": "#x"}},
              "items": {"uniqueItems": True}}
    with pytest.raises(Unsupported) as ei:
        schema_to_ir(schema)
    msg = str(ei.value)
    assert "/properties/a" in msg and "/properties/b" in msg and "lookahead" in msg
    ir, relaxations = schema_to_ir(schema, lenient=True)
    assert len(relaxations) == 3 and any(r.startswith("/items: uniqueItems") for r in relaxations)
    assert EarleyRecognizer(ir).accepts(b'{"a":"y"}')


def test_unknown_format_relaxed_not_fatal():
    g = Grammar.from_json_schema({"type": "string", "format": "x-custom"})
    assert g.kind == "cfg" and any("x-custom" in r for r in g.relaxations)


def test_unsatisfiable_and_limits():
    with pytest.raises(Unsupported):
        schema_to_ir(False)
    with pytest.raises(Unsupported):
        schema_to_ir({"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]})
    with pytest.raises(LimitExceeded):
        schema_to_ir({"type": "integer", "multipleOf": 0.123456789})


def test_many_optional_properties_any_order_stays_small():
    props = {f"p{i}": {"type": "integer"} for i in range(30)}
    ir, relaxations = schema_to_ir({"properties": props, "required": ["p3", "p7"]},
                                   property_order="any")
    assert len(ir.rules) < 5000 and relaxations
    rec = EarleyRecognizer(ir)
    assert rec.accepts(b'{"p7":1,"p0":2,"p3":3}') and not rec.accepts(b'{"p7":1,"p0":2}')


def test_pydantic_model():
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        name: str
        price: float
        tags: list[str] = []

    g = Grammar.from_json_schema(Item)
    rec = EarleyRecognizer(g.ir)
    assert rec.accepts(b'{"name":"a","price":1.5,"tags":["x"]}')
    assert not rec.accepts(b'{"name":"a"}')


# -- token by token -------------------------------------------------------------------------

def test_token_by_token_matches_reference():
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5},
                                               "n": {"type": "integer", "minimum": -3}},
              "required": ["name"]}
    g = Grammar.from_json_schema(schema)
    compiled = bytegram.compile(g, Vocabulary.byte_level())
    rec = EarleyRecognizer(g.ir)
    rng = random.Random(3)
    for _ in range(20):
        doc = sample_document(g, rng)
        m = compiled.matcher()
        for i, byte in enumerate(doc):
            allowed = set(m.allowed_ids().tolist())
            assert byte in allowed
            for probe in rng.sample(range(256), 12):
                assert (probe in allowed) == rec.is_viable(doc[:i] + bytes([probe]))
            assert m.accept_bytes(bytes([byte]))
        assert rec.accepts(doc)
