"""Vocabulary: token id -> exact bytes, checked against the real tokenizers.

The core check: encode a few hundred strings with the tokenizer's own library (no special
tokens added), then ``vocab.decode(ids)`` must give back the input's UTF-8 exactly. Two
documented differences:

- SentencePiece models with a dummy prefix (Llama-2, Mistral) encode "Hello" as "▁Hello": the
  space belongs to the token, so the decoded bytes are b" " + input. The test detects the
  prefix from the tokenizer itself.
- A tokenizer that normalizes its input (Qwen2.5: NFC) encodes the normalized text, so that
  is what comes back.
"""

from __future__ import annotations

import json
import random
import types
import unicodedata

import pytest
from conftest import data_file

from bytegram.errors import BytegramError, InvalidArgument, InvalidSyntax, Unsupported
from bytegram.masks.vocab import Vocabulary

# ---- the corpus ----------------------------------------------------------------------------

FIXED = [
    "Hello world", "hello", "Hello, World!", " leading space", "trailing space ", "  two leading",
    "multiple   spaces   inside", "   ", " ", "\n", "\n\n\n", "a\nb", "line1\r\nline2\r\n",
    "\ttab\tseparated\t", " \t \n mixed whitespace \n\t ", "end with newline\n",
    "I'm sure we'll see, don't you think? IT'S FINE",
    "def f(x):\n    return x + 1\n", "    indented = {'a': [1, 2, 3]}\n",
    "for (int i = 0; i < n; ++i) { a[i] = i * 2; }", "SELECT * FROM users WHERE id = 42;",
    'fn main() { println!("{}", 1); }', "x = a && b || !c; // comment", "<div class=\"x\">hi</div>",
    '{"name": "Alice", "age": 30, "tags": ["a", "b"]}', "[1, 2.5, -3e10, true, false, null]",
    '{"nested": {"k": "v\\n", "u": "\\u00e9"}}', '{\n  "indent": 2,\n  "list": []\n}',
    "1234567890", "3.14159265358979", "0x1F 0b1010 1e-9", "$1,234.56 €100 ¥500 £3",
    "😀", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🇫🇷 flag", "I ❤️ NY", "emoji😀in😀text",
    "你好，世界", "日本語のテキストです。", "한국어 문장입니다", "中文English混合123",
    "café naïve résumé", "Ærøskøbing Ångström", "cafe\u0301 (decomposed)", "ﬁ ligature ½",
    "Привет мир", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "ΑΒΓ αβγ", "ไทย ภาษา",
    "Ελληνικά and English and Русский", "curly ‘quotes’ “double” — em dash … ellipsis",
    "\\backslash\\ and /slash/", "tab\tthen  two spaces", "\u00a0nbsp\u00a0", "zero\u200bwidth",
    "<tool_call>", "<｜User｜>", "~!@#$%^&*()_+-=[]{}|;:,.<>?", "a" * 50, "ab " * 20,
    "\x01\x02 control \x7f", "mixed 123abc ABC123 a1b2c3",
]

FRAGMENTS = FIXED + ["é", "😀", "中", " ", "  ", "\n", "\t", "x", "The", " the", "ing", "'s"]
SEPARATORS = ["", " ", "  ", "\n", "\t", " \n", ", "]
BLOCKS = [(0x20, 0x7E), (0xA1, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x3040, 0x30FF),
          (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0x1F600, 0x1F64F)]


def _corpus() -> list[str]:
    """FIXED plus deterministic random combinations (random.Random(0))."""
    rng = random.Random(0)
    out = list(FIXED)
    for _ in range(200):
        parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 4))]
        out.append(rng.choice(SEPARATORS).join(parts))
    for _ in range(100):
        chars = []
        for _ in range(rng.randint(1, 12)):
            lo, hi = rng.choice(BLOCKS)
            chars.append(chr(rng.randint(lo, hi)))
            if rng.random() < 0.2:
                chars.append(rng.choice([" ", "  ", "\n"]))
        out.append("".join(chars))
    # composed (NFC) forms only from the random part; FIXED keeps one decomposed string
    return [s for s in out if s and "\u2581" not in s]


CORPUS = _corpus()


def test_corpus_is_deterministic_and_big_enough() -> None:
    assert CORPUS == _corpus()
    assert len(CORPUS) >= 300


