"""Shared by tests/test_json_schema_maskbench.py and scripts/jsts_report.py: run MaskBench
schemas (../shared/data/maskbench-dev, real-world schemas with valid and invalid instances)
through the JSON Schema compiler and the Earley reference recognizer.

Each schema is compiled with ``property_order="any"`` in both whitespace modes; instances
are serialized as in the test-suite harness. Instances longer than ``MAX_DOC_BYTES`` (after
serialization) are skipped: the pure-Python Earley reference is slow on large documents.
A schema "passes" when it compiles and every checked instance is judged correctly.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from bytegram.errors import LimitExceeded, Unsupported
from bytegram.grammar.json_schema import schema_to_ir
from bytegram.testing import EarleyRecognizer
from jsts_harness import MODES, judge_instances

MAX_DOC_BYTES = 1000


def schema_files(root: Path) -> list[Path]:
    return sorted(root.glob("*.json"))


def sample_files(root: Path, n: int, seed: int = 1234) -> list[Path]:
    files = schema_files(root)
    return sorted(random.Random(seed).sample(files, min(n, len(files))))


def run_file(path: Path, *, max_doc_bytes: int = MAX_DOC_BYTES, modes=MODES) -> dict:
    """{"status": compiled/refused/invalid, "pass", "false_accepts", "false_rejects",
    "skipped", "compile_s" (schema -> IR, compact mode), "detail"}."""
    data = json.loads(path.read_text())
    res = {"status": "compiled", "pass": True, "false_accepts": 0, "false_rejects": 0,
           "skipped": 0, "checked": 0, "compile_s": None, "detail": []}
    for mode, dump in modes:
        t0 = time.perf_counter()
        try:
            ir, _ = schema_to_ir(data["schema"], whitespace=mode, property_order="any")
        except (Unsupported, LimitExceeded) as e:
            res.update(status="refused", detail=[f"{type(e).__name__}: "
                                                 f"{' '.join(str(e).split())[:300]}"])
            res["pass"] = False
            return res
        except ValueError as e:  # InvalidSyntax: a malformed schema
            res.update(status="invalid", detail=[f"{type(e).__name__}: {str(e)[:200]}"])
            res["pass"] = False
            return res
        if mode == "compact":
            res["compile_s"] = time.perf_counter() - t0
        judge_instances(EarleyRecognizer(ir), data.get("tests", []), mode, dump, res,
                        max_doc_bytes=max_doc_bytes)
    res["pass"] = res["false_accepts"] == 0 and res["false_rejects"] == 0
    return res
