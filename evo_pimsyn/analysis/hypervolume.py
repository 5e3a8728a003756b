"""Exact hypervolume for 1-3 objectives, in the objectives' own units.

The volume is that of the region dominated by the front and bounded by ``ref``: for a
minimized objective ``ref`` is an upper bound (worse than every point), for a maximized
one a lower bound (e.g. efficiency 0 GOPS/W). Points not strictly better than ``ref`` in
every objective add nothing. 2-D is a sweep after sorting; 3-D slices along the third
objective and adds up 2-D areas, O(n^2 log n), plenty for fronts of a few thousand.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.analysis.pareto import minimization_matrix, pareto_mask, resolve
from fitness.errors import InputError


def hypervolume(df: pd.DataFrame, objectives: Sequence, ref: Sequence[float]) -> float:
    """Hypervolume of ``df``'s rows (infeasible rows excluded) w.r.t. ``ref`` (column units)."""
    specs = resolve(objectives)
    ref = [float(r) for r in np.atleast_1d(np.asarray(ref, dtype=np.float64))]
    if len(ref) != len(specs):
        raise InputError(f"The 'ref' parameter must have one value per objective ({len(specs)}). Got {ref!r} instead.")
    F = minimization_matrix(df, specs)
    if "feasible" in df.columns:
        F = F[df["feasible"].fillna(False).to_numpy(dtype=bool)]
    r = np.array([-v if mx else v for v, (_, mx) in zip(ref, specs)])
    return hypervolume_min(F, r)


def hypervolume_min(F: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of minimization-form points ``F`` ``[n, m]`` below ``ref`` ``[m]``."""
    F = np.asarray(F, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    m = len(ref)
    if m not in (1, 2, 3):
        raise InputError(f"hypervolume is exact for 1 to 3 objectives. Got {m} objectives instead.")
    if F.size == 0:
        return 0.0
    F = F.reshape(-1, m)
    F = F[np.isfinite(F).all(axis=1) & (F < ref).all(axis=1)]
    if not len(F):
        return 0.0
    F = F[pareto_mask(F)]
    if m == 1:
        return float(ref[0] - F[:, 0].min())
    if m == 2:
        return _hv2(F, ref)
    return _hv3(F, ref)


def _hv2(F: np.ndarray, ref: np.ndarray) -> float:
    """Horizontal strips: in order of x, each point that lowers the best y so far adds
    the strip between the new and the old best y, from its x to ref's x."""
    P = F[np.lexsort((F[:, 1], F[:, 0]))]
    area, best_y = 0.0, ref[1]
    for x, y in P:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(area)


def _hv3(F: np.ndarray, ref: np.ndarray) -> float:
    """Slabs between consecutive z levels: the points at or below a slab's floor make
    a 2-D front whose area, times the slab height, is the slab's volume."""
    P = F[np.argsort(F[:, 2], kind="stable")]
    z_levels = np.append(np.unique(P[:, 2]), ref[2])
    volume = 0.0
    for lo, hi in zip(z_levels[:-1], z_levels[1:]):
        below = P[P[:, 2] <= lo][:, :2]
        volume += _hv2(below[pareto_mask(below)], ref[:2]) * (hi - lo)
    return float(volume)
