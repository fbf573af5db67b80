"""MaskBench (../shared/data/maskbench-dev): a fixed sample of 300 real-world schemas.

Rule: no compiled schema may accept an invalid instance (false accept); schemas we refuse
with Unsupported/LimitExceeded are counted, not failures. To stay fast the test checks the
compact serialization only and skips instances longer than 600 bytes (the pure-Python Earley
reference is slow on big documents; scripts/jsts_report.py checks both modes up to
``maskbench_harness.MAX_DOC_BYTES``). Also checks that documents sampled from 15 compiled
schemas are valid for jsonschema."""

from __future__ import annotations

import json
import random

import pytest

import maskbench_harness as M
from bytegram.errors import LimitExceeded, Unsupported
from bytegram.grammar.json_schema import schema_to_ir
from bytegram.testing import sample_document
from conftest import data_dir

jsonschema = pytest.importorskip("jsonschema")
ROOT = data_dir() / "maskbench-dev"
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason=f"no MaskBench data at {ROOT}")

N_SCHEMAS = 300
SEED = 1234


def test_maskbench_sample_no_false_accepts():
    # compact mode only and instances up to 600 bytes, to keep the test under a minute or
    # two (scripts/jsts_report.py runs both modes with larger documents)
    results = {f.name: M.run_file(f, max_doc_bytes=600, modes=M.MODES[:1])
               for f in M.sample_files(ROOT, N_SCHEMAS, seed=SEED)}
    fa = {k: r["detail"] for k, r in results.items() if r["false_accepts"]}
    assert not fa, f"false accepts: {fa}"
    compiled = [r for r in results.values() if r["status"] == "compiled"]
    passing = sum(r["pass"] for r in results.values())
    print(f"maskbench sample: {len(results)} schemas, {len(compiled)} compiled, {passing} pass")
    assert passing >= 0.85 * len(results)


def test_maskbench_sampled_documents_are_valid():
    rng = random.Random(7)
    checked = 0
    for f in M.sample_files(ROOT, 15, seed=SEED + 1):
        schema = json.loads(f.read_text())["schema"]
        try:
            ir, relaxations = schema_to_ir(schema)
        except (Unsupported, LimitExceeded, ValueError):
            continue
        if relaxations:
            continue
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        try:
            v = cls(schema, format_checker=cls.FORMAT_CHECKER)
            v.is_valid(None)
        except Exception:  # noqa: BLE001 - schemas the Python validator cannot handle
            continue
        for _ in range(3):
            doc = sample_document(ir, rng, max_depth=60)
            value = json.loads(doc)
            try:
                errors = list(v.iter_errors(value))
            except Exception:  # noqa: BLE001 - validator-side regex limits
                break
            assert not errors, (f.name, doc[:300], str(errors[0])[:300])
            checked += 1
    assert checked >= 12
