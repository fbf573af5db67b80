"""End to end: what constrained decoding costs per generated token, next to the model's own
step, on a tiny transformers model built locally (random weights, no download) on CPU.

The model is a LlamaForCausalLM from a config (hidden 128, 2 layers by default) over a real
tokenizer (Llama-3's 128,256 tokens by default): its step is cheap, so the grammar's share is
shown at its largest; a real model's step is 100-1000x longer. For each schema and batch size:

- unconstrained: bytegram's decode loop shape (HFLanguageModel.logits + one categorical draw
  per row), no grammar; the baseline;
- masked / awrs: ``bytegram.generate(model, prompts, sampler=..., compiled=...)``, which
  reports model and engine (grammar + sampling) seconds separately;
- hf+processor: ``model.generate(logits_processor=[GrammarLogitsProcessor(compiled)])`` next
  to ``model.generate()`` without it (sampling, same lengths).

Each constrained mode runs twice on the same compiled grammar: "cold" (bytegram indexes
lexer states on first visit) and "warm" (what a server sees after the first requests).
engine % = engine ms/step / model ms/step; added % = (constrained ms/step - unconstrained ms/step) / model ms/step. One torch thread
by default (--threads), the grammar engine is single-threaded anyway.

    python benchmarks/end_to_end.py                      # batch 1 and 16, 64 new tokens
    python benchmarks/end_to_end.py --batch 1 --tokens 16 --schemas 1 --json e2e.json

Schemas: from Grammar.from_json_schema when the build has it, else any JSON
(Grammar.json()), else a regex; the table says which.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

SCHEMAS: list[tuple[str, dict]] = [
    ("person", {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "email": {"type": "string", "format": "email"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        },
        "required": ["name", "age"],
    }),
    ("function_call", {
        "type": "object",
        "properties": {
            "name": {"const": "calculate_area"},
            "arguments": {
                "type": "object",
                "properties": {
                    "shape": {"type": "string", "enum": ["circle", "rectangle", "triangle"]},
                    "dimensions": {
                        "type": "object",
                        "properties": {"length": {"type": "number"},
                                       "width": {"type": "number"},
                                       "radius": {"type": "number"}},
                    },
                },
                "required": ["shape", "dimensions"],
            },
        },
        "required": ["name", "arguments"],
    }),
    ("order", {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
            "items": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"},
                               "qty": {"type": "integer", "minimum": 1},
                               "price": {"type": "number"}},
                "required": ["sku", "qty"]}},
            "status": {"enum": ["new", "paid", "shipped"]},
            "note": {"type": ["string", "null"]},
        },
        "required": ["id", "items", "status"],
    }),
]
FALLBACK_REGEX = r'\{"name":"[a-z ]{1,20}","age":[1-9][0-9]?\}'


def grammar_for(schema: dict) -> tuple[Any, str]:
    """(Grammar, what it is): the schema when bytegram can compile it, else a stand-in."""
    import bytegram

    G = bytegram.Grammar
    if hasattr(G, "from_json_schema"):
        try:
            return G.from_json_schema(schema, whitespace="compact"), "json schema"
        except bytegram.BytegramError as e:
            why = f"schema failed ({type(e).__name__})"
    else:
        why = "no from_json_schema"
    if hasattr(G, "json"):
        return G.json(), f"any JSON ({why})"
    return G.from_regex(FALLBACK_REGEX), f"regex ({why})"


def build(tokenizer: str, hidden: int, layers: int, seed: int):
    import torch
    import transformers

    from peers import tokenizer_path

    import bytegram

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_path(tokenizer)))
    vocab = bytegram.Vocabulary.from_hf(tok)
    eos = int(vocab.eos_ids[0])
    tok.eos_token = tok.convert_ids_to_tokens(eos)
    tok.pad_token = tok.eos_token
    torch.manual_seed(seed)
    heads = max(1, hidden // 32)
    cfg = transformers.LlamaConfig(vocab_size=vocab.size, hidden_size=hidden,
                                   intermediate_size=2 * hidden, num_hidden_layers=layers,
                                   num_attention_heads=heads, num_key_value_heads=heads,
                                   max_position_embeddings=2048, eos_token_id=eos,
                                   pad_token_id=eos, bos_token_id=eos)
    model = transformers.LlamaForCausalLM(cfg).eval()
    return tok, vocab, model


def unconstrained(lm: Any, prompts: list[str], steps: int, seed: int) -> dict:
    """bytegram's loop shape without a grammar: logits, one categorical draw per row."""
    from bytegram.samplers.categorical import categorical

    rng = np.random.default_rng(seed)
    seqs = [lm.encode(p) for p in prompts]
    model_s = sample_s = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        logits = lm.logits(seqs).numpy()
        t1 = time.perf_counter()
        seqs = [s + [categorical(logits[i], rng)] for i, s in enumerate(seqs)]
        sample_s += time.perf_counter() - t1
        model_s += t1 - t0
    return {"steps": steps, "model_s": model_s, "engine_s": sample_s,
            "total_s": model_s + sample_s}