# ---- Hugging Face tokenizer.json -----------------------------------------------------------

HF_JSON = ["gpt2", "llama3", "qwen2.5", "gemma", "deepseek-v3"]


@pytest.fixture(scope="module")
def hf():
    """Loader of (tokenizers.Tokenizer, Vocabulary) by name, cached for the module."""
    cache: dict[str, tuple] = {}

    def load(name: str):
        if name not in cache:
            tokenizers = pytest.importorskip("tokenizers")
            path = data_file("tokenizers", name, "tokenizer.json")
            cache[name] = (tokenizers.Tokenizer.from_file(str(path)),
                           Vocabulary.from_tokenizer_json(path, name=name))
        return cache[name]

    return load


def _expected(tok, text: str) -> str:
    """The text the tokenizer really encodes: its Unicode normalization applied, if any."""
    norm = tok.normalizer
    if norm is not None and type(norm).__name__ in ("NFC", "NFD", "NFKC", "NFKD"):
        return norm.normalize_str(text)
    return text


@pytest.mark.parametrize("name", HF_JSON)
def test_tokenizer_json_round_trip(hf, name: str) -> None:
    tok, vocab = hf(name)
    encodings = tok.encode_batch(CORPUS, add_special_tokens=False)
    for text, enc in zip(CORPUS, encodings):
        ids = enc.ids
        assert not any(vocab.is_special(i) for i in ids), (name, text, ids)
        assert vocab.decode(ids) == _expected(tok, text).encode("utf-8"), (name, text, ids)


@pytest.mark.parametrize("name", HF_JSON)
def test_tokenizer_json_tokens_match_library(hf, name: str) -> None:
    """Per-token cross-check on a sample: where a token's bytes are whole UTF-8, the library's
    own single-token decode agrees (tests only: bytegram never decodes token by token)."""
    tok, vocab = hf(name)
    rng = random.Random(1)
    ids = [i for i in rng.sample(range(vocab.size), 3000) if not vocab.is_special(i)]
    ids += [i for i in range(min(vocab.size, 300)) if not vocab.is_special(i)]
    checked = 0
    texts = tok.decode_batch([[i] for i in ids], skip_special_tokens=False)
    for i, text in zip(ids, texts):
        try:
            mine = vocab.token_bytes[i].decode("utf-8")
        except UnicodeDecodeError:
            continue
        assert mine == text, (name, i, vocab.token_bytes[i], text)
        checked += 1
    assert checked > len(ids) // 2


@pytest.mark.parametrize("name,size,hello_ids,hello_bytes,eos", [
    ("gpt2", 50_257, [15496, 995], [b"Hello", b" world"], (50256,)),
    ("llama3", 128_256, [9906, 1917], [b"Hello", b" world"], (128001,)),
    # tokenizer_config.json of this Qwen2.5 (instruct) names <|im_end|> as eos_token; the base
    # model's <|endoftext|> (151643) is checked below with an explicit eos_tokens
    ("qwen2.5", 151_665, [9707, 1879], [b"Hello", b" world"], (151645,)),
    ("gemma", 256_000, None, None, (1,)),
    ("deepseek-v3", 128_815, None, None, (1,)),
])
def test_tokenizer_json_known_ids(hf, name, size, hello_ids, hello_bytes, eos) -> None:
    tok, vocab = hf(name)
    assert vocab.size == len(vocab) == len(vocab.token_bytes) == size == tok.get_vocab_size()
    assert vocab.eos_ids == eos
    assert set(vocab.eos_ids) <= vocab.special_ids
    assert vocab.name == name
    if hello_ids is not None:
        assert tok.encode("Hello world", add_special_tokens=False).ids == hello_ids
        assert [vocab.token_bytes[i] for i in hello_ids] == hello_bytes
        assert vocab.decode(hello_ids) == b"Hello world"
    # invariant: every text token has bytes
    assert all(b for i, b in enumerate(vocab.token_bytes) if i not in vocab.special_ids)


