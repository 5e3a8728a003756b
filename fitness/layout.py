"""Macro placement, NoC routes and conflicts, TRAN/MRG delays (MODEL.md §7).

Placement and link sets are per design (a numba kernel, cheap); the flit counts are
vectorized over designs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from fitness.arrays import i64
from fitness.depcb import cdiv
from fitness.network import CONV, ELTWISE, FC, POOL, Network

LAYOUT_OK = 0
LAYOUT_PARTNER_NOT_PLACED = 1  # Q7: partner is the layer itself or a later layer
LAYOUT_NO_MACROS = 2  # an unshared MVM layer with 0 macros
LAYOUT_NO_PROVIDER = 3  # POOL/ELTWISE without provider
LAYOUT_REASONS = {
    LAYOUT_PARTNER_NOT_PLACED: "share_partner_not_earlier (Q7)",
    LAYOUT_NO_MACROS: "macro_num_zero",
    LAYOUT_NO_PROVIDER: "pool_or_eltwise_without_provider",
}


@dataclass(frozen=True, kw_only=True)
class Layout:
    status: int
    positions: np.ndarray  # [P, 2] placed macro cells (row, col), in placement order
    span_start: np.ndarray  # [L] first entry of each layer's macro list in ``positions``
    span_len: np.ndarray  # [L]
    merge: np.ndarray  # [L, 2] merge cell of each layer
    transfer_hops: np.ndarray  # [L]
    merge_hops: np.ndarray  # [L]
    noc_conflict: np.ndarray  # [2L, 2L] bool; key 2l = TRAN of l, 2l+1 = MRG of l

    def macro_cells(self, layer: int) -> np.ndarray:
        s = self.span_start[layer]
        return self.positions[s:s + self.span_len[layer]]


def provider_csr(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Providers of every layer as CSR (ptr [L+1], idx), in provider order."""
    ptr = np.zeros(len(network) + 1, dtype=np.int64)
    idx = []
    for l, layer in enumerate(network.layers):
        idx.extend(layer.providers)
        ptr[l + 1] = len(idx)
    return ptr, np.array(idx, dtype=np.int64)


@numba.njit(cache=True)
def _place(kind, combined, partner, prov_ptr, prov_idx, cols):
    n_layer = kind.shape[0]
    total = 0
    for l in range(n_layer):
        if (kind[l] == 0 or kind[l] == 1) and partner[l] < 0:
            total += max(combined[l], 0)
    pos = np.zeros((max(total, 1), 2), dtype=np.int64)
    span_start = np.zeros(n_layer, dtype=np.int64)
    span_len = np.zeros(n_layer, dtype=np.int64)
    merge = np.zeros((n_layer, 2), dtype=np.int64)
    placed = np.zeros(n_layer, dtype=np.bool_)
    row, col, step, used = 0, -1, 1, 0
    for l in range(n_layer):
        if kind[l] == 0 or kind[l] == 1:
            p = partner[l]
            if p >= 0:
                # The shared layer's list *is* the partner's list as placed so far.
                if not placed[p] or span_len[p] == 0:
                    return 1, pos, span_start, span_len, merge, placed
                span_start[l] = span_start[p]
                span_len[l] = span_len[p]
                merge[l, 0] = pos[span_start[l], 0]
                merge[l, 1] = pos[span_start[l], 1]
            else:
                if combined[l] <= 0:
                    return 2, pos, span_start, span_len, merge, placed
                span_start[l] = used
                for _ in range(combined[l]):
                    col += step
                    if col == cols:
                        col -= 1
                        row += 1
                        step = -1
                    if col == -1:
                        col += 1
                        row += 1
                        step = 1
                    pos[used, 0] = row
                    pos[used, 1] = col
                    used += 1
                span_len[l] = combined[l]
                merge[l, 0] = pos[used - 1, 0]
                merge[l, 1] = pos[used - 1, 1]
        else:
            if prov_ptr[l + 1] == prov_ptr[l]:
                return 3, pos, span_start, span_len, merge, placed
            q = prov_idx[prov_ptr[l]]
            span_start[l] = -1
            span_len[l] = 1
            merge[l, 0] = merge[q, 0]
            merge[l, 1] = merge[q, 1]
        placed[l] = True
    return 0, pos, span_start, span_len, merge, placed


@numba.njit(cache=True)
def _mark_route(used_row, sr, sc, tr, tc, cols):
    """Mark the directed links of a row-first route; returns its hop count."""
    if tc != sc:
        dy = 1 if tc > sc else -1
        d = 0 if dy > 0 else 1
        y = sc
        while y != tc:
            used_row[(sr * cols + y) * 4 + d] = True
            y += dy
    if tr != sr:
        dx = 1 if tr > sr else -1
        d = 2 if dx > 0 else 3
        x = sr
        while x != tr:
            used_row[(x * cols + tc) * 4 + d] = True
            x += dx
    return abs(sr - tr) + abs(sc - tc)


