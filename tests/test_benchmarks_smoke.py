"""Smoke tests of the benchmark scripts (benchmarks/ is not a package: loaded by path), so that
they never rot: each runs on about 3 inputs, bytegram only, GPT-2's small vocabulary. These
check that the harness runs end to end and writes its outputs; they assert no speed (speed is
measured, never asserted in a timed test)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys

import pytest

from conftest import REPO, data_dir, data_file

BENCH = REPO / "benchmarks"


def _load(name: str):
    """A benchmark script as a module (the helpers walk/peers under their own names, as the
    scripts import them, so that worker processes find the same classes)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    if name in ("walk", "peers"):
        return importlib.import_module(name)
    modname = f"_bench_{name}"
    if modname in sys.modules:
        return sys.modules[modname]
    spec = importlib.util.spec_from_file_location(modname, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod


def _need_json_schema():
    import bytegram

    if not hasattr(bytegram.Grammar, "from_json_schema"):
        pytest.skip("bytegram has no Grammar.from_json_schema yet: the JSON Schema "
                    "benchmarks have nothing to run for bytegram (this test runs for real "
                    "once it lands)")


MASKBENCH_FILES = ["Glaiveai2K---calculate_area_87442b5f.json", "BFCL_simple_1.json",
                   "Github_trivial---o17125.json"]


def test_walk_judges_instances_with_any_json_grammar(gpt2_vocab):
    """The shared walking code on bytegram's any-JSON grammar (no JSON Schema needed)."""
    import bytegram

    walk = _load("walk")
    import peers

    engine = peers.bytegram_engine(gpt2_vocab, 0.0)
    if engine.compile_json is None:
        pytest.skip("bytegram has no Grammar.json()")
    make = engine.compile_json()
    encode = walk.hf_encoder("gpt2")
    eos = [int(e) for e in gpt2_vocab.eos_ids]
    cases = [({"a": [1, 2.5, None], "b": "caf\u00e9"}, True),
             ('{"a":1,}', False),  # raw text, not serialized: a trailing comma
             ('{"a":1', False)]  # a prefix: every token allowed, end-of-sequence is not
    for data, expected in cases:
        text = walk.serialize(data) if not isinstance(data, str) else data
        times: list[float] = []
        verdict, reason = walk.walk(make(), encode(text), eos, times)
        assert verdict is expected, (text, reason)
        assert times and all(t >= 0 for t in times)
    verdict, reason = walk.walk(make(), encode('{"a":1}'), eos, [], max_tokens=2)
    assert verdict is None and reason == "truncated"
    assert bytegram.Grammar.json() is not None


def test_regex_masks_smoke(capsys):
    data_file("tokenizers", "gpt2", "tokenizer.json")
    mod = _load("regex_masks")
    assert mod.main(["--tokenizer", "gpt2", "--limit", "3", "--repeat", "1",
                     "--engines", "bytegram"]) == 0
    assert "| bytegram |" in capsys.readouterr().out


def test_maskbench_smoke(tmp_path, capsys):
    _need_json_schema()
    for f in MASKBENCH_FILES:
        data_file("maskbench-dev", f)
    mod = _load("maskbench")
    out = tmp_path / "mb.json"
    # jobs=1: the worker-process path (timeouts, memory limit) is exercised too
    rc = mod.main(["--files", ",".join(MASKBENCH_FILES), "--engines", "bytegram",
                   "--tokenizer", "gpt2", "--jobs", "1", "--timeout", "120",
                   "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    s = res["engines"]["bytegram"]["summary"]
    assert s["schemas"] == 3
    assert s["compiled"] + s["compile_errors"] + s["timeouts"] + s["memory"] + s["crashes"] == 3
    assert s["compiled"] >= 1 and s["mask_steps"] > 0
    assert set(res["per_schema"]) == set(MASKBENCH_FILES)
    assert "| passing |" in capsys.readouterr().out


def test_testsuite_smoke(tmp_path, capsys):
    _need_json_schema()
    if not (data_dir() / "JSON-Schema-Test-Suite" / "tests" / "draft2020-12").is_dir():
        pytest.skip("JSON-Schema-Test-Suite not found (set BYTEGRAM_DATA)")
    mod = _load("testsuite")
    out = tmp_path / "ts.json"
    rc = mod.main(["--files", "type.json", "--limit", "3", "--engines", "bytegram",
                   "--tokenizer", "gpt2", "--jobs", "0", "--per-file", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    s = res["engines"]["bytegram"]["summary"]
    assert s["schemas"] == 3 and s["instances"] > 0
    assert s["instances_correct"] <= s["instances"]
    assert "| cases all correct |" in capsys.readouterr().out


def test_end_to_end_smoke(tmp_path, capsys):
    pytest.importorskip("transformers")
    data_file("tokenizers", "gpt2", "tokenizer.json")
    mod = _load("end_to_end")
    out = tmp_path / "e2e.json"
    rc = mod.main(["--tokenizer", "gpt2", "--hidden", "32", "--layers", "1", "--batch", "1,2",
                   "--tokens", "3", "--schemas", "1", "--samplers", "masked,awrs",
                   "--repeat", "1", "--json", str(out)])
    assert rc == 0
    rows = json.loads(out.read_text())["rows"]
    modes = {(r["batch"], r["mode"], r["phase"]) for r in rows}
    assert (1, "unconstrained", "-") in modes and (2, "awrs", "warm") in modes
    assert (1, "hf+processor", "cold") in modes
    assert "| unconstrained |" in capsys.readouterr().out


def test_run_all_dry_run(capsys):
    mod = _load("run_all")
    assert mod.main(["--dry-run"]) == 0
    printed = capsys.readouterr().out
    for script in ("regex_masks.py", "maskbench.py", "testsuite.py", "sampling.py",
                   "end_to_end.py"):
        assert script in printed


def test_sampling_benchmark(capsys, monkeypatch):
    """benchmarks/sampling.py on GPT-2, one regex, one timed walk: both logit regimes."""
    data_file("tokenizers/gpt2/tokenizer.json")
    mod = _load("sampling")
    monkeypatch.setattr(mod, "DATA", data_dir())
    mod.main(["--tokenizer", "gpt2", "--limit", "1", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "| peaked |" in out and "| flat |" in out
