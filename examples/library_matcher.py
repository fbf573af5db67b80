"""Using bytegram as a library without any model: compile, walk, read masks, fork, roll back.

Runs offline in about a second on the byte vocabulary (and on GPT-2's when ../shared/data
is present), printing what the matcher allows at each step of an ISO date.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import bytegram


def show(vocab: bytegram.Vocabulary, ids: np.ndarray, limit: int = 8) -> str:
    """A short, readable list of token texts."""
    shown = [vocab.token_bytes[i].decode("utf-8", "replace") if i not in vocab.eos_ids
             else "<eos>" for i in ids[:limit]]
    more = f" ... (+{len(ids) - limit})" if len(ids) > limit else ""
    return " ".join(repr(s) for s in shown) + more


def walk(vocab: bytegram.Vocabulary) -> None:
    grammar = bytegram.Grammar.from_regex(r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
    compiled = bytegram.compile(grammar, vocab)
    matcher = compiled.matcher()
    bitmask = compiled.allocate_bitmask(1)
    print(f"-- {vocab.name or 'vocabulary'} ({vocab.size} tokens), DFA with "
          f"{compiled.dfa.n_states} states")
    text = "2026-11-23"
    pos = 0
    data = text.encode()
    while pos < len(data):
        matcher.fill_bitmask(bitmask)
        allowed = np.flatnonzero(bytegram.unpack_bitmask(bitmask, vocab.size)[0])
        # take the longest allowed token that continues our text
        best = max((t for t in allowed if t not in vocab.eos_ids
                    and data.startswith(vocab.token_bytes[t], pos)),
                   key=lambda t: len(vocab.token_bytes[t]))
        print(f"after {data[:pos].decode()!r:>13}: {len(allowed):>5} allowed, e.g. "
              f"{show(vocab, allowed)}; take {vocab.token_bytes[best].decode()!r}")
        assert matcher.accept(int(best))
        pos += len(vocab.token_bytes[best])
    print(f"complete: {matcher.is_accepting()}, end-of-sequence allowed: "
          f"{all(matcher.is_allowed(e) for e in vocab.eos_ids)}")
    # fork: explore a branch without disturbing the original
    branch = matcher.fork()
    branch.rollback(2)
    print(f"a fork rolled back 2 steps allows {len(branch.allowed_ids())} tokens; the "
          f"original still allows {len(matcher.allowed_ids())}")
    # a forbidden token is refused and changes nothing
    bad = vocab.token_bytes.index(b"x")
    print(f"accept('x') -> {matcher.accept(bad)}; still complete: {matcher.is_accepting()}")


def main() -> None:
    walk(bytegram.Vocabulary.byte_level(eos_id=256))
    data = Path(os.environ.get("BYTEGRAM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    gpt2 = data / "tokenizers" / "gpt2" / "tokenizer.json"
    if gpt2.exists():
        walk(bytegram.Vocabulary.from_tokenizer_json(gpt2, name="gpt2"))


if __name__ == "__main__":
    main()
