"""The stage fixes of fitness.fixes: fc, min-power, eltwise-loads, fixed-point, pool-surplus,
input-load and activations (docs/model-fixes.md).

Each fix is checked on a tiny network against values derived here from the config and
MODEL.md's formulas; a stand-in scheduler with a fixed buffer need (``fixed_need``) pins the
memory capacity where a value depends on it, so that the derivation needs no schedule.
Then: each fix is switched on by its name only, and the two fidelities agree under it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fitness import fixed_point
from fitness.analytic.evaluate import evaluate_analytic, evaluate_analytic_full
from fitness.analytic.prepare import prepare_analytic
from fitness.design import as_batch
from fitness.evaluate import evaluate, evaluate_full
from fitness.fixed_point import Scheduled
from fitness.fixes import parse_fixes
from fitness.network import Network
from fitness.oplist import ADC, ADDITION, DAC, POOL_OP, RELU, SHIFTADD
from fitness.pimcomp import load_pimcomp
from fitness.prepare import prepare
from fitness.workload import minimum_power, minimum_power_as_allocated, minimum_power_for

pytestmark = pytest.mark.unit

genomes = pytest.importorskip("genomes")

STAGE_FIXES = ("fc", "min-power", "eltwise-loads", "fixed-point", "pool-surplus", "input-load", "activations")
EXACT = 10**9  # analytic: sample every block
ELEMENTS_128KB = 50000.0  # 100 000 B; 0.9 x that rounds up to 2^17 B = 128 KB (§8.7)


def fixed_need(steps=500, elements=ELEMENTS_128KB):
    """A scheduler whose every DAG takes ``steps`` and needs ``elements`` (a fixed capacity)."""
    def scheduler(prep, idx, k_tran, k_ld, k_st, k_mrg):
        n = len(idx)
        return Scheduled(np.full(n, "ok", dtype=object), np.full(n, steps, dtype=np.int64), np.full(n, elements),
                         np.zeros(n, dtype=np.int64))
    return scheduler


def conv(name, cin, cout, hw, providers=(), **kw):
    return {"name": name, "kind": "conv", "in_channels": cin, "out_channels": cout, "in_hw": [hw, hw],
            "out_hw": [hw, hw], "kernel": [3, 3], "pads": [1, 1, 1, 1], "providers": list(providers), **kw}


def pool(name, c, hw_in, provider):
    return {"name": name, "kind": "pool", "in_channels": c, "out_channels": c, "in_hw": [hw_in, hw_in],
            "out_hw": [hw_in // 2, hw_in // 2], "kernel": [2, 2], "stride": [2, 2], "providers": [provider]}


def fc(name, cin, cout, provider, **kw):
    return {"name": name, "kind": "fc", "in_channels": cin, "out_channels": cout, "in_hw": [1, 1],
            "out_hw": [1, 1], "providers": [provider], **kw}


def tiny(*layers) -> Network:
    return Network.from_dict({"name": "tiny", "layers": list(layers)})


# conv 3->16 on 8x8, pool to 4x4, fc 256->200
CPF = tiny(conv("c1", 3, 16, 8), pool("p1", 16, 8, "c1"), fc("f1", 256, 200, "p1"))
# X 128, r 2 (S = 8), d 1 (B = 16): a = 7 + 1 + 2 - 2 = 8 (§2.1)
REC = dict(total_power_W=0.35, rram_ratio=0.3, rram_res=2, xbar_size=128, dac_res=1, macro_setting="specified",
           dup=[1], macro_num=[2, 1])
S, X, V = 8, 128, 32


def run(net, hw, rec, fixes, scheduler=None):
    return evaluate_full(net, hw, [rec], scheduler=scheduler or fixed_need(), power_check="pimsyn", fixes=fixes)


def mvm_work(rows, cout, dup, fc_scaled):
    """§5.2 workloads of a conv/fc layer, per block (DAC/ADC/SHIFTADD per bit iteration)."""
    rows_x, cols_x = math.ceil(rows / X), math.ceil(cout / X)
    w = {DAC: dup * rows * cols_x * S, ADC: dup * cols_x * X * rows_x * S}
    w[SHIFTADD] = w[ADC] / V
    w[ADDITION] = dup * rows_x * S / V
    if fc_scaled:
        w = {c: min(math.ceil(v / 100), 100) for c, v in w.items()}
    return w


# ---- fc (Q15) ------------------------------------------------------------------------------------

def test_fc_workloads_and_clock_like_a_one_pixel_conv(hw):
    f1 = 2
    none, fixed = run(CPF, hw, REC, "none"), run(CPF, hw, REC, "fc")
    for ev, scaled in ((none, True), (fixed, False)):
        want = mvm_work(256, 200, 1, fc_scaled=scaled)
        assert {c: ev.prep.work[0, f1, c] for c in want} == pytest.approx(want, rel=1e-15)
    # under the fix: 4096 DAC and ADC operations, as a conv with one output pixel, R = 256 rows, 2 column blocks
    assert fixed.prep.work[0, f1, DAC] == 256 * 2 * S and fixed.prep.work[0, f1, ADC] == 2 * X * 2 * S

    # §5.3-5.6 at 128 KB: budget, DACs off the top, Kc, ceilinged units, then the clock
    adc, dac, alu, mem = hw.adc[8], hw.dac[1], hw.alu, hw.memory[128]
    comps = [(ADC, adc), (SHIFTADD, alu["SHIFTADD"]), (ADDITION, alu["ADDITION"])]
    c1 = mvm_work(27, 16, 1, fc_scaled=False)
    p1 = {POOL_OP: 1 * 16 / V}  # 16 blocks of one pixel (min(64 conv blocks, 16 pixels))
    fc1 = mvm_work(256, 200, 1, fc_scaled=False)
    p_comp = 0.35 - 0.35 * 0.3 - 3 * mem.leak_power_w - hw.noc_power_w
    p_rest = p_comp - (c1[DAC] + fc1[DAC]) * dac.peak_power_w
    terms = [(c1, c, u) for c, u in comps] + [(p1, POOL_OP, alu["POOL"])] + [(fc1, c, u) for c, u in comps]
    kc = sum(w[c] * u.peak_power_w / u.frequency_ghz for w, c, u in terms) / p_rest
    latency = [w[c] / (u.frequency_ghz * math.ceil(w[c] / u.frequency_ghz / kc)) for w, c, u in terms]
    clk_fc_counted = max(100.0, *latency)
    clk_fc_ignored = max(100.0, *latency[:4])
    assert clk_fc_counted > clk_fc_ignored  # this design's slowest IR is the fc's
    assert fixed.frame.clk_ns[0] == pytest.approx(clk_fc_counted, rel=1e-12)
    assert fixed.fixed_point.units[0, f1, ADC] == math.ceil(fc1[ADC] / adc.frequency_ghz / kc)


# ---- min-power (Q16) -----------------------------------------------------------------------------

# c2 shares c1's macros (one own macro each, combined M = 2); fc on its own macro
SHARED = tiny(conv("c1", 3, 16, 8), conv("c2", 16, 16, 8, ["c1"]), fc("f1", 1024, 10, "c2"))
SHARED_REC = dict(REC, dup=[2, 2], macro_num=[1, 1, 1], macro_share=[None, 0, None])


def test_min_power_charges_a_pair_once_and_own_macros(hw):
    prep = prepare(SHARED, hw, as_batch(SHARED, [SHARED_REC]))
    adc, dac, sa, add = hw.adc[8].peak_power_w, hw.dac[1].peak_power_w, hw.alu["SHIFTADD"].peak_power_w, hw.alu[
        "ADDITION"].peak_power_w
    c1, c2, f1 = mvm_work(27, 16, 2, False), mvm_work(144, 16, 2, False), mvm_work(1024, 10, 1, True)
    dacs = (c1[DAC] + c2[DAC] + f1[DAC]) * dac
    # PIMSYN: each layer of the pair counts the combined M = 2 macros, ADCs included
    pimsyn = dacs + 2 * (adc + sa + add) + 2 * (adc + sa + add) + 1 * (adc + sa + add)
    # allocation: c2's ADC demand (4096) is the larger, so c1 borrows c2's ADCs: one ADC per
    # macro of the pair's two, charged once; shift-adders and adders on each layer's own macro
    assert c2[ADC] > c1[ADC]
    allocated = dacs + (1 * (sa + add)) + (2 * adc + 1 * (sa + add)) + 1 * (adc + sa + add)
    got_pimsyn = minimum_power(SHARED, prep.work, prep.macros.combined, prep.params)[0]
    got_fixed = minimum_power_as_allocated(SHARED, prep.work, prep.work_zeroed, prep.macros.own, prep.macros.combined,
                                           prep.params)[0]
    assert got_pimsyn == pytest.approx(pimsyn, rel=1e-12)
    assert got_fixed == pytest.approx(allocated, rel=1e-12)

    # a budget between the two: PIMSYN refuses the design, the fix schedules it
    p_comp = (pimsyn + allocated) / 2
    total = (p_comp + 3 * hw.memory[128].leak_power_w + hw.noc_power_w) / (1 - 0.3)
    rec = dict(SHARED_REC, total_power_W=total)
    none, fixed = run(SHARED, hw, rec, "none").frame.iloc[0], run(SHARED, hw, rec, "min-power").frame.iloc[0]
    assert (none.feasible, none.reason) == (False, "mini_power_ge_component_power")
    assert (fixed.feasible, fixed.reason) == (True, "ok")


# ---- eltwise-loads (Q20) -------------------------------------------------------------------------

RES = tiny(conv("c1", 3, 64, 8), conv("c2", 64, 64, 8, ["c1"]),
           {"name": "e1", "kind": "eltwise", "in_channels": 64, "out_channels": 64, "in_hw": [8, 8],
            "out_hw": [8, 8], "providers": ["c1", "c2"]},
           fc("f1", 4096, 10, "e1"))
RES_REC = dict(REC, total_power_W=5, dup=[2, 4], macro_num=[1, 1, 1])


def test_eltwise_loads_both_operands(hw):
    e1 = 2
    none, fixed = run(RES, hw, RES_REC, "none"), run(RES, hw, RES_REC, "eltwise-loads")
    # e1 inherits n = max(32, 16) = 32 blocks of dup = ceil(64 / 32) = 2 pixels, 64 channels each
    assert (fixed.prep.blocks[0, e1], fixed.prep.dup[0, e1]) == (32, 2)
    one, two = 2 * 64, 2 * 2 * 64
    assert (none.prep.traffic.ld[0, e1], fixed.prep.traffic.ld[0, e1]) == (one, two)
    assert fixed.prep.traffic.ld_volume[0, e1] == two
    mem = hw.memory[128]
    acc = lambda elements: math.ceil(elements * hw.data_res / hw.memory_bw)  # noqa: E731
    extra_nj = 32 * (acc(two) - acc(one)) * mem.read_energy_nj
    got = fixed.fixed_point.memory_dynamic_nj[0] - none.fixed_point.memory_dynamic_nj[0]
    assert got == pytest.approx(extra_nj, rel=1e-9) and extra_nj > 0


# ---- pool-surplus (Q11) --------------------------------------------------------------------------

SURPLUS = tiny(conv("c1", 3, 8, 12), pool("p1", 8, 12, "c1"), fc("f1", 288, 10, "p1"))


def test_pool_blocks_stay_within_the_map(hw):
    rec = dict(REC, total_power_W=2, dup=[5])
    none, fixed = run(SURPLUS, hw, rec, "none"), run(SURPLUS, hw, rec, "pool-surplus")
    conv_blocks = math.ceil(12 * 12 / 5)  # 29
    pixels = 6 * 6
    n_pimsyn = min(conv_blocks, pixels)
    dup = math.ceil(pixels / n_pimsyn)  # 2
    n_fixed = math.ceil(pixels / dup)  # 18: 29 x 2 = 58 slots for 36 pixels before
    assert (none.prep.blocks[0, 1], none.prep.dup[0, 1]) == (n_pimsyn, dup)
    assert (fixed.prep.blocks[0, 1], fixed.prep.dup[0, 1]) == (n_fixed, dup) == (18, 2)
    dag = fixed.prep.structures[0]
    assert dag.blk_off[2] - dag.blk_off[1] == 18  # the DAG schedules 18 pool blocks
    # POOL dynamic energy: latency x dynamic power x (dup x C / V) per block, 18 blocks
    pool_hw = hw.alu["POOL"]
    for ev, n in ((none, n_pimsyn), (fixed, n_fixed)):
        f = ev.frame.iloc[0]
        static = f.latency_ns * pool_hw.static_power_w * ev.fixed_point.units[0, 1, POOL_OP]
        want = pool_hw.latency_ns * pool_hw.dynamic_power_w * (dup * 8 / V) * n
        assert f.energy_pool_nj - static == pytest.approx(want, rel=1e-9)


# ---- input-load ------------------------------------------------------------------------------------

INPUT_REC = dict(REC, total_power_W=2, dup=[4], macro_num=[2, 1])  # idiv 1, ddiv 2, 16 blocks


def _pixel_range(q, w_l, k, s, p, w_p):
    """MODEL.md §8.7: (pstart, pend) of the provider pixels consumer pixel number q needs."""
    x = 1 if q == 0 else math.ceil(q / w_l)
    y = q % w_l or w_l
    xs, ys = (x - 1) * s + 1 - p, max(0, (y - 1) * s + 1 - p)
    start = (xs - 1) * w_p + ys if xs > 0 else 0
    xe, ye = min(w_p, (x - 1) * s + k - p), min(w_p, (y - 1) * s + k - p)
    return start, (xe - 1) * w_p + ye


def test_input_is_written_into_the_first_conv(hw):
    none, fixed = run(CPF, hw, INPUT_REC, "none"), run(CPF, hw, INPUT_REC, "input-load")
    n_blocks, idiv, ddiv = 16, 1, 2
    assert (fixed.prep.blocks[0, 0], fixed.prep.idiv[0, 0], fixed.prep.ddiv[0, 0]) == (n_blocks, idiv, ddiv)
    # traffic: the 3 x 8 x 8 input over 16 blocks, each macro writing its duplicate group's half
    volume = 3 * 8 * 8 / n_blocks
    assert fixed.prep.traffic.input_volume[0].tolist() == [volume, 0, 0]
    assert fixed.prep.traffic.input_st[0, 0] == volume / (idiv * ddiv)
    assert none.prep.traffic.input_volume is None
    mem = hw.memory[128]
    acc = lambda elements: math.ceil(elements * hw.data_res / hw.memory_bw)  # noqa: E731
    extra_nj = n_blocks * acc(volume) * mem.write_energy_nj
    got = fixed.fixed_point.memory_dynamic_nj[0] - none.fixed_point.memory_dynamic_nj[0]
    assert got == pytest.approx(extra_nj, rel=1e-9)
    # buffer: block c holds the input window of its pixels q0 = 4c .. q1 = q0 + ceil(4 / 2)
    need = []
    for c in range(n_blocks):
        q0 = 4 * c
        start, _ = _pixel_range(q0, 8, 3, 1, 1, 8)
        _, end = _pixel_range(q0 + 2, 8, 3, 1, 1, 8)
        need.append((end - start) * 3 / idiv)
    assert need[0] == 11 * 3  # pixels 0 .. (2 - 1) x 8 + 3 of the first two input rows
    dag, dag_none = fixed.prep.structures[0], none.prep.structures[0]
    np.testing.assert_array_equal(dag.input_need[:n_blocks] - dag_none.input_need[:n_blocks], need)
    np.testing.assert_array_equal(dag.input_need[n_blocks:], dag_none.input_need[n_blocks:])
    ana = prepare_analytic(CPF, hw, fixed.prep.batch, max_in_samples=EXACT, fixes=parse_fixes("input-load"))
    assert ana.samples.inbuf[0, 0] == max(need)


def test_input_window_follows_the_pixel_window_fix(hw):
    """With ``pixel-window`` the input, like any provider, is counted from the block's first
    pixel (0-based, MODEL.md Q25) instead of PIMSYN's pixel before it."""
    fixed, plain = run(CPF, hw, INPUT_REC, "input-load,pixel-window"), run(CPF, hw, INPUT_REC, "pixel-window")
    need = []
    for c in range(16):
        q = 4 * c + 1  # the block's first pixel, 1-based; 3x3 kernel, stride 1, pad 1 on 8x8
        r, col = (q - 1) // 8, (q - 1) % 8
        start = (r - 1) * 8 + max(0, col - 1) if r >= 1 else 0
        _, end = _pixel_range(4 * c + 2, 8, 3, 1, 1, 8)
        need.append((end - start) * 3)
    # block 2, output pixels (1, 0) and (1, 1): input rows 0-2 up to column 2, pixels 0..18
    assert need[2] == (2 * 8 + 3) * 3
    dag, dag_plain = fixed.prep.structures[0], plain.prep.structures[0]
    np.testing.assert_array_equal(dag.input_need[:16] - dag_plain.input_need[:16], need)
    ana = prepare_analytic(CPF, hw, fixed.prep.batch, max_in_samples=EXACT,
                           fixes=parse_fixes("input-load,pixel-window"))
    assert ana.samples.inbuf[0, 0] == max(need)


