"""Per-macro scratchpad model (MODEL.md §6, §8.7 capacity rule), vectorized over designs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from fitness.arrays import i64
from fitness.hardware import Hardware
from fitness.network import CONV, FC, POOL, Network

MAX_CAPACITY_KB = 4096
BUFFER_SLACK = 0.9  # capacity is the power of two at or above 90 % of the need


@dataclass(frozen=True, kw_only=True)
class MemoryTable:
    """The config's memory rows as arrays, indexed by position in ``sizes_kb``."""

    sizes_kb: np.ndarray
    leak_w: np.ndarray
    read_latency_ns: np.ndarray
    write_latency_ns: np.ndarray
    read_energy_nj: np.ndarray
    write_energy_nj: np.ndarray
    area_mm2: np.ndarray

    @classmethod
    def from_hardware(cls, hardware: Hardware) -> "MemoryTable":
        sizes = sorted(hardware.memory)
        rows = [hardware.memory[k] for k in sizes]
        return cls(
            sizes_kb=np.array(sizes, dtype=np.int64),
            leak_w=np.array([m.leak_power_w for m in rows]),
            read_latency_ns=np.array([m.read_latency_ns for m in rows]),
            write_latency_ns=np.array([m.write_latency_ns for m in rows]),
            read_energy_nj=np.array([m.read_energy_nj for m in rows]),
            write_energy_nj=np.array([m.write_energy_nj for m in rows]),
            area_mm2=np.array([m.area_mm2 for m in rows]),
        )

    def index(self, capacity_kb) -> np.ndarray:
        """Row index of each capacity, -1 where the table has no such key (PIMSYN: KeyError)."""
        cap = np.asarray(capacity_kb, dtype=np.int64)
        pos = np.searchsorted(self.sizes_kb, cap)
        pos_c = np.minimum(pos, len(self.sizes_kb) - 1)
        return np.where(self.sizes_kb[pos_c] == cap, pos_c, -1)


@dataclass(frozen=True, kw_only=True)
class MemoryTraffic:
    """Elements moved per block: ld/st per macro (latency) and ld_volume/st_volume in total (energy) [B, L].

    ``input_st``/``input_volume`` (the ``input-load`` fix; None without it): network input
    written per block into a layer's macros, per macro and in total (0 but for the layers
    the input feeds)."""

    ld: np.ndarray
    st: np.ndarray
    ld_volume: np.ndarray
    st_volume: np.ndarray
    input_st: np.ndarray | None = None
    input_volume: np.ndarray | None = None


def memory_traffic(network: Network, col_blocks, n_slices, layer_dup, idiv, ddiv, layer_blocks=None, *,
                   both_operands: bool = False, input_load: bool = False) -> MemoryTraffic:
    """Traffic per block; ``both_operands``: an ELTWISE layer loads one operand per provider
    (the ``eltwise-loads`` fix, Q20); ``input_load``: the network input is written into the
    macros of the layers it feeds (the ``input-load`` fix; needs ``layer_blocks``)."""
    arr = network.arrays
    operands = np.ones(len(network), dtype=np.int64)
    if both_operands:
        operands = np.maximum(1, np.array([len(layer.providers) for layer in network.layers], dtype=np.int64))
    ld, st, ldv, stv = _memory_traffic(i64(arr.kind), i64(arr.rows), i64(arr.out_channels), i64(arr.kernel_h),
                                       i64(arr.kernel_w), i64(col_blocks), i64(n_slices), i64(layer_dup), i64(idiv),
                                       i64(ddiv), operands)
    if not input_load:
        return MemoryTraffic(ld=ld, st=st, ld_volume=ldv, st_volume=stv)
    in_volume, in_st = input_traffic(network, layer_blocks, idiv, ddiv)
    return MemoryTraffic(ld=ld, st=st, ld_volume=ldv, st_volume=stv, input_st=in_st, input_volume=in_volume)


def input_layers(network: Network) -> np.ndarray:
    """[L] bool: the conv/fc layers without providers, which read the network input."""
    kind = network.arrays.kind
    return np.array([not layer.providers for layer in network.layers]) & ((kind == CONV) | (kind == FC))


def input_traffic(network: Network, layer_blocks, idiv, ddiv) -> tuple[np.ndarray, np.ndarray]:
    """(total, per macro) [B, L] network-input elements written per block into the layers it
    feeds: the whole input C x H x W spread evenly over the layer's blocks; each macro takes
    its share of the rows (1 / idiv) for its duplicate group (1 / ddiv), as its loads do."""
    c, h, w = network.input_shape
    blocks = np.maximum(np.asarray(layer_blocks, dtype=np.float64), 1.0)
    volume = np.where(input_layers(network)[None, :], (c * h * w) / blocks, 0.0)
    return volume, volume / (np.asarray(idiv, dtype=np.float64) * np.asarray(ddiv, dtype=np.float64))


