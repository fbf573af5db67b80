"""The disk cache: round trip, corruption detection, atomic writes, off switch."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

from bytegram import cache
from bytegram.grammar import regex as regex_mod


@pytest.fixture
def cache_in(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEGRAM_CACHE_DIR", str(tmp_path))
    cache._warned.clear()
    return tmp_path


def test_round_trip_and_versioned_key(cache_in):
    key = cache.cache_key("t", "content")
    assert key != cache.cache_key("t", "other") and key != cache.cache_key("u", "content")
    assert cache.load("t", key) is None
    assert cache.save("t", key, {"a": np.arange(5, dtype=np.int32)}, {"n": 5})
    arrays, meta = cache.load("t", key)
    assert arrays["a"].tolist() == [0, 1, 2, 3, 4] and meta == {"n": 5}


def test_corrupted_and_foreign_files_are_reported_once_and_rebuilt(cache_in):
    key = cache.cache_key("t", "x")
    cache.save("t", key, {"a": np.zeros(3)})
    path = next((cache_in / "t").glob("*.npz"))
    path.write_bytes(b"not a zip file")
    with pytest.warns(cache.CacheWarning, match="unreadable"):
        assert cache.load("t", key) is None
    assert not path.exists()
    cache.save("t", key, {"a": np.ones(3)})  # rebuilt
    assert cache.load("t", key)[0]["a"].tolist() == [1, 1, 1]
    # a valid npz written under another key is foreign: rejected too
    key2, other = cache.cache_key("t", "z"), cache.cache_key("t", "y")
    cache.save("t", other, {"a": np.zeros(3)})
    (cache_in / "t" / f"{other[:40]}.npz").rename(cache_in / "t" / f"{key2[:40]}.npz")
    with pytest.warns(cache.CacheWarning, match="header"):
        assert cache.load("t", key2) is None


def test_concurrent_writers_leave_whole_files(cache_in):
    key = cache.cache_key("t", "race")
    big = {"a": np.arange(200_000)}

    def write():
        for _ in range(5):
            cache.save("t", key, big)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arrays, _ = cache.load("t", key)
    assert np.array_equal(arrays["a"], big["a"])
    assert not list((cache_in / "t").glob(".tmp-*"))


def test_off_switch(monkeypatch):
    monkeypatch.setenv("BYTEGRAM_CACHE_DIR", "off")
    assert cache.cache_dir() is None
    assert not cache.save("t", "k", {"a": np.zeros(1)})


def test_cached_regex_dfa_from_disk_equals_fresh(cache_in):
    pattern = r"[a-z]+@[a-z]+\.(com|org)"
    regex_mod._DFA_MEMO.clear()
    first = regex_mod.cached_regex_to_dfa(pattern)
    regex_mod._DFA_MEMO.clear()
    second = regex_mod.cached_regex_to_dfa(pattern)  # from disk
    fresh = regex_mod.regex_to_dfa(pattern)
    for d in (first, second):
        assert np.array_equal(d.transitions, fresh.transitions)
        assert np.array_equal(d.accepting, fresh.accepting) and d.start == fresh.start


# -- compiled grammars: schema -> IR and LR tables ------------------------------------------

import json  # noqa: E402
import random  # noqa: E402

import bytegram  # noqa: E402
from bytegram import Grammar, Vocabulary  # noqa: E402
from bytegram.errors import Unsupported  # noqa: E402
from bytegram.grammar import grammar as grammar_mod  # noqa: E402
from bytegram.grammar import json_schema as json_schema_mod  # noqa: E402
from bytegram.grammar import lr as lr_mod  # noqa: E402
from bytegram.grammar.serialize import lr_from_arrays, lr_to_arrays  # noqa: E402
from bytegram.masks import cfg_compile  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "id": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "cde"]}, "maxItems": 3},
        "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"},
        "when": {"type": "string", "format": "x-custom"},  # relaxed: relaxations non-empty
        "child": {"$ref": "#"},
    },
    "required": ["name", "id"],
}
DOCS = ['{"name":"x","id":0}',
        '{"name":"ab c","id":17,"tags":["a","cde"],"code":"QZ-42"}',
        '{"name":"","id":3,"when":"any","child":{"name":"k","id":1,"tags":[]}}']


def forget_in_memory() -> None:
    """Drop the in-process caches, as a fresh process would start."""
    grammar_mod._SCHEMA_MEMO.clear()
    cfg_compile._CACHE.clear()
    lr_mod._CACHE.clear()


def entries(root, kind: str) -> list:
    return sorted((root / kind).glob("*.npz")) if (root / kind).is_dir() else []


def assert_dfa_equal(a, b) -> None:
    assert a.start == b.start
    assert np.array_equal(a.transitions, b.transitions)
    assert np.array_equal(a.accepting, b.accepting)


def assert_ir_equal(a, b) -> None:
    assert a.content_hash == b.content_hash and a.content_hash
    assert list(a.terminals) == list(b.terminals)
    for name, t in a.terminals.items():
        u = b.terminals[name]
        assert (t.name, t.source, t.literal) == (u.name, u.source, u.literal)
        assert_dfa_equal(t.dfa, u.dfa)
    assert a.rules == b.rules and a.start == b.start and a.ignore == b.ignore


def assert_tables_equal(a, b) -> None:
    for field in ("terminal_names", "ignore_mask", "nonterminal_names", "rule_lhs", "rule_len",
                  "rule_text", "actions", "gotos", "next_mask", "n_conflicts"):
        assert getattr(a, field) == getattr(b, field), field
    assert [list(x) for x in a.actions] == [list(x) for x in b.actions]  # order kept too
    assert len(a.terminal_dfas) == len(b.terminal_dfas)
    for x, y in zip(a.terminal_dfas, b.terminal_dfas):
        assert_dfa_equal(x, y)


@pytest.fixture
def no_memory(cache_in):
    forget_in_memory()
    yield cache_in
    forget_in_memory()


def test_schema_grammar_restored_from_disk_is_equal(no_memory):
    first = Grammar.from_json_schema(SCHEMA, whitespace="flexible", max_whitespace=2)
    assert first.relaxations and len(entries(no_memory, "json-schema-ir")) == 1
    forget_in_memory()
    second = Grammar.from_json_schema(json.dumps(SCHEMA), whitespace="flexible",
                                      max_whitespace=2)  # a JSON string: same key
    assert second.ir is not first.ir  # really decoded, not the in-memory object
    assert_ir_equal(first.ir, second.ir)
    assert (second.kind, second.source, second.relaxations, second.content_hash) == \
        (first.kind, first.source, first.relaxations, first.content_hash)
    assert second == first


def test_lr_tables_round_trip(no_memory):
    from bytegram.grammar.ir import IRBuilder

    b = IRBuilder()  # ambiguous (conflicts), a nullable terminal, an ignored one
    num, plus, times = b.regex("[0-9]*"), b.literal("+"), b.literal("*")
    b.rule("e", ("e", plus, "e"))
    b.rule("e", ("e", times, "e"))
    b.rule("e", (b.literal("("), "e", b.literal(")")))
    b.rule("e", (num,))
    b.add_ignore(b.regex(" +"))
    ir = b.build("e")
    tables = lr_mod.build_lr_tables(ir)
    assert tables.n_conflicts and tables.ignore_mask
    arrays, meta = lr_to_arrays(tables, ir)
    key = cache.cache_key("t", "lr")
    cache.save("t", key, arrays, meta)
    stored_arrays, stored_meta = cache.load("t", key)  # the JSON header round trip too
    assert_tables_equal(tables, lr_from_arrays(stored_arrays, stored_meta, ir))


def walk_masks(compiled, docs, vocab_walk):
    """Masks (as bytes) at every step of each walk."""
    out = []
    for doc in docs:
        m = compiled.matcher()
        for t in vocab_walk(doc):
            out.append(m.allowed_ids().tobytes())
            assert m.accept(t)
        out.append(m.allowed_ids().tobytes())
        assert m.is_accepting()
    return out


def test_masks_from_disk_cache_equal_cache_off(no_memory, monkeypatch):
    vocab = Vocabulary.byte_level(eos_id=256)
    schema_args = dict(property_order="any")
    Grammar.from_json_schema(SCHEMA, **schema_args)  # fill the disk cache
    bytegram.compile(Grammar.from_json_schema(SCHEMA, **schema_args), vocab)
    assert entries(no_memory, "json-schema-ir") and entries(no_memory, "lr-tables")
    forget_in_memory()
    cached = bytegram.compile(Grammar.from_json_schema(SCHEMA, **schema_args), vocab)
    forget_in_memory()
    monkeypatch.setenv("BYTEGRAM_CACHE_DIR", "off")
    fresh = bytegram.compile(Grammar.from_json_schema(SCHEMA, **schema_args), vocab)
    assert cached.lr_tables is not fresh.lr_tables
    assert_tables_equal(cached.lr_tables, fresh.lr_tables)

    def by_bytes(doc):
        return list(doc.encode())

    assert walk_masks(cached, DOCS, by_bytes) == walk_masks(fresh, DOCS, by_bytes)


def test_masks_from_disk_cache_equal_cache_off_real_vocab(no_memory, monkeypatch,
                                                          gpt2_vocab):
    Grammar.from_json_schema(SCHEMA)
    bytegram.compile(Grammar.from_json_schema(SCHEMA), gpt2_vocab)
    forget_in_memory()
    cached = bytegram.compile(Grammar.from_json_schema(SCHEMA), gpt2_vocab)
    forget_in_memory()
    monkeypatch.setenv("BYTEGRAM_CACHE_DIR", "off")
    fresh = bytegram.compile(Grammar.from_json_schema(SCHEMA), gpt2_vocab)
    for seed in range(3):  # random walks over allowed tokens, masks compared at every step
        rng = random.Random(seed)
        a, b = cached.matcher(), fresh.matcher()
        for _ in range(25):
            ids_a, ids_b = a.allowed_ids(), b.allowed_ids()
            assert np.array_equal(ids_a, ids_b)
            if not len(ids_a) or a.is_terminated():
                break
            t = int(rng.choice(list(ids_a)))
            assert a.accept(t) == b.accept(t)


def test_cache_hit_skips_the_builds(no_memory, monkeypatch):
    vocab = Vocabulary.byte_level(eos_id=256)
    expected = walk_masks(bytegram.compile(Grammar.from_json_schema(SCHEMA), vocab), DOCS[:1],
                          lambda d: list(d.encode()))
    forget_in_memory()

    def boom(*args, **kwargs):
        raise AssertionError("built although cached")

    monkeypatch.setattr(json_schema_mod, "schema_to_ir", boom)
    monkeypatch.setattr(cfg_compile, "build_lr_tables", boom)
    compiled = bytegram.compile(Grammar.from_json_schema(SCHEMA), vocab)
    assert walk_masks(compiled, DOCS[:1], lambda d: list(d.encode())) == expected
    with pytest.raises(AssertionError, match="built although cached"):  # a miss does build
        Grammar.from_json_schema(SCHEMA, strict=True)


def test_corrupted_grammar_entries_are_reported_and_rebuilt(no_memory):
    vocab = Vocabulary.byte_level(eos_id=256)
    good = bytegram.compile(Grammar.from_json_schema(SCHEMA), vocab)
    for kind in ("json-schema-ir", "lr-tables"):
        [path] = entries(no_memory, kind)
        path.write_bytes(path.read_bytes()[:200])  # truncated
    forget_in_memory()
    with pytest.warns(cache.CacheWarning, match="unreadable") as caught:
        again = bytegram.compile(Grammar.from_json_schema(SCHEMA), vocab)
    assert len(caught) == 2, [str(w.message) for w in caught]
    assert_ir_equal(good.grammar.ir, again.grammar.ir)
    assert_tables_equal(good.lr_tables, again.lr_tables)
    forget_in_memory()
    with warnings.catch_warnings():  # rebuilt: read back without complaint
        warnings.simplefilter("error")
        bytegram.compile(Grammar.from_json_schema(SCHEMA), vocab)


@pytest.mark.parametrize("kind, segment", [("json-schema-ir", "rule_rhs"),
                                           ("lr-tables", "act_codes"),
                                           ("lr-tables", "goto_target")])
def test_well_formed_entry_with_wrong_contents_is_rejected(no_memory, kind, segment):
    vocab = Vocabulary.byte_level(eos_id=256)
    good = bytegram.compile(Grammar.from_json_schema(SCHEMA), vocab)
    [path] = entries(no_memory, kind)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays.pop(cache._HEADER).tobytes())
    meta = header["meta"]
    offset = 0
    for name, n in meta["layout"]:
        if name == segment:
            break
        offset += n
    arrays["ints"] = arrays["ints"].copy()
    arrays["ints"][offset] = 1 << 30  # an index far out of range, the file stays valid
    cache.save(kind, header["key"], arrays, meta)
    forget_in_memory()
    with pytest.warns(cache.CacheWarning, match="inconsistent"):
        again = bytegram.compile(Grammar.from_json_schema(SCHEMA), vocab)
    assert_ir_equal(good.grammar.ir, again.grammar.ir)
    assert_tables_equal(good.lr_tables, again.lr_tables)
    # a header that is not what the decoder expects is rejected the same way
    [path] = entries(no_memory, kind)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays.pop(cache._HEADER).tobytes())
    cache.save(kind, header["key"], arrays, {"something": "else"})
    forget_in_memory()
    cache._warned.clear()  # reported once per file and process: forget the first report
    with pytest.warns(cache.CacheWarning):
        bytegram.compile(Grammar.from_json_schema(SCHEMA), vocab)


def test_schema_key_keeps_property_order_and_options(no_memory):
    ab = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
          "required": ["a", "b"]}
    ba = {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}},
          "required": ["a", "b"]}
    vocab = Vocabulary.byte_level(eos_id=256)
    for _ in range(2):  # second round from disk
        forget_in_memory()
        g_ab, g_ba = Grammar.from_json_schema(ab), Grammar.from_json_schema(ba)
        assert g_ab.ir.content_hash != g_ba.ir.content_hash
        m = bytegram.compile(g_ab, vocab).matcher()
        assert m.accept_bytes(b'{"a":1,"b":"x"}') and m.is_accepting()
        m = bytegram.compile(g_ba, vocab).matcher()
        assert m.accept_bytes(b'{"b":"x","a":1}') and m.is_accepting()
        assert Grammar.from_json_schema(ab, whitespace="flexible").ir.content_hash \
            != g_ab.ir.content_hash
    assert len(entries(no_memory, "json-schema-ir")) == 3


def test_errors_and_unkeyable_inputs_are_not_cached(no_memory):
    with pytest.raises(Unsupported):
        Grammar.from_json_schema({"not": {}})  # accepts nothing
    assert not entries(no_memory, "json-schema-ir")
    remote = {"type": "object", "properties": {"x": {"$ref": "http://example.com/s.json"}}}
    g = Grammar.from_json_schema(remote, remotes=lambda uri: {"type": "integer"})
    assert not entries(no_memory, "json-schema-ir")  # a callable cannot be keyed
    g2 = Grammar.from_json_schema(remote, remotes={"http://example.com/s.json":
                                                   {"type": "integer"}})
    assert g2.ir.content_hash == g.ir.content_hash
    assert len(entries(no_memory, "json-schema-ir")) == 1
    g3 = Grammar.from_json_schema(remote, remotes={"http://example.com/s.json":
                                                   {"type": "string"}})
    assert g3.ir.content_hash != g.ir.content_hash  # remotes are part of the key


def test_grammar_cache_off_writes_nothing(no_memory, monkeypatch):
    monkeypatch.setenv("BYTEGRAM_CACHE_DIR", "off")
    vocab = Vocabulary.byte_level(eos_id=256)
    m = bytegram.compile(Grammar.from_json_schema(SCHEMA), vocab).matcher()
    assert m.accept_bytes(DOCS[1].encode()) and m.is_accepting()
    assert not list(no_memory.iterdir())
