"""Structure-aware variation operators over genome matrices.

Both operators take legal genomes (as returned by :func:`genomes.repair.repair` or
:func:`genomes.init.initial_population`) and return **repaired, legal** genomes; calling
repair again is harmless (it is idempotent). Randomness comes only from the
``numpy.random.Generator`` passed in.

Mutation moves (each row independently):

* **global reset** (``p_global``): one of the unpinned genes X, r, d or, unified, the
  macro size is redrawn, or the ratio steps by 1-3 grid points; repair then moves the
  point to the nearest legal one and rescales dup to the new budget, keeping its shape;
* **dup move** (``p_dup``, ``searched`` dup mode only): crossbars move from one conv
  layer to another: the source loses 1..half of its extra copies, the target gains as many
  copies as those crossbars (plus the slack left under N_conv + mean) pay for, so the
  budget rule still holds;
* **macro move** (``p_macro`` per MVM layer): the own count steps to the next larger or
  smaller valid count (specified); unified, unless the macro size is pinned: the macro
  size steps to the next larger or smaller size that changes the counts (probability
  ``p_macro * n_mvm``, capped at 1);
* **share toggle** (``p_share`` per MVM layer, in gene order): a shared layer becomes
  unshared; an unshared one that nobody shares with joins a random earlier unshared,
  unpaired layer that satisfies m_i + m_p <= min(lim_i, lim_p) (no-op if none does).
"""

from __future__ import annotations

import numpy as np

from genomes.layout import DAC_RES, GLOBAL_NAMES, MACRO_SIZE, MAX_MACROS, N_GLOBAL, RATIO, RRAM_RES, XBAR, GenomeLayout
from genomes.repair import dup_window, limits, repair, unified_counts, usable_sizes
from genomes.repair_kernels import neighbour_counts


