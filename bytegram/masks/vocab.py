"""Token vocabularies as exact bytes: token id -> the bytes that token stands for.

Every automaton in bytegram runs over bytes, so a token mask needs each token's exact bytes.
Those come from the tokenizer's own model, never from decoding one token at a time (which
loses partial UTF-8 sequences and leading spaces):

- byte-level BPE (GPT-2, Llama-3, Qwen2.5, DeepSeek-V3): each symbol of a token string maps
  back through the inverse of GPT-2's ``bytes_to_unicode`` table;
- SentencePiece (Llama-2, Mistral, Gemma): U+2581 ``▁`` is a space and ``<0xNN>`` is byte NN
  (when the model has byte fallback);
- tiktoken rank files hold the bytes directly, base64-encoded.

Special tokens (control, added special, unknown) are not text: they keep their literal text
bytes (``b"<|eot_id|>"``) for display but are listed in ``special_ids``, and a grammar never
allows them (only the end-of-sequence ids, when the language accepts). Invariant: every token
*not* in ``special_ids`` has at least one byte; ids with no token (holes in the id space) and
empty tokens are special.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import operator
import os
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bytegram.errors import InvalidArgument, InvalidSyntax, Unsupported

__all__ = ["Vocabulary"]

#: End-of-sequence token names tried, in this order, when nothing names the EOS token.
WELL_KNOWN_EOS: tuple[str, ...] = (
    "<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|im_end|>", "<|eot_id|>",
)

_SP_SPACE = "\u2581"  # "▁", SentencePiece's visible space


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table used by byte-level BPE vocabularies.

    Printable Latin-1 bytes map to themselves; the other 68 bytes (controls, space, 0x7F-0xA0,
    0xAD) map to U+0100, U+0101, ... in byte order.
    """
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in keep}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + n)
            n += 1
    return table


_BYTE_TO_CHAR = _bytes_to_unicode()
# str.translate table: symbol -> byte value as a code point < 256, so that
# ``token.translate(_BYTE_LEVEL).encode("latin-1")`` gives the token's bytes. Code points
# below 256 that are NOT symbols of the table are sent to U+FFFF, so encoding fails for them
# too: a token with any foreign character is taken as literal UTF-8 text (as the `tokenizers`
# ByteLevel decoder does).
_BYTE_LEVEL: dict[int, int] = {cp: 0xFFFF for cp in range(256)}
_BYTE_LEVEL.update({ord(c): b for b, c in _BYTE_TO_CHAR.items()})

# SentencePiece byte pieces: "<0x0A>" -> b"\n" (SentencePiece writes upper-case hex).
_BYTE_PIECES: dict[str, bytes] = {f"<0x{b:02X}>": bytes([b]) for b in range(256)}


def _byte_level_bytes(token: str) -> bytes:
    """Bytes of one byte-level BPE symbol string (UTF-8 of the string if it is not one)."""
    try:
        return token.translate(_BYTE_LEVEL).encode("latin-1")
    except UnicodeEncodeError:
        return token.encode("utf-8", "surrogatepass")


def _sp_converter(space: str, byte_pieces: bool) -> Callable[[str], bytes]:
    """Return a function mapping one SentencePiece-style piece to its bytes."""
    byte_map = _BYTE_PIECES if byte_pieces else {}

    def convert(piece: str) -> bytes:
        b = byte_map.get(piece)
        if b is not None:
            return b
        return piece.replace(space, " ").encode("utf-8", "surrogatepass")

    return convert


def _resolve_file(path: str | os.PathLike[str], default_name: str) -> Path:
    """``path`` itself, or ``path/default_name`` when ``path`` is a directory; must exist."""
    p = Path(path)
    if p.is_dir():
        p = p / default_name
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {str(p)!r}")
    return p


def _load_json(path: Path) -> Any:
    """Parse a JSON file, turning a decode error into InvalidSyntax naming the file."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidSyntax(f"{str(path)!r} is not valid JSON: {e}") from e


def _token_name(value: Any) -> str | None:
    """A tokenizer_config ``eos_token`` entry (str, ``{"content": ...}`` or AddedToken) as a str."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        content = value.get("content")
        return content if isinstance(content, str) else None
    content = getattr(value, "content", None)  # transformers/tokenizers AddedToken
    return content if isinstance(content, str) else str(value)