@numba.njit(cache=True)
def _routes(kind, span_start, span_len, pos, merge, prov_ptr, prov_idx, n_rows, cols):
    n_layer = kind.shape[0]
    n_links = n_rows * cols * 4
    used = np.zeros((2 * n_layer, n_links), dtype=np.bool_)
    hops_t = np.zeros(n_layer, dtype=np.int64)
    hops_m = np.zeros(n_layer, dtype=np.int64)
    cells = np.zeros((1, 2), dtype=np.int64)
    for l in range(n_layer):
        if span_start[l] >= 0:
            cells = pos[span_start[l]:span_start[l] + span_len[l]]
        else:
            cells = merge[l:l + 1]
        h = 0
        for j in range(prov_ptr[l], prov_ptr[l + 1]):
            q = prov_idx[j]
            for i in range(cells.shape[0]):
                h = max(h, _mark_route(used[2 * l], merge[q, 0], merge[q, 1], cells[i, 0], cells[i, 1], cols))
        hops_t[l] = h
        h = 0
        for i in range(cells.shape[0]):
            h = max(h, _mark_route(used[2 * l + 1], cells[i, 0], cells[i, 1], merge[l, 0], merge[l, 1], cols))
        hops_m[l] = h
    n_keys = 2 * n_layer
    conflict = np.zeros((n_keys, n_keys), dtype=np.bool_)
    keys = np.zeros(n_keys, dtype=np.int64)
    for link in range(n_links):
        n = 0
        for k in range(n_keys):
            if used[k, link]:
                keys[n] = k
                n += 1
        for a in range(n):
            for b in range(a + 1, n):
                conflict[keys[a], keys[b]] = True
                conflict[keys[b], keys[a]] = True
    return hops_t, hops_m, conflict


def place_and_route(network: Network, combined, partner, grid_cols, prov=None) -> Layout:
    """Snake placement, hop counts and NoC conflict pairs of one design."""
    kind = network.arrays.kind
    prov_ptr, prov_idx = prov if prov is not None else provider_csr(network)
    combined = i64(combined)
    partner = i64(partner)
    status, pos, span_start, span_len, merge, _ = _place(kind, combined, partner, prov_ptr, prov_idx, int(grid_cols))
    n_layer = len(network)
    if status != LAYOUT_OK:
        z = np.zeros(n_layer, dtype=np.int64)
        return Layout(status=int(status), positions=pos, span_start=span_start, span_len=span_len, merge=merge,
                      transfer_hops=z, merge_hops=z, noc_conflict=np.zeros((2 * n_layer, 2 * n_layer), dtype=bool))
    n_rows = int(max(pos[:, 0].max(), merge[:, 0].max())) + 1
    cols = int(max(grid_cols, pos[:, 1].max() + 1))
    hops_t, hops_m, conflict = _routes(kind, span_start, span_len, pos, merge, prov_ptr, prov_idx, n_rows, cols)
    return Layout(status=0, positions=pos, span_start=span_start, span_len=span_len, merge=merge,
                  transfer_hops=hops_t, merge_hops=hops_m, noc_conflict=conflict)


def noc_flits(network: Network, layer_dup, idiv, ddiv, data_res: int, noc_bw: int) -> tuple[np.ndarray, np.ndarray]:
    """(transfer flits, merge flits) [B, L] (§7.4)."""
    arr = network.arrays
    return _noc_flits(i64(arr.kind), i64(arr.in_channels), i64(arr.out_channels), i64(arr.stride_w),
                      i64(arr.kernel_w), i64(layer_dup), i64(idiv), i64(ddiv), int(data_res), int(noc_bw))


@numba.njit(cache=True)
def _noc_flits(kind, in_channels, out_channels, stride_w, kernel_w, layer_dup, idiv, ddiv, data_res, noc_bw):
    n_design, n_layer = layer_dup.shape
    transfer = np.zeros((n_design, n_layer), dtype=np.int64)
    merge = np.zeros((n_design, n_layer), dtype=np.int64)
    for b in range(n_design):
        for l in range(n_layer):
            dup = layer_dup[b, l]
            c_out = out_channels[l]
            dpm = cdiv(dup, max(ddiv[b, l], 1))
            k = kind[l]
            ipm = cdiv(in_channels[l], max(idiv[b, l], 1)) if k == CONV or k == FC else 1
            merge[b, l] = cdiv(dpm * c_out * data_res, noc_bw)
            if k == CONV:
                transfer[b, l] = cdiv((dpm * stride_w[l] + kernel_w[l]) * ipm * data_res, noc_bw)
            elif k == POOL:
                transfer[b, l] = cdiv((dup * stride_w[l] + kernel_w[l]) * c_out * data_res, noc_bw)
            elif k == ELTWISE:
                transfer[b, l] = cdiv(dup * c_out * data_res, noc_bw)
            else:
                transfer[b, l] = cdiv(ipm * data_res, noc_bw)
    return transfer, merge
