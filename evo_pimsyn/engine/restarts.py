"""What a restart draws: a fresh population of global settings the run has not converged on.

A single-objective population collapses within seconds onto the first global setting
(crossbar size, cell and DAC resolution) whose designs score well, and its designs moved
to another setting score below those it has (their per-layer genes were tuned to the
first), so selection does not move a converged run to a better setting. A restart exists
to find another basin, but a fresh population free to draw any setting climbs the setting
that climbs fastest again, not the one that ends highest (ResNet18 at 49 W: 256x256
crossbars climb fastest, 128x128 with 2-bit cells end highest). So every restart records
the setting the population had converged on (``Counters.explored``), and the wholly fresh
restarts draw from the others. Drawing is not enough: within the epoch the global-reset
mutation brings the explored settings back, and selection takes them again because they
climb faster, so during a fresh epoch their designs rank after every real violation
(``shun_explored``); the archive still takes them.

Most settings are hopeless, though (ResNet18 at 49 W: 10 of 25 have no feasible design
among thousands drawn), and a 120 s run restarts fresh only two or three times. So
generation 0 scores the problem's screening sample (every heuristic seed at every legal
global point) and keeps the promising settings, those whose best screened design
(feasible, or over the power budget by at most ``NEAR_BUDGET``) is within ``PROMISING`` of
the best setting's (``Counters.ranked``), and every restart draws its fresh designs among
them (``Problem.initial_in``). Once each promising setting has been explored the fresh
epochs stop shunning (``shuns``): a fresh population over the
promising settings climbs again like generation 0's, and a setting's climbs end in basins
several percent apart (ResNet18, 128x128 crossbars with 2-bit cells: 393 to 405 GOPS/W).
The draw stays mixed on purpose: a population confined to one setting climbs it worse
than a mixed one whose designs reach it by the global-reset mutation, their duplication
shape kept by repair (ResNet18, 128x128 with 2-bit cells: fresh climbs confined to it
ended at 331-362 GOPS/W in 5 of 6 epochs, and at 402 in one; mixed populations that
settled there reached 393 and 396).

``Problem.setting_keys`` names a genome's setting; problems without it restart as before.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.engine.objectives import Objective, objective_matrix

# a fresh restart draws this many times its population and keeps the designs of settings
# not yet explored (see fresh_genomes)
FRESH_DRAWS = 4
# a design of an explored setting, during a fresh restart's epoch: ranks after every real
# violation (objectives.violation) and before repeated genomes (loop.DUPLICATE_VIOLATION)
EXPLORED_VIOLATION = 2.0
# a setting whose best screened design is this close (relative) to the best setting's is
# worth a fresh climb (rank_settings); the others are left to mutation
PROMISING = 0.25
# the ranking counts a screened design whose peak power is over the budget by at most this
# fraction (rank_screening). The heuristic seeds fill the power budget by construction, and
# the allocation's ceilings leave some settings' seeds a hair over it, every one of them:
# SqueezeNet 1.1 at 49 W, 128x128 crossbars with 1-bit cells and 2-bit DACs, 186 seeds, the
# closest at 49.0019 W, while the designs its runs reach there (142-152 GOPS/W) beat the best
# of the setting the screening ranked alone (256x256, 122-124); unranked, a restart never
# drew it, and a run reached it only when mutation happened to.
NEAR_BUDGET = 1e-3


def explored_settings(problem, G: np.ndarray, F: np.ndarray, V: np.ndarray, explored: tuple[int, ...],
                      n_objectives: int) -> tuple[int, ...]:
    """``explored`` with the global setting of the population's best feasible design added
    (one objective, problems with ``setting_keys``)."""
    feasible = np.flatnonzero(V <= 0)
    if n_objectives != 1 or not len(feasible):
        return explored
    best = feasible[np.argmin(F[feasible, 0])]
    keys = problem.setting_keys(G[best:best + 1])
    if keys is None:
        return explored
    key = int(keys[0])
    return explored if key in explored else (*explored, key)


def rank_settings(problem, G: np.ndarray, F: np.ndarray, V: np.ndarray) -> tuple[int, ...]:
    """The promising global settings of the scored genomes ``G``, best first by their best
    feasible value of the first objective (ties: the smaller key): those whose best is
    within ``PROMISING`` (relative) of the best setting's."""
    keys = problem.setting_keys(G)
    feasible = (V <= 0) & np.isfinite(F[:, 0])
    if keys is None or not feasible.any():
        return ()
    keys, values = keys[feasible], F[feasible, 0]
    order = np.lexsort((keys, values))  # best value first, then key
    _, first = np.unique(keys[order], return_index=True)
    first = np.sort(first)
    best = values[order][first]
    close = np.abs(best - best[0]) <= PROMISING * abs(best[0])
    return tuple(int(k) for k in keys[order][first][close])


