"""Batch evaluation over joblib workers.

The population is cut into one contiguous slice per worker (``even_slices``, as
scikit-learn's ``gen_even_slices``); each task receives a plain int64 array and returns
the evaluator's DataFrame for its rows, and the frames are concatenated in slice order.
With ``workers=1`` everything runs in-process. The model scores each row independently,
so results do not depend on the worker count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.engine.objectives import Objective, apply_power_check, feasibility, objective_matrix, violation

ScoreFn = Callable[..., pd.DataFrame]


def even_slices(n: int, n_packs: int) -> list[slice]:
    """``n`` items in ``min(n_packs, n)`` contiguous slices whose sizes differ by at most 1."""
    n_packs = max(1, min(int(n_packs), n))
    out = []
    start = 0
    for pack in range(n_packs):
        size = n // n_packs + (1 if pack < n % n_packs else 0)
        out.append(slice(start, start + size))
        start += size
    return out


class Evaluator:
    """Callable ``G -> DataFrame`` (one row per genome, in order).

    Use as a context manager so that the worker pool stays open for the whole run.
    ``fn(*args, G)`` must be a module-level function (it is pickled by reference).
    """

    def __init__(self, fn: ScoreFn, args: Sequence[Any] = (), *, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ValueError(f"The 'workers' parameter of Evaluator must be an int >= 1. Got {workers!r} instead.")
        self.fn = fn
        self.args = tuple(args)
        self.workers = int(workers)
        self._parallel = None

    def __enter__(self) -> "Evaluator":
        if self.workers > 1:
            from joblib import Parallel

            self._parallel = Parallel(n_jobs=self.workers, backend="loky")
            self._parallel.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._parallel is not None:
            self._parallel.__exit__(*exc)
            self._parallel = None

    def __call__(self, G: np.ndarray) -> pd.DataFrame:
        G = np.ascontiguousarray(G, dtype=np.int64)
        if self.workers == 1 or len(G) <= 1:
            return _checked(self.fn(*self.args, G), len(G))
        from joblib import Parallel, delayed

        tasks = (delayed(self.fn)(*self.args, G[s]) for s in even_slices(len(G), self.workers))
        if self._parallel is not None:
            frames = self._parallel(tasks)
        else:
            frames = Parallel(n_jobs=self.workers, backend="loky")(tasks)
        return _checked(pd.concat(frames, ignore_index=True), len(G))


def _checked(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    if len(frame) != n:
        raise RuntimeError(f"evaluator returned {len(frame)} rows for {n} designs")
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Scores:
    frame: pd.DataFrame
    objectives: np.ndarray  # [B, m] minimization form, inf when infeasible
    violation: np.ndarray  # [B], 0 when feasible
    feasible: np.ndarray  # [B] bool


def score(frame: pd.DataFrame, objectives: Sequence[Objective], power_w: float,
          power_check: str = "pimsyn") -> Scores:
    frame = apply_power_check(frame, power_w, power_check)
    feas = feasibility(frame)
    F = objective_matrix(frame, objectives, feas)
    viol = violation(frame, power_w)
    # a "feasible" row whose objectives are not finite cannot be compared: treat as infeasible
    bad = feas & ~np.isfinite(F).all(axis=1)
    feas = feas & ~bad
    viol = np.where(bad, 1.0, viol)
    return Scores(frame, F, viol, feas)
