"""What a restart draws: a fresh population of global settings the run has not converged on.

A single-objective population collapses within seconds onto the first global setting
(crossbar size, cell and DAC resolution) whose designs score well, and per-layer genes
tuned to one setting are worthless in another, so mutation does not move a converged run
to a better setting. A restart exists to find another basin, but a fresh population free
to draw any setting climbs the setting that climbs fastest again, not the one that ends
highest (ResNet18 at 49 W: 256x256 crossbars climb fastest, 128x128 with 2-bit cells end
highest). So every restart records the setting the population had converged on
(``Counters.explored``), and the wholly fresh restarts draw from the others. Drawing is
not enough: within the epoch the global-reset mutation brings the explored settings back,
and selection takes them again because they climb faster, so during a fresh epoch their
designs rank after every real violation (``shun_explored``); the archive still takes them.

``Problem.setting_keys`` names a genome's setting; problems without it restart as before.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# a fresh restart draws this many times its population and keeps the designs of settings
# not yet explored (see fresh_genomes)
FRESH_DRAWS = 4
# a design of an explored setting, during a fresh restart's epoch: ranks after every real
# violation (objectives.violation) and before repeated genomes (loop.DUPLICATE_VIOLATION)
EXPLORED_VIOLATION = 2.0


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


def fresh_genomes(problem, n: int, rng: np.random.Generator, explored: Sequence[int]) -> np.ndarray:
    """``n`` fresh genomes from ``problem.initial``, none of a setting in ``explored`` when
    enough are drawn (``FRESH_DRAWS`` times ``n``); the rest of them, if needed, and every
    row when the problem has no settings or all its draws are explored."""
    if not explored:
        return np.asarray(problem.initial(n, rng), dtype=np.int64)
    G = np.asarray(problem.initial(FRESH_DRAWS * n, rng), dtype=np.int64)
    keys = problem.setting_keys(G)
    if keys is None:
        return G[:n]
    new = ~np.isin(keys, np.asarray(explored, dtype=np.int64))
    if not new.any():
        return G[:n]
    return G[np.argsort(~new, kind="stable")[:n]]


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