def rank_screening(problem, G: np.ndarray, frame: pd.DataFrame, objectives: Sequence[Objective],
                   V: np.ndarray) -> tuple[int, ...]:
    """``rank_settings`` of the screened genomes ``G`` (evaluated rows ``frame``, violations
    ``V``) by their feasible designs and those whose peak power is over the budget by at
    most ``NEAR_BUDGET``."""
    near = V <= 1.0 + NEAR_BUDGET
    return rank_settings(problem, G, objective_matrix(frame, objectives, near), np.where(near, 0.0, V))


def fresh_genomes(problem, n: int, rng: np.random.Generator, explored: Sequence[int],
                  allowed: Sequence[int] | None = None) -> np.ndarray:
    """``n`` fresh genomes from ``problem.initial`` (among the settings ``allowed`` when
    given and the problem draws them, ``Problem.initial_in``). With settings ``explored``,
    ``FRESH_DRAWS`` times ``n`` are drawn and those of the other settings come first, in
    draw order, then the rest (a problem without settings: the first ``n``).

    In draw order, so a fresh population is mostly heuristic seeds (``genomes.init`` draws
    them first, a quarter of ``4 n``): all of them once every promising setting is explored.
    Shuffling the draws first, to keep the initial population's mix of seeds and random
    designs, did worse (ResNet18 at 49 W, 120 s, seeds 0-2: 384.1/395.5/364.3 GOPS/W against
    388.7/393.3/390.2): the seeds' duplication shapes climb faster than random ones."""
    draws = FRESH_DRAWS * n if explored else n
    G = problem.initial_in(allowed, draws, rng) if allowed else None
    G = np.asarray(problem.initial(draws, rng) if G is None else G, dtype=np.int64)
    keys = problem.setting_keys(G)
    if keys is None or not explored:
        return G[:n]
    new = ~np.isin(keys, np.asarray(explored, dtype=np.int64))
    return G[np.argsort(~new, kind="stable")[:n]]


def shuns(ranked: Sequence[int] | None, explored: Sequence[int]) -> bool:
    """Whether a fresh epoch keeps out of the ``explored`` settings: while a promising
    setting (``ranked``; None or empty: not screened or nothing found, every setting
    counts) is still unexplored."""
    return not ranked or not set(ranked) <= set(explored)


def breeds_from_archive(k: int) -> bool:
    """Whether the run's restart number ``k`` (0-based) breeds part of its population from
    the archive (``Settings.restart_elite``): the 0th, 2nd, ...; the others are wholly fresh."""
    return k % 2 == 0


def in_fresh_epoch(restarts: int) -> bool:
    """Whether a run that has restarted ``restarts`` times is in a wholly fresh restart's epoch."""
    return restarts > 0 and not breeds_from_archive(restarts - 1)


def shun_explored(problem, G: np.ndarray, V: np.ndarray, explored: Sequence[int]) -> np.ndarray:
    """Selection copy of ``V`` in which designs of an ``explored`` setting rank after every
    real violation (``V`` itself when every row is of one). A fresh restart's population
    drawn from new settings otherwise drifts back within its epoch: the global-reset
    mutation reaches the explored settings, which climb faster, and selection takes them
    (ResNet18 at 49 W, 600 s, seed 0: 20 restarts, every epoch back in 256x256 crossbars,
    383.8 GOPS/W where 128x128 with 2-bit cells reaches 400+)."""
    if not explored:
        return V
    keys = problem.setting_keys(G)
    if keys is None:
        return V
    shunned = np.isin(keys, np.asarray(explored, dtype=np.int64))
    if shunned.all():  # every setting explored (fresh_genomes drew from all): nothing to keep out of
        return V
    return np.where(shunned, np.maximum(V, EXPLORED_VIOLATION), V)
