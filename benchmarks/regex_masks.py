"""Regex benchmark: vocabulary load, compile time and per-token mask time on Llama-3,
bytegram beside llguidance, xgrammar and outlines-core (whichever are installed).

Each regex comes with a matching text; the text is tokenized with the real tokenizer and
walked token by token in every engine: time the mask, then accept the token. "cold" is the
first walk (bytegram indexes each state on first visit), "warm" the second walk with a fresh
matcher on the same compiled grammar (states already indexed; what a server sees after the
first request). All engines run in this process, one thread, on the same inputs.

    python benchmarks/regex_masks.py [--tokenizer llama3] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bytegram  # noqa: E402
from peers import (bytegram_engine, fmt_ms, llguidance_engine,  # noqa: E402
                   outlines_engine, percentile, tokenizer_path, xgrammar_engine)

CASES = [
    ("email", r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,6}", "jane.doe+news@mail.example.org"),
    ("date", r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", "2026-11-23"),
    ("datetime", r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})",
     "2026-11-23T10:42:55.123+01:00"),
    ("phone", r"\(?[0-9]{3}\)?[ -]?[0-9]{3}-[0-9]{4}", "(555) 123-4567"),
    ("float", r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", "-12345.678e+9"),
    ("uuid", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
     "123e4567-e89b-12d3-a456-426614174000"),
    ("json_string", r'"([^"\\\x00-\x1f]|\\["\\/bfnrt])*"',
     '"Hello, world! A JSON string with \\"escapes\\" and unicode: caf\u00e9 \u4e2d\u6587"'),
    ("sentence", r"[A-Z][a-z]+( [a-z]+){3,20}\.", "The quick brown fox jumps over the lazy dog."),
    ("bounded_500", r"[a-z ]{0,500}", "lorem ipsum dolor sit amet consectetur adipiscing elit " * 4),
    ("colors", r"(red|green|blue|yellow|purple|orange)(, (red|green|blue|yellow|purple|orange))*",
     "red, green, blue, purple, orange"),
]


def run_engine(engine, cases, encode, repeat):
    res = {"compile": [], "cold": [], "warm": [], "allowed": [], "ok": True, "errors": []}
    for name, pattern, text in cases:
        ids = encode(text)
        try:
            t0 = time.perf_counter()
            make = engine.compile_regex(pattern)
            m = make()
            res["compile"].append(time.perf_counter() - t0)
        except Exception as e:  # a peer refusing a regex is reported, not fatal
            res["errors"].append(f"{name}: {type(e).__name__}: {str(e)[:80]}")
            continue
        for rep in range(1 + repeat):
            m = m if rep == 0 else make()
            bucket = res["cold"] if rep == 0 else res["warm"]
            for t in ids:
                t0 = time.perf_counter()
                m.fill()
                bucket.append(time.perf_counter() - t0)
                if m.is_allowed is not None and rep > 0:
                    t1 = time.perf_counter()
                    m.is_allowed(t)
                    res["allowed"].append(time.perf_counter() - t1)
                if not m.accept(t):
                    res["ok"] = False
                    res["errors"].append(f"{name}: token {t} refused")
                    break
    return res


def index_cost(vocab, cases):
    """Time to index one DFA state on the full vocabulary (fresh index, every state)."""
    times = []
    for _, pattern, _ in cases:
        compiled = bytegram.compile(bytegram.Grammar.from_regex(pattern), vocab)
        states = range(min(compiled.dfa.n_states, 40))
        for s in states:
            t0 = time.perf_counter()
            compiled.index._compute(s)
            times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default="llama3")
    ap.add_argument("--repeat", type=int, default=3, help="warm walks per regex")
    ap.add_argument("--limit", type=int, default=None, help="only the first N regexes")
    ap.add_argument("--engines", default="bytegram,llguidance,xgrammar,outlines-core")
    ap.add_argument("--json", type=Path, default=None, help="write results here")
    args = ap.parse_args(argv)
    cases = CASES[: args.limit] if args.limit else CASES
    wanted = set(args.engines.split(","))
    path = tokenizer_path(args.tokenizer)

    loads = []
    for _ in range(3):
        t0 = time.perf_counter()
        vocab = bytegram.Vocabulary.from_tokenizer_json(path)
        loads.append(time.perf_counter() - t0)
    load = statistics.median(loads)
    print(f"# regex masks on {args.tokenizer} ({vocab.size} tokens); bytegram vocab load "
          f"median {load:.3f} s over 3 loads", file=sys.stderr)

    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(str(path))

    def encode(text):
        return hf.encode(text, add_special_tokens=False).ids

    engines = [bytegram_engine(vocab, load)]
    if "llguidance" in wanted:
        engines.append(llguidance_engine(path))
    if "xgrammar" in wanted:
        engines.append(xgrammar_engine(path, vocab.size))
    if "outlines-core" in wanted:
        engines.append(outlines_engine(vocab))
    engines = [e for e in engines if e is not None and e.name in wanted]

    results = {}
    for e in engines:
        print(f"# running {e.name} {e.version}", file=sys.stderr)
        results[e.name] = r = run_engine(e, cases, encode, args.repeat)
        r["load"] = e.load_seconds
        r["version"] = e.version
    idx = index_cost(vocab, cases)

    rows = []
    for name, r in results.items():
        rows.append({
            "engine": name, "version": r["version"], "ok": r["ok"], "errors": r["errors"],
            "tokenizer_load_s": r["load"],
            "compile_p50_ms": percentile(r["compile"], 50) * 1e3,
            "compile_max_ms": max(r["compile"]) * 1e3 if r["compile"] else float("nan"),
            "cold_mask_p50_us": percentile(r["cold"], 50) * 1e6,
            "cold_mask_mean_us": float(np.mean(r["cold"])) * 1e6 if r["cold"] else float("nan"),
            "warm_mask_p50_us": percentile(r["warm"], 50) * 1e6,
            "warm_mask_p99_us": percentile(r["warm"], 99) * 1e6,
            "is_allowed_p50_us": percentile(r["allowed"], 50) * 1e6 if r["allowed"] else None,
        })
    base = rows[0]
    print("\n| engine | version | load s | compile p50 ms | cold mask p50 us | cold mean us "
          "| warm mask p50 us | warm p99 us | is_allowed p50 us |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ia = f"{row['is_allowed_p50_us']:.2f}" if row["is_allowed_p50_us"] is not None else "-"
        print(f"| {row['engine']} | {row['version']} | {row['tokenizer_load_s']:.3f} | "
              f"{row['compile_p50_ms']:.3f} | {row['cold_mask_p50_us']:.1f} | "
              f"{row['cold_mask_mean_us']:.1f} | {row['warm_mask_p50_us']:.1f} | "
              f"{row['warm_mask_p99_us']:.1f} | {ia} |")
    print(f"\nbytegram index of one DFA state: p50 {fmt_ms(percentile(idx, 50))} ms, "
          f"p99 {fmt_ms(percentile(idx, 99))} ms, max {fmt_ms(max(idx))} ms ({len(idx)} states)")
    if len(rows) > 1:
        print("\nratios (peer / bytegram; > 1 means bytegram is faster):")
        for row in rows[1:]:
            parts = []
            for key in ("tokenizer_load_s", "compile_p50_ms", "cold_mask_mean_us",
                        "warm_mask_p50_us", "warm_mask_p99_us"):
                parts.append(f"{key} {row[key] / base[key]:.2f}x")
            print(f"- {row['engine']}: " + ", ".join(parts))
    for row in rows:
        for err, n in collections.Counter(row["errors"]).items():
            print(f"! {row['engine']}: {err}" + (f" ({n} times)" if n > 1 else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"tokenizer": args.tokenizer, "rows": rows,
                                         "index_state_ms": [t * 1e3 for t in idx]}, indent=1))
    # a peer refusing a token of a matching text is a finding about that peer (printed above
    # with "!"), not a failure of this run; bytegram refusing one is
    return 0 if all(r["ok"] for r in rows if r["engine"] == "bytegram") else 1


if __name__ == "__main__":
    raise SystemExit(main())