# ---- activations (Q2) ------------------------------------------------------------------------------

def test_fused_activation_costs_as_a_listed_one(hw):
    fused = tiny(conv("c1", 3, 16, 8, fused=["relu", "batchnorm"]), pool("p1", 16, 8, "c1"), fc("f1", 256, 10, "p1"))
    listed = tiny(conv("c1", 3, 16, 8, activations=["relu"], fused=["batchnorm"]), pool("p1", 16, 8, "c1"),
                  fc("f1", 256, 10, "p1"))
    rec = dict(REC, total_power_W=2, dup=[4])
    fixed = run(fused, hw, rec, "activations")
    assert fixed.prep.work[0, 0, RELU] == 4 * 16 / V  # dup x C / vfu_width per block (§5.2)
    assert RELU in fixed.prep.op_code[0, 0].tolist()
    assert run(fused, hw, rec, "none").prep.work[0, 0, RELU] == 0
    pd.testing.assert_frame_equal(fixed.frame, run(listed, hw, rec, "none").frame)
    pd.testing.assert_frame_equal(fixed.frame, run(listed, hw, rec, "activations").frame)
    # the real schedulers: same steps and capacity either way
    cy = [evaluate(net, hw, [dict(rec, total_power_W=20)], power_check="pimsyn", fixes="activations")
          for net in (fused, listed)]
    pd.testing.assert_frame_equal(cy[0], cy[1])


