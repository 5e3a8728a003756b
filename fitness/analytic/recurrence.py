"""The max-plus recurrence of MODEL.md §12 on (sampled) computation blocks, with the
shared-ADC waiting and the §8.7 buffer need estimated from its times.

Within a layer with per-op delays dop_k / dcb_k, the longest path from block c' op 0 to
block c op k is D_k + (c - c') x M_k (D_k = sum of dop_i for i < k, M_k = max of dcb_i for
i <= k). Chaining the recurrence over a subset of blocks c_0 = 0 < c_1 < ... < n - 1 with
block gaps g_j = c_j - c_{j-1}::

    t_0[c_j] = max(t_0[c_{j-1}] + g_j dcb_0, a[c_j])
    t_k[c_j] = max(t_{k-1}[c_j] + dop_{k-1}, t_k[c_{j-1}] + g_j dcb_k)

is exact when every block is sampled (the sample cap of the layer >= n); with fewer samples the
inter-layer arrivals a[c] of skipped blocks are ignored and a provider's last-op time at
an unsampled block is interpolated linearly (t is piecewise linear in c). The makespan is
attained at the last block of some layer (t_k grows with c), which is always sampled.

Shared ADC (§8.6): the later layer of a pair waits, at its ADC op, for a step where none
of the partner's bit chains (B steps each) is running or starting, the partner's chains
between two of its samples being packed back to back (:func:`_adc_window`); a subsampled
later layer also places the chains of the blocks between its own samples, one by one.
The partner's own waiting is left to :mod:`.correction` (``pair_delay``, a fluid FIFO
estimate computed here from both layers' ADC request times).

Two numba kernels loop over the designs (no Python work per design):

* :func:`build_samples` (capacity independent, once per batch): the sampled blocks, the
  provider sample each (block, provider) waits for, the providers' live-window starts and
  the input-buffer need. Each piece depends on a few genes only (a layer's samples on its
  n; a (layer, provider) slot group on both layers' (dup, n); the provider pixel counts and
  window starts on the layer's (dup, n); the input need on (dup, n, idiv, ddiv)), so
  :func:`_build_memo` computes and stores it once per distinct key in the batch
  (open-addressing tables) and points the other designs at it (:class:`Samples`);
  :func:`_build` is the direct per-design version it is tested equal to;
* :func:`run_recurrence` (once per fixed-point round), per design: its layers' op delays
  (:func:`_delays`) and sample times (:func:`_times_one_provider`, :func:`_times_free`,
  :func:`_times_adc_wait`), the makespan (:func:`_last_start`), the shared-ADC pair delay
  (:func:`_pair_delay`) and the buffer need from the LD and ST times
  (:mod:`fitness.analytic.buffers`), driven by :func:`_run`.

numba caches a compiled kernel beside its module and checks only that module's source
for changes: after editing :mod:`.buffers`, :mod:`.sampled` or :mod:`fitness.depcb`
alone, delete ``fitness/analytic/__pycache__/*.nb[ic]`` or the old code keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from fitness.analytic.buffers import (EVENT_STRIDE, Edges, bin_threshold, consumer_events, first_window, geometry,
                                      provider_events, provider_events_live, reaches, scan_order)
from fitness.analytic.sampled import JIT, count_le, count_lt, last_at_or_below
from fitness.arrays import i64
from fitness.depcb import cdiv, depend_block, depend_pixel, map_shape, pixel_range, window_start
from fitness.oplist import ADC, LD, MRG, ST, TRAN, BIT_LEVEL

_BIT = BIT_LEVEL.copy()
_CONV, _FC, _POOL, _ELTWISE = 0, 1, 2, 3

NEG = -1.0e18  # the arrival of a block that no provider releases (only block 0 of the input layer starts)


class Samples(NamedTuple):
    """The sampled block mapping of a batch. The recurrence's per-design time arrays follow
    ``lay_off``; the sample data itself is pooled: designs whose layer has the same block
    count share that layer's sampled blocks, and designs whose (layer, provider) pair has the
    same (dup, blocks) on both sides share that pair's slot column, so a batch of GA designs
    (mostly repeats of a few values per layer) stores and streams each piece once."""

    status: np.ndarray  # int[B] 0 ok, 1 dependency block out of range
    lay_off: np.ndarray  # int[B, L+1] where each layer's samples sit in the batch's time arrays (cumulative)
    samp_off: np.ndarray  # int[B, L] where each layer's sampled block indices start in samp_c
    slot_off: np.ndarray  # int[B, Q] where the slot column of (layer, provider) q = prov_ptr[l] + jj starts
    samp_c: np.ndarray  # int[*] block index of each sample (pooled)
    dep_j: np.ndarray  # int[*] per slot (one per sample of the layer): the provider sample at or below depcb-1,
    #                    counted from the provider layer's first sample
    dep_f: np.ndarray  # float[*] per slot: fractional position towards the next provider sample
    win_lo: np.ndarray  # int[*] per slot: pstart(dup_L x c; P, L)
    inbuf: np.ndarray  # float[B, L] max input need (elements)


# Where a subsampled layer's samples go. Its times are a staircase: while an upstream layer
# throttles the pipeline, each output row runs as a short burst once that layer delivers the
# rows it needs, then waits. When the throttle finishes, the last few rows of every layer drain
# at the layer's own pace, and that drain is where a provider most outruns its consumer, so
# where the buffer window (MODEL.md §8.7) usually peaks: at the provider's last stores, a few
# blocks either way moving the need across a capacity bin. Evenly spaced samples, interpolated
# linearly, smear the drain's onset over a row or more (on VGG16 the windows came out 2-6 %
# short and the memory capacity a bin off on 8 % of the designs at equal clocks). So the last
# TAIL_ROWS output rows get TAIL_SAMPLES of the layer's samples (at most half), the body the
# rest, evenly spaced in both: the same sample count, so the same cost. Measured on VGG16
# (1,000 designs, fixes all, the cycle model's clocks): capacity equal 0.917 -> 0.980, flat
# for 4-5 rows and 12-16 samples (3 rows: 0.970, 6 rows: 0.966; no tail at 64 samples a
# layer, 2.3x the cost: 0.965).
TAIL_ROWS = 4
TAIL_SAMPLES = 16


@numba.njit(**JIT)
def _tail_split(n, cap, rows_l):
    """(body samples, tail samples, tail blocks) of a layer with n > cap blocks and rows_l
    output rows (:func:`_sample_blocks`)."""
    nt = min(n - 1, cdiv(TAIL_ROWS * n, max(rows_l, 1)))
    mt = min(nt, TAIL_SAMPLES, cap // 2)
    return min(cap - mt, n - nt), mt, nt


@numba.njit(**JIT)
def _n_samples(n, cap, rows_l):
    if n <= cap:
        return n
    mb, mt, _ = _tail_split(n, cap, rows_l)
    return mb + mt


@numba.njit(**JIT)
def _sample_blocks(n, cap, rows_l, out, o):
    """Writes the sampled blocks of a layer (n blocks, rows_l output rows, at most cap samples)
    at out[o:], ascending, and returns their count: every block when n <= cap, otherwise mb
    evenly spaced over the body [0, n - nt) (both ends) and mt over the tail [n - nt, n)
    (both ends; see TAIL_ROWS)."""
    if n <= cap:
        for c in range(n):
            out[o + c] = c
        return n
    mb, mt, nt = _tail_split(n, cap, rows_l)
    t0 = n - nt
    for j in range(mb):
        out[o + j] = (j * (t0 - 1)) // (mb - 1) if mb > 1 else 0
    for i in range(mt):
        out[o + mb + i] = t0 + (i * (nt - 1)) // (mt - 1) if mt > 1 else n - 1
    return mb + mt


@numba.njit(**JIT)
def _even_blocks(n, cap, out, o):
    """Writes min(n, cap) blocks evenly spaced over [0, n) (both ends) at out[o:] and returns
    their count (the input-need samples, :func:`_input_need`)."""
    if n <= cap:
        for c in range(n):
            out[o + c] = c
        return n
    for j in range(cap):
        out[o + j] = (j * (n - 1)) // (cap - 1)
    return cap


@numba.njit(**JIT)
def _offsets(n, cap, rows, prov_ptr):
    """Unpooled layout: per design and layer, where its samples start (a layer samples
    at most cap[l] blocks, :func:`_n_samples`), per design and (layer, provider) column where its slots start,
    and both totals (the pooled arrays never need more)."""
    nb, n_layer = n.shape
    lay_off = np.zeros((nb, n_layer + 1), dtype=np.int64)
    col_off = np.zeros((nb, prov_ptr[n_layer]), dtype=np.int64)
    tot = 0
    tot_slot = 0
    for b in range(nb):
        for l in range(n_layer):
            lay_off[b, l] = tot
            m = _n_samples(max(n[b, l], 0), cap[l], rows[l])
            tot += m
            for q in range(prov_ptr[l], prov_ptr[l + 1]):
                col_off[b, q] = tot_slot
                tot_slot += m
        lay_off[b, n_layer] = tot
    return lay_off, col_off, tot, tot_slot


@numba.njit(**JIT)
def _input_need(l, kind, rows, cols, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx, dup_l, n_l, idiv_l, per_macro,
                cap_in, tmp, pixel_window, non_square):
    """Input buffer need of layer l (elements): the max over sampled blocks (and blocks 1-3,
    where the rows near the top differ, and the row-crossing blocks of :func:`_crossing_rows`)
    of the summed inputcap of its providers (``per_macro``: duplicates per macro, ceil(dup / ddiv))."""
    k_in = _even_blocks(n_l, cap_in, tmp, 0)
    p0 = prov_idx[prov_ptr[l]]
    cols_l, pix_l, _, _ = map_shape(rows[l], cols[l], rows[p0], cols[p0], non_square)
    k_x = _crossing_rows(n_l, dup_l, per_macro, cols_l, cdiv(pix_l, cols_l), tmp, k_in)
    best = 0.0
    for i in range(k_in + k_x + 3):
        if i < k_in + k_x:
            c = tmp[i]
        else:
            c = i - k_in - k_x + 1
            if c >= n_l:
                continue
        q1 = dup_l * c + per_macro
        total = 0.0
        for jj in range(prov_ptr[l + 1] - prov_ptr[l]):
            p = prov_idx[prov_ptr[l] + jj]
            cols_l, _, rows_p, cols_p = map_shape(rows[l], cols[l], rows[p], cols[p], non_square)
            pix_p = rows[p] * cols[p]
            st = window_start(c, dup_l, kind[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], cols_l, rows_p, cols_p, pix_p,
                              pixel_window)
            _, en = pixel_range(q1, kind[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], cols_l, rows_p, cols_p, pix_p)
            total += (en - st) * c_out[p] / idiv_l
        if total > best:
            best = total
    return best


# Row-crossing blocks evaluated for the input need (:func:`_crossing_rows`).
N_CROSSING = 2


@numba.njit(**JIT)
def _crossing_rows(n_l, dup_l, per_macro, cols_l, rows_l, out, o):
    """Writes at out[o:] up to N_CROSSING blocks whose loaded pixels, from q0 = dup_l x c to
    q1 = q0 + per_macro, run into the next output row, from rows in the middle of the map,
    and returns their count.

    Why these: a block's inputcap (MODEL.md §8.7) is its providers' pixels from pstart(q0) to
    pend(q1). Unclamped, that span depends only on how many output rows q1 lies below q0
    (the columns then differ by a fixed amount), and it grows with that count for strided
    maps (for stride 1 it is flat); every clamp (padding at the left or top, the map's right
    or bottom edge) only shortens it. So the need's max over all blocks is attained by a block
    of the larger row difference away from the edges: one that crosses a row boundary in a
    middle row. Such blocks are rare when dup is small against the row (one per row, and none
    when the boundary falls outside the per-macro part), and evenly spaced samples miss them:
    under PIMSYN's start one pixel early (Q25) a block that starts a row of a stride-2 pool
    reads three input rows where the others read one, and VGG16's pool1 need came out half
    the true one. Any block is a safe candidate (the need is a max of true values)."""
    k = 0
    half = rows_l // 2
    i = 0
    while i < rows_l - 1 and k < N_CROSSING:  # no break: see "How the kernels below are cut" below
        m = half + i if half + i < rows_l else half + i - rows_l + 1
        i += 1
        bnd = m * cols_l  # the last pixel (1-based) of row m
        c = bnd // dup_l
        if m >= 1 and bnd - c * dup_l < per_macro and 1 <= c < n_l:
            out[o + k] = c
            k += 1
    return k


@numba.njit(**JIT)
def _build(kind, rows, cols, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx, dup, n, idiv, ddiv, cap, cap_in,
           pixel_window, non_square):
    """The direct per-design build (no pooling): what :func:`_build_memo` is tested against."""
    nb, n_layer = dup.shape
    lay_off, slot_off, tot, tot_slot = _offsets(n, cap, rows, prov_ptr)
    samp_c = np.zeros(tot, dtype=np.int64)
    dep_j = np.zeros(tot_slot, dtype=np.int64)
    dep_f = np.zeros(tot_slot, dtype=np.float64)
    win_lo = np.zeros(tot_slot, dtype=np.int64)
    inbuf = np.zeros((nb, n_layer), dtype=np.float64)
    status = np.zeros(nb, dtype=np.int64)
    tmp = np.zeros(cap_in + N_CROSSING + 8, dtype=np.int64)
    for b in range(nb):
        for l in range(n_layer):
            _sample_blocks(max(n[b, l], 0), cap[l], rows[l], samp_c, lay_off[b, l])
        for l in range(n_layer):
            o = lay_off[b, l]
            m = lay_off[b, l + 1] - o
            for q in range(prov_ptr[l], prov_ptr[l + 1]):
                p = prov_idx[q]
                so = slot_off[b, q]
                cols_l, pix_l, rows_p, cols_p = map_shape(rows[l], cols[l], rows[p], cols[p], non_square)
                for i in range(m):
                    c = samp_c[o + i]
                    d = depend_block(c, kind[l], dup[b, l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], cols_l, pix_l,
                                     rows_p, cols_p, dup[b, p], n[b, p]) - 1
                    if d < 0 or d >= n[b, p]:
                        status[b] = 1
                        d = 0
                    po = lay_off[b, p]
                    pm = lay_off[b, p + 1] - po
                    lo_i = last_at_or_below(samp_c, po, pm, d)
                    dep_j[so + i] = lo_i
                    c_a = samp_c[po + lo_i]
                    if c_a < d and lo_i + 1 < pm:
                        dep_f[so + i] = (d - c_a) / (samp_c[po + lo_i + 1] - c_a)
                    win_lo[so + i] = window_start(c, dup[b, l], kind[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l],
                                                  cols_l, rows_p, cols_p, rows[p] * cols[p], pixel_window)
            # input buffer need: max over (sampled) blocks of the summed inputcap
            if prov_ptr[l + 1] > prov_ptr[l] and n[b, l] > 0:
                inbuf[b, l] = _input_need(l, kind, rows, cols, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx,
                                          dup[b, l], n[b, l], idiv[b, l], cdiv(dup[b, l], max(ddiv[b, l], 1)),
                                          cap_in, tmp, pixel_window, non_square)
    samp_off = np.ascontiguousarray(lay_off[:, :n_layer])
    return status, lay_off, samp_off, slot_off, samp_c, dep_j, dep_f, win_lo, inbuf


@numba.njit(inline="always", **JIT)
def _probe(tab, mask, stamp, k0, k1, k2, k3):
    """Open-addressing lookup of key (k0..k3) among the entries stamped ``stamp``: (slot, found)."""
    h = (k0 * 0x9E3779B1 + k1 * 0x85EBCA77 + k2 * 0xC2B2AE3D + k3 * 0x27D4EB2F) ^ (stamp * 0x165667B1)
    h = (h ^ (h >> 15)) & mask
    while True:
        if tab[h, 0] != stamp:
            return h, False
        if tab[h, 1] == k0 and tab[h, 2] == k1 and tab[h, 3] == k2 and tab[h, 4] == k3:
            return h, True
        h = (h + 1) & mask


@numba.njit(**JIT)
def _build_memo(kind, rows, cols, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx, dup, n, idiv, ddiv, cap, cap_in,
                pixel_window, non_square):
    """:func:`_build` with every per-layer piece computed and stored once per distinct key in
    the batch (the sample blocks of a layer depend on its n only, a (layer, provider) slot
    column on (dup, n) of the layer and the provider, the input need on (dup, n, idiv, ddiv)):
    the other designs point at the first one's piece. Same values, bit for bit."""
    nb, n_layer = dup.shape
    n_q = prov_ptr[n_layer]
    lay_off, _, tot, tot_slot = _offsets(n, cap, rows, prov_ptr)
    samp_off = np.empty((nb, n_layer), dtype=np.int64)
    slot_off = np.empty((nb, n_q), dtype=np.int64)
    # int32 block and pixel indices (bounded by a layer's pixel count); the unpooled totals
    # bound the pools, and np.empty touches only the memory that is written
    samp_c = np.empty(tot, dtype=np.int32)
    dep_j = np.empty(tot_slot, dtype=np.int32)
    dep_f = np.empty(tot_slot, dtype=np.float64)
    win_lo = np.empty(tot_slot, dtype=np.int32)
    inbuf = np.zeros((nb, n_layer), dtype=np.float64)
    status = np.zeros(nb, dtype=np.int64)
    tmp = np.zeros(cap_in + N_CROSSING + 8, dtype=np.int64)
    size = 16
    while size < 2 * nb:
        size *= 2
    mask = size - 1
    # columns: stamp, k0..k3, pool offset (or representative design), error flag
    tab = np.full((size, 7), -1, dtype=np.int64)
    # second table: (dup, n) of the consumer alone -> the slot column whose dup-only parts
    # (provider pixel count, window start) the other columns with that key reuse
    tab1 = np.full((size, 7), -1, dtype=np.int64)
    pix = np.empty(tot_slot, dtype=np.int32)  # filled front to back, one run per tab1 entry
    pix_top = 0
    top = 0
    for l in range(n_layer):
        for b in range(nb):
            nl = max(n[b, l], 0)
            hh, found = _probe(tab, mask, l, nl, 0, 0, 0)
            if found:
                samp_off[b, l] = tab[hh, 5]
            else:
                samp_off[b, l] = top
                top += _sample_blocks(nl, cap[l], rows[l], samp_c, top)
                tab[hh, 0] = l
                tab[hh, 1] = nl
                tab[hh, 2] = 0
                tab[hh, 3] = 0
                tab[hh, 4] = 0
                tab[hh, 5] = samp_off[b, l]
    stop = 0
    for l in range(n_layer):
        for q in range(prov_ptr[l], prov_ptr[l + 1]):
            p = prov_idx[q]
            stamp = n_layer + q
            cols_l, pix_l, rows_p, cols_p = map_shape(rows[l], cols[l], rows[p], cols[p], non_square)
            pix_p = rows[p] * cols[p]
            for b in range(nb):
                hh, found = _probe(tab, mask, stamp, dup[b, l], n[b, l], dup[b, p], n[b, p])
                if found:
                    slot_off[b, q] = tab[hh, 5]
                    if tab[hh, 6] != 0:
                        status[b] = 1
                    continue
                so = stop
                m = lay_off[b, l + 1] - lay_off[b, l]
                stop += m
                slot_off[b, q] = so
                err = 0
                sl = samp_off[b, l]
                sp = samp_off[b, p]
                pm = lay_off[b, p + 1] - lay_off[b, p]
                np_ = n[b, p]
                dp_ = dup[b, p]
                h1, f1 = _probe(tab1, mask, stamp, dup[b, l], n[b, l], 0, 0)
                rso = tab1[h1, 5] if f1 else -1
                px0 = tab1[h1, 6] if f1 else pix_top
                for i in range(m):
                    c = samp_c[sl + i]
                    if f1:
                        px = pix[px0 + i]
                        win_lo[so + i] = win_lo[rso + i]
                    else:
                        px = depend_pixel(c, kind[l], dup[b, l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], cols_l, pix_l,
                                          rows_p, cols_p)
                        pix[px0 + i] = px
                        win_lo[so + i] = window_start(c, dup[b, l], kind[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l],
                                                      cols_l, rows_p, cols_p, pix_p, pixel_window)
                    # depend_block - 1
                    if kind[l] == _FC:
                        d = np_ - 1
                    else:
                        d = cdiv(np.int64(px), dp_) - 1
                    if d < 0 or d >= np_:
                        err = 1
                        d = 0
                    # every block sampled: sample d is block d
                    lo_i = d if pm == np_ else last_at_or_below(samp_c, sp, pm, d)
                    dep_j[so + i] = lo_i
                    c_a = samp_c[sp + lo_i]
                    if c_a < d and lo_i + 1 < pm:
                        dep_f[so + i] = (d - c_a) / (samp_c[sp + lo_i + 1] - c_a)
                    else:
                        dep_f[so + i] = 0.0
                if not f1:
                    tab1[h1, 0] = stamp
                    tab1[h1, 1] = dup[b, l]
                    tab1[h1, 2] = n[b, l]
                    tab1[h1, 3] = 0
                    tab1[h1, 4] = 0
                    tab1[h1, 5] = so
                    tab1[h1, 6] = px0
                    pix_top += m
                if err:
                    status[b] = 1
                tab[hh, 0] = stamp
                tab[hh, 1] = dup[b, l]
                tab[hh, 2] = n[b, l]
                tab[hh, 3] = dup[b, p]
                tab[hh, 4] = n[b, p]
                tab[hh, 5] = so
                tab[hh, 6] = err
    # the input need depends on ddiv only through dup / ddiv rounded up (per macro); with one
    # provider it is (largest pixel span x channels) / idiv, and the division keeps the order of
    # the spans, so the span is computed once per (dup, n, per macro) and divided per design
    # (the same float as dividing each span); with several providers each span is divided
    # before the sum, so idiv stays in the key
    raw = np.empty((nb, n_layer), dtype=np.float64)
    for l in range(n_layer):
        stamp = n_layer + n_q + l
        one = prov_ptr[l + 1] - prov_ptr[l] == 1
        for b in range(nb):
            # input buffer need: max over (sampled) blocks of the summed inputcap
            if prov_ptr[l + 1] > prov_ptr[l] and n[b, l] > 0:
                per_macro = cdiv(dup[b, l], max(ddiv[b, l], 1))
                div = 1 if one else idiv[b, l]
                hh, found = _probe(tab, mask, stamp, dup[b, l], n[b, l], div, per_macro)
                if found:
                    v = raw[tab[hh, 5], l]
                else:
                    v = _input_need(l, kind, rows, cols, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx,
                                    dup[b, l], n[b, l], div, per_macro, cap_in, tmp, pixel_window, non_square)
                    raw[b, l] = v
                    tab[hh, 0] = stamp
                    tab[hh, 1] = dup[b, l]
                    tab[hh, 2] = n[b, l]
                    tab[hh, 3] = div
                    tab[hh, 4] = per_macro
                    tab[hh, 5] = b
                if one:
                    v = v / idiv[b, l] if v > 0.0 else 0.0
                inbuf[b, l] = v
    return status, lay_off, samp_off, slot_off, samp_c[:top], dep_j[:stop], dep_f[:stop], win_lo[:stop], inbuf


