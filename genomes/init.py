"""Initial populations: random legal genomes mixed with heuristic seeds, all repaired.

Random genomes draw the global point uniformly over the *legal* (ratio, X, r, d) points
(drawing indices and repairing would pile individuals onto the edge of the feasible
region), a uniformly random split of the conv crossbar budget over the conv layers
(Dirichlet(1)), log-uniform macro counts and a few random sharing partners.

Heuristic seeds (MODEL.md §10.2 and the obvious corners):

* ``pixels``: dup_l proportional to the layer's output pixels W_l*H_l, scaled to the
  budget (PIMSYN's SA seed: N_conv * W_l H_l set_l / sum(W H set) / set_l);
* ``uniform``: the same dup for every conv layer, N_conv / sum(set);
* ``nodup``: dup = 1 at the smallest legal ratio of its (X, r, d), i.e. as little
  duplication as the budget rule allows (repair tops it up to N_conv - mean(set), which at
  that ratio is the least crossbar use).

Seeds cycle their macro counts through the fewest (1 per layer), the most (the largest
valid count) and a middle value (nearest valid count to sqrt(lim)); in the unified
setting through the smallest, middle and largest macro size. Seeds share nothing.
"""

from __future__ import annotations

import numpy as np

from genomes.layout import DAC_RES, MACRO_SIZE, MAX_MACROS, RATIO, RRAM_RES, XBAR, GenomeLayout
from genomes.repair import limits, repair

SEED_KINDS = ("pixels", "uniform", "nodup")
_MACRO_MODES = ("min", "max", "mid")


def initial_population(layout: GenomeLayout, n: int, rng: np.random.Generator,
                       seed_fraction: float = 0.25) -> np.ndarray:
    """``n`` legal genomes: ``round(n * seed_fraction)`` heuristic seeds (at least one of
    each kind when n allows), the rest random; rows in that order."""
    n = int(n)
    if n <= 0:
        return np.zeros((0, layout.n_genes), dtype=np.int64)
    n_seed = 0
    if seed_fraction > 0:
        n_seed = min(n, max(len(SEED_KINDS), int(round(n * seed_fraction))))
    return np.concatenate([seed_genomes(layout, n_seed, rng), random_genomes(layout, n - n_seed, rng)])


def _blank(layout: GenomeLayout, n: int, rng: np.random.Generator) -> np.ndarray:
    """Rows with a uniformly drawn legal global point and the lower bound everywhere else."""
    G = np.tile(layout.lower, (n, 1))
    pts = layout.legal_globals[rng.integers(len(layout.legal_globals), size=n)]
    G[:, RATIO], G[:, XBAR], G[:, RRAM_RES], G[:, DAC_RES] = pts.T
    if layout.unified:  # uniform over the (X, r) point's own size list
        G[:, MACRO_SIZE] = np.floor(rng.uniform(size=n) * layout.n_sizes[G[:, XBAR], G[:, RRAM_RES]])
    return G


def random_genomes(layout: GenomeLayout, n: int, rng: np.random.Generator, share_prob: float = 0.25) -> np.ndarray:
    """``n`` random legal genomes (see the module docstring for the distributions)."""
    G = _blank(layout, n, rng)
    if n == 0:
        return G
    q, x, r = G[:, RATIO], G[:, XBAR], G[:, RRAM_RES]
    if layout.n_conv:
        sets = layout.sets[x, r, : layout.n_conv]
        share = rng.dirichlet(np.ones(layout.n_conv), size=n)
        G[:, layout.dup_slice] = np.maximum(1, np.floor(share * layout.n_conv_budget[q, x, r][:, None] / sets))
    G = repair(layout, G)  # dup final from here on: the macro draws below see the real limits
    lim = np.minimum(limits(layout, G[:, layout.dup_slice], G[:, XBAR]), MAX_MACROS)
    G[:, layout.macro_slice] = np.floor(np.exp(rng.uniform(0, 1, size=lim.shape) * np.log(lim + 1))).clip(1, lim)
    if layout.allow_sharing and layout.n_mvm > 1:
        pos = np.arange(layout.n_mvm)
        partner = np.floor(rng.uniform(size=lim.shape) * pos).astype(np.int64)
        G[:, layout.share_slice] = np.where((rng.uniform(size=lim.shape) < share_prob) & (pos > 0), partner, -1)
    return repair(layout, G)


def seed_genomes(layout: GenomeLayout, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` heuristic seeds cycling through :data:`SEED_KINDS` (globals drawn at random)."""
    G = _blank(layout, n, rng)
    if n == 0:
        return G
    kind = np.arange(n) % len(SEED_KINDS)
    nodup = kind == SEED_KINDS.index("nodup")
    if nodup.any():
        # smallest legal ratio index for the row's (X, r, d)
        legal = layout.legal[:, G[nodup, XBAR], G[nodup, RRAM_RES], G[nodup, DAC_RES]]  # [nq, k]
        G[nodup, RATIO] = np.argmax(legal, axis=0)
    q, x, r = G[:, RATIO], G[:, XBAR], G[:, RRAM_RES]
    if layout.n_conv:
        sets = layout.sets[x, r, : layout.n_conv]
        budget = layout.n_conv_budget[q, x, r][:, None].astype(np.float64)
        weight = np.where((kind == SEED_KINDS.index("pixels"))[:, None], layout.pixels[None, :].astype(np.float64), 1.0)
        dup = np.floor(budget * weight / (weight * sets).sum(axis=1, keepdims=True))
        G[:, layout.dup_slice] = np.where(nodup[:, None], 1, np.maximum(dup, 1))
    G = repair(layout, G)
    mode = (np.arange(n) // len(SEED_KINDS)) % len(_MACRO_MODES)
    if layout.unified:
        last = layout.n_sizes[G[:, XBAR], G[:, RRAM_RES]] - 1
        G[:, MACRO_SIZE] = np.select([mode == 0, mode == 1], [0, last], last // 2)
    else:
        lim = np.minimum(limits(layout, G[:, layout.dup_slice], G[:, XBAR]), MAX_MACROS)
        target = np.select([mode[:, None] == 0, mode[:, None] == 1], [np.ones_like(lim), lim],
                           np.round(np.sqrt(lim)).astype(np.int64))
        G[:, layout.macro_slice] = target  # repair snaps to the nearest valid count
    G[:, layout.share_slice] = -1
    return repair(layout, G)
