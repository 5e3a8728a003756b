"""Row loops of :mod:`genomes.repair`, compiled with numba.

The GA repairs small batches (a population's children, several times per generation), where
numpy's per-call overhead, not the arithmetic, sets the cost: a vectorized stage that loops
over layers or bisection steps pays tens of microseconds per numpy call whatever the batch.
These kernels do the same arithmetic row by row (same float expressions, same tie rules) as
the vectorized forms repair used before them; tests/test_repair_kernels.py keeps those forms
and compares both on random matrices.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = dict(cache=True, error_model="numpy", boundscheck=False)


@numba.njit(inline="always", **_JIT)
def _scaled(d, f, d_max):
    """clip(floor(d * f), 1, d_max) of one layer."""
    v = math.floor(d * f)
    if v < 1.0:
        v = 1.0
    if v > d_max:
        v = float(d_max)
    return np.int64(v)


@numba.njit(inline="always", **_JIT)
def _scaled_used(dup, f, dmax, sets, b):
    """Crossbars of row b after clip(floor(dup * f), 1, dmax)."""
    used = 0
    for l in range(dup.shape[1]):
        used += _scaled(dup[b, l], f, dmax[b, l]) * sets[b, l]
    return used


@numba.njit(**_JIT)
def rescale_rows(dup, dmax, sets, target, steps):
    """clip(floor(dup * f), 1, dmax) per row with the largest f (bisection, ``steps`` halvings)
    whose crossbars stay <= target[row]; rows whose all-max vector fits take it."""
    nb, nl = dup.shape
    out = np.empty((nb, nl), dtype=np.int64)
    for b in range(nb):
        f_hi = 0.0
        for l in range(nl):
            r = dmax[b, l] / dup[b, l]
            if l == 0 or r > f_hi:
                f_hi = r
        f_hi += 1.0
        f_lo = 0.0
        full = _scaled_used(dup, f_hi, dmax, sets, b) <= target[b]
        for _ in range(steps):
            mid = 0.5 * (f_lo + f_hi)
            if _scaled_used(dup, mid, dmax, sets, b) <= target[b]:
                f_lo = mid
            else:
                f_hi = mid
        f = f_hi if full else f_lo
        for l in range(nl):
            out[b, l] = _scaled(dup[b, l], f, dmax[b, l])
    return out


@numba.njit(**_JIT)
def top_up_rows(dup, dmax, sets, lo, hi):
    """Per row, add copies until U >= lo without passing hi: each round the layer with the
    largest set that still fits (first such layer on ties) takes as many copies as reach lo,
    or as fit; at most n_conv + 1 rounds (see ``repair._top_up``)."""
    nb, nl = dup.shape
    out = dup.copy()
    for b in range(nb):
        for _ in range(nl + 1):
            used = 0
            for l in range(nl):
                used += out[b, l] * sets[b, l]
            if not used < lo[b]:
                break
            room_w = hi[b] - used
            best = -1
            for l in range(nl):
                if out[b, l] < dmax[b, l] and sets[b, l] <= room_w and (best < 0 or sets[b, l] > sets[b, best]):
                    best = l
            if best < 0:
                break
            s = sets[b, best]
            want = math.ceil((lo[b] - used) / s)
            room = math.floor((hi[b] - used) / s)
            k = max(1.0, min(want, room))
            k = min(float(dmax[b, best] - out[b, best]), k)
            out[b, best] += np.int64(k)
    return out


@numba.njit(**_JIT)
def snap_rows(m, lim, max_count):
    """Each own count to the nearest divisor of its limit in 1..max_count (ties: the smaller);
    counts that already divide their limit stay."""
    nb, nl = m.shape
    out = m.copy()
    for b in range(nb):
        for i in range(nl):
            v = m[b, i]
            if 1 <= v <= max_count and lim[b, i] % v == 0:
                continue
            best_c = 1
            best_d = max_count + 1
            for c in range(1, max_count + 1):
                if lim[b, i] % c == 0:
                    d = abs(c - v)
                    if d < best_d:
                        best_d = d
                        best_c = c
            out[b, i] = best_c
    return out


@numba.njit(**_JIT)
def share_rows(share, m, lim):
    """Partners per row obeying rule (b), in gene order: a partner stays if it is an earlier
    layer, itself unshared, not yet paired, and m_i + m_p <= min(lim_i, lim_p)."""
    nb, nl = share.shape
    out = share.copy()
    taken = np.zeros(nl, dtype=np.bool_)
    for b in range(nb):
        taken[:] = False
        for i in range(nl):
            p = out[b, i]
            ok = False
            if 0 <= p < i and out[b, p] == -1 and not taken[p]:
                ok = m[b, i] + m[b, p] <= min(lim[b, i], lim[b, p])
            if ok:
                taken[p] = True
            else:
                out[b, i] = -1
    return out


@numba.njit(**_JIT)
def neighbour_counts(lim, m, max_count):
    """Per element, the next larger and the next smaller count in 1..max_count that divides
    its limit (``max_count + 1`` above, 0 below where there is none): the specified macro
    counts a macro move steps to."""
    n = lim.shape[0]
    up = np.empty(n, dtype=np.int64)
    down = np.zeros(n, dtype=np.int64)
    for i in range(n):
        up[i] = max_count + 1
        for c in range(m[i] + 1, max_count + 1):
            if lim[i] % c == 0:
                up[i] = c
                break
        for c in range(min(m[i] - 1, max_count), 0, -1):
            if lim[i] % c == 0:
                down[i] = c
                break
    return up, down
