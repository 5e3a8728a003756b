"""Repair: map any integer matrix onto legal genomes, deterministically and idempotently.

``repair(layout, G)`` is a projection: ``repair(repair(G)) == repair(G)`` and a legal
genome is returned unchanged. It never draws random numbers (randomness in repair would
break idempotence and make the same child repair differently in two places).

Stages, each a fixed point of itself given the stages before it:

1. **Bounds.** Every gene is clipped into the layout's static bounds.
2. **Global point.** (ratio, X, r, d) moves to the nearest legal point of the layout's
   precomputed table: legal = the crossbars hold one copy of every weight (N_conv > sum
   of conv sets) and the derived ADC resolution is in the ADC table (and, unified, some
   macro size fits). An ADC miss is fixed by lowering d first.
3. **Duplication** (MODEL.md §4, §10.2). dup is clipped to 1..W*H (unified also caps it
   so that every m_i <= 999 at the largest macro size). Then the crossbars used,
   U = sum dup_l * set_l, must satisfy PIMSYN's acceptance |U - N_conv| <= mean(set).
   A vector outside that window is rescaled as a whole (largest factor f with
   U(clip(floor(dup * f))) <= N_conv, by bisection), which keeps the genome's
   *shape* (its relative duplication), then topped up one layer at a time (largest set that
   still fits under N_conv + mean first) until U >= N_conv - mean.
   **Budget too large for the network:** when even dup_l = W_l*H_l for every layer
   cannot reach N_conv - mean(set), or no single extra copy of any layer fits under the
   upper bound any more, the vector is left "as full as possible": U < N_conv - mean,
   and no layer can take one more copy without passing N_conv + mean. U never exceeds
   N_conv + mean.
   Outside the ``searched`` dup mode the dup is the mode's own: PIMSYN's W*H-proportional
   vector of the global point (``proportional``, a layout table) or 1 everywhere (``one``).
4. **Macro counts** (§2.3). Specified: m_i snaps to the nearest count that splits rows and
   duplicates evenly, i.e. a divisor of lim_i = dup_i * ceil(R_i/X) below 1000 (the set
   {u*v : u | ceil(R_i/X), v | dup_i} is exactly that; ties go to the smaller count).
   Unified: the macro-size gene is raised to the smallest size on the list whose counts
   m_i = ceil(lim_i / ceil(s / mu_i)) are all <= 999, and the counts are rewritten; the
   gene is then lowered to the smallest size giving the same counts (one genome per design).
5. **Sharing** (§2.3 rule b). In gene order, a partner is kept only if it is an earlier
   layer, itself unshared, not already paired with another layer, and
   m_i + m_p <= min(lim_i, lim_p); otherwise the layer becomes unshared. With
   ``allow_sharing=False`` every partner is -1.
"""

from __future__ import annotations

import numpy as np

from fitness.arrays import i64
from genomes.layout import DAC_RES, MACRO_SIZE, MAX_MACROS, RATIO, RRAM_RES, XBAR, GenomeLayout
from genomes.repair_kernels import rescale_rows, share_rows, snap_rows, top_up_rows

_BISECT_STEPS = 64


def repair(layout: GenomeLayout, G: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """A legal copy of every genome row (int64 [B, n_genes]). ``rng`` is accepted for
    interface symmetry with the operators and ignored: repair is deterministic."""
    del rng
    G = layout.clip(G)
    if G.shape[0] == 0:
        return G
    _repair_globals(layout, G)
    q, x, r = G[:, RATIO], G[:, XBAR], G[:, RRAM_RES]
    G[:, layout.dup_slice] = repair_dup(layout, G[:, layout.dup_slice], q, x, r)
    dup = G[:, layout.dup_slice]
    if layout.unified:
        G[:, MACRO_SIZE], G[:, layout.macro_slice] = unified_macros(layout, dup, x, r, G[:, MACRO_SIZE])
    else:
        G[:, MACRO_SIZE] = 0
        G[:, layout.macro_slice] = snap_macros(layout, G[:, layout.macro_slice], limits(layout, dup, x))
    G[:, layout.share_slice] = repair_share(layout, G[:, layout.share_slice], G[:, layout.macro_slice],
                                            limits(layout, dup, x))
    return G


# ---- stage 2 -------------------------------------------------------------------------
def _repair_globals(layout: GenomeLayout, G: np.ndarray) -> None:
    near = layout.nearest[G[:, RATIO], G[:, XBAR], G[:, RRAM_RES], G[:, DAC_RES]]
    G[:, RATIO], G[:, XBAR], G[:, RRAM_RES], G[:, DAC_RES] = near.T


# ---- stage 3 -------------------------------------------------------------------------
def dup_window(layout: GenomeLayout, q, x, r) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N_conv, lower, upper) of PIMSYN's dup acceptance |U - N_conv| <= mean(conv set)."""
    n = layout.n_conv_budget[q, x, r]
    mean = layout.conv_set_mean[x, r]
    return n, n - mean, n + mean


