"""Public evaluation API: PIMSYN's ``evaluate_fitness`` for a batch of designs.

``evaluate`` never raises on a bad design: rows PIMSYN would score 0 carry its reason
(``mini_power_ge_component_power``, ``initial_memory_capacity_gt_4096``,
``memory_capacity_gt_4096``); rows on which PIMSYN would crash carry a plain-text reason
and ``crashed`` = True. Only malformed input raises :class:`InputError`.

The exports of one design (PIMSYN's architecture file, the dataflow schedule) are in
:mod:`fitness.export`, on top of this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from fitness.analytic.evaluate import evaluate_analytic_full
from fitness.budget import DEFAULT_POWER_CHECK, check_mode
from fitness.design import as_batch
from fitness.errors import InputError
from fitness.fixed_point import FixedPoint, Scheduler, cycle_scheduler, solve
from fitness.fixes import parse_fixes
from fitness.hardware import Hardware
from fitness.metrics import metrics_frame
from fitness.network import Network
from fitness.prepare import Prepared, prepare

FIDELITIES = ("cycle", "analytic")


@dataclass
class Evaluation:
    """Everything an evaluation computed, for exports that need more than the table."""

    prep: Prepared
    fixed_point: FixedPoint
    frame: pd.DataFrame


def evaluate(network: Network, hardware: Hardware, designs, fidelity: str = "cycle", *,
             power_check: str = DEFAULT_POWER_CHECK, fixes=None) -> pd.DataFrame:
    """One row per design, in input order (see the module docstring for the refusal rules).

    ``power_check``: ``strict`` refuses designs whose peak power exceeds their budget,
    ``pimsyn`` keeps PIMSYN's verdict (:mod:`fitness.budget`). ``fixes``: the model fixes
    to apply (:mod:`fitness.fixes`; none by default: PIMSYN's model)."""
    return evaluate_full(network, hardware, designs, fidelity, power_check=power_check, fixes=fixes).frame


def evaluate_full(network: Network, hardware: Hardware, designs, fidelity: str = "cycle",
                  scheduler: Scheduler | None = None, *, power_check: str = DEFAULT_POWER_CHECK,
                  fixes=None) -> Evaluation:
    if fidelity not in FIDELITIES:
        raise InputError(f"fidelity must be one of {', '.join(FIDELITIES)}, got {fidelity!r}")
    check_mode(power_check)
    fixes = parse_fixes(fixes)
    if fidelity == "analytic" and scheduler is None:
        prep, fp, frame = evaluate_analytic_full(network, hardware, as_batch(network, designs),
                                                 power_check=power_check, fixes=fixes)
        return Evaluation(prep, fp, frame)
    batch = as_batch(network, designs)
    prep = prepare(network, hardware, batch, fixes=fixes)
    fp = solve(prep, scheduler or cycle_scheduler)
    return Evaluation(prep, fp, metrics_frame(prep, fp, power_check))