# ---- fixed-point (Q26) -----------------------------------------------------------------------------

def oscillating(steps_at=None):
    """A DAG (one design per call) whose buffer need alternates: the first asks 128 KB, then a
    round run with 128 KB asks 64 KB and one run with 64 KB asks 128 KB again (MODEL.md §11's
    64 <-> 128 loop); ``steps_at``: the steps of a round by its input capacity."""
    steps_at = steps_at or {128: 700, 64: 900}
    state = {"calls": 0}

    def scheduler(prep, idx, k_tran, k_ld, k_st, k_mrg):
        k_in = None if state["calls"] == 0 else (128 if state["calls"] % 2 == 1 else 64)
        state["calls"] += 1
        k_out = 128 if k_in in (None, 64) else 64
        n = len(idx)
        return Scheduled(np.full(n, "ok", dtype=object), np.full(n, steps_at.get(k_in, 1), dtype=np.int64),
                         np.full(n, ELEMENTS_128KB if k_out == 128 else ELEMENTS_128KB / 2),
                         np.zeros(n, dtype=np.int64))
    return scheduler


@pytest.mark.parametrize("shortcut", [True, False])
def test_unconverged_loop_takes_the_larger_capacity_whole(hw, monkeypatch, shortcut):
    monkeypatch.setattr(fixed_point, "CYCLE_SHORTCUT", shortcut)
    none = run(CPF, hw, INPUT_REC, "none", oscillating())
    fixed = run(CPF, hw, INPUT_REC, "fixed-point", oscillating())
    settled = run(CPF, hw, INPUT_REC, "none", fixed_need(700, ELEMENTS_128KB))  # a loop that converged at 128 KB
    sizes = sorted(hw.memory)
    # rounds read 128, 64, 128, ..., 64: PIMSYN ends on a round run with 64 KB, reports the
    # 128 KB it asked for and prices the memory at 64 KB (Q26)
    r = none.frame.iloc[0]
    assert (r.memory_capacity_kb, r.steps, r.fixed_point_rounds, r.fixed_point_converged) == (128, 900, 10, False)
    assert sizes[none.fixed_point.memory_row[0]] == 64
    # the fix keeps the round run with 128 KB: its steps, clock, units and memory, at 128 KB
    f = fixed.frame.iloc[0]
    assert (f.memory_capacity_kb, f.steps, f.fixed_point_converged) == (128, 700, False)
    assert sizes[fixed.fixed_point.memory_row[0]] == 128
    s = settled.frame.iloc[0]
    assert s.fixed_point_converged
    for col in ("clk_ns", "energy_nj", "energy_memory_dynamic_nj", "energy_memory_static_nj", "peak_power_w",
                "efficiency_gops_w", "memory_capacity_kb", "steps"):
        assert f[col] == s[col], col