def repair_dup(layout: GenomeLayout, dup: np.ndarray, q, x, r) -> np.ndarray:
    """Duplication vectors [B, n_conv] that use the crossbar budget as PIMSYN's rule asks
    (or, outside the ``searched`` dup mode, the mode's own vectors)."""
    if layout.n_conv == 0:
        return dup
    if layout.dup_mode == "one":
        return np.ones_like(dup)
    if layout.dup_mode == "proportional":
        return layout.proportional_dup[q, x, r].copy()
    dmax = layout.dup_max[x, r]
    sets = layout.sets[x, r, : layout.n_conv]
    dup = np.clip(dup, 1, dmax)
    n, lo, hi = dup_window(layout, q, x, r)
    used = (dup * sets).sum(axis=1)
    need = (used > hi) | ((used < lo) & _can_add(dup, dmax, sets, hi - used).any(axis=1))
    if need.any():
        b = np.flatnonzero(need)
        dup[b] = _top_up(_rescale(dup[b], dmax[b], sets[b], n[b]), dmax[b], sets[b], lo[b], hi[b])
    return dup


def _can_add(dup, dmax, sets, room) -> np.ndarray:
    return (dup < dmax) & (sets <= room[:, None])


def _rescale(dup, dmax, sets, target) -> np.ndarray:
    """clip(floor(dup * f), 1, dmax) with the largest f whose crossbars stay <= target.

    U(f) is non-decreasing in f and U(0) = sum(set) < N_conv on any legal global point,
    so the bisection invariant U(f_lo) <= target < U(f_hi) holds from the start (or the
    all-max vector already fits and is the answer).
    """
    return rescale_rows(dup, dmax, sets, np.asarray(target, dtype=np.int64), _BISECT_STEPS)


def _top_up(dup, dmax, sets, lo, hi) -> np.ndarray:
    """Add copies until U >= lo without passing hi: each round the layer with the largest
    set that still fits takes as many copies as reach lo (or as fit). A layer that cannot
    take the copies it needs never fits again later (U only grows), so this ends within
    n_conv rounds."""
    return top_up_rows(dup, dmax, sets, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))


# ---- stage 4 -------------------------------------------------------------------------
def limits(layout: GenomeLayout, dup: np.ndarray, x) -> np.ndarray:
    """lim_i = dup_i * ceil(R_i / X) [B, n_mvm] (fc dup = 1): at most one macro per row block
    of every duplicate."""
    full = np.ones((len(dup), layout.n_mvm), dtype=np.int64)
    full[:, : layout.n_conv] = dup
    return full * layout.row_blocks[x]


def snap_macros(layout: GenomeLayout, m: np.ndarray, lim: np.ndarray) -> np.ndarray:
    """Each own count to the nearest valid specified count (ties: the smaller). The valid
    counts are the divisors of lim below 1000: {u*v : u | iota, v | dup} equals the divisors
    of iota*dup (for c | iota*dup take u = gcd(c, iota); c/u is coprime to iota/u, so it
    divides dup)."""
    return snap_rows(i64(m), i64(lim), MAX_MACROS)


def unified_counts(layout: GenomeLayout, lim: np.ndarray, x, r) -> np.ndarray:
    """m_i = ceil(lim_i / ceil(s / mu_i)) for every macro size: [B, n_sizes, n_mvm]."""
    mu = layout.min_macro[x, r]  # [B, n_mvm]
    sizes = np.where(layout.size_ok[x, r], layout.macro_sizes[x, r], 1)  # [B, nk]; off-list sizes masked by usable_sizes
    per_macro = -(-sizes[:, :, None] // mu[:, None, :])
    return -(-lim[:, None, :] // per_macro)


def unified_macros(layout: GenomeLayout, dup, x, r, k) -> tuple[np.ndarray, np.ndarray]:
    """(macro-size index, counts [B, n_mvm]): the smallest usable size at or above the gene's."""
    counts = unified_counts(layout, limits(layout, dup, x), x, r)
    nk = layout.macro_sizes.shape[-1]
    usable = usable_sizes(layout, counts, x, r)
    # dup <= dup_max guarantees the largest size of the list is usable; a gene beyond
    # the (X, r) list (or above every usable size) takes that largest size.
    at_or_above = usable & (np.arange(nk)[None, :] >= k[:, None])
    largest = nk - 1 - np.argmax(usable[:, ::-1], axis=1)
    first = np.where(at_or_above.any(axis=1), np.argmax(at_or_above, axis=1), largest)
    chosen = counts[np.arange(len(dup)), first]
    # Several sizes can give the same counts: store the smallest usable one, so that a
    # design has one genome (encode(decode(G)) == G) and a size step always changes counts.
    same = usable & (counts == chosen[:, None, :]).all(axis=2)
    return np.argmax(same, axis=1), chosen


def usable_sizes(layout: GenomeLayout, counts: np.ndarray, x, r) -> np.ndarray:
    """[B, n_sizes] bool: the size is on the (X, r) point's list and every count is <= 999."""
    return (counts <= MAX_MACROS).all(axis=2) & layout.size_ok[x, r]


# ---- stage 5 -------------------------------------------------------------------------
def repair_share(layout: GenomeLayout, share: np.ndarray, m: np.ndarray, lim: np.ndarray) -> np.ndarray:
    """Partners [B, n_mvm] obeying rule (b): earlier, unshared, pairs only, within the limit."""
    if not layout.allow_sharing:
        return np.full(share.shape, -1, dtype=np.int64)
    return share_rows(i64(share), i64(m), i64(lim))
