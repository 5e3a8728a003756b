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

Buffers (§8.7): inbuf is the max over (sampled) blocks of the summed inputcap (closed form,
capacity independent). outbuf of a provider P is (hi_P - lo_P) x C_P evaluated (a) just
before each consumer event that follows a consumer ST (lo = that block's window start,
hi = dup_P x P's blocks stored by then), (b) at P's sampled ST events with lo from the
latest event of any consumer (Q24), (c) before the first consumer event (lo = 0), and for
layers without consumers at their last ST. Events are taken at every EVENT_STRIDE-th sample.

Two numba kernels loop over the designs (no Python work per design):

* :func:`build_samples` (capacity independent, once per batch): the sampled blocks, the
  provider sample each (block, provider) waits for, the providers' live-window starts and
  the input-buffer need. Each piece depends on a few genes only (a layer's samples on its
  n; a (layer, provider) slot group on both layers' (dup, n); the provider pixel counts and
  window starts on the layer's (dup, n); the input need on (dup, n, idiv, ddiv)), so
  :func:`_build_memo` computes and stores it once per distinct key in the batch
  (open-addressing tables) and points the other designs at it (:class:`Samples`);
  :func:`_build` is the direct per-design version it is tested equal to;
* :func:`run_recurrence` (once per fixed-point round): steps, the shared-ADC pair delay
  and the buffer need. The buffer need is a max over layers of
  inbuf + outbuf with outbuf <= dup x n x C; layers are visited by decreasing bound and
  the rest skipped once none can raise the max (same result, bit for bit); with a
  ``capacity_scale`` the scan also stops once no layer can change the memory capacity
  the max asks for (the need is used only through it: same capacity, same results).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from fitness.arrays import i64
from fitness.depcb import cdiv, depend_block, depend_pixel, pixel_range
from fitness.memory import BUFFER_SLACK
from fitness.oplist import ADC, LD, MRG, ST, TRAN, BIT_LEVEL

_BIT = BIT_LEVEL.copy()
_JIT = dict(cache=True, error_model="numpy", boundscheck=False)
_CONV, _FC, _POOL, _ELTWISE = 0, 1, 2, 3


NEG = -1.0e18
TAU_SHIFT = 1.0
# Provider-count estimate between two samples: linear interpolation, moved this far
# towards the fastest possible progress (one block per period after the lower sample).
# Interpolation alone underestimates the provider's lead (hence the buffer need) on
# heavily subsampled layers (VGG's 50k-block convs); 0.5 restores most of it.
UB = 0.5
DO_BUF = True
# The buffer scan evaluates the window at every EVENT_STRIDE-th sample (and the last) of
# each consumer and provider: between samples the times are interpolated lines, so the
# skipped events add little. On 3,000 random designs (alexnet, resnet18, vgg16) stride 8
# left the analytic-vs-cycle agreement unchanged and halved the scan's time.
EVENT_STRIDE = 8


@dataclass
class Samples:
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


@numba.njit(**_JIT)
def _sample_blocks(n, cap, out, o):
    if n <= cap:
        for c in range(n):
            out[o + c] = c
        return n
    m = cap
    for j in range(m):
        out[o + j] = (j * (n - 1)) // (m - 1)
    return m


@numba.njit(**_JIT)
def _offsets(n, cap, prov_ptr):
    """Unpooled layout: per design and layer, where its samples start (a layer samples
    min(n, cap[l]) blocks), per design and (layer, provider) column where its slots start,
    and both totals (the pooled arrays never need more)."""
    nb, n_layer = n.shape
    lay_off = np.zeros((nb, n_layer + 1), dtype=np.int64)
    col_off = np.zeros((nb, prov_ptr[n_layer]), dtype=np.int64)
    tot = 0
    tot_slot = 0
    for b in range(nb):
        for l in range(n_layer):
            lay_off[b, l] = tot
            m = min(max(n[b, l], 0), cap[l])
            tot += m
            for q in range(prov_ptr[l], prov_ptr[l + 1]):
                col_off[b, q] = tot_slot
                tot_slot += m
        lay_off[b, n_layer] = tot
    return lay_off, col_off, tot, tot_slot


@numba.njit(**_JIT)
def _input_need(l, kind, w, h, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx, dup_l, n_l, idiv_l, per_macro,
                cap_in, tmp):
    """Input buffer need of layer l (elements): the max over sampled blocks (and blocks 1-3,
    where the rows near the top differ) of the summed inputcap of its providers
    (``per_macro``: duplicates per macro, ceil(dup / ddiv))."""
    k_in = _sample_blocks(n_l, cap_in, tmp, 0)
    best = 0.0
    for i in range(k_in + 3):
        if i < k_in:
            c = tmp[i]
        else:
            c = i - k_in + 1
            if c >= n_l:
                continue
        q0 = dup_l * c
        q1 = q0 + per_macro
        total = 0.0
        for jj in range(prov_ptr[l + 1] - prov_ptr[l]):
            p = prov_idx[prov_ptr[l] + jj]
            st, _ = pixel_range(q0, kind[l], w[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], w[p], h[p])
            _, en = pixel_range(q1, kind[l], w[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], w[p], h[p])
            total += (en - st) * c_out[p] / idiv_l
        if total > best:
            best = total
    return best


@numba.njit(**_JIT)
def _build(kind, w, h, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx, dup, n, idiv, ddiv, cap, cap_in):
    """The direct per-design build (no pooling): what :func:`_build_memo` is tested against."""
    nb, n_layer = dup.shape
    lay_off, slot_off, tot, tot_slot = _offsets(n, cap, prov_ptr)
    samp_c = np.zeros(tot, dtype=np.int64)
    dep_j = np.zeros(tot_slot, dtype=np.int64)
    dep_f = np.zeros(tot_slot, dtype=np.float64)
    win_lo = np.zeros(tot_slot, dtype=np.int64)
    inbuf = np.zeros((nb, n_layer), dtype=np.float64)
    status = np.zeros(nb, dtype=np.int64)
    tmp = np.zeros(cap_in + 8, dtype=np.int64)
    for b in range(nb):
        for l in range(n_layer):
            _sample_blocks(max(n[b, l], 0), cap[l], samp_c, lay_off[b, l])
        for l in range(n_layer):
            o = lay_off[b, l]
            m = lay_off[b, l + 1] - o
            for q in range(prov_ptr[l], prov_ptr[l + 1]):
                p = prov_idx[q]
                so = slot_off[b, q]
                for i in range(m):
                    c = samp_c[o + i]
                    d = depend_block(c, kind[l], w[l], dup[b, l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l],
                                     w[p], dup[b, p], n[b, p]) - 1
                    if d < 0 or d >= n[b, p]:
                        status[b] = 1
                        d = 0
                    # provider sample at or below d
                    po = lay_off[b, p]
                    pm = lay_off[b, p + 1] - po
                    lo_i, hi_i = 0, pm - 1
                    while lo_i < hi_i:
                        mid = (lo_i + hi_i + 1) // 2
                        if samp_c[po + mid] <= d:
                            lo_i = mid
                        else:
                            hi_i = mid - 1
                    dep_j[so + i] = lo_i
                    c_a = samp_c[po + lo_i]
                    if c_a < d and lo_i + 1 < pm:
                        dep_f[so + i] = (d - c_a) / (samp_c[po + lo_i + 1] - c_a)
                    st, _ = pixel_range(dup[b, l] * c, kind[l], w[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l],
                                        w[p], h[p])
                    win_lo[so + i] = st
            # input buffer need: max over (sampled) blocks of the summed inputcap
            if prov_ptr[l + 1] > prov_ptr[l] and n[b, l] > 0:
                inbuf[b, l] = _input_need(l, kind, w, h, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx,
                                          dup[b, l], n[b, l], idiv[b, l], cdiv(dup[b, l], max(ddiv[b, l], 1)),
                                          cap_in, tmp)
    samp_off = np.ascontiguousarray(lay_off[:, :n_layer])
    return status, lay_off, samp_off, slot_off, samp_c, dep_j, dep_f, win_lo, inbuf


@numba.njit(inline="always", **_JIT)
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


@numba.njit(**_JIT)
def _build_memo(kind, w, h, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx, dup, n, idiv, ddiv, cap, cap_in):
    """:func:`_build` with every per-layer piece computed and stored once per distinct key in
    the batch (the sample blocks of a layer depend on its n only, a (layer, provider) slot
    column on (dup, n) of the layer and the provider, the input need on (dup, n, idiv, ddiv)):
    the other designs point at the first one's piece. Same values, bit for bit."""
    nb, n_layer = dup.shape
    n_q = prov_ptr[n_layer]
    lay_off, _, tot, tot_slot = _offsets(n, cap, prov_ptr)
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
    tmp = np.zeros(cap_in + 8, dtype=np.int64)
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
                top += _sample_blocks(nl, cap[l], samp_c, top)
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
                        px = depend_pixel(c, kind[l], w[l], dup[b, l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], w[p])
                        pix[px0 + i] = px
                        st, _ = pixel_range(dup[b, l] * c, kind[l], w[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l],
                                            w[p], h[p])
                        win_lo[so + i] = st
                    # depend_block - 1
                    if kind[l] == _FC:
                        d = np_ - 1
                    else:
                        d = cdiv(np.int64(px), dp_) - 1
                    if d < 0 or d >= np_:
                        err = 1
                        d = 0
                    # provider sample at or below d (samples: every block, or (j (n-1)) // (m-1))
                    if pm == np_:
                        lo_i = d
                    elif pm >= 2:
                        lo_i = min(pm - 1, ((d + 1) * (pm - 1) - 1) // (np_ - 1))
                    else:
                        lo_i = 0
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
                    v = _input_need(l, kind, w, h, c_out, kh, kw, sh, sw, ph, pw, prov_ptr, prov_idx,
                                    dup[b, l], n[b, l], div, per_macro, cap_in, tmp)
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
                  min_samples: int = 16, memo: bool = True) -> Samples:
    arr = network.arrays
    kernel = _build_memo if memo else _build
    caps = sample_caps(network, max_samples, min_samples)
    out = kernel(arr.kind, arr.out_h, arr.out_w, arr.out_channels, arr.kernel_h, arr.kernel_w,
                 arr.stride_h, arr.stride_w, arr.pad_top, arr.pad_left, prov[0], prov[1],
                 i64(dup), i64(blocks), i64(idiv), i64(ddiv), caps, int(max_in_samples))
    return Samples(*out)


@numba.njit(**_JIT)
def _count_le(tv, samp_c, o, so, m, n_total, tau):
    """Blocks (1-based count) whose sampled-and-interpolated time is <= tau (tv from o, samp_c from so)."""
    if m == 0 or tv[o] > tau:
        return 0.0
    if tv[o + m - 1] <= tau:
        return float(n_total)
    lo, hi = 0, m - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if tv[o + mid] <= tau:
            lo = mid
        else:
            hi = mid - 1
    c_a = samp_c[so + lo]
    c_b = samp_c[so + lo + 1]
    f = (tau - tv[o + lo]) / (tv[o + lo + 1] - tv[o + lo])
    return float(c_a + int(f * (c_b - c_a)) + 1)


@numba.njit(**_JIT)
def _time_at(tv, samp_c, o, so, m, c):
    """Interpolated time of block c from the sampled sequence tv."""
    lo, hi = 0, m - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if samp_c[so + mid] <= c:
            lo = mid
        else:
            hi = mid - 1
    c_a = samp_c[so + lo]
    if c_a == c or lo + 1 >= m:
        return tv[o + lo]
    c_b = samp_c[so + lo + 1]
    return tv[o + lo] + (c - c_a) * (tv[o + lo + 1] - tv[o + lo]) / (c_b - c_a)


@numba.njit(**_JIT)
def _adc_free(tadc, samp_c, o, so, m, x, B, ptr):
    """(first step >= x at which the earlier layer of a shared pair may start a bit chain
    on the ADC whose other user, the later layer, starts chains (B steps each) at the
    sampled times tadc[o:o+m] (interpolated between samples), updated pointer); for the
    passes after the first of :func:`run_recurrence`. A running chain (bit > 0) wins
    against a new one; two new chains tie and the earlier layer wins (MODEL.md §8.6).

    ``ptr`` is the partner sample found by the previous call for the same layer: a layer's
    ADC starts grow with its blocks, so the query never moves back and a forward walk finds
    the latest partner sample at or below it (what a bisection would find; 0 to start)."""
    if m == 0:
        return x, ptr
    s = x
    for _ in range(4 * m + 8):
        q = s - 0.5  # a chain of the later layer starting at s loses the tie
        if tadc[o] > q:
            return s, ptr
        while ptr + 1 < m and tadc[o + ptr + 1] <= q:
            ptr += 1
        lo = ptr
        t_a = tadc[o + lo]
        slope = 0.0
        if lo + 1 < m:
            slope = (tadc[o + lo + 1] - t_a) / (samp_c[so + lo + 1] - samp_c[so + lo])
            latest = t_a + np.floor((q - t_a) / slope) * slope
        else:
            latest = t_a
        if latest <= s - B:
            return s, ptr
        s = latest + B
    return s, ptr


@numba.njit(**_JIT)
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


@numba.njit(inline="always", **_JIT)
def _count_lt_ptr(tv, samp_c, o, so, m, n_total, s, ptr):
    """(blocks with interpolated time < s, updated pointer); s must not decrease between calls."""
    if tv[o] >= s:
        return 0.0, ptr
    while ptr + 1 < m and tv[o + ptr + 1] < s:
        ptr += 1
    if ptr + 1 >= m:
        return float(n_total), ptr
    c_a = samp_c[so + ptr]
    c_b = samp_c[so + ptr + 1]
    t_a = tv[o + ptr]
    slope = (tv[o + ptr + 1] - t_a) / (c_b - c_a)
    k = int(np.ceil((s - t_a) / slope))  # blocks c_a .. c_a + k - 1 are before s
    return float(c_a + min(k, c_b - c_a)), ptr


@numba.njit(**_JIT)
def _pair_delay(tadc, samp_c, ol, sl, ml, nl_blocks, op_, sp, mp, np_blocks, B):
    """Fluid FIFO model of one shared ADC (two layers' bit chains of B steps each, requested at
    their recurrence ADC start times): the larger delay of the two layers' last chains.

    F(T) = max over s <= T of (s - work requested before s) + work requested up to T is when
    the server finishes the work requested by T; a layer's delay is F(its last request) minus
    its undisturbed finish. The max runs over the request times (breakpoints)."""
    if ml == 0 or mp == 0:
        return 0.0
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
        a_l, ptr_l = _count_lt_ptr(tadc, samp_c, ol, sl, ml, nl_blocks, s, ptr_l)
        a_p, ptr_p = _count_lt_ptr(tadc, samp_c, op_, sp, mp, np_blocks, s, ptr_p)
        g = s - B * (a_l + a_p)
        if s <= t_last_l and g > best_l:
            best_l = g
        if s <= t_last_p and g > best_p:
            best_p = g
    d_l = best_l + B * (nl_blocks + _count_le(tadc, samp_c, op_, sp, mp, np_blocks, t_last_l)) - t_last_l - B
    d_p = best_p + B * (_count_le(tadc, samp_c, ol, sl, ml, nl_blocks, t_last_p) + np_blocks) - t_last_p - B
    return max(d_l, d_p, 0.0)


@numba.njit(inline="always", **_JIT)
def _slope(tv, samp_c, t, s):
    """Per-block slope of the sampled times tv after sample t (samp_c index s): computed where
    an event needs it (a fraction of the samples), not for every sample."""
    return (tv[t + 1] - tv[t]) / (samp_c[s + 1] - samp_c[s])


@numba.njit(inline="always", **_JIT)
def _capacity_exponent(e, scale):
    """log2 of the capacity that the buffer need e (elements) asks for, as
    :func:`fitness.memory.capacities_kb` computes it (a large negative number for no need)."""
    need = np.ceil(e * scale)
    if need <= 0.0:
        return -1.0e9
    return np.ceil(np.log2(need * BUFFER_SLACK))


@numba.njit(inline="always", **_JIT)
def _bin_threshold(hi, scale):
    """The least scaled need whose capacity bin reaches that of the need hi: a need lo in
    [.., hi] gives the same capacity as hi iff :func:`_reaches` (lo, this). One log2 per
    layer instead of two per test; the margins keep the test on the safe side of a bin
    edge whatever the rounding of log2 here and in numpy."""
    if scale <= 0.0:
        return np.inf
    e = _capacity_exponent(hi * (1.0 + 1e-9), scale)
    return 2.0 ** (e - 1.0)


@numba.njit(inline="always", **_JIT)
def _reaches(lo, threshold, scale):
    """Whether the need lo is in the capacity bin whose :func:`_bin_threshold` is given
    (ceil(log2(y)) >= e exactly when y > 2^(e-1)). The fixed point uses the need only
    through its capacity, so a max over layers may stop once the rest cannot leave the
    capacity of the max so far."""
    if lo <= 0.0:
        return False
    return np.ceil(lo * (1.0 - 1e-9) * scale) * BUFFER_SLACK > threshold


@numba.njit(inline="always", **_JIT)
def _n_events(m, stride):
    """Events of a layer with m samples when every stride-th and the last are taken:
    samples 0, stride, 2 stride, ... and m - 1 (min(v x stride, m - 1) for v below this)."""
    if m <= 0:
        return 0
    return (m + stride - 2) // stride + 1


@numba.njit(**_JIT)
def _run(idx, op_code, n_ops, bits, k_tran, k_ld, k_st, k_mrg, prov_ptr, prov_idx, cons_ptr, cons_idx,
         c_out, dup, n, lay_off, samp_off, slot_off, samp_c, dep_j, dep_f, win_lo, inbuf, bit_level, partner, sharer,
         tadc, prev_tadc, use_prev, do_buf, geo, ev_stride, cap_scale):
    nd = idx.shape[0]
    n_layer = op_code.shape[1]
    kmax = op_code.shape[2]
    steps = np.zeros(nd, dtype=np.int64)
    elements = np.zeros(nd, dtype=np.float64)
    period = np.zeros(n_layer, dtype=np.float64)  # of the current design: max dcb (steps per block)
    kappa = np.zeros(kmax, dtype=np.int64)
    rep = np.zeros(kmax, dtype=np.int64)
    dop = np.zeros(kmax, dtype=np.int64)
    dcb = np.zeros(kmax, dtype=np.int64)
    tk = np.zeros(kmax, dtype=np.float64)
    dsum = np.zeros(kmax, dtype=np.float64)
    dz = np.zeros(kmax, dtype=np.float64)
    dcbf = np.zeros(kmax, dtype=np.float64)
    isbit = np.zeros(kmax, dtype=np.bool_)
    max_s = 1
    for i in range(nd):
        b = idx[i]
        max_s = max(max_s, lay_off[b, n_layer] - lay_off[b, 0])
    tl = np.zeros(max_s, dtype=np.float64)
    tld = np.zeros(max_s, dtype=np.float64)
    tst = np.zeros(max_s, dtype=np.float64)
    # ADC start times: the caller's array (global sample offsets, kept for further passes) or,
    # when it is empty, one design's worth of scratch (offsets from the design's first sample)
    tloc = np.zeros(max_s if tadc.shape[0] == 0 else 0, dtype=np.float64)
    pair_delay = np.zeros(nd, dtype=np.float64)
    kappa_last = np.zeros(n_layer, dtype=np.int64)
    cptr = np.zeros(2 * n_layer + 2, dtype=np.int64)
    qptr = np.zeros(2 * n_layer + 2, dtype=np.int64)
    outbuf = np.zeros(n_layer, dtype=np.float64)
    ubound = np.zeros(n_layer, dtype=np.float64)
    order = np.zeros(n_layer, dtype=np.int64)
    for i in range(nd):
        b = idx[i]
        base = lay_off[b, 0]
        B = bits[b]
        if tadc.shape[0] == 0:
            ta = tloc
            tb = base
        else:
            ta = tadc
            tb = 0
        makespan = 0.0
        for l in range(n_layer):
            K = n_ops[b, l]
            # positions of the ops whose times are kept (each occurs at most once per op list)
            p_ld, p_st, p_adc = -1, -1, -1
            for k in range(K):
                op = op_code[b, l, k]
                kap = 1
                if op == TRAN:
                    kap = k_tran[i, l]
                elif op == LD:
                    kap = k_ld[i, l]
                    p_ld = k
                elif op == ST:
                    kap = k_st[i, l]
                    p_st = k
                elif op == MRG:
                    kap = k_mrg[i, l]
                elif op == ADC:
                    p_adc = k
                kappa[k] = kap
                isbit[k] = bit_level[op]
                rep[k] = B if isbit[k] else 1
            acc = 0.0
            mx = 0
            for k in range(K):
                if k < K - 1:
                    if isbit[k] and not isbit[k + 1]:
                        dop[k] = kappa[k] * rep[k]
                    else:
                        dop[k] = kappa[k]
                    dcb[k] = max(kappa[k] * rep[k], dop[k] + kappa[k + 1] * rep[k + 1] - 1)
                else:
                    dop[k] = kappa[k]
                    dcb[k] = kappa[k] * rep[k]
                dsum[k] = acc
                dcbf[k] = float(dcb[k])
                acc += dop[k]
                mx = max(mx, dcb[k])
            kappa_last[l] = kappa[K - 1]
            o = lay_off[b, l]
            m = lay_off[b, l + 1] - o
            so = samp_off[b, l]
            n_prov = prov_ptr[l + 1] - prov_ptr[l]
            period[l] = mx
            prev_c = 0
            pl_ = partner[b, l]
            if pl_ > l:
                pl_ = -1
            pl_o = lay_off[b, pl_] if pl_ >= 0 else 0
            pl_s = samp_off[b, pl_] if pl_ >= 0 else 0
            pl_m = (lay_off[b, pl_ + 1] - pl_o) if pl_ >= 0 else 0
            sl_ = sharer[b, l] if use_prev else -1
            sl_o = lay_off[b, sl_] if sl_ >= 0 else 0
            sl_s = samp_off[b, sl_] if sl_ >= 0 else 0
            sl_m = (lay_off[b, sl_ + 1] - sl_o) if sl_ >= 0 else 0
            ptr_pl = 0
            ptr_sl = 0
            # without ADC waiting tk holds t_k - D_k (see below); dz adds D_k back where a
            # time is read (zero on the waiting path, which keeps t_k itself)
            fast = pl_ < 0 and sl_ < 0
            for k in range(K):
                dz[k] = dsum[k] if fast else 0.0
            # one provider (most layers): its slot column, time offset and last-op cycles,
            # read once per layer instead of once per sample
            s1, g1, k1 = 0, 0, 0.0
            if n_prov == 1:
                p1 = prov_idx[prov_ptr[l]]
                s1 = slot_off[b, prov_ptr[l]]
                g1 = lay_off[b, p1] - base
                k1 = float(kappa_last[p1])
            if fast and n_prov == 1 and m > 0:
                # the common case (one provider, no ADC waiting) in its own loop: store
                # offsets and D_k terms hoisted, no per-sample tests of the case (1.14x on
                # AlexNet's recurrence); the general loop below is the same arithmetic.
                # Written out twice on purpose: with the arrival and the op chain in numba
                # helpers (inline or not) the recurrence ran 2.4x slower.
                ol = o - base
                oa = o - tb
                z_last = dz[K - 1]
                z_ld = dz[p_ld] if p_ld >= 0 else 0.0
                z_st = dz[p_st] if p_st >= 0 else 0.0
                z_adc = dz[p_adc] if p_adc >= 0 else 0.0
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
                        for k in range(K):
                            w = tk[k] + gf * dcbf[k]
                            if w > r:
                                r = w
                            tk[k] = r
                    else:
                        for k in range(K):
                            tk[k] = r
                    if p_ld >= 0:
                        tld[ol + j] = tk[p_ld] + z_ld
                    if p_st >= 0:
                        tst[ol + j] = tk[p_st] + z_st
                    if p_adc >= 0:
                        ta[oa + j] = tk[p_adc] + z_adc
                    tl[ol + j] = r + z_last  # r = tk[K - 1]
                    prev_c = c
            for j in range(0 if fast and n_prov == 1 else m):
                c = samp_c[so + j]
                if n_prov == 1:
                    g = g1 + dep_j[s1 + j]
                    t = tl[g]
                    f = dep_f[s1 + j]
                    if f > 0.0:
                        t = t + f * (tl[g + 1] - t)
                    a = t + k1
                elif n_prov == 0:
                    a = 0.0 if c == 0 else NEG
                else:
                    a = NEG
                    for q in range(prov_ptr[l], prov_ptr[l + 1]):
                        p = prov_idx[q]
                        slot = slot_off[b, q] + j
                        g = lay_off[b, p] - base + dep_j[slot]
                        t = tl[g]
                        f = dep_f[slot]
                        if f > 0.0:
                            t = t + f * (tl[g + 1] - t)
                        t += kappa_last[p]
                        if t > a:
                            a = t
                gap = c - prev_c
                if fast:
                    # no ADC waiting: t_k - D_k (D_k = sum of dop before k) is a running max,
                    # one max per op on the dependency chain instead of an add and a max, and
                    # kept in that form from block to block (the same times where they are
                    # whole steps; an interpolated arrival may move in its last bits, well
                    # below the half step that rounds the makespan)
                    r = a
                    if j > 0:
                        gf = float(gap)
                        for k in range(K):
                            w = tk[k] + gf * dcbf[k]
                            if w > r:
                                r = w
                            tk[k] = r
                    else:
                        for k in range(K):
                            tk[k] = r
                    K_wait = 0
                else:
                    K_wait = K
                v = a
                for k in range(K_wait):
                    if k > 0:
                        v = v + dop[k - 1]  # v: this block's op k-1 start
                    if j > 0:
                        v = max(v, tk[k] + gap * dcb[k])
                    if k == p_adc:
                        if pl_ >= 0:
                            if j > 0 and gap > 1:
                                # the unsampled blocks since the last sample need ADC slots too
                                w = tk[k]
                                for _ in range(gap - 1):
                                    w, ptr_pl = _adc_window(ta, samp_c, pl_o - tb, pl_s, pl_m, w + dcb[k], float(B),
                                                            ptr_pl)
                                v = max(v, w + dcb[k])
                            v, ptr_pl = _adc_window(ta, samp_c, pl_o - tb, pl_s, pl_m, v, float(B), ptr_pl)
                        if sl_ >= 0:
                            v, ptr_sl = _adc_free(prev_tadc, samp_c, sl_o, sl_s, sl_m, v, float(B), ptr_sl)
                    tk[k] = v
                if p_ld >= 0:
                    tld[o - base + j] = tk[p_ld] + dz[p_ld]
                if p_st >= 0:
                    tst[o - base + j] = tk[p_st] + dz[p_st]
                if p_adc >= 0:
                    ta[o + j - tb] = tk[p_adc] + dz[p_adc]
                tl[o - base + j] = tk[K - 1] + dz[K - 1]
                prev_c = c
            if m > 0:
                for k in range(K):
                    v = tk[k] + dz[k]
                    if isbit[k]:
                        v += B - 1
                    if v > makespan:
                        makespan = v
        steps[i] = int(makespan + 0.5) + 1
        # ---- shared ADC pairs ----
        # the pairs' delays overlap in time (pairs on parallel paths, or whose waiting the
        # pipeline absorbs): combined as the root of their summed squares, between their max
        # and their sum
        for l in range(n_layer):
            p = partner[b, l]
            if p < 0:
                continue
            ol = lay_off[b, l]
            op_ = lay_off[b, p]
            d = _pair_delay(ta, samp_c, ol - tb, samp_off[b, l], lay_off[b, l + 1] - ol, n[b, l],
                            op_ - tb, samp_off[b, p], lay_off[b, p + 1] - op_, n[b, p], float(B))
            pair_delay[i] += d * d
        pair_delay[i] = np.sqrt(pair_delay[i])
        # ---- buffers (§8.7) from the recurrence times ----
        # elements = max over layers of inbuf + outbuf, and outbuf of a provider never exceeds
        # dup x n x C (all its blocks live): layers are visited by decreasing bound and the
        # visit stops once no bound exceeds the max so far (the max is unchanged, exactly).
        e_max = 0.0
        n_ord = 0
        for l in range(n_layer):
            outbuf[l] = 0.0
            u = inbuf[b, l]
            if do_buf and lay_off[b, l + 1] > lay_off[b, l]:
                u += float(dup[b, l] * n[b, l] * c_out[l])
            ubound[l] = u
            if not do_buf:
                if u > e_max:
                    e_max = u
                continue
            q_ = n_ord
            while q_ > 0 and ubound[order[q_ - 1]] < u:
                order[q_] = order[q_ - 1]
                q_ -= 1
            order[q_] = l
            n_ord += 1
        for oi in range(n_ord):
            pl = order[oi]
            if ubound[pl] <= e_max:
                break
            # only the capacity bin of the max counts (see _reaches)
            thr = _bin_threshold(ubound[pl], cap_scale)
            if _reaches(e_max, thr, cap_scale):
                break
            po = lay_off[b, pl]
            ps = samp_off[b, pl]
            pm = lay_off[b, pl + 1] - po
            if pm == 0:
                v = inbuf[b, pl] + outbuf[pl]
                if v > e_max:
                    e_max = v
                continue
            dup_pl = dup[b, pl]
            n_pl = n[b, pl]
            per_pl = period[pl]
            c0 = cons_ptr[pl]
            c1 = cons_ptr[pl + 1]
            if pm == 0:
                continue
            if c1 == c0:
                outbuf[pl] = float(dup_pl * n_pl * c_out[pl])
                v = inbuf[b, pl] + outbuf[pl]
                if v > e_max:
                    e_max = v
                continue
            # before any consumer event the window starts at 0
            tau0 = 1e300
            for e in range(c0, c1):
                L = cons_idx[e]
                if lay_off[b, L + 1] > lay_off[b, L]:
                    tau0 = min(tau0, tld[lay_off[b, L] - base])
            best = dup_pl * _count_le(tst, samp_c, po - base, ps, pm, n_pl, tau0)
            # the scan of this layer may stop once its value is in the capacity bin of its bound
            settled = _reaches(inbuf[b, pl] + best * c_out[pl], thr, cap_scale)
            for e in range(c0, c1):
                if settled:
                    break
                L = cons_idx[e]
                lo_o = lay_off[b, L]
                lo_s = samp_off[b, L]
                lm = lay_off[b, L + 1] - lo_o
                sl0 = 0
                for q in range(prov_ptr[L], prov_ptr[L + 1]):
                    if prov_idx[q] == pl:
                        sl0 = slot_off[b, q]
                ptr_p = 0  # provider ST sample at or below tau
                for e2 in range(c0, c1):
                    qptr[2 * (e2 - c0)] = 0
                    qptr[2 * (e2 - c0) + 1] = 0
                ptr_l = 0  # consumer LD sample at or below t_s
                lo_l = lo_o - base
                lo_p = po - base
                # events at every ev_stride-th sample and the last (no division per sample)
                for jv in range(_n_events(lm, ev_stride)):
                    if settled:
                        break
                    j = min(jv * ev_stride, lm - 1)
                    t_s = tst[lo_l + j]
                    # next consumer event after t_s: its next ST or the first LD after t_s
                    if j + 1 < lm:
                        nxt = t_s + _slope(tst, samp_c, lo_l + j, lo_s + j)
                    else:
                        nxt = 1e300
                    if tld[lo_l] > t_s:
                        nld = tld[lo_l]
                    else:
                        while ptr_l + 1 < lm and tld[lo_l + ptr_l + 1] <= t_s:
                            ptr_l += 1
                        if ptr_l + 1 < lm:
                            t_a = tld[lo_l + ptr_l]
                            slope = _slope(tld, samp_c, lo_l + ptr_l, lo_s + ptr_l)
                            x_ = t_s - t_a
                            # x_ < slope: the quotient rounds below 1 and its floor is 0 (no division)
                            nld = t_a + ((np.floor(x_ / slope) if x_ >= slope else 0.0) + 1.0) * slope
                        else:
                            nld = 1e300
                    if nld < nxt:
                        nxt = nld
                    # another consumer's event overwrites the window start too (Q24)
                    for e2 in range(c0, c1):
                        L2 = cons_idx[e2]
                        if L2 == L:
                            continue
                        o2 = lay_off[b, L2]
                        s2 = samp_off[b, L2]
                        m2 = lay_off[b, L2 + 1] - o2
                        for which in range(2):
                            tv = tld if which == 0 else tst
                            o2l = o2 - base
                            if m2 == 0:
                                continue
                            if tv[o2l] > t_s:
                                v2 = tv[o2l]
                            else:
                                pi_ = 2 * (e2 - c0) + which
                                ptr = qptr[pi_]
                                while ptr + 1 < m2 and tv[o2l + ptr + 1] <= t_s:
                                    ptr += 1
                                qptr[pi_] = ptr
                                if ptr + 1 < m2:
                                    t_a = tv[o2l + ptr]
                                    slope = _slope(tv, samp_c, o2l + ptr, s2 + ptr)
                                    x_ = t_s - t_a
                                    v2 = t_a + ((np.floor(x_ / slope) if x_ >= slope else 0.0) + 1.0) * slope
                                else:
                                    v2 = 1e300
                            if v2 < nxt:
                                nxt = v2
                    # after the consumer's last event its window start stays (surplus provider blocks, Q11)
                    tau = 1e300 if nxt > 1e299 else nxt - TAU_SHIFT
                    # provider blocks stored by tau
                    if tst[lo_p] > tau:
                        cnt = 0.0
                    else:
                        while ptr_p + 1 < pm and tst[lo_p + ptr_p + 1] <= tau:
                            ptr_p += 1
                        if ptr_p + 1 >= pm:
                            cnt = float(n_pl)
                        else:
                            c_a = samp_c[ps + ptr_p]
                            c_b = samp_c[ps + ptr_p + 1]
                            t_a = tst[lo_p + ptr_p]
                            f = (tau - t_a) / (tst[lo_p + ptr_p + 1] - t_a)
                            cnt = float(c_a + int(f * (c_b - c_a)) + 1)
                            if UB > 0.0:
                                # the provider cannot run faster than one block per period after a sample
                                fast = float(min(c_b, c_a + int((tau - t_a) / per_pl)) + 1)
                                cnt = cnt + UB * (fast - cnt)
                    v = dup_pl * cnt - win_lo[sl0 + j]
                    if v > best:
                        best = v
                        settled = _reaches(inbuf[b, pl] + best * c_out[pl], thr, cap_scale)
            # provider-side events: at each sampled ST of P, the window start is the one set by
            # the latest consumer event (LD or ST of any consumer) before it
            for e in range(c0, c1):
                cptr[2 * (e - c0)] = 0
                cptr[2 * (e - c0) + 1] = 0
            memo_l = -1
            memo_cb = -1
            memo_lo = 0
            for kv in range(_n_events(pm, ev_stride)):
                if settled:
                    break
                k = min(kv * ev_stride, pm - 1)
                T = tst[po - base + k]
                lat_t = -1.0
                lat_lo = 0
                lat_l = -1
                lat_cb = 0
                for e in range(c0, c1):
                    L = cons_idx[e]
                    lo_o = lay_off[b, L]
                    lo_s = samp_off[b, L]
                    lm = lay_off[b, L + 1] - lo_o
                    if lm == 0:
                        continue
                    for which in range(2):
                        tv = tld if which == 0 else tst
                        o_l = lo_o - base
                        if tv[o_l] > T:
                            continue
                        pi_ = 2 * (e - c0) + which
                        ptr = cptr[pi_]
                        while ptr + 1 < lm and tv[o_l + ptr + 1] <= T:
                            ptr += 1
                        cptr[pi_] = ptr
                        t_a = tv[o_l + ptr]
                        c_a = samp_c[lo_s + ptr]
                        if ptr + 1 < lm:
                            slope = _slope(tv, samp_c, o_l + ptr, lo_s + ptr)
                            x_ = T - t_a
                            if x_ < slope:
                                cb = c_a
                                te_ = t_a + 0.0 * slope
                            else:
                                cb = c_a + int(x_ / slope)
                                te_ = t_a + (cb - c_a) * slope
                        else:
                            cb = c_a
                            te_ = t_a
                        if te_ > lat_t:
                            lat_t = te_
                            lat_l = L
                            lat_cb = cb
                # window start of the latest event (computed once per sample, reused while unchanged)
                if lat_l >= 0:
                    if lat_l != memo_l or lat_cb != memo_cb:
                        memo_l = lat_l
                        memo_cb = lat_cb
                        st0, _ = pixel_range(dup[b, lat_l] * lat_cb, geo[0, lat_l], geo[1, lat_l], geo[3, lat_l],
                                             geo[4, lat_l], geo[5, lat_l], geo[6, lat_l], geo[7, lat_l], geo[8, lat_l],
                                             geo[1, pl], geo[2, pl])
                        memo_lo = st0
                    lat_lo = memo_lo
                v = dup_pl * (samp_c[ps + k] + 1.0) - lat_lo
                if v > best:
                    best = v
                    settled = _reaches(inbuf[b, pl] + best * c_out[pl], thr, cap_scale)
            outbuf[pl] = best * c_out[pl]
            v = inbuf[b, pl] + outbuf[pl]
            if v > e_max:
                e_max = v
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


def sharer_of(partner) -> np.ndarray:
    """[B, L]: the later layer sharing each layer's macros (-1 if none)."""
    partner = np.asarray(partner, dtype=np.int64)
    out = np.full(partner.shape, -1, dtype=np.int64)
    b, l = np.nonzero(partner >= 0)
    p = partner[b, l]
    later = l > p
    out[b[later], p[later]] = l[later]
    return out


def run_recurrence(network, samples: Samples, idx, op_code, n_ops, bits, dup, blocks, prov, cons,
                   k_tran, k_ld, k_st, k_mrg, partner=None, passes: int = 1, capacity_scale: float = 0.0) -> Timing:
    """Recurrence times of designs ``idx`` (cycle counts are [len(idx), L]).

    With ``partner`` ([B, L] layer index, -1 none) the shared ADC is modelled: pass 1 lets
    the earlier layer of a pair run free and makes the later one wait for free ADC slots;
    each further pass makes the earlier layer also wait for the later one's chains of the
    previous pass (only designs with a shared pair are rerun).

    With ``capacity_scale`` (bytes per element, data_res / 8) the buffer scan stops once the
    memory capacity that the need asks for is settled: ``elements`` may then be below the max
    but gives the same capacity. 0 scans to the exact max.
    """
    idx = i64(idx)
    if partner is None:
        partner = np.full(dup.shape, -1, dtype=np.int64)
    partner = i64(partner)
    sharer = sharer_of(partner)
    tadc = np.zeros(samples.lay_off[-1, -1] if passes > 1 else 0)
    args = (op_code, n_ops, i64(bits))
    rest = (prov[0], prov[1], cons[0], cons[1], network.arrays.out_channels, dup, blocks,
            samples.lay_off, samples.samp_off, samples.slot_off, samples.samp_c, samples.dep_j, samples.dep_f,
            samples.win_lo, samples.inbuf, _BIT, partner, sharer)
    kt, kl, ks, km = i64(k_tran), i64(k_ld), i64(k_st), i64(k_mrg)
    arr = network.arrays
    geo = np.ascontiguousarray(np.stack([arr.kind, arr.out_h, arr.out_w, arr.kernel_h, arr.kernel_w, arr.stride_h,
                                         arr.stride_w, arr.pad_top, arr.pad_left]).astype(np.int64))
    out = list(_run(idx, *args, kt, kl, ks, km, *rest, tadc, tadc, False, DO_BUF, geo, EVENT_STRIDE, float(capacity_scale)))
    shared = np.flatnonzero((partner[idx] >= 0).any(axis=1))
    for _ in range(passes - 1):
        if shared.size == 0:
            break
        prev = tadc.copy()
        sub = _run(idx[shared], *args, kt[shared], kl[shared], ks[shared], km[shared], *rest, tadc, prev, True, DO_BUF, geo, EVENT_STRIDE, float(capacity_scale))
        for a, v in zip(out, sub):
            a[shared] = v
    return Timing(*out)