def constrained(lm: Any, compiled: Any, prompts: list[str], steps: int, sampler: str,
                seed: int) -> dict:
    """``bytegram.generate`` on an ``HFLanguageModel`` (built once: passing the bare model
    would rebuild its Vocabulary on every call); times from its own stats (decode loop)."""
    import bytegram

    res = bytegram.generate(lm, prompts, compiled=compiled, sampler=sampler,
                            max_new_tokens=steps, seed=seed)
    n = max(r.stats.tokens for r in res)
    return {"steps": n, "model_s": max(r.stats.model_seconds for r in res),
            "engine_s": max(r.stats.engine_seconds for r in res),
            "total_s": max(r.stats.seconds for r in res),
            "complete": sum(r.complete for r in res),
            "checks_per_token": float(np.mean([r.stats.checks_per_token for r in res]))}


def hf_generate(model: Any, tok: Any, compiled: Any, prompts: list[str], steps: int,
                seed: int) -> dict:
    import torch

    from bytegram.integrations.transformers import GrammarLogitsProcessor

    enc = tok(prompts, return_tensors="pt", padding=True)
    kw = dict(max_new_tokens=steps, do_sample=True, top_k=0, pad_token_id=tok.pad_token_id,
              eos_token_id=tok.eos_token_id, attention_mask=enc["attention_mask"])
    if compiled is not None:
        kw["logits_processor"] = [GrammarLogitsProcessor(compiled)]
    else:
        # the baseline must run as many steps: forbid EOS with one indexed write (cheaper
        # than transformers' min_new_tokens processor, which rebuilds masks every step)
        eos = [int(tok.eos_token_id)]

        def no_eos(input_ids: Any, scores: Any) -> Any:
            scores[:, eos] = float("-inf")
            return scores

        kw["logits_processor"] = [no_eos]
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.generate(enc["input_ids"], **kw)
    total = time.perf_counter() - t0
    return {"steps": int(out.shape[1] - enc["input_ids"].shape[1]), "total_s": total}


