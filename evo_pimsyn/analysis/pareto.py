"""Pareto filtering of DataFrames with boolean masks (:func:`pareto_mask` is
:func:`evo_pimsyn.engine.front.pareto_mask`, moocore's non-dominance test).

Objectives are given the way a notebook user thinks of them: run objective names
(``"efficiency"``), evaluator columns (``"efficiency_gops_w"``; the sense comes from the
objective registry), or explicit ``(column, "max"|"min")`` pairs for any other column.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.engine.front import pareto_mask
from evo_pimsyn.engine.objectives import OBJECTIVES, Objective
from fitness.errors import InputError

_BY_COLUMN = {o.column: o for o in OBJECTIVES.values()}
SENSES = ("max", "min")


def resolve(objectives: Iterable) -> list[tuple[str, bool]]:
    """Objective specs -> ``[(column, maximize), ...]`` (see the module docstring)."""
    if isinstance(objectives, (str, Objective)) or (isinstance(objectives, tuple) and len(objectives) == 2
                                                    and objectives[1] in SENSES):
        objectives = [objectives]
    out: list[tuple[str, bool]] = []
    for spec in objectives:
        if isinstance(spec, Objective):
            out.append((spec.column, spec.maximize))
        elif isinstance(spec, str) and spec in OBJECTIVES:
            out.append((OBJECTIVES[spec].column, OBJECTIVES[spec].maximize))
        elif isinstance(spec, str) and spec in _BY_COLUMN:
            out.append((spec, _BY_COLUMN[spec].maximize))
        elif isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[1] in SENSES:
            out.append((str(spec[0]), spec[1] == "max"))
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], bool):
            out.append((str(spec[0]), spec[1]))  # already resolved: (column, maximize)
        else:
            raise InputError(f"The 'objectives' parameter must list objective names ({', '.join(OBJECTIVES)}), "
                             f"their columns, or (column, 'max'|'min') pairs. Got {spec!r} instead.")
    if not out:
        raise InputError("The 'objectives' parameter must name at least one objective. Got an empty list instead.")
    return out


def minimization_matrix(df: pd.DataFrame, objectives: Iterable) -> np.ndarray:
    """``[n, m]`` float64, maximized columns negated; NaN where a value is missing."""
    specs = resolve(objectives)
    missing = [c for c, _ in specs if c not in df.columns]
    if missing:
        raise InputError(f"no column {missing[0]!r} in the table (columns: {', '.join(map(str, df.columns))})")
    cols = [pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan) for c, _ in specs]
    F = np.column_stack(cols) if cols else np.empty((len(df), 0))
    return F * np.array([-1.0 if mx else 1.0 for _, mx in specs])


def pareto_filter(df: pd.DataFrame, objectives: Sequence, *, feasible_only: bool = True) -> pd.DataFrame:
    """The non-dominated rows of ``df`` (original index and order kept).

    With ``feasible_only`` (default) rows whose ``feasible`` column is false are dropped
    first, as the engine does for its archive.
    """
    F = minimization_matrix(df, objectives)
    if feasible_only and "feasible" in df.columns:
        feas = df["feasible"].fillna(False).to_numpy(dtype=bool)
        F = np.where(feas[:, None], F, np.nan)
    return df.loc[pareto_mask(F)]
