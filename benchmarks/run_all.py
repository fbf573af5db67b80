"""Run the whole comparison (bytegram beside llguidance, xgrammar and outlines-core) and
rewrite benchmarks/RESULTS.md: machine, versions, the exact commands, every table.

    python benchmarks/run_all.py                      # everything (hours: see RESULTS.md)
    python benchmarks/run_all.py --maskbench-limit 200 --jobs 2
    python benchmarks/run_all.py --only maskbench,testsuite --out /tmp/RESULTS.md
    python benchmarks/run_all.py --dry-run            # print the commands only
    python benchmarks/run_all.py --reuse              # rewrite RESULTS.md from saved runs

Each benchmark runs as its own process; its JSON goes to benchmarks/results/ (not tracked),
its markdown (stdout) into RESULTS.md, its progress (stderr) to the terminal. A benchmark
that fails is reported in RESULTS.md with the end of its output; the others still run.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

STEPS = ("regex_masks", "cfg_masks", "maskbench", "testsuite", "testsuite_any_order",
         "sampling", "end_to_end")
SCRIPT = {"testsuite_any_order": "testsuite"}  # steps that reuse another step's script

NOTES = """\
## How the engines are configured, and what differs between them

Every JSON Schema benchmark gives every engine the same text: each instance serialized with
`json.dumps(data, separators=(",", ":"), ensure_ascii=False)` and tokenized with the
`tokenizers` library (no special tokens); every engine is configured for that compact form
(`JSON_COMPACT_CONFIG` in `benchmarks/peers.py`):

- **bytegram**: `Grammar.from_json_schema(schema, whitespace="compact")`; strict=False
  (undeclared properties allowed, as the standard says), lenient=False (a keyword it cannot
  enforce is a compile error), properties in schema order. Numbers never use exponents
  (`1e-05` is rejected): a documented policy that costs it valid instances with such floats.
- **llguidance**: `grammar_from_json_schema(schema, overrides={"whitespace_flexible": False,
  "item_separator": ",", "key_separator": ":"})`. Its default is *flexible* whitespace
  (`[\\x20\\x0A\\x0D\\x09]+` allowed between tokens); the override makes it compact.
  `coerce_one_of` stays off, so any `oneOf` it cannot prove disjoint is a compile error
  ("Enable 'coerce_one_of'"): a real share of its compile errors.
- **xgrammar**: `compile_json_schema(schema, any_whitespace=False, separators=(",", ":"),
  strict_mode=False)`, `max_threads=1`, cache off, stop token set to the same EOS id as the
  others (by default it picks both 128001 and 128009 on Llama-3). Its default
  `strict_mode=True` forbids undeclared properties and extra array items (not the standard);
  with `strict_mode=False` compile time grows about 100x (e.g. 26 ms -> 2 s for a small
  Glaive schema) because undeclared properties may hold any JSON value. **Bug found:** in
  its any-JSON-value rules the item separator stays `", "` whatever `separators` says, so
  compact text with a comma inside a free-form value (untyped property, `additionalProperties`,
  `{}`) is rejected: `{"a":"b","c":1}` fails against `{}` while `{"a":"b", "c":1}` passes.
  Most of its MaskBench false rejects are this bug (on the 200-schema sample of 2026-11-23,
  17 of the 21 schemas where it rejected a valid instance accept it with
  `any_whitespace=True`; `--engines xgrammar-ws` runs that variant, a superset of compact
  JSON). It also ignores keywords: `uniqueItems`, unresolvable remote `$ref`s (compiled to
  "any value"), and in the test suite many of `minLength`, `minimum`, `not`, `contains`,
  `unevaluatedProperties`...: those are its false accepts.
- **outlines-core**: `Index(build_regex_from_schema(schema, ""), vocabulary)`; its default
  whitespace pattern is `[ ]?` (an optional space between tokens), `""` makes it compact.
  The whole schema becomes one regex: recursion and many keywords are unsupported (compile
  errors), large schemas take minutes or exhaust memory (timeouts), undeclared properties
  are not allowed, and strings exclude U+007F-U+009F.

Correctness is judged on the mask, the same way for every engine: at each token, the token's
bit must be set in the bitmask the engine filled, then the token is consumed; after the last
token, end-of-sequence must be allowed. "mask-allowed token refused" counts tokens whose bit
was set but which the engine then refused (an inconsistency; none expected). Timings:
`time.perf_counter` around the engine's fill-the-bitmask call only, one thread, one engine
at a time; compile time is schema text -> first matcher ready. A schema that times out,
crashes or exceeds the memory limit fails (its instances are not counted). A schema
without test instances passes when it compiles.