def per_step_ms(r: dict, key: str) -> float:
    return r[key] / r["steps"] * 1e3 if r.get("steps") else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default="llama3")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", default="1,16", help="comma-separated batch sizes")
    ap.add_argument("--tokens", type=int, default=64, help="new tokens per run")
    ap.add_argument("--schemas", type=int, default=len(SCHEMAS), help="use the first N")
    ap.add_argument("--samplers", default="masked,awrs")
    ap.add_argument("--no-hf", action="store_true", help="skip the model.generate runs")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs per measurement; the fastest is reported (cold runs get a "
                         "fresh compile each)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    import bytegram

    torch.set_num_threads(args.threads)
    tok, vocab, model = build(args.tokenizer, args.hidden, args.layers, args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    batches = [int(b) for b in args.batch.split(",") if b.strip()]
    samplers = [s for s in args.samplers.split(",") if s.strip()]
    print(f"# end to end: LlamaForCausalLM hidden {args.hidden}, {args.layers} layers, "
          f"{n_params / 1e6:.1f}M parameters, {args.tokenizer} ({vocab.size} tokens), "
          f"{args.threads} torch thread(s)", file=sys.stderr, flush=True)

    from bytegram.integrations.transformers import HFLanguageModel

    lm = HFLanguageModel(model, tok)
    rows = []
    for sname, schema in SCHEMAS[: args.schemas]:
        grammar, kind = grammar_for(schema)
        t0 = time.perf_counter()
        compiled = bytegram.compile(grammar, vocab)
        compile_s = time.perf_counter() - t0
        print(f"# {sname}: {kind}, compiled in {compile_s:.2f} s", file=sys.stderr, flush=True)
        for b in batches:
            prompts = [f"Output JSON #{i}:" for i in range(b)]
            base = min((unconstrained(lm, prompts, args.tokens, args.seed)
                        for _ in range(args.repeat)), key=lambda r: r["total_s"])
            base_ms = per_step_ms(base, "total_s")
            model_ms = per_step_ms(base, "model_s")

            def row(mode: str, phase: str, r: dict) -> None:
                ms = per_step_ms(r, "total_s")
                rows.append({
                    "schema": sname, "grammar": kind, "batch": b, "mode": mode,
                    "phase": phase, "steps": r["steps"], "ms_per_step": ms,
                    "model_ms_per_step": per_step_ms(r, "model_s") if "model_s" in r else None,
                    "engine_ms_per_step": per_step_ms(r, "engine_s") if "engine_s" in r
                    else None,
                    "overhead_pct": (ms - base_ms) / model_ms * 100 if mode != "unconstrained"
                    else 0.0,
                    "engine_pct": (per_step_ms(r, "engine_s") / per_step_ms(r, "model_s") * 100
                                   if "engine_s" in r else None),
                    "complete": r.get("complete"), "checks_per_token": r.get("checks_per_token"),
                    "compile_s": compile_s,
                })

            row("unconstrained", "-", base)
            for smp in samplers:
                cold, warm = [], []
                for _ in range(args.repeat):
                    fresh = bytegram.compile(grammar, vocab)  # cold: a fresh token index
                    cold.append(constrained(lm, fresh, prompts, args.tokens, smp, args.seed))
                    warm.append(constrained(lm, fresh, prompts, args.tokens, smp,
                                            args.seed + 1))
                row(smp, "cold", min(cold, key=lambda r: r["total_s"] / r["steps"]))
                row(smp, "warm", min(warm, key=lambda r: r["total_s"] / r["steps"]))
            if not args.no_hf:
                hf_ms = min(per_step_ms(hf_generate(model, tok, None, prompts, args.tokens,
                                                    args.seed), "total_s")
                            for _ in range(args.repeat))
                runs: dict[str, list] = {"cold": [], "warm": []}
                for _ in range(args.repeat):
                    fresh = bytegram.compile(grammar, vocab)
                    for phase in ("cold", "warm"):
                        runs[phase].append(hf_generate(model, tok, fresh, prompts,
                                                       args.tokens, args.seed))
                for phase in ("cold", "warm"):
                    r = min(runs[phase], key=lambda r: r["total_s"] / max(1, r["steps"]))
                    ms = per_step_ms(r, "total_s")
                    rows.append({"schema": sname, "grammar": kind, "batch": b,
                                 "mode": "hf+processor", "phase": phase, "steps": r["steps"],
                                 "ms_per_step": ms, "model_ms_per_step": hf_ms,
                                 "engine_ms_per_step": ms - hf_ms,
                                 "overhead_pct": (ms - hf_ms) / hf_ms * 100,
                                 "engine_pct": (ms - hf_ms) / hf_ms * 100,
                                 "complete": None, "checks_per_token": None,
                                 "compile_s": compile_s})
            print(f"#   batch {b} done", file=sys.stderr, flush=True)

    def f(x: Any, nd: int = 2) -> str:
        return "-" if x is None else f"{x:,.{nd}f}"

    print(f"## End to end: tiny Llama (hidden {args.hidden}, {args.layers} layers, "
          f"{n_params / 1e6:.1f}M parameters, random init), {args.tokenizer} "
          f"({vocab.size:,} tokens), CPU, {args.threads} thread(s), {args.tokens} new tokens\n")
    print("| schema | grammar | batch | mode | phase | steps | ms/step | model ms/step "
          "| engine ms/step | engine % of model step | added % vs unconstrained |")
    print("|:--|:--|--:|:--|:--|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['schema']} | {r['grammar']} | {r['batch']} | {r['mode']} | {r['phase']} "
              f"| {r['steps']} | {f(r['ms_per_step'])} | {f(r['model_ms_per_step'])} "
              f"| {f(r['engine_ms_per_step'])} | {f(r.get('engine_pct'), 0)} "
              f"| {f(r['overhead_pct'], 0)} |")
    print("\nengine ms/step: grammar + sampling, bytegram.generate's own split (for "
          "hf+processor: ms/step minus that of model.generate without the grammar, EOS "
          "forbidden so both run the same number of steps; model ms/step is then the whole "
          "model.generate step). engine %: engine ms/step / model ms/step, the strict "
          "reading of the overhead bar. added %: (ms/step - unconstrained ms/step) / model "
          "ms/step, the time constrained decoding adds over plain sampling, which itself "
          "costs a softmax over the vocabulary (negative when AWRS skips that). Steps are "
          "loop iterations (the longest row in a batch).")
    if args.json:
        import walk

        out = {"benchmark": "end_to_end",
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "machine": walk.machine_info(), "versions": walk.versions(),
               "argv": sys.argv[1:] if argv is None else argv,
               "model": {"hidden": args.hidden, "layers": args.layers, "params": n_params,
                         "tokenizer": args.tokenizer, "vocab": vocab.size,
                         "threads": args.threads},
               "rows": rows}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(walk.clean_nan(out), indent=1))
        print(f"# wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
