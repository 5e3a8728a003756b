"""The metrics stage both evaluators share: energy, efficiency, throughput, peak power and
area of a solved batch, and the power check, as the result table (MODEL.md §9).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fitness.area import area_mm2
from fitness.budget import DEFAULT_POWER_CHECK, OVER_BUDGET, over_budget
from fitness.crossbars import crossbars_used
from fitness.energy import component_energy, crossbar_energy, operations, peak_power_w
from fitness.fixed_point import FixedPoint
from fitness.hardware import Hardware
from fitness.memory import MemoryTable
from fitness.oplist import COMPONENT_NAMES
from fitness.prepare import Prepared


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


def metrics_frame(prep: Prepared, fp: FixedPoint, power_check: str = DEFAULT_POWER_CHECK) -> pd.DataFrame:
    """The result table of an evaluation: one row per design of ``prep`` with its verdict,
    energy by component, efficiency, throughput, peak power and its margin, area; both
    evaluators end here (``fp`` from the cycle or the analytic scheduler)."""
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

    def masked_bool(values):
        return pd.arrays.BooleanArray(np.where(scored, values, False), ~scored)

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
        "fixed_point_converged": masked_bool(fp.converged),
        "capacity_floored": masked_bool(fp.capacity_floored),
    })
    return pd.DataFrame(data)