def test_alexnet_oscillation_under_the_fix(alexnet, hw):
    """MODEL.md §11: the all-ones gene with d = 2 oscillates between 64 and 128 KB."""
    rec = dict(total_power_W=49, rram_ratio=0.3, rram_res=2, xbar_size=256, dac_res=2, macro_setting="specified",
               dup=[117, 26, 6, 6, 6], macro_num=[1] * 8, macro_share=[None] * 8)
    kw = dict(power_check="pimsyn")
    none = evaluate_full(alexnet, hw, [rec], **kw)
    cy = evaluate_full(alexnet, hw, [rec], fixes="fixed-point", **kw)
    an = evaluate(alexnet, hw, [rec], "analytic", fixes="fixed-point", **kw).iloc[0]
    assert not none.frame.fixed_point_converged[0] and none.frame.fixed_point_rounds[0] == 10
    r = cy.frame.iloc[0]
    assert (r.memory_capacity_kb, bool(r.fixed_point_converged)) == (128, False)
    assert sorted(hw.memory)[cy.fixed_point.memory_row[0]] == 128
    assert (an.memory_capacity_kb, bool(an.fixed_point_converged)) == (128, False)
    assert an.efficiency_gops_w == pytest.approx(r.efficiency_gops_w, rel=0.02)


