"""The §8.7 buffer need of one design, estimated from its recurrence times (MODEL.md §8.7, §12).

inbuf is the max over (sampled) blocks of the summed inputcap (closed form, capacity
independent, from :mod:`.recurrence`'s samples). outbuf of a provider P is
(hi_P - lo_P) x C_P evaluated

* (a) just before each consumer event that follows a consumer ST (lo = that block's window
  start, hi = dup_P x P's blocks stored by then),
* (b) at P's sampled ST events, with lo from the latest event of any consumer (Q24),
* (c) before the first consumer event (lo = 0),

With the fix ``live-window`` lo is the least of the window starts the consumers' own latest
events set (0 before a consumer's first event): as hi - min over L of lo_L = max over L of
(hi - lo_L), each consumer's window is then scanned as if it were P's only consumer, so (a)
waits for that consumer's own next event, (b) takes the least start, and (c) lasts until
the last consumer's first event.

and for layers without consumers at their last ST. Events are taken at every
``ev_stride``-th sample. The need is a max over layers of inbuf + outbuf with
outbuf <= dup x n x C: layers are visited by decreasing bound and the rest skipped once none
can raise the max (same result, bit for bit); with a ``cap_scale`` the scan also stops once
no layer can change the memory capacity the max asks for (the need is used only through
it: same capacity, same results).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from fitness.analytic.sampled import JIT, NO_EVENT, count_le, last_event_at, next_event_after, slope
from fitness.depcb import map_shape, window_start
from fitness.memory import BUFFER_SLACK

# A window is evaluated this many steps before the consumer event that moves its start.
TAU_SHIFT = 1.0
# Provider-count estimate between two samples: linear interpolation, moved this far
# towards the fastest possible progress (one block per period after the lower sample).
# Interpolation alone underestimates the provider's lead (hence the buffer need) on
# heavily subsampled layers (VGG's 50k-block convs); 0.5 restores most of it.
UB = 0.5
# The scan evaluates the window at every EVENT_STRIDE-th sample (and the last) of each
# consumer and provider: between samples the times are interpolated lines, so the
# skipped events add little. On 3,000 random designs (alexnet, resnet18, vgg16) stride 8
# left the analytic-vs-cycle agreement unchanged and halved the scan's time.
EVENT_STRIDE = 8


# Rows of the layer geometry array (:func:`geometry`): the kind, the map's output_dim[2]
# (rows; PIMSYN's "W", Q1) and output_dim[3] (row length), the kernel, stride and top/left
# padding.
GEO_KIND, GEO_ROWS, GEO_COLS, GEO_KH, GEO_KW, GEO_SH, GEO_SW, GEO_PH, GEO_PW = range(9)


def geometry(arrays) -> np.ndarray:
    """int[9, L]: the rows GEO_* of the network's layer arrays (one array for the kernels)."""
    return np.ascontiguousarray(np.stack([arrays.kind, arrays.out_h, arrays.out_w, arrays.kernel_h, arrays.kernel_w,
                                          arrays.stride_h, arrays.stride_w, arrays.pad_top, arrays.pad_left]),
                                dtype=np.int64)


class Edges(NamedTuple):
    """The network's layer graph as two CSR lists: each layer's providers and consumers."""

    prov_ptr: np.ndarray
    prov_idx: np.ndarray
    cons_ptr: np.ndarray
    cons_idx: np.ndarray


@numba.njit(inline="always", **JIT)
def _capacity_exponent(e, scale):
    """log2 of the capacity that the buffer need e (elements) asks for, as
    :func:`fitness.memory.capacities_kb` computes it (a large negative number for no need)."""
    need = np.ceil(e * scale)
    if need <= 0.0:
        return -1.0e9
    return np.ceil(np.log2(need * BUFFER_SLACK))


@numba.njit(inline="always", **JIT)
def bin_threshold(hi, scale):
    """The least scaled need whose capacity bin reaches that of the need hi: a need lo in
    [.., hi] gives the same capacity as hi iff :func:`reaches` (lo, this). One log2 per
    layer instead of two per test; the margins keep the test on the safe side of a bin
    edge whatever the rounding of log2 here and in numpy."""
    if scale <= 0.0:
        return np.inf
    e = _capacity_exponent(hi * (1.0 + 1e-9), scale)
    return 2.0 ** (e - 1.0)


