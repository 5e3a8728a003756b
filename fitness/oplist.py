"""Op lists of the IR DAG (MODEL.md §3.2, §7.4, §8.2).

Each layer runs a fixed sequence of ops per computation block: an optional TRAN, LD, the
kind's compute ops, its charged activations, ST and an optional MRG. Ops are small int
codes so that the numba scheduler can work on plain arrays; components (the units that
carry workload) reuse the same codes for the compute ops.
"""

from __future__ import annotations

import weakref

import numpy as np

from fitness.network import CONV, ELTWISE, FC, POOL, Network

# Op codes. The compute ops double as component codes (columns of workload arrays).
DAC, ADC, SHIFTADD, ADDITION, POOL_OP, ELTWISE_OP, RELU, SIGMOID = range(8)
TRAN, LD, ST, MRG = 8, 9, 10, 11
N_COMPONENTS = 8
OP_NAMES = ("DAC", "ADC", "SHIFTADD", "ADDITION", "POOL", "ELTWISE", "RELU", "SIGMOID", "TRAN", "LD", "ST", "MRG")
COMPONENT_NAMES = OP_NAMES[:N_COMPONENTS]
# Ops repeated once per input bit group (DAC includes the crossbar MVM and sample-and-hold).
BIT_LEVEL = np.zeros(len(OP_NAMES), dtype=np.bool_)
BIT_LEVEL[[DAC, ADC, SHIFTADD]] = True

_ACT_CODE = {"relu": RELU, "sigmoid": SIGMOID}
_BASE_OPS = {CONV: (DAC, ADC, SHIFTADD, ADDITION), FC: (DAC, ADC, SHIFTADD, ADDITION), POOL: (POOL_OP,), ELTWISE: (ELTWISE_OP,)}


_CACHE: dict[int, tuple] = {}


def _cached(network: Network, key: str, build):
    """Per-network memo (networks are immutable); entries die with the network."""
    entry = _CACHE.get(id(network))
    if entry is None or entry[0]() is not network:
        entry = (weakref.ref(network, lambda _, i=id(network): _CACHE.pop(i, None)), {})
        _CACHE[id(network)] = entry
    memo = entry[1]
    if key not in memo:
        memo[key] = build(network)
    return memo[key]


def _compute_ops(network: Network) -> tuple[tuple[int, ...], ...]:
    out = []
    for layer, kind in zip(network.layers, network.arrays.kind):
        out.append(_BASE_OPS[int(kind)] + tuple(_ACT_CODE[a] for a in layer.activations))
    return tuple(out)


def compute_ops(network: Network) -> tuple[tuple[int, ...], ...]:
    """Per layer: the compute ops between LD and ST, in PIMSYN's order (base ops, then activations)."""
    return _cached(network, "compute_ops", _compute_ops)


def _component_order(network: Network) -> tuple[tuple[int, ...], ...]:
    out = []
    for ops in compute_ops(network):
        seen: list[int] = []
        for op in ops:
            if op not in seen:
                seen.append(op)
        out.append(tuple(seen))
    return tuple(out)


def component_order(network: Network) -> tuple[tuple[int, ...], ...]:
    """Per layer: its components in PIMSYN's dict order (first occurrence in the op list).

    Float sums over (layer, component) follow this order so that allocation ceilings and
    energies match PIMSYN to the last bit.
    """
    return _cached(network, "component_order", _component_order)


def _order_table(network: Network) -> np.ndarray:
    order = component_order(network)
    table = np.full((len(order), max(len(o) for o in order)), -1, dtype=np.int64)
    for l, comps in enumerate(order):
        table[l, :len(comps)] = comps
    return table


def order_table(network: Network) -> np.ndarray:
    """:func:`component_order` as an int array [L, max comps] padded with -1 (for numba kernels)."""
    return _cached(network, "order_table", _order_table)


def max_ops(network: Network) -> int:
    """Longest possible op list: TRAN + LD + compute ops + ST + MRG."""
    return max(len(ops) for ops in compute_ops(network)) + 4


def _op_variants(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Every layer's op list in its four TRAN/MRG variants, flattened to row v x L + l:
    codes [4 L, Kmax] (padded with -1) and counts [4 L]."""
    n_layer = len(network)
    kmax = max_ops(network)
    variants = np.full((4, n_layer, kmax), -1, dtype=np.int64)
    sizes = np.zeros((4, n_layer), dtype=np.int64)
    for l, ops in enumerate(compute_ops(network)):
        core = (LD, *ops, ST)
        for v, (t, m) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
            seq = (TRAN,) * t + core + (MRG,) * m
            variants[v, l, :len(seq)] = seq
            sizes[v, l] = len(seq)
    return variants.reshape(4 * n_layer, kmax), sizes.reshape(-1)


def op_table(network: Network, has_tran: np.ndarray, has_mrg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Op codes [B, L, Kmax] (padded with -1) and op counts [B, L] for the final op lists.

    ``has_tran``/``has_mrg`` [B, L] come from the layout (hops > 0).
    """
    has_tran = np.asarray(has_tran, dtype=bool)
    has_mrg = np.asarray(has_mrg, dtype=bool)
    codes, sizes = _cached(network, "op_variants", _op_variants)
    n_layer = has_tran.shape[1]
    # one row gather per (design, layer) from the network's four variants
    row = (has_tran.astype(np.int64) + 2 * has_mrg.astype(np.int64)) * n_layer + np.arange(n_layer)
    return np.take(codes, row, axis=0), np.take(sizes, row)