def _components(node: Any) -> list[dict[str, Any]]:
    """Flatten a tokenizer.json normalizer / pre-tokenizer / decoder into its parts."""
    if not isinstance(node, dict):
        return []
    out = [node]
    for key in ("decoders", "pretokenizers", "normalizers"):
        children = node.get(key)
        if isinstance(children, list):
            for child in children:
                out.extend(_components(child))
    return out


def _types(parts: list[dict[str, Any]]) -> list[str]:
    return [str(p.get("type")) for p in parts]


class _Parsed:
    """Intermediate result of reading a tokenizer: bytes, specials and a name -> id lookup."""

    __slots__ = ("token_bytes", "special", "lookup")

    def __init__(self, token_bytes: list[bytes], special: set[int],
                 lookup: Callable[[str], int | None]) -> None:
        self.token_bytes = token_bytes
        self.special = special
        self.lookup = lookup


def _parse_tokenizer_json(data: Any, *, source: str) -> _Parsed:
    """Read token bytes and special ids from a parsed Hugging Face tokenizer.json."""
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        found = type(data).__name__ if not isinstance(data, dict) else f"keys {sorted(data)[:8]}"
        raise InvalidSyntax(
            f"{source}: expected a Hugging Face tokenizer.json (an object with a 'model' "
            f"object), found {found}")
    model = data["model"]
    vocab = model.get("vocab")
    mtype = model.get("type") or ("Unigram" if isinstance(vocab, list) else "BPE")

    if mtype == "WordPiece":
        raise Unsupported(
            f"{source}: WordPiece (BERT-style) tokenizers are not supported: their tokens "
            "(with '##' continuations and implicit spaces) do not concatenate to the text",
            feature="WordPiece tokenizer")
    if mtype not in ("BPE", "Unigram", "WordLevel"):
        raise Unsupported(f"{source}: unknown tokenizer model type {mtype!r}; expected BPE, "
                          "Unigram or WordLevel", feature=f"model type {mtype}")
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise Unsupported(
                f"{source}: BPE with {key}={model[key]!r} is not supported: its token strings "
                "do not concatenate to the text", feature=key)

    # vocab: {token: id} (BPE, WordLevel) or [[piece, score], ...] (Unigram)
    if isinstance(vocab, dict):
        items: Iterable[tuple[Any, Any]] = vocab.items()
    elif isinstance(vocab, list):
        try:
            items = [(entry[0], i) for i, entry in enumerate(vocab)]
        except (TypeError, IndexError, KeyError):
            raise InvalidSyntax(f"{source}: model.vocab of a Unigram model must be a list of "
                                "[piece, score] pairs") from None
    else:
        raise InvalidSyntax(f"{source}: expected model.vocab to be an object or a list, "
                            f"found {type(vocab).__name__}")
    added = data.get("added_tokens") or []
    if not isinstance(added, list):
        raise InvalidSyntax(f"{source}: expected added_tokens to be a list, "
                            f"found {type(added).__name__}")

    # how do token strings map to bytes?
    decoder = _components(data.get("decoder"))
    pre = _components(data.get("pre_tokenizer"))
    norm = _components(data.get("normalizer"))
    types = _types(decoder) + _types(pre)
    byte_fallback = bool(model.get("byte_fallback")) or "ByteFallback" in types
    convert: Callable[[str], bytes]
    if "ByteLevel" in types:
        convert = _byte_level_bytes
    else:
        space = None
        for part in decoder + pre:
            if part.get("type") == "Metaspace":
                space = part.get("replacement") or _SP_SPACE
            elif (part.get("type") == "Replace" and part.get("content") == " "
                    and isinstance(part.get("pattern"), dict)
                    and isinstance(part["pattern"].get("String"), str)):
                space = part["pattern"]["String"]
        for part in norm:
            if (part.get("type") == "Replace" and isinstance(part.get("pattern"), dict)
                    and part["pattern"].get("String") == " "
                    and isinstance(part.get("content"), str)):
                space = space or part["content"]
        if space is None and not byte_fallback:
            raise Unsupported(
                f"{source}: cannot tell how token strings map to bytes: expected a ByteLevel "
                "pre-tokenizer or decoder (byte-level BPE) or a Metaspace / Replace('▁', ' ') / "
                f"ByteFallback part (SentencePiece style); found model {mtype}, decoder "
                f"{_types(decoder) or None}, pre_tokenizer {_types(pre) or None}",
                feature="tokenizer style")
        space = space or _SP_SPACE
        if not byte_fallback and isinstance(vocab, dict):
            # no byte fallback, but the complete set of 256 byte pieces is there
            byte_fallback = all(p in vocab for p in _BYTE_PIECES)
        convert = _sp_converter(space, byte_fallback)

    # size: one past the largest id, added tokens included
    token_strs: dict[int, str] = {}
    for tok, tid in items:
        if not isinstance(tok, str) or type(tid) is not int or tid < 0:
            raise InvalidSyntax(f"{source}: bad vocabulary entry {tok!r}: {tid!r} (expected a "
                                "string and a non-negative integer id)")
        if tid in token_strs:
            raise InvalidSyntax(f"{source}: id {tid} is given to both {token_strs[tid]!r} and "
                                f"{tok!r}")
        token_strs[tid] = tok
    added_ids: dict[str, int] = {}
    added_entries: list[tuple[int, str, bool]] = []
    for entry in added:
        if (not isinstance(entry, dict) or type(entry.get("id")) is not int
                or entry["id"] < 0 or not isinstance(entry.get("content"), str)):
            raise InvalidSyntax(f"{source}: bad added_tokens entry {entry!r} (expected an object "
                                "with an integer 'id' and a string 'content')")
        added_entries.append((entry["id"], entry["content"], bool(entry.get("special"))))
        added_ids.setdefault(entry["content"], entry["id"])
    size = max([*token_strs, *(e[0] for e in added_entries)], default=-1) + 1

    token_bytes: list[bytes | None] = [None] * size
    for tid, tok in token_strs.items():
        token_bytes[tid] = convert(tok)
    special: set[int] = set()
    # added tokens override the model's entry for the same id; their content is literal text
    for tid, content, is_special in added_entries:
        token_bytes[tid] = content.encode("utf-8", "surrogatepass")
        if is_special:
            special.add(tid)
        else:
            special.discard(tid)
    unk = model.get("unk_token")
    if isinstance(unk, str):
        unk_id = added_ids.get(unk, vocab.get(unk) if isinstance(vocab, dict) else None)
        if unk_id is None and isinstance(vocab, list):
            unk_id = next((tid for tid, tok in token_strs.items() if tok == unk), None)
        if unk_id is not None:
            special.add(unk_id)
    elif type(model.get("unk_id")) is int and 0 <= model["unk_id"] < size:  # Unigram
        special.add(model["unk_id"])
    out: list[bytes] = [b"" if t is None else t for t in token_bytes]
    special.update(i for i, t in enumerate(token_bytes) if t is None)

    def lookup(name: str) -> int | None:
        tid = added_ids.get(name)
        if tid is None and isinstance(vocab, dict):
            tid = vocab.get(name)
        if tid is None and isinstance(vocab, list):
            tid = next((i for i, tok in token_strs.items() if tok == name), None)
        return tid

    return _Parsed(out, special, lookup)


