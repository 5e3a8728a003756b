"""Stage-by-stage checks of the PIMSYN model against MODEL.md §11 (AlexNet, 49 W,
rho 0.3, r 2, X 256, d 1, dup [117, 26, 6, 6, 6], m [13, 13, 6, 6, 6 | 4, 4, 2])."""

import functools
import math

import numpy as np
import pytest

from fitness.crossbars import (adc_resolution, conv_budget, crossbar_sets, min_macro_size, row_blocks, slices,
                               total_crossbars)
from fitness import evaluate as _api
from fitness import export as _export
from fitness.fixed_point import run_cycle_dag
from fitness.memory import MemoryTable, capacity_kb, dynamic_energy_nj, load_store_latency_ns
from fitness.oplist import ADC, ADDITION, DAC, POOL_OP, SHIFTADD
from fitness.workload import allocate, clock_ns, cycles, minimum_power

pytestmark = pytest.mark.golden

BASE = dict(id="ex11", total_power_W=49, rram_ratio=0.3, rram_res=2, xbar_size=256, dac_res=1,
            macro_setting="specified", dup=[117, 26, 6, 6, 6], macro_num=[13, 13, 6, 6, 6, 4, 4, 2],
            macro_share=[None] * 8)
# MODEL.md's worked example is PIMSYN's: its design draws a little more peak power than the
# budget, which PIMSYN never re-checks, so these checks score with PIMSYN's verdict
architecture, evaluate, evaluate_full, schedule = (functools.partial(f, power_check="pimsyn") for f in (
    _export.architecture, _api.evaluate, _api.evaluate_full, _export.schedule))
CONV1, POOL1, CONV2, POOL2, CONV3, CONV4, CONV5, POOL3, AVGPOOL, FC1, FC2, FC3 = range(12)


@pytest.fixture(scope="module")
def ex(alexnet, hw):
    return evaluate_full(alexnet, hw, [BASE])


def test_adc_resolution_table():
    expected = {128: [7, 8, 10, 8, 10, 12, 10, 12, 14], 256: [8, 9, 11, 9, 11, 13, 11, 13, 15],
                512: [9, 10, 12, 10, 12, 14, 12, 14, 16]}
    for x, row in expected.items():
        d = np.repeat([1, 2, 4], 3)
        r = np.tile([1, 2, 4], 3)
        assert adc_resolution(np.full(9, x), d, r).tolist() == row


def test_crossbars(alexnet, hw):
    x, s = np.array([256]), slices(16, np.array([2]))
    sets = crossbar_sets(alexnet, x, s)[0]
    mvm = alexnet.mvm_indices
    assert sets[mvm].tolist() == [16, 56, 112, 112, 72, 4608, 2048, 512]
    n_xb = total_crossbars([49], [0.3], hw.rram[(256, 2)].peak_power_w)
    assert n_xb.tolist() == [12250]
    n_conv, ok = conv_budget(alexnet, n_xb, sets[None, :])
    assert n_conv.tolist() == [5082] and ok.all()
    lim = np.array([117, 26, 6, 6, 6, 1, 1, 1]) * row_blocks(alexnet, x)[0, mvm]
    assert lim.tolist() == [234, 182, 42, 84, 54, 36, 16, 16]
    assert min_macro_size(alexnet, x, s)[0, mvm].tolist() == [8, 8, 16, 8, 8, 128, 128, 32]


def test_blocks_macros_and_split_factors(ex):
    p = ex.prep
    assert p.blocks[0, [CONV1, CONV2, CONV3, CONV4, CONV5]].tolist() == [26, 29, 29, 29, 29]
    assert p.blocks[0, [POOL1, POOL2, POOL3, AVGPOOL]].tolist() == [26, 29, 29, 29]
    assert p.dup[0, [POOL1, POOL2, POOL3, AVGPOOL]].tolist() == [29, 6, 2, 2]
    assert p.blocks[0, [FC1, FC2, FC3]].tolist() == [1, 1, 1]
    assert p.macros.n_macros.tolist() == [54]
    assert (p.macros.grid_rows[0], p.macros.grid_cols[0]) == (8, 7)
    mvm = [CONV1, CONV2, CONV3, CONV4, CONV5, FC1, FC2, FC3]
    assert list(zip(p.idiv[0, mvm], p.ddiv[0, mvm])) == [(1, 13), (1, 13), (1, 6), (1, 6), (1, 6), (4, 1), (4, 1), (2, 1)]


