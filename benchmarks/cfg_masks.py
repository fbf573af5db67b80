"""Context-free benchmark: the JSON grammar (any JSON value) walked over real JSON documents,
bytegram beside xgrammar (its built-in JSON grammar) and llguidance (``%json {}``).

Documents: the valid instances of ``../shared/data/maskbench-dev/*.json`` (``tests`` entries
with ``valid: true``), serialized compactly (``separators=(",", ":")``), tokenized with the
real tokenizer (Llama-3 by default) and walked token by token in every engine: time the
mask, then accept the token. "cold" is the first pass over all documents on a freshly
compiled grammar (bytegram classifies lexer states and stack contexts on first visit),
"warm" a second pass with fresh matchers on the same compiled grammar. bytegram's
``is_allowed`` is timed on the next token of each warm step. Compile time is cold for
bytegram: the grammar-level caches are cleared first (the vocabulary's own index is built
once, at load, and reported apart). All engines run in this process, one thread.

    python benchmarks/cfg_masks.py [--tokenizer llama3] [--max-docs 400] [--json out.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bytegram  # noqa: E402
from peers import (DATA, bytegram_engine, llguidance_engine, percentile,  # noqa: E402
                   tokenizer_path, xgrammar_engine)


def load_documents(max_docs: int | None) -> list[str]:
    docs: list[str] = []
    for path in sorted(glob.glob(str(DATA / "maskbench-dev" / "*.json"))):
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            continue
        for case in data.get("tests", []) if isinstance(data, dict) else []:
            if isinstance(case, dict) and case.get("valid") is True and "data" in case:
                docs.append(json.dumps(case["data"], separators=(",", ":"), ensure_ascii=False))
    docs = [d for d in docs if d]
    return docs[:max_docs] if max_docs else docs


def clear_bytegram_caches() -> None:
    from bytegram.grammar import lr
    from bytegram.masks import cfg_compile

    lr._CACHE.clear()
    cfg_compile._CACHE.clear()


def run_engine(engine, docs_ids, *, time_allowed: bool) -> dict:
    res = {"compile": None, "cold": [], "warm": [], "allowed": [], "ok": True, "errors": []}
    if engine.name == "bytegram":
        clear_bytegram_caches()
    t0 = time.perf_counter()
    make = engine.compile_json()
    m0 = make()
    res["compile"] = time.perf_counter() - t0
    for rep, bucket in ((0, res["cold"]), (1, res["warm"])):
        for k, ids in enumerate(docs_ids):
            m = m0 if (rep == 0 and k == 0) else make()
            for t in ids:
                s = time.perf_counter()
                m.fill()
                bucket.append(time.perf_counter() - s)
                if time_allowed and rep == 1 and m.is_allowed is not None:
                    s = time.perf_counter()
                    ok = m.is_allowed(t)
                    res["allowed"].append(time.perf_counter() - s)
                    if not ok:
                        res["ok"] = False
                        res["errors"].append(f"doc {k}: is_allowed({t}) is False")
                if not m.accept(t):
                    res["ok"] = False
                    res["errors"].append(f"doc {k}: token {t} refused")
                    break
            if engine.name != "xgrammar" and not m.accepting():
                res["ok"] = False
                res["errors"].append(f"doc {k}: not accepting at the end")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default="llama3")
    ap.add_argument("--max-docs", type=int, default=400)
    ap.add_argument("--engines", default="bytegram,llguidance,xgrammar")
    ap.add_argument("--json", type=Path, default=None, help="write results here")
    args = ap.parse_args(argv)
    wanted = set(args.engines.split(","))
    path = tokenizer_path(args.tokenizer)

    t0 = time.perf_counter()
    vocab = bytegram.Vocabulary.from_tokenizer_json(path)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    from bytegram.masks.vocab_index import vocab_index
    vocab_index(vocab)
    vindex_s = time.perf_counter() - t0

    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(str(path))
    docs = load_documents(args.max_docs)
    docs_ids = [hf.encode(d, add_special_tokens=False).ids for d in docs]
    n_tokens = sum(len(x) for x in docs_ids)
    print(f"# JSON grammar on {args.tokenizer} ({vocab.size} tokens): {len(docs)} documents, "
          f"{n_tokens} tokens; bytegram vocab load {load:.3f} s + vocab index {vindex_s:.3f} s",
          file=sys.stderr)

    engines = [bytegram_engine(vocab, load)]
    if "llguidance" in wanted:
        engines.append(llguidance_engine(path))
    if "xgrammar" in wanted:
        engines.append(xgrammar_engine(path, vocab.size))
    engines = [e for e in engines if e is not None and e.name in wanted]

    rows = []
    for e in engines:
        print(f"# running {e.name} {e.version}", file=sys.stderr)
        r = run_engine(e, docs_ids, time_allowed=True)
        rows.append({
            "engine": e.name, "version": e.version, "ok": r["ok"], "errors": r["errors"][:5],
            "compile_ms": r["compile"] * 1e3,
            "cold_mask_p50_us": percentile(r["cold"], 50) * 1e6,
            "cold_mask_p99_us": percentile(r["cold"], 99) * 1e6,
            "cold_mask_mean_us": float(np.mean(r["cold"])) * 1e6,
            "warm_mask_p50_us": percentile(r["warm"], 50) * 1e6,
            "warm_mask_p99_us": percentile(r["warm"], 99) * 1e6,
            "warm_mask_max_us": max(r["warm"]) * 1e6,
            "is_allowed_p50_us": percentile(r["allowed"], 50) * 1e6 if r["allowed"] else None,
        })
    print("\n| engine | version | compile ms | cold p50 us | cold p99 us | cold mean us "
          "| warm p50 us | warm p99 us | warm max us | is_allowed p50 us |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ia = f"{row['is_allowed_p50_us']:.2f}" if row["is_allowed_p50_us"] is not None else "-"
        print(f"| {row['engine']} | {row['version']} | {row['compile_ms']:.1f} | "
              f"{row['cold_mask_p50_us']:.1f} | {row['cold_mask_p99_us']:.1f} | "
              f"{row['cold_mask_mean_us']:.1f} | {row['warm_mask_p50_us']:.1f} | "
              f"{row['warm_mask_p99_us']:.1f} | {row['warm_mask_max_us']:.0f} | {ia} |")
    base = rows[0]
    if len(rows) > 1:
        print("\nratios (peer / bytegram; > 1 means bytegram is faster):")
        for row in rows[1:]:
            parts = [f"{k} {row[k] / base[k]:.2f}x" for k in
                     ("compile_ms", "cold_mask_p50_us", "cold_mask_p99_us", "cold_mask_mean_us",
                      "warm_mask_p50_us", "warm_mask_p99_us")]
            print(f"- {row['engine']}: " + ", ".join(parts))
    bars = (f"\nbars (bytegram): compile {base['compile_ms']:.0f} ms <= 2000; "
            f"mask p50 {base['cold_mask_p50_us']:.1f} us (cold) / "
            f"{base['warm_mask_p50_us']:.1f} us (warm) <= 100; p99 "
            f"{base['cold_mask_p99_us']:.0f} us (cold) / {base['warm_mask_p99_us']:.0f} us "
            f"(warm) <= 2000; is_allowed p50 {base['is_allowed_p50_us']:.2f} us <= 10")
    print(bars)
    for row in rows:
        for err in row["errors"]:
            print(f"! {row['engine']}: {err}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"tokenizer": args.tokenizer, "documents": len(docs),
                                         "tokens": n_tokens, "vocab_load_s": load,
                                         "vocab_index_s": vindex_s, "rows": rows}, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
