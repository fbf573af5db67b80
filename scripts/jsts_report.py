"""Conformance and speed numbers for the JSON Schema compiler.

    python scripts/jsts_report.py [--maskbench N] [--seed S]

Prints: JSON-Schema-Test-Suite draft 2020-12 (cases compiled, all correct, false accepts,
false rejects) and MaskBench (N schemas sampled with a fixed seed, 0 = all): % passing
(compiled, every checked instance judged correctly), false accepts/rejects, refusals by
reason, and schema -> IR compile time p50/p90/max (compact mode, in-process caches warm as
they would be in a server). Instances over MAX_DOC_BYTES are skipped (slow Earley).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import jsts_harness as H  # noqa: E402
import maskbench_harness as M  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--maskbench", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--skip-suite", action="store_true")
    args = ap.parse_args()
    if not args.skip_suite:
        res = H.run_all()
        print("JSON-Schema-Test-Suite draft2020-12:", H.summary(res), flush=True)
    root = Path(os.environ.get("BYTEGRAM_DATA", REPO.parent / "shared" / "data")) / \
        "maskbench-dev"
    files = M.schema_files(root) if args.maskbench == 0 else \
        M.sample_files(root, args.maskbench, seed=args.seed)
    out = {}
    t0 = time.time()
    for f in files:
        try:
            out[f.name] = M.run_file(f)
        except Exception as e:  # noqa: BLE001 - a crash is a bug to report, not to hide
            out[f.name] = {"status": "crash", "pass": False, "false_accepts": 0,
                           "false_rejects": 0, "compile_s": None,
                           "detail": [f"{type(e).__name__}: {e}"[:200]]}
    n = len(out)
    status = collections.Counter(r["status"] for r in out.values())
    passing = sum(r["pass"] for r in out.values())
    fa = sum(r["false_accepts"] for r in out.values())
    fr = sum(r["false_rejects"] for r in out.values())
    skipped = sum(r.get("skipped", 0) for r in out.values())
    checked = sum(r.get("checked", 0) for r in out.values())
    ct = sorted(r["compile_s"] for r in out.values() if r.get("compile_s") is not None)
    print(f"MaskBench: {n} schemas ({time.time() - t0:.0f}s): {dict(status)}; passing "
          f"{passing} ({100 * passing / max(n, 1):.1f}%); false accepts {fa}; false rejects "
          f"{fr}; instances checked {checked}, skipped (> {M.MAX_DOC_BYTES} bytes) {skipped}")
    if ct:
        print(f"schema->IR compile time: p50 {1000 * ct[len(ct) // 2]:.1f} ms, p90 "
              f"{1000 * ct[int(len(ct) * 0.9)]:.1f} ms, max {1000 * ct[-1]:.0f} ms")
    reasons = collections.Counter()
    for r in out.values():
        if not r["pass"]:
            reasons[(r["detail"][0] if r["detail"] else "")[:110]] += 1
    for reason, k in reasons.most_common(25):
        print(f"  {k:4d}  {reason}")
    for name, r in out.items():
        if r["false_accepts"] or r["status"] == "crash":
            print("  !!", name, r["detail"][:3])


if __name__ == "__main__":
    main()
