"""Capacity-independent preparation for the analytic evaluator, for a whole batch.

The same vectorized stages as :func:`fitness.prepare.prepare` (``batch_stages``), with
the per-design layout and DAG structure replaced by closed-form hop counts (:mod:`.layout`)
and the sampled block mapping of :mod:`.recurrence`. The result is a :class:`Prepared` (with
``layouts``/``structures`` left as ``None``) so that the energy and table code of the
cycle evaluator applies unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitness.analytic.layout import Hops, hops
from fitness.analytic.recurrence import Samples, build_samples, consumer_csr
from fitness.design import DesignBatch
from fitness.fixes import NONE
from fitness.hardware import Hardware
from fitness.input_load import input_need_max
from fitness.layout import LAYOUT_REASONS
from fitness.memory import MemoryTable
from fitness.network import Network
from fitness.prepare import Prepared, batch_stages, delays_and_ops, stage_fields, model_network
from fitness.workload import minimum_power_for

DEFAULT_SAMPLES = 64  # most recurrence samples per layer (all blocks when n is smaller: exact)
DEFAULT_MIN_SAMPLES = 16  # fewest (a layer samples one block per output row in between)
DEFAULT_IN_SAMPLES = 32  # blocks sampled for the input-buffer need


@dataclass(kw_only=True)
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


POWER_REASON = "mini_power_ge_component_power"


def power_short_at_any_capacity(network: Network, hardware: Hardware, batch: DesignBatch, st,
                                fixes: frozenset = NONE) -> np.ndarray:
    """[B] bool: designs whose minimum power reaches the component power even with the
    least leaky scratchpad of the memory table, so the fixed point refuses them in its
    first round whatever capacity the first schedule gives (MODEL.md §8.9).

    Refusing them before scheduling spares their samples and first schedule (a third to a
    half of random designs). Feasibility is unchanged; the reason differs from the cycle
    model's only where that first capacity would itself have been refused (above 4096 KB,
    below 64 KB): the cycle model names the memory, this names the power."""
    leak_min = float(MemoryTable.from_hardware(hardware).leak_w.min())
    p = batch.total_power_w
    bound = (p - p * batch.rram_ratio) - leak_min * st.macros.n_macros - hardware.noc_power_w
    valid = np.asarray(st.params.valid, dtype=bool)
    p_min = minimum_power_for(network, st.work, st.work_zeroed, st.macros, st.params, fixes)
    return valid & (p_min >= bound)


def prepare_analytic(network: Network, hardware: Hardware, batch: DesignBatch,
                     max_samples: int = DEFAULT_SAMPLES, max_in_samples: int = DEFAULT_IN_SAMPLES,
                     min_samples: int = DEFAULT_MIN_SAMPLES, fixes: frozenset = NONE) -> AnalyticPrepared:
    network = model_network(network, fixes)
    st = batch_stages(network, hardware, batch, adc_resolution_fast(batch.xbar_size, batch.dac_res, batch.rram_res),
                      fixes)
    status, good, prov = st.status, st.status == "ok", st.prov
    h = hops(network, st.macros.combined, st.macros.partner, st.macros.grid_cols, prov)
    for code, reason in LAYOUT_REASONS.items():
        status[good & (h.status == code)] = reason
    good = status == "ok"
    status[good & power_short_at_any_capacity(network, hardware, batch, st, fixes)] = POWER_REASON
    good = status == "ok"
    # Neutral blocks for refused rows keep the sample arrays small.
    blk = np.where(good[:, None], st.blocks, np.minimum(st.blocks, 1))
    smp = build_samples(network, st.dup, blk, st.idiv, st.ddiv, prov, max_samples, max_in_samples, min_samples,
                        fixes=fixes)
    status[good & (smp.status != 0)] = "dependency_block_out_of_range"
    if "input-load" in fixes:
        smp = smp._replace(inbuf=smp.inbuf + input_need_max(network, st.dup, blk, st.idiv, st.ddiv, max_in_samples,
                                                            fixes))
    tran_ns, mrg_ns, op_code, n_ops = delays_and_ops(network, st, h.transfer, h.merge)
    return AnalyticPrepared(network=network, hardware=hardware, batch=batch, tran_ns=tran_ns, mrg_ns=mrg_ns,
                            op_code=op_code, n_ops=n_ops, layouts=None, structures=None, fixes=fixes, hops=h,
                            samples=smp, cons=consumer_csr(network),
                            **stage_fields(AnalyticPrepared, st, status=status, blocks=blk))
