"""The capacity-independent part of an evaluation (MODEL.md §0 steps 1-5), for a batch.

Vectorized stages give [B, L] arrays; the layout and the DAG block mapping are per
design. ``status`` holds "ok" or the reason PIMSYN would crash on the design before its
first DAG (these rows are not scheduled).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from fitness.blocks import layer_dup_blocks
from fitness.crossbars import bit_loops, col_blocks, crossbar_sets, row_blocks, slices
from fitness.depcb import DagStructure, build_structure
from fitness.design import DesignBatch
from fitness.fixes import NONE
from fitness.hardware import Hardware
from fitness.input_load import input_need_per_block
from fitness.layout import LAYOUT_REASONS, Layout, noc_flits, place_and_route, provider_csr
from fitness.macros import MacroCounts, macro_counts, split_factors
from fitness.memory import MemoryTraffic, memory_traffic
from fitness.network import Network
from fitness.oplist import op_table
from fitness.workload import ComponentParams, component_params, workloads, zero_shared_adc


@dataclass(kw_only=True)
class Prepared:
    network: Network
    hardware: Hardware
    batch: DesignBatch
    status: np.ndarray  # object[B]: "ok" or a crash reason
    n_slices: np.ndarray  # [B]
    bits: np.ndarray  # [B]
    adc_res: np.ndarray  # [B]
    params: ComponentParams
    rows_x: np.ndarray  # [B, L]
    cols_x: np.ndarray  # [B, L]
    sets: np.ndarray  # [B, L]
    dup: np.ndarray  # [B, L]
    blocks: np.ndarray  # [B, L]
    macros: MacroCounts
    idiv: np.ndarray  # [B, L]
    ddiv: np.ndarray  # [B, L]
    work: np.ndarray  # [B, L, N_COMPONENTS] FC-scaled workloads (energy, minimum power)
    work_zeroed: np.ndarray  # same with shared ADC demand zeroed (allocation, clock)
    traffic: MemoryTraffic
    tran_ns: np.ndarray  # [B, L] transfer delay, 0 where there is no TRAN
    mrg_ns: np.ndarray  # [B, L] merge delay, 0 where there is no MRG
    op_code: np.ndarray  # [B, L, Kmax]
    n_ops: np.ndarray  # [B, L]
    layouts: list  # Layout | None per design
    structures: list  # DagStructure | None per design
    prov: tuple  # provider CSR (ptr, idx)
    fixes: frozenset = NONE  # the model fixes applied (fitness.fixes)

    @property
    def max_power_w(self) -> np.ndarray:
        """Power left after the crossbar reservation, PIMSYN's P_tot - P_tot x rho."""
        p = self.batch.total_power_w
        return p - p * self.batch.rram_ratio


@dataclass(kw_only=True)
class Stages:
    """The vectorized capacity-independent stages both evaluators share, before layout."""

    status: np.ndarray  # object[B]: "ok" or the reason PIMSYN would crash first
    n_slices: np.ndarray
    bits: np.ndarray
    adc_res: np.ndarray
    params: ComponentParams
    rows_x: np.ndarray
    cols_x: np.ndarray
    sets: np.ndarray
    dup: np.ndarray
    blocks: np.ndarray
    macros: MacroCounts
    idiv: np.ndarray
    ddiv: np.ndarray
    work: np.ndarray
    work_zeroed: np.ndarray
    traffic: MemoryTraffic
    tr_flits: np.ndarray
    mg_flits: np.ndarray
    prov: tuple


