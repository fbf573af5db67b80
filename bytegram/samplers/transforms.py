"""Logits transforms, batched over rows of a ``[batch, V]`` tensor, all in place.

The order bytegram uses (``apply_params``): repetition penalty, temperature, grammar mask
(``apply_bitmask``), top-k, top-p, min-p. Truncations act on the masked logits, so they keep
the best *allowed* tokens. Every truncation keeps ties at its boundary, which makes it a
function of the values alone (not of a sort order) and lets the rejection sampler reproduce
it exactly without a full mask.

The numpy twins of the truncations, on one row of values, are in ``truncation``.

``apply_bitmask`` picks the cheapest of three methods by mask density: write -inf at the few
forbidden ids, save the few allowed logits and refill the row, or expand all bits through a
byte lookup table. Logit columns beyond the mask's ``32 * words`` are padding: forbidden.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InvalidArgument
from ..masks.bitmask import unpack_ids
from .base import SamplingParams, check_top, normalize_prev_ids
from .truncation import min_p_threshold

__all__ = ["apply_bitmask", "masked_copy", "zero_forbidden", "apply_temperature",
           "apply_repetition_penalty", "apply_top_k", "apply_top_p", "apply_min_p",
           "apply_params", "reference_apply_bitmask"]

_NEG_INF = float("-inf")
_BITS32 = np.arange(32, dtype=np.int32)
# byte -> its 8 bits, least significant first (the packed layout: bit t & 31 of word t >> 5)
_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1,
                           bitorder="little").astype(bool)
_BIT_LUT: dict[tuple[Any, float, float], np.ndarray] = {}
_TORCH_LUT: dict[tuple[Any, Any], torch.Tensor] = {}


def _bit_lut(dtype: np.dtype, set_value: float, clear_value: float) -> np.ndarray:
    """byte -> its 8 bits (least significant first) as ``set_value`` / ``clear_value``;
    cached per dtype and values, read-only."""
    key = (dtype, set_value, clear_value)
    lut = _BIT_LUT.get(key)
    if lut is None:
        lut = np.where(_BYTE_BITS, set_value, clear_value).astype(dtype)
        lut.setflags(write=False)
        _BIT_LUT[key] = lut
    return lut


def zero_forbidden(weights: np.ndarray, words: np.ndarray) -> np.ndarray:
    """``weights`` (float32 or float64 ``[V]``, nonnegative: exponentials of logits) with the
    entries of forbidden tokens set to 0, in place, for one packed int32 mask row (tokens
    past the mask are forbidden): the mask applied to probabilities instead of logits, one
    multiply by the unpacked bits as booleans (~15% faster than by 0/1 floats from the
    lookup table ``_apply_numpy`` uses)."""
    v = weights.shape[0]
    covered = min(v, 32 * len(words))
    if covered < v:
        weights[covered:] = 0
    nw = (covered + 31) // 32
    if nw:
        bits = np.unpackbits(np.ascontiguousarray(words[:nw]).view(np.uint8),
                             count=covered, bitorder="little")
        np.multiply(weights[:covered], bits.view(np.bool_), out=weights[:covered])
    return weights


def _as_2d(logits: Any, name: str = "logits") -> tuple[Any, bool]:
    """(2-D view, was_1d). Accepts a torch tensor or numpy array of floats."""
    if isinstance(logits, torch.Tensor):
        if not logits.is_floating_point():
            raise InvalidArgument(f"{name} must be a float tensor, got {logits.dtype}")
    elif isinstance(logits, np.ndarray):
        if logits.dtype.kind != "f":
            raise InvalidArgument(f"{name} must be a float array, got {logits.dtype}")
    else:
        raise InvalidArgument(f"{name} must be a torch.Tensor or numpy array, got "
                              f"{type(logits).__name__}")
    if logits.ndim == 1:
        return logits[None], True
    if logits.ndim != 2:
        raise InvalidArgument(f"{name} must be [batch, V] or [V], got shape {tuple(logits.shape)}")
    return logits, False


def _host_numpy(x: Any) -> np.ndarray:
    """``[batch, V]`` logits as a float32 numpy array on the host (a view when possible)."""
    if isinstance(x, np.ndarray):
        return x if x.dtype == np.float32 else x.astype(np.float32)
    if x.dtype == torch.float32:
        try:  # a CPU tensor without a gradient: a view, without the calls below
            return x.numpy()
        except (TypeError, RuntimeError):
            pass
    t = x.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype != torch.float32:
        t = t.float()
    return t.numpy()


# ---------------------------------------------------------------------------------------
# the grammar mask


def _bitmask_numpy(bitmask: Any) -> np.ndarray | None:
    if isinstance(bitmask, np.ndarray):
        arr = bitmask
    elif isinstance(bitmask, torch.Tensor) and bitmask.device.type == "cpu":
        arr = bitmask.numpy()
    else:
        return None
    if arr.dtype != np.int32:
        raise InvalidArgument(f"bitmask must be int32, got {arr.dtype}; use "
                              f"compiled.allocate_bitmask()")
    return arr


def apply_bitmask(logits: Any, bitmask: Any, *, method: str = "auto") -> Any:
    """Set the logits of forbidden tokens to -inf, in place, and return ``logits``.

    ``logits``: float ``[batch, V]`` or ``[V]`` (torch tensor on any device, or numpy array).
    ``bitmask``: int32 ``[batch, words]`` or ``[words]`` (bit ``t & 31`` of word ``t >> 5``;
    numpy or torch). Ids ``>= 32 * words`` (logits wider than the mask) are forbidden. A row
    with no allowed token becomes all -inf. ``method``: "auto" (by density), "forbidden"
    (write -inf at forbidden ids), "allowed" (save allowed logits, refill), "unpack" (expand
    every bit).
    """
    if method not in ("auto", "forbidden", "allowed", "unpack"):
        raise InvalidArgument(f"method must be 'auto', 'forbidden', 'allowed' or 'unpack', "
                              f"got {method!r}")
    x, _ = _as_2d(logits)
    if not isinstance(bitmask, (np.ndarray, torch.Tensor)):
        raise InvalidArgument(f"bitmask must be a numpy array or torch tensor, got "
                              f"{type(bitmask).__name__}")
    bm = bitmask[None] if bitmask.ndim == 1 else bitmask
    if bm.ndim != 2 or bm.shape[0] != x.shape[0]:
        raise InvalidArgument(f"bitmask shape {tuple(bitmask.shape)} does not match logits "
                              f"shape {tuple(logits.shape)} (want [batch, ceil(V/32)])")
    batch, v = x.shape
    words = bm.shape[1]
    covered = min(v, 32 * words)
    if covered < v:
        x[:, covered:] = _NEG_INF
    nw = (covered + 31) // 32
    if nw == 0:
        return logits
    np_bm = _bitmask_numpy(bm)
    np_x = None
    if isinstance(x, np.ndarray):
        np_x = x
    elif x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64, torch.float16):
        np_x = x.numpy()
    if np_x is not None:
        if np_bm is None:
            np_bm = bm.detach().cpu().numpy()
            if np_bm.dtype != np.int32:
                raise InvalidArgument(f"bitmask must be int32, got {np_bm.dtype}")
        _apply_numpy(np_x, np.ascontiguousarray(np_bm[:, :nw]), covered, method)
    else:
        if isinstance(bm, np.ndarray):
            if bm.dtype != np.int32:
                raise InvalidArgument(f"bitmask must be int32, got {bm.dtype}")
            bm = torch.from_numpy(np.ascontiguousarray(bm))
        elif bm.dtype != torch.int32:
            raise InvalidArgument(f"bitmask must be int32, got {bm.dtype}")
        _apply_torch(x, bm[:, :nw].to(x.device, non_blocking=True), covered)
    return logits


def _choose(words: np.ndarray, covered: int, method: str) -> str:
    if method != "auto":
        return method
    n = words.size
    n_mixed_or_zero = n - int(np.count_nonzero(words == -1))
    if n_mixed_or_zero * 32 * 16 <= covered * words.shape[0]:
        return "forbidden"
    n_nonzero = int(np.count_nonzero(words))
    if n_nonzero * 32 * 16 <= covered * words.shape[0]:
        return "allowed"
    return "unpack"


def _expand(words: np.ndarray, pick: np.ndarray, want_set: bool,
            covered: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, ids) of the set (or clear) bits of the words at flat positions ``pick``."""
    nw = words.shape[1]
    rows, cols = np.divmod(pick, nw)
    vals = words.reshape(-1)[pick]
    bits = (vals[:, None] >> _BITS32) & 1
    hit = bits.astype(bool) if want_set else ~bits.astype(bool)
    ids = cols[:, None] * 32 + _BITS32
    hit &= ids < covered
    r = np.broadcast_to(rows[:, None], ids.shape)
    return r[hit], ids[hit]


