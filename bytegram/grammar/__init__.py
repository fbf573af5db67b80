"""Grammar stage: text and schemas -> byte-level automata (knows nothing about tokenizers)."""

from .dfa import ByteDFA
from .grammar import Grammar
from .regex import regex_to_dfa

__all__ = ["Grammar", "ByteDFA", "regex_to_dfa"]