@numba.njit(cache=True)
def _memory_traffic(kind, rows, out_channels, kernel_h, kernel_w, col_blocks, s, layer_dup, idiv, ddiv, operands):
    n_design, n_layer = layer_dup.shape
    ld = np.zeros((n_design, n_layer))
    st = np.zeros((n_design, n_layer))
    ldv = np.zeros((n_design, n_layer))
    stv = np.zeros((n_design, n_layer))
    for b in range(n_design):
        for l in range(n_layer):
            dup = layer_dup[b, l]
            c_out = out_channels[l]
            if kind[l] == CONV or kind[l] == FC:
                xsi = col_blocks[b, l] * s[b]  # crossbars sharing one input row (Q19)
                size = rows[l]
                ld[b, l] = (size / idiv[b, l]) * (dup / ddiv[b, l]) * xsi
                ldv[b, l] = dup * size * xsi
            elif kind[l] == POOL:
                ld[b, l] = ldv[b, l] = c_out * kernel_h[l] * kernel_w[l] * dup
            else:  # ELTWISE: PIMSYN loads one operand only (Q20)
                ld[b, l] = ldv[b, l] = dup * c_out * operands[l]
            st[b, l] = dup * c_out / ddiv[b, l]
            stv[b, l] = dup * c_out
    return ld, st, ldv, stv


def _accesses(elements, data_res: int, memory_bw: int) -> np.ndarray:
    return np.ceil(elements * data_res / memory_bw)


def load_store_latency_ns(traffic: MemoryTraffic, hardware: Hardware, table: MemoryTable, row) -> tuple[np.ndarray, np.ndarray]:
    """(t_LD, t_ST) [B, L] in ns for the memory row index ``row`` [B]."""
    dr, bw = hardware.data_res, hardware.memory_bw
    t_ld = _accesses(traffic.ld, dr, bw) * table.read_latency_ns[row][:, None]
    t_st = _accesses(traffic.st, dr, bw) * table.write_latency_ns[row][:, None]
    if traffic.input_st is not None:  # the block's input is written before the load reads it
        t_ld = t_ld + _accesses(traffic.input_st, dr, bw) * table.write_latency_ns[row][:, None]
    return t_ld, t_st


def dynamic_energy_nj(traffic: MemoryTraffic, layer_blocks, hardware: Hardware, table: MemoryTable, row) -> np.ndarray:
    """E_mem_dyn [B]: reads and writes of every block of every layer, summed in layer order."""
    dr, bw = hardware.data_res, hardware.memory_bw
    rd = table.read_energy_nj[row]
    wr = table.write_energy_nj[row]
    ld_e = _accesses(traffic.ld_volume, dr, bw) * rd[:, None]
    st_e = _accesses(traffic.st_volume, dr, bw) * wr[:, None]
    if traffic.input_volume is not None:
        st_e = st_e + _accesses(traffic.input_volume, dr, bw) * wr[:, None]
    total = np.zeros(ld_e.shape[0])
    for l in range(ld_e.shape[1]):
        total = total + (ld_e[:, l] + st_e[:, l]) * layer_blocks[:, l]
    return total


def capacity_kb(buffer_elements: float, data_res: int) -> int:
    """Capacity in KB from the largest buffer need (elements), PIMSYN's float rule (§8.7).

    Raises ValueError for a zero need (PIMSYN's log2(0) crash).
    """
    need_bytes = math.ceil(buffer_elements * (data_res / 8))
    return int(pow(2, math.ceil(math.log2(need_bytes * BUFFER_SLACK))) / 1024)


def capacities_kb(elements, data_res: int) -> tuple[np.ndarray, np.ndarray]:
    """(capacity KB, ok) per design: :func:`capacity_kb` on arrays; ok is
    False where the need is zero (PIMSYN's log2(0) crash)."""
    e = np.asarray(elements, dtype=np.float64)
    need = np.ceil(e * (data_res / 8))
    ok = need > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        expo = np.ceil(np.log2(np.where(ok, need, 1.0) * BUFFER_SLACK))
    cap = np.trunc(np.power(2.0, expo) / 1024).astype(np.int64)
    return np.where(ok, cap, 0), ok
