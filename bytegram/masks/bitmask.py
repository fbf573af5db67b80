"""Packed token bitmasks: int32 ``[batch, ceil(V / 32)]``, bit ``t & 31`` of word ``t >> 5``.

This is the layout XGrammar and llguidance use, so masks can be handed to their kernels.
Helpers here convert between boolean masks, id lists and packed words, for numpy and torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidArgument

__all__ = ["bitmask_width", "allocate_bitmask", "pack_bool", "pack_ids", "unpack_ids",
           "unpack_bitmask", "bitmask_row_view"]


def bitmask_width(vocab_size: int) -> int:
    """Number of int32 words needed for ``vocab_size`` bits."""
    return (int(vocab_size) + 31) // 32


def allocate_bitmask(batch_size: int, vocab_size: int, *, backend: str = "numpy") -> Any:
    """A zeroed int32 bitmask ``[batch_size, ceil(vocab_size / 32)]`` (numpy or torch)."""
    shape = (int(batch_size), bitmask_width(vocab_size))
    if backend == "torch":
        import torch

        return torch.zeros(shape, dtype=torch.int32)
    if backend != "numpy":
        raise InvalidArgument(f"backend must be 'numpy' or 'torch', got {backend!r}")
    return np.zeros(shape, dtype=np.int32)


def pack_bool(mask: np.ndarray, *, width: int | None = None) -> np.ndarray:
    """Pack a boolean vector into int32 words (little-endian bit order)."""
    mask = np.asarray(mask, dtype=bool).reshape(-1)
    w = bitmask_width(len(mask)) if width is None else int(width)
    if len(mask) > w * 32:
        raise InvalidArgument(f"mask of {len(mask)} bits does not fit {w} words")
    padded = np.zeros(w * 32, dtype=bool)
    padded[: len(mask)] = mask
    return np.packbits(padded, bitorder="little").view("<u4").astype(np.uint32).view(np.int32)


def pack_ids(ids: np.ndarray, width: int) -> np.ndarray:
    """Packed words with exactly the bits of ``ids`` set."""
    ids = np.asarray(ids, dtype=np.int64)
    words = np.zeros(int(width), dtype=np.uint32)
    np.bitwise_or.at(words, ids >> 5, (np.uint32(1) << (ids & 31).astype(np.uint32)))
    return words.view(np.int32)


def unpack_ids(words: np.ndarray, vocab_size: int) -> np.ndarray:
    """Ascending ids below ``vocab_size`` whose bit is set in one packed int32 row (int64;
    the inverse of ``pack_ids``). A sparse row unpacks its nonzero words only (a handful
    of them in Python); ``nonzero`` runs on a bool view: on the uint8 bits numpy's generic
    loop is 5-11x slower."""
    v = int(vocab_size)
    words = words[: min(len(words), (v + 31) // 32)]
    nz = words.nonzero()[0]
    if len(nz) <= 8:
        out = []
        for w, word in zip(nz.tolist(), words[nz].tolist()):
            word &= 0xFFFFFFFF
            while word:
                low = word & -word
                out.append(32 * w + low.bit_length() - 1)
                word ^= low
        return np.array([t for t in out if t < v], dtype=np.int64)
    if 2 * len(nz) > len(words):  # mostly nonzero: every bit, no word arithmetic
        ids = np.unpackbits(words.view(np.uint8), bitorder="little").view(bool).nonzero()[0]
    else:
        pos = np.unpackbits(words[nz].view(np.uint8), bitorder="little").view(bool).nonzero()[0]
        ids = nz[pos >> 5] * 32 + (pos & 31)
    if len(ids) and ids[-1] >= v:
        ids = ids[ids < v]
    return ids


def unpack_bitmask(bitmask: Any, vocab_size: int | None = None) -> np.ndarray:
    """Boolean array ``[..., V]`` from packed words (numpy or torch input)."""
    arr = _as_numpy(bitmask)
    bits = np.unpackbits(np.ascontiguousarray(arr).astype("<i4").view(np.uint8),
                         axis=-1, bitorder="little").astype(bool)
    if vocab_size is not None:
        bits = bits[..., : int(vocab_size)]
    return bits


def bitmask_row_view(out: Any, row: int) -> tuple[np.ndarray, Any]:
    """A writable numpy view of ``out[row]``, plus a callback to flush it back.

    CPU torch tensors and numpy arrays are written in place (the flush does nothing); a
    tensor on another device is filled through a host buffer and copied once.
    """
    if isinstance(out, np.ndarray):
        _check_bitmask(out.dtype == np.int32, out)
        return out[row], None
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(out, torch.Tensor):
        _check_bitmask(out.dtype == torch.int32, out)
        if out.device.type == "cpu":
            return out[row].numpy(), None
        host = np.empty(out.shape[-1], dtype=np.int32)
        return host, lambda: out[row].copy_(torch.from_numpy(host), non_blocking=False)
    raise InvalidArgument(f"bitmask must be a numpy array or torch tensor, got {type(out).__name__}")


def _check_bitmask(ok: bool, out: Any) -> None:
    if not ok or len(out.shape) != 2:
        raise InvalidArgument(f"bitmask must be int32 [batch, words], got dtype {out.dtype} "
                        f"shape {tuple(out.shape)}; use bytegram.allocate_bitmask()")


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    return x.detach().cpu().numpy()
