"""Non-dominance, Pareto ranks and hypervolume: the project's one implementation of each,
through moocore (C code; what DEAP uses too).

Every function takes objectives in minimization form, ``F`` ``[n, m]`` float64 (a
maximized objective negated). Rows with a NaN never count (not on the front, no volume).
moocore ranks ``inf`` wrongly, so an infinite coordinate is compared as the largest
finite float of its sign: ``inf`` stays worse than every finite value and equal to
another ``inf``.
"""

from __future__ import annotations

import moocore
import numpy as np

_BIG = np.finfo(np.float64).max


def _finite(F: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(F, dtype=np.float64), -_BIG, _BIG)


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """True for the rows of ``F`` that no other row Pareto-dominates.

    Equal rows do not dominate each other, so copies of a front point are all kept. Rows
    with a NaN or an infinity are never on the front."""
    F = np.asarray(F, dtype=np.float64)
    mask = np.zeros(len(F), dtype=bool)
    if F.ndim != 2 or not len(F):
        return mask
    ok = np.isfinite(F).all(axis=1)
    if ok.any():
        mask[ok] = moocore.is_nondominated(F[ok], keep_weakly=True)
    return mask


def pareto_ranks(F: np.ndarray) -> np.ndarray:
    """Front index (0 = non-dominated) of every row: non-dominated sorting. Rows with a
    NaN must not be passed."""
    F = np.asarray(F, dtype=np.float64)
    if not len(F):
        return np.empty(0, dtype=np.int64)
    return np.asarray(moocore.pareto_rank(_finite(F)), dtype=np.int64)


def hypervolume(F: np.ndarray, ref: np.ndarray) -> float:
    """Volume dominated by the rows of ``F`` and bounded by ``ref`` ``[m]``, in the
    objectives' units (exact, any number of objectives). Rows not strictly better than
    ``ref`` in every objective, and rows with a NaN or an infinity, add nothing."""
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    F = np.asarray(F, dtype=np.float64).reshape(-1, len(ref))
    F = F[np.isfinite(F).all(axis=1) & (F < ref).all(axis=1)]
    if not len(F):
        return 0.0
    return float(moocore.hypervolume(F, ref=ref))
