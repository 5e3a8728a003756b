"""Analysis of run folders: load them as DataFrames, filter fronts, hypervolume,
side-by-side comparisons, plots and the ``report`` output.

Notebook use::

    from evo_pimsyn.analysis import load_run, pareto_filter, hypervolume, compare_runs
    run = load_run("runs/alexnet-49W-seed0")
    front = pareto_filter(run.pareto, run.objectives)
    cells = load_study("studies/pimsyn-ablations")  # study.csv joined with each cell's run

Plotting lives in :mod:`evo_pimsyn.analysis.plots` (imported on demand: matplotlib is the
``plot`` extra, the rest needs only pandas).
"""

from evo_pimsyn.analysis.compare import compare_runs
from evo_pimsyn.analysis.hypervolume import hypervolume
from evo_pimsyn.analysis.load import RunData, load_run, ranked_front
from evo_pimsyn.analysis.pareto import pareto_filter, pareto_mask
from evo_pimsyn.analysis.study import load_study

__all__ = ["RunData", "compare_runs", "hypervolume", "load_run", "load_study", "pareto_filter", "pareto_mask",
           "ranked_front"]
