"""On-disk cache of derived artifacts (vocabulary tables, compiled grammars).

Entries are ``.npz`` files (numpy arrays plus a JSON header; never pickle) under
``$BYTEGRAM_CACHE_DIR`` or the platform cache directory (``$XDG_CACHE_HOME/bytegram``,
``~/.cache/bytegram``). Set ``BYTEGRAM_CACHE_DIR=off`` to disable it. Keys hash the content,
the package version, its source code and the cache format, so a new build never reads an
old entry.

Safety: a writer writes a temporary file in the same directory and renames it into place,
so concurrent writers never leave a half file; a corrupted or foreign file is reported once
(a ``CacheWarning``), deleted and rebuilt by the caller.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

__all__ = ["CacheWarning", "cache_dir", "cache_key", "load", "load_as", "save"]

FORMAT = 1
_HEADER = "__bytegram_header__"
_warned: set[str] = set()
T = TypeVar("T")


class CacheWarning(UserWarning):
    """A cache entry was unreadable and is being rebuilt."""


def cache_dir() -> Path | None:
    """The cache directory, or None when caching is off."""
    env = os.environ.get("BYTEGRAM_CACHE_DIR")
    if env is not None:
        if env.strip().lower() in ("", "off", "0", "none", "false"):
            return None
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bytegram"


_CODE_HASH: str | None = None


def code_fingerprint() -> str:
    """sha256 of the package's own source files: any code change invalidates the cache, so
    a development build never reads what an older build of the same version wrote."""
    global _CODE_HASH
    if _CODE_HASH is None:
        h = hashlib.sha256()
        root = Path(__file__).resolve().parent
        for f in sorted(root.rglob("*.py")):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
        _CODE_HASH = h.hexdigest()
    return _CODE_HASH


def cache_key(kind: str, *parts: str | bytes) -> str:
    """A hex key for ``kind`` from content parts, the package version, the package's source
    code and the format."""
    from . import __version__

    h = hashlib.sha256()
    for p in (kind, __version__, code_fingerprint(), str(FORMAT), *parts):
        data = p if isinstance(p, bytes) else p.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _path(kind: str, key: str) -> Path | None:
    d = cache_dir()
    return None if d is None else d / kind / f"{key[:40]}.npz"


def load(kind: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and metadata stored under ``(kind, key)``, or None (missing/unreadable)."""
    path = _path(kind, key)
    if path is None or not path.is_file():
        return None
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(arrays.pop(_HEADER).tobytes().decode("utf-8"))
        if header.get("format") != FORMAT or header.get("kind") != kind \
                or header.get("key") != key:
            raise ValueError("header does not match this entry")
        return arrays, header.get("meta", {})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError,
            UnicodeDecodeError, EOFError) as e:
        _discard(path, e)
        return None


def load_as(kind: str, key: str, decode: Callable[[dict[str, np.ndarray], dict[str, Any]], T]
            ) -> T | None:
    """``decode(arrays, meta)`` of the entry under ``(kind, key)``, or None. An entry that
    ``decode`` rejects (any exception: a well-formed file with the wrong contents) is
    reported, deleted and left to rebuild, like an unreadable file."""
    stored = load(kind, key)
    if stored is None:
        return None
    try:
        return decode(*stored)
    except Exception as e:  # noqa: BLE001 - whatever the contents, never crash the caller
        path = _path(kind, key)
        if path is not None:
            _discard(path, e)
        return None


def _discard(path: Path, e: BaseException) -> None:
    """Report an unusable entry once per path and delete it."""
    if str(path) not in _warned:
        _warned.add(str(path))
        warnings.warn(f"bytegram cache entry {path} is unreadable ({type(e).__name__}: "
                      f"{e}); rebuilding it", CacheWarning, stacklevel=3)
    try:
        path.unlink()
    except OSError:
        pass


def save(kind: str, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any] | None = None
         ) -> bool:
    """Store arrays atomically; returns False (silently) when the cache is off or unwritable."""
    path = _path(kind, key)
    if path is None:
        return False
    header = {"format": FORMAT, "kind": kind, "key": key, "meta": meta or {}}
    payload = dict(arrays)
    payload[_HEADER] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **payload)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getbuffer())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return True
    except OSError:
        return False
