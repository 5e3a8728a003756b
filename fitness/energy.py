"""Energy of one inference, operation count and peak power (MODEL.md §9), vectorized over designs.

Sums run in PIMSYN's (layer, component) order so that totals match it bit for bit; the
per-component parts are extra and may differ from the total by float round-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from fitness.network import CONV, FC, Network
from fitness.oplist import ADC, DAC, SHIFTADD, order_table
from fitness.workload import ComponentParams


@dataclass(frozen=True)
class ComponentEnergy:
    total_nj: np.ndarray  # [B] PIMSYN's dynamic + static total
    by_component_nj: np.ndarray  # [B, N_COMPONENTS] static + dynamic per component type


def component_energy(network: Network, work, units, blocks, bits, params: ComponentParams, time_ns) -> ComponentEnergy:
    """Static energy of every allocated unit over the run plus dynamic energy per operation."""
    total, parts = _component_energy(order_table(network), np.asarray(work, dtype=np.float64),
                                     np.asarray(units, dtype=np.float64), np.asarray(blocks, dtype=np.int64),
                                     np.asarray(bits, dtype=np.int64), params.static_w, params.dynamic_w,
                                     params.latency_ns, np.asarray(time_ns, dtype=np.float64))
    return ComponentEnergy(total, parts)


@numba.njit(cache=True)
def _component_energy(order, work, units, blocks, bits, static_w, dynamic_w, latency_ns, time_ns):
    n_design, n_layer, n_comp = work.shape
    total = np.zeros(n_design)
    parts = np.zeros((n_design, n_comp))
    for b in range(n_design):
        static = 0.0
        dynamic = 0.0
        for l in range(n_layer):
            for j in range(order.shape[1]):
                c = order[l, j]
                if c < 0:
                    break
                e_static = time_ns[b] * static_w[b, c] * units[b, l, c]
                if c == ADC or c == DAC or c == SHIFTADD:
                    e_dyn = latency_ns[b, c] * dynamic_w[b, c] * work[b, l, c] * blocks[b, l] * bits[b]
                else:
                    e_dyn = latency_ns[b, c] * dynamic_w[b, c] * work[b, l, c] * blocks[b, l]
                static += e_static
                dynamic += e_dyn
                parts[b, c] += e_static + e_dyn
        total[b] = dynamic + static
    return total, parts


def crossbar_energy(network: Network, xbars, blocks, bits, static_w, dynamic_w, latency_ns, time_ns) -> np.ndarray:
    """Static energy of the used crossbars plus one read per block and bit iteration."""
    total = np.zeros(xbars.shape[0])
    kind = network.arrays.kind
    for l in range(len(network)):
        if kind[l] not in (CONV, FC):
            continue
        xb = xbars[:, l]
        e_static = time_ns * static_w * xb
        e_dyn = latency_ns * dynamic_w * xb * blocks[:, l] * bits
        total = total + (e_dyn + e_static)
    return total


def operations(network: Network) -> int:
    """2 x MACs of one inference, PIMSYN's way (dense convs; FC not scaled)."""
    arr = network.arrays
    ops = 0
    for l in range(len(network)):
        if arr.kind[l] == CONV:
            ops += 2 * int(arr.rows[l]) * int(arr.out_h[l] * arr.out_w[l]) * int(arr.out_channels[l])
        elif arr.kind[l] == FC:
            ops += 2 * int(arr.in_channels[l]) * int(arr.out_channels[l])
    return ops


def peak_power_w(units, params: ComponentParams, xbars_used, xbar_peak_w, n_macros, leak_w, noc_power_w) -> np.ndarray:
    """Our peak power: every allocated unit, used crossbar and scratchpad at peak, plus the NoC.

    PIMSYN budgets only one unit per macro (P_min) and never re-checks the ceilinged
    allocation (Q17, Q18), so this can exceed the power budget slightly.
    """
    per_comp = np.nansum(units * params.peak_w[:, None, :], axis=(1, 2))
    return per_comp + xbars_used.sum(axis=1) * xbar_peak_w + n_macros * leak_w + noc_power_w