# ---- min-capacity (Q21) ----------------------------------------------------------------------------

TINY_CONV_POOL_FC = dict(name="tiny", layers=[
    {"name": "c1", "kind": "conv", "in_channels": 3, "out_channels": 8, "in_hw": [8, 8], "out_hw": [8, 8],
     "kernel": [3, 3], "pads": [1, 1, 1, 1]},
    {"name": "p1", "kind": "pool", "in_channels": 8, "out_channels": 8, "in_hw": [8, 8], "out_hw": [4, 4],
     "kernel": [2, 2], "stride": [2, 2], "providers": ["c1"]},
    {"name": "f1", "kind": "fc", "in_channels": 128, "out_channels": 10, "in_hw": [1, 1], "out_hw": [1, 1],
     "providers": ["p1"]}])


@pytest.mark.parametrize("shortcut", [True, False])
def test_a_need_below_the_smallest_scratchpad_is_priced_as_that_scratchpad(hw, monkeypatch, shortcut):
    """A buffer need of 25,000 elements (50,000 B at 16 bits; 0.9 x that rounds up to 2^16 B =
    64 KB, §8.7) is the smallest scratchpad; a need of a quarter of that asks 16 KB, which has no
    table entry (PIMSYN: KeyError, Q21). Under the fix the smaller need gets the 64 KB scratchpad,
    so every figure is that of the 64 KB need, and the row says it was floored."""
    monkeypatch.setattr(fixed_point, "CYCLE_SHORTCUT", shortcut)
    sizes = sorted(hw.memory)
    assert sizes[0] == 64
    small, at_64 = ELEMENTS_128KB / 8, ELEMENTS_128KB / 2
    r = run(CPF, hw, INPUT_REC, "none", fixed_need(700, small)).frame.iloc[0]
    assert (bool(r.feasible), r.reason) == (False, "capacity_below_64kb (Q21)")
    floored = run(CPF, hw, INPUT_REC, "min-capacity", fixed_need(700, small))
    exact = run(CPF, hw, INPUT_REC, "min-capacity", fixed_need(700, at_64))
    f, e = floored.frame.iloc[0], exact.frame.iloc[0]
    assert bool(f.feasible) and f.memory_capacity_kb == 64 and bool(f.capacity_floored)
    assert sizes[floored.fixed_point.memory_row[0]] == 64
    assert bool(e.feasible) and not bool(e.capacity_floored)
    for col in ("clk_ns", "steps", "energy_nj", "energy_memory_dynamic_nj", "energy_memory_static_nj",
                "peak_power_w", "efficiency_gops_w", "memory_capacity_kb"):
        assert f[col] == e[col], col
    # a need the table holds is not touched by the fix
    pd.testing.assert_frame_equal(exact.frame.drop(columns=["fixes"], errors="ignore"),
                                  run(CPF, hw, INPUT_REC, "none", fixed_need(700, at_64)).frame
                                  .drop(columns=["fixes"], errors="ignore"))


