"""Shared by tests/test_json_schema_suite.py and scripts/update_jsts_baseline.py: run the
official JSON-Schema-Test-Suite (copied under tests/data, MIT) through the JSON Schema
compiler and the byte-level Earley reference recognizer.

For each case the schema is compiled twice with ``property_order="any"`` (the suite checks
arbitrary documents): ``whitespace="compact"`` checked on ``json.dumps(x, separators=(",",
":"))`` and ``whitespace="flexible"`` on ``json.dumps(x)``. Every instance must be accepted
iff it is valid. A case whose schema raises ``Unsupported``/``LimitExceeded`` is "refused".
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bytegram.errors import LimitExceeded, Unsupported
from bytegram.grammar.json_schema import schema_to_ir
from bytegram.testing import EarleyRecognizer

SUITE = Path(__file__).resolve().parent / "data" / "JSON-Schema-Test-Suite"
BASELINE = Path(__file__).resolve().parent / "data" / "jsts_baseline.json"
MODES = (("compact", lambda x: json.dumps(x, separators=(",", ":"))),
         ("flexible", lambda x: json.dumps(x)))


def remotes(uri: str):
    """http://localhost:1234/<path> -> the copied remotes/<path> document."""
    prefix = "http://localhost:1234/"
    if not uri.startswith(prefix):
        return None
    path = SUITE / "remotes" / uri[len(prefix):]
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def load_cases(draft: str = "draft2020-12") -> list[tuple[str, dict]]:
    """[(case id 'file.json#index', case)] in a fixed order."""
    out = []
    for f in sorted((SUITE / "tests" / draft).glob("*.json")):
        for i, case in enumerate(json.loads(f.read_text())):
            out.append((f"{f.name}#{i}", case))
    return out


def run_case(case: dict, *, draft: int = 2020) -> dict:
    """{"status", "correct", "false_accepts", "false_rejects", "seconds", "detail"}."""
    res = {"status": "compiled", "correct": True, "false_accepts": 0, "false_rejects": 0,
           "seconds": 0.0, "detail": []}
    for mode, dump in MODES:
        t0 = time.perf_counter()
        try:
            ir, _ = schema_to_ir(case["schema"], whitespace=mode, property_order="any",
                                 draft=draft, remotes=remotes)
        except (Unsupported, LimitExceeded) as e:
            res.update(status="refused", correct=False,
                       detail=[f"{type(e).__name__}: {str(e).splitlines()[0]}"])
            return res
        res["seconds"] += time.perf_counter() - t0
        judge_instances(EarleyRecognizer(ir), case["tests"], mode, dump, res)
    res["correct"] = res["false_accepts"] == 0 and res["false_rejects"] == 0
    return res


def judge_instances(rec: EarleyRecognizer, tests: list[dict], mode: str, dump, res: dict, *,
                    max_doc_bytes: int | None = None) -> None:
    """Check each instance (``dump``-serialized) with the recognizer; count false accepts
    and rejects into ``res`` (and "checked"/"skipped" when they are keys of ``res``)."""
    for k, t in enumerate(tests):
        text = dump(t["data"]).encode()
        if max_doc_bytes is not None and len(text) > max_doc_bytes:
            res["skipped"] += 1
            continue
        if "checked" in res:
            res["checked"] += 1
        got = rec.accepts(text)
        if got and not t["valid"]:
            res["false_accepts"] += 1
            res["detail"].append(f"{mode} #{k} false accept")
        elif not got and t["valid"]:
            res["false_rejects"] += 1
            res["detail"].append(f"{mode} #{k} false reject")


def run_all(draft: str = "draft2020-12") -> dict[str, dict]:
    return {cid: run_case(case) for cid, case in load_cases(draft)}


def summary(results: dict[str, dict]) -> dict:
    n = len(results)
    compiled = [r for r in results.values() if r["status"] == "compiled"]
    return {"cases": n, "compiled": len(compiled),
            "all_correct": sum(r["correct"] for r in results.values()),
            "false_accepts": sum(r["false_accepts"] for r in results.values()),
            "false_rejects": sum(r["false_rejects"] for r in results.values()),
            "refused": n - len(compiled)}
