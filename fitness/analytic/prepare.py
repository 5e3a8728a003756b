"""Capacity-independent preparation for the analytic evaluator, for a whole batch.

Same stages as :func:`fitness.prepare.prepare` (all vectorized), with the per-design
layout and DAG structure replaced by closed-form hop counts (:mod:`.layout`) and the
sampled block mapping of :mod:`.recurrence`. The result is a :class:`Prepared` (with
``layouts``/``structures`` left as ``None``) so that the energy and table code of the
cycle evaluator applies unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitness.analytic.layout import Hops, hops
from fitness.analytic.recurrence import Samples, build_samples, consumer_csr
from fitness.blocks import layer_dup_blocks
from fitness.crossbars import bit_loops, col_blocks, crossbar_sets, row_blocks, slices
from fitness.design import DesignBatch
from fitness.hardware import Hardware
from fitness.layout import LAYOUT_REASONS, noc_flits, provider_csr
from fitness.macros import macro_counts, split_factors
from fitness.memory import memory_traffic
from fitness.network import Network
from fitness.oplist import op_table
from fitness.prepare import Prepared
from fitness.workload import component_params, workloads, zero_shared_adc

DEFAULT_SAMPLES = 64  # most recurrence samples per layer (all blocks when n is smaller: exact)
DEFAULT_MIN_SAMPLES = 16  # fewest (a layer samples one block per output row in between)
DEFAULT_IN_SAMPLES = 32  # blocks sampled for the input-buffer need


@dataclass
class AnalyticPrepared(Prepared):
    hops: Hops = None
    samples: Samples = None
    cons: tuple = None
    tr_flits: np.ndarray = None
    mg_flits: np.ndarray = None


def adc_resolution_fast(xbar_size, dac_res, rram_res) -> np.ndarray:
    """Vectorized :func:`fitness.crossbars.adc_resolution` (same float expression)."""
    x = np.asarray(xbar_size, dtype=np.float64)
    d = np.asarray(dac_res, dtype=np.int64)
    r = np.asarray(rram_res, dtype=np.int64)
    lg = np.log(x) / np.log(2.0)
    extra = np.where((d > 1) & (r > 1), -1, -2)
    return np.trunc(lg + d + r + extra).astype(np.int64)


def prepare_analytic(network: Network, hardware: Hardware, batch: DesignBatch,
                     max_samples: int = DEFAULT_SAMPLES, max_in_samples: int = DEFAULT_IN_SAMPLES,
                     min_samples: int = DEFAULT_MIN_SAMPLES) -> AnalyticPrepared:
    n = len(batch)
    status = np.full(n, "ok", dtype=object)
    n_mvm = len(network.mvm_indices)
    share = batch.macro_share
    status[((share < -1) | (share >= n_mvm)).any(axis=1)] = "share_partner_out_of_range"
    status[(batch.dup < 1).any(axis=1) & (status == "ok")] = "dup_below_1"
    status[(batch.macro_num < 1).any(axis=1) & (status == "ok")] = "macro_num_below_1"
    status[~np.isin(batch.xbar_size, [x for x, _ in hardware.rram]) & (status == "ok")] = "xbar_size_without_table_entry"
    good = status == "ok"
    xbar = np.where(good, batch.xbar_size, 256)
    dup_conv = np.where(good[:, None], batch.dup, 1)
    share = np.where(good[:, None], share, -1)
    own_gene = np.where(good[:, None], batch.macro_num, 1)

    s = slices(hardware.weight_res, np.where(batch.rram_res > 0, batch.rram_res, 1))
    bits = bit_loops(hardware.data_res, np.where(batch.dac_res > 0, batch.dac_res, 1))
    adc = adc_resolution_fast(batch.xbar_size, batch.dac_res, batch.rram_res)
    params = component_params(hardware, adc, batch.dac_res)
    rows_x = row_blocks(network, xbar)
    cols_x = col_blocks(network, xbar)
    sets = crossbar_sets(network, xbar, s)
    dup, blocks = layer_dup_blocks(network, dup_conv)
    macros = macro_counts(network, own_gene, share)
    idiv, ddiv = split_factors(macros.combined, dup)
    work = workloads(network, hardware, xbar, s, rows_x, cols_x, dup)
    work_zeroed = zero_shared_adc(network, work, macros.partner)
    traffic = memory_traffic(network, cols_x, s, dup, idiv, ddiv)
    tr_flits, mg_flits = noc_flits(network, dup, idiv, ddiv, hardware.data_res, hardware.noc_bw)

    prov = provider_csr(network)
    h = hops(network, macros.combined, macros.partner, macros.grid_cols, prov)
    for code, reason in LAYOUT_REASONS.items():
        status[good & (h.status == code)] = reason
    good = status == "ok"
    # Neutral blocks for refused rows keep the sample arrays small.
    blk = np.where(good[:, None], blocks, np.minimum(blocks, 1))
    smp = build_samples(network, dup, blk, idiv, ddiv, prov, max_samples, max_in_samples, min_samples)
    status[good & (smp.status != 0)] = "dependency_block_out_of_range"
    has_tran, has_mrg = h.transfer > 0, h.merge > 0
    tran_ns = np.where(has_tran, h.transfer + tr_flits, 0).astype(np.float64)
    mrg_ns = np.where(has_mrg, h.merge + mg_flits, 0).astype(np.float64)
    op_code, n_ops = op_table(network, has_tran, has_mrg)
    return AnalyticPrepared(network, hardware, batch, status, s, bits, adc, params, rows_x, cols_x, sets, dup, blk,
                            macros, idiv, ddiv, work, work_zeroed, traffic, tran_ns, mrg_ns, op_code, n_ops,
                            None, None, prov, hops=h, samples=smp, cons=consumer_csr(network),
                            tr_flits=tr_flits, mg_flits=mg_flits)