def test_min_capacity_on_a_network_that_needs_less_than_64kb(hw):
    """MODEL.md Q21's refusal on a real tiny network (both schedulers): with the fix both
    evaluators return the design at 64 KB, flagged."""
    from fitness.network import Network

    net = Network.from_dict(TINY_CONV_POOL_FC)
    rec = dict(total_power_W=5, rram_ratio=0.3, rram_res=2, xbar_size=128, dac_res=1, macro_setting="specified",
               dup=[4], macro_num=[2, 1])
    for fidelity in ("cycle", "analytic"):
        none = evaluate(net, hw, [rec], fidelity, power_check="pimsyn").iloc[0]
        assert none.reason == "capacity_below_64kb (Q21)", fidelity
        fixed = evaluate(net, hw, [rec], fidelity, power_check="pimsyn", fixes="min-capacity").iloc[0]
        assert bool(fixed.feasible) and fixed.memory_capacity_kb == 64 and bool(fixed.capacity_floored), fidelity


# ---- switches and agreement on the reference networks --------------------------------------------

@pytest.fixture(scope="module")
def resnet18(reference_dir):
    return load_pimcomp(reference_dir / "networks" / "resnet18.json")


def _population(net, hw, n, seed):
    layout = genomes.GenomeLayout.build(net, hw, 49.0)
    return genomes.decode(layout, genomes.initial_population(layout, n, np.random.default_rng(seed)))


