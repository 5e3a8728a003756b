"""Macro counts, macro grid and split factors (MODEL.md §5.1, §7.1), vectorized over designs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitness.crossbars import ceil_div
from fitness.network import Network


@dataclass(frozen=True)
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
    own_gene = np.asarray(own_gene, dtype=np.int64)
    partner_gene = np.asarray(partner_gene, dtype=np.int64)
    n_design = own_gene.shape[0]
    mvm = network.mvm_indices
    own = np.zeros((n_design, len(network)), dtype=np.int64)
    own[:, mvm] = own_gene
    combined = np.ones((n_design, len(network)), dtype=np.int64)
    partner = np.full((n_design, len(network)), -1, dtype=np.int64)
    rows = np.arange(n_design)
    for i, l in enumerate(mvm):
        p_gene = partner_gene[:, i]
        shared = p_gene >= 0
        p_layer = np.where(shared, mvm[np.clip(p_gene, 0, len(mvm) - 1)], -1)
        partner[:, l] = p_layer
        combined[:, l] = own_gene[:, i]
        if shared.any():
            b = rows[shared]
            combined[b, l] = own[b, p_layer[shared]] + own_gene[shared, i]
            combined[b, p_layer[shared]] += own_gene[shared, i]
    n_macros = own_gene.sum(axis=1)
    grid_rows = np.ceil(np.sqrt(n_macros.astype(np.float64))).astype(np.int64)
    grid_cols = ceil_div(n_macros, np.maximum(grid_rows, 1))
    return MacroCounts(own, combined, partner, n_macros, grid_rows, grid_cols)


def split_factors(combined, layer_dup) -> tuple[np.ndarray, np.ndarray]:
    """(idiv, ddiv) [B, L]: pieces the input rows are split into and duplicate groups."""
    combined = np.asarray(combined, dtype=np.int64)
    dup = np.maximum(np.asarray(layer_dup, dtype=np.int64), 1)
    idiv = ceil_div(combined, dup)
    ddiv = ceil_div(combined, np.maximum(idiv, 1))
    return idiv, ddiv