def sample_caps(network, max_samples: int, min_samples: int) -> np.ndarray:
    """Samples per layer: one per output row, between ``min_samples`` and ``max_samples``
    (a layer with fewer blocks samples them all). A block waits for whole provider rows
    (depend_block), so the arrival times step once per row: a sample per row sees every
    step, and layers with few rows keep enough samples for their fill."""
    rows = network.arrays.out_h.astype(np.int64)
    caps = np.minimum(int(max_samples), np.maximum(int(min_samples), rows))
    return np.maximum(caps, 2).astype(np.int64)  # a subsample keeps both end blocks


def build_samples(network, dup, blocks, idiv, ddiv, prov, max_samples: int = 64, max_in_samples: int = 32,
                  min_samples: int = 16, memo: bool = True, fixes=frozenset()) -> Samples:
    """The sampled block mapping of a batch under the model ``fixes`` (``pixel-window`` and
    ``non-square`` change it)."""
    arr = network.arrays
    kernel = _build_memo if memo else _build
    caps = sample_caps(network, max_samples, min_samples)
    blocks = i64(blocks)
    # the kernels' scratch holds cap_in input samples, and no layer has more than the most
    # blocks of the batch: "every block" (a huge cap) then costs that, not the cap itself
    cap_in = min(int(max_in_samples), max(int(blocks.max(initial=0)), 1))
    out = kernel(arr.kind, arr.out_h, arr.out_w, arr.out_channels, arr.kernel_h, arr.kernel_w,
                 arr.stride_h, arr.stride_w, arr.pad_top, arr.pad_left, prov[0], prov[1],
                 i64(dup), blocks, i64(idiv), i64(ddiv), caps, cap_in, "pixel-window" in fixes,
                 "non-square" in fixes)
    return Samples(*out)