def _sp_tables(sp: Any) -> _Parsed:
    """Token bytes and special ids of a loaded ``sentencepiece.SentencePieceProcessor``."""
    n = sp.get_piece_size()
    pieces = [sp.id_to_piece(i) for i in range(n)]
    token_bytes: list[bytes] = []
    special: set[int] = set()
    for i, piece in enumerate(pieces):
        if sp.is_byte(i):
            b = _BYTE_PIECES.get(piece)
            if b is None:
                raise InvalidSyntax(f"SentencePiece byte piece {i} is {piece!r}, expected "
                                    "'<0xNN>'")
            token_bytes.append(b)
            continue
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            special.add(i)
            token_bytes.append(piece.encode("utf-8", "surrogatepass"))
            continue
        token_bytes.append(piece.replace(_SP_SPACE, " ").encode("utf-8", "surrogatepass"))
    index = {p: i for i, p in enumerate(pieces)}
    return _Parsed(token_bytes, special, index.get)


def _resolve_eos(names: Sequence[str], lookup: Callable[[str], int | None], *,
                 source: str) -> tuple[int, ...]:
    """Map EOS token names to ids; an unknown name is an error."""
    if isinstance(names, (str, bytes)):
        raise InvalidArgument(f"eos_tokens must be a sequence of token names, not a single "
                              f"{type(names).__name__} (write eos_tokens=[{names!r}])")
    ids: list[int] = []
    for name in names:
        tid = lookup(name) if isinstance(name, str) else None
        if tid is None:
            raise InvalidArgument(
                f"{source}: unknown end-of-sequence token {name!r}: eos_tokens takes token "
                "names as written in the tokenizer, e.g. '<|endoftext|>'")
        ids.append(tid)
    return tuple(ids)


