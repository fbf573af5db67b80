"""Visit orders of the adaptive rejection sampler over a prepared row (``awrs_row._Row``).

``_Stream``: tokens in decreasing order of fresh Gumbel keys over the whole vocabulary,
the candidates by a blockwise partial sort of their keys, the tail by the thinned envelope
process, merged in the time domain (module ``awrs``). ``_Scan``: candidates in decreasing
value order for greedy and the truncations, checked one by one, certain down to the tail
bound.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .awrs_row import _Row

__all__: list[str] = []

_NEG_INF = float("-inf")


class _Stream:
    """Tokens in decreasing key order: candidates by a blockwise partial sort (blocks of 1,
    8, 64, 512, then all), the tail by the thinned envelope process (module docstring)."""

    __slots__ = ("ctx", "rng", "keys", "order", "pos", "blk", "t", "next_key", "buf_keys",
                 "buf_ids", "buf_keep", "buf_pos", "materialized", "proposals",
                 "max_proposals", "scalar")

    _BLOCKS = (1, 8, 64, 512)

    def __init__(self, ctx: _Row, rng: np.random.Generator, max_proposals: int) -> None:
        self.ctx = ctx
        self.rng = rng
        self.keys = ctx.s_rel - np.log(rng.standard_exponential(len(ctx.s_rel)))
        self.order: list[int] = []
        self.pos = 0
        self.blk = 0
        self.t = 0.0  # time exp(-key) of the last generated tail point
        self.next_key: float | None = None  # key of the pending (scalar) tail point
        self.buf_keys: list[float] = []
        self.buf_ids: list[int] = []
        self.buf_keep: list[bool] = []
        self.buf_pos = 0
        self.materialized: set[int] = set()
        self.proposals = 0
        self.max_proposals = max_proposals
        # tail points placed one at a time before vectorized blocks: none when the tail
        # outweighs the candidates (a flat row: many points come before any candidate)
        ctx.masses()
        self.scalar = 0 if ctx.env > 8.0 * ctx.W else 16

    def _extend(self) -> None:
        keys = self.keys
        n = len(keys)
        size = self._BLOCKS[self.blk] if self.blk < len(self._BLOCKS) else n
        self.blk += 1
        if size == 1:
            self.order = [int(np.argmax(keys))]
        elif size >= n:
            self.order = np.argsort(-keys).tolist()
        else:
            part = np.argpartition(-keys, size - 1)[:size]
            self.order = part[np.argsort(-keys[part])].tolist()

    def _tail(self, s_key: float) -> tuple[int, int] | None | bool:
        """The next tail token whose key exceeds ``s_key``; False when the candidate comes
        first; None when the tail budget is spent. Tail points come one at a time (placed
        only when reached), then, after 16 (at once on a flat row), in vectorized blocks."""
        ctx = self.ctx
        rng = self.rng
        while True:
            if self.buf_pos < len(self.buf_keys):  # block mode
                j = self.buf_pos
                if self.buf_keys[j] <= s_key:
                    return False
                self.buf_pos = j + 1
                self.proposals += 1
                if self.buf_keep[j]:
                    i = self.buf_ids[j]
                    if i not in self.materialized:
                        self.materialized.add(i)
                        return 1, i
                continue
            if self.next_key is None:
                if self.proposals >= self.max_proposals:
                    return None
                if self.proposals >= self.scalar:  # many points: a vectorized block
                    # (doubling: at most about twice the points needed)
                    k = min(max(32, self.proposals), 1 << 14)
                    times = self.t + np.cumsum(rng.standard_exponential(k)) / ctx.env
                    self.t = float(times[-1])
                    ids, keep = ctx.propose_many(rng, k)
                    self.buf_keys = (-np.log(times)).tolist()
                    self.buf_ids = ids.tolist()
                    self.buf_keep = keep.tolist()
                    self.buf_pos = 0
                    continue
                self.t += rng.standard_exponential() / ctx.env
                self.next_key = -math.log(self.t)
            if self.next_key <= s_key:
                return False
            self.next_key = None
            self.proposals += 1
            i = ctx.next_tail(rng)  # placed (and thinned) only when it is reached
            if i >= 0 and i not in self.materialized:
                self.materialized.add(i)
                return 1, i

    def next(self) -> tuple[int, int] | None:
        """(0, candidate position) or (1, tail token id); None when exhausted or the tail
        budget is spent."""
        if self.pos >= len(self.order) and len(self.order) < len(self.keys):
            self._extend()
        s_key = float(self.keys[self.order[self.pos]]) if self.pos < len(self.order) \
            else _NEG_INF
        if self.ctx.env > 0:
            got = self._tail(s_key)
            if got is not False:
                return got
        if s_key == _NEG_INF:
            return None
        self.pos += 1
        return 0, self.order[self.pos - 1]


class _Scan:
    """Candidates in decreasing value order (lowest id first on ties), checked one by one.
    The order is certain while values stay above the tail bound."""

    __slots__ = ("ctx", "order", "is_allowed", "verdict", "budget", "pos", "checks", "kept")

    def __init__(self, ctx: _Row, order: np.ndarray, is_allowed: Any, verdict: np.ndarray,
                 budget: int) -> None:
        self.ctx = ctx
        self.order = order
        self.is_allowed = is_allowed
        self.verdict = verdict
        self.budget = budget
        self.pos = 0
        self.checks = 0
        self.kept: list[int] = []  # candidate positions of allowed tokens, in order

    def next_value(self) -> float:
        return float(self.ctx.s_f32[self.order[self.pos]]) if self.pos < len(self.order) \
            else _NEG_INF

    def advance(self) -> int | None:
        """Check the next candidate; its position, or None when the order is no longer
        certain (the tail may interleave), the candidates are exhausted or the budget spent."""
        if self.pos >= len(self.order) or self.checks >= self.budget:
            return None
        i = int(self.order[self.pos])
        if self.ctx.s_f32[i] <= self.ctx.tau_abs:
            return None
        self.pos += 1
        v = self.verdict[i]
        if v < 0:
            v = bool(self.is_allowed(int(self.ctx.s_ids[i])))
            self.verdict[i] = v
            self.checks += 1
        if v:
            self.kept.append(i)
        return i

    def exhausted(self) -> bool:
        """Every token with nonzero mass has been scanned."""
        return self.pos >= len(self.order) and self.ctx.n_tail == 0

    def done_below(self, value: Any) -> bool:
        """Certain that every unscanned token's value is < ``value``."""
        return self.next_value() < value and (self.ctx.n_tail == 0
                                              or self.ctx.tau_abs < float(value))

    def take_ties(self, value: Any) -> bool:
        """Scan every candidate equal to ``value``; False if that cannot be done certainly."""
        while self.pos < len(self.order) and self.next_value() == value:
            if self.advance() is None:
                return False
        return True

    def scan_down_to(self, value: Any) -> bool:
        """Scan every token with value >= ``value``; False if not certain."""
        while self.pos < len(self.order) and self.next_value() >= value:
            if self.advance() is None:
                return False
        return self.done_below(value) or self.exhausted()
