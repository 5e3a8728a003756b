"""Constrained non-dominated sorting, crowding, NSGA-II / NSGA-III survival, tournaments.

Pure functions on arrays. ``F`` is ``[n, m]`` in minimization form, ``viol`` ``[n]`` the
constraint violation (0 = feasible). Constrained domination (Deb 2000): a feasible row
dominates every infeasible row; of two infeasible rows the smaller violation dominates;
two feasible rows compare by Pareto dominance.

Everything is deterministic given its inputs; the only randomness (tournaments, NSGA-III
niching) comes from an explicit ``numpy.random.Generator``. DEAP is used for the NSGA-III
reference points and normalization helpers only, which are pure numpy.
"""

from __future__ import annotations

from math import comb

import numpy as np
from deap.tools.emo import associate_to_niche, find_extreme_points, find_intercepts, uniform_reference_points

from evo_pimsyn.engine.front import pareto_ranks


def nondominated_ranks(F: np.ndarray, viol: np.ndarray) -> np.ndarray:
    """Front index (0 = best) of every row under constrained domination: the feasible rows'
    Pareto ranks (:func:`~evo_pimsyn.engine.front.pareto_ranks`), then one front per
    distinct violation of the infeasible rows, smallest first."""
    feas = viol <= 0
    ranks = np.empty(len(F), dtype=np.int64)
    ranks[feas] = pareto_ranks(F[feas])
    offset = int(ranks[feas].max()) + 1 if feas.any() else 0
    _, level = np.unique(viol[~feas], return_inverse=True)
    ranks[~feas] = offset + level.reshape(-1)
    return ranks


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of the rows of one front (extremes get ``inf``)."""
    n, m = F.shape
    dist = np.zeros(n)
    if n <= 2:
        dist[:] = np.inf
        return dist
    for k in range(m):
        order = np.argsort(F[:, k], kind="stable")
        col = F[order, k]
        span = col[-1] - col[0]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0 and np.isfinite(span):
            dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


def rank_and_crowding(F: np.ndarray, viol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ranks = nondominated_ranks(F, viol)
    crowd = np.zeros(len(F))
    for r in np.unique(ranks):
        idx = np.flatnonzero(ranks == r)
        if viol[idx[0]] <= 0:
            crowd[idx] = crowding_distance(F[idx])
    return ranks, crowd


def _fill_order(F: np.ndarray, viol: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the fronts that fit entirely in k, and the rows of the front that splits."""
    ranks = nondominated_ranks(F, viol)
    chosen: list[np.ndarray] = []
    count = 0
    for r in range(int(ranks.max()) + 1 if len(ranks) else 0):
        idx = np.flatnonzero(ranks == r)
        if count + len(idx) <= k:
            chosen.append(idx)
            count += len(idx)
            if count == k:
                return np.concatenate(chosen) if chosen else np.empty(0, np.int64), np.empty(0, np.int64)
        else:
            return np.concatenate(chosen) if chosen else np.empty(0, np.int64), idx
    return np.concatenate(chosen) if chosen else np.empty(0, np.int64), np.empty(0, np.int64)


def select_nsga2(F: np.ndarray, viol: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k survivors: whole fronts, then the split front by crowding distance
    (descending, ties by index). A split infeasible front is cut by index order (all its
    rows share one violation)."""
    if k >= len(F):
        return np.arange(len(F))
    chosen, last = _fill_order(F, viol, k)
    need = k - len(chosen)
    if need and len(last):
        if viol[last[0]] <= 0:
            crowd = crowding_distance(F[last])
            order = np.lexsort((last, -crowd))
            last = last[order]
        chosen = np.concatenate([chosen, last[:need]])
    return np.sort(chosen)


def reference_points(n_objectives: int, population: int) -> np.ndarray:
    """Das-Dennis points on the unit simplex; the largest division count with at most
    ``population`` points (at least 1 division)."""
    p = 1
    while comb(n_objectives + p, n_objectives - 1) <= population:
        p += 1
    return np.asarray(uniform_reference_points(n_objectives, p), dtype=np.float64)


def select_nsga3(F: np.ndarray, viol: np.ndarray, k: int, ref_points: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """NSGA-III survival (Deb & Jain 2014) with constrained domination.

    Normalization and niche association follow DEAP's pure helpers; the niching draws
    come from ``rng`` (DEAP's own ``niching`` uses the global numpy RNG).
    """
    if k >= len(F):
        return np.arange(len(F))
    chosen, last = _fill_order(F, viol, k)
    need = k - len(chosen)
    if not need or not len(last):
        return np.sort(chosen)
    if viol[last[0]] > 0:  # infeasible split front: equal violation, cut by index
        return np.sort(np.concatenate([chosen, last[:need]]))
    if F.shape[1] == 1:
        order = last[np.lexsort((last, F[last, 0]))]
        return np.sort(np.concatenate([chosen, order[:need]]))
    pool = np.concatenate([chosen, last])
    fit = F[pool]
    best = fit.min(axis=0)
    worst = fit.max(axis=0)
    extremes = find_extreme_points(fit, best)
    front_worst = fit.max(axis=0)
    intercepts = find_intercepts(extremes, best, worst, front_worst)
    niches, dist = associate_to_niche(fit, ref_points, best, intercepts)
    counts = np.bincount(niches[: len(chosen)], minlength=len(ref_points)).astype(np.int64)
    last_niches = niches[len(chosen):]
    last_dist = dist[len(chosen):]
    available = np.ones(len(last), dtype=bool)
    picked: list[int] = []
    while len(picked) < need:
        open_niches = np.unique(last_niches[available])
        min_count = counts[open_niches].min()
        cand = open_niches[counts[open_niches] == min_count]
        cand = rng.permutation(cand)[: need - len(picked)]
        for niche in cand:
            members = np.flatnonzero((last_niches == niche) & available)
            if counts[niche] == 0:
                sel = members[np.lexsort((members, last_dist[members]))[0]]
            else:
                sel = members[rng.integers(len(members))]
            available[sel] = False
            counts[niche] += 1
            picked.append(int(sel))
    return np.sort(np.concatenate([chosen, last[np.array(picked, dtype=np.int64)]]))


def binary_tournament(ranks: np.ndarray, crowd: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n winners of random pairwise contests: lower rank wins, then larger crowding,
    then the first drawn."""
    pairs = rng.integers(0, len(ranks), size=(n, 2))
    a, b = pairs[:, 0], pairs[:, 1]
    b_wins = (ranks[b] < ranks[a]) | ((ranks[b] == ranks[a]) & (crowd[b] > crowd[a]))
    return np.where(b_wins, b, a)
