"""Inter-layer block mapping and buffer windows of the IR DAG (MODEL.md §8.2 item 4, §8.3, §8.7).

Everything here depends only on the network, dup, block counts and split factors of a
design, not on cycle counts, so it is built once per design and reused by every round of
the fixed point. Layers are referred to by index, blocks by a global block index
``g = blk_off[l] + c``, provider slots of (l, c) by ``ps_off[l] + c * n_prov[l] + j``.

The pixel helpers copy PIMSYN's arithmetic unless a fix says otherwise. PIMSYN reads
every map as square (Q1): a layer's "W", its output_dim[2] (the ONNX height), is both its
row count and its row length, and a consumer has W x W pixels; the fix ``non-square``
takes the maps as they are, output_dim[2] rows of output_dim[3] pixels (:func:`map_shape`).
PIMSYN starts a block's live window at the pixel before the block and counts it from 1
(Q25); the fix ``pixel-window`` starts it at the block's first pixel, counted from 0
(:func:`first_pixel`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from fitness.arrays import i64

DEPCB_OK = 0
DEPCB_PARENT_OUT_OF_RANGE = 1  # PIMSYN: KeyError on a node name like "cb-1"

_CONV, _FC, _POOL, _ELTWISE = 0, 1, 2, 3


@dataclass(frozen=True)
class DagStructure:
    status: int
    blk_off: np.ndarray  # [L+1] global block offsets
    ps_off: np.ndarray  # [L+1] provider-slot offsets
    parent_block: np.ndarray  # [slots] provider block each (l, c, j) waits for
    window_start: np.ndarray  # [slots] pstart(dup_l x c; P_j, l): provider's live-window start
    input_need: np.ndarray  # [blocks] sum over providers of inputcap(c; P, l), elements
    child_ptr: np.ndarray  # [blocks+1] CSR over provider blocks: consumer blocks that wait on them
    child_blk: np.ndarray  # [edges] consumer global block ids, in PIMSYN's creation order


@numba.njit(cache=True, inline="always")
def cdiv(a, b):
    """Integer ceil(a / b) for 0 <= a < 2**53, b > 0 inside numba code (the samplers, the NoC
    flits and the allocation share it). Through floats, as :func:`fitness.crossbars.ceil_div`:
    a float division and ceil cost about half an int64 division, and the float quotient
    cannot round across an integer at these sizes."""
    return np.int64(np.ceil(a / b))


@numba.njit(cache=True, inline="always")
def map_shape(rows_l, cols_l, rows_p, cols_p, non_square):
    """(row length of consumer L, its pixel count, rows of provider P, P's row length) from
    output_dim[2] (``rows``) and output_dim[3] (``cols``) of both: PIMSYN's square reading
    (every map rows x rows, Q1), or the maps as they are with ``non_square``."""
    if non_square:
        return cols_l, rows_l * cols_l, rows_p, cols_p
    return rows_l, rows_l * rows_l, rows_p, rows_p


@numba.njit(cache=True, inline="always")
def depend_pixel(c, kind_l, dup_l, kh, kw, sh, sw, ph, pw, cols_l, pix_l, rows_p, cols_p):
    """The part of :func:`depend_block` that does not depend on the provider's dup: the
    1-based provider pixel count (CONV/POOL), or q (ELTWISE); FC needs none (0). The map
    shapes come from :func:`map_shape`."""
    q = min(pix_l, (c + 1) * dup_l)
    if kind_l == _CONV or kind_l == _POOL:
        x = cdiv(q, cols_l)
        y = q % cols_l
        if y == 0:
            y = cols_l
        x = min(rows_p, (x - 1) * sh + kh - ph)
        y = min(cols_p, (y - 1) * sw + kw - pw)
        return (x - 1) * cols_p + y
    if kind_l == _ELTWISE:
        return q
    return 0


@numba.njit(cache=True, inline="always")
def depend_block(c, kind_l, dup_l, kh, kw, sh, sw, ph, pw, cols_l, pix_l, rows_p, cols_p, dup_p, n_p):
    """1-based provider block count needed by block c of the consumer (depcb)."""
    if kind_l == _CONV or kind_l == _POOL or kind_l == _ELTWISE:
        return cdiv(depend_pixel(c, kind_l, dup_l, kh, kw, sh, sw, ph, pw, cols_l, pix_l, rows_p, cols_p), dup_p)
    return n_p


@numba.njit(cache=True, inline="always")
def pixel_range(q, kind_l, kh, kw, sh, sw, ph, pw, cols_l, rows_p, cols_p, pix_p):
    """(pstart, pend) of the provider pixels that consumer pixel number q needs (§8.7, with
    PIMSYN's start: 1-based, and q = 0 read as the end of row 1, Q25); ``pix_p`` is the
    provider's pixel count."""
    if kind_l == _CONV or kind_l == _POOL:
        x = cdiv(q, cols_l) if q > 0 else 1
        y = q % cols_l
        if y == 0:
            y = cols_l
        sx = (x - 1) * sh + 1 - ph
        sy = max(0, (y - 1) * sw + 1 - pw)
        start = (sx - 1) * cols_p + sy if sx > 0 else 0
        ex = min(rows_p, (x - 1) * sh + kh - ph)
        ey = min(cols_p, (y - 1) * sw + kw - pw)
        return start, (ex - 1) * cols_p + ey
    if kind_l == _ELTWISE:
        return q, q
    return 0, pix_p


@numba.njit(cache=True, inline="always")
def first_pixel(q, kind_l, sh, sw, ph, pw, cols_l, cols_p):
    """The provider pixels before the first one that consumer pixel q (1-based) and every
    later one need, i.e. that first pixel's 0-based index (the ``pixel-window`` start): row
    r = (q - 1) // cols_l and column s of q read rows from r sh - ph and columns from
    max(0, s sw - pw); a window whose first row is padding starts at pixel 0, since the
    next output row may still read row 0 from column 0."""
    if kind_l == _CONV or kind_l == _POOL:
        r = (q - 1) // cols_l
        s = q - 1 - r * cols_l
        row = r * sh - ph
        return row * cols_p + max(0, s * sw - pw) if row >= 0 else 0
    if kind_l == _ELTWISE:
        return q - 1
    return 0


@numba.njit(cache=True, inline="always")
def window_start(c, dup_l, kind_l, kh, kw, sh, sw, ph, pw, cols_l, rows_p, cols_p, pix_p, pixel_window):
    """The live-window start of the provider that block c of the consumer sets (§8.7):
    PIMSYN's pstart of the pixel before the block, dup_l x c (Q25), or with
    ``pixel_window`` :func:`first_pixel` of the block's first pixel, dup_l x c + 1."""
    if pixel_window:
        return first_pixel(dup_l * c + 1, kind_l, sh, sw, ph, pw, cols_l, cols_p)
    start, _ = pixel_range(dup_l * c, kind_l, kh, kw, sh, sw, ph, pw, cols_l, rows_p, cols_p, pix_p)
    return start


@numba.njit(cache=True)
def _build(kind, rows, cols, c_out, kh, kw, sh, sw, ph, pw, dup, n, idiv, ddiv, prov_ptr, prov_idx, pixel_window,
           non_square):
    n_layer = kind.shape[0]
    blk_off = np.zeros(n_layer + 1, dtype=np.int64)
    ps_off = np.zeros(n_layer + 1, dtype=np.int64)
    for l in range(n_layer):
        blk_off[l + 1] = blk_off[l] + n[l]
        ps_off[l + 1] = ps_off[l] + n[l] * (prov_ptr[l + 1] - prov_ptr[l])
    n_slots = ps_off[n_layer]
    parent_block = np.zeros(n_slots, dtype=np.int64)
    window_start_ = np.zeros(n_slots, dtype=np.int64)
    input_need = np.zeros(blk_off[n_layer], dtype=np.float64)
    child_cnt = np.zeros(blk_off[n_layer] + 1, dtype=np.int64)
    status = 0
    for l in range(n_layer):
        n_prov = prov_ptr[l + 1] - prov_ptr[l]
        per_macro = cdiv(dup[l], ddiv[l])
        for j in range(n_prov):
            p = prov_idx[prov_ptr[l] + j]
            cols_l, pix_l, rows_p, cols_p = map_shape(rows[l], cols[l], rows[p], cols[p], non_square)
            pix_p = rows[p] * cols[p]
            for c in range(n[l]):
                slot = ps_off[l] + c * n_prov + j
                pb = depend_block(c, kind[l], dup[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], cols_l, pix_l, rows_p,
                                  cols_p, dup[p], n[p]) - 1
                if pb < 0 or pb >= n[p]:
                    status = 1
                    pb = 0
                parent_block[slot] = pb
                child_cnt[blk_off[p] + pb + 1] += 1
                start = window_start(c, dup[l], kind[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], cols_l, rows_p,
                                     cols_p, pix_p, pixel_window)
                _, end = pixel_range(dup[l] * c + per_macro, kind[l], kh[l], kw[l], sh[l], sw[l], ph[l], pw[l], cols_l,
                                     rows_p, cols_p, pix_p)
                window_start_[slot] = start
                input_need[blk_off[l] + c] += (end - start) * c_out[p] / idiv[l]
    child_ptr = np.cumsum(child_cnt)
    fill = child_ptr[:-1].copy()
    child_blk = np.zeros(child_ptr[-1], dtype=np.int64)
    for l in range(n_layer):
        n_prov = prov_ptr[l + 1] - prov_ptr[l]
        for c in range(n[l]):
            for j in range(n_prov):
                p = prov_idx[prov_ptr[l] + j]
                g = blk_off[p] + parent_block[ps_off[l] + c * n_prov + j]
                child_blk[fill[g]] = blk_off[l] + c
                fill[g] += 1
    return status, blk_off, ps_off, parent_block, window_start_, input_need, child_ptr, child_blk


def build_structure(network, layer_dup, layer_blocks, idiv, ddiv, prov, fixes=frozenset()) -> DagStructure:
    """Block mapping of one design (1-D per-layer arrays) under the model ``fixes``
    (``pixel-window`` and ``non-square`` change it)."""
    arr = network.arrays
    out = _build(arr.kind, arr.out_h, arr.out_w, arr.out_channels, arr.kernel_h, arr.kernel_w,
                 arr.stride_h, arr.stride_w, arr.pad_top, arr.pad_left,
                 i64(layer_dup), i64(layer_blocks), i64(idiv), i64(ddiv), prov[0], prov[1],
                 "pixel-window" in fixes, "non-square" in fixes)
    return DagStructure(int(out[0]), *out[1:])
