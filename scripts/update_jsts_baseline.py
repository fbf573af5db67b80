"""Regenerate tests/data/jsts_baseline.json: per-case results of the JSON-Schema-Test-Suite
(draft 2020-12) through the JSON Schema compiler (see tests/jsts_harness.py).

    python scripts/update_jsts_baseline.py

The test (tests/test_json_schema_suite.py) fails on any false accept and on any case that
is correct here but not any more. Refuses to write a baseline containing a false accept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import jsts_harness as H  # noqa: E402


def main() -> None:
    results = H.run_all()
    summary = H.summary(results)
    if summary["false_accepts"]:
        bad = [k for k, r in results.items() if r["false_accepts"]]
        raise SystemExit(f"refusing to record false accepts: {bad}")
    data = {"summary": summary,
            "cases": {k: {"status": r["status"], "correct": r["correct"],
                          "false_rejects": r["false_rejects"]}
                      for k, r in results.items()}}
    H.BASELINE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(summary)


if __name__ == "__main__":
    main()
