"""Full compile time for MaskBench schemas: Grammar.from_json_schema + bytegram.compile with
a real vocabulary (Llama-3 by default), one thread, caches warm across schemas as in a
server. Prints p50/p90/max and the first mask time.

The disk cache (``bytegram.cache``) starts empty (a fresh temporary directory, unless
``--cache-dir``), so these are cold compiles. ``--warm-cache`` then times a second, fresh
process compiling the same schemas against the cache the first one filled (vocabulary
loaded and one unrelated schema compiled first, so imports are warm): the warm-disk-cache
compile time.

    python scripts/json_schema_compile_times.py [N] [tokenizer dir name] [--warm-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("BYTEGRAM_DATA", REPO.parent / "shared" / "data"))


def q(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return 1000 * xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


def report(name: str, xs: list[float]) -> None:
    print(f"  {name:13s} p50 {q(xs, .5):8.1f} ms  p90 {q(xs, .9):8.1f} ms  "
          f"max {q(xs, 1):8.0f} ms")


def run(n: int, tok: str, seed: int, warm: bool) -> None:
    import bytegram
    from bytegram import Grammar, Vocabulary
    from bytegram.errors import BytegramError

    vocab = Vocabulary.from_tokenizer_json(DATA / "tokenizers" / tok / "tokenizer.json")
    if warm:  # warm the imports with a schema outside the sample
        bytegram.compile(Grammar.from_json_schema(
            {"type": "object", "properties": {"warm-up": {"type": "integer"}}}), vocab)
    files = sorted((DATA / "maskbench-dev").glob("*.json"))
    files = sorted(random.Random(seed).sample(files, min(n, len(files))))
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

    what = "warm disk cache, fresh process" if warm else "cold"
    print(f"{len(files)} schemas, {refused} refused; vocab {tok} ({vocab.size} tokens); {what}")
    for name, xs in (("schema->IR", ir_t), ("full compile", full_t), ("first mask", mask_t)):
        report(name, xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=200, help="schemas to sample")
    ap.add_argument("tokenizer", nargs="?", default="llama3", help="tokenizer directory name")
    ap.add_argument("--seed", type=int, default=99, help="sampling seed")
    ap.add_argument("--warm-cache", action="store_true",
                    help="then time a fresh process against the filled disk cache")
    ap.add_argument("--cache-dir", help="disk cache directory (default: a fresh temporary one)")
    ap.add_argument("--phase", choices=["cold", "warm"], default="cold", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase == "warm":
        run(args.n, args.tokenizer, args.seed, warm=True)
        return
    with tempfile.TemporaryDirectory(prefix="bytegram-compile-times-") as tmp:
        cache_dir = args.cache_dir or tmp
        os.environ["BYTEGRAM_CACHE_DIR"] = cache_dir
        run(args.n, args.tokenizer, args.seed, warm=False)
        if args.warm_cache:
            sys.stdout.flush()
            subprocess.run([sys.executable, __file__, str(args.n), args.tokenizer,
                            "--seed", str(args.seed), "--phase", "warm"],
                           check=True, env={**os.environ, "BYTEGRAM_CACHE_DIR": cache_dir})


if __name__ == "__main__":
    main()
