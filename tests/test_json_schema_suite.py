"""The official JSON-Schema-Test-Suite (draft 2020-12, copied under tests/data, MIT) against
the committed baseline (tests/data/jsts_baseline.json, regenerate with
scripts/update_jsts_baseline.py), plus witness generation: documents sampled from compiled
grammars must be valid for jsonschema."""

from __future__ import annotations

import json
import random

import pytest

import jsts_harness as H
from bytegram.errors import LimitExceeded, Unsupported
from bytegram.grammar.json_schema import schema_to_ir
from bytegram.testing import sample_document

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def results():
    return H.run_all()


def test_no_false_accepts(results):
    bad = {k: r["detail"] for k, r in results.items() if r["false_accepts"]}
    assert not bad, f"false accepts: {bad}"


def test_no_regressions(results):
    base = json.loads(H.BASELINE.read_text())["cases"]
    regressed = [k for k, b in base.items() if b["correct"] and not results[k]["correct"]]
    assert not regressed, {k: results[k]["detail"] for k in regressed}
    assert set(results) == set(base), "the suite changed: regenerate the baseline"


def test_bar(results):
    s = H.summary(results)
    assert s["all_correct"] >= 250 and s["false_accepts"] == 0, s


def _validator(schema):
    from referencing import Registry, Resource

    def retrieve(uri: str):
        doc = H.remotes(uri)
        if doc is None:
            raise LookupError(uri)
        return Resource.from_contents(doc, default_specification=
                                      __import__("referencing.jsonschema").jsonschema.DRAFT202012)

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, registry=Registry(retrieve=retrieve), format_checker=cls.FORMAT_CHECKER)


def test_sampled_documents_are_valid():
    """Witnesses: every document drawn from a compiled grammar is valid (cases whose grammar
    has relaxations, or that the Python validator cannot evaluate, are skipped)."""
    rng = random.Random(2024)
    checked = 0
    for cid, case in H.load_cases():
        try:
            ir, relaxations = schema_to_ir(case["schema"], remotes=H.remotes)
        except (Unsupported, LimitExceeded):
            continue
        if relaxations:
            continue
        try:
            v = _validator(case["schema"])
            v.is_valid(None)
        except Exception:  # noqa: BLE001 - e.g. \p{..} patterns Python's re cannot compile
            continue
        for _ in range(4):
            doc = sample_document(ir, rng)
            value = json.loads(doc)
            try:
                errors = list(v.iter_errors(value))
            except Exception:  # noqa: BLE001 - validator-side regex limits
                break
            assert not errors, (cid, doc, str(errors[0])[:300])
            checked += 1
    assert checked > 800