Reading the test-suite table: the suite's instances list object keys in any order, while
every engine here requires the schema's property order, so part of the false rejects are
only that; `testsuite_any_order` reruns the suite with `property_order="any"` (bytegram) and
`any_order=True` (xgrammar; it then stops checking required keys and duplicates), the two
engines that offer it. A case whose schema accepts nothing (`false`, `not: {}`) counts as
failed for an engine that refuses to compile it (bytegram does, by design). In draft
2020-12 `format` is an annotation, so an engine that enforces formats (bytegram) fails the
`format.json` cases that expect malformed strings to pass.
"""


def sh(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)


def commands(args: argparse.Namespace, results: Path) -> dict[str, list[str]]:
    exe = Path(sys.executable)
    try:  # the repository's own venv is shown (and run) relative to the repository root
        py = [str(exe.relative_to(REPO))] if not exe.is_absolute() or \
            str(exe).startswith(str(REPO) + os.sep) else [sys.executable]
    except ValueError:
        py = [sys.executable]
    b = "benchmarks"
    mb = [*py, f"{b}/maskbench.py", "--jobs", str(args.jobs), "--timeout",
          f"{args.timeout:g}", "--engines", args.engines, "--json", str(results / "maskbench.json")]
    if args.maskbench_limit:
        mb += ["--limit", str(args.maskbench_limit), "--sample-seed", str(args.seed)]
    if args.plots:
        mb += ["--plot", str(results / "plots" / "maskbench")]
    ts = [*py, f"{b}/testsuite.py", "--per-file", "--jobs", str(args.jobs), "--timeout",
          f"{args.timeout:g}", "--engines", args.engines, "--json",
          str(results / "testsuite.json")]
    if args.plots:
        ts += ["--plot", str(results / "plots" / "testsuite")]
    ts_any = [*py, f"{b}/testsuite.py", "--per-file", "--property-order", "any", "--jobs",
              str(args.jobs), "--timeout", f"{args.timeout:g}", "--engines",
              ",".join(e for e in args.engines.split(",") if e in ("bytegram", "xgrammar")),
              "--json", str(results / "testsuite_any_order.json")]
    return {
        "testsuite_any_order": ts_any,
        "regex_masks": [*py, f"{b}/regex_masks.py", "--json", str(results / "regex_masks.json")],
        "cfg_masks": [*py, f"{b}/cfg_masks.py", "--json", str(results / "cfg_masks.json")],
        "maskbench": mb,
        "testsuite": ts,
        "sampling": [*py, f"{b}/sampling.py", "--repeat", "3"],
        "end_to_end": [*py, f"{b}/end_to_end.py", "--json", str(results / "end_to_end.json")],
    }


def header(args: argparse.Namespace, started: dt.datetime, load: str) -> str:
    import walk

    m = walk.machine_info()
    v = walk.versions()
    lines = [
        "# bytegram benchmarks: results",
        "",
        "Generated by `benchmarks/run_all.py`; rerun it to refresh this page (the tables below"
        " are its output, unedited).",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        f"{m['platform']}; Python {m['python']}",
        f"- load average when the run started: {load} (other work on the machine slows every "
        f"engine alike but makes absolute numbers noisy)",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- git: {git_rev(args.out)}",
    ]
    return "\n".join(lines)


def git_rev(out: Path | None = None) -> str:
    """HEAD, and whether tracked files differ from it (``out``, the page being rewritten,
    aside: a previous run's page is no change to the code)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        cmd = ["git", "status", "--porcelain", "--untracked-files=no"]
        if out is not None:
            cmd += ["--", ".", f":(exclude){out.resolve()}"]
        dirty = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return (rev or "?") + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def missing_notes(args: argparse.Namespace, steps: list[str]) -> list[str]:
    import bytegram

    out = []
    if args.maskbench_limit and "maskbench" in steps:
        out.append(f"MaskBench ran on a seeded sample of {args.maskbench_limit} schemas "
                   f"(seed {args.seed}), not all 5,605: the full run is "
                   f"`python benchmarks/run_all.py` without --maskbench-limit (its projected "
                   f"duration per engine is in the MaskBench section).")
    skipped = [s for s in STEPS if s not in steps]
    if skipped:
        out.append(f"Not run this time: {', '.join(skipped)}.")
    if not hasattr(bytegram.Grammar, "from_json_schema"):
        out.append("bytegram has no `Grammar.from_json_schema` in this build: the JSON Schema "
                   "tables have no bytegram column and no ratios.")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        out.append("matplotlib is not installed: no plots (`pip install matplotlib`).")
    import peers

    for dist in ("llguidance", "xgrammar", "outlines-core"):
        if peers.version_of(dist) == "not installed":
            out.append(f"{dist} is not installed: its column is missing "
                       f"(`pip install -e .[bench]`).")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(STEPS),
                    help=f"comma-separated subset of {', '.join(STEPS)}")
    ap.add_argument("--maskbench-limit", type=int, default=None,
                    help="a seeded sample of N MaskBench schemas (default: all 5,605)")
    ap.add_argument("--seed", type=int, default=0, help="sample seed")
    ap.add_argument("--jobs", type=int, default=2,
                    help="worker processes per engine for maskbench/testsuite")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per schema")
    ap.add_argument("--engines", default="bytegram,llguidance,xgrammar,outlines-core")
    ap.add_argument("--plots", action="store_true", help="write CDF plots (matplotlib)")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--reuse", action="store_true",
                    help="do not rerun a step whose saved output (results/<step>.run.json) "
                         "came from the same command: only rewrite RESULTS.md")
    args = ap.parse_args(argv)

    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise SystemExit(f"run_all: unknown step(s) {unknown}; known: {', '.join(STEPS)}")
    results = args.results
    try:
        results_rel = results.resolve().relative_to(REPO)
    except ValueError:
        results_rel = results
    cmds = commands(args, results_rel)
    steps = [s for s in steps if (HERE / f"{SCRIPT.get(s, s)}.py").is_file()]
    if args.dry_run:
        for s in steps:
            print(sh(cmds[s]))
        return 0

    started = dt.datetime.now(dt.timezone.utc)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results.mkdir(parents=True, exist_ok=True)
    sections, timings = [], []
    for s in steps:
        run = reuse(results, s, cmds[s]) if args.reuse else None
        if run is None:
            run = run_step(s, cmds[s], results)
        else:
            print(f"# run_all: {s}: reusing {results / (s + '.md')}", file=sys.stderr)
        timings.append((s, run["wall_s"], run["rc"]))
        body = run["stdout"].strip()
        if run["rc"] != 0:
            body += (f"\n\n**{s} exited with code {run['rc']}**; the end of its error output:"
                     f"\n\n```\n{run['stderr_tail'].strip()}\n```")
        sections.append(f"## {s}\n\nCommand: `{sh(cmds[s])}` ({run['wall_s'] / 60:.1f} min, "
                        f"{run['date']})\n\n" + demote(body))

    import walk

    parts = [header(args, started, load), "", "## Reproduce", "",
             "```", f"python benchmarks/run_all.py{argv_text(argv)}", "```", "",
             "which runs, from the repository root:", "", "```"]
    parts += [sh(cmds[s]) for s in steps]
    parts += ["```", "",
              "Wall time: " + ", ".join(f"{s} {walk.fmt_dur(el)}"
                                        + (f" (exit {rc})" if rc else "")
                                        for s, el, rc in timings) + ".", ""]
    miss = missing_notes(args, steps)
    if miss:
        parts += ["## Missing in this run", ""] + [f"- {m}" for m in miss] + [""]
    parts += [NOTES, ""] + sections
    args.out.write_text("\n".join(parts).rstrip() + "\n")
    print(f"# run_all: wrote {args.out}", file=sys.stderr)
    return 0 if all(rc == 0 for _, _, rc in timings) else 1


