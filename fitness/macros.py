"""Macro counts, macro grid and split factors (MODEL.md §5.1, §7.1), vectorized over designs."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from fitness.arrays import i64
from fitness.crossbars import ceil_div
from fitness.network import Network


@dataclass(frozen=True, kw_only=True)
class MacroCounts:
    own: np.ndarray  # [B, L] own macro count m (0 for POOL/ELTWISE)
    combined: np.ndarray  # [B, L] combined count M used by every macro-dependent formula (1 for POOL/ELTWISE)
    partner: np.ndarray  # [B, L] layer index of the sharing partner, -1 if unshared
    n_macros: np.ndarray  # [B] macros on the chip = sum of own counts
    grid_rows: np.ndarray  # [B]
    grid_cols: np.ndarray  # [B]


def macro_counts(network: Network, own_gene, partner_gene) -> MacroCounts:
    """Combined counts as PIMSYN sets them, processing MVM layers in gene order.

    ``own_gene``/``partner_gene`` are [B, n_mvm] in gene order; the partner is a gene
    position (as applied, Q7), -1 for none. A shared layer sees m_p + m_l; its partner
    grows by m_l. An unshared layer processed later resets its own count, exactly as
    PIMSYN does (this only matters for partners that are not earlier, which crash anyway).
    """
    own_gene = i64(own_gene)
    partner_gene = i64(partner_gene)
    own, combined, partner = _combine(i64(network.mvm_indices), len(network), own_gene, partner_gene)
    n_macros = own_gene.sum(axis=1)
    grid_rows = np.ceil(np.sqrt(n_macros.astype(np.float64))).astype(np.int64)
    grid_cols = ceil_div(n_macros, np.maximum(grid_rows, 1))
    return MacroCounts(own=own, combined=combined, partner=partner, n_macros=n_macros, grid_rows=grid_rows,
                       grid_cols=grid_cols)


@numba.njit(cache=True)
def _combine(mvm, n_layer, own_gene, partner_gene):
    n_design, n_mvm = own_gene.shape
    own = np.zeros((n_design, n_layer), dtype=np.int64)
    combined = np.ones((n_design, n_layer), dtype=np.int64)
    partner = np.full((n_design, n_layer), -1, dtype=np.int64)
    for b in range(n_design):
        for i in range(n_mvm):
            own[b, mvm[i]] = own_gene[b, i]
        for i in range(n_mvm):
            l = mvm[i]
            g = own_gene[b, i]
            p_gene = partner_gene[b, i]
            combined[b, l] = g
            if p_gene >= 0:
                p_layer = mvm[min(p_gene, n_mvm - 1)]
                partner[b, l] = p_layer
                combined[b, l] = own[b, p_layer] + g
                combined[b, p_layer] += g
    return own, combined, partner


def split_factors(combined, layer_dup) -> tuple[np.ndarray, np.ndarray]:
    """(idiv, ddiv) [B, L]: pieces the input rows are split into and duplicate groups."""
    combined = np.asarray(combined, dtype=np.int64)
    dup = np.maximum(np.asarray(layer_dup, dtype=np.int64), 1)
    idiv = ceil_div(combined, dup)
    ddiv = ceil_div(combined, np.maximum(idiv, 1))
    return idiv, ddiv
