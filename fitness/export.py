"""Exports of one evaluated design: PIMSYN's architecture file and the dataflow schedule."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from fitness.budget import DEFAULT_POWER_CHECK
from fitness.crossbars import crossbars_used
from fitness.cycle_sched import bit_level_table, op_tables
from fitness.design import DesignBatch, as_batch
from fitness.errors import InputError
from fitness.evaluate import Evaluation, evaluate_full
from fitness.fixed_point import run_cycle_dag, take_rows
from fitness.hardware import Hardware
from fitness.memory import MemoryTable, load_store_latency_ns
from fitness.network import CONV, FC, Network
from fitness.oplist import BIT_LEVEL, COMPONENT_NAMES, DAC, OP_NAMES, component_order
from fitness.workload import cycles


def _one(network: Network, hardware: Hardware, design, index: int, power_check: str, fixes) -> tuple[Evaluation, int]:
    if isinstance(design, Mapping):
        design = [design]
    batch = as_batch(network, design)
    if not 0 <= index < len(batch):
        raise InputError(f"design index {index} out of range (batch of {len(batch)})")
    return evaluate_full(network, hardware, batch.take([index]), power_check=power_check, fixes=fixes), 0


def architecture(network: Network, hardware: Hardware, design: Mapping[str, Any] | DesignBatch, index: int = 0, *,
                 power_check: str = DEFAULT_POWER_CHECK, fixes=None) -> dict:
    """PIMSYN's output file for one design (its ``main.py`` format).

    Per MVM layer: ``macro_num`` is the layer's own macro count, ``macro_size`` the
    crossbars per own macro, and every component count is per own macro (ceil); POOL and
    ELTWISE layers list their total units. In the unified setting every macro_size is the
    largest one rounded up to the unified size grid, as PIMSYN prints it. An infeasible
    design gets ``power_efficiency`` 0 plus ``feasible``/``reason`` keys PIMSYN does not have.
    """
    ev, b = _one(network, hardware, design, index, power_check, fixes)
    prep, fp, row = ev.prep, ev.fixed_point, ev.frame.iloc[0]
    batch = prep.batch
    out: dict[str, Any] = {
        "rram_ratio": float(batch.rram_ratio[b]),
        "rram_res": int(batch.rram_res[b]),
        "xbar_size": int(batch.xbar_size[b]),
        "power_efficiency": float(row.efficiency_gops_w),
        "dac_res": int(batch.dac_res[b]),
        "adc_res": int(prep.adc_res[b]),
        "macro_h": int(prep.macros.grid_rows[b]),
        "macro_w": int(prep.macros.grid_cols[b]),
        "spm_capacity": int(fp.capacity_kb[b]),
    }
    if not row.feasible:
        out["feasible"] = False
        out["reason"] = row.reason
    network = prep.network  # as the model saw it (fixes may charge fused activations)
    kind = network.arrays.kind
    xbars = crossbars_used(prep.dup, prep.sets)[b]
    own = prep.macros.own[b]
    units = fp.units[b]
    order = component_order(network)
    sizes = []
    for l, layer in enumerate(network.layers):
        info: dict[str, Any] = {"duplication": int(prep.dup[b, l])}
        mvm = kind[l] in (CONV, FC)
        if mvm:
            p = prep.macros.partner[b, l]
            info["macro_num"] = int(own[l])
            info["macro_sharing"] = network.layers[p].name if p >= 0 else "None"
            info["macro_size"] = -(-int(xbars[l]) // int(own[l]))
            sizes.append(info["macro_size"])
        for c in order[l]:
            if c == DAC:
                continue
            count = int(units[l, c])
            info[COMPONENT_NAMES[c]] = -(-count // int(own[l])) if mvm else count
        out[layer.name] = info
    if batch.unified[b] and sizes:
        ea = hardware.ea
        lo, step = int(ea.get("default_min_macro_size", 32)), int(ea.get("default_macro_size_stride", 32))
        mu = prep.cols_x[b] * prep.n_slices[b]
        s_min = max([lo] + [-(-int(m) // step) * step for m, k in zip(mu, kind) if k in (CONV, FC)])
        unified_size = math.ceil((max(sizes) - s_min) / step) * step + s_min
        for l, layer in enumerate(network.layers):
            if kind[l] in (CONV, FC):
                out[layer.name]["macro_size"] = unified_size
    return out


def schedule(network: Network, hardware: Hardware, design: Mapping[str, Any] | DesignBatch, index: int = 0, *,
             power_check: str = DEFAULT_POWER_CHECK, fixes=None) -> pd.DataFrame:
    """The final DAG of one feasible design: one row per (layer, block, op).

    ``bit`` is "0" for ops that run once per block and "0-(B-1)" for bit-level ops;
    ``start_step`` is the first bit's start, ``end_step`` the last step the op's last bit
    occupies (start + cycles - 1). ``macros`` lists the layer's macro cells "row,col;...".
    """
    ev, b = _one(network, hardware, design, index, power_check, fixes)
    prep, fp, row = ev.prep, ev.fixed_point, ev.frame.iloc[0]
    if not row.feasible:
        raise InputError(f"design {prep.batch.ids[b]!r} is infeasible ({row.reason}); it has no schedule")
    table = MemoryTable.from_hardware(hardware)
    mem_row = fp.memory_row[[b]]
    clk = fp.clk_ns[[b]]
    t_ld, t_st = load_store_latency_ns(take_rows(prep.traffic, [b]), hardware, table, mem_row)
    k_tran, k_ld = cycles(prep.tran_ns[[b]], clk)[0], cycles(t_ld, clk)[0]
    k_st, k_mrg = cycles(t_st, clk)[0], cycles(prep.mrg_ns[[b]], clk)[0]
    status, steps, _, _, te, base, op_off, width = run_cycle_dag(prep, b, k_tran, k_ld, k_st, k_mrg)
    bits = int(prep.bits[b])
    kappa, rep, _, _ = op_tables(prep.op_code[b], prep.n_ops[b], k_tran, k_ld, k_st, k_mrg, bits, bit_level_table())
    lay = prep.layouts[b]
    frames = []
    for l, layer in enumerate(prep.network.layers):
        cells = lay.macro_cells(l) if lay.span_start[l] >= 0 else lay.merge[l:l + 1]
        macros = ";".join(f"{r},{c}" for r, c in cells)
        n_blocks = int(prep.blocks[b, l])
        stride = int(op_off[l, prep.n_ops[b, l]])
        for k in range(int(prep.n_ops[b, l])):
            op = int(prep.op_code[b, l, k])
            first = base[l] + np.arange(n_blocks) * stride + op_off[l, k]
            start = te[first]
            if width[l, k] > 1:
                last = te[first + width[l, k] - 1]
            else:
                last = start + (rep[l, k] - 1) * kappa[l, k]
            frames.append(pd.DataFrame({
                "layer": layer.name,
                "block": np.arange(n_blocks),
                "op": OP_NAMES[op],
                "bit": f"0-{bits - 1}" if BIT_LEVEL[op] else "0",
                "macros": macros,
                "start_step": start,
                "end_step": last + kappa[l, k] - 1,
            }))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("start_step", kind="stable", ignore_index=True)

