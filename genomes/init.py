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

``points`` (rows of :attr:`GenomeLayout.legal_globals`) confines a population's global
points, e.g. to one crossbar size and cell / DAC resolution; :func:`screening_genomes`
is every seed kind and macro mode at every legal global point, drawn from nothing.
"""

from __future__ import annotations

import numpy as np

from genomes.layout import DAC_RES, MACRO_SIZE, MAX_MACROS, RATIO, RRAM_RES, XBAR, GenomeLayout
from genomes.repair import limits, repair

SEED_KINDS = ("pixels", "uniform", "nodup")
_MACRO_MODES = ("min", "max", "mid")


def initial_population(layout: GenomeLayout, n: int, rng: np.random.Generator,
                       seed_fraction: float = 0.25, points: np.ndarray | None = None) -> np.ndarray:
    """``n`` legal genomes: ``round(n * seed_fraction)`` heuristic seeds (at least one of
    each kind when n allows), the rest random; rows in that order. ``points``: the global
    points to draw from (default all legal ones)."""
    n = int(n)
    if n <= 0:
        return np.zeros((0, layout.n_genes), dtype=np.int64)
    n_seed = 0
    if seed_fraction > 0:
        n_seed = min(n, max(len(SEED_KINDS), int(round(n * seed_fraction))))
    return np.concatenate([seed_genomes(layout, n_seed, rng, points),
                           random_genomes(layout, n - n_seed, rng, points=points)])


def _blank(layout: GenomeLayout, n: int, rng: np.random.Generator, points: np.ndarray | None = None) -> np.ndarray:
    """Rows with a uniformly drawn legal global point (of ``points``) and the lower bound everywhere else."""
    points = layout.legal_globals if points is None else np.asarray(points, dtype=np.int64)
    return _at_points(layout, points[rng.integers(len(points), size=n)], rng)


def _at_points(layout: GenomeLayout, pts: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """One row per global point of ``pts`` (ratio, X, r, d), the lower bound everywhere else;
    unified, a macro size drawn with ``rng`` (None: the smallest)."""
    G = np.tile(layout.lower, (len(pts), 1))
    G[:, RATIO], G[:, XBAR], G[:, RRAM_RES], G[:, DAC_RES] = pts.T
    n = len(G)
    if layout.unified and rng is not None:  # uniform over the (X, r) point's own size list
        G[:, MACRO_SIZE] = np.floor(rng.uniform(size=n) * layout.n_sizes[G[:, XBAR], G[:, RRAM_RES]])
    return G


def random_genomes(layout: GenomeLayout, n: int, rng: np.random.Generator, share_prob: float = 0.25,
                   points: np.ndarray | None = None) -> np.ndarray:
    """``n`` random legal genomes (see the module docstring for the distributions)."""
    G = _blank(layout, n, rng, points)
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


def seed_genomes(layout: GenomeLayout, n: int, rng: np.random.Generator,
                 points: np.ndarray | None = None) -> np.ndarray:
    """``n`` heuristic seeds cycling through :data:`SEED_KINDS` (globals drawn at random)."""
    G = _blank(layout, n, rng, points)
    if n == 0:
        return G
    return _seeded(layout, G, np.arange(n) % len(SEED_KINDS), (np.arange(n) // len(SEED_KINDS)) % len(_MACRO_MODES))


def screening_genomes(layout: GenomeLayout) -> np.ndarray:
    """Every seed kind with every macro mode at every legal global point (unified: the
    point's smallest, middle and largest macro size), legal and distinct (``nodup`` seeds
    of one X, r, d coincide), in ascending row order: a fixed sample that shows what each
    crossbar size and resolution can do."""
    pts = layout.legal_globals
    combos = len(SEED_KINDS) * len(_MACRO_MODES)
    G = _at_points(layout, np.repeat(pts, combos, axis=0), None)
    j = np.tile(np.arange(combos), len(pts))
    return np.unique(_seeded(layout, G, j % len(SEED_KINDS), j // len(SEED_KINDS)), axis=0)


def _seeded(layout: GenomeLayout, G: np.ndarray, kind: np.ndarray, mode: np.ndarray) -> np.ndarray:
    """Rows of ``G`` (global points set) made seeds of ``kind`` (SEED_KINDS index) with
    macro mode ``mode`` (_MACRO_MODES index), repaired."""
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