def _apply_numpy(x: np.ndarray, words: np.ndarray, covered: int, method: str,
                 src: np.ndarray | None = None) -> None:
    """Mask the first ``covered`` columns of ``x`` in place, or (``src`` given, same shape)
    write ``src`` masked into ``x`` without touching ``src``: one pass instead of a copy and
    then a mask."""
    how = _choose(words, covered, method)
    if how == "forbidden":
        if src is not None:
            np.copyto(x[:, :covered], src[:, :covered])
        pick = np.flatnonzero(words.reshape(-1) != -1)
        if len(pick):
            rows, ids = _expand(words, pick, False, covered)
            x[rows, ids] = -np.inf
    elif how == "allowed":
        pick = np.flatnonzero(words.reshape(-1))
        rows, ids = _expand(words, pick, True, covered)
        vals = (x if src is None else src)[rows, ids]
        x[:, :covered] = -np.inf
        x[rows, ids] = vals
    else:
        # row by row, so that each row's expanded biases stay in cache; the 8 biases of a
        # byte are taken as whole uint64 words (~15% faster than as 8 floats)
        lut = _bit_lut(x.dtype, 0.0, -np.inf)  # additive biases
        lut_words = lut.view(np.uint64)
        as_bytes = words.view(np.uint8)
        for r in range(x.shape[0]):
            bias = np.take(lut_words, as_bytes[r], axis=0).view(x.dtype).reshape(-1)
            view = x[r, :covered]
            np.add(view if src is None else src[r, :covered], bias[:covered], out=view)


