"""`make demo`: regex-constrained sampling with exact token masks, offline.

There is no language model in the package yet, so the "model" here is a seeded random
number generator: at every step we compute the exact mask of allowed tokens and draw one of
them uniformly. Every output is guaranteed to match the regex. With the GPT-2 vocabulary from
../shared/data (when present) the same runs at token level over 50,257 real tokens.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import bytegram

REGEXES = {
    "US phone": r"\([0-9]{3}\) [0-9]{3}-[0-9]{4}",
    "ISO date": r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
    "email": r"[a-z]{3,8}(\.[a-z]{2,6})?@[a-z]{4,8}\.(com|org|net)",
    "greeting": r"(Hello|Bonjour|Hallo|こんにちは), (world|monde|Welt|世界)[!.]",
}


def sample(compiled: bytegram.CompiledGrammar, rng: random.Random, max_tokens: int = 64):
    """Draw uniformly among allowed tokens until end-of-sequence is drawn."""
    m = compiled.matcher()
    ids = []
    for _ in range(max_tokens):
        allowed = m.allowed_ids()
        tok = int(rng.choice(list(allowed)))
        assert m.accept(tok)
        if m.is_terminated():
            break
        ids.append(tok)
    return ids


def main() -> int:
    rng = random.Random(int(os.environ.get("SEED", "0")))
    vocabs = [("bytes", bytegram.Vocabulary.byte_level(eos_id=256))]
    gpt2 = Path(os.environ.get("BYTEGRAM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
        / "tokenizers" / "gpt2" / "tokenizer.json"
    if gpt2.exists():
        vocabs.append(("gpt2", bytegram.Vocabulary.from_tokenizer_json(gpt2)))
    for vname, vocab in vocabs:
        print(f"== vocabulary {vname}: {vocab.size} tokens ==")
        for name, pattern in REGEXES.items():
            t0 = time.perf_counter()
            compiled = bytegram.compile(bytegram.Grammar.from_regex(pattern), vocab)
            ids = sample(compiled, rng)
            dt = time.perf_counter() - t0
            text = vocab.decode(ids).decode("utf-8")
            pieces = "|".join(vocab.token_bytes[i].decode("utf-8", "replace") for i in ids)
            ok = compiled.dfa.matches(text.encode())
            print(f"{name:>9}: {text!r:<36} tokens {pieces!r}  matches={ok}  "
                  f"({len(ids)} tokens, {dt * 1e3:.0f} ms incl. compile)")
            if not ok:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
