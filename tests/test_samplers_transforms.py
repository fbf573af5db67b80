"""Logits transforms and apply_bitmask against slow, obvious references.

apply_bitmask is compared with ``reference_apply_bitmask`` (unpack every bit in Python, then
``torch.where``) on random masks of every density, for every method, numpy and torch inputs,
several float dtypes, and logits wider or narrower than the mask. The batched top-k / top-p /
min-p transforms and their numpy twin ``truncate_values`` are compared with sort-based
references, with ties and -inf entries.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bytegram.errors import InvalidArgument
from bytegram.samplers import (SamplingParams, apply_bitmask, apply_min_p, apply_params,
                               apply_repetition_penalty, apply_temperature, apply_top_k,
                               apply_top_p)
from bytegram.samplers.transforms import (masked_copy, reference_apply_bitmask,
                                          zero_forbidden)
from bytegram.samplers.truncation import truncate_values
from test_samplers import reference_distribution

NEG = float("-inf")


def random_bitmask(rng: np.random.Generator, batch: int, words: int, density: float) -> np.ndarray:
    bits = rng.random((batch, words * 32)) < density
    return np.packbits(bits, axis=-1, bitorder="little").view(np.int32).copy()


@settings(max_examples=250, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.integers(1, 3), v=st.integers(1, 170), extra_words=st.integers(-2, 2),
       density=st.sampled_from([0.0, 0.001, 0.03, 0.3, 0.5, 0.7, 0.97, 0.999, 1.0]),
       method=st.sampled_from(["auto", "forbidden", "allowed", "unpack"]),
       backend=st.sampled_from(["torch", "numpy", "torch-bitmask-numpy"]),
       dtype=st.sampled_from(["float32", "float64", "float16", "bfloat16"]),
       seed=st.integers(0, 2**31))
def test_apply_bitmask_matches_reference(batch, v, extra_words, density, method, backend,
                                         dtype, seed):
    rng = np.random.default_rng(seed)
    words = max(0, (v + 31) // 32 + extra_words)
    bm = random_bitmask(rng, batch, words, density)
    base = torch.tensor(rng.standard_normal((batch, v)) * 3, dtype=torch.float32)
    base[0, 0] = NEG  # an entry that is -inf already
    tdtype = getattr(torch, dtype)
    if backend == "numpy" and dtype == "bfloat16":
        tdtype = torch.float32
    logits = base.to(tdtype)
    want = reference_apply_bitmask(logits, bm)
    if backend == "numpy":
        arr = logits.numpy().copy()
        out = apply_bitmask(arr, bm, method=method)
        assert out is arr
        got = torch.from_numpy(arr)
    else:
        got = logits.clone()
        mask = bm if backend == "torch-bitmask-numpy" else torch.from_numpy(bm)
        assert apply_bitmask(got, mask, method=method) is got
    assert got.dtype == want.dtype
    assert torch.equal(torch.isinf(got) & (got < 0), torch.isinf(want) & (want < 0))
    fin = torch.isfinite(want)
    assert torch.equal(got[fin], want[fin])


@settings(max_examples=150, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.integers(1, 3), v=st.integers(1, 170), extra_words=st.integers(-2, 2),
       density=st.sampled_from([0.0, 0.001, 0.03, 0.3, 0.7, 0.97, 0.999, 1.0]),
       seed=st.integers(0, 2**31))
def test_masked_copy_matches_reference(batch, v, extra_words, density, seed):
    """masked_copy writes the masked logits into ``out`` and leaves ``src`` as it was."""
    rng = np.random.default_rng(seed)
    words = max(0, (v + 31) // 32 + extra_words)
    bm = random_bitmask(rng, batch, words, density)
    src = (rng.standard_normal((batch, v)) * 3).astype(np.float32)
    src[0, 0] = NEG
    keep = src.copy()
    out = np.full((batch, v), 7.0, dtype=np.float32)
    assert masked_copy(src, bm, out) is out
    want = reference_apply_bitmask(torch.from_numpy(src.copy()), bm).numpy()
    assert np.array_equal(out, want) and np.array_equal(src, keep)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(v=st.integers(1, 170), extra_words=st.integers(-2, 2),
       density=st.sampled_from([0.0, 0.03, 0.5, 0.97, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31))
def test_zero_forbidden_matches_reference(v, extra_words, density, dtype, seed):
    """zero_forbidden zeroes exactly the weights that the reference mask sets to -inf (and
    those past the mask), in place, and leaves the others bit for bit."""
    rng = np.random.default_rng(seed)
    words = max(0, (v + 31) // 32 + extra_words)
    bm = random_bitmask(rng, 1, words, density)
    w = rng.random(v).astype(dtype)
    keep = w.copy()
    assert zero_forbidden(w, bm[0]) is w
    ok = torch.isfinite(reference_apply_bitmask(torch.zeros(1, v), bm)[0]).numpy()
    assert np.array_equal(w, np.where(ok, keep, 0))


@pytest.mark.parametrize("density", [0.0, 1e-4, 0.02, 0.5, 0.98, 0.9999, 1.0])
def test_apply_bitmask_large_vocab_all_methods(density):
    """128,256 + 128 padding columns; every method equals a vectorized unpack reference."""
    rng = np.random.default_rng(int(density * 1e4))
    v_tok, v = 128_256, 128_384
    bm = random_bitmask(rng, 2, (v_tok + 31) // 32, density)
    logits = torch.tensor(rng.standard_normal((2, v)), dtype=torch.float32)
    bits = np.unpackbits(bm.view(np.uint8), axis=-1, bitorder="little").astype(bool)
    allowed = np.zeros((2, v), dtype=bool)
    allowed[:, : min(v, bits.shape[1])] = bits[:, :v]
    want = torch.where(torch.from_numpy(allowed), logits, torch.tensor(NEG))
    for method in ("auto", "forbidden", "allowed", "unpack"):
        got = apply_bitmask(logits.clone(), bm, method=method)
        assert torch.equal(got, want), method
    got = apply_bitmask(logits[0].clone(), bm[0])  # 1-D row and mask
    assert torch.equal(got, want[0])


def test_apply_bitmask_errors():
    with pytest.raises(InvalidArgument):
        apply_bitmask(torch.zeros(2, 64), np.zeros((3, 2), np.int32))
    with pytest.raises(InvalidArgument):
        apply_bitmask(torch.zeros(2, 64), np.zeros((2, 2), np.int64))
    with pytest.raises(InvalidArgument):
        apply_bitmask(torch.zeros(2, 64, dtype=torch.int32), np.zeros((2, 2), np.int32))
    with pytest.raises(InvalidArgument):
        apply_bitmask(torch.zeros(2, 64), [[0, 0]])
    with pytest.raises(InvalidArgument):
        apply_bitmask(torch.zeros(2, 64), np.zeros((2, 2), np.int32), method="fast")


# ---------------------------------------------------------------------------------------
# truncations


def ref_keep(row: np.ndarray, *, k=None, p=None, q=None) -> np.ndarray:
    """Sort-based reference of top-k, then top-p, then min-p over the finite entries."""
    keep = np.isfinite(row)
    vals = row[keep].astype(np.float64)
    if k is not None and k < len(vals):
        keep &= row >= np.sort(vals)[::-1][k - 1]
    if p is not None and keep.any():
        kv = np.sort(row[keep].astype(np.float64))[::-1]
        c = np.cumsum(np.exp(kv - kv[0]))
        c /= c[-1]
        j = int(np.argmax(c >= p)) if (c >= p).any() else len(kv) - 1
        keep &= row >= kv[j]
    if q is not None and keep.any():
        keep &= row.astype(np.float64) >= row[keep].max() + math.log(q)
    return keep


@settings(max_examples=150, derandomize=True, deadline=None)
@given(v=st.integers(1, 60), k=st.one_of(st.none(), st.integers(1, 70)),
       p=st.one_of(st.none(), st.floats(0.05, 0.999)),
       q=st.one_of(st.none(), st.floats(0.001, 1.0)), grid=st.booleans(),
       n_inf=st.integers(0, 10), seed=st.integers(0, 2**31))
def test_truncations_match_reference(v, k, p, q, grid, n_inf, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, v)).astype(np.float32) * 2
    if grid:  # many exact ties
        x = np.round(x).astype(np.float32)
    x[0, rng.choice(v, min(n_inf, v - 1), replace=False)] = NEG
    for r in range(2):
        want = ref_keep(x[r], k=k, p=p, q=q)
        vals_idx = np.flatnonzero(np.isfinite(x[r]))
        got_np = np.zeros(v, dtype=bool)
        got_np[vals_idx[truncate_values(x[r][vals_idx],
                                        SamplingParams(top_k=k, top_p=p, min_p=q))]] = True
        assert np.array_equal(got_np, want)
    t = torch.from_numpy(x.copy())
    if k is not None:
        apply_top_k(t, k)
    if p is not None:
        apply_top_p(t, p)
    if q is not None:
        apply_min_p(t, q)
    for r in range(2):
        assert np.array_equal(torch.isfinite(t[r]).numpy(), ref_keep(x[r], k=k, p=p, q=q))
        kept = torch.isfinite(t[r])
        assert torch.equal(t[r][kept], torch.from_numpy(x[r])[kept])


def sorted_top_p_cut(x: np.ndarray, p: float) -> float:
    """The top-p cutoff the obvious way: sort descending, float64 running mass."""
    kv = np.sort(x.astype(np.float64))[::-1]
    c = np.cumsum(np.exp(kv - kv[0]))
    return float(kv[min(int(np.count_nonzero(c < p * c[-1])), len(kv) - 1)])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(n=st.integers(1, 400),
       kind=st.sampled_from(["normal", "grid", "peaked", "equal", "neginf"]),
       p=st.floats(0.01, 0.999), sort_max=st.sampled_from([4, 16, 64]),
       bins=st.sampled_from([2, 4, 16, 256]), chunk=st.sampled_from([5, 64, 16384]),
       windows=st.sampled_from([(12.0, 6.0), (50.0, 3.0, 1.0, 0.25), ()]),
       rel_err=st.sampled_from([1e-5, 0.2]), seed=st.integers(0, 2**31))
def test_top_p_threshold_matches_sorted(n, kind, p, sort_max, bins, chunk, windows, rel_err,
                                        seed):
    """top_p_threshold (the values near the top alone, or mass histograms, then a sort of
    one bin) gives the sorted cutoff; small thresholds force several rounds, the sort of a
    bin holding most values, and regions of one repeated value; windows from wide to very
    narrow (or none: the histograms alone), and a total's error bound so loose that the
    near-top path can rarely certify its cut; -inf entries (never kept)."""
    from bytegram.samplers import truncation as tr

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 2).astype(np.float32)
    if kind == "grid":  # many exact ties
        x = np.round(x).astype(np.float32)
    elif kind == "peaked":
        x[: max(1, n // 50)] += 12
    elif kind == "equal":
        x[: n // 2] = x[0]
    elif kind == "neginf":
        x[1:][rng.random(n - 1) < 0.4] = -np.inf
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tr, "_TOP_P_SORT", sort_max)
        mp.setattr(tr, "_TOP_P_BINS", bins)
        mp.setattr(tr, "_TOP_P_CHUNK", chunk)
        mp.setattr(tr, "_TOP_P_WINDOWS", windows)
        mp.setattr(tr, "MASS32_REL_ERR", rel_err)
        assert float(tr.top_p_threshold(x, p)) == sorted_top_p_cut(x, p)


def test_top_p_near_top_certifies_peaked_rows():
    """On vocabulary-sized rows whose top holds the mass (a few values far above the rest,
    with -inf entries), the near-top path alone gives the sorted cutoff (no histograms),
    at every p; on a flat row it declines (too many values near the top)."""
    from bytegram.samplers import truncation as tr

    rng = np.random.default_rng(8)
    x = (rng.standard_normal(128_256) * 2).astype(np.float32)
    x[rng.random(len(x)) < 0.3] = -np.inf
    x[rng.choice(len(x), 40, replace=False)] += rng.uniform(16, 22, 40).astype(np.float32)
    mx = float(x.max())
    for p in (0.1, 0.5, 0.9, 0.95, 0.99):
        got = tr._top_p_near_top(x, mx, p)
        assert got is not None and float(got) == sorted_top_p_cut(x, p), p
    flat = (rng.standard_normal(128_256) * 0.5).astype(np.float32)
    assert tr._top_p_near_top(flat, float(flat.max()), 0.9) is None


def test_top_p_threshold_large_rows():
    """Vocabulary-sized rows with the default thresholds: flat, on a grid, peaked with -inf
    entries."""
    from bytegram.samplers.truncation import top_p_threshold

    rng = np.random.default_rng(5)
    for n, scale, grid in ((128_256, 1.0, False), (60_000, 3.0, False), (50_000, 1.0, True),
                           (128_256, 3.0, None)):
        x = (rng.standard_normal(n) * scale).astype(np.float32)
        if grid:
            x = np.round(x * 4).astype(np.float32)
        elif grid is None:  # peaked, with -inf entries (a masked row)
            x[: 30] += 10
            x[rng.random(n) < 0.5] = -np.inf
        for p in (0.3, 0.9, 0.99):
            assert float(top_p_threshold(x, p)) == sorted_top_p_cut(x, p)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(n=st.integers(2, 3000), k=st.integers(1, 40), kind=st.sampled_from(
           ["normal", "grid", "peaked", "equal", "neginf", "last"]), rows=st.integers(1, 8),
       seed=st.integers(0, 2**31))
def test_top_k_threshold_matches_sorted(n, k, kind, rows, seed):
    """top_k_threshold (column maxima, then a selection among the columns that may hold the
    top k) gives the k-th largest value: small layouts forced (1-8 rows), ties, a remainder
    past the columns (holding the largest values: "last"), -inf entries."""
    from bytegram.samplers import truncation as tr

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 2).astype(np.float32)
    if kind == "grid":  # many exact ties
        x = np.round(x).astype(np.float32)
    elif kind == "peaked":
        x[rng.integers(0, n, max(1, n // 50))] += 12
    elif kind == "equal":
        x[: n // 2] = x[0]
    elif kind == "neginf":
        x[rng.random(n) < 0.7] = -np.inf
    elif kind == "last":  # the largest values at the end (in the remainder past the columns)
        x[-max(1, n // 40):] += 12
    k = min(k, n - 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tr, "_TOP_K_ROWS", rows)
        assert tr.top_k_threshold(x, k) == np.sort(x)[n - k]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(n=st.integers(1, 2000), k=st.integers(1, 60), neginf=st.floats(0.0, 0.99),
       rows=st.integers(1, 8), seed=st.integers(0, 2**31))
def test_top_k_ids_match_definition(n, k, neginf, rows, seed):
    """top_k_ids: the finite values at or above the k-th largest (every finite one when
    fewer than k are), ascending, on rows with many -inf entries, ties and the largest
    values in the remainder, small layouts forced."""
    from bytegram.samplers import truncation as tr

    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(n) * 2).astype(np.float32)
    x[-max(1, n // 40):] += 6
    x[rng.random(n) < neginf] = -np.inf
    finite = np.flatnonzero(x > -np.inf)
    if k >= len(finite):
        want = finite
    else:
        want = np.flatnonzero(x >= np.sort(x[finite])[len(finite) - k])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tr, "_TOP_K_ROWS", rows)
        assert np.array_equal(tr.top_k_ids(x, k), want)


def test_top_k_threshold_large_rows():
    """Vocabulary-sized rows with the default layout (the column path for small k, one
    selection for large k), with and without a remainder, flat, peaked, on a grid."""
    from bytegram.samplers.truncation import top_k_threshold

    rng = np.random.default_rng(6)
    for n, scale, grid in ((128_256, 1.0, False), (50_257, 3.0, True), (100_003, 2.0, False)):
        x = (rng.standard_normal(n) * scale).astype(np.float32)
        if grid:
            x = np.round(x * 4).astype(np.float32)
        x[-3:] += 20  # (past the columns when 64 does not divide n)
        srt = np.sort(x)
        for k in (1, 2, 50, 199, 1000, 5000):
            assert top_k_threshold(x, k) == srt[n - k], (n, k)


def test_temperature_and_penalty_are_float32_products():
    """apply_temperature / apply_repetition_penalty equal the numpy float32 products that the
    rejection sampler computes (bit for bit), and the penalty follows the HF rule."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 500)).astype(np.float32) * 5
    for t in (0.3, 0.7, 1.3, 2.9):
        got = apply_temperature(torch.from_numpy(x.copy()), t).numpy()
        assert np.array_equal(got, x * np.float32(1.0 / t))
    prev = [[1, 2, 2, 499], [], [0, 7, 1000]]
    got = apply_repetition_penalty(torch.from_numpy(x.copy()), prev, 1.7).numpy()
    want = x.copy()
    for r, ids in enumerate(prev):
        for i in set(ids):
            if i < 500:
                want[r, i] = x[r, i] * np.float32(1.7) if x[r, i] < 0 else \
                    x[r, i] * np.float32(1 / 1.7)
                assert (want[r, i] < x[r, i]) or x[r, i] == 0
    assert np.array_equal(got, want)
    got_np = x.copy()
    apply_repetition_penalty(got_np, prev, 1.7)
    assert np.array_equal(got_np, want)
    with pytest.raises(InvalidArgument):
        apply_temperature(torch.zeros(3), 0.0)
    with pytest.raises(InvalidArgument):
        apply_repetition_penalty(torch.zeros(2, 3), [[1]], 1.2)