def _allowed_values(row: np.ndarray, words: np.ndarray, pen: np.ndarray | None,
                    penalty: float | None, inv: np.float32) -> tuple[np.ndarray, np.ndarray]:
    """(ids, values) of the tokens that a packed mask row allows, the mask applied by
    gathering: ``row``'s values at those ids, the repetition ``penalty`` applied to the ids
    of ``pen`` among them, times ``inv`` (the float32 products of the whole-row transforms),
    the -inf ones dropped. NaN or +inf among them raises ``InvalidArgument``."""
    ids = unpack_ids(words, row.shape[0])
    vals = row[ids]
    if pen is not None:
        sel = np.isin(ids, pen)
        if sel.any():
            vals[sel] = _penalize_np(vals[sel], penalty)
    if inv != 1:
        vals *= inv
    fin = vals > -np.inf
    if not fin.all():
        if np.isnan(vals).any():
            check_top(math.nan)
        ids = ids[fin]
        vals = vals[fin]
    if len(vals):
        check_top(float(vals.max()))
    return ids, vals


def masked_copy(src: np.ndarray, words: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` = ``src`` (float numpy ``[batch, V]``) with forbidden tokens at -inf, for the
    packed int32 ``words`` ``[batch, >= ceil(V / 32)]``; ``src`` is not modified. The same
    methods (and result) as ``apply_bitmask`` on a copy, in one pass over the row."""
    v = src.shape[1]
    covered = min(v, 32 * words.shape[1])
    if covered < v:
        out[:, covered:] = _NEG_INF
    nw = (covered + 31) // 32
    if nw:
        _apply_numpy(out, np.ascontiguousarray(words[:, :nw]), covered, "auto", src)
    return out


def _apply_torch(x: torch.Tensor, words: torch.Tensor, covered: int) -> None:
    key = (x.dtype, x.device)
    lut = _TORCH_LUT.get(key)
    if lut is None:
        lut = torch.from_numpy(np.where(_BYTE_BITS, 0.0, -np.inf).astype(np.float32)).to(
            device=x.device, dtype=x.dtype)
        _TORCH_LUT[key] = lut
    b = words.contiguous().view(torch.uint8).reshape(-1).long()
    bias = torch.index_select(lut, 0, b).view(x.shape[0], -1)[:, :covered]
    x[:, :covered].add_(bias)


def reference_apply_bitmask(logits: torch.Tensor, bitmask: Any) -> torch.Tensor:
    """Slow, obvious reference: unpack every bit and ``torch.where``. Returns a new tensor."""
    bm = torch.as_tensor(np.asarray(bitmask) if isinstance(bitmask, np.ndarray) else bitmask)
    x = logits if logits.ndim == 2 else logits[None]
    bm = bm if bm.ndim == 2 else bm[None]
    v = x.shape[1]
    allowed = torch.zeros(x.shape, dtype=torch.bool)
    for r in range(x.shape[0]):
        for t in range(v):
            w = t >> 5
            if w < bm.shape[1] and (int(bm[r, w]) >> (t & 31)) & 1:
                allowed[r, t] = True
    out = torch.where(allowed, x, torch.tensor(_NEG_INF, dtype=x.dtype))
    return out if logits.ndim == 2 else out[0]


# ---------------------------------------------------------------------------------------
# value transforms


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide by ``temperature`` (> 0), in place. Done as a multiply by ``float32(1/T)``, the
    same float32 operation the rejection sampler uses, so both see identical values."""
    x, _ = _as_2d(logits)
    if not (isinstance(temperature, (int, float)) and temperature > 0
            and math.isfinite(temperature)):
        raise InvalidArgument(f"temperature must be a finite number > 0 (greedy is handled by "
                              f"the samplers), got {temperature!r}")
    if temperature != 1:
        x *= float(np.float32(1.0 / temperature))
    return logits


def _penalize_np(vals: np.ndarray, penalty: float) -> np.ndarray:
    """HF-style repetition penalty on float32 values: positive / penalty, negative * penalty
    (the division done as a multiply by float32(1/penalty))."""
    vals = vals.astype(np.float32, copy=False)
    return np.where(vals < 0, vals * np.float32(penalty), vals * np.float32(1.0 / penalty))


def apply_repetition_penalty(logits: torch.Tensor, prev_ids: Sequence[Any],
                             penalty: float) -> torch.Tensor:
    """CTRL/HF repetition penalty, in place: for each row, the logits of ``prev_ids[row]``
    (token ids already generated) are divided by ``penalty`` when positive and multiplied by
    it when negative. ``penalty > 1`` discourages repeats."""
    x, was_1d = _as_2d(logits)
    if not (isinstance(penalty, (int, float)) and penalty > 0 and math.isfinite(penalty)):
        raise InvalidArgument(f"penalty must be a finite number > 0, got {penalty!r}")
    if was_1d and (len(prev_ids) == 0 or np.ndim(prev_ids[0]) == 0):
        prev_ids = [prev_ids]
    if len(prev_ids) != x.shape[0]:
        raise InvalidArgument(f"prev_ids has {len(prev_ids)} rows, logits {x.shape[0]}")
    if penalty == 1:
        return logits
    v = x.shape[1]
    for r, ids in enumerate(prev_ids):
        ids = normalize_prev_ids(ids, vocab_size=v)
        if ids is None:
            continue
        if isinstance(x, np.ndarray):
            x[r, ids] = _penalize_np(x[r, ids], penalty)
        else:
            t = torch.from_numpy(ids).to(x.device)
            vals = x[r, t]
            pos = vals * float(np.float32(1.0 / penalty))
            neg = vals * float(np.float32(penalty))
            x[r, t] = torch.where(vals < 0, neg, pos)
    return logits


def apply_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep, per row, the tokens whose logit is >= the k-th largest (ties kept), in place."""
    x, _ = _as_2d(logits)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidArgument(f"k must be an int >= 1, got {k!r}")
    t = torch.as_tensor(x)
    k = min(int(k), t.shape[1])
    if k >= t.shape[1]:
        return logits
    kth = torch.topk(t, k, dim=-1, sorted=False).values.amin(dim=-1, keepdim=True)
    t.masked_fill_(t < kth, _NEG_INF)
    return logits


def apply_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus truncation, in place: keep the smallest set of highest-probability tokens whose
    mass reaches ``p``, plus every token tied with its last member. Sorts only the finite
    (e.g. allowed) logits of each row."""
    x, _ = _as_2d(logits)
    if not (isinstance(p, (int, float)) and 0 < p <= 1):
        raise InvalidArgument(f"p must be in (0, 1], got {p!r}")
    if p >= 1:
        return logits
    t = torch.as_tensor(x)
    n_fin = torch.isfinite(t).sum(dim=-1)
    kmax = int(n_fin.max()) if t.shape[0] else 0
    if kmax == 0:
        return logits
    if kmax * 2 <= t.shape[1]:
        vals = torch.topk(t, kmax, dim=-1, sorted=True).values
    else:
        vals = torch.sort(t, dim=-1, descending=True).values[:, :kmax]
    v64 = vals.double()
    top = v64[:, :1]
    safe_top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    cum = torch.cumsum(torch.exp(v64 - safe_top), dim=-1)
    j = (cum < p * cum[:, -1:]).sum(dim=-1, keepdim=True)
    j = torch.minimum(j, (n_fin - 1).clamp(min=0).unsqueeze(-1))
    thr = vals.gather(1, j)
    thr = torch.where(n_fin.unsqueeze(-1) > 0, thr, torch.full_like(thr, _NEG_INF))
    t.masked_fill_(t < thr, _NEG_INF)
    return logits


def apply_min_p(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Keep tokens with probability >= ``min_p`` times the row's largest, in place (i.e.
    logit >= max + log(min_p))."""
    x, _ = _as_2d(logits)
    if not (isinstance(min_p, (int, float)) and 0 <= min_p <= 1):
        raise InvalidArgument(f"min_p must be in [0, 1], got {min_p!r}")
    if min_p == 0:
        return logits
    t = torch.as_tensor(x)
    mx = t.amax(dim=-1).double().cpu().numpy()
    thr = np.array([min_p_threshold(m, min_p) if np.isfinite(m) else -np.inf for m in mx],
                   dtype=np.float32)
    thr_t = torch.from_numpy(thr).to(t.device).unsqueeze(-1)
    if t.dtype == torch.float32:
        t.masked_fill_(t < thr_t, _NEG_INF)
    else:
        t.masked_fill_(t.float() < thr_t, _NEG_INF)
    return logits


def apply_params(logits: torch.Tensor, params: SamplingParams, *, bitmask: Any = None,
                 prev_ids: Sequence[Any] | None = None) -> torch.Tensor:
    """The whole pipeline in bytegram's order, in place: repetition penalty, temperature,
    mask, top-k, top-p, min-p. Greedy (temperature 0) skips the temperature and truncations
    (the argmax of the result is the greedy choice)."""
    if params.repetition_penalty is not None and prev_ids is not None:
        apply_repetition_penalty(logits, prev_ids, params.repetition_penalty)
    if not params.greedy and params.temperature != 1:
        apply_temperature(logits, params.temperature)
    if bitmask is not None:
        apply_bitmask(logits, bitmask)
    if params.greedy:
        return logits
    if params.top_k is not None:
        apply_top_k(logits, params.top_k)
    if params.top_p is not None:
        apply_top_p(logits, params.top_p)
    if params.min_p is not None:
        apply_min_p(logits, params.min_p)
    return logits
