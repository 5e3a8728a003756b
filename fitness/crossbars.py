"""Crossbar accounting (MODEL.md §2.1, §4), vectorized over designs.

Arrays are [B] per design or [B, L] per design and layer; non-MVM layers get 0 crossbars.
"""

from __future__ import annotations

import math

import numpy as np

from fitness.network import CONV, FC, Network


def ceil_div(a, b):
    """Exact integer ceil(a / b) for 0 <= a < 2**53, b > 0 (PIMSYN's float ceil is exact at these sizes).

    Through floats: numpy's int64 floor division costs twice a float division and ceil, and
    the float quotient cannot round across an integer (a non-integer a / b is at least 1 / b
    from one; the rounding error is below a / b x 2**-53 < 1 / b)."""
    return np.ceil(np.asarray(a) / np.asarray(b)).astype(np.int64)


def slices(weight_res: int, rram_res) -> np.ndarray:
    """Cells per weight, S = ceil(weight_res / r)."""
    return ceil_div(weight_res, np.asarray(rram_res, dtype=np.int64))


def bit_loops(data_res: int, dac_res) -> np.ndarray:
    """Input bit iterations, B = ceil(data_res / d)."""
    return ceil_div(data_res, np.asarray(dac_res, dtype=np.int64))


def adc_resolution(xbar_size, dac_res, rram_res) -> np.ndarray:
    """ADC bits (§2.1): log2(X) + d + r - 1 if d > 1 and r > 1, else log2(X) + d + r - 2.

    Computed with PIMSYN's float ``math.log(X, 2)`` and truncation, per element.
    """
    x = np.atleast_1d(np.asarray(xbar_size, dtype=np.int64))
    d = np.broadcast_to(np.asarray(dac_res, dtype=np.int64), x.shape)
    r = np.broadcast_to(np.asarray(rram_res, dtype=np.int64), x.shape)
    out = np.empty(x.shape, dtype=np.int64)
    for i in range(x.size):
        lg = math.log(int(x.flat[i]), 2)
        extra = -1 if d.flat[i] > 1 and r.flat[i] > 1 else -2
        out.flat[i] = int(lg + int(d.flat[i]) + int(r.flat[i]) + extra)
    return out


def is_mvm(network: Network) -> np.ndarray:
    kind = network.arrays.kind
    return (kind == CONV) | (kind == FC)


def row_blocks(network: Network, xbar_size) -> np.ndarray:
    """ceil(R / X) per design and layer [B, L]; 0 for POOL/ELTWISE."""
    x = np.asarray(xbar_size, dtype=np.int64)[:, None]
    rows = network.arrays.rows[None, :]
    return np.where(is_mvm(network)[None, :], ceil_div(rows, x), 0)


def col_blocks(network: Network, xbar_size) -> np.ndarray:
    """ceil(C / X) per design and layer [B, L], for every layer kind (PIMSYN computes it everywhere)."""
    x = np.asarray(xbar_size, dtype=np.int64)[:, None]
    return ceil_div(network.arrays.out_channels[None, :], x)


def crossbar_sets(network: Network, xbar_size, n_slices) -> np.ndarray:
    """Crossbars holding one weight copy (paper Eq. 1) [B, L]; 0 for POOL/ELTWISE."""
    s = np.asarray(n_slices, dtype=np.int64)[:, None]
    return row_blocks(network, xbar_size) * col_blocks(network, xbar_size) * s * is_mvm(network)[None, :]


def min_macro_size(network: Network, xbar_size, n_slices) -> np.ndarray:
    """Crossbars per row block, mu = ceil(C / X) x S [B, L]; 0 for POOL/ELTWISE."""
    s = np.asarray(n_slices, dtype=np.int64)[:, None]
    return col_blocks(network, xbar_size) * s * is_mvm(network)[None, :]


def total_crossbars(total_power_w, rram_ratio, peak_power_w) -> np.ndarray:
    """N_xb = int(P_tot x rho / peak_xb) (paper Eq. 3), PIMSYN's float expression."""
    p = np.asarray(total_power_w, dtype=np.float64) * np.asarray(rram_ratio, dtype=np.float64)
    return np.trunc(p / np.asarray(peak_power_w, dtype=np.float64)).astype(np.int64)


def conv_budget(network: Network, n_xb, sets) -> tuple[np.ndarray, np.ndarray]:
    """(N_conv [B], capacity_ok [B]): FC sets come off the top; the point is usable iff
    N_conv > sum of CONV sets (strictly)."""
    kind = network.arrays.kind
    n_conv = np.asarray(n_xb, dtype=np.int64) - sets[:, kind == FC].sum(axis=1)
    return n_conv, n_conv > sets[:, kind == CONV].sum(axis=1)


def crossbars_used(layer_dup, sets) -> np.ndarray:
    """xb_l = dup_l x set_l [B, L] (FC dup is 1; POOL/ELTWISE sets are 0)."""
    return np.asarray(layer_dup, dtype=np.int64) * sets