@numba.njit(**JIT)
def _adc_window(tadc, samp_c, o, so, m, x, B, ptr):
    """(first step >= x at which the later layer of a shared pair may start a bit chain,
    updated pointer), given the partner's chain starts tadc[o:o+m] at its sampled blocks.

    Between two samples the partner's chains are taken as packed back to back before the
    second one, so its free time there is one window: from the end of the first sample's
    chain to the start of the packed run. A chain may start anywhere in a window (once
    running it wins against the partner's new chains, MODEL.md §8.6). Spreading the
    partner's blocks evenly instead (linear interpolation) would leave a short gap after
    every chain, and a later layer slipping into each of them would run almost unhindered
    beside a partner that in the exact scheduler keeps the ADC busy back to back within
    a row and idle between rows. With every block sampled the windows are the exact gaps.

    The query never moves back between calls for one layer, so ``ptr`` (the partner sample
    at or below it, 0 to start) only walks forward."""
    if m == 0 or x < tadc[o]:
        return x, ptr
    s = x
    for _ in range(2 * m + 2):
        while ptr + 1 < m and tadc[o + ptr + 1] <= s:
            ptr += 1
        t_a = tadc[o + ptr]
        if ptr + 1 >= m:
            return max(s, t_a + B), ptr
        t_b = tadc[o + ptr + 1]
        w_lo = t_a + B
        w_hi = t_b - (samp_c[so + ptr + 1] - samp_c[so + ptr] - 1) * B
        if s < w_lo:
            s = w_lo
        if s <= w_hi - 1.0:  # a whole step before the packed run's first chain
            return s, ptr
        s = t_b + B
    return s, ptr