@numba.njit(inline="always", **JIT)
def reaches(lo, threshold, scale):
    """Whether the need lo is in the capacity bin whose :func:`bin_threshold` is given
    (ceil(log2(y)) >= e exactly when y > 2^(e-1)). The fixed point uses the need only
    through its capacity, so a max over layers may stop once the rest cannot leave the
    capacity of the max so far."""
    if lo <= 0.0:
        return False
    return np.ceil(lo * (1.0 - 1e-9) * scale) * BUFFER_SLACK > threshold


@numba.njit(inline="always", **JIT)
def _n_events(m, stride):
    """Events of a layer with m samples when every stride-th and the last are taken:
    samples 0, stride, 2 stride, ... and m - 1 (min(v x stride, m - 1) for v below this)."""
    if m <= 0:
        return 0
    return (m + stride - 2) // stride + 1


@numba.njit(inline="always", **JIT)
def block_window_start(c, dup_l, L, P, geo, pixel_window, non_square):
    """The start of provider P's live window that block c of consumer L sets (§8.7,
    :func:`fitness.depcb.window_start`)."""
    cols_l, _, rows_p, cols_p = map_shape(geo[GEO_ROWS, L], geo[GEO_COLS, L], geo[GEO_ROWS, P], geo[GEO_COLS, P],
                                          non_square)
    return window_start(c, dup_l, geo[GEO_KIND, L], geo[GEO_KH, L], geo[GEO_KW, L], geo[GEO_SH, L], geo[GEO_SW, L],
                        geo[GEO_PH, L], geo[GEO_PW, L], cols_l, rows_p, cols_p, geo[GEO_ROWS, P] * geo[GEO_COLS, P],
                        pixel_window)


@numba.njit(**JIT)
def _stored_by(tst, samp_c, o, so, m, n_total, period, tau, ptr):
    """(provider blocks stored by tau, updated pointer): interpolated between the samples and
    moved UB of the way towards the count had the provider stored one block per period
    since the lower sample."""
    if tst[o] > tau:
        return 0.0, ptr
    while ptr + 1 < m and tst[o + ptr + 1] <= tau:
        ptr += 1
    if ptr + 1 >= m:
        return float(n_total), ptr
    c_a = samp_c[so + ptr]
    c_b = samp_c[so + ptr + 1]
    t_a = tst[o + ptr]
    f = (tau - t_a) / (tst[o + ptr + 1] - t_a)
    cnt = float(c_a + int(f * (c_b - c_a)) + 1)
    cnt_fastest = float(min(c_b, c_a + int((tau - t_a) / period)) + 1)
    return cnt + UB * (cnt_fastest - cnt), ptr


@numba.njit(**JIT)
def scan_order(b, dup, n, c_out, inbuf, lay_off, ubound, order):
    """Fills ubound with each layer's bound inbuf + dup x n x C (inbuf alone for a layer
    without samples) and order with the layers by decreasing bound (a stable insertion
    sort: ties keep layer order)."""
    for l in range(dup.shape[1]):
        u = inbuf[b, l]
        if lay_off[b, l + 1] > lay_off[b, l]:
            u += float(dup[b, l] * n[b, l] * c_out[l])
        ubound[l] = u
        q = l
        while q > 0 and ubound[order[q - 1]] < u:
            order[q] = order[q - 1]
            q -= 1
        order[q] = l


@numba.njit(**JIT)
def first_window(b, pl, dup, n, blk, edges, tld, tst, base, live_window):
    """(c) of the module docstring: the pixels provider pl (with samples and consumers)
    stored before the first event of any consumer (of every consumer with
    ``live_window``), while its window starts at 0."""
    lay_off, cons_idx = blk.lay_off, edges.cons_idx
    tau0 = 1e300
    last0 = -1e300
    for e in range(edges.cons_ptr[pl], edges.cons_ptr[pl + 1]):
        L = cons_idx[e]
        if lay_off[b, L + 1] > lay_off[b, L]:
            tau0 = min(tau0, tld[lay_off[b, L] - base])
            last0 = max(last0, tld[lay_off[b, L] - base])
    if live_window and last0 > -1e300:
        tau0 = last0
    pm = lay_off[b, pl + 1] - lay_off[b, pl]
    return dup[b, pl] * count_le(tst, blk.samp_c, lay_off[b, pl] - base, blk.samp_off[b, pl], pm, n[b, pl], tau0)