def test_tokenizer_json_special_and_added_tokens(hf) -> None:
    _, llama3 = hf("llama3")
    assert llama3.token_bytes[128009] == b"<|eot_id|>" and llama3.is_special(128009)
    assert llama3.special_ids == frozenset(range(128000, 128256))
    assert llama3.decode([9906, 128009, 1917]) == b"Hello world"
    assert llama3.is_special(128256) and llama3.is_special(-1)  # outside: never text
    assert not llama3.is_special(9906)
    # byte-level symbols: "Ċ" is "\n", "Ġ" is " ", partial UTF-8 is kept as is
    gpt2_tok, gpt2 = hf("gpt2")
    assert gpt2.token_bytes[gpt2_tok.token_to_id("Ċ")] == b"\n"
    assert gpt2.token_bytes[gpt2_tok.token_to_id("Ġ")] == b" "
    assert gpt2.token_bytes[gpt2_tok.token_to_id("Ã")] == b"\xc3"
    # Qwen2.5: non-special added tokens are plain text, special ones are not
    qwen_tok, qwen = hf("qwen2.5")
    assert qwen.token_bytes[151657] == b"<tool_call>" and not qwen.is_special(151657)
    assert qwen.token_bytes[151643] == b"<|endoftext|>" and qwen.is_special(151643)
    # Gemma: SentencePiece style with byte fallback
    gemma_tok, gemma = hf("gemma")
    assert gemma.token_bytes[gemma_tok.token_to_id("<0x0A>")] == b"\n"
    assert gemma.token_bytes[gemma_tok.token_to_id("▁Hello")] == b" Hello"
    assert gemma.token_bytes[gemma_tok.token_to_id("<0xE2>")] == b"\xe2"
    assert {0, 1, 2, 3} <= gemma.special_ids


def test_tokenizer_json_eos_override() -> None:
    path = data_file("tokenizers", "qwen2.5", "tokenizer.json")
    v = Vocabulary.from_tokenizer_json(path, eos_tokens=["<|endoftext|>"])
    assert v.eos_ids == (151643,)
    v = Vocabulary.from_tokenizer_json(path, eos_tokens=["<|endoftext|>", "<|im_end|>"])
    assert v.eos_ids == (151643, 151645)
    with pytest.raises(InvalidArgument, match="unknown end-of-sequence token"):
        Vocabulary.from_tokenizer_json(path, eos_tokens=["<|no_such_token|>"])
    with pytest.raises(InvalidArgument):
        Vocabulary.from_tokenizer_json(path, eos_tokens="<|endoftext|>")  # type: ignore[arg-type]


def test_tokenizer_json_without_config_uses_well_known_eos(tmp_path) -> None:
    src = data_file("tokenizers", "gpt2", "tokenizer.json")
    (tmp_path / "tokenizer.json").write_bytes(src.read_bytes())
    v = Vocabulary.from_tokenizer_json(tmp_path)  # a directory works too
    assert v.eos_ids == (50256,)


def _write_json(tmp_path, data) -> str:
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_tokenizer_json_small_synthetic(tmp_path) -> None:
    """Holes become empty special tokens; added tokens override; SentencePiece without byte
    fallback keeps '<0x41>' as literal text."""
    bl = {"model": {"type": "BPE", "vocab": {"a": 0, "Ġb": 1, "Ċ": 3}, "merges": []},
          "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},
          "added_tokens": [{"id": 5, "content": "<s>", "special": True},
                           {"id": 6, "content": "Ġlit", "special": False}]}
    v = Vocabulary.from_tokenizer_json(_write_json(tmp_path, bl))
    assert v.token_bytes == [b"a", b" b", b"", b"\n", b"", b"<s>", "Ġlit".encode()]
    assert v.special_ids == {2, 4, 5} and v.eos_ids == ()
    sp = {"model": {"type": "BPE", "vocab": {"▁x": 0, "<0x41>": 1}, "merges": [],
                    "byte_fallback": False},
          "decoder": {"type": "Sequence", "decoders": [
              {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}]}}
    v = Vocabulary.from_tokenizer_json(_write_json(tmp_path, sp))
    assert v.token_bytes == [b" x", b"<0x41>"]
    sp["model"]["byte_fallback"] = True
    v = Vocabulary.from_tokenizer_json(_write_json(tmp_path, sp))
    assert v.token_bytes == [b" x", b"A"]
    uni = {"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["▁hi", -1.0]]},
           "pre_tokenizer": {"type": "Metaspace", "replacement": "▁"}}
    v = Vocabulary.from_tokenizer_json(_write_json(tmp_path, uni))
    assert v.token_bytes == [b"<unk>", b" hi"] and v.special_ids == {0}


