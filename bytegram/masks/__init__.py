"""Stage 2: a vocabulary plus a compiled grammar -> token index, matchers, packed bitmasks."""

from .bitmask import allocate_bitmask, bitmask_width, unpack_bitmask
from .compiled import CompiledGrammar, compile
from .matcher import DFAMatcher, Matcher
from .vocab import Vocabulary

__all__ = ["Vocabulary", "CompiledGrammar", "compile", "Matcher", "DFAMatcher",
           "allocate_bitmask", "bitmask_width", "unpack_bitmask"]
