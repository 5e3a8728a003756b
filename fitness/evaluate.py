"""Public evaluation API: PIMSYN's ``evaluate_fitness`` for a batch of designs.

``evaluate`` never raises on a bad design: rows PIMSYN would score 0 carry its reason
(``mini_power_ge_component_power``, ``initial_memory_capacity_gt_4096``,
``memory_capacity_gt_4096``); rows on which PIMSYN would crash carry a plain-text reason
and ``crashed`` = True. Only malformed input raises :class:`InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from fitness.area import area_mm2
from fitness.budget import DEFAULT_POWER_CHECK, OVER_BUDGET, check_mode, over_budget
from fitness.crossbars import crossbars_used
from fitness.design import DesignBatch
from fitness.energy import component_energy, crossbar_energy, operations, peak_power_w
from fitness.errors import InputError
from fitness.fixed_point import FixedPoint, Scheduler, cycle_scheduler, solve
from fitness.fixes import parse_fixes
from fitness.hardware import Hardware
from fitness.memory import MemoryTable
from fitness.network import Network
from fitness.oplist import COMPONENT_NAMES
from fitness.prepare import Prepared, prepare

FIDELITIES = ("cycle", "analytic")


@dataclass
class Evaluation:
    """Everything an evaluation computed, for exports that need more than the table."""

    prep: Prepared
    fixed_point: FixedPoint
    frame: pd.DataFrame


def as_batch(network: Network, designs: DesignBatch | Iterable[Mapping[str, Any]]) -> DesignBatch:
    if isinstance(designs, DesignBatch):
        if designs.dup.shape[1] != len(network.conv_indices) or designs.macro_num.shape[1] != len(network.mvm_indices):
            raise InputError(f"design batch does not fit network {network.name!r}: expected dup over "
                             f"{len(network.conv_indices)} conv layers and macro_num over {len(network.mvm_indices)} conv/fc layers")
        return designs
    if isinstance(designs, Mapping):
        designs = [designs]
    return DesignBatch.from_records(network, designs)


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
        from fitness.analytic.evaluate import evaluate_analytic_full

        prep, fp, frame = evaluate_analytic_full(network, hardware, as_batch(network, designs),
                                                 power_check=power_check, fixes=fixes)
        return Evaluation(prep, fp, frame)
    batch = as_batch(network, designs)
    prep = prepare(network, hardware, batch, fixes=fixes)
    fp = solve(prep, scheduler or cycle_scheduler)
    return Evaluation(prep, fp, _frame(prep, fp, power_check))


def _crossbar_table(hw: Hardware, xbar_size, rram_res, fields) -> tuple[np.ndarray, list[np.ndarray]]:
    """(has entry, one array per field, NaN without entry) of each design's crossbar: looked
    up once per distinct (size, resolution) pair of the batch."""
    x = np.asarray(xbar_size, dtype=np.int64)
    r = np.asarray(rram_res, dtype=np.int64)
    # one int key per pair: np.unique on rows (axis=0) sorts a structured view, ten times slower
    r_lo = int(r.min(initial=0))
    key = x * (int(r.max(initial=0)) - r_lo + 1) + (r - r_lo)
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    entries = [hw.rram.get((int(x[i]), int(r[i]))) for i in first]
    has = np.array([e is not None for e in entries], dtype=bool)[inverse.ravel()]
    cols = [np.array([getattr(e, f) if e is not None else np.nan for e in entries], dtype=np.float64)[inverse.ravel()]
            for f in fields]
    return has, cols


def _frame(prep: Prepared, fp: FixedPoint, power_check: str = DEFAULT_POWER_CHECK) -> pd.DataFrame:
    net, hw, batch = prep.network, prep.hardware, prep.batch
    n = len(batch)
    status = fp.status.copy()
    crashed = fp.crashed.copy()
    has_xb, (xb_static, xb_dynamic, xb_latency, xb_peak, xb_area) = _crossbar_table(
        hw, batch.xbar_size, batch.rram_res,
        ("static_power_w", "dynamic_power_w", "latency_ns", "peak_power_w", "area_mm2"))
    missing_xb = (status == "ok") & ~has_xb
    status[missing_xb] = "crossbar_without_table_entry"
    crashed[missing_xb] = True
    ok = status == "ok"

    table = MemoryTable.from_hardware(hw)
    row = np.where(fp.memory_row >= 0, fp.memory_row, 0)
    leak = np.where(fp.memory_row >= 0, table.leak_w[row], np.nan)
    time_ns = fp.steps * fp.clk_ns
    comp = component_energy(net, prep.work, fp.units, prep.blocks, prep.bits, prep.params, time_ns)
    xbars = crossbars_used(prep.dup, prep.sets)
    e_xb = crossbar_energy(net, xbars, prep.blocks, prep.bits, xb_static, xb_dynamic, xb_latency, time_ns)
    n_macros = prep.macros.n_macros
    mem_static_power = n_macros * leak
    e_mem_static = mem_static_power * time_ns
    e_mem = fp.memory_dynamic_nj + e_mem_static
    e_noc = hw.noc_power_w * time_ns
    energy = comp.total_nj + e_xb + e_mem + e_noc
    ops = operations(net)
    with np.errstate(divide="ignore", invalid="ignore"):
        efficiency = ops / (energy * 1e-9) / 1e9
    peak = peak_power_w(fp.units, prep.params, xbars, xb_peak, n_macros, leak, hw.noc_power_w)
    # an over-budget design was scored: it keeps its metrics, so that its margin shows
    scored = ok
    over = scored & over_budget(peak, batch.total_power_w, power_check)
    status[over] = OVER_BUDGET
    ok = scored & ~over
    mem_area = np.where(fp.memory_row >= 0, table.area_mm2[row], np.nan)
    area = area_mm2(xbars, xb_area, fp.units, prep.params.area_mm2, n_macros, mem_area, hw.noc_router_area_mm2)

    def masked(values, fill=np.nan):
        return np.where(scored, values, fill)

    def masked_int(values):
        return pd.arrays.IntegerArray(np.where(scored, values, 0).astype(np.int64), ~scored)

    data: dict[str, Any] = {
        # pd.array converts to pandas' string dtype in one pass (astype(str) first makes a
        # fixed-width numpy copy that pandas converts again)
        "id": pd.array(batch.ids, dtype="str"),
        "feasible": ok,
        "reason": pd.array(status, dtype="str"),
        "crashed": crashed,
        "efficiency_gops_w": masked(efficiency, 0.0),
        "throughput_ips": masked(1e9 / time_ns),
        "throughput_gops": masked(ops / time_ns),
        "latency_ns": masked(time_ns),
        "clk_ns": masked(fp.clk_ns),
        "steps": masked_int(fp.steps),
        "memory_capacity_kb": masked_int(fp.capacity_kb),
        "energy_nj": masked(energy),
    }
    for c, name in enumerate(COMPONENT_NAMES):
        data[f"energy_{name.lower()}_nj"] = masked(comp.by_component_nj[:, c])
    data.update({
        "energy_components_nj": masked(comp.total_nj),
        "energy_crossbars_nj": masked(e_xb),
        "energy_memory_static_nj": masked(e_mem_static),
        "energy_memory_dynamic_nj": masked(fp.memory_dynamic_nj),
        "energy_memory_nj": masked(e_mem),
        "energy_noc_nj": masked(e_noc),
        "peak_power_w": masked(peak),
        "power_margin_w": masked(batch.total_power_w - peak),
        "area_mm2": masked(area),
        "ops": np.full(n, ops, dtype=np.int64),
        "macro_rows": prep.macros.grid_rows,
        "macro_cols": prep.macros.grid_cols,
        "n_macros": n_macros,
        "adc_res": prep.adc_res,
        "bubbles": masked_int(fp.bubbles),
        "fixed_point_rounds": masked_int(fp.rounds),
        "fixed_point_converged": pd.arrays.BooleanArray(np.where(scored, fp.converged, False), ~scored),
    })
    return pd.DataFrame(data)


def architecture(network: Network, hardware: Hardware, design, index: int = 0, **model) -> dict:
    """PIMSYN's architecture output of one design (see :func:`fitness.export.architecture`)."""
    from fitness.export import architecture as _architecture

    return _architecture(network, hardware, design, index, **model)


def schedule(network: Network, hardware: Hardware, design, index: int = 0, **model) -> pd.DataFrame:
    """The dataflow schedule of one feasible design (see :func:`fitness.export.schedule`)."""
    from fitness.export import schedule as _schedule

    return _schedule(network, hardware, design, index, **model)
