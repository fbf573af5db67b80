"""The official JSON-Schema-Test-Suite through bytegram and its peers (llguidance, xgrammar,
outlines-core): which cases compile, and whether every instance is judged right.

Each test case (one schema, several instances each marked valid or not) is compiled by every
engine and every instance walked token by token, exactly as in maskbench.py (shared code in
walk.py): compact serialization, mask checked at each token, end-of-sequence checked at the
end. A case is *all correct* when it compiles, every valid instance is accepted and every
invalid one rejected. False accepts (an invalid instance accepted) are the serious errors;
false rejects mean the engine's language is narrower than the schema's.

The suite's `remotes/` folder (served at http://localhost:1234/ by the suite's convention)
is given to bytegram as `remotes=` (no engine fetches anything; the peers have no such
option, so their remote `$ref` cases fail to compile). For drafts other than 2020-12 and
latest/v1, cases without `$schema` get the draft's `$schema` URI added (every engine).

    python benchmarks/testsuite.py                       # draft2020-12, top-level files
    python benchmarks/testsuite.py --draft draft7 --optional --engines bytegram,llguidance
    python benchmarks/testsuite.py --files type.json,enum.json -v

Data: <BYTEGRAM_DATA or ../shared/data>/JSON-Schema-Test-Suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import walk  # noqa: E402

DRAFT_URIS = {
    "draft3": "http://json-schema.org/draft-03/schema#",
    "draft4": "http://json-schema.org/draft-04/schema#",
    "draft6": "http://json-schema.org/draft-06/schema#",
    "draft7": "http://json-schema.org/draft-07/schema#",
    "draft2019-09": "https://json-schema.org/draft/2019-09/schema",
}


def load_remotes(suite: Path) -> dict[str, object]:
    out = {}
    root = suite / "remotes"
    for p in sorted(root.rglob("*.json")):
        try:
            out["http://localhost:1234/" + p.relative_to(root).as_posix()] = \
                json.loads(p.read_text())
        except (OSError, ValueError):
            pass
    return out


def load_cases(draft_dir: Path, draft: str, optional: bool, files: str | None):
    """-> [(key, description, schema, [(valid, data)])] in file order."""
    if files:
        paths = []
        for name in files.split(","):
            name = name.strip()
            p = draft_dir / name
            if not p.is_file() and not name.endswith(".json"):
                p = draft_dir / (name + ".json")
            if not p.is_file():
                raise SystemExit(f"testsuite: no such file: {name} (in {draft_dir})")
            paths.append(p)
    else:
        paths = sorted(draft_dir.glob("*.json"))
        if optional:
            paths += sorted((draft_dir / "optional").rglob("*.json"))
    cases = []
    for p in paths:
        rel = p.relative_to(draft_dir).as_posix()
        for i, case in enumerate(json.loads(p.read_text())):
            schema = case["schema"]
            if isinstance(schema, dict) and "$schema" not in schema and draft in DRAFT_URIS:
                schema = {"$schema": DRAFT_URIS[draft], **schema}
            tests = [(t["valid"], t["data"]) for t in case.get("tests", [])]
            cases.append((f"{rel}#{i}", case.get("description", ""), schema, tests))
    return cases


def summarize_cases(results: dict[str, dict], n_cases: int, n_instances: int) -> dict:
    s = walk.summarize(results, n_cases)
    s["instances"] = n_instances
    s["instances_correct"] = s["valid_accepted"] + s["invalid_rejected"]
    return s


def markdown_table(summaries: dict[str, dict]) -> str:
    names = list(summaries)
    f = walk.fnum
    rows = [
        ("cases", lambda s: f(s["schemas"])),
        ("cases compiled", lambda s: f(s["compiled"])),
        ("cases all correct", lambda s: f(s["passing"])),
        ("instances correct (of all)", lambda s: f"{s['instances_correct']:,} / "
                                                 f"{s['instances']:,}"),
        ("false accepts", lambda s: f(s["false_accepts"])),
        ("false rejects", lambda s: f(s["false_rejects"])),
        ("compile errors / timeouts / crashes",
         lambda s: f"{s['compile_errors']} / {s['timeouts']} / {s['crashes'] + s['memory']}"),
        ("compile p50 ms", lambda s: f(s["compile_ms"]["p50"], 2)),
        ("compile p99 ms", lambda s: f(s["compile_ms"]["p99"], 2)),
        ("mask p50 us", lambda s: f(s["mask_us"]["p50"])),
        ("mask p99 us", lambda s: f(s["mask_us"]["p99"])),
    ]
    out = ["| metric | " + " | ".join(names) + " |", "|:--|" + "--:|" * len(names)]
    for label, fn in rows:
        out.append(f"| {label} | " + " | ".join(fn(summaries[n]) for n in names) + " |")
    return "\n".join(out)


def per_file_table(cases, per_engine: dict[str, dict[str, dict]]) -> str:
    """File x engine: cases all correct / cases, with false accepts marked."""
    names = list(per_engine)
    files: dict[str, list[str]] = {}
    for key, *_ in cases:
        files.setdefault(key.split("#")[0], []).append(key)
    out = ["| file | cases | " + " | ".join(names) + " |",
           "|:--|--:|" + "--:|" * len(names)]
    for fname, keys in files.items():
        cells = []
        for n in names:
            res = [per_engine[n][k] for k in keys if k in per_engine[n]]
            ok = sum(walk.task_passes(r) for r in res)
            fa = sum(walk.instance_counts(r)["false_accepts"] for r in res
                     if r["status"] == "ok")
            cells.append(f"{ok}" + (f" ({fa} FA)" if fa else ""))
        out.append(f"| {fname} | {len(keys)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", type=Path, default=None,
                    help="JSON-Schema-Test-Suite checkout (default: "
                         "$BYTEGRAM_DATA/JSON-Schema-Test-Suite)")
    ap.add_argument("--draft", default="draft2020-12", help="folder under tests/")
    ap.add_argument("--optional", action="store_true", help="include tests/<draft>/optional")
    ap.add_argument("--files", default=None, help="comma-separated files of the draft folder")
    ap.add_argument("--limit", type=int, default=None, help="only the first N cases")
    ap.add_argument("--engines", default=",".join(walk.ENGINES),
                    help="comma-separated; also xgrammar-ws (xgrammar with any_whitespace=True)")
    ap.add_argument("--tokenizer", default="llama3")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--jobs", type=int, default=1,
                    help="worker processes per engine; 0: in-process, no timeout")
    ap.add_argument("--mem-limit", type=float, default=8.0, help="GiB per worker")
    ap.add_argument("--no-remotes", action="store_true",
                    help="do not give bytegram the suite's remotes/")
    ap.add_argument("--property-order", choices=("schema", "any"), default="schema",
                    help="'any': bytegram property_order='any' and xgrammar any_order=True "
                         "(the suite's instances list keys in any order; llguidance and "
                         "outlines-core always follow the schema's order)")
    ap.add_argument("--per-file", action="store_true", help="print the per-file table")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None, help="CDF plots here (matplotlib)")
    ap.add_argument("--progress-every", type=float, default=10.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    suite = args.suite or walk.data_root() / "JSON-Schema-Test-Suite"
    draft_dir = suite / "tests" / args.draft
    if not draft_dir.is_dir():
        raise SystemExit(f"testsuite: not found: {draft_dir} (set BYTEGRAM_DATA or --suite)")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    cases = load_cases(draft_dir, args.draft, args.optional, args.files)
    if args.limit is not None:
        cases = cases[: args.limit]
    descriptions = {key: desc for key, desc, _, _ in cases}
    encode = walk.hf_encoder(args.tokenizer)
    tasks = walk.tokenize_tasks(((k, s, t) for k, _, s, t in cases), encode)
    n_inst = sum(len(t.instances) for t in tasks)
    remotes = None if args.no_remotes else load_remotes(suite)
    options = walk.Options(remotes=remotes, property_order=args.property_order)
    print(f"# testsuite {args.draft}: {len(tasks)} cases, {n_inst} instances; engines "
          f"{', '.join(engines)}", file=sys.stderr, flush=True)
    t_start = time.perf_counter()
    per_engine, infos, skipped, wall = walk.run_engines(
        engines, tasks, tokenizer=args.tokenizer, options=options, jobs=args.jobs,
        timeout=args.timeout, mem_limit_gb=args.mem_limit, progress_every=args.progress_every,
        verbose=args.verbose)
    summaries = {n: summarize_cases(r, len(tasks), n_inst) for n, r in per_engine.items()}

    print(f"## JSON-Schema-Test-Suite {args.draft}"
          f"{' (with optional/)' if args.optional else ''}: {len(tasks):,} cases, "
          f"{n_inst:,} instances\n")
    if summaries:
        print(markdown_table(summaries))
        print()
        if args.per_file:
            print(per_file_table(cases, per_engine))
            print()
    print("Versions: " + ", ".join(f"{n} {infos[n]['version']}" for n in infos) + ". "
          + ("bytegram was given the suite's remotes/. " if remotes else "")
          + "Configuration as in maskbench.py (compact JSON for every engine)"
          + (", except properties in any order for bytegram (property_order='any') and "
             "xgrammar (any_order=True)." if args.property_order == "any" else
             "; properties must follow the schema's order in every engine, while the "
             "suite's instances list keys in any order: some false rejects are only that "
             "(see --property-order any)."))
    for n, why in skipped.items():
        print(f"\n- {n} skipped: {why}")

    if args.plot:
        try:
            for p in walk.write_plots(args.plot, per_engine, f"JSON-Schema-Test-Suite "
                                                             f"{args.draft}"):
                print(f"# wrote {p}", file=sys.stderr)
        except ImportError:
            print("# --plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
    if args.json:
        walk.write_results(
            args.json, "testsuite", argv, engines, per_engine, infos, summaries, wall,
            skipped, t_start, draft=args.draft, optional=args.optional,
            tokenizer=args.tokenizer, property_order=args.property_order, cases=len(tasks),
            instances=n_inst,
            per_case={t.key: {"description": descriptions[t.key],
                              **{n: walk.schema_row(per_engine[n][t.key])
                                 for n in per_engine if t.key in per_engine[n]}}
                      for t in tasks})
    return 0 if per_engine else 2


if __name__ == "__main__":
    raise SystemExit(main())
