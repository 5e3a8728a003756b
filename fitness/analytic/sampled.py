"""Event times known at sampled blocks, read between the samples (MODEL.md §12).

A layer's times of one op at its sampled blocks ``samp_c[so], samp_c[so + 1], ...`` sit at
``tv[o], tv[o + 1], ...`` (m samples). Between two samples the times are a line in the
block index: one event per block at the per-block slope. The walks take a pointer (the
sample at or below the previous query, 0 to start) that only moves forward, because their
callers' queries never decrease.
"""

from __future__ import annotations

import numba
import numpy as np

JIT = dict(cache=True, error_model="numpy", boundscheck=False)
NO_EVENT = 1e300  # the time of an event after the last block


@numba.njit(**JIT)
def slope(tv, samp_c, t, s):
    """Per-block slope of the sampled times tv after sample t (samp_c index s): computed where
    an event needs it (a fraction of the samples), not for every sample."""
    return (tv[t + 1] - tv[t]) / (samp_c[s + 1] - samp_c[s])


@numba.njit(inline="always", **JIT)
def last_at_or_below(a, o, m, x):
    """Index i of the last of the m ascending values a[o:o + m] with a[o + i] <= x (0 when
    none is): a layer's sample times, or its sampled blocks (whose body and tail spacings
    differ, so that the index is searched, not computed)."""
    lo, hi = 0, m - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[o + mid] <= x:
            lo = mid
        else:
            hi = mid - 1
    return lo


@numba.njit(**JIT)
def count_le(tv, samp_c, o, so, m, n_total, tau):
    """Blocks (1-based count) whose sampled-and-interpolated time is <= tau (tv from o, samp_c from so)."""
    if m == 0 or tv[o] > tau:
        return 0.0
    if tv[o + m - 1] <= tau:
        return float(n_total)
    lo = last_at_or_below(tv, o, m, tau)
    c_a = samp_c[so + lo]
    c_b = samp_c[so + lo + 1]
    f = (tau - tv[o + lo]) / (tv[o + lo + 1] - tv[o + lo])
    return float(c_a + int(f * (c_b - c_a)) + 1)


@numba.njit(**JIT)
def count_lt(tv, samp_c, o, so, m, n_total, s, ptr):
    """(blocks with interpolated time < s, updated pointer)."""
    if tv[o] >= s:
        return 0.0, ptr
    while ptr + 1 < m and tv[o + ptr + 1] < s:
        ptr += 1
    if ptr + 1 >= m:
        return float(n_total), ptr
    c_a = samp_c[so + ptr]
    c_b = samp_c[so + ptr + 1]
    t_a = tv[o + ptr]
    per_block = (tv[o + ptr + 1] - t_a) / (c_b - c_a)
    k = int(np.ceil((s - t_a) / per_block))  # blocks c_a .. c_a + k - 1 are before s
    return float(c_a + min(k, c_b - c_a)), ptr


@numba.njit(**JIT)
def next_event_after(tv, samp_c, o, so, m, t, ptr):
    """(time of the first event strictly after t, sampled or between samples; NO_EVENT after
    the last block, updated pointer). m must be > 0."""
    if tv[o] > t:
        return tv[o], ptr
    while ptr + 1 < m and tv[o + ptr + 1] <= t:
        ptr += 1
    if ptr + 1 >= m:
        return NO_EVENT, ptr
    t_a = tv[o + ptr]
    per_block = (tv[o + ptr + 1] - t_a) / (samp_c[so + ptr + 1] - samp_c[so + ptr])
    x = t - t_a
    # x < per_block: the quotient rounds below 1 and its floor is 0 (no division)
    return t_a + ((np.floor(x / per_block) if x >= per_block else 0.0) + 1.0) * per_block, ptr


@numba.njit(**JIT)
def last_event_at(tv, samp_c, o, so, m, t, ptr):
    """(time, block) of the last event at or before t, sampled or between samples ((-1.0, -1)
    if none yet), and the updated pointer. m must be > 0."""
    if tv[o] > t:
        return -1.0, -1, ptr
    while ptr + 1 < m and tv[o + ptr + 1] <= t:
        ptr += 1
    t_a = tv[o + ptr]
    c_a = samp_c[so + ptr]
    if ptr + 1 >= m:
        return t_a, c_a, ptr
    per_block = (tv[o + ptr + 1] - t_a) / (samp_c[so + ptr + 1] - samp_c[so + ptr])
    x = t - t_a
    if x < per_block:
        return t_a, c_a, ptr
    cb = c_a + int(x / per_block)
    return t_a + (cb - c_a) * per_block, cb, ptr