def _default_eos(lookup: Callable[[str], int | None], configured: str | None) -> tuple[int, ...]:
    """The configured EOS token if it exists, else the first well-known EOS name present."""
    for name in ((configured,) if configured else ()) + WELL_KNOWN_EOS:
        tid = lookup(name)
        if tid is not None:
            return (tid,)
    return ()


def _check_ids(ids: Iterable[Any], size: int, what: str) -> list[int]:
    out = []
    for i in ids:
        try:
            i = operator.index(i)
        except TypeError:
            raise InvalidArgument(f"{what} must be integers, found {i!r}") from None
        if not 0 <= i < size:
            raise InvalidArgument(f"{what}: id {i} is outside the vocabulary (0..{size - 1})")
        out.append(i)
    return out


class Vocabulary:
    """An immutable map from token id to the exact bytes of that token.

    Attributes: ``token_bytes`` (list, index = token id; do not mutate it), ``special_ids``
    (ids that are not text: control/added special/unknown tokens, holes, empty tokens and the
    EOS ids; a grammar never allows them), ``eos_ids`` (end-of-sequence ids, always also in
    ``special_ids``), ``size`` (``len(token_bytes)``; a model's logit width may be larger),
    ``name`` (an optional label, not part of the content) and ``fingerprint``.

    Build one with a ``from_*`` constructor or ``byte_level()``; ``Vocabulary(tokens, ...)``
    is the same as ``from_bytes_list``.
    """

    __slots__ = ("token_bytes", "special_ids", "eos_ids", "size", "name", "_fingerprint")

    token_bytes: list[bytes]
    special_ids: frozenset[int]
    eos_ids: tuple[int, ...]
    size: int
    name: str | None

    def __init__(self, token_bytes: Sequence[bytes], *, eos_ids: Sequence[int] = (),
                 special_ids: Sequence[int] = (), name: str | None = None) -> None:
        """Validate and freeze the content; see the class docstring for the invariants."""
        tokens = list(token_bytes)
        for i, t in enumerate(tokens):
            if type(t) is not bytes:
                if isinstance(t, (bytearray, memoryview)):
                    tokens[i] = bytes(t)
                else:
                    raise InvalidArgument(f"token {i} must be bytes, found "
                                          f"{type(t).__name__} {t!r:.60}")
        size = len(tokens)
        eos = tuple(dict.fromkeys(_check_ids(eos_ids, size, "eos_ids")))
        special = set(_check_ids(special_ids, size, "special_ids"))
        special.update(eos)
        special.update(i for i, t in enumerate(tokens) if not t)
        if name is not None and not isinstance(name, str):
            raise InvalidArgument(f"name must be a str or None, found {type(name).__name__}")
        setattr_ = object.__setattr__
        setattr_(self, "token_bytes", tokens)
        setattr_(self, "special_ids", frozenset(special))
        setattr_(self, "eos_ids", eos)
        setattr_(self, "size", size)
        setattr_(self, "name", name)
        setattr_(self, "_fingerprint", None)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"Vocabulary is immutable (cannot set {key!r})")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"Vocabulary is immutable (cannot delete {key!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.token_bytes, tuple(sorted(self.special_ids)), self.eos_ids,
                           self.name))

    # ---- queries ------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return (f"Vocabulary(name={self.name!r}, size={self.size}, "
                f"special={len(self.special_ids)}, eos_ids={self.eos_ids})")

    def __eq__(self, other: object) -> bool:
        """Equal content (same fingerprint); the name is ignored."""
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self is other or self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    @property
    def fingerprint(self) -> str:
        """SHA-256 hex digest of the content: every token's bytes, the special and EOS ids.

        Stable across processes and loads (the name is not included), so it can key caches
        of compiled masks.
        """
        fp = self._fingerprint
        if fp is None:
            h = hashlib.sha256(b"bytegram.Vocabulary/1\0")
            lengths = array("Q", map(len, self.token_bytes))  # 8-byte unsigned
            if sys.byteorder != "little":
                lengths.byteswap()
            h.update(len(self.token_bytes).to_bytes(8, "little"))
            h.update(lengths.tobytes())
            h.update(b"".join(self.token_bytes))
            for ids in (sorted(self.special_ids), self.eos_ids):
                h.update(len(ids).to_bytes(8, "little"))
                h.update(b"".join(i.to_bytes(8, "little") for i in ids))
            fp = h.hexdigest()
            object.__setattr__(self, "_fingerprint", fp)
        return fp

    def is_special(self, token_id: int) -> bool:
        """True when ``token_id`` is not text: a special id, or an id outside 0..size-1
        (e.g. a padding row of a wider logit matrix)."""
        return token_id in self.special_ids or not 0 <= token_id < self.size

    def decode(self, ids: Iterable[int]) -> bytes:
        """Concatenate the bytes of ``ids``, skipping special ids.

        Exact: partial UTF-8 sequences and spaces survive (a SentencePiece dummy-prefix space
        is kept, e.g. ``b" Hello"`` for Llama-2's ``▁Hello``). Accepts numpy/torch integer
        arrays. An id outside the vocabulary raises InvalidArgument.
        """
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        tb = self.token_bytes
        special = self.special_ids
        size = self.size
        out = []
        for i in ids:
            try:
                i = operator.index(i)
            except TypeError:
                raise InvalidArgument(f"token ids must be integers, found {i!r:.60}") from None
            if not 0 <= i < size:
                raise InvalidArgument(f"token id {i} is outside the vocabulary (0..{size - 1})")
            if i not in special:
                out.append(tb[i])
        return b"".join(out)

    # ---- constructors -------------------------------------------------------------------

    @classmethod
    def from_bytes_list(cls, tokens: Sequence[bytes], *, eos_ids: Sequence[int] = (),
                        special_ids: Sequence[int] = (), name: str | None = None) -> Vocabulary:
        """Build from explicit token bytes (index = id). EOS ids and empty tokens are made
        special, since neither is text."""
        return cls(tokens, eos_ids=eos_ids, special_ids=special_ids, name=name)

    @classmethod
    def byte_level(cls, *, eos_id: int | None = None) -> Vocabulary:
        """The pure byte vocabulary: 256 tokens, token id = byte value.

        ``eos_id=256`` appends a 257th token (empty bytes) as the end-of-sequence token.
        ``eos_id`` in 0..255 makes that byte the EOS token instead (it then stops being
        text). ``None`` (default): no EOS token.
        """
        tokens = [bytes([b]) for b in range(256)]
        if eos_id is None:
            return cls(tokens, name="bytes")
        if type(eos_id) is not int or not 0 <= eos_id <= 256:
            raise InvalidArgument(f"byte_level(eos_id=...) must be None, 256 (an extra token) "
                                f"or a byte value 0..255, found {eos_id!r}")
        if eos_id == 256:
            tokens.append(b"")
        return cls(tokens, eos_ids=(eos_id,), name="bytes")

    @classmethod
    def from_tokenizer_json(cls, path: str | os.PathLike[str], *,
                            eos_tokens: Sequence[str] | None = None,
                            name: str | None = None) -> Vocabulary:
        """Load a Hugging Face ``tokenizer.json`` (a file, or a directory holding one).

        Handles byte-level BPE (GPT-2, Llama-3, Qwen2.5, DeepSeek-V3) and SentencePiece-style
        tokenizers (Gemma, Llama-2 converted: ``▁`` -> space, ``<0xNN>`` -> byte NN with byte
        fallback). ``added_tokens`` marked special are special; other added tokens are literal
        UTF-8 text. EOS: ``eos_tokens`` (names) if given, else ``eos_token`` of a
        ``tokenizer_config.json`` beside the file, else the first of WELL_KNOWN_EOS present.
        """
        p = _resolve_file(path, "tokenizer.json")
        parsed = _parse_tokenizer_json(_load_json(p), source=repr(str(p)))
        if eos_tokens is not None:
            eos = _resolve_eos(eos_tokens, parsed.lookup, source=repr(str(p)))
        else:
            configured = None
            config_path = p.with_name("tokenizer_config.json")
            if config_path.is_file():
                config = _load_json(config_path)
                if isinstance(config, dict):
                    configured = _token_name(config.get("eos_token"))
            eos = _default_eos(parsed.lookup, configured)
        return cls(parsed.token_bytes, eos_ids=eos, special_ids=parsed.special, name=name)

    @classmethod
    def from_hf(cls, tokenizer: Any, *, eos_tokens: Sequence[str] | None = None) -> Vocabulary:
        """Build from a ``transformers`` tokenizer object (fast or slow), duck-typed.

        Fast tokenizers (and bare ``tokenizers.Tokenizer`` objects) are read through their
        serialized tokenizer.json; slow ones through their SentencePiece model (``sp_model``)
        or, for byte-level BPE, their vocabulary. EOS defaults to ``tokenizer.eos_token``.
        """
        name = getattr(tokenizer, "name_or_path", None) or None
        if not isinstance(name, str):
            name = None
        source = f"{type(tokenizer).__name__} {name!r}" if name else type(tokenizer).__name__
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None and callable(getattr(tokenizer, "to_str", None)):
            backend = tokenizer  # a tokenizers.Tokenizer
        if backend is not None:
            parsed = _parse_tokenizer_json(json.loads(backend.to_str()), source=source)
        elif getattr(tokenizer, "sp_model", None) is not None:
            parsed = _sp_tables(tokenizer.sp_model)
            parsed = _with_hf_added(parsed, tokenizer)
        elif getattr(tokenizer, "byte_decoder", None) is not None and callable(
                getattr(tokenizer, "get_vocab", None)):
            vocab = tokenizer.get_vocab()
            size = max(vocab.values(), default=-1) + 1
            tb: list[bytes] = [b""] * size
            filled = [False] * size
            for tok, tid in vocab.items():
                tb[tid] = _byte_level_bytes(tok)
                filled[tid] = True
            parsed = _Parsed(tb, {i for i in range(size) if not filled[i]}, vocab.get)
            parsed = _with_hf_added(parsed, tokenizer)
        else:
            raise Unsupported(
                f"{source}: cannot read token bytes: expected a fast tokenizer "
                "(backend_tokenizer), a SentencePiece-based slow tokenizer (sp_model) or a "
                "byte-level BPE slow tokenizer (byte_decoder + get_vocab)",
                feature="tokenizer type")
        if eos_tokens is not None:
            eos = _resolve_eos(eos_tokens, parsed.lookup, source=source)
        else:
            eos = _default_eos(parsed.lookup, _token_name(getattr(tokenizer, "eos_token", None)))
        return cls(parsed.token_bytes, eos_ids=eos, special_ids=parsed.special, name=name)

    @classmethod
    def from_tiktoken(cls, path: str | os.PathLike[str], *,
                      special_tokens: Mapping[str, int] | None = None,
                      eos_tokens: Sequence[str] | None = None,
                      name: str | None = None) -> Vocabulary:
        """Load a ``.tiktoken`` rank file (``<base64 token> <rank>`` per line; rank = id).

        ``special_tokens`` maps special token names to ids (tiktoken files do not list them;
        e.g. cl100k_base has ``{"<|endoftext|>": 100257, ...}``). Ids left without a token
        are empty and special. EOS: ``eos_tokens`` if given, else the first WELL_KNOWN_EOS
        name among the special tokens.
        """
        p = _resolve_file(path, "tokenizer.tiktoken")
        with open(p, "rb") as f:
            raw = f.read()
        ranks: dict[int, bytes] = {}
        for lineno, line in enumerate(raw.splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) != 2:
                    raise ValueError
                tok = base64.b64decode(parts[0], validate=True)
                rank = int(parts[1])
                if rank < 0:
                    raise ValueError
            except (ValueError, binascii.Error):
                raise InvalidSyntax(f"{str(p)!r}, line {lineno}: expected '<base64 token> "
                                    f"<rank>', found {line[:80]!r}") from None
            if rank in ranks:
                raise InvalidSyntax(f"{str(p)!r}, line {lineno}: rank {rank} given twice")
            ranks[rank] = tok
        specials = dict(special_tokens or {})
        for sname, sid in specials.items():
            if not isinstance(sname, str) or type(sid) is not int or sid < 0:
                raise InvalidArgument(f"special_tokens must map names to non-negative ids, "
                                    f"found {sname!r}: {sid!r}")
            if sid in ranks:
                raise InvalidArgument(f"special token {sname!r} has id {sid}, which is already "
                                    f"the rank of {ranks[sid]!r}")
        size = max([*ranks, *specials.values()], default=-1) + 1
        token_bytes = [b""] * size
        for rank, tok in ranks.items():
            token_bytes[rank] = tok
        special = {i for i in range(size) if i not in ranks}
        for sname, sid in specials.items():
            token_bytes[sid] = sname.encode("utf-8")
        by_text: dict[str, int] | None = None

        def lookup(n: str) -> int | None:
            nonlocal by_text
            if n in specials:
                return specials[n]
            if by_text is None:
                by_text = {}
                for r, t in ranks.items():
                    try:
                        by_text.setdefault(t.decode("utf-8"), r)
                    except UnicodeDecodeError:
                        pass
            return by_text.get(n)

        if eos_tokens is not None:
            eos = _resolve_eos(eos_tokens, lookup, source=repr(str(p)))
        else:
            eos = _default_eos(specials.get, None)
        return cls(token_bytes, eos_ids=eos, special_ids=special, name=name)

    @classmethod
    def from_sentencepiece(cls, path: str | os.PathLike[str], *,
                           eos_tokens: Sequence[str] | None = None,
                           name: str | None = None) -> Vocabulary:
        """Load a SentencePiece ``.model`` file (needs the ``sentencepiece`` package).

        Byte pieces ``<0xNN>`` are byte NN; control, unknown and unused pieces are special;
        ``▁`` is a space. Models with a dummy prefix (Llama-2) encode "Hello" as ``▁Hello``,
        so ``decode`` gives ``b" Hello"``: the space is part of the token's bytes. EOS:
        ``eos_tokens`` if given, else the model's ``eos_id``, else a WELL_KNOWN_EOS name.
        """
        p = _resolve_file(path, "tokenizer.model")
        try:
            import sentencepiece as spm
        except ImportError as e:
            raise Unsupported("from_sentencepiece needs the 'sentencepiece' package",
                              feature="sentencepiece", hint="pip install sentencepiece") from e
        try:
            sp = spm.SentencePieceProcessor(model_file=str(p))
        except (OSError, RuntimeError) as e:
            raise InvalidSyntax(f"{str(p)!r} is not a SentencePiece model: {e}") from e
        parsed = _sp_tables(sp)
        if eos_tokens is not None:
            eos = _resolve_eos(eos_tokens, parsed.lookup, source=repr(str(p)))
        elif 0 <= sp.eos_id() < len(parsed.token_bytes):
            eos = (sp.eos_id(),)
        else:
            eos = _default_eos(parsed.lookup, None)
        return cls(parsed.token_bytes, eos_ids=eos, special_ids=parsed.special, name=name)


def _with_hf_added(parsed: _Parsed, tokenizer: Any) -> _Parsed:
    """Overlay a slow transformers tokenizer's added tokens (``added_tokens_decoder``)."""
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    if not added:
        return parsed
    tb = parsed.token_bytes
    special = set(parsed.special)
    size = max(len(tb), max(added) + 1)
    if size > len(tb):
        special.update(range(len(tb), size))
        tb = tb + [b""] * (size - len(tb))
    names: dict[str, int] = {}
    for tid, tok in added.items():
        content = _token_name(tok) or ""
        tb[tid] = content.encode("utf-8", "surrogatepass")
        names.setdefault(content, tid)
        if getattr(tok, "special", False):
            special.add(tid)
        else:
            special.discard(tid)
    base = parsed.lookup

    def lookup(n: str) -> int | None:
        tid = names.get(n)
        return tid if tid is not None else base(n)

    return _Parsed(tb, special, lookup)


def _rebuild(token_bytes: list[bytes], special_ids: tuple[int, ...], eos_ids: tuple[int, ...],
             name: str | None) -> Vocabulary:
    """Unpickle helper."""
    return Vocabulary(token_bytes, eos_ids=eos_ids, special_ids=special_ids, name=name)