def _stage_view(prep, fix):
    """The quantity of a prepared batch that ``fix`` alone may change (the others leave it be)."""
    kind = prep.network.arrays.kind
    if fix == "fc":
        return prep.work[:, kind == 1][..., [DAC, ADC, SHIFTADD, ADDITION]]
    if fix == "min-power":  # the rule the fixed point applies, less PIMSYN's on the same inputs
        args = (prep.network, prep.work, prep.work_zeroed, prep.macros, prep.params)
        return minimum_power_for(*args, prep.fixes) - minimum_power_for(*args, frozenset())
    if fix == "eltwise-loads":
        return prep.traffic.ld[:, kind == 3]
    if fix == "pool-surplus":
        return prep.blocks
    if fix == "input-load":
        return (prep.traffic.input_volume is not None,
                [s.input_need[:s.blk_off[1]] if s else None for s in prep.structures])
    if fix == "activations":
        return prep.op_code
    raise AssertionError(fix)


@pytest.mark.parametrize("fix", [f for f in STAGE_FIXES if f != "fixed-point"])
def test_each_fix_acts_only_when_named(alexnet, resnet18, hw, fix):
    net = resnet18 if fix in ("eltwise-loads", "min-power") else alexnet
    batch = _population(net, hw, 12, seed=4)
    none = prepare(net, hw, batch)
    alone = prepare(net, hw, batch, fixes=parse_fixes(fix))
    others = prepare(net, hw, batch, fixes=frozenset(STAGE_FIXES) - {fix})

    def same(a, b):
        if isinstance(a, tuple):
            return a[0] == b[0] and all(np.array_equal(x, y) for x, y in zip(a[1], b[1]) if x is not None)
        return np.array_equal(a, b)

    assert same(_stage_view(others, fix), _stage_view(none, fix))
    assert not same(_stage_view(alone, fix), _stage_view(none, fix))


