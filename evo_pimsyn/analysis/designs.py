"""One front design of a run: pick it by rank, rebuild its reference-schema record from
the pareto columns, and re-evaluate it for the exports and the per-design plots.

The run's own network and hardware config (stored in run.json) are used, so a run can be
analysed after its model file has moved or the default config has changed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from evo_pimsyn.analysis.load import RunData, objective_by_name, ranked_front
from fitness import evaluate as fitness_evaluate
from fitness import export as fitness_export
from fitness.errors import InputError
from fitness.fixes import fixes_label

_SCALARS = ("rram_ratio", "rram_res", "xbar_size", "dac_res", "macro_setting")


def pick(run: RunData, rank: int, by: str | None = None) -> pd.Series:
    """The front design of 1-based ``rank`` when sorted best-first by ``by``."""
    front = ranked_front(run, by)
    if not len(front):
        raise InputError(f"{run.path}: no feasible design on the front yet")
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= len(front):
        raise InputError(f"rank {rank} is out of range: the front of {run.path} has {len(front)} design(s), "
                         f"ranks 1..{len(front)} by {objective_by_name(run, by).name}")
    return front.iloc[rank - 1]


def _int(value: Any) -> int:
    return int(round(float(value)))


def record(run: RunData, row: pd.Series, design_id: str | None = None) -> dict:
    """The reference design schema (what ``evaluate --designs`` reads) of a front row, with
    the run's ``power_check`` and ``fixes`` (``evaluate`` scores the line under them)."""
    net = run.network
    n_conv, n_mvm = len(net.conv_indices), len(net.mvm_indices)
    needed = [*_SCALARS, *(f"dup_{j}" for j in range(n_conv)), *(f"macro_num_{i}" for i in range(n_mvm))]
    missing = [c for c in needed if c not in row.index]
    if missing:
        raise InputError(f"{run.path}: the front lacks design column {missing[0]!r}; cannot rebuild the design")

    def share(i: int):
        v = row.get(f"macro_share_{i}")
        return None if v is None or pd.isna(v) or float(v) < 0 else _int(v)

    power = float(row["total_power_w"]) if "total_power_w" in row.index else float(run.run["power_w"])
    rank = int(row["rank"]) if "rank" in row.index else None
    return {
        "id": design_id or (f"{run.name}-rank{rank}" if rank is not None else run.name),
        "network": run.network.name,
        "total_power_W": int(power) if power.is_integer() else power,
        "rram_ratio": float(row["rram_ratio"]),
        "rram_res": _int(row["rram_res"]),
        "xbar_size": _int(row["xbar_size"]),
        "dac_res": _int(row["dac_res"]),
        "macro_setting": str(row["macro_setting"]),
        "dup": [_int(row[f"dup_{j}"]) for j in range(n_conv)],
        "macro_num": [_int(row[f"macro_num_{i}"]) for i in range(n_mvm)],
        "macro_share": [share(i) for i in range(n_mvm)],
        "power_check": run.model["power_check"],
        "fixes": fixes_label(run.model["fixes"]),
    }


def evaluation(run: RunData, rec: dict) -> pd.Series:
    """Cycle-evaluated metrics of one design (every energy component, peak power, ...)."""
    return fitness_evaluate.evaluate(run.network, run.hardware, [rec], fidelity="cycle", **run.model).iloc[0]


def architecture(run: RunData, rec: dict) -> dict:
    """PIMSYN's output-file format of one design; a run made with model fixes says so in a
    key PIMSYN's format does not have (``model_fixes``)."""
    out = fitness_export.architecture(run.network, run.hardware, rec, **run.model)
    if run.model["fixes"]:
        out["model_fixes"] = fixes_label(run.model["fixes"])
    return out


def schedule(run: RunData, rec: dict) -> pd.DataFrame:
    return fitness_export.schedule(run.network, run.hardware, rec, **run.model)

