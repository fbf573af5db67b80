"""The disk cache: round trip, corruption detection, atomic writes, off switch."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

from bytegram import cache
from bytegram.grammar import regex as regex_mod


@pytest.fixture
def cache_in(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEGRAM_CACHE_DIR", str(tmp_path))
    cache._warned.clear()
    return tmp_path


def test_round_trip_and_versioned_key(cache_in):
    key = cache.cache_key("t", "content")
    assert key != cache.cache_key("t", "other") and key != cache.cache_key("u", "content")
    assert cache.load("t", key) is None
    assert cache.save("t", key, {"a": np.arange(5, dtype=np.int32)}, {"n": 5})
    arrays, meta = cache.load("t", key)
    assert arrays["a"].tolist() == [0, 1, 2, 3, 4] and meta == {"n": 5}


def test_corrupted_and_foreign_files_are_reported_once_and_rebuilt(cache_in):
    key = cache.cache_key("t", "x")
    cache.save("t", key, {"a": np.zeros(3)})
    path = next((cache_in / "t").glob("*.npz"))
    path.write_bytes(b"not a zip file")
    with pytest.warns(cache.CacheWarning, match="unreadable"):
        assert cache.load("t", key) is None
    assert not path.exists()
    cache.save("t", key, {"a": np.ones(3)})  # rebuilt
    assert cache.load("t", key)[0]["a"].tolist() == [1, 1, 1]
    # a valid npz written under another key is foreign: rejected too
    key2, other = cache.cache_key("t", "z"), cache.cache_key("t", "y")
    cache.save("t", other, {"a": np.zeros(3)})
    (cache_in / "t" / f"{other[:40]}.npz").rename(cache_in / "t" / f"{key2[:40]}.npz")
    with pytest.warns(cache.CacheWarning, match="header"):
        assert cache.load("t", key2) is None


def test_concurrent_writers_leave_whole_files(cache_in):
    key = cache.cache_key("t", "race")
    big = {"a": np.arange(200_000)}

    def write():
        for _ in range(5):
            cache.save("t", key, big)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arrays, _ = cache.load("t", key)
    assert np.array_equal(arrays["a"], big["a"])
    assert not list((cache_in / "t").glob(".tmp-*"))


def test_off_switch(monkeypatch):
    monkeypatch.setenv("BYTEGRAM_CACHE_DIR", "off")
    assert cache.cache_dir() is None
    assert not cache.save("t", "k", {"a": np.zeros(1)})


def test_cached_regex_dfa_from_disk_equals_fresh(cache_in):
    pattern = r"[a-z]+@[a-z]+\.(com|org)"
    regex_mod._DFA_MEMO.clear()
    first = regex_mod.cached_regex_to_dfa(pattern)
    regex_mod._DFA_MEMO.clear()
    second = regex_mod.cached_regex_to_dfa(pattern)  # from disk
    fresh = regex_mod.regex_to_dfa(pattern)
    for d in (first, second):
        assert np.array_equal(d.transitions, fresh.transitions)
        assert np.array_equal(d.accepting, fresh.accepting) and d.start == fresh.start
