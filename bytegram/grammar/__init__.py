"""Grammar stage: text and schemas -> byte-level automata (knows nothing about tokenizers)."""

from .dfa import ByteDFA
from .gbnf import gbnf_to_ir
from .grammar import Grammar
from .ir import GrammarIR, IRBuilder, Rule, Terminal
from .json_grammar import json_ir
from .lr import LRTables, build_lr_tables
from .regex import regex_to_dfa

__all__ = ["Grammar", "ByteDFA", "regex_to_dfa", "GrammarIR", "IRBuilder", "Rule", "Terminal",
           "LRTables", "build_lr_tables", "gbnf_to_ir", "json_ir"]
