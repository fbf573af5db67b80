"""Grammar-level parts of a compiled context-free grammar, shared across vocabularies: the
LR(1) tables and the lazily grown lexer space (cached by grammar content: in memory, and the
LR tables on disk as well, see ``bytegram.cache``)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from .. import cache
from ..grammar.ir import GrammarIR
from ..grammar.lr import LRTables, build_lr_tables
from .cfg_lexer import LexerSpace

__all__ = ["cfg_parts"]

_CACHE: "OrderedDict[str, tuple[LRTables, LexerSpace]]" = OrderedDict()
_LOCK = threading.Lock()
_MAX = 16
_KIND = "lr-tables"


def cfg_parts(ir: GrammarIR) -> tuple[LRTables, LexerSpace]:
    """``(tables, lexer)`` of ``ir``, built once per grammar content (LRU of 16); the
    tables come from the disk cache when an earlier process built them."""
    key = ir.content_hash
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    tables = _lr_tables(ir)
    built = (tables, LexerSpace(tables))
    with _LOCK:
        built = _CACHE.setdefault(key, built)
        while len(_CACHE) > _MAX:
            _CACHE.popitem(last=False)
    return built


def _lr_tables(ir: GrammarIR) -> LRTables:
    """LR tables of ``ir``: from the disk cache, else built (and stored)."""
    from ..grammar.serialize import lr_from_arrays, lr_to_arrays

    if not ir.content_hash or cache.cache_dir() is None:
        return build_lr_tables(ir)
    key = cache.cache_key(_KIND, ir.content_hash)
    tables = cache.load_as(_KIND, key, lambda arrays, meta: lr_from_arrays(arrays, meta, ir))
    if tables is None:
        tables = build_lr_tables(ir)
        arrays, meta = lr_to_arrays(tables, ir)
        cache.save(_KIND, key, arrays, meta)
    return tables
