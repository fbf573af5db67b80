"""Sums of nonnegative float32 values (exponentials of logits) with a stated error bound.

Shared by the draws (``categorical``), the exact weights (``masked``, ``awrs``) and the top-p
cutoff (``truncation``). A long vector is laid out as ``[rows, n // rows]`` plus a
remainder: numpy sums the columns in one vectorized pass over the rows (~14 us for 128k
float32 values here), where sums of consecutive blocks, along the contiguous axis, cost ~4x
more, numpy's pairwise sum of the whole vector ~1.5x more and a float64 accumulation ~3x
more.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ROWS", "MASS32_REL_ERR", "column_sums", "sum32"]

ROWS = 64  # rows of the column layout of ``sum32``: its columns are float32 sums of 64 terms
_PAIRWISE_MAX = 4096  # ``sum32``: vectors up to this long take numpy's pairwise sum

# A relative error bound, twice a worst case, for the total mass sum(exp(s - M)) of a row of
# float32 values s with maximum M computed as float32 differences, float32 exponentials and
# ``sum32``: an exponential is within ~4 ulps (2.4e-7); rounding s - M to float32 changes
# exp(s - M) by up to |s - M| * 2**-24, whose mass-weighted mean is at most ln(V) (~12 for
# 128k values: 7e-7); each float32 column sum of at most 64 nonnegative terms is within
# 63 * 2**-24 (3.8e-6) of the mass it adds up, and the float64 sum of the columns adds
# ~1e-12. Users: AWRS's certified top-p scan, the top-p cutoff's certified path.
MASS32_REL_ERR = 1e-5


def column_sums(w: np.ndarray, rows: int) -> np.ndarray:
    """float32 sums of the columns of the first ``rows * c`` values of ``w`` laid out as
    ``[rows, c]`` (``c = len(w) // rows``, at least 1; column ``j`` holds ``j, j + c,
    ...``), then of the remainder (fewer than ``rows`` values) as one last entry when there
    is one. Each is a float32 sum of at most ``rows`` terms, within ``rows - 1`` float32
    ulps of its exact value whatever the order of its additions."""
    c = len(w) // rows
    sums = np.add.reduce(w[: rows * c].reshape(rows, c), axis=0, dtype=np.float32)
    if len(w) > rows * c:
        sums = np.append(sums, np.add.reduce(w[rows * c:], dtype=np.float32))
    return sums


def sum32(e: np.ndarray) -> float:
    """The sum of nonnegative float32 values: float32 sums of at most ``ROWS`` terms each
    (``column_sums``; numpy's pairwise sum for short vectors, whose error is smaller),
    added in float64. Relative error below 63 float32 ulps (3.8e-6) at worst, ~1e-8
    typical."""
    if len(e) <= _PAIRWISE_MAX:
        return float(np.add.reduce(e))
    return float(np.add.reduce(column_sums(e, ROWS), dtype=np.float64))
