"""Genome matrix <-> :class:`fitness.design.DesignBatch`, vectorized over the batch axis.

``decode`` is exact and does no repair: it maps index genes to values and copies the
layer blocks, so ``decode(encode(batch)) == batch`` for every design the layout can
represent. Legality is repair's job (:mod:`genomes.repair`).
"""

from __future__ import annotations

import numpy as np

from fitness.design import DesignBatch
from fitness.errors import InputError
from genomes.layout import DAC_RES, MACRO_SIZE, RATIO, RRAM_RES, XBAR, GenomeLayout
from genomes.repair import limits, unified_counts, usable_sizes


def _check_genomes(layout: GenomeLayout, G: np.ndarray) -> np.ndarray:
    G = np.asarray(G)
    if G.ndim != 2 or G.shape[1] != layout.n_genes or not np.issubdtype(G.dtype, np.integer):
        raise ValueError(f"genomes must be an int matrix [B, {layout.n_genes}], got {G.dtype} {G.shape}")
    bad = (G < layout.lower) | (G > layout.upper)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"genome {row}: gene {layout.gene_names[col]} = {G[row, col]} is outside "
                         f"[{layout.lower[col]}, {layout.upper[col]}] (repair it first)")
    return G.astype(np.int64, copy=False)


def decode(layout: GenomeLayout, G: np.ndarray) -> DesignBatch:
    """Designs of genomes ``G`` [B, n_genes] (within the layout's bounds; not repaired)."""
    G = _check_genomes(layout, G)
    n = len(G)
    return DesignBatch(
        xbar_size=layout.xbar_sizes[G[:, XBAR]],
        rram_res=layout.rram_resolutions[G[:, RRAM_RES]],
        dac_res=layout.dac_resolutions[G[:, DAC_RES]],
        rram_ratio=layout.ratios[G[:, RATIO]],
        total_power_w=np.full(n, layout.total_power_w),
        unified=np.full(n, layout.unified),
        dup=G[:, layout.dup_slice].copy(),
        macro_num=G[:, layout.macro_slice].copy(),
        macro_share=G[:, layout.share_slice].copy(),
    )


def _index_of(values: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    wanted = np.asarray(wanted)
    idx = np.searchsorted(values, wanted)
    ok = (idx < len(values)) & (values[np.minimum(idx, len(values) - 1)] == wanted)
    if not ok.all():
        b = int(np.flatnonzero(~ok)[0])
        raise InputError(f"design {b}: {what} {wanted[b]!r} is not one of {values.tolist()}")
    return idx.astype(np.int64)


def encode(layout: GenomeLayout, batch: DesignBatch, clip: bool = False) -> np.ndarray:
    """Genomes [B, n_genes] of ``batch``.

    Global values must be on the layout's lists (ratio on the 0.01 grid), the power and
    macro setting must be the layout's. Layer genes outside the gene bounds raise
    :class:`InputError` unless ``clip`` (then they are clipped; repair does the rest).
    Unified designs carry no macro size: the smallest grid size that reproduces their
    macro counts is stored (the smallest usable one if none does).
    """
    n = len(np.asarray(batch.xbar_size))
    G = np.zeros((n, layout.n_genes), dtype=np.int64)
    if n == 0:
        return G
    power = np.asarray(batch.total_power_w, dtype=np.float64)
    off = ~np.isclose(power, layout.total_power_w, rtol=1e-12, atol=0)
    if off.any():
        b = int(np.flatnonzero(off)[0])
        raise InputError(f"design {b}: total power {power[b]:g} W differs from the search's {layout.total_power_w:g} W")
    unified = np.asarray(batch.unified, dtype=bool)
    if (unified != layout.unified).any():
        b = int(np.flatnonzero(unified != layout.unified)[0])
        raise InputError(f"design {b}: macro setting {'unified' if unified[b] else 'specified'} differs from the "
                         f"search's {layout.macro_setting}")
    G[:, XBAR] = _index_of(layout.xbar_sizes, batch.xbar_size, "xbar_size")
    G[:, RRAM_RES] = _index_of(layout.rram_resolutions, batch.rram_res, "rram_res")
    G[:, DAC_RES] = _index_of(layout.dac_resolutions, batch.dac_res, "dac_res")
    ratio = np.asarray(batch.rram_ratio, dtype=np.float64)
    q = np.clip(np.rint((ratio - layout.ratios[0]) * 100).astype(np.int64), 0, len(layout.ratios) - 1)
    off = np.abs(layout.ratios[q] - ratio) > 1e-9
    if off.any():
        b = int(np.flatnonzero(off)[0])
        raise InputError(f"design {b}: rram_ratio {ratio[b]!r} is not on the grid 0.10, 0.11, ..., 0.40")
    G[:, RATIO] = q
    layers = {
        "dup": (layout.dup_slice, batch.dup, layout.n_conv),
        "macro_num": (layout.macro_slice, batch.macro_num, layout.n_mvm),
        "macro_share": (layout.share_slice, batch.macro_share, layout.n_mvm),
    }
    for what, (cols, values, width) in layers.items():
        values = np.asarray(values, dtype=np.int64).reshape(n, -1)
        if values.shape[1] != width:
            raise InputError(f"{what} has {values.shape[1]} entries per design, the network has {width}")
        G[:, cols] = values
    if layout.unified:
        G[:, MACRO_SIZE] = _unified_size_index(layout, G)
    if clip:
        return layout.clip(G)
    bad = (G < layout.lower) | (G > layout.upper)
    if bad.any():
        b, c = np.argwhere(bad)[0]
        name = layout.gene_names[c]
        raise InputError(f"design {b}: {name} = {G[b, c]} is outside [{layout.lower[c]}, {layout.upper[c]}]"
                         + (" (sharing is disabled in this search)" if name.startswith("share") else ""))
    return G


def _unified_size_index(layout: GenomeLayout, G: np.ndarray) -> np.ndarray:
    x, r = np.clip(G[:, XBAR], 0, layout.upper[XBAR]), np.clip(G[:, RRAM_RES], 0, layout.upper[RRAM_RES])
    dup = np.maximum(G[:, layout.dup_slice], 1)
    counts = unified_counts(layout, limits(layout, dup, x), x, r)  # [B, nk, n_mvm]
    nk = layout.macro_sizes.shape[-1]
    usable = usable_sizes(layout, counts, x, r)
    match = usable & (counts == G[:, None, layout.macro_slice]).all(axis=2)
    first_usable = np.where(usable.any(axis=1), np.argmax(usable, axis=1), nk - 1)
    return np.where(match.any(axis=1), np.argmax(match, axis=1), first_usable)


__all__ = ["decode", "encode"]