@numba.njit(**JIT)
def _pair_delay(tadc, samp_c, ol, sl, ml, nl_blocks, op_, sp, mp, np_blocks, B):
    """Fluid FIFO model of one shared ADC (two layers' bit chains of B steps each, requested at
    their recurrence ADC start times): the larger delay of the two layers' last chains.

    F(T) = max over s <= T of (s - work requested before s) + work requested up to T is when
    the server finishes the work requested by T; a layer's delay is F(its last request) minus
    its undisturbed finish. The max runs over the request times (breakpoints). Both layers
    must have samples (ml, mp > 0)."""
    t_last_l = tadc[ol + ml - 1]
    t_last_p = tadc[op_ + mp - 1]
    best_l = -1e300  # max of G(s) over s <= t_last_l
    best_p = -1e300
    i, j = 0, 0
    ptr_l, ptr_p = 0, 0
    while i < ml or j < mp:
        if j >= mp or (i < ml and tadc[ol + i] <= tadc[op_ + j]):
            s = tadc[ol + i]
            i += 1
        else:
            s = tadc[op_ + j]
            j += 1
        a_l, ptr_l = count_lt(tadc, samp_c, ol, sl, ml, nl_blocks, s, ptr_l)
        a_p, ptr_p = count_lt(tadc, samp_c, op_, sp, mp, np_blocks, s, ptr_p)
        g = s - B * (a_l + a_p)
        if s <= t_last_l and g > best_l:
            best_l = g
        if s <= t_last_p and g > best_p:
            best_p = g
    d_l = best_l + B * (nl_blocks + count_le(tadc, samp_c, op_, sp, mp, np_blocks, t_last_l)) - t_last_l - B
    d_p = best_p + B * (count_le(tadc, samp_c, ol, sl, ml, nl_blocks, t_last_p) + np_blocks) - t_last_p - B
    return max(d_l, d_p, 0.0)


