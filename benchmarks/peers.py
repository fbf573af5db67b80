"""Adapters that put bytegram and its peers (llguidance, xgrammar, outlines-core) behind one
small interface, so that every benchmark runs them side by side on the same inputs.

Peers are optional (`pip install -e .[bench]`); a missing one is reported and skipped.
Every engine gets the same tokenizer file and the same grammar text.

JSON Schema, two flavours:
- ``Engine.compile_json_schema``: each engine's own defaults (they differ: llguidance allows
  flexible whitespace, xgrammar any whitespace and no undeclared properties, outlines-core an
  optional space, ...).
- ``Engine.compile_json_compact``: what the JSON Schema benchmarks (maskbench.py,
  testsuite.py) use: the same language shape for every engine, compact JSON (exactly
  ``json.dumps(x, separators=(",", ":"))``, no whitespace anywhere), standard semantics where
  the engine lets us choose (undeclared properties allowed unless the schema says otherwise),
  no relaxation of unsupported keywords. ``JSON_COMPACT_CONFIG`` spells out each call.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

# bytegram's disk cache (compiled grammars, regex DFAs) would let a rerun compile from cache
# while the peers (their caches off) compile from scratch: benchmarks start from an empty
# cache directory unless BYTEGRAM_CACHE_DIR says otherwise
if "BYTEGRAM_CACHE_DIR" not in os.environ:
    import atexit
    import shutil

    os.environ["BYTEGRAM_CACHE_DIR"] = tempfile.mkdtemp(prefix="bytegram-bench-cache-")
    atexit.register(shutil.rmtree, os.environ["BYTEGRAM_CACHE_DIR"], True)

import bytegram  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BYTEGRAM_DATA", REPO.parent / "shared" / "data"))


def tokenizer_path(name: str = "llama3") -> Path:
    return DATA / "tokenizers" / name / "tokenizer.json"


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@dataclass
class PeerMatcher:
    """One sequence in one engine: fill a mask, accept a token, check acceptance."""

    fill: Callable[[], None]
    accept: Callable[[int], bool]
    accepting: Callable[[], bool]
    is_allowed: Callable[[int], bool] | None = None
    # the int32 bitmask row that fill() writes (bit t & 31 of word t >> 5), so that callers
    # check a token against the mask the same way in every engine
    mask: np.ndarray | None = None


@dataclass
class Engine:
    name: str
    version: str
    load_seconds: float
    compile_regex: Callable[[str], Callable[[], PeerMatcher]] | None = None
    compile_lark: Callable[[str], Callable[[], PeerMatcher]] | None = None
    compile_json_schema: Callable[[str], Callable[[], PeerMatcher]] | None = None
    compile_json: Callable[[], Callable[[], PeerMatcher]] | None = None  # any JSON value
    notes: list[str] = field(default_factory=list)
    # JSON Schema text -> matcher factory, configured as in JSON_COMPACT_CONFIG
    compile_json_compact: Callable[[str], Callable[[], PeerMatcher]] | None = None
    # the end-of-sequence ids this engine allows where its language accepts
    eos_ids: tuple[int, ...] = ()


# How each engine is configured for the JSON Schema benchmarks (Engine.compile_json_compact).
JSON_COMPACT_CONFIG = {
    "bytegram": 'bytegram.compile(Grammar.from_json_schema(schema, whitespace="compact"), '
                'vocab); defaults otherwise: strict=False, lenient=False, '
                'property_order="schema"',
    "llguidance": 'LLMatcher(tok, LLMatcher.grammar_from_json_schema(schema, overrides='
                  '{"whitespace_flexible": False, "item_separator": ",", '
                  '"key_separator": ":"}), log_level=0); coerce_one_of and lenient stay '
                  'False (unsupported keywords are compile errors)',
    "xgrammar": 'GrammarCompiler(TokenizerInfo.from_huggingface(tok, vocab_size=V, '
                'stop_token_ids=[eos]), max_threads=1, cache_enabled=False)'
                '.compile_json_schema(schema, any_whitespace=False, separators=(",", ":"), '
                'strict_mode=False)',
    "xgrammar-ws": 'as xgrammar but compile_json_schema(schema, any_whitespace=True, '
                   'strict_mode=False): any whitespace allowed (a superset of the compact '
                   'text), to sidestep the separator bug of its free-form JSON values',
    "outlines-core": 'Index(json_schema.build_regex_from_schema(schema, ""), '
                     'Vocabulary(eos, {bytes: ids} of the non-special tokens)); '
                     'whitespace_pattern "" (its default is "[ ]?")',
}
COMPACT_LLG = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}


def bytegram_engine(vocab: "bytegram.Vocabulary", load_seconds: float, *,
                    json_remotes: Any = None, json_property_order: str = "schema") -> Engine:
    """``json_remotes``, ``json_property_order``: passed to ``Grammar.from_json_schema`` as
    ``remotes=`` (a mapping URI -> schema for remote ``$ref``) and ``property_order=`` by
    ``compile_json_compact``."""

    def factory(grammar: "bytegram.Grammar") -> Callable[[], PeerMatcher]:
        compiled = bytegram.compile(grammar, vocab)
        bitmask = compiled.allocate_bitmask(1)

        def make() -> PeerMatcher:
            m = compiled.matcher()
            return PeerMatcher(lambda: m.fill_bitmask(bitmask), m.accept, m.is_accepting,
                               m.is_allowed, mask=bitmask[0])

        return make

    json_compact = None
    if hasattr(bytegram.Grammar, "from_json_schema"):
        def json_compact(schema: str) -> Callable[[], PeerMatcher]:
            kwargs = {"remotes": json_remotes} if json_remotes is not None else {}
            if json_property_order != "schema":
                kwargs["property_order"] = json_property_order
            return factory(bytegram.Grammar.from_json_schema(schema, whitespace="compact",
                                                             **kwargs))

    return Engine("bytegram", bytegram.__version__, load_seconds,
                  compile_regex=lambda p: factory(bytegram.Grammar.from_regex(p)),
                  compile_lark=lambda g: factory(bytegram.Grammar.from_lark(g)),
                  compile_json=lambda: factory(bytegram.Grammar.json()),
                  compile_json_compact=json_compact,
                  eos_ids=tuple(int(e) for e in vocab.eos_ids))


def llguidance_engine(path: Path) -> Engine | None:
    try:
        import llguidance
        import llguidance.numpy as lln
    except ImportError:
        return None
    t0 = time.perf_counter()
    tok = llguidance.LLTokenizer(str(path))
    load = time.perf_counter() - t0

    def factory(grammar: str, **options: Any) -> Callable[[], PeerMatcher]:
        # construct once to surface errors and do the compile work
        first = llguidance.LLMatcher(tok, grammar, **options)
        if first.is_error():
            raise RuntimeError(first.get_error())
        bitmask = lln.allocate_token_bitmask(1, tok.vocab_size)

        def make() -> PeerMatcher:
            m = first.deep_copy()
            return PeerMatcher(lambda: lln.fill_next_token_bitmask(m, bitmask, 0),
                               m.consume_token, m.is_accepting, mask=bitmask[0])

        return make

    def json_compact(schema: str) -> Callable[[], PeerMatcher]:
        # JSON_COMPACT_CONFIG; overrides win over the schema's own "x-guidance" options
        grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, overrides=COMPACT_LLG)
        return factory(grammar, log_level=0)

    return Engine("llguidance", version_of("llguidance"), load,
                  compile_regex=lambda p: factory(llguidance.LLMatcher.grammar_from_regex(p)),
                  compile_lark=lambda g: factory(llguidance.LLMatcher.grammar_from_lark(g)),
                  compile_json_schema=lambda s: factory(
                      llguidance.LLMatcher.grammar_from_json_schema(s)),
                  compile_json=lambda: factory(
                      llguidance.LLMatcher.grammar_from_lark("start: %json {}")),
                  compile_json_compact=json_compact,
                  eos_ids=tuple(int(e) for e in getattr(tok, "eos_tokens", None)
                                or [tok.eos_token]))


def xgrammar_engine(path: Path, vocab_size: int, *,
                    stop_token_ids: list[int] | None = None,
                    json_any_whitespace: bool = False,
                    json_any_order: bool = False) -> Engine | None:
    """``stop_token_ids``: passed to ``TokenizerInfo.from_huggingface`` (None: xgrammar
    detects them; on Llama-3 it picks both 128001 and 128009). ``json_any_whitespace``: make
    ``compile_json_compact`` use ``any_whitespace=True`` (a superset of compact JSON; works
    around xgrammar 0.2.8 keeping ", " as the item separator of free-form JSON values when
    ``separators=(",", ":")``). ``json_any_order``: ``any_order=True`` (properties in any
    order; xgrammar then checks neither required keys nor duplicates)."""
    try:
        import transformers
        import xgrammar as xgr
    except ImportError:
        return None
    import warnings

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
        if stop_token_ids is None:
            info = xgr.TokenizerInfo.from_huggingface(hf, vocab_size=vocab_size)
        else:
            info = xgr.TokenizerInfo.from_huggingface(hf, vocab_size=vocab_size,
                                                      stop_token_ids=list(stop_token_ids))
    compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
    load = time.perf_counter() - t0

    def factory(compiled: Any) -> Callable[[], PeerMatcher]:
        bitmask = xgr.allocate_token_bitmask(1, info.vocab_size)
        row = bitmask.numpy()[0]  # a view: a CPU tensor shares its memory with numpy

        def make() -> PeerMatcher:
            m = xgr.GrammarMatcher(compiled)
            return PeerMatcher(lambda: m.fill_next_token_bitmask(bitmask), m.accept_token,
                               m.is_terminated, mask=row)

        return make

    def json_compact(schema: str) -> Callable[[], PeerMatcher]:
        order = {"any_order": True} if json_any_order else {}
        if json_any_whitespace:
            return factory(compiler.compile_json_schema(schema, any_whitespace=True,
                                                        strict_mode=False, **order))
        return factory(compiler.compile_json_schema(schema, any_whitespace=False,
                                                    separators=(",", ":"),
                                                    strict_mode=False, **order))

    return Engine("xgrammar", version_of("xgrammar"), load,
                  compile_regex=lambda p: factory(compiler.compile_regex(p)),
                  compile_lark=None,
                  compile_json_schema=lambda s: factory(compiler.compile_json_schema(s)),
                  compile_json=lambda: factory(compiler.compile_builtin_json_grammar()),
                  notes=["xgrammar reports acceptance only after EOS (is_terminated)"],
                  compile_json_compact=json_compact,
                  eos_ids=tuple(int(e) for e in info.stop_token_ids))


def outlines_engine(vocab: "bytegram.Vocabulary") -> Engine | None:
    try:
        import outlines_core as oc
    except ImportError:
        return None
    t0 = time.perf_counter()
    mapping: dict[bytes, list[int]] = {}
    for i, b in enumerate(vocab.token_bytes):
        if b and i not in vocab.special_ids:
            mapping.setdefault(b, []).append(i)
    eos = int(vocab.eos_ids[0])
    ocv = oc.Vocabulary(eos, mapping)
    load = time.perf_counter() - t0
    width = (vocab.size + 31) // 32

    def factory(pattern: str) -> Callable[[], PeerMatcher]:
        index = oc.Index(pattern, ocv)
        mask = np.zeros(width, dtype=np.int32)

        def make() -> PeerMatcher:
            g = oc.Guide(index)

            def accept(t: int) -> bool:
                try:
                    g.advance(t)
                    return True
                except Exception:
                    return False

            return PeerMatcher(lambda: g.write_mask_into(mask.ctypes.data, width, 4), accept,
                               g.is_finished, mask=mask)

        return make

    def json_compact(schema: str) -> Callable[[], PeerMatcher]:
        from outlines_core.json_schema import build_regex_from_schema

        return factory(build_regex_from_schema(schema, ""))

    return Engine("outlines-core", version_of("outlines-core"), load, compile_regex=factory,
                  compile_json_compact=json_compact, eos_ids=(eos,))


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f}"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"