@numba.njit(**JIT)
def consumer_events(b, pl, best, thr, cap_scale, inbuf_p, c_out_p, dup, n, period_p, blk, slots, edges, tld, tst, base,
                    ptr, ev_stride, live_window):
    """(a) of the module docstring: the window of provider pl just before the consumer event
    that follows each sampled consumer ST (any consumer's LD or ST moves the start, Q24;
    with ``live_window`` only the consumer's own). Returns the largest window (pixels)
    found, at least ``best``; stops once inbuf_p + window x c_out_p settles the capacity
    bin ``thr``."""
    lay_off, samp_off, samp_c = blk.lay_off, blk.samp_off, blk.samp_c
    slot_off, win_lo = slots.slot_off, slots.win_lo
    prov_ptr, prov_idx, cons_idx = edges.prov_ptr, edges.prov_idx, edges.cons_idx
    dup_pl = dup[b, pl]
    n_pl = n[b, pl]
    lo_p = lay_off[b, pl] - base
    ps = samp_off[b, pl]
    pm = lay_off[b, pl + 1] - lay_off[b, pl]
    c0, c1 = edges.cons_ptr[pl], edges.cons_ptr[pl + 1]
    settled = False
    for e in range(c0, c1):
        L = cons_idx[e]
        lo_l = lay_off[b, L] - base
        lo_s = samp_off[b, L]
        lm = lay_off[b, L + 1] - lay_off[b, L]
        sl0 = 0
        for q in range(prov_ptr[L], prov_ptr[L + 1]):
            if prov_idx[q] == pl:
                sl0 = slot_off[b, q]
        for x in range(2 * (c1 - c0)):
            ptr[x] = 0
        ptr_p = 0  # provider ST sample at or below tau
        ptr_l = 0  # consumer LD sample at or below t_s
        n_events = _n_events(lm, ev_stride)
        jv = 0
        while jv < n_events and not settled:  # no break: see the note in recurrence.py
            j = min(jv * ev_stride, lm - 1)
            jv += 1
            t_s = tst[lo_l + j]
            # the next consumer event after t_s: this consumer's next ST or LD, or another's LD or ST
            nxt = NO_EVENT
            if j + 1 < lm:
                nxt = t_s + slope(tst, samp_c, lo_l + j, lo_s + j)
            nld, ptr_l = next_event_after(tld, samp_c, lo_l, lo_s, lm, t_s, ptr_l)
            nxt = min(nxt, nld)
            for e2 in range(c0, c1):
                L2 = cons_idx[e2]
                m2 = lay_off[b, L2 + 1] - lay_off[b, L2]
                if L2 != L and m2 > 0 and not live_window:
                    o2, s2, x = lay_off[b, L2] - base, samp_off[b, L2], 2 * (e2 - c0)
                    v2, ptr[x] = next_event_after(tld, samp_c, o2, s2, m2, t_s, ptr[x])
                    v3, ptr[x + 1] = next_event_after(tst, samp_c, o2, s2, m2, t_s, ptr[x + 1])
                    nxt = min(nxt, v2, v3)
            # after the consumer's last event its window start stays (surplus provider blocks, Q11)
            tau = NO_EVENT if nxt > 1e299 else nxt - TAU_SHIFT
            cnt, ptr_p = _stored_by(tst, samp_c, lo_p, ps, pm, n_pl, period_p, tau, ptr_p)
            v = dup_pl * cnt - win_lo[sl0 + j]
            if v > best:
                best = v
                settled = reaches(inbuf_p + best * c_out_p, thr, cap_scale)
    return best


