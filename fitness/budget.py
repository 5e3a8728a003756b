"""The power budget as a check on an evaluated design.

PIMSYN budgets one unit of each component per macro (its minimum-power test) and then
ceilings the allocation without re-checking it, and never re-counts the crossbars the
duplication really uses (MODEL.md Q12, Q17, Q18): a design it accepts can draw more peak
power than the budget. ``strict`` (the default) refuses such a design with reason
``peak_power_gt_budget``; ``pimsyn`` keeps PIMSYN's verdict. Either way an evaluated row
carries ``peak_power_w`` and ``power_margin_w`` (budget minus peak).
"""

from __future__ import annotations

import numpy as np

from fitness.errors import InputError

POWER_CHECKS = ("strict", "pimsyn")
DEFAULT_POWER_CHECK = "strict"
OVER_BUDGET = "peak_power_gt_budget"
# a peak within float round-off of the budget is on it, not over it
RELATIVE_TOLERANCE = 1e-12


def check_mode(mode: str) -> str:
    if mode not in POWER_CHECKS:
        raise InputError(f"The 'power_check' parameter must be one of {', '.join(POWER_CHECKS)}. Got {mode!r} instead.")
    return mode


def over_budget(peak_power_w, total_power_w, mode: str) -> np.ndarray:
    """bool[B]: rows whose peak power exceeds their budget under ``mode`` (never under
    ``pimsyn``; NaN peaks, i.e. unscored rows, are never over)."""
    peak = np.asarray(peak_power_w, dtype=np.float64)
    if check_mode(mode) == "pimsyn":
        return np.zeros(peak.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return peak > np.asarray(total_power_w, dtype=np.float64) * (1.0 + RELATIVE_TOLERANCE)
