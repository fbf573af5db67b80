"""Full compile time for MaskBench schemas: Grammar.from_json_schema + bytegram.compile with
a real vocabulary (Llama-3 by default), one thread, caches warm across schemas as in a
server. Prints p50/p90/max and the first mask time.

    python scripts/json_schema_compile_times.py [N] [tokenizer dir name]
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import bytegram
from bytegram import Grammar, Vocabulary
from bytegram.errors import BytegramError

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("BYTEGRAM_DATA", REPO.parent / "shared" / "data"))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    tok = sys.argv[2] if len(sys.argv) > 2 else "llama3"
    vocab = Vocabulary.from_tokenizer_json(DATA / "tokenizers" / tok / "tokenizer.json")
    files = sorted((DATA / "maskbench-dev").glob("*.json"))
    files = sorted(random.Random(99).sample(files, min(n, len(files))))
    ir_t, full_t, mask_t, refused = [], [], [], 0
    for f in files:
        schema = json.loads(f.read_text())["schema"]
        t0 = time.perf_counter()
        try:
            g = Grammar.from_json_schema(schema)
        except BytegramError:
            refused += 1
            continue
        t1 = time.perf_counter()
        try:
            c = bytegram.compile(g, vocab)
        except BytegramError:
            refused += 1
            continue
        t2 = time.perf_counter()
        try:
            c.matcher().allowed_ids()
        except BytegramError as e:
            print(f"  first mask failed for {f.name}: {str(e).splitlines()[0]}")
            continue
        t3 = time.perf_counter()
        ir_t.append(t1 - t0)
        full_t.append(t2 - t0)
        mask_t.append(t3 - t2)

    def q(xs: list[float], p: float) -> float:
        xs = sorted(xs)
        return 1000 * xs[min(len(xs) - 1, int(p * len(xs)))]

    print(f"{len(files)} schemas, {refused} refused; vocab {tok} ({vocab.size} tokens)")
    for name, xs in (("schema->IR", ir_t), ("full compile", full_t), ("first mask", mask_t)):
        print(f"  {name:13s} p50 {q(xs, .5):8.1f} ms  p90 {q(xs, .9):8.1f} ms  "
              f"max {q(xs, 1):8.0f} ms")


if __name__ == "__main__":
    main()