def test_layout_hops_and_delays(ex):
    p = ex.prep
    lay = p.layouts[0]
    conv1 = [tuple(c) for c in lay.macro_cells(CONV1)]
    assert conv1 == [(0, c) for c in range(7)] + [(1, c) for c in range(6, 0, -1)]
    assert tuple(lay.merge[CONV1]) == (1, 1) and tuple(lay.merge[POOL1]) == (1, 1)
    assert [tuple(c) for c in lay.macro_cells(CONV2)] == [(1, 0)] + [(2, c) for c in range(7)] + [(3, c) for c in range(6, 1, -1)]
    assert tuple(lay.merge[CONV2]) == (3, 2)
    assert [tuple(c) for c in lay.macro_cells(CONV3)] == [(3, 1), (3, 0), (4, 0), (4, 1), (4, 2), (4, 3)]
    assert tuple(lay.merge[FC3]) == (7, 2)
    mvm = [CONV1, CONV2, CONV3, CONV4, CONV5, FC1, FC2, FC3]
    assert lay.transfer_hops[mvm].tolist() == [0, 7, 3, 4, 5, 4, 2, 2]
    assert lay.merge_hops[mvm].tolist() == [6, 5, 4, 3, 3, 3, 3, 1]
    pairs = {(a // 2, a % 2, b // 2, b % 2) for a, b in zip(*np.nonzero(lay.noc_conflict)) if a < b}
    assert pairs == {(l, 0, l, 1) for l in mvm[1:]}  # the 7 same-layer TRAN/MRG pairs
    assert p.tran_ns[0, mvm[1:]].tolist() == [119, 195, 388, 261, 580, 258, 514]
    assert p.mrg_ns[0, mvm].tolist() == [150, 101, 100, 67, 67, 1027, 1027, 251]


def test_first_dag(ex, alexnet):
    p = ex.prep
    first = np.array([100.0])
    ones = np.ones(len(alexnet), dtype=np.int64)
    status, steps, elements, bubbles, *_ = run_cycle_dag(p, 0, cycles(p.tran_ns[:1], first)[0], ones, ones,
                                                       cycles(p.mrg_ns[:1], first)[0])
    assert (status, steps, elements) == (0, 925, 18048 + 18560)
    assert capacity_kb(elements, 16) == 128


def test_round_one_workloads_allocation_and_clock(ex, alexnet, hw):
    p = ex.prep
    w = p.work[0]
    assert w[CONV1, [DAC, ADC, SHIFTADD, ADDITION]].tolist() == [339768, 479232, 14976, 58.5]
    assert w[CONV2, [DAC, ADC, SHIFTADD, ADDITION]].tolist() == [332800, 372736, 11648, 45.5]
    assert w[CONV5, [DAC, ADC, SHIFTADD, ADDITION]].tolist() == [110592, 110592, 3456, 13.5]
    assert w[FC1, [DAC, ADC, SHIFTADD, ADDITION]].tolist() == [100, 100, 100, 1]
    assert w[FC3, [DAC, ADC, SHIFTADD, ADDITION]].tolist() == [100, 100, 41, 1]
    assert w[[POOL1, POOL2, POOL3, AVGPOOL], POOL_OP].tolist() == [58, 36, 16, 16]

    table = MemoryTable.from_hardware(hw)
    row = table.index([128])
    t_ld, t_st = load_store_latency_ns(p.traffic, hw, table, row)
    assert t_ld[0, CONV1] == pytest.approx(409 * 0.710882)
    assert t_ld[0, [CONV1, POOL1, CONV2, FC1]] == pytest.approx([290.75, 185.54, 284.35, 3275.74], abs=0.01)
    assert t_st[0, [CONV1, POOL1, CONV2, FC1]] == pytest.approx([6.40, 20.62, 4.27, 45.50], abs=0.01)
    assert dynamic_energy_nj(p.traffic, p.blocks, hw, table, row)[0] == pytest.approx(37048.38, abs=0.01)

    p_comp = p.max_power_w - table.leak_w[row] * 54 - hw.noc_power_w
    assert p_comp[0] == pytest.approx(32.740106, abs=1e-6)
    assert minimum_power(alexnet, p.work, p.macros.combined, p.params)[0] == pytest.approx(4.482120, abs=1e-6)
    alloc = allocate(alexnet, p.work_zeroed, p.macros.combined, p.params, p_comp, p.batch.unified)
    assert alloc.target_ns[0] == pytest.approx(104.1684, abs=1e-4)
    u = alloc.units[0]
    assert u[[CONV1, CONV2, CONV3, CONV4, CONV5], ADC].tolist() == [4601, 3579, 1652, 1652, 1062]
    assert u[[CONV1, CONV2, CONV3, CONV4, CONV5], SHIFTADD].tolist() == [576, 448, 207, 207, 133]
    assert u[[CONV1, CONV2, CONV3, CONV4, CONV5], ADDITION].tolist() == [6, 5, 2, 3, 2]
    assert u[[FC1, FC2, FC3], ADC].tolist() == [1, 1, 1] and u[[FC1, FC2, FC3], SHIFTADD].tolist() == [4, 4, 2]
    assert u[[POOL1, POOL2, POOL3, AVGPOOL], POOL_OP].tolist() == [12, 7, 4, 4]
    clk = clock_ns(alloc.clk_ir_ns)
    assert clk[0] == 479232 / 4601 == pytest.approx(104.1582, abs=1e-4)
    k_ld, k_st = cycles(t_ld, clk)[0], cycles(t_st, clk)[0]
    assert k_ld[[CONV1, CONV2, CONV3, CONV4, CONV5, POOL1, POOL2, POOL3, AVGPOOL, FC1, FC2, FC3]].tolist() == \
        [3, 3, 3, 3, 2, 2, 2, 1, 1, 32, 14, 7]
    assert (k_st == 1).all()
    assert cycles(p.tran_ns[:1], clk)[0, [CONV2, CONV3, CONV4, CONV5, FC1, FC2, FC3]].tolist() == [2, 2, 4, 3, 6, 3, 5]
    assert cycles(p.mrg_ns[:1], clk)[0, [CONV1, CONV2, CONV3, CONV4, CONV5, FC1, FC2, FC3]].tolist() == \
        [2, 1, 1, 1, 1, 10, 10, 3]


def test_worked_example_result(ex):
    r = ex.frame.iloc[0]
    assert r.feasible and r.reason == "ok"
    assert (r.steps, r.bubbles, r.memory_capacity_kb, r.fixed_point_rounds) == (1057, 1, 128, 1)
    assert r.latency_ns == pytest.approx(110095.245, abs=1e-3)
    assert r.energy_adc_nj == pytest.approx(345396.3 + 1166550.4, abs=0.2)
    assert r.energy_dac_nj == pytest.approx(98225.7 + 4659.5, abs=0.2)
    assert r.energy_shiftadd_nj == pytest.approx(3481.2 + 5833.9, abs=0.2)
    assert r.energy_addition_nj == pytest.approx(46.2 + 3.3, abs=0.1)
    assert r.energy_pool_nj == pytest.approx(59.5 + 55.7, abs=0.1)
    assert r.energy_components_nj == pytest.approx(1624311.8, abs=0.1)
    assert r.energy_crossbars_nj == pytest.approx(420584.2, abs=0.1)
    assert r.energy_memory_dynamic_nj == pytest.approx(37048.4, abs=0.1)
    assert r.energy_memory_static_nj == pytest.approx(160287.0, abs=0.1)
    assert r.energy_noc_nj == pytest.approx(11449.9, abs=0.1)
    assert r.energy_nj == pytest.approx(2253681.3, abs=0.1)
    assert r.ops == 1428376960
    assert r.efficiency_gops_w == pytest.approx(633.7972297, abs=1e-7)
    assert r.throughput_ips == pytest.approx(1e9 / r.latency_ns)
    assert r.area_mm2 > 0 and r.peak_power_w > 0


def test_variations(alexnet, hw):
    lim, mu = [234, 182, 42, 84, 54, 36, 16, 16], [8, 8, 16, 8, 8, 128, 128, 32]

    def unified_counts(s):
        return [math.ceil(l / math.ceil(s / u)) for l, u in zip(lim, mu)]

    assert unified_counts(128) == [15, 12, 6, 6, 4, 36, 16, 4]
    designs = [dict(BASE, macro_setting="unified")]
    designs += [dict(BASE, macro_setting="unified", macro_num=unified_counts(s)) for s in (128, 256, 512)]
    designs += [dict(BASE, macro_share=[None, None, None, None, 2, None, None, None]),
                dict(BASE, macro_share=[None, None, None, None, 1, None, None, None]),
                dict(BASE, dac_res=2, macro_num=[1] * 8), dict(BASE, dac_res=4)]
    ev = evaluate_full(alexnet, hw, designs)
    f = ev.frame
    eff = f.efficiency_gops_w.tolist()
    assert eff[:7] == pytest.approx([586.26, 501.04, 499.38, 444.80, 591.28, 610.47, 336.65], abs=0.01)
    # unified: per-macro maximum x M everywhere, same clock and steps
    u = ev.fixed_point.units[0]
    assert u[[CONV1, CONV2], ADC].tolist() == [4602, 4602] and u[FC1, ADC] == 1416
    assert (f.clk_ns[0], f.steps[0]) == (pytest.approx(104.158226, abs=1e-6), 1057)
    # conv5 shares with conv3 (gene position 2): M = 12 for both, its ADCs are borrowed
    assert ev.prep.macros.combined[4, [CONV3, CONV5]].tolist() == [12, 12]
    assert f.steps[4] == 1329 and f.clk_ns[4] == 100.0
    assert ev.prep.macros.combined[5, [CONV2, CONV5]].tolist() == [19, 19]
    assert f.fixed_point_rounds[6] == 10  # the 64 <-> 128 KB oscillation (Q26)
    assert not f.feasible[7] and f.reason[7] == "mini_power_ge_component_power" and not f.crashed[7]


def test_crash_cases_return_rows(alexnet, hw):
    designs = [dict(BASE, macro_share=[None, 1, None, None, None, None, None, None]),  # self partner (Q7)
               dict(BASE, macro_share=[None, 3, None, None, None, None, None, None]),  # later partner (Q7)
               dict(BASE, macro_num=[0, 13, 6, 6, 6, 4, 4, 2])]
    f = evaluate(alexnet, hw, designs)
    assert (~f.feasible).all() and f.crashed.all()
    assert f.reason.tolist()[:2] == ["share_partner_not_earlier (Q7)"] * 2
    assert (f.efficiency_gops_w == 0).all()


def test_fidelity_argument(alexnet, hw):
    with pytest.raises(ValueError, match="fidelity"):
        evaluate(alexnet, hw, [BASE], fidelity="exact")


def test_architecture_format(alexnet, hw, reference_dir):
    import json

    ref = json.loads((reference_dir / "outputs" / "alexnet.json").read_text())
    rec = dict(BASE, macro_setting="unified", dup=[119, 26, 6, 6, 6], macro_num=[11, 10, 5, 5, 3, 18, 8, 4])
    arch = architecture(alexnet, hw, rec)
    assert list(arch) == list(ref)
    for key, value in ref.items():
        if isinstance(value, dict):
            assert list(arch[key]) == list(value)
    conv1 = arch["/features/features.0/Conv_output_0"]
    assert conv1["macro_sharing"] == "None" and conv1["macro_num"] == 11 and conv1["macro_size"] == 256
    spec = architecture(alexnet, hw, BASE)
    assert spec["power_efficiency"] == pytest.approx(633.7972297, abs=1e-7)
    assert spec["/features/features.0/Conv_output_0"]["macro_size"] == 117 * 16 // 13
    assert spec["/features/features.0/Conv_output_0"]["ADC"] == math.ceil(4601 / 13)
    assert spec["/features/features.2/MaxPool_output_0"] == {"duplication": 29, "POOL": 12}
    shared = architecture(alexnet, hw, dict(BASE, macro_share=[None, None, None, None, 2, None, None, None]))
    assert shared["/features/features.10/Conv_output_0"]["macro_sharing"] == "/features/features.6/Conv_output_0"


def test_schedule_export(alexnet, hw):
    s = schedule(alexnet, hw, BASE)
    assert list(s.columns) == ["layer", "block", "op", "bit", "macros", "start_step", "end_step"]
    assert s.start_step.max() + 1 == 1057
    assert (s.end_step >= s.start_step).all()
    dac = s[s.op == "DAC"].iloc[0]
    assert dac.bit == "0-15" and dac.end_step - dac.start_step == 15
    assert s.iloc[0].op == "LD" and s.iloc[0].start_step == 0
    assert s.iloc[0].macros.split(";")[0] == "0,0"
    from fitness.errors import InputError

    with pytest.raises(InputError, match="infeasible"):
        schedule(alexnet, hw, dict(BASE, dac_res=4))


def test_capacity_below_64kb_is_a_refusal(hw):
    from fitness.network import Network

    net = Network.from_dict({"name": "tiny", "layers": [
        {"name": "c1", "kind": "conv", "in_channels": 3, "out_channels": 8, "in_hw": [8, 8], "out_hw": [8, 8],
         "kernel": [3, 3], "pads": [1, 1, 1, 1]},
        {"name": "p1", "kind": "pool", "in_channels": 8, "out_channels": 8, "in_hw": [8, 8], "out_hw": [4, 4],
         "kernel": [2, 2], "stride": [2, 2], "providers": ["c1"]},
        {"name": "f1", "kind": "fc", "in_channels": 128, "out_channels": 10, "in_hw": [1, 1], "out_hw": [1, 1],
         "providers": ["p1"]}]})
    rec = dict(total_power_W=5, rram_ratio=0.3, rram_res=2, xbar_size=128, dac_res=1, macro_setting="specified",
               dup=[4], macro_num=[2, 1])
    r = evaluate(net, hw, [rec]).iloc[0]
    assert (r.feasible, r.crashed, r.reason) == (False, True, "capacity_below_64kb (Q21)")
    assert len(evaluate(net, hw, [])) == 0