class Blocks(NamedTuple):
    """Where each layer's samples are: :class:`Samples` ``lay_off``, ``samp_off``, ``samp_c``."""

    lay_off: np.ndarray
    samp_off: np.ndarray
    samp_c: np.ndarray


class Slots(NamedTuple):
    """The per-(sample, provider) columns of :class:`Samples`."""

    slot_off: np.ndarray
    dep_j: np.ndarray
    dep_f: np.ndarray
    win_lo: np.ndarray


class Designs(NamedTuple):
    """What the recurrence reads of each design of the batch (rows indexed by design)."""

    op_code: np.ndarray  # int[B, L, Kmax] op lists
    n_ops: np.ndarray  # int[B, L]
    bits: np.ndarray  # int[B] B, bit-level repetitions
    dup: np.ndarray  # int[B, L]
    n: np.ndarray  # int[B, L] computation blocks
    partner: np.ndarray  # int[B, L] the layer sharing its macros (ADC), -1 none


class Cycles(NamedTuple):
    """Cycle counts of the round's clock, rows in the order of ``idx`` ([len(idx), L])."""

    tran: np.ndarray
    ld: np.ndarray
    st: np.ndarray
    mrg: np.ndarray


class Graph(NamedTuple):
    """The network's layer geometry (rows ``GEO_*`` of :mod:`fitness.analytic.buffers`),
    output channels and edges."""

    geo: np.ndarray  # int[9, L]
    c_out: np.ndarray  # int[L]
    edges: Edges


class Fixes(NamedTuple):
    """The model fixes (:mod:`fitness.fixes`) the kernel applies."""

    final_op: bool
    live_window: bool
    pixel_window: bool
    non_square: bool

    @classmethod
    def of(cls, fixes) -> "Fixes":
        return cls("final-op" in fixes, "live-window" in fixes, "pixel-window" in fixes, "non-square" in fixes)


class Delays(NamedTuple):
    """One design's op chains (§8.2), a row per layer ([L, Kmax] and [L])."""

    kappa: np.ndarray  # int cycles of each op
    dop: np.ndarray  # int inter-op delay
    dcb: np.ndarray  # int inter-block delay
    dsum: np.ndarray  # float D_k, the sum of dop before op k
    dcbf: np.ndarray  # float dcb
    isbit: np.ndarray  # bool bit-level op
    tail: np.ndarray  # int steps from an op's start to the last step the makespan counts (§8.8, Q22)
    marks: np.ndarray  # int[L, 3] where the ops whose times are kept sit: LD, ST, ADC (-1 absent)
    period: np.ndarray  # float[L] max dcb: steps per block
    kappa_last: np.ndarray  # int[L] cycles of the last op


class Times(NamedTuple):
    """One design's times at its samples, indexed from its first sample, and the op starts
    of the sample being computed."""

    tl: np.ndarray  # last op start
    tld: np.ndarray  # LD start
    tst: np.ndarray  # ST start
    tadc: np.ndarray  # ADC start (the first bit of its chain)
    tk: np.ndarray  # [Kmax] op starts of the current sample (t_k - D_k in the running-max form)


def network_graph(network, prov, cons) -> Graph:
    return Graph(geometry(network.arrays), i64(network.arrays.out_channels),
                 Edges(i64(prov[0]), i64(prov[1]), i64(cons[0]), i64(cons[1])))


# How the kernels below are cut, and why. numba counts a reference to each array a
# function receives (a record holds several) and to each array it reads out of a record,
# and removes the increment-decrement pair only where it can follow it: not in a function
# that calls another one it does not inline, not where an array's last use sits in one
# branch of an if, an early return or a loop's break, and not through a helper inlined
# by numba whose own last use does. A pair left costs two atomic operations per array per
# call: in per-sample code it made a first version of this split 5x slower, and functions
# per design (each calling the per-layer ones) 1.5x. So arrays are read out of records
# once, before the loops; helpers inlined by numba take only numbers; _run's own loop
# calls every per-design and per-layer step; and the records are small, since a call
# copies every array of every record it passes.