def test_tokenizer_json_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        Vocabulary.from_tokenizer_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidSyntax, match="not valid JSON"):
        Vocabulary.from_tokenizer_json(bad)
    with pytest.raises(InvalidSyntax, match="expected a Hugging Face tokenizer.json"):
        Vocabulary.from_tokenizer_json(_write_json(tmp_path, {"vocab": {}}))
    wordpiece = {"model": {"type": "WordPiece", "vocab": {"a": 0, "##b": 1}}}
    with pytest.raises(Unsupported, match="WordPiece"):
        Vocabulary.from_tokenizer_json(_write_json(tmp_path, wordpiece))
    unknown_style = {"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}
    with pytest.raises(Unsupported, match="cannot tell how token strings map to bytes"):
        Vocabulary.from_tokenizer_json(_write_json(tmp_path, unknown_style))
    dup = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []},
           "decoder": {"type": "ByteLevel"}}
    with pytest.raises(InvalidSyntax, match="id 0"):
        Vocabulary.from_tokenizer_json(_write_json(tmp_path, dup))
    assert issubclass(InvalidSyntax, BytegramError) and issubclass(Unsupported, BytegramError)


# ---- SentencePiece .model --------------------------------------------------------------------

SP_MODELS = ["llama2", "mistral-v3"]


@pytest.fixture(scope="module")
def spm_loaded():
    cache: dict[str, tuple] = {}

    def load(name: str):
        if name not in cache:
            spm = pytest.importorskip("sentencepiece")
            path = data_file("tokenizers", name, "tokenizer.model")
            cache[name] = (spm.SentencePieceProcessor(model_file=str(path)),
                           Vocabulary.from_sentencepiece(path, name=name))
        return cache[name]

    return load


@pytest.mark.parametrize("name", SP_MODELS)
def test_sentencepiece_round_trip(spm_loaded, name: str) -> None:
    sp, vocab = spm_loaded(name)
    # dummy prefix, detected from the tokenizer: "x" -> "▁x" means a space is prepended
    prefix = b" " if sp.encode("x", out_type=str)[0].startswith("\u2581") else b""
    for text, ids in zip(CORPUS, sp.encode(CORPUS)):
        assert not any(vocab.is_special(i) for i in ids), (name, text, ids)
        assert vocab.decode(ids) == prefix + text.encode("utf-8"), (name, text, ids)


def test_sentencepiece_known_ids(spm_loaded) -> None:
    sp, llama2 = spm_loaded("llama2")
    assert sp.encode("Hello world") == [15043, 3186]
    assert llama2.decode([15043, 3186]) == b" Hello world"  # dummy prefix space kept
    assert llama2.size == 32_000 and llama2.eos_ids == (2,)
    assert llama2.special_ids == {0, 1, 2}  # <unk>, <s>, </s>
    assert llama2.token_bytes[sp.piece_to_id("<0x0A>")] == b"\n"
    assert llama2.token_bytes[1] == b"<s>"
    _, mistral = spm_loaded("mistral-v3")
    assert mistral.size == 32_768 and mistral.eos_ids == (2,)
    assert mistral.is_special(3) and mistral.token_bytes[3] == b"[INST]"  # control piece
    with pytest.raises(InvalidArgument):
        Vocabulary.from_sentencepiece(data_file("tokenizers", "llama2", "tokenizer.model"),
                                      eos_tokens=["<|nope|>"])


def test_sentencepiece_errors(tmp_path) -> None:
    pytest.importorskip("sentencepiece")
    with pytest.raises(FileNotFoundError):
        Vocabulary.from_sentencepiece(tmp_path / "missing.model")
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(InvalidSyntax, match="not a SentencePiece model"):
        Vocabulary.from_sentencepiece(bad)


# ---- tiktoken ----------------------------------------------------------------------------

# the public patterns of tiktoken_ext/openai_public.py
CL100K_PAT = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
              r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