def batch_stages(network: Network, hardware: Hardware, batch: DesignBatch, adc: np.ndarray,
                 fixes: frozenset = NONE) -> Stages:
    """Gene-level refusals, then crossbars, duplication, macros, workloads, memory traffic
    and NoC flits for the whole batch (``adc``: the batch's ADC resolutions) under the model
    fixes ``fixes`` (``network``: :func:`model_network` of the one evaluated)."""
    n = len(batch)
    status = np.full(n, "ok", dtype=object)
    n_mvm = len(network.mvm_indices)
    share = batch.macro_share
    status[((share < -1) | (share >= n_mvm)).any(axis=1)] = "share_partner_out_of_range"
    status[(batch.dup < 1).any(axis=1) & (status == "ok")] = "dup_below_1"
    status[(batch.macro_num < 1).any(axis=1) & (status == "ok")] = "macro_num_below_1"
    status[~np.isin(batch.xbar_size, [x for x, _ in hardware.rram]) & (status == "ok")] = "xbar_size_without_table_entry"
    good = status == "ok"
    # Neutral stand-ins keep the vectorized stages finite on rows that are already refused.
    xbar = np.where(good, batch.xbar_size, 256)
    dup_conv = np.where(good[:, None], batch.dup, 1)
    share = np.where(good[:, None], share, -1)
    own_gene = np.where(good[:, None], batch.macro_num, 1)

    s = slices(hardware.weight_res, np.where(batch.rram_res > 0, batch.rram_res, 1))
    bits = bit_loops(hardware.data_res, np.where(batch.dac_res > 0, batch.dac_res, 1))
    params = component_params(hardware, adc, batch.dac_res)
    rows_x = row_blocks(network, xbar)
    cols_x = col_blocks(network, xbar)
    sets = crossbar_sets(network, xbar, s)
    dup, blocks = layer_dup_blocks(network, dup_conv, within_map="pool-surplus" in fixes)
    macros = macro_counts(network, own_gene, share)
    idiv, ddiv = split_factors(macros.combined, dup)
    work = workloads(network, hardware, xbar, s, rows_x, cols_x, dup, fc_scaled="fc" not in fixes)
    work_zeroed = zero_shared_adc(network, work, macros.partner)
    traffic = memory_traffic(network, cols_x, s, dup, idiv, ddiv, blocks, both_operands="eltwise-loads" in fixes,
                             input_load="input-load" in fixes)
    tr_flits, mg_flits = noc_flits(network, dup, idiv, ddiv, hardware.data_res, hardware.noc_bw)
    return Stages(status=status, n_slices=s, bits=bits, adc_res=adc, params=params, rows_x=rows_x, cols_x=cols_x,
                  sets=sets, dup=dup, blocks=blocks, macros=macros, idiv=idiv, ddiv=ddiv, work=work,
                  work_zeroed=work_zeroed, traffic=traffic, tr_flits=tr_flits, mg_flits=mg_flits,
                  prov=provider_csr(network))


def stage_fields(cls: type, st: Stages, **override) -> dict:
    """Keyword arguments of ``cls`` (a :class:`Prepared`) that come from the batch's stages
    as they are, with ``override`` replacing some of them."""
    wanted = {f.name for f in fields(cls)}
    out = {f.name: getattr(st, f.name) for f in fields(Stages) if f.name in wanted}
    out.update(override)
    return out


def delays_and_ops(network: Network, st: Stages, hops_t: np.ndarray, hops_m: np.ndarray):
    """(tran_ns, mrg_ns, op_code, n_ops): NoC delays where a layer has hops, and its op list."""
    has_tran, has_mrg = hops_t > 0, hops_m > 0
    tran_ns = np.where(has_tran, hops_t + st.tr_flits, 0).astype(np.float64)
    mrg_ns = np.where(has_mrg, hops_m + st.mg_flits, 0).astype(np.float64)
    op_code, n_ops = op_table(network, has_tran, has_mrg)
    return tran_ns, mrg_ns, op_code, n_ops


def model_network(network: Network, fixes: frozenset) -> Network:
    """The network as the model with ``fixes`` sees it: with ``activations``, fused
    ReLU/Sigmoid are charged like listed ones (Q2)."""
    return network.fused_activations_charged if "activations" in fixes else network


def prepare(network: Network, hardware: Hardware, batch: DesignBatch, fixes: frozenset = NONE) -> Prepared:
    network = model_network(network, fixes)
    n = len(batch)
    n_layer = len(network)
    st = batch_stages(network, hardware, batch, batch.adc_res, fixes)
    status, good, prov = st.status, st.status == "ok", st.prov
    layouts: list = [None] * n
    structures: list = [None] * n
    hops_t = np.zeros((n, n_layer), dtype=np.int64)
    hops_m = np.zeros((n, n_layer), dtype=np.int64)
    for b in np.flatnonzero(good):
        lay: Layout = place_and_route(network, st.macros.combined[b], st.macros.partner[b], st.macros.grid_cols[b],
                                      prov)
        layouts[b] = lay
        if lay.status != 0:
            status[b] = LAYOUT_REASONS[lay.status]
            continue
        hops_t[b], hops_m[b] = lay.transfer_hops, lay.merge_hops
        dag: DagStructure = build_structure(network, st.dup[b], st.blocks[b], st.idiv[b], st.ddiv[b], prov, fixes)
        if "input-load" in fixes:
            need = input_need_per_block(network, st.dup[b], st.blocks[b], st.idiv[b], st.ddiv[b], fixes)
            dag = replace(dag, input_need=dag.input_need + need)
        structures[b] = dag
        if dag.status != 0:
            status[b] = "dependency_block_out_of_range"
    tran_ns, mrg_ns, op_code, n_ops = delays_and_ops(network, st, hops_t, hops_m)
    return Prepared(network=network, hardware=hardware, batch=batch, tran_ns=tran_ns, mrg_ns=mrg_ns,
                    op_code=op_code, n_ops=n_ops, layouts=layouts, structures=structures, fixes=fixes,
                    **stage_fields(Prepared, st, status=status))