@numba.njit(**JIT)
def _delays(op_code, n_ops, b, bits, cyc, i, dl, final_op):
    """Fills dl with the op chain of every layer of design b (§8.2) at the cycle counts of row
    i of ``cyc``. The makespan counts an op until the start of its last bit (PIMSYN: steps =
    last start + 1, Q22), or with ``final_op`` until its last cycle, kappa x rep - 1 steps
    after its start (the same for the one-cycle bit-level ops)."""
    kappa, dop, dcb, dsum, dcbf, isbit, tail = dl.kappa, dl.dop, dl.dcb, dl.dsum, dl.dcbf, dl.isbit, dl.tail
    marks, period, kappa_last = dl.marks, dl.period, dl.kappa_last
    k_tran, k_ld, k_st, k_mrg = cyc
    for l in range(n_ops.shape[1]):
        n_k = n_ops[b, l]
        marks[l, 0] = -1
        marks[l, 1] = -1
        marks[l, 2] = -1
        for k in range(n_k):
            op = op_code[b, l, k]
            kap = 1
            if op == TRAN:
                kap = k_tran[i, l]
            elif op == LD:
                kap = k_ld[i, l]
                marks[l, 0] = k
            elif op == ST:
                kap = k_st[i, l]
                marks[l, 1] = k
            elif op == MRG:
                kap = k_mrg[i, l]
            elif op == ADC:
                marks[l, 2] = k
            kappa[l, k] = kap
            isbit[l, k] = _BIT[op]
        acc = 0.0
        per = 0
        for k in range(n_k):
            rep = bits if isbit[l, k] else 1
            if k < n_k - 1:
                if isbit[l, k] and not isbit[l, k + 1]:
                    dop[l, k] = kappa[l, k] * rep
                else:
                    dop[l, k] = kappa[l, k]
                rep_next = bits if isbit[l, k + 1] else 1
                dcb[l, k] = max(kappa[l, k] * rep, dop[l, k] + kappa[l, k + 1] * rep_next - 1)
            else:
                dop[l, k] = kappa[l, k]
                dcb[l, k] = kappa[l, k] * rep
            dsum[l, k] = acc
            dcbf[l, k] = float(dcb[l, k])
            tail[l, k] = kappa[l, k] * rep - 1 if final_op else rep - 1
            acc += dop[l, k]
            per = max(per, dcb[l, k])
        period[l] = per
        kappa_last[l] = kappa[l, n_k - 1]


@numba.njit(inline="always", **JIT)
def _between(t_a, t_b, f):
    """The time a fraction f of the way from t_a to t_b (t_a itself when f is 0)."""
    return t_a + f * (t_b - t_a) if f > 0.0 else t_a


@numba.njit(**JIT)
def _times_one_provider(b, l, base, n_ops, blk, slots, edges, dl, tm):
    """Times of layer l's samples when it has one provider and waits for no ADC (most
    layers): the running-max form of :func:`_times_free`, with the provider's slot column,
    time offset and last-op cycles read once per layer and the D_k terms of the kept
    times hoisted (1.14x on AlexNet's recurrence). Written out beside _times_free on
    purpose: with the arrival and the op chain in numba helpers this loop ran 2.4x slower."""
    lay_off, samp_c, dep_j, dep_f = blk.lay_off, blk.samp_c, slots.dep_j, slots.dep_f
    tl, tld, tst, tadc, tk = tm
    dcbf, dsum, kappa_last = dl.dcbf[l], dl.dsum[l], dl.kappa_last
    o = lay_off[b, l]
    m = lay_off[b, l + 1] - o
    so = blk.samp_off[b, l]
    q = edges.prov_ptr[l]
    p1 = edges.prov_idx[q]
    s1 = slots.slot_off[b, q]
    g1 = lay_off[b, p1] - base
    k1 = float(kappa_last[p1])
    p_ld, p_st, p_adc = dl.marks[l, 0], dl.marks[l, 1], dl.marks[l, 2]
    ol = o - base
    z_last = dsum[n_ops - 1]
    z_ld = dsum[p_ld] if p_ld >= 0 else 0.0
    z_st = dsum[p_st] if p_st >= 0 else 0.0
    z_adc = dsum[p_adc] if p_adc >= 0 else 0.0
    prev_c = 0
    for j in range(m):
        c = samp_c[so + j]
        g = g1 + dep_j[s1 + j]
        t = tl[g]
        f = dep_f[s1 + j]
        if f > 0.0:
            t = t + f * (tl[g + 1] - t)
        r = t + k1
        if j > 0:
            gf = float(c - prev_c)
            for k in range(n_ops):
                w = tk[k] + gf * dcbf[k]
                if w > r:
                    r = w
                tk[k] = r
        else:
            for k in range(n_ops):
                tk[k] = r
        if p_ld >= 0:
            tld[ol + j] = tk[p_ld] + z_ld
        if p_st >= 0:
            tst[ol + j] = tk[p_st] + z_st
        if p_adc >= 0:
            tadc[ol + j] = tk[p_adc] + z_adc
        tl[ol + j] = r + z_last  # r = tk[n_ops - 1]
        prev_c = c


@numba.njit(**JIT)
def _times_free(b, l, base, n_ops, blk, slots, edges, dl, tm):
    """Times of layer l's samples when it waits for no ADC. t_k - D_k (D_k = sum of dop
    before k) is then a running max along the chain, one max per op instead of an add and
    a max, kept in that form from block to block (tk) and D_k added back where a time is
    stored: the same times where they are whole steps (an interpolated arrival may move in
    its last bits, well below the half step that rounds the makespan)."""
    lay_off, samp_c = blk.lay_off, blk.samp_c
    slot_off, dep_j, dep_f = slots.slot_off, slots.dep_j, slots.dep_f
    prov_ptr, prov_idx = edges.prov_ptr, edges.prov_idx
    tl, tld, tst, tadc, tk = tm
    dcbf, dsum, kappa_last = dl.dcbf[l], dl.dsum[l], dl.kappa_last
    o = lay_off[b, l]
    m = lay_off[b, l + 1] - o
    so = blk.samp_off[b, l]
    p_ld, p_st, p_adc = dl.marks[l, 0], dl.marks[l, 1], dl.marks[l, 2]
    ol = o - base
    q0, q1 = prov_ptr[l], prov_ptr[l + 1]
    prev_c = 0
    for j in range(m):
        c = samp_c[so + j]
        # the providers' release: the latest provider last-op start (interpolated between
        # provider samples) plus that op's cycles; only block 0 of the input layer starts free
        r = 0.0 if c == 0 and q1 == q0 else NEG
        for q in range(q0, q1):
            p = prov_idx[q]
            g = lay_off[b, p] - base + dep_j[slot_off[b, q] + j]
            t = _between(tl[g], tl[g + 1], dep_f[slot_off[b, q] + j]) + kappa_last[p]
            if t > r:
                r = t
        if j > 0:
            gf = float(c - prev_c)
            for k in range(n_ops):
                w = tk[k] + gf * dcbf[k]
                if w > r:
                    r = w
                tk[k] = r
        else:
            for k in range(n_ops):
                tk[k] = r
        if p_ld >= 0:
            tld[ol + j] = tk[p_ld] + dsum[p_ld]
        if p_st >= 0:
            tst[ol + j] = tk[p_st] + dsum[p_st]
        if p_adc >= 0:
            tadc[ol + j] = tk[p_adc] + dsum[p_adc]
        tl[ol + j] = tk[n_ops - 1] + dsum[n_ops - 1]
        prev_c = c


