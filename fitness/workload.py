"""Workloads, minimum-power test, component allocation and clock (MODEL.md §5.2-§5.6).

Everything is vectorized over designs ([B] and [B, L, N_COMPONENTS] arrays). Sums over
(layer, component) run sequentially in PIMSYN's order (layer order, then the layer's
component order) so that float results, and hence the allocation ceilings, match PIMSYN
bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from fitness.arrays import i64
from fitness.depcb import cdiv
from fitness.hardware import Hardware
from fitness.network import CONV, FC, Network
from fitness.oplist import ADC, ADDITION, COMPONENT_NAMES, DAC, N_COMPONENTS, SHIFTADD, order_table

CLOCK_FLOOR_NS = 100.0  # hard-coded crossbar read time (Q5)
FC_WORKLOAD_DIVISOR = 100  # FC workloads become min(ceil(w / 100), 100) (Q15)


@dataclass(frozen=True, kw_only=True)
class ComponentParams:
    """Per-design component parameters [B, N_COMPONENTS] (ADC/DAC follow each design's resolution).

    Entries of a missing ADC/DAC resolution are NaN; ``valid`` [B] says whether both exist.
    """

    static_w: np.ndarray
    dynamic_w: np.ndarray
    peak_w: np.ndarray
    frequency_ghz: np.ndarray
    latency_ns: np.ndarray
    area_mm2: np.ndarray
    valid: np.ndarray


# fitness.hardware.Component attribute -> ComponentParams field
PARAM_OF = {"static_power_w": "static_w", "dynamic_power_w": "dynamic_w", "peak_power_w": "peak_w",
            "frequency_ghz": "frequency_ghz", "latency_ns": "latency_ns", "area_mm2": "area_mm2"}


def component_params(hardware: Hardware, adc_res, dac_res) -> ComponentParams:
    adc_res = np.asarray(adc_res, dtype=np.int64)
    dac_res = np.asarray(dac_res, dtype=np.int64)
    n = adc_res.shape[0]
    fields = tuple(PARAM_OF)
    base = np.full((len(fields), N_COMPONENTS), np.nan)
    for c, name in enumerate(COMPONENT_NAMES):
        if c not in (ADC, DAC):
            base[:, c] = [getattr(hardware.alu[name], f) for f in fields]
    # one contiguous copy of the fixed units' row, then one gather per resolution-dependent
    # column (writing [B, C] arrays column by column touches a cache line per element)
    out = np.broadcast_to(base[:, None, :], (len(fields), n, N_COMPONENTS)).copy()
    valid = np.ones(n, dtype=bool)
    for c, table, res in ((ADC, hardware.adc, adc_res), (DAC, hardware.dac, dac_res)):
        values, inverse = np.unique(res, return_inverse=True)
        lut = np.full((len(fields), len(values)), np.nan)
        present = np.zeros(len(values), dtype=bool)
        for i, value in enumerate(values):
            unit = table.get(int(value))
            if unit is not None:
                present[i] = True
                lut[:, i] = [getattr(unit, f) for f in fields]
        inverse = inverse.ravel()
        out[:, :, c] = lut[:, inverse]
        valid &= present[inverse]
    return ComponentParams(**{PARAM_OF[f]: out[k] for k, f in enumerate(fields)}, valid=valid)


def workloads(network: Network, hardware: Hardware, xbar_size, n_slices, row_blocks, col_blocks, layer_dup,
              fc_scaled: bool = True) -> np.ndarray:
    """Operations per block (per bit iteration for DAC/ADC/SHIFTADD) [B, L, N_COMPONENTS];
    FC layers' scaled to min(ceil(w / 100), 100) unless not ``fc_scaled`` (the ``fc`` fix, Q15)."""
    arr = network.arrays
    return _workloads(order_table(network), i64(arr.kind), i64(arr.rows), i64(arr.out_channels), i64(xbar_size),
                      i64(n_slices), i64(row_blocks), i64(col_blocks), i64(layer_dup), float(hardware.vfu_width),
                      bool(fc_scaled))


@numba.njit(cache=True)
def _workloads(order, kind, rows, out_channels, x, s, row_blocks, col_blocks, layer_dup, v, fc_scaled):
    # one design at a time: filling [B, L, C] column by column with numpy writes a cache line per element
    n_design, n_layer = layer_dup.shape
    w = np.zeros((n_design, n_layer, N_COMPONENTS))
    for b in range(n_design):
        for l in range(n_layer):
            dup = layer_dup[b, l]
            rows_x, cols_x = row_blocks[b, l], col_blocks[b, l]
            adc_ops = dup * cols_x * x[b] * rows_x * s[b]
            for j in range(order.shape[1]):
                c = order[l, j]
                if c < 0:
                    break
                if c == DAC:
                    val = float(dup * rows[l] * (cols_x * s[b]))
                elif c == ADC:
                    val = float(adc_ops)
                elif c == SHIFTADD:
                    val = float(adc_ops) / v
                elif c == ADDITION:
                    val = float(dup * rows_x * s[b]) / v
                else:
                    val = float(dup * out_channels[l]) / v
                if fc_scaled and kind[l] == FC:
                    val = min(np.ceil(val / FC_WORKLOAD_DIVISOR), float(FC_WORKLOAD_DIVISOR))
                w[b, l, c] = val
    return w


def minimum_power(network: Network, w, combined, params: ComponentParams) -> np.ndarray:
    """P_min [B]: all DACs, plus one unit of every other component per (combined) macro (Q16)."""
    return _minimum_power(order_table(network), w, np.asarray(combined, dtype=np.int64), params.peak_w)


@numba.njit(cache=True)
def _minimum_power(order, w, combined, peak):
    n_design, n_layer = w.shape[0], w.shape[1]
    out = np.zeros(n_design)
    for b in range(n_design):
        p = 0.0
        for l in range(n_layer):
            for j in range(order.shape[1]):
                c = order[l, j]
                if c < 0:
                    break
                if c == DAC:
                    p += w[b, l, DAC] * peak[b, DAC]
                else:
                    p += combined[b, l] * peak[b, c]
        out[b] = p
    return out


def minimum_power_as_allocated(network: Network, w, w_zeroed, own, combined, params: ComponentParams) -> np.ndarray:
    """P_min [B] as the allocation spends it (the ``min-power`` fix, Q16): all DACs, one ADC
    per macro of a shared pair's whole set charged once, to the layer that keeps the pair's
    ADCs (the other borrows them, ``w_zeroed``), and one unit of every other component per
    own macro of each layer (POOL/ELTWISE: one unit in the macro they sit in)."""
    return _minimum_power_as_allocated(order_table(network), network.arrays.kind, w, w_zeroed, i64(own),
                                       i64(combined), params.peak_w)


@numba.njit(cache=True)
def _minimum_power_as_allocated(order, kind, w, w_zeroed, own, combined, peak):
    n_design, n_layer = w.shape[0], w.shape[1]
    out = np.zeros(n_design)
    for b in range(n_design):
        p = 0.0
        for l in range(n_layer):
            mvm = kind[l] == CONV or kind[l] == FC
            for j in range(order.shape[1]):
                c = order[l, j]
                if c < 0:
                    break
                if c == DAC:
                    p += w[b, l, DAC] * peak[b, DAC]
                elif c == ADC:
                    if w_zeroed[b, l, ADC] > 0:
                        p += combined[b, l] * peak[b, ADC]
                elif mvm:
                    p += own[b, l] * peak[b, c]
                else:
                    p += combined[b, l] * peak[b, c]
        out[b] = p
    return out


def minimum_power_for(network: Network, w, w_zeroed, macros, params: ComponentParams, fixes) -> np.ndarray:
    """P_min [B] under the model fixes ``fixes``: PIMSYN's rule, or the allocation's with
    ``min-power`` (``macros``: the batch's :class:`fitness.macros.MacroCounts`)."""
    if "min-power" in fixes:
        return minimum_power_as_allocated(network, w, w_zeroed, macros.own, macros.combined, params)
    return minimum_power(network, w, macros.combined, params)


def zero_shared_adc(network: Network, w, partner) -> np.ndarray:
    """Copy of w where, for each shared pair (gene order), the smaller ADC demand is zeroed
    (ties zero the partner); that layer borrows its partner's ADCs."""
    w = w.copy()
    n_design = w.shape[0]
    rows = np.arange(n_design)
    for l in network.mvm_indices:
        p = partner[:, l]
        shared = p >= 0
        if not shared.any():
            continue
        b, pl = rows[shared], p[shared]
        own_adc, partner_adc = w[b, l, ADC], w[b, pl, ADC]
        zero_own = own_adc < partner_adc
        w[b[zero_own], l, ADC] = 0.0
        w[b[~zero_own], pl[~zero_own], ADC] = 0.0
    return w


@dataclass(frozen=True)
class Allocation:
    units: np.ndarray  # [B, L, N_COMPONENTS] allocated units (DAC: = workload)
    clk_ir_ns: np.ndarray  # [B] slowest non-FC compute IR
    target_ns: np.ndarray  # [B] Kc, the common target latency


def allocate(network: Network, w_zeroed, combined, params: ComponentParams, component_power_w, unified,
             fc_in_clock: bool = False) -> Allocation:
    """Closed-form allocation (paper Eq. 5/6 with a ceiling) and the IR clock; unified
    post-processing where ``unified`` [B] is set (§5.5). FC layers stay out of the clock and
    of the unified per-macro mix unless ``fc_in_clock`` (the ``fc`` fix, Q15)."""
    units, clk, target = _allocate(order_table(network), network.arrays.kind, np.asarray(w_zeroed, dtype=np.float64),
                                   np.asarray(combined, dtype=np.int64), params.peak_w, params.frequency_ghz,
                                   np.asarray(component_power_w, dtype=np.float64), np.asarray(unified, dtype=np.bool_),
                                   bool(fc_in_clock))
    return Allocation(units, clk, target)


@numba.njit(cache=True)
def _allocate(order, kind, w, combined, peak, freq, budget_w, unified, fc_in_clock):
    n_design, n_layer, n_comp = w.shape
    units = np.zeros(w.shape)
    clk_out = np.zeros(n_design)
    target_out = np.zeros(n_design)
    per_macro = np.zeros(n_comp, dtype=np.int64)
    seen = np.zeros(n_comp, dtype=np.bool_)  # component types met in non-FC layers
    for b in range(n_design):
        budget = budget_w[b]
        const = 0.0
        for l in range(n_layer):
            for j in range(order.shape[1]):
                c = order[l, j]
                if c < 0:
                    break
                if c == DAC:
                    units[b, l, c] = w[b, l, c]
                    budget -= w[b, l, c] * peak[b, DAC]
                else:
                    const += w[b, l, c] * peak[b, c] / freq[b, c]
        target = const / budget
        target_out[b] = target
        clk = 0.0
        per_macro[:] = 0
        seen[:] = False
        for l in range(n_layer):
            for j in range(order.shape[1]):
                c = order[l, j]
                if c < 0:
                    break
                if c == DAC:
                    continue
                wl = w[b, l, c]
                alloc = np.ceil(wl / freq[b, c] / target) if wl > 0 else 0.0
                units[b, l, c] = alloc
                if kind[l] == FC and not fc_in_clock:
                    continue
                if alloc > 0:
                    clk = max(clk, wl / (freq[b, c] * alloc))
                seen[c] = True
                m = combined[b, l]
                per_macro[c] = max(per_macro[c], cdiv(np.int64(alloc), m))
        if unified[b]:
            for l in range(n_layer):
                for j in range(order.shape[1]):
                    c = order[l, j]
                    if c < 0:
                        break
                    if c == DAC or not seen[c]:
                        continue
                    if units[b, l, c] > 0:
                        units[b, l, c] = per_macro[c] * combined[b, l]
                    if kind[l] == FC and not fc_in_clock:
                        continue
                    if units[b, l, c] > 0:
                        clk = max(clk, w[b, l, c] / (freq[b, c] * units[b, l, c]))
        clk_out[b] = clk
    return units, clk_out, target_out


def clock_ns(clk_ir_ns) -> np.ndarray:
    """clk = max(100 ns, slowest compute IR)."""
    return np.maximum(CLOCK_FLOOR_NS, np.asarray(clk_ir_ns, dtype=np.float64))


def cycles(latency_ns, clk_ns) -> np.ndarray:
    """ceil(t / clk) cycles for LD/ST/TRAN/MRG delays; broadcasts [B, L] against [B]."""
    return np.ceil(np.asarray(latency_ns) / np.asarray(clk_ns)[:, None]).astype(np.int64)
