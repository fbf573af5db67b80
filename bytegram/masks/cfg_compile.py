"""Grammar-level parts of a compiled context-free grammar, shared across vocabularies: the
LR(1) tables and the lazily grown lexer space (cached by grammar content)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..grammar.ir import GrammarIR
from ..grammar.lr import LRTables, build_lr_tables
from .cfg_lexer import LexerSpace

__all__ = ["cfg_parts"]

_CACHE: "OrderedDict[str, tuple[LRTables, LexerSpace]]" = OrderedDict()
_LOCK = threading.Lock()
_MAX = 16


def cfg_parts(ir: GrammarIR) -> tuple[LRTables, LexerSpace]:
    """``(tables, lexer)`` of ``ir``, built once per grammar content (LRU of 16)."""
    key = ir.content_hash
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    tables = build_lr_tables(ir)
    built = (tables, LexerSpace(tables))
    with _LOCK:
        built = _CACHE.setdefault(key, built)
        while len(_CACHE) > _MAX:
            _CACHE.popitem(last=False)
    return built
