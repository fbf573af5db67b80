"""MaskBench: JSON Schema compile time, mask time and correctness, bytegram beside
llguidance, xgrammar and outlines-core, on real-world schemas with valid and invalid instances.

For every schema file (MaskBench format: {"schema", "tests": [{"valid", "data"}]}) and every
engine: compile the schema (timed), then walk each instance token by token (Llama-3 tokens
by default): time the mask, check the next token's bit in it, consume the token; at the end
end-of-sequence must be allowed. A schema *passes* when it compiles, every valid instance is
accepted and every invalid one rejected (schemas without tests pass when they compile).
A timeout, a crash or the memory limit counts as a failure.

Every engine sees the same text: instances serialized with
json.dumps(data, separators=(",", ":"), ensure_ascii=False), and every engine configured for
exactly that compact form (see JSON_COMPACT_CONFIG in peers.py; printed with the results).
Engines run one at a time, in --jobs single-threaded worker processes (default 1: timings
undisturbed); a schema gets --timeout seconds (compile + all its instances).

    python benchmarks/maskbench.py --limit 200                # a seeded sample of 200
    python benchmarks/maskbench.py --jobs 2 --json out.json   # all 5,605 schemas
    python benchmarks/maskbench.py --files Github_easy---o10015.json,JME_83.json -v

Data: <BYTEGRAM_DATA or ../shared/data>/maskbench-dev; the tokenizer from tokenizers/<name>.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import walk  # noqa: E402


def list_files(data_dir: Path, files: str | None, limit: int | None, seed: int) -> list[Path]:
    if files:
        names: list[str] = []
        for part in files.split(","):
            part = part.strip()
            if part.startswith("@"):
                names += [ln.strip() for ln in Path(part[1:]).read_text().splitlines()
                          if ln.strip() and not ln.startswith("#")]
            elif part:
                names.append(part)
        out = []
        for n in names:
            p = Path(n)
            if not p.is_file():
                p = data_dir / n
            if not p.is_file() and not n.endswith(".json"):
                p = data_dir / (n + ".json")
            if not p.is_file():
                raise SystemExit(f"maskbench: no such file: {n} (looked in {data_dir})")
            out.append(p)
        return out
    if not data_dir.is_dir():
        raise SystemExit(f"maskbench: data directory not found: {data_dir} (set BYTEGRAM_DATA)")
    all_files = sorted(data_dir.glob("*.json"))
    if limit is not None and limit < len(all_files):
        all_files = sorted(random.Random(seed).sample(all_files, limit))
    return all_files


def load_raw(paths: list[Path]):
    for p in paths:
        d = json.loads(p.read_text())
        yield p.name, d["schema"], [(t["valid"], t["data"]) for t in d.get("tests", [])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", nargs="?", type=Path, default=None,
                    help="directory of MaskBench files (default: $BYTEGRAM_DATA/maskbench-dev)")
    ap.add_argument("--limit", type=int, default=None,
                    help="a random sample of N files (seeded by --sample-seed); default all")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--files", default=None,
                    help="comma-separated file names (in the data dir) or paths; @FILE reads "
                         "names from FILE, one per line")
    ap.add_argument("--engines", default=",".join(walk.ENGINES),
                    help="comma-separated; also xgrammar-ws (xgrammar with any_whitespace=True)")
    ap.add_argument("--tokenizer", default="llama3")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds per schema (compile + its instances); a timeout fails it")
    ap.add_argument("--jobs", type=int, default=1,
                    help="worker processes per engine (each single-threaded); 0: in-process, "
                         "no timeout")
    ap.add_argument("--mem-limit", type=float, default=8.0,
                    help="GiB of resident memory per worker before the schema fails")
    ap.add_argument("--max-instances-per-schema", type=int, default=None,
                    help="walk at most N instances per schema (default: all)")
    ap.add_argument("--max-tokens-per-instance", type=int, default=None,
                    help="walk at most N tokens per instance; a longer instance whose prefix "
                         "is allowed gets no verdict (default: no cap)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--plot", type=Path, default=None,
                    help="write mask/compile time CDF plots (PNG) here (needs matplotlib)")
    ap.add_argument("--progress-every", type=float, default=10.0, help="seconds")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print each failing schema with its reason")
    args = ap.parse_args(argv)

    data_dir = args.data_dir or walk.data_root() / "maskbench-dev"
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    paths = list_files(data_dir, args.files, args.limit, args.sample_seed)
    t_start = time.perf_counter()
    encode = walk.hf_encoder(args.tokenizer)
    tasks = walk.tokenize_tasks(load_raw(paths), encode, args.max_instances_per_schema)
    n_inst = sum(len(t.instances) for t in tasks)
    n_tok = sum(len(ids) for t in tasks for _, ids in t.instances)
    print(f"# maskbench: {len(tasks)} schemas, {n_inst} instances, {n_tok:,} tokens "
          f"({args.tokenizer}); engines {', '.join(engines)}; timeout {args.timeout:g} s, "
          f"jobs {args.jobs}", file=sys.stderr, flush=True)
    options = walk.Options(max_tokens=args.max_tokens_per_instance)

    per_engine, infos, skipped, wall = walk.run_engines(
        engines, tasks, tokenizer=args.tokenizer, options=options, jobs=args.jobs,
        timeout=args.timeout, mem_limit_gb=args.mem_limit, progress_every=args.progress_every,
        verbose=args.verbose)

    summaries = {n: walk.summarize(r, len(tasks)) for n, r in per_engine.items()}
    rat = {}
    if "bytegram" in per_engine:
        rat = {n: walk.ratios(per_engine["bytegram"], r) for n, r in per_engine.items()
               if n != "bytegram"}
    from peers import JSON_COMPACT_CONFIG

    print(f"## MaskBench ({len(tasks):,} schemas, {n_inst:,} instances, {n_tok:,} tokens, "
          f"{args.tokenizer})\n")
    if summaries:
        print(walk.markdown_summary(summaries))
        print()
        if rat:
            print(walk.markdown_ratios(rat))
            print()
    print("Versions: " + ", ".join(f"{n} {infos[n]['version']}" for n in infos)
          + ". Wall time per engine: "
          + ", ".join(f"{n} {walk.fmt_dur(s)}" for n, s in wall.items())
          + f" (jobs {args.jobs}, timeout {args.timeout:g} s).")
    n_all = len(list(data_dir.glob("*.json"))) if data_dir.is_dir() else 0
    if wall and n_all > len(tasks) > 0:
        print(f"At these rates all {n_all:,} files would take: "
              + ", ".join(f"{n} {walk.fmt_dur(s * n_all / len(tasks))}"
                          for n, s in wall.items()) + f" (jobs {args.jobs}).")
    for n, why in skipped.items():
        print(f"\n- {n} skipped: {why}")
    print("\nConfiguration (same text for every engine: "
          f"`{walk.SERIALIZATION}`, tokenized without special tokens):\n")
    for n in engines:
        if n in JSON_COMPACT_CONFIG:
            print(f"- {n}: `{JSON_COMPACT_CONFIG[n]}`")

    if args.plot:
        try:
            for p in walk.write_plots(args.plot, per_engine, "MaskBench"):
                print(f"# wrote {p}", file=sys.stderr)
        except ImportError:
            print("# --plot needs matplotlib (pip install matplotlib)", file=sys.stderr)

    if args.json:
        walk.write_results(
            args.json, "maskbench", argv, engines, per_engine, infos, summaries, wall,
            skipped, t_start, data_dir=str(data_dir), tokenizer=args.tokenizer,
            schemas=len(tasks), instances=n_inst, tokens=n_tok,
            ratios_bytegram_over_peer=rat,
            per_schema={t.key: {n: walk.schema_row(per_engine[n][t.key])
                                for n in per_engine if t.key in per_engine[n]}
                        for t in tasks})
    return 0 if per_engine else 2


if __name__ == "__main__":
    raise SystemExit(main())
