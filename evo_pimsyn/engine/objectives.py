"""Objective registry: name -> evaluator column, sense and unit.

Objectives are kept internally in *minimization form*: a maximized column enters negated.
Infeasible rows get ``+inf`` in every objective; they are ranked by their constraint
violation instead (see :mod:`evo_pimsyn.engine.nsga`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from fitness.errors import InputError


@dataclass(frozen=True)
class Objective:
    name: str
    column: str  # evaluator DataFrame column
    maximize: bool
    unit: str
    label: str

    @property
    def sign(self) -> float:
        """Multiply the column by this to get the minimization form."""
        return -1.0 if self.maximize else 1.0


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("efficiency", "efficiency_gops_w", True, "GOPS/W", "power efficiency"),
        Objective("throughput", "throughput_ips", True, "inferences/s", "throughput"),
        Objective("area", "area_mm2", False, "mm^2", "chip area"),
        Objective("latency", "latency_ns", False, "ns", "latency of one inference"),
        Objective("energy", "energy_nj", False, "nJ", "energy of one inference"),
        Objective("power", "peak_power_w", False, "W", "peak power"),
    )
}
DEFAULT_OBJECTIVES = ("efficiency", "throughput", "area")


def parse_objectives(spec: str | Sequence[str] | None) -> tuple[Objective, ...]:
    """``"efficiency,throughput,area"`` (or a sequence of names) -> objectives, in order."""
    if spec is None:
        names: list[str] = list(DEFAULT_OBJECTIVES)
    elif isinstance(spec, str):
        names = [s.strip() for s in spec.split(",")]
    else:
        names = [str(s).strip() for s in spec]
    allowed = ", ".join(OBJECTIVES)
    if not names or any(not n for n in names):
        raise InputError(f"The 'objectives' parameter must be a comma list of names from {{{allowed}}}. Got {spec!r} instead.")
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise InputError(
            f"The 'objectives' parameter must be a comma list of names from {{{allowed}}}. "
            f"Got unknown objective {unknown[0]!r} instead."
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"The 'objectives' parameter lists {dupes[0]!r} twice. Got {spec!r} instead.")
    return tuple(OBJECTIVES[n] for n in names)


def objective_names(objectives: Iterable[Objective]) -> list[str]:
    return [o.name for o in objectives]


def objective_matrix(frame: pd.DataFrame, objectives: Sequence[Objective], feasible: np.ndarray) -> np.ndarray:
    """``[B, m]`` float64 in minimization form; ``+inf`` for infeasible or non-finite rows."""
    missing = [o.column for o in objectives if o.column not in frame.columns]
    if missing:
        raise KeyError(f"evaluator result lacks objective column(s) {missing}")
    raw = np.column_stack([frame[o.column].to_numpy(dtype=np.float64) for o in objectives])
    signs = np.array([o.sign for o in objectives])
    out = raw * signs
    bad = ~np.isfinite(out).all(axis=1) | ~feasible
    out[bad] = np.inf
    return out


def violation(frame: pd.DataFrame, power_w: float) -> np.ndarray:
    """Constraint violation: 0 for feasible rows, in (1, 2) for rows that the evaluator
    scored but whose peak power exceeds the budget (``1 + excess / (budget + excess)``, so
    the closer to the budget the better), and 2 for rows the evaluator refused outright
    (no metrics: PIMSYN's minimum-power or memory rules, crashes)."""
    feasible = feasibility(frame)
    out = np.full(len(frame), 2.0)
    if "peak_power_w" in frame.columns:
        peak = frame["peak_power_w"].to_numpy(dtype=np.float64)
        scored = np.isfinite(peak)
        excess = np.maximum(0.0, np.where(scored, peak, 0.0) - power_w)
        out = np.where(scored, 1.0 + excess / (power_w + excess), out)
    return np.where(feasible, 0.0, out)


def feasibility(frame: pd.DataFrame) -> np.ndarray:
    return frame["feasible"].to_numpy(dtype=bool)


def to_raw(F: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """Minimization form -> column units (``inf`` becomes ``nan``)."""
    signs = np.array([o.sign for o in objectives])
    out = np.asarray(F, dtype=np.float64) * signs
    out[~np.isfinite(out)] = np.nan
    return out
