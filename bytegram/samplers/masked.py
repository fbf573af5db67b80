"""``MaskedSampler``: compute the full token mask, apply the transforms, sample. Exact.

Per row: repetition penalty, temperature, ``fill_bitmask`` + ``apply_bitmask``, top-k, top-p,
min-p, then one categorical draw (cumulative sums + binary search over blocks, then within
one: no sort; top-k partitions, top-p narrows its cutoff by mass histograms and sorts one
bin; the truncations leave one threshold, and the draw skips the values below it). The
weight is exact: ``log Z = logsumexp(allowed) - logsumexp(all)`` of the penalized, tempered
logits (before truncation). Without a truncation both sums and the draw come from one set of
exponentials, the mask applied to them (``zero_forbidden``); when the allowed mass is too
small for float32 exponentials, they are computed in log space. Rows are processed on the
host in numpy (logits on a GPU are copied once); for a pipeline that stays on the GPU use
``apply_params`` and the batched transforms directly.

Without weights (``compute_weights=False``, as ``bytegram.generate`` samples) no logsumexp
is needed, nor a copy of the whole row: a sparse mask is applied by gathering its allowed
logits. Without a truncation the gathered values are drawn by one categorical; with a dense
mask, tokens are drawn from the raw row and checked against the mask until one is allowed
(``LazyCategorical.draw_allowed``: one max pass, a few candidates and a thinned envelope, as
the rejection sampler; no exp over the row and no masked copy), which gives way after a few
forbidden draws to the masked row. A dense mask is otherwise applied into a buffer in one
pass (``masked_copy``) and the row drawn exactly by ``LazyCategorical``; with a truncation,
the kept values are drawn (``truncated_index``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InvalidArgument
from ..masks.bitmask import unpack_ids
from .awrs_row import LazyCategorical
from .base import (NO_TOKEN, Sample, SamplingParams, check_matchers, check_top, make_rng,
                   normalize_prev_ids)
from .categorical import _block_sums, _draw_weights, _lse, categorical, truncated_index
from .sums import sum32
from .transforms import (_allowed_values, _as_2d, _host_numpy, _penalize_np,
                         apply_bitmask, masked_copy, zero_forbidden)
from .truncation import _top_p_near_top, min_p_threshold, top_k_ids

__all__ = ["MaskedSampler"]

_NEG_INF = float("-inf")


class MaskedSampler:
    """Exact constrained sampling with a full mask per step.

    Keyword options: ``temperature`` (0 = greedy), ``top_k``, ``top_p``, ``min_p``,
    ``repetition_penalty`` (see ``SamplingParams``), ``seed`` or ``generator`` (torch or
    numpy) for reproducibility, ``compute_weights`` (False skips the two logsumexps; the
    weight is then NaN). The caller's logits are never modified. Logits with NaN or +inf
    raise ``InvalidArgument`` (with a sparse mask, only the allowed tokens' are read).
    """

    _SPARSE_WORDS = 1024  # masks with this few nonzero words are expanded (plain paths)
    # with weights: an allowed mass below this (relative to the top token) is summed in log
    # space; here the largest allowed exponential is a normal float32 (>= 2**-60 / V)
    _TINY_MASS = 2.0 ** -60

    def __init__(self, *, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, min_p: float | None = None,
                 repetition_penalty: float | None = None, seed: int | None = None,
                 generator: Any = None, compute_weights: bool = True,
                 params: SamplingParams | None = None) -> None:
        if params is None:
            params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p,
                                    min_p=min_p, repetition_penalty=repetition_penalty)
        elif not isinstance(params, SamplingParams):
            raise InvalidArgument(f"params must be a SamplingParams, got {type(params).__name__}")
        self.params = params
        self.rng = make_rng(seed, generator)
        self.compute_weights = bool(compute_weights)
        self._buf: np.ndarray | None = None
        self._lazy = LazyCategorical(self.rng)  # (on masked, transformed rows)
        self._lazy_raw = LazyCategorical(self.rng, params)  # (on raw rows, with the mask)
        self._plain = not params.truncates and not params.greedy  # (params are frozen)
        self._row_buf: np.ndarray | None = None  # one row of scratch (the plain paths)

    def __repr__(self) -> str:
        return f"MaskedSampler({self.params})"

    # -- public API ----------------------------------------------------------------------

    def sample(self, logits: Any, matcher: Any, *, prev_ids: Any = None) -> Sample:
        """One token for one sequence. ``logits``: ``[V]`` or ``[1, V]``; ``prev_ids``: the
        sequence's previous token ids (for the repetition penalty)."""
        x, _ = _as_2d(logits)
        if x.shape[0] != 1:
            raise InvalidArgument(f"sample() takes one row of logits, got {x.shape[0]}; "
                                  f"use sample_batch()")
        prev = None if prev_ids is None else [prev_ids]
        if not self.compute_weights and not self.params.greedy:  # (as sample_batch)
            check_matchers([matcher], 1)
            return self._sample_lazy(x, [matcher], prev)[0]
        return self.sample_batch(x, [matcher], prev_ids=prev)[0]

    def sample_batch(self, logits: Any, matchers: Sequence[Any], *,
                     prev_ids: Sequence[Any] | None = None) -> list[Sample]:
        """One token per row of ``logits`` ``[batch, V]``, row ``i`` constrained by
        ``matchers[i]``. Matchers are not advanced: call ``accept`` yourself."""
        x, _ = _as_2d(logits)
        check_matchers(matchers, x.shape[0])
        if prev_ids is not None and len(prev_ids) != x.shape[0]:
            raise InvalidArgument(f"prev_ids has {len(prev_ids)} rows, logits {x.shape[0]}")
        if not self.compute_weights and not self.params.greedy:
            return self._sample_lazy(x, matchers, prev_ids)
        if self._plain:
            return self._sample_weighted(x, matchers, prev_ids)
        work = self._prepare(x, prev_ids)
        bitmask = self._fill(matchers, work.shape[0], work.shape[1])
        if not self.params.greedy:  # (a truncation, with the weight)
            return self._sample_truncated(work, bitmask)
        return self._sample_prepared(work, bitmask)

    def _sample_lazy(self, x: Any, matchers: Sequence[Any],
                     prev_ids: Sequence[Any] | None) -> list[Sample]:
        """No weight, not greedy, row by row. A sparse mask (at most ``_SPARSE_WORDS``
        nonzero words) is applied by gathering the allowed logits, its ids read off the mask.
        A dense one without a truncation: tokens drawn from the raw row until one is allowed
        (``draw_allowed``; exact, and cheap when the allowed mass is not small). Otherwise,
        or when that gives way, the row is masked into a buffer (one pass). The
        penalty and temperature act on the allowed values only: the same values as
        ``_prepare`` + ``apply_bitmask``, as -inf stays -inf under both transforms. Then
        the truncations, if any (``truncated_index``); else one categorical over the
        gathered values, or for a masked row ``LazyCategorical``: an exact draw without an
        exp over the row (``_draw_applied``)."""
        p = self.params
        host, bitmask, pens = self._start(x, matchers, prev_ids)
        buf = self._scratch(host.shape[1])[None]
        scale = p.temperature != 1
        penalty = p.repetition_penalty
        trunc = p.truncates
        out = []
        for i, pen in enumerate(pens):
            words = bitmask[i]
            if np.count_nonzero(words) <= self._SPARSE_WORDS:
                ids, vals = _allowed_values(host[i], words, pen, penalty, p.inv_temperature)
                if not len(vals):
                    k = -1
                elif trunc:
                    k = truncated_index(vals, p, self.rng)
                else:
                    k = categorical(vals, self.rng)
                out.append(Sample(int(ids[k]), math.nan, 0, False) if k >= 0
                           else Sample(NO_TOKEN, _NEG_INF, 0, False))
                continue
            if not trunc:
                tok = self._lazy_raw.draw_allowed(host[i], words, pen)
                if tok >= 0:
                    out.append(Sample(tok, math.nan, 0, False))
                    continue
            masked_copy(host[i:i + 1], bitmask[i:i + 1], buf)
            row = buf[0]
            if pen is not None:
                row[pen] = _penalize_np(row[pen], penalty)
            if scale:
                row *= p.inv_temperature
            if trunc:
                top = float(row.max())
                check_top(top)
                tok = NO_TOKEN if top == -math.inf else self._draw_truncated(row, top)
            else:
                tok = self._draw_applied(row, words, sparse=False)
            out.append(Sample(tok, math.nan if tok >= 0 else _NEG_INF, 0, False))
        return out

    def _sample_weighted(self, x: Any, matchers: Sequence[Any],
                         prev_ids: Sequence[Any] | None) -> list[Sample]:
        """With the exact weight, no truncation, row by row, from one set of exponentials:
        ``E = exp(s - max s)`` over the penalized, tempered row ``s`` (the float32 values of
        ``_prepare``) gives the total mass; the mask zeroes the forbidden entries of ``E``
        (``zero_forbidden``; a sparse mask gathers its allowed entries instead), and what is
        left gives the allowed mass and the draw (``_draw_weights``). This saves a second
        pass of exponentials and a masked copy of the logits. The sums over the row are
        float32 sums of 64 values, the strided columns that the draw's blocks are too
        (``_block_sums``), added in float64: relative errors of a few 1e-6 at worst, ~1e-8
        measured; float64 accumulation costs four times as much. When the allowed mass is
        below ``_TINY_MASS`` of the top token's weight (float32 exponentials would lose it),
        the row takes the log-space path (``_sample_prepared``)."""
        p = self.params
        host, bitmask, pens = self._start(x, matchers, prev_ids)
        v = host.shape[1]
        e = self._scratch(v)
        inv = p.inv_temperature
        scale = p.temperature != 1
        out = []
        for i, pen in enumerate(pens):
            row = host[i]
            s = row  # (read as it is when neither transform applies: one pass less)
            if scale or pen is not None:
                s = np.multiply(row, inv, out=e)  # (exact for inv == 1)
                if pen is not None:
                    s[pen] = _penalize_np(row[pen], p.repetition_penalty) * inv
            masses = self._masses(s, bitmask[i], e)
            if masses is None:
                out.append(Sample(NO_TOKEN, _NEG_INF, 0, False))
                continue
            total, allowed, ids, w, sums = masses
            if not allowed >= self._TINY_MASS:  # (0 too: nothing allowed, or underflow)
                prev = None if prev_ids is None else [prev_ids[i]]
                out.append(self._sample_prepared(self._prepare(host[i:i + 1], prev),
                                                 bitmask[i:i + 1])[0])
                continue
            j = _draw_weights(w, self.rng, sums)
            tok = int(ids[j]) if ids is not None else j
            out.append(Sample(tok, math.log(allowed) - math.log(total), 0, False))
        return out

    def _masses(self, s: np.ndarray, words: np.ndarray, e: np.ndarray
                ) -> tuple[float, float, np.ndarray | None, np.ndarray, np.ndarray | None] | None:
        """The masses of one penalized, tempered float32 row ``s`` under its mask ``words``,
        from one set of exponentials ``E = exp(s - max s)`` written into ``e`` (which may be
        ``s`` itself): ``(total, allowed, ids, w, sums)``, ``w`` the allowed weights (a
        sparse mask: gathered at its ``ids``; else ``E`` with the forbidden entries zeroed,
        ``ids`` None, ``sums`` its block sums for ``_draw_weights``). Sums are float32 column
        sums added in float64 (see ``_sample_weighted``). None when every value is -inf;
        NaN or +inf raise."""
        mx = float(s.max())
        check_top(mx)
        if mx == -math.inf:
            return None
        np.subtract(s, np.float32(mx), out=e)
        np.exp(e, out=e)
        total = sum32(e)
        if np.count_nonzero(words) <= self._SPARSE_WORDS:
            ids = unpack_ids(words, len(s))
            w = e[ids]
            return total, float(np.add.reduce(w, dtype=np.float64)), ids, w, None
        w = zero_forbidden(e, words)
        sums = _block_sums(w)  # (shared with the draw)
        return total, float(np.add.reduce(sums, dtype=np.float64)), None, w, sums

    def _draw_truncated(self, row: np.ndarray, top: float) -> int:
        """A token drawn from the truncated softmax of a masked row (float32: penalized,
        tempered, -inf where forbidden; ``top`` its maximum, finite), with a dense mask:
        the values a truncation may keep without gathering every allowed value when it can.
        Top-k: its few values read off the columns near the top (top-p and min-p then act
        within them); min-p alone: the values above its threshold; top-p (and min-p): the
        values above its cutoff when the values near the top certify it; else every allowed
        value. Then ``truncated_index`` over them, or one categorical over the kept ones."""
        p = self.params
        if p.top_k is None and p.top_p is not None:
            thr = _top_p_near_top(row, top, p.top_p)
            if thr is not None:
                if p.min_p is not None:
                    thr = max(thr, min_p_threshold(top, p.min_p))
                ids = np.flatnonzero(row >= thr)  # (the kept values, as truncated_index)
                return int(ids[categorical(row[ids], self.rng)])
        if p.top_k is not None:
            ids = top_k_ids(row, p.top_k)
        elif p.top_p is None:
            ids = np.flatnonzero(row >= min_p_threshold(top, p.min_p))
        else:
            ids = np.flatnonzero(row > -np.inf)
        return int(ids[truncated_index(row[ids], p, self.rng)])

    def _sample_truncated(self, work: np.ndarray, bitmask: np.ndarray) -> list[Sample]:
        """With the exact weight and a truncation, row by row on the prepared rows
        (``_prepare``): the weight from one set of exponentials, as ``_sample_weighted``
        (``E = exp(s - max s)`` gives the total mass, then the mask applied to ``E`` the
        allowed one: the weight is that of the untruncated distribution), the token from the
        masked row as the weightless path draws it (``_draw_truncated``; a sparse mask: a
        truncation over its gathered allowed values). Rows whose allowed mass is below
        ``_TINY_MASS`` of the top token's weight take the log-space path
        (``_sample_prepared``)."""
        p = self.params
        v = work.shape[1]
        e = self._scratch(v)
        out = []
        for i in range(work.shape[0]):
            s = work[i]
            masses = self._masses(s, bitmask[i], e)
            if masses is None:
                out.append(Sample(NO_TOKEN, _NEG_INF, 0, False))
                continue
            total, allowed, ids = masses[:3]
            if not allowed >= self._TINY_MASS:  # (0 too: nothing allowed, or underflow)
                out.append(self._sample_prepared(work[i:i + 1], bitmask[i:i + 1])[0])
                continue
            lw = math.log(allowed) - math.log(total)
            if ids is not None:
                vals = s[ids]
                fin = np.flatnonzero(vals > -np.inf)
                if len(fin) < len(vals):
                    ids, vals = ids[fin], vals[fin]
                tok = int(ids[truncated_index(vals, p, self.rng)])
            else:
                apply_bitmask(work[i:i + 1], bitmask[i:i + 1])
                tok = self._draw_truncated(s, float(s.max()))
            out.append(Sample(tok, lw, 0, False))
        return out

    def _start(self, x: Any, matchers: Sequence[Any], prev_ids: Sequence[Any] | None
               ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None]]:
        """The plain paths' inputs: the float32 host rows, their filled masks, and each
        row's penalized ids (``normalize_prev_ids``; None without a penalty)."""
        host = _host_numpy(x)
        batch, v = host.shape
        pens: list[np.ndarray | None] = [None] * batch
        if self.params.repetition_penalty is not None and prev_ids is not None:
            pens = [normalize_prev_ids(ids, vocab_size=v) for ids in prev_ids]
        return host, self._fill(matchers, batch, v), pens

    def _scratch(self, v: int) -> np.ndarray:
        """A float32 row of width ``v``, reused from call to call."""
        buf = self._row_buf
        if buf is None or buf.shape[0] != v:
            buf = self._row_buf = np.empty(v, dtype=np.float32)
        return buf

    # -- internals shared with the rejection sampler ---------------------------------------

    def _prepare(self, x: Any, prev_ids: Sequence[Any] | None) -> np.ndarray:
        """float32 numpy working copy ``[batch, V]`` with the penalty and temperature applied
        (the same float32 products as the rejection sampler). Logits on another device are
        copied to the host."""
        if isinstance(x, np.ndarray):
            work = np.array(x, dtype=np.float32, copy=True)
        else:
            work = x.detach().to(device="cpu", dtype=torch.float32).numpy().copy()
        if work.ndim == 1:
            work = work[None]
        p = self.params
        if p.repetition_penalty is not None and prev_ids is not None:
            v = work.shape[1]
            for r, ids in enumerate(prev_ids):
                ids = normalize_prev_ids(ids, vocab_size=v)
                if ids is not None:
                    work[r, ids] = _penalize_np(work[r, ids], p.repetition_penalty)
        if not p.greedy and p.temperature != 1:
            work *= p.inv_temperature
        return work

    def _fill(self, matchers: Sequence[Any], batch: int, width: int) -> np.ndarray:
        words = (width + 31) // 32
        for m in matchers:
            need = m.compiled.bitmask_width
            if need > words:
                words = need
        buf = self._buf
        if buf is None or buf.shape[0] < batch or buf.shape[1] != words:
            buf = np.zeros((batch, words), dtype=np.int32)
            self._buf = buf
        view = buf[:batch]
        for i, m in enumerate(matchers):
            m.fill_bitmask(view, i)
        return view

    def _sample_prepared(self, work: np.ndarray, bitmask: np.ndarray) -> list[Sample]:
        """Mask, truncate and draw, row by row, on the prepared float32 rows: greedy, or
        with the exact weight in log space, for the rows whose allowed mass
        ``_sample_weighted`` or ``_sample_truncated`` finds too small for float32
        exponentials (the weightless paths are ``_sample_lazy``'s)."""
        p = self.params
        if p.greedy:
            return self._greedy(work, bitmask)
        batch = work.shape[0]
        mx = work.max(axis=1)
        check_top(float(mx.max()))
        lse_all = [_lse(work[i], float(mx[i])) for i in range(batch)]
        apply_bitmask(work, bitmask)
        out = []
        for i in range(batch):
            row = work[i]
            if not p.truncates:  # the weight over the masked row, then an exact draw
                amx = float(row.max())
                if amx == -math.inf:
                    out.append(Sample(NO_TOKEN, _NEG_INF, 0, False))
                    continue
                lw = _lse(row, amx) - lse_all[i]
                out.append(Sample(self._draw_applied(row, bitmask[i]), lw, 0, False))
                continue
            fin = np.flatnonzero(row > -np.inf)
            if len(fin) == 0:
                out.append(Sample(NO_TOKEN, _NEG_INF, 0, False))
                continue
            vals = row[fin]
            lw = _lse(vals, float(vals.max())) - lse_all[i]
            tok = int(fin[truncated_index(vals, p, self.rng)])
            out.append(Sample(tok, lw, 0, False))
        return out

    def _draw_applied(self, row: np.ndarray, words: np.ndarray,
                      sparse: bool | None = None) -> int:
        """A token drawn exactly from softmax(row), a row with its mask ``words`` applied
        (-inf where forbidden); NO_TOKEN when nothing is finite. A sparse mask (``sparse``
        when the caller counted its words): one categorical over its allowed ids; else
        ``LazyCategorical`` (no exp over the row), or when it gives way the exponentials
        of the row, computed in place (the row is a working copy; forbidden entries give
        0), drawn by ``_draw_weights``."""
        v = row.shape[0]
        if sparse is None:
            sparse = np.count_nonzero(words) <= self._SPARSE_WORDS
        if sparse:
            ids = unpack_ids(words, v)
            k = categorical(row[ids], self.rng)
            return int(ids[k]) if k >= 0 else NO_TOKEN
        tok = self._lazy.draw(row)
        if tok >= 0:
            return tok
        mx = row.max()
        if not mx > -np.inf:
            return NO_TOKEN
        np.subtract(row, mx, out=row)
        np.exp(row, out=row)
        return _draw_weights(row, self.rng)

    def _greedy(self, work: np.ndarray, bitmask: np.ndarray) -> list[Sample]:
        mx = work.max(axis=1)
        check_top(float(mx.max()))
        ties = [np.flatnonzero(work[i] == mx[i]) if np.isfinite(mx[i]) else np.zeros(0, np.int64)
                for i in range(work.shape[0])]
        apply_bitmask(work, bitmask)
        out = []
        for i in range(work.shape[0]):
            row = work[i]
            tok = int(np.argmax(row))
            if row[tok] == -np.inf:
                out.append(Sample(NO_TOKEN, _NEG_INF, 0, False))
                continue
            t = ties[i]
            n_ok = int(np.count_nonzero(row[t] > -np.inf)) if len(t) else 0
            lw = math.log(n_ok / len(t)) if n_ok else _NEG_INF
            out.append(Sample(tok, lw, 0, False))
        return out