O200K_PAT = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
TIKTOKEN = {
    "cl100k_base": (CL100K_PAT, {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258,
                                 "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
                                 "<|endofprompt|>": 100276}),
    "o200k_base": (O200K_PAT, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
}


@pytest.fixture(scope="module")
def tt_loaded():
    cache: dict[str, tuple] = {}

    def load(name: str):
        if name not in cache:
            tiktoken = pytest.importorskip("tiktoken")
            import tiktoken.load

            path = data_file("tokenizers", "tiktoken", f"{name}.tiktoken")
            pat, specials = TIKTOKEN[name]
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("TIKTOKEN_CACHE_DIR", "")  # local file, no cache copy, no network
                ranks = tiktoken.load.load_tiktoken_bpe(str(path))
            enc = tiktoken.Encoding(name=name, pat_str=pat, mergeable_ranks=ranks,
                                    special_tokens=specials)
            cache[name] = (enc, ranks,
                           Vocabulary.from_tiktoken(path, special_tokens=specials, name=name))
        return cache[name]

    return load


@pytest.mark.parametrize("name", list(TIKTOKEN))
def test_tiktoken_round_trip(tt_loaded, name: str) -> None:
    enc, ranks, vocab = tt_loaded(name)
    for text, ids in zip(CORPUS, enc.encode_ordinary_batch(CORPUS)):
        assert vocab.decode(ids) == text.encode("utf-8"), (name, text, ids)
    assert vocab.size == enc.n_vocab
    assert vocab.eos_ids == (enc.eot_token,)
    for tok, rank in ranks.items():
        assert vocab.token_bytes[rank] == tok
    specials = TIKTOKEN[name][1]
    holes = set(range(vocab.size)) - set(ranks.values()) - set(specials.values())
    assert vocab.special_ids == holes | set(specials.values())
    assert all(vocab.token_bytes[i] == b"" for i in holes)


def test_tiktoken_errors(tmp_path) -> None:
    bad = tmp_path / "bad.tiktoken"
    bad.write_bytes(b"YQ== 0\nnot-base64! 1\n")
    with pytest.raises(InvalidSyntax, match="line 2"):
        Vocabulary.from_tiktoken(bad)
    ok = tmp_path / "ok.tiktoken"
    ok.write_bytes(b"YQ== 0\nYg== 1\n")
    v = Vocabulary.from_tiktoken(ok, special_tokens={"<|endoftext|>": 3})
    assert v.token_bytes == [b"a", b"b", b"", b"<|endoftext|>"] and v.eos_ids == (3,)
    assert v.special_ids == {2, 3}
    assert Vocabulary.from_tiktoken(ok, eos_tokens=["b"]).eos_ids == (1,)
    with pytest.raises(InvalidArgument):
        Vocabulary.from_tiktoken(ok, special_tokens={"<|x|>": 1})  # collides with a rank


# ---- byte level, bytes lists, fingerprints ---------------------------------------------------

def test_byte_level() -> None:
    v = Vocabulary.byte_level()
    assert v.size == 256 and v.eos_ids == () and v.special_ids == frozenset()
    assert all(v.token_bytes[b] == bytes([b]) for b in range(256))
    assert v.decode(b"hi\xff") == b"hi\xff"  # iterating bytes gives ids = byte values
    e = Vocabulary.byte_level(eos_id=256)
    assert e.size == 257 and e.eos_ids == (256,) and e.special_ids == {256}
    assert e.decode([104, 105, 256]) == b"hi"
    z = Vocabulary.byte_level(eos_id=0)
    assert z.size == 256 and z.eos_ids == (0,) and z.is_special(0)
    with pytest.raises(InvalidArgument):
        Vocabulary.byte_level(eos_id=300)


def test_from_bytes_list_round_trip() -> None:
    tokens = [b"a", b"bc", b"", b"\xe2\x82", b"\xac", b"<eos>"]
    v = Vocabulary.from_bytes_list(tokens, eos_ids=[5], name="toy")
    assert v.token_bytes == tokens and v.size == len(v) == 6 and v.name == "toy"
    assert v.special_ids == {2, 5} and v.eos_ids == (5,)  # empty and EOS tokens are not text
    assert v.decode([0, 1, 3, 4, 5]) == b"abc\xe2\x82\xac"
    w = Vocabulary.from_bytes_list(v.token_bytes, eos_ids=v.eos_ids, special_ids=v.special_ids)
    assert w == v and w.fingerprint == v.fingerprint
    with pytest.raises(InvalidArgument):
        Vocabulary.from_bytes_list(["a"])  # type: ignore[list-item]
    with pytest.raises(InvalidArgument):
        Vocabulary.from_bytes_list([b"a"], eos_ids=[1])
    with pytest.raises(InvalidArgument):
        v.decode([6])
    with pytest.raises(AttributeError):
        v.size = 3  # type: ignore[misc]


def test_decode_accepts_arrays() -> None:
    np = pytest.importorskip("numpy")
    v = Vocabulary.byte_level()
    assert v.decode(np.array([104, 105], dtype=np.int64)) == b"hi"


def test_fingerprint(hf) -> None:
    a = Vocabulary.byte_level()
    assert a.fingerprint == Vocabulary.byte_level().fingerprint
    assert len(a.fingerprint) == 64 and int(a.fingerprint, 16) >= 0
    assert a.fingerprint != Vocabulary.byte_level(eos_id=256).fingerprint
    assert a.fingerprint != Vocabulary.byte_level(eos_id=0).fingerprint  # special ids count
    path = data_file("tokenizers", "gpt2", "tokenizer.json")
    g1 = Vocabulary.from_tokenizer_json(path)
    g2 = Vocabulary.from_tokenizer_json(path, name="other name")
    assert g1.fingerprint == g2.fingerprint and g1 == g2  # the name is not content
    assert g1.fingerprint != Vocabulary.from_tokenizer_json(path, eos_tokens=[]).fingerprint
    _, llama3 = hf("llama3")
    assert llama3.fingerprint != g1.fingerprint
    # splitting differently must change it (lengths are hashed, not just the concatenation)
    assert (Vocabulary.from_bytes_list([b"ab", b"c"]).fingerprint
            != Vocabulary.from_bytes_list([b"a", b"bc"]).fingerprint)


def test_pickle_round_trip() -> None:
    import pickle

    v = Vocabulary.byte_level(eos_id=256)
    w = pickle.loads(pickle.dumps(v))
    assert w == v and w.eos_ids == v.eos_ids and w.name == v.name


# ---- transformers tokenizer objects ----------------------------------------------------------

def test_from_hf_transformers() -> None:
    transformers = pytest.importorskip("transformers")
    path = data_file("tokenizers", "gpt2", "tokenizer.json")
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    v = Vocabulary.from_hf(tok)
    assert v.size == 50_257 and v.eos_ids == (50256,)
    assert v == Vocabulary.from_tokenizer_json(path)
    ids = tok.encode("Hello world", add_special_tokens=False)
    assert ids == [15496, 995] and v.decode(ids) == b"Hello world"


def test_from_hf_duck_typed() -> None:
    """The fast path (backend_tokenizer) and the slow SentencePiece path (sp_model), with
    stand-in objects so that it runs without transformers."""
    tokenizers = pytest.importorskip("tokenizers")
    path = data_file("tokenizers", "gpt2", "tokenizer.json")
    fast = types.SimpleNamespace(backend_tokenizer=tokenizers.Tokenizer.from_file(str(path)),
                                 eos_token="<|endoftext|>", name_or_path="gpt2")
    v = Vocabulary.from_hf(fast)
    assert v == Vocabulary.from_tokenizer_json(path) and v.name == "gpt2"
    assert Vocabulary.from_hf(fast.backend_tokenizer).eos_ids == (50256,)  # bare Tokenizer
    spm = pytest.importorskip("sentencepiece")
    model = data_file("tokenizers", "llama2", "tokenizer.model")
    added = {32000: types.SimpleNamespace(content="<pad>", special=True),
             32001: types.SimpleNamespace(content="<tool>", special=False)}
    slow = types.SimpleNamespace(sp_model=spm.SentencePieceProcessor(model_file=str(model)),
                                 added_tokens_decoder=added, eos_token="</s>")
    v = Vocabulary.from_hf(slow)
    assert v.size == 32_002 and v.eos_ids == (2,)
    assert v.is_special(32000) and not v.is_special(32001) and v.token_bytes[32001] == b"<tool>"
    assert v.token_bytes[:32000] == Vocabulary.from_sentencepiece(model).token_bytes
    with pytest.raises(Unsupported):
        Vocabulary.from_hf(object())


def test_unicode_normalization_is_the_tokenizers_not_ours(hf) -> None:
    """Qwen2.5 NFC-normalizes: a decomposed 'é' comes back composed (documented above)."""
    tok, vocab = hf("qwen2.5")
    text = "cafe\u0301"
    ids = tok.encode(text, add_special_tokens=False).ids
    assert vocab.decode(ids) == unicodedata.normalize("NFC", text).encode()