@numba.njit(**JIT)
def _times_adc_wait(b, l, base, n_ops, bits, partner, blk, slots, edges, dl, tm):
    """Times of layer l's samples when it is the later layer of a shared-ADC pair: its ADC
    op waits for a step free of the earlier ``partner``'s bit chains (:func:`_adc_window`),
    also for each unsampled block since the previous sample. The times are kept as such
    (tk = t_k)."""
    lay_off, samp_c = blk.lay_off, blk.samp_c
    slot_off, dep_j, dep_f = slots.slot_off, slots.dep_j, slots.dep_f
    prov_ptr, prov_idx = edges.prov_ptr, edges.prov_idx
    tl, tld, tst, tadc, tk = tm
    dop, dcb, kappa_last = dl.dop[l], dl.dcb[l], dl.kappa_last
    o = lay_off[b, l]
    m = lay_off[b, l + 1] - o
    so = blk.samp_off[b, l]
    p_ld, p_st, p_adc = dl.marks[l, 0], dl.marks[l, 1], dl.marks[l, 2]
    pa_o = lay_off[b, partner] - base
    pa_s = blk.samp_off[b, partner]
    pa_m = lay_off[b, partner + 1] - lay_off[b, partner]
    ptr = 0
    chain = float(bits)
    ol = o - base
    q0, q1 = prov_ptr[l], prov_ptr[l + 1]
    prev_c = 0
    for j in range(m):
        c = samp_c[so + j]
        # the providers' release: the latest provider last-op start (interpolated between
        # provider samples) plus that op's cycles; only block 0 of the input layer starts free
        v = 0.0 if c == 0 and q1 == q0 else NEG
        for q in range(q0, q1):
            p = prov_idx[q]
            g = lay_off[b, p] - base + dep_j[slot_off[b, q] + j]
            t = _between(tl[g], tl[g + 1], dep_f[slot_off[b, q] + j]) + kappa_last[p]
            if t > v:
                v = t
        gap = c - prev_c
        for k in range(n_ops):
            if k > 0:
                v = v + dop[k - 1]  # v: this block's op k-1 start
            if j > 0:
                v = max(v, tk[k] + gap * dcb[k])
            if k == p_adc:
                if j > 0 and gap > 1:
                    # the unsampled blocks since the last sample need ADC slots too
                    w = tk[k]
                    for _ in range(gap - 1):
                        w, ptr = _adc_window(tadc, samp_c, pa_o, pa_s, pa_m, w + dcb[k], chain, ptr)
                    v = max(v, w + dcb[k])
                v, ptr = _adc_window(tadc, samp_c, pa_o, pa_s, pa_m, v, chain, ptr)
            tk[k] = v
        if p_ld >= 0:
            tld[ol + j] = tk[p_ld]
        if p_st >= 0:
            tst[ol + j] = tk[p_st]
        if p_adc >= 0:
            tadc[ol + j] = tk[p_adc]
        tl[ol + j] = tk[n_ops - 1]
        prev_c = c


@numba.njit(**JIT)
def _last_start(l, n_ops, dl, tk, waiting):
    """The last step that the makespan counts of layer l's last block (op starts in tk):
    each op's start plus its tail (:func:`_delays`)."""
    dsum, tail = dl.dsum[l], dl.tail[l]
    end = 0.0
    for k in range(n_ops):
        v = tk[k] if waiting else tk[k] + dsum[k]
        v += tail[k]
        if v > end:
            end = v
    return end