def test_apply_params_is_the_masked_distribution():
    """The batched pipeline (penalty, temperature, mask, top-k, top-p, min-p) followed by a
    softmax equals the reference distribution of the samplers' tests."""
    rng = np.random.default_rng(1)
    v = 300
    allowed = np.sort(rng.choice(v, 40, replace=False))
    bm = np.zeros((1, (v + 31) // 32), dtype=np.int32)
    bits = np.zeros(bm.shape[1] * 32, dtype=bool)
    bits[allowed] = True
    bm[0] = np.packbits(bits, bitorder="little").view(np.int32)
    x = (rng.standard_normal(v) * 2).astype(np.float32)
    prev = [int(allowed[0]), int(allowed[1]), 5]
    for kw in (dict(), dict(temperature=0.5, top_k=7), dict(top_p=0.8, repetition_penalty=1.4),
               dict(min_p=0.1, temperature=1.5), dict(top_k=10, top_p=0.9, min_p=0.05)):
        params = SamplingParams(**kw)
        t = torch.from_numpy(x.copy())[None]
        apply_params(t, params, bitmask=bm, prev_ids=[prev])
        got = torch.softmax(t[0].double(), 0).numpy()
        want = reference_distribution(x, allowed, params, prev)
        assert np.allclose(got, want, atol=1e-12), kw
