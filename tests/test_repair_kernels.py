"""The numba row kernels of repair equal the vectorized numpy definitions they replace.

The references below are the batch-vectorized forms repair used before the kernels (kept
here as the specification); inputs are random, including the edge cases each rule has
(all-max vectors that fit, counts that do or do not divide, partners that are later, self,
taken).
"""

from __future__ import annotations

import numpy as np
import pytest

from genomes.repair_kernels import rescale_rows, share_rows, snap_rows, top_up_rows

pytestmark = pytest.mark.property

MAX = 999
CANDIDATES = np.arange(1, MAX + 1, dtype=np.int64)


def ref_scaled(dup, f, dmax):
    return np.clip(np.floor(dup * f[:, None]), 1, dmax).astype(np.int64)


def ref_rescale(dup, dmax, sets, target, steps=64):
    f_lo = np.zeros(len(dup))
    f_hi = (dmax / dup).max(axis=1) + 1.0
    full = (ref_scaled(dup, f_hi, dmax) * sets).sum(axis=1) <= target
    for _ in range(steps):
        mid = 0.5 * (f_lo + f_hi)
        ok = (ref_scaled(dup, mid, dmax) * sets).sum(axis=1) <= target
        f_lo = np.where(ok, mid, f_lo)
        f_hi = np.where(ok, f_hi, mid)
    return ref_scaled(dup, np.where(full, f_hi, f_lo), dmax)


def ref_top_up(dup, dmax, sets, lo, hi):
    dup = dup.copy()
    rows = np.arange(len(dup))
    for _ in range(dup.shape[1] + 1):
        used = (dup * sets).sum(axis=1)
        fits = (dup < dmax) & (sets <= (hi - used)[:, None])
        active = (used < lo) & fits.any(axis=1)
        if not active.any():
            break
        l = np.argmax(np.where(fits, sets, -1), axis=1)
        s = sets[rows, l]
        want = np.ceil((lo - used) / s)
        room = np.floor((hi - used) / s)
        k = np.minimum(dmax[rows, l] - dup[rows, l], np.maximum(1, np.minimum(want, room))).astype(np.int64)
        dup[rows, l] += np.where(active, k, 0)
    return dup


def ref_snap(m, lim):
    out = m.copy()
    bad = (m < 1) | (m > MAX) | (lim % np.maximum(m, 1) != 0)
    for i in range(m.shape[1]):
        b = np.flatnonzero(bad[:, i])
        if len(b):
            mask = (lim[b, i][:, None] % CANDIDATES[None, :]) == 0
            dist = np.where(mask, np.abs(CANDIDATES[None, :] - m[b, i, None]), MAX + 1)
            out[b, i] = CANDIDATES[np.argmin(dist, axis=1)]
    return out


def ref_share(share, m, lim):
    share = share.copy()
    n = share.shape[1]
    rows = np.arange(len(share))
    taken = np.zeros(share.shape, dtype=bool)
    for i in range(n):
        p = share[:, i]
        pc = np.clip(p, 0, n - 1)
        fit = m[:, i] + m[rows, pc] <= np.minimum(lim[:, i], lim[rows, pc])
        ok = (p >= 0) & (p < i) & (share[rows, pc] == -1) & ~taken[rows, pc] & fit
        share[:, i] = np.where(ok, p, -1)
        taken[rows[ok], pc[ok]] = True
    return share


@pytest.mark.parametrize("seed", range(6))
def test_rescale_and_top_up_equal_the_vectorized_rules(seed):
    rng = np.random.default_rng(seed)
    b, n = 300, int(rng.integers(1, 14))
    sets = rng.integers(1, 40, size=(b, n))
    dmax = rng.integers(1, 3000, size=(b, n))
    dup = np.minimum(rng.integers(1, 4000, size=(b, n)), dmax) if seed % 2 else rng.integers(1, 50, size=(b, n))
    # targets from below the all-ones use to above the all-max use (the all-max vector fits)
    lo_use, hi_use = sets.sum(axis=1), (dmax * sets).sum(axis=1)
    target = (lo_use + rng.uniform(-0.1, 1.2, size=b) * (hi_use - lo_use)).astype(np.int64)
    got = rescale_rows(dup, dmax, sets, target, 64)
    assert np.array_equal(got, ref_rescale(dup, dmax, sets, target))
    mean = sets.mean(axis=1)
    lo, hi = target - mean, target + mean
    assert np.array_equal(top_up_rows(got, dmax, sets, lo, hi), ref_top_up(got, dmax, sets, lo, hi))


@pytest.mark.parametrize("seed", range(4))
def test_snap_equals_the_vectorized_rule(seed):
    rng = np.random.default_rng(seed)
    lim = rng.integers(1, 5000, size=(400, 7)) * rng.integers(1, 4, size=(400, 7))
    m = rng.integers(1, MAX + 1, size=(400, 7))  # repair clips the counts into 1..999 first
    m[::5] = np.minimum(lim[::5] // 2 + 1, MAX)  # next to the divisor lim / 2
    m[::3] = np.minimum(lim[::3] // 3, MAX).clip(1)  # often a divisor
    m[::7] = np.minimum(lim[::7], MAX)
    assert np.array_equal(snap_rows(m, lim, MAX), ref_snap(m, lim))


@pytest.mark.parametrize("seed", range(4))
def test_share_equals_the_vectorized_rule(seed):
    rng = np.random.default_rng(seed)
    b, n = 500, int(rng.integers(2, 25))
    share = rng.integers(-3, n + 2, size=(b, n))
    share[rng.uniform(size=(b, n)) < 0.5] = -1
    m = rng.integers(1, 30, size=(b, n))
    lim = rng.integers(1, 60, size=(b, n))
    assert np.array_equal(share_rows(share, m, lim), ref_share(share, m, lim))


@pytest.mark.parametrize("seed", range(3))
def test_neighbour_counts_equal_the_divisor_scan(seed):
    from genomes.repair_kernels import neighbour_counts

    rng = np.random.default_rng(seed)
    lim = rng.integers(1, 3000, size=600) * rng.integers(1, 5, size=600)
    m = np.minimum(rng.integers(1, MAX + 1, size=600), np.maximum(lim, 1))
    m[::4] = 1
    m[1::4] = MAX
    up, down = neighbour_counts(lim, m, MAX)
    mask = (lim[:, None] % CANDIDATES[None, :]) == 0
    c = CANDIDATES[None, :]
    ref_up = np.where(mask & (c > m[:, None]), c, MAX + 1).min(axis=1)
    ref_down = np.where(mask & (c < m[:, None]), c, 0).max(axis=1)
    assert np.array_equal(up, ref_up) and np.array_equal(down, ref_down)
