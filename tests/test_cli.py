"""The command-line interface: exit codes, messages, carets."""

from __future__ import annotations

import json
import subprocess
import sys

from bytegram.cli import main


def test_check_accepts_and_rejects_with_caret(capsys):
    assert main(["check", "--regex", r"[a-z]+@[a-z]+\.com", "bob@example.com"]) == 0
    assert capsys.readouterr().out.strip() == "accepted"
    assert main(["check", "--regex", r"[a-z]+@[a-z]+\.com", "bob@exa-mple.com"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rejected: not a valid prefix from line 1, column 8"
    assert out[2].index("^") == out[1].index("-")
    assert main(["check", "--regex", r"[a-z]+@[a-z]+\.com", "bob@example"]) == 1
    assert "incomplete" in capsys.readouterr().out


def test_bad_regex_is_exit_2_with_one_line_error(capsys):
    assert main(["check", "--regex", "[a-z]+(", "x"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("bytegram check: error: invalid regex")
    assert "line 1, column 7" in err[0]
    assert main(["check", "--regex", r"(?<=a)b", "b"]) == 2
    assert "lookbehind" in capsys.readouterr().err.lower()


def test_compile_stats_json(capsys):
    assert main(["compile", "--regex", "[0-9]{3}", "--stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["dfa_states"] == 4 and stats["start_allowed_tokens"] == 10


def test_missing_file_is_exit_2(capsys, tmp_path):
    assert main(["check", "--schema", str(tmp_path / "nope.json"), "{}"]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_python_dash_m_help_shows_examples():
    out = subprocess.run([sys.executable, "-m", "bytegram", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "examples:" in out and "bytegram check --regex" in out