def _pick(rng: np.random.Generator, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(column, any) per row: a uniformly random True column of ``eligible`` [B, K]."""
    keys = np.where(eligible, rng.uniform(size=eligible.shape), -1.0)
    return np.argmax(keys, axis=1), eligible.any(axis=1)


def mutate(
    layout: GenomeLayout,
    G: np.ndarray,
    rng: np.random.Generator,
    *,
    p_global: float = 0.15,
    p_dup: float = 0.6,
    p_macro: float | None = None,
    p_share: float | None = None,
    global_genes: tuple[str, ...] | None = None,
) -> np.ndarray:
    """Mutated, repaired copy of legal genomes ``G`` [B, n_genes]. Per-layer rates default
    to 1.5 / n_mvm (macro) and 1 / n_mvm (share). ``global_genes`` restricts the global
    reset to those genes (names of :data:`genomes.layout.GLOBAL_NAMES`; e.g. ``("rram_ratio",)``
    keeps X, r and d: a local move); default all."""
    G = np.array(G, dtype=np.int64, copy=True)
    n = len(G)
    if n == 0:
        return G
    p_macro = 1.5 / layout.n_mvm if p_macro is None else p_macro
    p_share = 1.0 / layout.n_mvm if p_share is None else p_share
    _global_reset(layout, G, rng, rng.uniform(size=n) < p_global, global_genes)
    G = repair(layout, G)  # the moves below read budgets and limits of the (new) global point
    _dup_move(layout, G, rng, rng.uniform(size=n) < p_dup)
    G = repair(layout, G)
    _macro_move(layout, G, rng, p_macro)
    if layout.allow_sharing:
        G = repair(layout, G)
        _share_toggle(layout, G, rng, p_share)
    return repair(layout, G)


def _global_reset(layout: GenomeLayout, G, rng, rows, names: tuple[str, ...] | None = None) -> None:
    genes = [XBAR, RRAM_RES, DAC_RES, RATIO] + ([MACRO_SIZE] if layout.unified else [])
    if names is not None:
        unknown = set(names) - set(GLOBAL_NAMES)
        if unknown:
            raise ValueError(f"unknown global genes {sorted(unknown)}; expected names from {GLOBAL_NAMES}")
        genes = [g for g in genes if GLOBAL_NAMES[g] in names]
    # a pinned gene has one value: a reset of it would be a wasted mutation
    genes = [g for g in genes if GLOBAL_NAMES[g] not in layout.pins]
    if not genes:
        return
    which = np.asarray(genes)[rng.integers(len(genes), size=len(G))]
    b = np.flatnonzero(rows)
    for g in genes:
        sel = b[which[b] == g]
        if not len(sel):
            continue
        if g == RATIO:  # a small step: the budget, and so every dup, changes with it
            G[sel, g] += rng.integers(1, 4, size=len(sel)) * rng.choice([-1, 1], size=len(sel))
        elif g == MACRO_SIZE:  # uniform over the (X, r) point's own size list
            G[sel, g] = np.floor(rng.uniform(size=len(sel)) * layout.n_sizes[G[sel, XBAR], G[sel, RRAM_RES]])
        else:
            G[sel, g] = rng.integers(layout.lower[g], layout.upper[g] + 1, size=len(sel))
    np.clip(G, layout.lower, layout.upper, out=G)


def _dup_move(layout: GenomeLayout, G, rng, rows) -> None:
    if layout.n_conv < 2 or layout.dup_mode != "searched":  # other modes: repair writes the dup
        return
    q, x, r = G[:, RATIO], G[:, XBAR], G[:, RRAM_RES]
    dup = G[:, layout.dup_slice]
    dmax = layout.dup_max[x, r]
    sets = layout.sets[x, r, : layout.n_conv]
    a, has_a = _pick(rng, dup > 1)
    idx = np.arange(len(G))
    not_a = np.arange(layout.n_conv)[None, :] != a[:, None]
    b, has_b = _pick(rng, (dup < dmax) & not_a)
    go = rows & has_a & has_b
    if not go.any():
        return
    extra = dup[idx, a] - 1
    give = np.floor(rng.uniform(size=len(G)) * np.ceil(extra / 2)).astype(np.int64) + 1  # 1 .. ceil(extra/2)
    _, _, hi = dup_window(layout, q, x, r)
    used = (dup * sets).sum(axis=1)
    freed = give * sets[idx, a] + np.floor(hi - used).astype(np.int64)
    take = np.minimum(freed // sets[idx, b], dmax[idx, b] - dup[idx, b])
    dup[idx[go], a[go]] -= give[go]
    dup[idx[go], b[go]] += take[go]
    G[:, layout.dup_slice] = dup


def _macro_move(layout: GenomeLayout, G, rng, p_macro) -> None:
    n = len(G)
    if layout.unified:
        if "macro_size" not in layout.pins:
            _macro_size_move(layout, G, rng, rng.uniform(size=n) < min(1.0, p_macro * layout.n_mvm))
        return
    lim = limits(layout, G[:, layout.dup_slice], G[:, XBAR])
    m = G[:, layout.macro_slice]
    for i in range(layout.n_mvm):
        rows = rng.uniform(size=n) < p_macro
        if not rows.any():
            continue
        mi = m[rows, i]
        up, down = neighbour_counts(lim[rows, i], mi, MAX_MACROS)
        go_up = rng.uniform(size=len(up)) < 0.5
        has_up, has_down = up <= MAX_MACROS, down > 0
        m[rows, i] = np.where((go_up & has_up) | ~has_down, np.where(has_up, up, mi), down)
    G[:, layout.macro_slice] = m


def _macro_size_move(layout: GenomeLayout, G, rng, rows) -> None:
    """Unified: the next smaller or larger usable macro size that changes the counts
    (repair stores the smallest size of each distinct count vector, so "smaller" is k - 1)."""
    b = np.flatnonzero(rows)
    if not len(b):
        return
    x, r, k = G[b, XBAR], G[b, RRAM_RES], G[b, MACRO_SIZE]
    counts = unified_counts(layout, limits(layout, G[b, layout.dup_slice], x), x, r)
    usable = usable_sizes(layout, counts, x, r)
    ks = np.arange(layout.macro_sizes.shape[-1])[None, :]
    now = counts[np.arange(len(b)), k]
    differs = usable & (counts != now[:, None, :]).any(axis=2)
    up_ok = differs & (ks > k[:, None])
    up = np.argmax(up_ok, axis=1)
    has_up = up_ok.any(axis=1)
    has_down = usable[np.arange(len(b)), np.maximum(k - 1, 0)] & (k > 0)
    go_up = (rng.uniform(size=len(b)) < 0.5) | ~has_down
    G[b, MACRO_SIZE] = np.where(go_up & has_up, up, np.where(has_down & ~(go_up & has_up), k - 1, k))


def _share_toggle(layout: GenomeLayout, G, rng, p_share) -> None:
    n = len(G)
    lim = limits(layout, G[:, layout.dup_slice], G[:, XBAR])
    m = G[:, layout.macro_slice]
    share = G[:, layout.share_slice].copy()
    pos = np.arange(layout.n_mvm)
    for i in range(1, layout.n_mvm):
        rows = rng.uniform(size=n) < p_share
        if not rows.any():
            continue
        shared = share[:, i] >= 0
        # who is paired right now: a layer with a partner, or one somebody else points at
        taken = np.zeros((n, layout.n_mvm), dtype=bool)
        sharer = share >= 0
        taken[np.nonzero(sharer)[0], share[sharer]] = True
        paired = taken | sharer
        # earlier, unpaired, and within the pair limit m_i + m_p <= min(lim_i, lim_p)
        free = (pos[None, :] < i) & ~paired & (m[:, i, None] + m <= np.minimum(lim[:, i, None], lim))
        p, has = _pick(rng, free)
        join = rows & ~shared & ~taken[:, i] & has
        leave = rows & shared
        share[leave, i] = -1
        share[join, i] = p[join]
    G[:, layout.share_slice] = share


def crossover(
    layout: GenomeLayout,
    A: np.ndarray,
    B: np.ndarray,
    rng: np.random.Generator,
    *,
    p_swap: float = 0.5,
    globals_as_block: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform crossover over per-layer blocks: a layer's dup, macro count and partner
    travel together (each block swapped with probability ``p_swap``). The global genes
    are swapped as one block (``globals_as_block``) or gene by gene. Returns two repaired
    children; pairs whose partner was left behind are dissolved by repair."""
    A = np.asarray(A, dtype=np.int64)
    B = np.asarray(B, dtype=np.int64)
    if A.shape != B.shape:
        raise ValueError(f"parents must have the same shape, got {A.shape} and {B.shape}")
    swap = block_swap_mask(layout, len(A), rng, p_swap=p_swap, globals_as_block=globals_as_block)
    return repair(layout, np.where(swap, B, A)), repair(layout, np.where(swap, A, B))


def block_swap_mask(layout: GenomeLayout, n: int, rng: np.random.Generator, *, p_swap: float = 0.5,
                    globals_as_block: bool = True) -> np.ndarray:
    """[n, n_genes] bool: which genes a crossover swaps. Constant over every layer block
    (dup, macros, share of one layer) and, with ``globals_as_block``, over the globals."""
    swap = np.zeros((n, layout.n_genes), dtype=bool)
    if globals_as_block:
        swap[:, :N_GLOBAL] = (rng.uniform(size=n) < 0.5)[:, None]
    else:
        swap[:, :N_GLOBAL] = rng.uniform(size=(n, N_GLOBAL)) < 0.5
    layer_swap = rng.uniform(size=(n, layout.n_mvm)) < p_swap
    for i, cols in enumerate(layout.layer_blocks):
        swap[:, cols] = layer_swap[:, i, None]
    return swap