def run_step(name: str, cmd: list[str], results: Path) -> dict:
    """Run one benchmark: stdout (its markdown) captured, stderr shown live and its end kept.
    Saves results/<name>.md and results/<name>.run.json (for --reuse)."""
    print(f"# run_all: {name}: {sh(cmd)}", file=sys.stderr, flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.PIPE, text=True,
                                env=env)
        tail: collections.deque[str] = collections.deque(maxlen=40)
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.append(line)
        rc = proc.wait()
        out.seek(0)
        stdout = out.read()
    run = {"command": cmd, "rc": rc, "wall_s": time.perf_counter() - t0, "date": date,
           "stdout": stdout, "stderr_tail": "".join(tail)}
    (results / f"{name}.md").write_text(stdout)
    (results / f"{name}.run.json").write_text(json.dumps(run, indent=1))
    return run


def reuse(results: Path, name: str, cmd: list[str]) -> dict | None:
    """The saved run of ``name`` when it was made with the same command, else None."""
    try:
        run = json.loads((results / f"{name}.run.json").read_text())
    except (OSError, ValueError):
        return None
    return run if run.get("command") == cmd else None


def argv_text(argv: list[str] | None) -> str:
    a = sys.argv[1:] if argv is None else argv
    return (" " + sh(a)) if a else ""


def demote(md: str) -> str:
    """Each benchmark's '## Title' becomes '### Title' under the step's own heading."""
    return "\n".join("#" + line if line.startswith("#") else line for line in md.splitlines())


if __name__ == "__main__":
    raise SystemExit(main())
