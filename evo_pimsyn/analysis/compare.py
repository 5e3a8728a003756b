"""Several runs side by side: one row per run with its settings, progress, front size,
best value of every objective and a hypervolume measured against one common reference
(so the column is comparable across the rows)."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.analysis.hypervolume import hypervolume
from evo_pimsyn.analysis.load import RunData, load_run
from evo_pimsyn.analysis.pareto import minimization_matrix, pareto_filter
from evo_pimsyn.engine.objectives import Objective, parse_objectives
from fitness.errors import InputError


def common_reference(fronts: Sequence[pd.DataFrame], objectives: Sequence[Objective]) -> list[float]:
    """A reference worse than every point of every front: 0 for a maximized objective
    (efficiency and throughput are positive), 10% beyond the worst value for a minimized
    one. Fixed per comparison, so that hypervolumes of the compared runs are comparable."""
    ref = []
    for obj in objectives:
        if obj.maximize:
            ref.append(0.0)
            continue
        worst = [minimization_matrix(f, [obj])[:, 0] for f in fronts if len(f) and obj.column in f]
        values = np.concatenate(worst) if worst else np.array([])
        values = values[np.isfinite(values)]
        ref.append(float(values.max() * 1.1) if len(values) else 1.0)
    return ref


def compare_runs(runs: Iterable[str | RunData], objectives: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Side-by-side table of ``runs`` (paths or loaded runs), index = run name.

    ``objectives`` defaults to those shared by all runs, in the first run's order.
    """
    loaded = [r if isinstance(r, RunData) else load_run(r) for r in runs]
    if not loaded:
        raise InputError("The 'runs' parameter must name at least one run. Got an empty list instead.")
    if objectives is None:
        shared = [o for o in loaded[0].objectives if all(o in r.objectives for r in loaded[1:])]
        if not shared:
            raise InputError("the runs share no objective; pass objectives=... explicitly")
        objs = tuple(shared)
    else:
        objs = parse_objectives(objectives)
    fronts = []
    for r in loaded:
        cols = [o for o in objs if o.column in r.pareto.columns]
        fronts.append(pareto_filter(r.pareto, cols) if len(r.pareto) and len(cols) == len(objs) else r.pareto.iloc[0:0])
    ref = common_reference(fronts, objs) if len(objs) <= 3 else None
    rows = []
    for r, front in zip(loaded, fronts):
        g = r.generations
        row = {
            "run": r.name,
            "model": r.run.get("model_name", r.run.get("model")),
            "power_w": r.run.get("power_w"),
            "objectives": ",".join(o.name for o in r.objectives),
            "macro_setting": r.run.get("macro_setting"),
            "seed": r.run.get("seed"),
            "population": r.run.get("population"),
            "status": r.status,
            "generations": r.last_generation,
            "evaluations": int(g["evaluations"].iloc[-1]) if len(g) and "evaluations" in g else 0,
            "wall_time_s": float(g["wall_time_s"].iloc[-1]) if len(g) and "wall_time_s" in g else np.nan,
            "front_size": len(front),
        }
        for o in objs:
            col = front[o.column] if o.column in front else pd.Series(dtype=float)
            row[f"best_{o.column}"] = (col.max() if o.maximize else col.min()) if len(col) else np.nan
        if ref is not None:
            row["hypervolume"] = hypervolume(front, objs, ref) if len(front) else 0.0
        rows.append(row)
    out = pd.DataFrame(rows).set_index("run")
    if ref is not None:
        out.attrs["hypervolume_ref"] = dict(zip([o.column for o in objs], ref))
    return out
