"""Exact hypervolume of a DataFrame's rows, in the objectives' own units.

The volume is that of the region dominated by the front and bounded by ``ref``: for a
minimized objective ``ref`` is an upper bound (worse than every point), for a maximized
one a lower bound (e.g. efficiency 0 GOPS/W). Points not strictly better than ``ref`` in
every objective add nothing. The volume itself is :func:`evo_pimsyn.engine.front.hypervolume`
(moocore), exact for any number of objectives.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.analysis.pareto import minimization_matrix, resolve
from evo_pimsyn.engine.front import hypervolume as hypervolume_min
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
