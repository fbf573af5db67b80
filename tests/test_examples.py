"""Every example runs offline, in seconds, and says what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_library_matcher():
    out = run("library_matcher.py")
    assert "complete: True, end-of-sequence allowed: True" in out
    assert "accept('x') -> False" in out


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_runs(name):
    out = run(name)
    assert out.strip(), f"{name} printed nothing"