@numba.njit(**JIT)
def _run(idx, des, cyc, graph, blk, slots, inbuf, ev_stride, cap_scale, fixes):
    """(steps, buffer elements, shared-ADC pair delay) of the designs idx. Per design: each
    layer's op delays and sample times in layer order, and the makespan; each shared
    pair's delay; the buffer need, layers visited by decreasing bound until none can raise
    the max or (with ``cap_scale``) change its capacity bin.

    Runs once per batch, so the reference counts of its arrays are paid once (see the note
    above); every step is called from its loop."""
    op_code, n_ops, bits, dup, n, partner = des
    lay_off, samp_off, samp_c = blk
    geo, edges, c_out = graph.geo, graph.edges, graph.c_out
    prov_ptr, cons_ptr = edges.prov_ptr, edges.cons_ptr
    nd = idx.shape[0]
    n_layer = op_code.shape[1]
    kmax = op_code.shape[2]
    steps = np.zeros(nd, dtype=np.int64)
    elements = np.zeros(nd, dtype=np.float64)
    pair_delay = np.zeros(nd, dtype=np.float64)
    shape = (n_layer, kmax)
    dl = Delays(np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64),
                np.zeros(shape, dtype=np.float64), np.zeros(shape, dtype=np.float64), np.zeros(shape, dtype=np.bool_),
                np.zeros(shape, dtype=np.int64), np.zeros((n_layer, 3), dtype=np.int64), np.zeros(n_layer, dtype=np.float64),
                np.zeros(n_layer, dtype=np.int64))
    period = dl.period
    max_s = 1
    for i in range(nd):
        b = idx[i]
        max_s = max(max_s, lay_off[b, n_layer] - lay_off[b, 0])
    tm = Times(np.zeros(max_s, dtype=np.float64), np.zeros(max_s, dtype=np.float64),
               np.zeros(max_s, dtype=np.float64), np.zeros(max_s, dtype=np.float64), np.zeros(kmax, dtype=np.float64))
    tld, tst, tadc, tk = tm.tld, tm.tst, tm.tadc, tm.tk
    ubound = np.zeros(n_layer, dtype=np.float64)  # the largest inbuf + outbuf each layer can reach
    order = np.zeros(n_layer, dtype=np.int64)  # layers by decreasing bound
    ptr = np.zeros(2 * n_layer + 2, dtype=np.int64)  # walk pointers of the buffer scan
    for i in range(nd):
        b = idx[i]
        base = lay_off[b, 0]
        # ---- the recurrence, layer by layer ----
        _delays(op_code, n_ops, b, bits[b], cyc, i, dl, fixes.final_op)
        makespan = 0.0
        for l in range(n_layer):
            k_ops = n_ops[b, l]
            waiting = 0 <= partner[b, l] < l
            if waiting:
                _times_adc_wait(b, l, base, k_ops, bits[b], partner[b, l], blk, slots, edges, dl, tm)
            elif prov_ptr[l + 1] - prov_ptr[l] == 1:
                _times_one_provider(b, l, base, k_ops, blk, slots, edges, dl, tm)
            else:
                _times_free(b, l, base, k_ops, blk, slots, edges, dl, tm)
            if lay_off[b, l + 1] > lay_off[b, l]:
                makespan = max(makespan, _last_start(l, k_ops, dl, tk, waiting))
        steps[i] = int(makespan + 0.5) + 1
        # ---- shared ADC pairs ----
        # the pairs' delays overlap in time (pairs on parallel paths, or whose waiting the
        # pipeline absorbs): combined as the root of their summed squares, between their max
        # and their sum
        for l in range(n_layer):
            p = partner[b, l]
            if p >= 0 and lay_off[b, l + 1] > lay_off[b, l] and lay_off[b, p + 1] > lay_off[b, p]:
                d = _pair_delay(tadc, samp_c, lay_off[b, l] - base, samp_off[b, l], lay_off[b, l + 1] - lay_off[b, l],
                                n[b, l], lay_off[b, p] - base, samp_off[b, p], lay_off[b, p + 1] - lay_off[b, p],
                                n[b, p], float(bits[b]))
                pair_delay[i] += d * d
        pair_delay[i] = np.sqrt(pair_delay[i])
        # ---- the buffer need (buffers module docstring) ----
        scan_order(b, dup, n, c_out, inbuf, lay_off, ubound, order)
        e_max = 0.0
        for oi in range(n_layer):
            pl = order[oi]
            # only the capacity bin of the max counts (see buffers.reaches)
            thr = bin_threshold(ubound[pl], cap_scale)
            if ubound[pl] <= e_max or reaches(e_max, thr, cap_scale):
                break
            pm = lay_off[b, pl + 1] - lay_off[b, pl]
            c0, c1 = cons_ptr[pl], cons_ptr[pl + 1]
            # no samples: nothing stored; no consumers: every block stays
            out = float(dup[b, pl] * n[b, pl] * c_out[pl]) if pm > 0 and c1 == c0 else 0.0
            if pm > 0 and c1 > c0:
                win = first_window(b, pl, dup, n, blk, edges, tld, tst, base, fixes.live_window)
                if not reaches(inbuf[b, pl] + win * c_out[pl], thr, cap_scale):
                    win = consumer_events(b, pl, win, thr, cap_scale, inbuf[b, pl], c_out[pl], dup, n, period[pl],
                                          blk, slots, edges, tld, tst, base, ptr, ev_stride, fixes.live_window)
                if not reaches(inbuf[b, pl] + win * c_out[pl], thr, cap_scale) and fixes.live_window:
                    win = provider_events_live(b, pl, win, thr, cap_scale, inbuf[b, pl], c_out[pl], dup, blk, edges,
                                               geo, tld, tst, base, ptr, ev_stride, fixes)
                elif not reaches(inbuf[b, pl] + win * c_out[pl], thr, cap_scale):
                    win = provider_events(b, pl, win, thr, cap_scale, inbuf[b, pl], c_out[pl], dup, blk, edges, geo,
                                          tld, tst, base, ptr, ev_stride, fixes)
                out = win * c_out[pl]
            e_max = max(e_max, inbuf[b, pl] + out)
        elements[i] = e_max
    return steps, elements, pair_delay


@dataclass
class Timing:
    steps: np.ndarray  # int[n]
    elements: np.ndarray  # float[n]
    pair_delay: np.ndarray  # [n] fluid-queue delay of the shared ADC pairs (root of the summed squares)


def consumer_csr(network):
    ptr = np.zeros(len(network) + 1, dtype=np.int64)
    idx = []
    for l, cons in enumerate(network.consumers):
        idx.extend(cons)
        ptr[l + 1] = len(idx)
    return ptr, np.array(idx, dtype=np.int64)


def run_recurrence(network, samples: Samples, idx, op_code, n_ops, bits, dup, blocks, prov, cons,
                   k_tran, k_ld, k_st, k_mrg, partner=None, capacity_scale: float = 0.0, fixes=frozenset()) -> Timing:
    """Recurrence times of designs ``idx`` (cycle counts are [len(idx), L]).

    With ``partner`` ([B, L] layer index, -1 none) the shared ADC is modelled: the earlier
    layer of a pair runs free and the later one waits for free ADC slots; the earlier
    one's own waiting is the pair delay (:mod:`.correction`).

    With ``capacity_scale`` (bytes per element, data_res / 8) the buffer scan stops once the
    memory capacity that the need asks for is settled: ``elements`` may then be below the max
    but gives the same capacity. 0 scans to the exact max.

    ``fixes`` (:mod:`fitness.fixes`): ``final-op`` and ``live-window`` change the steps and the
    buffer scan here; ``pixel-window`` and ``non-square`` the windows of ``samples``
    (:func:`build_samples` must be given the same ones).
    """
    if partner is None:
        partner = np.full(np.shape(dup), -1, dtype=np.int64)
    des = Designs(i64(op_code), i64(n_ops), i64(bits), i64(dup), i64(blocks), i64(partner))
    cyc = Cycles(i64(k_tran), i64(k_ld), i64(k_st), i64(k_mrg))
    blk = Blocks(samples.lay_off, samples.samp_off, samples.samp_c)
    slots = Slots(samples.slot_off, samples.dep_j, samples.dep_f, samples.win_lo)
    out = _run(i64(idx), des, cyc, network_graph(network, prov, cons), blk, slots, samples.inbuf, EVENT_STRIDE,
               float(capacity_scale), Fixes.of(fixes))
    return Timing(*out)
