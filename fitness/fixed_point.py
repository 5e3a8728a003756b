"""Memory capacity versus clock fixed point (MODEL.md §8.9), over a batch.

Each round is vectorized over the designs still iterating; the DAG scheduler is a
pluggable function ``scheduler(prep, idx, k_tran, k_ld, k_st, k_mrg) -> Scheduled`` so
that a closed-form (analytic) scheduler can replace the cycle-level one. A design whose
capacity cycles with period 2 stops early with the state the remaining rounds would end
in (``CYCLE_SHORTCUT``): the same results without paying every round up to MAX_ROUNDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from fitness.cycle_sched import SCHED_REASONS, bit_level_table, schedule
from fitness.memory import MAX_CAPACITY_KB, MemoryTable, capacities_kb, dynamic_energy_nj, load_store_latency_ns
from fitness.oplist import N_COMPONENTS
from fitness.prepare import Prepared
from fitness.workload import CLOCK_FLOOR_NS, allocate, clock_ns, cycles, minimum_power, minimum_power_as_allocated

MAX_ROUNDS = 10
CYCLE_SHORTCUT = True  # settle period-2 capacity cycles at once (same results; False: run every round)


@dataclass
class Scheduled:
    """One DAG run per design in ``idx``: "ok" or a crash reason, steps, largest buffer need (elements)."""

    status: np.ndarray  # object[n]
    steps: np.ndarray  # int[n]
    elements: np.ndarray  # float[n]
    bubbles: np.ndarray  # int[n]


Scheduler = Callable[[Prepared, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], Scheduled]


def adc_conflicts(partner: np.ndarray) -> np.ndarray:
    """[L, L] bool: layers whose ADC nodes may not start together (a layer and its partner)."""
    n_layer = partner.shape[0]
    out = np.zeros((n_layer, n_layer), dtype=bool)
    for l in np.flatnonzero(partner >= 0):
        out[l, partner[l]] = out[partner[l], l] = True
    return out


def run_cycle_dag(prep: Prepared, b: int, k_tran, k_ld, k_st, k_mrg):
    """The numba scheduler on design b; returns its raw tuple (status, steps, elements, bubbles, te, base, op_off)."""
    st = prep.structures[b]
    lay = prep.layouts[b]
    return schedule(prep.op_code[b], prep.n_ops[b], prep.blocks[b], int(prep.bits[b]),
                    k_tran, k_ld, k_st, k_mrg, prep.prov[0], prep.prov[1],
                    prep.network.arrays.out_channels, prep.dup[b],
                    st.blk_off, st.ps_off, st.window_start, st.input_need, st.child_ptr, st.child_blk,
                    adc_conflicts(prep.macros.partner[b]), lay.noc_conflict, bit_level_table(),
                    "final-op" in prep.fixes, "live-window" in prep.fixes)


def cycle_scheduler(prep: Prepared, idx, k_tran, k_ld, k_st, k_mrg) -> Scheduled:
    n = len(idx)
    out = Scheduled(np.full(n, "ok", dtype=object), np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n, dtype=np.int64))
    for i, b in enumerate(idx):
        status, steps, elements, bubbles, *_ = run_cycle_dag(prep, int(b), k_tran[i], k_ld[i], k_st[i], k_mrg[i])
        if status != 0:
            out.status[i] = SCHED_REASONS[int(status)]
        out.steps[i], out.elements[i], out.bubbles[i] = steps, elements, bubbles
    return out


@dataclass(kw_only=True)
class FixedPoint:
    status: np.ndarray  # object[B]: "ok", an infeasibility reason or a crash reason
    crashed: np.ndarray  # bool[B]: PIMSYN would have raised (vs. returned 0)
    steps: np.ndarray  # int[B] of the last DAG
    bubbles: np.ndarray  # int[B]
    clk_ns: np.ndarray  # float[B]
    units: np.ndarray  # [B, L, N_COMPONENTS] last allocation
    memory_row: np.ndarray  # int[B] memory table row of the last K_prev (energy parameters, Q26)
    capacity_kb: np.ndarray  # int[B] last capacity from the scheduler
    memory_dynamic_nj: np.ndarray  # float[B]
    rounds: np.ndarray  # int[B]
    converged: np.ndarray = None  # bool[B]: the last round gave back its input capacity
    # bool[B]: the ``min-capacity`` fix raised the last capacity to the table's smallest (Q21)
    capacity_floored: np.ndarray = None


def solve(prep: Prepared, scheduler: Scheduler = cycle_scheduler) -> FixedPoint:
    hw = prep.hardware
    net = prep.network
    n = len(prep.batch)
    n_layer = len(net)
    table = MemoryTable.from_hardware(hw)
    status = prep.status.copy()
    crashed = (status != "ok") & (status != "mini_power_ge_component_power")  # the analytic preparation's power check
    fp = FixedPoint(status=status, crashed=crashed, steps=np.zeros(n, dtype=np.int64),
                    bubbles=np.zeros(n, dtype=np.int64), clk_ns=np.full(n, np.nan),
                    units=np.zeros((n, n_layer, N_COMPONENTS)), memory_row=np.full(n, -1, dtype=np.int64),
                    capacity_kb=np.zeros(n, dtype=np.int64), memory_dynamic_nj=np.full(n, np.nan),
                    rounds=np.zeros(n, dtype=np.int64), converged=np.zeros(n, dtype=bool),
                    capacity_floored=np.zeros(n, dtype=bool))
    larger_capacity = "fixed-point" in prep.fixes
    smallest_kb = table.sizes_kb[0] if "min-capacity" in prep.fixes else None

    def floor(idx, k, ok):
        # min-capacity (Q21): a buffer need below the smallest scratchpad gets that scratchpad
        if smallest_kb is None:
            return k
        low = ok & (k < smallest_kb)
        fp.capacity_floored[idx] = low
        return np.where(low, smallest_kb, k)
    fc_in_clock = "fc" in prep.fixes

    def refuse(idx, mask, reason, crash):
        sel = idx[np.asarray(mask, dtype=bool)]
        fp.status[sel] = reason
        fp.crashed[sel] = crash

    # First DAG: clk = 100 ns, LD = ST = 1 cycle.
    idx = np.flatnonzero(fp.status == "ok")
    ones = np.ones((len(idx), n_layer), dtype=np.int64)
    first_clk = np.full(len(idx), CLOCK_FLOOR_NS)
    res = scheduler(prep, idx, cycles(prep.tran_ns[idx], first_clk), ones, ones, cycles(prep.mrg_ns[idx], first_clk))
    for reason in set(res.status) - {"ok"}:
        refuse(idx, res.status == reason, reason, True)
    k_prev, cap_ok = capacities_kb(res.elements, hw.data_res)
    k_prev = floor(idx, k_prev, cap_ok)
    refuse(idx, (res.status == "ok") & ~cap_ok, "zero_buffer_need", True)
    refuse(idx, (res.status == "ok") & cap_ok & (k_prev > MAX_CAPACITY_KB), "initial_memory_capacity_gt_4096", False)
    fp.capacity_kb[idx] = k_prev
    fp.steps[idx] = res.steps
    fp.bubbles[idx] = res.bubbles

    active = fp.status == "ok"
    max_power = prep.max_power_w
    # Each round is a function of the design and its input capacity only. A design whose new
    # capacity equals the previous round's input cycles with period 2 up to MAX_ROUNDS, so its
    # final state is known at once (this round's or the previous round's, by parity): it
    # leaves the loop (small batches otherwise pay every remaining round for a few designs).
    snap_round = np.full(n, -1, dtype=np.int64)
    snap_kin = np.zeros(n, dtype=np.int64)
    snap = {f: np.zeros_like(getattr(fp, f)) for f in _CYCLE_FIELDS}
    for rnd in range(1, MAX_ROUNDS + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        k_prev = fp.capacity_kb[idx]
        row = table.index(k_prev)
        missing = row < 0
        refuse(idx, missing & (k_prev < table.sizes_kb[0]), "capacity_below_64kb (Q21)", True)
        refuse(idx, missing & (k_prev >= table.sizes_kb[0]), "capacity_not_in_memory_table", True)
        idx, row = idx[~missing], row[~missing]
        refuse(idx, ~prep.params.valid[idx], "adc_or_dac_resolution_without_table_entry", True)
        keep = prep.params.valid[idx]
        idx, row = idx[keep], row[keep]
        active[:] = False
        if idx.size == 0:
            break
        fp.rounds[idx] = rnd
        fp.memory_row[idx] = row
        traffic = take_rows(prep.traffic, idx)
        t_ld, t_st = load_store_latency_ns(traffic, hw, table, row)
        fp.memory_dynamic_nj[idx] = dynamic_energy_nj(traffic, prep.blocks[idx], hw, table, row)
        n_macros = prep.macros.n_macros[idx]
        component_power = max_power[idx] - table.leak_w[row] * n_macros - hw.noc_power_w
        params = take_rows(prep.params, idx)
        if "min-power" in prep.fixes:
            p_min = minimum_power_as_allocated(net, prep.work[idx], prep.work_zeroed[idx], prep.macros.own[idx],
                                               prep.macros.combined[idx], params)
        else:
            p_min = minimum_power(net, prep.work[idx], prep.macros.combined[idx], params)
        short = p_min >= component_power
        refuse(idx, short, "mini_power_ge_component_power", False)
        idx, row, t_ld, t_st, component_power, params = (
            idx[~short], row[~short], t_ld[~short], t_st[~short], component_power[~short], take_rows(params, ~short))
        if idx.size == 0:
            break
        alloc = allocate(net, prep.work_zeroed[idx], prep.macros.combined[idx], params, component_power,
                         prep.batch.unified[idx], fc_in_clock)
        clk = clock_ns(alloc.clk_ir_ns)
        fp.units[idx] = alloc.units
        fp.clk_ns[idx] = clk
        res = scheduler(prep, idx, cycles(prep.tran_ns[idx], clk), cycles(t_ld, clk), cycles(t_st, clk),
                        cycles(prep.mrg_ns[idx], clk))
        for reason in set(res.status) - {"ok"}:
            refuse(idx, res.status == reason, reason, True)
        fine = res.status == "ok"
        k_new, cap_ok = capacities_kb(res.elements, hw.data_res)
        refuse(idx, fine & ~cap_ok, "zero_buffer_need", True)
        fine &= cap_ok
        k_new = floor(idx, k_new, fine)
        idx, k_new, k_old = idx[fine], k_new[fine], fp.capacity_kb[idx][fine]
        fp.steps[idx] = res.steps[fine]
        fp.bubbles[idx] = res.bubbles[fine]
        fp.capacity_kb[idx] = k_new
        stop = (k_new == k_old) | (k_new > MAX_CAPACITY_KB)
        fp.converged[idx[k_new == k_old]] = True
        cyc = ~stop & (snap_round[idx] == rnd - 1) & (k_new == snap_kin[idx]) & CYCLE_SHORTCUT
        if cyc.any():
            done = idx[cyc]
            if larger_capacity:
                refuse(done, ~settle_larger_capacity(fp, snap, done, k_old[cyc], snap_kin[done]),
                       NOT_CONVERGED, False)
            elif (MAX_ROUNDS - rnd) % 2 == 1:  # the last round repeats the previous one
                for f in _CYCLE_FIELDS:
                    getattr(fp, f)[done] = snap[f][done]
            fp.rounds[done] = MAX_ROUNDS
        go = idx[~stop & ~cyc]
        if larger_capacity and rnd == MAX_ROUNDS and MAX_ROUNDS > 1:
            refuse(go, ~settle_larger_capacity(fp, snap, go, k_old[~stop & ~cyc], snap_kin[go]), NOT_CONVERGED, False)
        for f in _CYCLE_FIELDS:
            snap[f][go] = getattr(fp, f)[go]
        snap_kin[go] = k_old[~stop & ~cyc]
        snap_round[go] = rnd
        active[go] = True
    refuse(np.arange(n), (fp.status == "ok") & (fp.capacity_kb > MAX_CAPACITY_KB), "memory_capacity_gt_4096", False)
    return fp


_CYCLE_FIELDS = ("steps", "bubbles", "clk_ns", "units", "memory_row", "capacity_kb", "memory_dynamic_nj",
                 "capacity_floored")
NOT_CONVERGED = "memory_capacity_not_converged"


def settle_larger_capacity(fp: FixedPoint, snap: dict, sel, k_in_last, k_in_before) -> np.ndarray:
    """The ``fixed-point`` fix (Q26) for designs ``sel`` whose loop did not converge: of the
    last two rounds (``fp``: the last, input capacity ``k_in_last``; ``snap``: the one before,
    ``k_in_before``) keep the one built with the larger scratchpad, all of its quantities, and
    that scratchpad as the capacity. Returns [len(sel)] whether that round's own buffer need
    fits it (always so in a period-2 oscillation, whose larger capacity's round gives back
    the smaller one)."""
    before = np.asarray(k_in_before) > np.asarray(k_in_last)
    for f in _CYCLE_FIELDS:
        getattr(fp, f)[sel[before]] = snap[f][sel[before]]
    k_in = np.maximum(k_in_last, k_in_before)
    fits = fp.capacity_kb[sel] <= k_in
    fp.capacity_kb[sel] = k_in
    return fits


def take_rows(obj, idx):
    """Row selection of every array field of a dataclass of [B, ...] arrays."""
    kwargs = {}
    for name, value in vars(obj).items():
        kwargs[name] = value[idx] if isinstance(value, np.ndarray) else value
    return type(obj)(**kwargs)
