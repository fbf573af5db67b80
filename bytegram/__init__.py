"""bytegram: constrained decoding with exact token masks, in pure Python.

    >>> import bytegram
    >>> vocab = bytegram.Vocabulary.byte_level()
    >>> compiled = bytegram.compile(bytegram.Grammar.from_regex(r"[0-9]{3}-[0-9]{4}"), vocab)
    >>> m = compiled.matcher()
    >>> m.accept_bytes(b"555-")
    True
    >>> [chr(i) for i in m.allowed_ids()][:3]
    ['0', '1', '2']
"""

from .errors import BytegramError, InvalidArgument, InvalidSyntax, LimitExceeded, Unsupported
from .grammar import ByteDFA, Grammar
from .masks import (CompiledGrammar, Matcher, Vocabulary, allocate_bitmask, compile,
                    unpack_bitmask)
from .generate import GenerationResult, generate

__version__ = "0.1.0"

__all__ = [
    "Grammar", "ByteDFA", "Vocabulary", "compile", "CompiledGrammar", "Matcher",
    "allocate_bitmask", "unpack_bitmask", "generate", "GenerationResult",
    "BytegramError", "InvalidSyntax", "Unsupported", "LimitExceeded", "InvalidArgument",
    "__version__",
]