@numba.njit(**JIT)
def provider_events(b, pl, best, thr, cap_scale, inbuf_p, c_out_p, dup, blk, edges, geo, tld, tst, base, ptr,
                    ev_stride, fixes):
    """(b) of the module docstring: at each sampled ST of provider pl, the window from the
    start set by the latest event (LD or ST) of any consumer before it (Q24). Returns the
    largest window (pixels) found, at least ``best``; stops once inbuf_p + window x c_out_p
    settles the capacity bin ``thr``."""
    lay_off, samp_off, samp_c, cons_idx = blk.lay_off, blk.samp_off, blk.samp_c, edges.cons_idx
    dup_pl = dup[b, pl]
    po = lay_off[b, pl] - base
    ps = samp_off[b, pl]
    pm = lay_off[b, pl + 1] - lay_off[b, pl]
    c0, c1 = edges.cons_ptr[pl], edges.cons_ptr[pl + 1]
    for x in range(2 * (c1 - c0)):
        ptr[x] = 0
    # the window start of the latest event, computed once per (layer, block) and reused while unchanged
    memo_l = -1
    memo_cb = -1
    memo_lo = 0
    n_events = _n_events(pm, ev_stride)
    kv = 0
    settled = False
    while kv < n_events and not settled:  # no break: see the note in recurrence.py
        k = min(kv * ev_stride, pm - 1)
        kv += 1
        T = tst[po + k]
        lat_t = -1.0
        lat_l = -1
        lat_cb = 0
        for e in range(c0, c1):
            L = cons_idx[e]
            lm = lay_off[b, L + 1] - lay_off[b, L]
            if lm > 0:
                o_l, s_l, x = lay_off[b, L] - base, samp_off[b, L], 2 * (e - c0)
                t_ld, cb_ld, ptr[x] = last_event_at(tld, samp_c, o_l, s_l, lm, T, ptr[x])
                t_st, cb_st, ptr[x + 1] = last_event_at(tst, samp_c, o_l, s_l, lm, T, ptr[x + 1])
                if t_ld > lat_t:
                    lat_t, lat_l, lat_cb = t_ld, L, cb_ld
                if t_st > lat_t:
                    lat_t, lat_l, lat_cb = t_st, L, cb_st
        lat_lo = 0
        if lat_l >= 0:
            if lat_l != memo_l or lat_cb != memo_cb:
                memo_l = lat_l
                memo_cb = lat_cb
                memo_lo = block_window_start(lat_cb, dup[b, lat_l], lat_l, pl, geo, fixes.pixel_window,
                                             fixes.non_square)
            lat_lo = memo_lo
        v = dup_pl * (samp_c[ps + k] + 1.0) - lat_lo
        if v > best:
            best = v
            settled = reaches(inbuf_p + best * c_out_p, thr, cap_scale)
    return best


@numba.njit(**JIT)
def provider_events_live(b, pl, best, thr, cap_scale, inbuf_p, c_out_p, dup, blk, edges, geo, tld, tst, base, ptr,
                         ev_stride, fixes):
    """(b) of the module docstring under the fix live-window: at each sampled ST of provider
    pl, the window from the least of the starts its consumers' own latest events (LD or ST)
    set, 0 for a consumer that has read nothing yet. Returns the largest window (pixels)
    found, at least ``best``; stops once inbuf_p + window x c_out_p settles the capacity
    bin ``thr``."""
    lay_off, samp_off, samp_c, cons_idx = blk.lay_off, blk.samp_off, blk.samp_c, edges.cons_idx
    dup_pl = dup[b, pl]
    po = lay_off[b, pl] - base
    ps = samp_off[b, pl]
    pm = lay_off[b, pl + 1] - lay_off[b, pl]
    c0, c1 = edges.cons_ptr[pl], edges.cons_ptr[pl + 1]
    for x in range(2 * (c1 - c0)):
        ptr[x] = 0
    n_events = _n_events(pm, ev_stride)
    kv = 0
    settled = False
    while kv < n_events and not settled:  # no break: see the note in recurrence.py
        k = min(kv * ev_stride, pm - 1)
        kv += 1
        T = tst[po + k]
        least_lo = -1
        for e in range(c0, c1):
            L = cons_idx[e]
            lm = lay_off[b, L + 1] - lay_off[b, L]
            if lm > 0:
                o_l, s_l, x = lay_off[b, L] - base, samp_off[b, L], 2 * (e - c0)
                t_ld, cb_ld, ptr[x] = last_event_at(tld, samp_c, o_l, s_l, lm, T, ptr[x])
                t_st, cb_st, ptr[x + 1] = last_event_at(tst, samp_c, o_l, s_l, lm, T, ptr[x + 1])
                # its latest event (an LD and an ST at the same step: the LD, as PIMSYN orders them)
                own_t, own_cb = (t_st, cb_st) if t_st > t_ld else (t_ld, cb_ld)
                own_lo = 0
                if own_t >= 0.0:
                    own_lo = block_window_start(own_cb, dup[b, L], L, pl, geo, fixes.pixel_window, fixes.non_square)
                least_lo = own_lo if least_lo < 0 else min(least_lo, own_lo)
        v = dup_pl * (samp_c[ps + k] + 1.0) - max(least_lo, 0)
        if v > best:
            best = v
            settled = reaches(inbuf_p + best * c_out_p, thr, cap_scale)
    return best