def test_fixed_point_fix_acts_only_when_named(hw):
    sizes = sorted(hw.memory)
    others = run(CPF, hw, INPUT_REC, frozenset(STAGE_FIXES) - {"fixed-point"}, oscillating())
    everything = run(CPF, hw, INPUT_REC, frozenset(STAGE_FIXES), oscillating())
    # without it, PIMSYN's ending: the last round's steps (run with 64 KB), priced at 64 KB
    assert (others.frame.steps[0], sizes[others.fixed_point.memory_row[0]]) == (900, 64)
    assert (everything.frame.steps[0], sizes[everything.fixed_point.memory_row[0]]) == (700, 128)


AGREEMENT_CASES = [(f, "alexnet") for f in STAGE_FIXES] + [("eltwise-loads", "resnet18"),
                                                           ("activations", "resnet18"),
                                                           (",".join(STAGE_FIXES), "alexnet"),
                                                           (",".join(STAGE_FIXES), "resnet18")]


@pytest.mark.parametrize("fixes,name", AGREEMENT_CASES)
def test_cycle_and_analytic_agree_under_the_fix(alexnet, resnet18, hw, fixes, name):
    net = {"alexnet": alexnet, "resnet18": resnet18}[name]
    batch = _population(net, hw, 40 if name == "alexnet" else 16, seed=9)
    kw = dict(fixes=fixes, power_check="pimsyn")
    cy = evaluate(net, hw, batch, **kw)
    an = evaluate_analytic(net, hw, batch, **kw)
    assert list(an.columns) == list(cy.columns)
    f_c, f_a = cy.feasible.to_numpy(), an.feasible.to_numpy()
    assert (f_c == f_a).mean() >= 0.9
    both = f_c & f_a
    assert both.sum() >= 4
    rel = np.abs(an.efficiency_gops_w[both].to_numpy() / cy.efficiency_gops_w[both].to_numpy() - 1)
    assert np.median(rel) <= 0.05 and rel.max() <= 0.3


def test_exact_analytic_on_unshared_designs_under_the_fixes(alexnet, hw):
    """Every block sampled, no sharing, no bubbles: the analytic model is the cycle model."""
    layout = genomes.GenomeLayout.build(alexnet, hw, 49.0)
    batch = genomes.decode(layout, genomes.random_genomes(layout, 60, np.random.default_rng(5), share_prob=0.0))
    kw = dict(fixes=",".join(STAGE_FIXES), power_check="pimsyn")
    cy = evaluate(alexnet, hw, batch, **kw)
    _, _, an = evaluate_analytic_full(alexnet, hw, batch, max_samples=EXACT, min_samples=EXACT, **kw)
    sel = cy.feasible.to_numpy() & (cy.bubbles.fillna(1).to_numpy() == 0)
    assert sel.sum() >= 4
    np.testing.assert_array_equal(an.steps[sel].to_numpy(), cy.steps[sel].to_numpy())
    np.testing.assert_allclose(an.efficiency_gops_w[sel], cy.efficiency_gops_w[sel], rtol=1e-9)
