"""Shared test helpers: where the (large, licence-restricted) test data lives."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# tests never write into the user's cache directory; the scratch one goes when the process
# (each xdist worker has its own) exits
if "BYTEGRAM_CACHE_DIR" not in os.environ:
    os.environ["BYTEGRAM_CACHE_DIR"] = tempfile.mkdtemp(prefix="bytegram-test-cache-")
    atexit.register(shutil.rmtree, os.environ["BYTEGRAM_CACHE_DIR"], True)


def data_dir() -> Path:
    """The shared data directory: $BYTEGRAM_DATA, else <repo>/../shared/data."""
    return Path(os.environ.get("BYTEGRAM_DATA", REPO.parent / "shared" / "data"))


def data_file(*parts: str) -> Path:
    """A file under data_dir(); skips the calling test when it is absent."""
    path = data_dir().joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"test data not found: {path} (set BYTEGRAM_DATA)")
    return path


@pytest.fixture(scope="session")
def gpt2_vocab():
    """GPT-2's vocabulary (50,257 tokens), loaded once per test session."""
    from bytegram import Vocabulary

    return Vocabulary.from_tokenizer_json(data_file("tokenizers", "gpt2", "tokenizer.json"))


@pytest.fixture(scope="session")
def llama3_vocab():
    """Llama-3's vocabulary (128,256 tokens), loaded once per test session."""
    from bytegram import Vocabulary

    return Vocabulary.from_tokenizer_json(data_file("tokenizers", "llama3", "tokenizer.json"))
