"""Snake placement and NoC hop counts in closed form (MODEL.md §7.1, §7.2), over [B, L].

Macro s of the snake sits at row s // cols, column s % cols on even rows and
cols - 1 - s % cols on odd rows. An unshared MVM layer owns a contiguous run of snake
indices (merge point: its last cell); a shared layer uses its partner's run (merge point:
its first cell); POOL/ELTWISE sit in provider[0]'s merge cell. The largest Manhattan
distance from a point to a run is attained at one of eight candidate cells (the run's
ends, the ends of its first and last row segments, and the corners of the fully covered
rows), so hops are a fixed number of array operations per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from fitness.arrays import i64
from fitness.layout import LAYOUT_NO_MACROS, LAYOUT_NO_PROVIDER, LAYOUT_OK, LAYOUT_PARTNER_NOT_PLACED
from fitness.network import CONV, FC, Network


@dataclass(frozen=True)
class Hops:
    status: np.ndarray  # int[B]: LAYOUT_* code
    transfer: np.ndarray  # int[B, L]
    merge: np.ndarray  # int[B, L]
    run_start: np.ndarray  # int[B, L] first snake index of the layer's macro list (-1: POOL/ELTWISE)
    run_len: np.ndarray  # int[B, L]
    merge_row: np.ndarray  # int[B, L]
    merge_col: np.ndarray  # int[B, L]


def snake_cell(s, cols):
    row = s // cols
    off = s - row * cols
    col = np.where(row % 2 == 0, off, cols - 1 - off)
    return row, col


def max_distance_to_run(pr, pc, start, length, cols):
    """Largest |r - pr| + |c - pc| over the cells of snake run [start, start + length)."""
    end = start + length - 1
    ra, ca = snake_cell(start, cols)
    rb, cb = snake_cell(end, cols)
    best = np.maximum(np.abs(ra - pr) + np.abs(ca - pc), np.abs(rb - pr) + np.abs(cb - pc))
    multi = rb > ra
    # end of the first row segment and start of the last row segment
    end_a = np.where(ra % 2 == 0, cols - 1, 0)
    start_b = np.where(rb % 2 == 0, 0, cols - 1)
    d = np.maximum(np.abs(ra - pr) + np.abs(end_a - pc), np.abs(rb - pr) + np.abs(start_b - pc))
    best = np.where(multi, np.maximum(best, d), best)
    full = rb - ra >= 2
    far_col = np.maximum(pc, cols - 1 - pc)
    d = np.maximum(np.abs(ra + 1 - pr), np.abs(rb - 1 - pr)) + far_col
    return np.where(full, np.maximum(best, d), best)


def hops(network: Network, combined, partner, grid_cols, prov) -> Hops:
    """Transfer and merge hops of every layer of every design (same results as
    :func:`fitness.layout.place_and_route`, without building link sets); one numba pass
    over the designs, equal to :func:`hops_vectorized`."""
    out = _hops_kernel(i64(network.arrays.kind), i64(combined), i64(partner), i64(grid_cols),
                       i64(prov[0]), i64(prov[1]))
    return Hops(*out)


_JIT = dict(cache=True, error_model="numpy", boundscheck=False)


@numba.njit(inline="always", **_JIT)
def _cell(s, cols):
    row = s // cols
    off = s - row * cols
    col = off if row % 2 == 0 else cols - 1 - off
    return row, col


@numba.njit(inline="always", **_JIT)
def _max_dist(pr, pc, start, length, cols):
    """Scalar :func:`max_distance_to_run`."""
    end = start + length - 1
    ra, ca = _cell(start, cols)
    rb, cb = _cell(end, cols)
    best = max(abs(ra - pr) + abs(ca - pc), abs(rb - pr) + abs(cb - pc))
    if rb > ra:
        end_a = cols - 1 if ra % 2 == 0 else 0
        start_b = 0 if rb % 2 == 0 else cols - 1
        best = max(best, abs(ra - pr) + abs(end_a - pc), abs(rb - pr) + abs(start_b - pc))
    if rb - ra >= 2:
        far_col = max(pc, cols - 1 - pc)
        best = max(best, max(abs(ra + 1 - pr), abs(rb - 1 - pr)) + far_col)
    return best


@numba.njit(**_JIT)
def _hops_kernel(kind, combined, partner, grid_cols, prov_ptr, prov_idx):
    n, n_layer = combined.shape
    status = np.zeros(n, dtype=np.int64)
    start = np.full((n, n_layer), -1, dtype=np.int64)
    length = np.ones((n, n_layer), dtype=np.int64)
    mr = np.zeros((n, n_layer), dtype=np.int64)
    mc = np.zeros((n, n_layer), dtype=np.int64)
    h_t = np.zeros((n, n_layer), dtype=np.int64)
    h_m = np.zeros((n, n_layer), dtype=np.int64)
    placed = np.zeros(n_layer, dtype=np.bool_)
    for b in range(n):
        cols = max(grid_cols[b], 1)
        st_ = LAYOUT_OK
        used = 0
        placed[:] = False
        for l in range(n_layer):
            if kind[l] == CONV or kind[l] == FC:
                p = partner[b, l]
                sh = p >= 0
                pc = min(max(p, 0), n_layer - 1)
                if sh and st_ == LAYOUT_OK and not (placed[pc] and length[b, pc] > 0 and start[b, pc] >= 0):
                    st_ = LAYOUT_PARTNER_NOT_PLACED
                if not sh and st_ == LAYOUT_OK and combined[b, l] <= 0:
                    st_ = LAYOUT_NO_MACROS
                m = max(combined[b, l], 1)
                if sh:
                    s0 = max(start[b, pc], 0)
                    ln = length[b, pc]
                    cell = s0
                else:
                    s0 = max(used, 0)
                    ln = m
                    used += m
                    cell = s0 + ln - 1
                r, c = _cell(cell, cols)
                start[b, l] = s0
                length[b, l] = ln
                mr[b, l] = r
                mc[b, l] = c
            else:
                if prov_ptr[l + 1] == prov_ptr[l]:
                    if st_ == LAYOUT_OK:
                        st_ = LAYOUT_NO_PROVIDER
                    continue
                q = prov_idx[prov_ptr[l]]
                mr[b, l] = mr[b, q]
                mc[b, l] = mc[b, q]
            placed[l] = True
        status[b] = st_
        if st_ != LAYOUT_OK:
            continue
        for l in range(n_layer):
            mvm = kind[l] == CONV or kind[l] == FC
            t = 0
            for j in range(prov_ptr[l], prov_ptr[l + 1]):
                q = prov_idx[j]
                if mvm:
                    d = _max_dist(mr[b, q], mc[b, q], start[b, l], length[b, l], cols)
                else:
                    d = abs(mr[b, q] - mr[b, l]) + abs(mc[b, q] - mc[b, l])
                t = max(t, d)
            h_t[b, l] = t
            if mvm:
                h_m[b, l] = _max_dist(mr[b, l], mc[b, l], start[b, l], length[b, l], cols)
    return status, h_t, h_m, start, length, mr, mc


def hops_vectorized(network: Network, combined, partner, grid_cols, prov) -> Hops:
    """Reference numpy version of :func:`hops` (per-layer array operations over the batch)."""
    kind = network.arrays.kind
    combined = np.asarray(combined, dtype=np.int64)
    partner = np.asarray(partner, dtype=np.int64)
    n, n_layer = combined.shape
    cols = np.maximum(np.asarray(grid_cols, dtype=np.int64), 1)
    status = np.full(n, LAYOUT_OK, dtype=np.int64)
    start = np.full((n, n_layer), -1, dtype=np.int64)
    length = np.ones((n, n_layer), dtype=np.int64)
    mr = np.zeros((n, n_layer), dtype=np.int64)
    mc = np.zeros((n, n_layer), dtype=np.int64)
    placed = np.zeros((n, n_layer), dtype=bool)
    used = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    prov_ptr, prov_idx = prov
    for l in range(n_layer):
        if kind[l] in (CONV, FC):
            p = partner[:, l]
            sh = p >= 0
            pc = np.clip(p, 0, n_layer - 1)
            bad = sh & ~(placed[rows, pc] & (length[rows, pc] > 0) & (start[rows, pc] >= 0))
            status = np.where((status == LAYOUT_OK) & bad, LAYOUT_PARTNER_NOT_PLACED, status)
            bad0 = ~sh & (combined[:, l] <= 0)
            status = np.where((status == LAYOUT_OK) & bad0, LAYOUT_NO_MACROS, status)
            m = np.maximum(combined[:, l], 1)
            s_own = used
            used = np.where(sh, used, used + m)
            st = np.where(sh, start[rows, pc], s_own)
            ln = np.where(sh, length[rows, pc], m)
            st = np.maximum(st, 0)
            cell = np.where(sh, st, st + ln - 1)
            r, c = snake_cell(cell, cols)
            start[:, l], length[:, l], mr[:, l], mc[:, l] = st, ln, r, c
        else:
            if prov_ptr[l + 1] == prov_ptr[l]:
                status = np.where(status == LAYOUT_OK, LAYOUT_NO_PROVIDER, status)
                continue
            q = prov_idx[prov_ptr[l]]
            mr[:, l], mc[:, l] = mr[:, q], mc[:, q]
        placed[:, l] = True
    h_t = np.zeros((n, n_layer), dtype=np.int64)
    h_m = np.zeros((n, n_layer), dtype=np.int64)
    for l in range(n_layer):
        mvm = kind[l] in (CONV, FC)
        for j in range(prov_ptr[l], prov_ptr[l + 1]):
            q = prov_idx[j]
            if mvm:
                d = max_distance_to_run(mr[:, q], mc[:, q], start[:, l], length[:, l], cols)
            else:
                d = np.abs(mr[:, q] - mr[:, l]) + np.abs(mc[:, q] - mc[:, l])
            h_t[:, l] = np.maximum(h_t[:, l], d)
        if mvm:
            h_m[:, l] = max_distance_to_run(mr[:, l], mc[:, l], start[:, l], length[:, l], cols)
    bad = status != LAYOUT_OK
    h_t[bad] = 0
    h_m[bad] = 0
    return Hops(status, h_t, h_m, start, length, mr, mc)
