"""The scheduler's model fixes (fitness.fixes: final-op, live-window, pixel-window, non-square)
in the cycle scheduler and the analytic recurrence.

Each fix is checked on a tiny network whose expected steps, buffer need or block mapping
the test derives by hand from MODEL.md's rules (§8.2 delays, §8.3 block mapping, §8.7
windows), with and without the fix; then the two evaluators are checked to agree under
each fix, and the fixes that only matter for some maps to change nothing elsewhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fitness.analytic.evaluate import evaluate_analytic
from fitness.analytic.prepare import prepare_analytic
from fitness.analytic.recurrence import run_recurrence
from fitness.cycle_sched import bit_level_table, schedule
from fitness.depcb import first_pixel, map_shape, pixel_range, window_start
from fitness.evaluate import as_batch, evaluate
from fitness.fixed_point import run_cycle_dag
from fitness.network import Network
from fitness.oplist import OP_NAMES
from fitness.prepare import prepare

pytestmark = pytest.mark.unit

genomes = pytest.importorskip("genomes")

EXACT = 10**9  # every block sampled: the recurrence is exact without conflicts
SCHED_FIXES = ("final-op", "live-window", "pixel-window", "non-square")
COMMON = dict(total_power_W=5, rram_ratio=0.3, rram_res=2, xbar_size=128, dac_res=1, macro_setting="specified")


def conv(name, c_in, c_out, hw_in, hw_out, kernel, stride=(1, 1), pads=(0, 0, 0, 0), providers=()):
    return {"name": name, "kind": "conv", "in_channels": c_in, "out_channels": c_out, "in_hw": list(hw_in),
            "out_hw": list(hw_out), "kernel": list(kernel), "stride": list(stride), "pads": list(pads),
            "providers": list(providers)}


def both_models(network, hw, design, fixes, k_ld=1, k_st=1):
    """(cycle scheduler result, analytic recurrence result, cycle preparation) of one design
    with fixed cycle counts (TRAN and MRG 1 cycle) and every block sampled."""
    batch = as_batch(network, [design])
    prep = prepare(network, hw, batch, fixes=fixes)
    assert prep.status[0] == "ok", prep.status[0]
    n_layer = len(network)
    kt, kl, ks, km = (np.full(n_layer, k, dtype=np.int64) for k in (1, k_ld, k_st, 1))
    cyc = run_cycle_dag(prep, 0, kt, kl, ks, km)
    ana = prepare_analytic(network, hw, batch, max_samples=EXACT, max_in_samples=EXACT, min_samples=EXACT,
                           fixes=fixes)
    tm = run_recurrence(network, ana.samples, np.array([0]), ana.op_code, ana.n_ops, ana.bits, ana.dup, ana.blocks,
                        ana.prov, ana.cons, kt[None], kl[None], ks[None], km[None], ana.macros.partner, fixes=fixes)
    return cyc, tm, prep


def op_names(prep, layer):
    return [OP_NAMES[c] for c in prep.op_code[0, layer, :prep.n_ops[0, layer]]]


# ---- final-op (Q22) ------------------------------------------------------------------------


def test_final_op_counts_the_last_cycles_of_the_last_op(hw):
    """One conv layer, one block (dup = its 4 pixels), ops LD DAC ADC SHIFTADD ADDITION ST.
    From §8.2 the block's op k starts at the sum of the dop before it: LD 0, DAC k_LD,
    ADC k_LD + 1, SHIFTADD k_LD + 2, ADDITION k_LD + 2 + B (SHIFTADD -> ADDITION waits for
    all B bits), ST k_LD + 3 + B; the last bits of the bit-level chains start earlier
    (SHIFTADD's at k_LD + 1 + B). PIMSYN's steps are the last start + 1; with final-op the
    ST's k_ST cycles run to the end."""
    net = Network.from_dict({"name": "one", "layers": [conv("c", 3, 16, (2, 2), (2, 2), (3, 3), pads=(1, 1, 1, 1))]})
    design = dict(COMMON, dup=[4], macro_num=[1])
    k_ld, k_st = 3, 5
    for fixes in ("none", "final-op"):
        cyc, tm, prep = both_models(net, hw, design, fixes, k_ld=k_ld, k_st=k_st)
        assert op_names(prep, 0) == ["LD", "DAC", "ADC", "SHIFTADD", "ADDITION", "ST"]
        assert prep.blocks[0, 0] == 1
        bits = int(prep.bits[0])
        st_start = k_ld + 3 + bits
        expected = st_start + 1 if fixes == "none" else st_start + k_st
        assert cyc[1] == expected and tm.steps[0] == expected, fixes


# ---- live-window (Q24) ---------------------------------------------------------------------


def test_live_window_keeps_the_slowest_consumers_window(hw):
    """P (4x4, 32 channels, one pixel per block) feeds A (1x1 conv, follows P block by block)
    and B (4x4 conv over the whole map: its one block needs P's last pixel, so it reads
    only after P's last ST). PIMSYN's window start is the latest consumer's (Q24): A's
    (close behind P) until B's LD sets it to pstart(0; P, B), pixel 1 (row(0) = 1 and
    col(0) = W_B = 1, §8.3/§8.7), when all 16 pixels are stored: 15 x 32 = 480. With
    live-window B has not read anything when P stores its last pixel, so the window is
    all 16 pixels: 16 x 32 = 512. No other layer needs more: A at most one input pixel
    x 32 plus its 16 x 4 outputs; B (2 macros, one duplicate: its input split in 2) 15 x 32
    / 2 = 240 plus its 8 outputs."""
    net = Network.from_dict({"name": "fork", "layers": [
        conv("P", 3, 32, (4, 4), (4, 4), (3, 3), pads=(1, 1, 1, 1)),
        conv("A", 32, 4, (4, 4), (4, 4), (1, 1), providers=["P"]),
        conv("B", 32, 8, (4, 4), (1, 1), (4, 4), providers=["P"])]})
    design = dict(COMMON, dup=[1, 1, 1], macro_num=[1, 1, 2])
    c_p, pixels, b_start = 32, 16, 1
    # PIMSYN's pixel helpers (§8.7) agree: block 0 of B reads P's pixels from 1 to 16
    assert pixel_range(0, 0, 4, 4, 1, 1, 0, 0, 1, 4, 4, 16) == (b_start, pixels)
    expected = {"none": (pixels - b_start) * c_p, "live-window": pixels * c_p}
    for fixes, elements in expected.items():
        cyc, tm, prep = both_models(net, hw, design, fixes)
        assert prep.idiv[0, 2] == 2
        assert cyc[2] == elements and tm.elements[0] == elements, fixes


# ---- pixel-window (Q25) --------------------------------------------------------------------


def test_pixel_window_starts_at_a_blocks_first_pixel():
    """A 3x3 stride-2 consumer with top/left padding 1 on an 8x8 provider (4x4 output), one
    pixel per block. Block c covers output pixel c (0-based row r = c // 4, column s =
    c % 4), which reads input rows from 2r - 1 and columns from 2s - 1 (clipped at 0); its
    window starts at that pixel's 0-based index, or at 0 while row 2r - 1 is padding.
    PIMSYN feeds the pixel *before* the block (dup x c) to its 1-based helpers (Q25): up to
    c = 4 that pixel is in output row 0, whose first input row is padding (start 0); from
    c = 5 on the start is that pixel's first input pixel counted from 1, (2 r - 1) x 8 + 2 s
    for its 0-based row r and column s (one column early, and 2 s rather than 2 s - 1)."""
    geometry = dict(kind_l=0, kh=3, kw=3, sh=2, sw=2, ph=1, pw=1)
    cols_l, _, rows_p, cols_p = map_shape(4, 4, 8, 8, False)

    def fixed(c):
        r, s = divmod(c, 4)
        row = 2 * r - 1
        return row * 8 + max(0, 2 * s - 1) if row >= 0 else 0

    def pimsyn(c):
        if c <= 4:
            return 0
        r1, s1 = divmod(c - 1, 4)  # 0-based row and column of the previous pixel
        return (2 * r1 - 1) * 8 + 2 * s1

    args = (geometry["kind_l"], geometry["kh"], geometry["kw"], geometry["sh"], geometry["sw"], geometry["ph"],
            geometry["pw"], cols_l, rows_p, cols_p, 64)
    for c in range(16):
        assert window_start(c, 1, *args, True) == fixed(c), c
        assert window_start(c, 1, *args, False) == pimsyn(c), c
        assert first_pixel(c + 1, 0, 2, 2, 1, 1, cols_l, cols_p) == fixed(c)
    # an element-wise consumer (kind 3) reads pixel for pixel, its block c from pixel 3 c
    # (dup 3): both agree, PIMSYN's two offsets cancel
    for c in range(5):
        assert window_start(c, 3, 3, 0, 0, 1, 1, 0, 0, 4, 4, 4, 16, True) == 3 * c
        assert window_start(c, 3, 3, 0, 0, 1, 1, 0, 0, 4, 4, 4, 16, False) == 3 * c


def test_pixel_window_input_need_covers_the_whole_block(hw):
    """P (4x4, 32 channels) feeds L, a 2x2 stride-2 conv (2x2 output, 8 channels) whose one
    block holds its 4 pixels (dup 4). That block reads all 16 input pixels: with
    pixel-window its input need is (pend(4) - 0) x 32 = 16 x 32 = 512, pend(4) = (4 - 1) x
    4 + 4 = 16 (§8.7). PIMSYN starts the window at pstart(0) = pixel 3 (the end of row 1
    for a stride-2, 2-wide row, Q25): (16 - 3) x 32 = 416. The buffer need: P's window
    before L's first LD starts at 0 and holds all 16 pixels (512); L's need is its input
    plus its own 4 x 8 outputs: 416 + 32 (PIMSYN) or 512 + 32."""
    net = Network.from_dict({"name": "stride", "layers": [
        conv("P", 3, 32, (4, 4), (4, 4), (3, 3), pads=(1, 1, 1, 1)),
        conv("L", 32, 8, (4, 4), (2, 2), (2, 2), stride=(2, 2), providers=["P"])]})
    design = dict(COMMON, dup=[1, 4], macro_num=[1, 1])
    expected = {"none": (416.0, max(512.0, 416.0 + 32)), "pixel-window": (512.0, 512.0 + 32)}
    for fixes, (need, elements) in expected.items():
        cyc, tm, prep = both_models(net, hw, design, fixes)
        dag = prep.structures[0]
        assert dag.input_need[dag.blk_off[1]] == need, fixes
        assert cyc[2] == elements and tm.elements[0] == elements, fixes


# ---- non-square (Q1) -----------------------------------------------------------------------


def test_non_square_maps_rows_and_columns(hw):
    """P: 2 rows x 4 columns, one pixel per block. Q, a 2x2 stride-2 pool, has 1 x 2 outputs,
    one per block. Read as they are, Q's block 0 (output (0, 0)) needs P's rows 0-1 and
    columns 0-1, whose last pixel is (2 - 1) x 4 + 2 = 6 (1-based raster), and block 1
    (output (0, 1)) columns 2-3, pixel 8: parent blocks 5 and 7 (§8.3). PIMSYN reads Q as
    1 x 1 (W = output_dim[2] = 1): q = min(1 x 1, c + 1) = 1 for both blocks, row 1 column 1,
    and P as 2 x 2: pixel (2 - 1) x 2 + 2 = 4, parent block 3 for both (Q1)."""
    net = Network.from_dict({"name": "wide", "layers": [
        conv("P", 3, 16, (2, 4), (2, 4), (3, 3), pads=(1, 1, 1, 1)),
        {"name": "Q", "kind": "pool", "in_channels": 16, "out_channels": 16, "in_hw": [2, 4], "out_hw": [1, 2],
         "kernel": [2, 2], "stride": [2, 2], "providers": ["P"]}]})
    design = dict(COMMON, dup=[1], macro_num=[1])
    for fixes, parents in (("none", [3, 3]), ("non-square", [5, 7])):
        cyc, tm, prep = both_models(net, hw, design, fixes)
        dag = prep.structures[0]
        assert dag.parent_block.tolist() == parents, fixes
        ana = prepare_analytic(net, hw, as_batch(net, [design]), max_samples=EXACT, min_samples=EXACT, fixes=fixes)
        column = ana.samples.slot_off[0, 0]
        assert ana.samples.dep_j[column:column + 2].tolist() == parents, fixes
        assert cyc[1] == tm.steps[0]
    # Q's last block now waits for P's last block: it starts after P's last ST, later than before
    assert both_models(net, hw, design, "non-square")[0][1] > both_models(net, hw, design, "none")[0][1]


def test_non_square_changes_nothing_on_square_maps(alexnet, hw):
    layout = genomes.GenomeLayout.build(alexnet, hw, 49.0)
    batch = genomes.decode(layout, genomes.initial_population(layout, 40, np.random.default_rng(3)))
    pd.testing.assert_frame_equal(evaluate(alexnet, hw, batch, fixes="non-square"), evaluate(alexnet, hw, batch))
    pd.testing.assert_frame_equal(evaluate_analytic(alexnet, hw, batch, fixes="non-square"),
                                  evaluate_analytic(alexnet, hw, batch))


# ---- cycle and analytic under the fixes ----------------------------------------------------


@pytest.mark.parametrize("fixes", SCHED_FIXES + (",".join(SCHED_FIXES),))
def test_recurrence_steps_exact_under_the_fix(reference_dir, hw, fixes):
    """Unshared designs, every block sampled, NoC conflicts off: the recurrence's steps equal
    the cycle scheduler's under each fix, as without."""
    from fitness.pimcomp import load_pimcomp

    net = load_pimcomp(reference_dir / "networks" / "resnet18.json")
    layout = genomes.GenomeLayout.build(net, hw, 49.0)
    batch = genomes.decode(layout, genomes.random_genomes(layout, 40, np.random.default_rng(3), share_prob=0.0))
    prep = prepare(net, hw, batch, fixes=fixes)
    ana = prepare_analytic(net, hw, batch, max_samples=EXACT, max_in_samples=EXACT, min_samples=EXACT, fixes=fixes)
    idx = np.flatnonzero((prep.status == "ok") & (ana.status == "ok"))
    assert len(idx) >= 10
    rng = np.random.default_rng(0)
    kt, kl, ks, km = (rng.integers(1, 5, (len(idx), len(net))) for _ in range(4))
    tm = run_recurrence(net, ana.samples, idx, ana.op_code, ana.n_ops, ana.bits, ana.dup, ana.blocks, ana.prov,
                        ana.cons, kt, kl, ks, km, ana.macros.partner, fixes=fixes)
    no_noc = np.zeros((2 * len(net),) * 2, dtype=bool)
    no_adc = np.zeros((len(net),) * 2, dtype=bool)
    for i, b in enumerate(idx):
        st = prep.structures[b]
        out = schedule(prep.op_code[b], prep.n_ops[b], prep.blocks[b], int(prep.bits[b]), kt[i], kl[i], ks[i], km[i],
                       prep.prov[0], prep.prov[1], net.arrays.out_channels, prep.dup[b], st.blk_off, st.ps_off,
                       st.window_start, st.input_need, st.child_ptr, st.child_blk, no_adc, no_noc,
                       bit_level_table(), "final-op" in prep.fixes, "live-window" in prep.fixes)
        assert tm.steps[i] == out[1], (fixes, int(b))


@pytest.mark.parametrize("fixes", SCHED_FIXES + (",".join(SCHED_FIXES),))
def test_analytic_agrees_with_cycle_under_the_fix(alexnet, hw, fixes):
    layout = genomes.GenomeLayout.build(alexnet, hw, 49.0)
    batch = genomes.decode(layout, genomes.initial_population(layout, 100, np.random.default_rng(21)))
    cy = evaluate(alexnet, hw, batch, fixes=fixes, power_check="pimsyn")
    an = evaluate_analytic(alexnet, hw, batch, fixes=fixes, power_check="pimsyn")
    assert (an["feasible"].to_numpy() == cy["feasible"].to_numpy()).mean() >= 0.95
    both = an["feasible"].to_numpy() & cy["feasible"].to_numpy()
    assert both.sum() >= 30
    e_c, e_a = cy["efficiency_gops_w"][both].to_numpy(), an["efficiency_gops_w"][both].to_numpy()
    rel = np.abs(e_a / e_c - 1)
    assert np.median(rel) <= 0.05 and np.percentile(rel, 95) <= 0.3
    rho = np.corrcoef(pd.Series(e_c).rank(), pd.Series(e_a).rank())[0, 1]
    assert rho >= 0.95
