"""GenomeLayout tables and the deterministic parts of repair, init and the operators."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fitness.design import legality_mask
from fitness.errors import InputError
from fitness.network import Layer, Network
from fitness.pimcomp import load_pimcomp
from genomes import GenomeLayout, crossover, decode, encode, initial_population, mutate, random_genomes, repair
from genomes.init import screening_genomes, seed_genomes
from genomes.layout import DAC_RES, MACRO_SIZE, RATIO, RRAM_RES, XBAR
from genomes.operators import block_swap_mask
from genomes.repair import dup_window

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def vgg16(reference_dir):
    return load_pimcomp(reference_dir / "networks" / "vgg16.json")


def tiny_network(fc_out: int = 10) -> Network:
    """Two small convs (4x4 and 2x2 outputs) and an fc: a big budget cannot be filled."""
    return Network(
        name="tiny",
        layers=(
            Layer(name="c1", kind="conv", in_channels=3, out_channels=16, in_hw=(8, 8), out_hw=(4, 4), kernel=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1)),
            Layer(name="c2", kind="conv", in_channels=16, out_channels=16, in_hw=(4, 4), out_hw=(2, 2), kernel=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1),
                  providers=(0,)),
            Layer(name="fc", kind="fc", in_channels=64, out_channels=fc_out, in_hw=(1, 1), out_hw=(1, 1), providers=(1,)),
        ),
        input_shape=(3, 8, 8),
    )


def genome(layout, *, ratio, x, r, d, dup=None, macros=None, share=None, size=0):
    g = np.array(layout.lower, dtype=np.int64)
    g[RATIO] = int(np.flatnonzero(np.isclose(layout.ratios, ratio))[0])
    g[XBAR] = int(np.flatnonzero(layout.xbar_sizes == x)[0])
    g[RRAM_RES] = int(np.flatnonzero(layout.rram_resolutions == r)[0])
    g[DAC_RES] = int(np.flatnonzero(layout.dac_resolutions == d)[0])
    g[MACRO_SIZE] = size
    if dup is not None:
        g[layout.dup_slice] = dup
    if macros is not None:
        g[layout.macro_slice] = macros
    g[layout.share_slice] = -1 if share is None else share
    return g[None, :]


def crossbars(layout, G):
    x, r = G[:, XBAR], G[:, RRAM_RES]
    return (G[:, layout.dup_slice] * layout.sets[x, r, : layout.n_conv]).sum(axis=1)


# ---- layout ------------------------------------------------------------------------------
def test_columns_and_bounds(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    assert L.n_conv == 5 and L.n_mvm == 8 and L.n_genes == 5 + 5 + 2 * 8
    names = [d["name"] for d in L.describe()]
    assert names[:5] == ["xbar_size", "rram_res", "dac_res", "rram_ratio", "macro_size"]
    assert names[5:10] == [f"dup_{j}" for j in range(5)] and names[-1] == "share_7"
    assert [d["layer"] for d in L.describe()][5] == alexnet.layers[alexnet.conv_indices[0]].name
    assert L.upper[L.dup_slice].tolist() == [3025, 729, 169, 169, 169]
    assert L.upper[MACRO_SIZE] == 0  # specified: no macro size
    share = L.share_slice
    assert L.lower[share].tolist() == [-1] * 8 and L.upper[share].tolist() == [-1, 0, 1, 2, 3, 4, 5, 6]
    assert GenomeLayout.build(alexnet, hw, 49, allow_sharing=False).upper[share].tolist() == [-1] * 8
    assert len(L.layer_blocks) == 8 and len(L.layer_blocks[0]) == 3 and len(L.layer_blocks[7]) == 2


def test_ratio_grid_holds_pimsyn_ratios(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    assert len(L.ratios) == 31 and L.ratios[0] == 0.1 and L.ratios[-1] == 0.4
    for pimsyn_ratio in (0.15, 0.2, 0.25, 0.3):
        assert pimsyn_ratio in L.ratios.tolist()


def test_tables_follow_model(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    ix, ir = 1, 1  # X = 256, r = 2
    assert (L.xbar_sizes[ix], L.rram_resolutions[ir]) == (256, 2)
    mvm = alexnet.mvm_indices
    assert L.sets[ix, ir].tolist() == [alexnet.layers[l].crossbar_set(256, 8) for l in mvm]
    q = int(np.flatnonzero(np.isclose(L.ratios, 0.3))[0])
    assert L.n_conv_budget[q, ix, ir] == int(49 * 0.3 / 1.2e-3) - 7168 == 5082
    assert L.conv_set_sum[ix, ir] == 368 and L.capacity_ok[q, ix, ir]
    # ADC bits (MODEL §2.1): X=256 d=4 r=4 gives 15, which has no table entry
    assert L.adc_res[1, 2, 2] == 15 and not L.adc_ok[1, 2, 2] and not L.legal[:, 1, 2, 2].any()
    assert L.adc_res[0, 0, 0] == 7 and L.adc_ok[0, 0, 0]


def test_legal_points_are_their_own_nearest(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    pts = L.legal_globals
    assert (L.nearest[tuple(pts.T)] == pts).all()
    assert L.legal[tuple(L.nearest.reshape(-1, 4).T)].all()


def test_unified_impossible_when_min_macro_above_max(hw):
    net = tiny_network(fc_out=5000)  # X=128, r=1: mu = 40 * 16 = 640 > 512 (Q9)
    uni = GenomeLayout.build(net, hw, 49, macro_setting="unified")
    spec = GenomeLayout.build(net, hw, 49)
    assert not uni.size_ok[0, 0].any() and not uni.legal[:, 0, 0].any()
    assert spec.legal[:, 0, 0].any()
    G = repair(uni, genome(uni, ratio=0.4, x=128, r=1, d=1))
    assert (G[0, XBAR], G[0, RRAM_RES]) != (0, 0)


def test_too_little_power_names_the_least_power(vgg16, hw):
    with pytest.raises(InputError, match=r"needs at least ([0-9.]+) W") as info:
        GenomeLayout.build(vgg16, hw, 20)
    need = float(info.value.args[0].split("needs at least ")[1].split(" W")[0])
    assert 25 < need < 26  # X=128, r=4 at ratio 0.4 (MODEL §4)
    GenomeLayout.build(vgg16, hw, need)  # that much is enough
    with pytest.raises(InputError):
        GenomeLayout.build(vgg16, hw, need - 0.01)


def test_bad_setting_and_power(alexnet, hw):
    with pytest.raises(InputError, match="macro setting"):
        GenomeLayout.build(alexnet, hw, 49, macro_setting="mixed")
    with pytest.raises(InputError, match="positive"):
        GenomeLayout.build(alexnet, hw, 0)


# ---- repair --------------------------------------------------------------------------------
def test_adc_miss_lowers_the_dac(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    G = repair(L, genome(L, ratio=0.3, x=256, r=4, d=4))
    assert L.dac_resolutions[G[0, DAC_RES]] == 2
    assert (L.xbar_sizes[G[0, XBAR]], L.rram_resolutions[G[0, RRAM_RES]], L.ratios[G[0, RATIO]]) == (256, 4, 0.3)


def test_dup_fills_budget_within_pimsyn_window(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    for dup in ([1] * 5, [3025, 729, 169, 169, 169], [100, 1, 1, 1, 1]):
        G = repair(L, genome(L, ratio=0.3, x=256, r=2, d=1, dup=dup))
        n, lo, hi = dup_window(L, G[:, RATIO], G[:, XBAR], G[:, RRAM_RES])
        assert lo[0] <= crossbars(L, G)[0] <= hi[0]
    # shape is kept: a uniform vector stays (nearly) uniform
    G = repair(L, genome(L, ratio=0.3, x=256, r=2, d=1, dup=[1] * 5))
    d = G[0, L.dup_slice]
    assert d.max() - d.min() <= 5 * max(1, d.min() // 10)


def test_dup_fills_as_much_as_possible_when_budget_too_large(hw):
    net = tiny_network()
    L = GenomeLayout.build(net, hw, 100)
    G = repair(L, genome(L, ratio=0.4, x=128, r=4, d=1, dup=[1, 1]))
    assert G[0, L.dup_slice].tolist() == [16, 4]  # every conv at W*H
    n, lo, hi = dup_window(L, G[:, RATIO], G[:, XBAR], G[:, RRAM_RES])
    assert crossbars(L, G)[0] < lo[0]
    assert np.array_equal(repair(L, G), G)


def test_specified_macros_snap_to_even_splits(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    G = repair(L, genome(L, ratio=0.3, x=256, r=2, d=1, dup=[106, 30, 6, 6, 6], macros=[500, 7, 5, 999, 1, 50, 3, 1]))
    assert G[0, L.dup_slice].tolist() == [106, 30, 6, 6, 6]  # already within the window
    iota = L.row_blocks[G[0, XBAR]]
    lim = np.array([106, 30, 6, 6, 6, 1, 1, 1]) * iota
    m = G[0, L.macro_slice]
    assert (lim % m == 0).all() and (m < 1000).all()
    asked = [500, 7, 5, 999, 1, 50, 3, 1]
    for i in range(8):  # the nearest divisor of lim below 1000, the smaller one on ties
        cands = [c for c in range(1, 1000) if lim[i] % c == 0]
        assert m[i] == min(cands, key=lambda c: (abs(c - asked[i]), c))
    assert m[0] == 212  # conv1: lim = 106 * ceil(363 / 256) = 212
    ok, why = legality_mask(alexnet, hw, decode(L, G))
    assert ok.all(), why


def test_unified_counts_and_canonical_size(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49, macro_setting="unified")
    G = repair(L, genome(L, ratio=0.3, x=256, r=2, d=1, dup=[117, 26, 6, 6, 6], size=3))
    k = G[0, MACRO_SIZE]
    s = L.macro_sizes[G[0, XBAR], G[0, RRAM_RES], k]
    mu = L.min_macro[G[0, XBAR], G[0, RRAM_RES]]
    lim = np.array([117, 26, 6, 6, 6, 1, 1, 1]) * L.row_blocks[G[0, XBAR]]
    assert G[0, L.macro_slice].tolist() == (-(-lim // -(-s // mu))).tolist()
    assert s >= 128  # s_min for X=256, r=2 (largest mu = 16 * 8)
    assert np.array_equal(encode(L, decode(L, G)), G)


def test_unified_size_gene_beyond_the_list_takes_the_largest_size(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49, macro_setting="unified")
    ix, ir = 1, 1  # X = 256, r = 2: s_min = 128, list 128..512 (13 sizes of the 16)
    assert L.macro_sizes[ix, ir, 0] == 128 and L.size_ok[ix, ir].sum() == 13
    G = repair(L, genome(L, ratio=0.3, x=256, r=2, d=1, dup=[117, 26, 6, 6, 6], size=15))
    mu = L.min_macro[ix, ir]
    lim = np.array([117, 26, 6, 6, 6, 1, 1, 1]) * L.row_blocks[ix]
    assert G[0, L.macro_slice].tolist() == (-(-lim // -(-512 // mu))).tolist()
    assert L.size_ok[ix, ir, G[0, MACRO_SIZE]]
    assert np.array_equal(repair(L, G), G)


def test_unified_caps_dup_so_counts_stay_below_1000(vgg16, hw):
    L = GenomeLayout.build(vgg16, hw, 100, macro_setting="unified")
    G = repair(L, genome(L, ratio=0.4, x=128, r=4, d=1, dup=L.upper[L.dup_slice]))
    assert (G[0, L.macro_slice] <= 999).all()
    ok, why = legality_mask(vgg16, hw, decode(L, G))
    assert ok.all(), why


def test_share_rules(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    base = dict(ratio=0.3, x=256, r=2, d=1, dup=[106, 30, 6, 6, 6], macros=[1] * 8)
    # later partner, self partner, partner that is itself shared, a third member
    G = repair(L, genome(L, **base, share=[-1, 0, 0, 1, 3, 2, 0, -1]))
    share = G[0, L.share_slice].tolist()
    assert share[1] == 0  # ok: earlier, unshared
    assert share[2] == -1  # 0 already has a sharer: at most two per group
    assert share[3] == -1  # 1 is shared
    assert share[4] == 3  # 3 became unshared above, so it is a valid partner
    assert share[5] == 2 and share[6] == -1
    # pair limit m_i + m_p <= min(lim_i, lim_p): fc layers have lim = iota
    big = dict(base, macros=[1, 1, 1, 1, 1, 36, 16, 16])
    G = repair(L, genome(L, **big, share=[-1, -1, -1, -1, -1, -1, 5, -1]))
    assert G[0, L.share_slice][6] == -1
    off = GenomeLayout.build(alexnet, hw, 49, allow_sharing=False)
    G = repair(off, genome(off, **base, share=[-1] * 8))
    assert (G[0, off.share_slice] == -1).all()


def test_repair_accepts_out_of_bounds_and_ignores_rng(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    G = np.random.default_rng(0).integers(-5000, 5000, size=(20, L.n_genes))
    A = repair(L, G, np.random.default_rng(1))
    assert np.array_equal(A, repair(L, G, np.random.default_rng(2)))
    assert legality_mask(alexnet, hw, decode(L, A))[0].all()


def test_decode_refuses_unrepaired(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    G = np.tile(L.lower, (1, 1))
    G[0, L.dup_slice.start] = 0
    with pytest.raises(ValueError, match="dup_0"):
        decode(L, G)


def test_encode_refuses_foreign_designs(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    batch = decode(L, repair(L, genome(L, ratio=0.3, x=256, r=2, d=1)))
    rec = batch.to_records()[0]
    from fitness.design import DesignBatch

    for field, value, match in (("rram_ratio", 0.125, "grid"), ("total_power_W", 50, "power"),
                                ("xbar_size", 64, "xbar_size"), ("macro_setting", "unified", "setting")):
        with pytest.raises(InputError, match=match):
            encode(L, DesignBatch.from_records(alexnet, [dict(rec, **{field: value})]))


# ---- init and operators ---------------------------------------------------------------------
def test_seeds(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    S = seed_genomes(L, 9, np.random.default_rng(0))
    pixels, uniform, nodup = S[0], S[1], S[2]
    d = pixels[L.dup_slice]
    assert d[0] > d[1] > d[2]  # 3025 > 729 > 169 output pixels
    u = uniform[L.dup_slice]
    assert u.max() - u.min() <= max(2, u.min() // 5)
    q = nodup[RATIO]
    assert L.legal[q, nodup[XBAR], nodup[RRAM_RES], nodup[DAC_RES]]
    assert not L.legal[:q, nodup[XBAR], nodup[RRAM_RES], nodup[DAC_RES]].any()  # smallest legal ratio
    assert (S[:, L.share_slice] == -1).all()
    assert S[0, L.macro_slice].tolist() == [1] * 8  # first macro mode: fewest macros


def test_initial_population_mix(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    P = initial_population(L, 40, np.random.default_rng(0))
    assert P.shape == (40, L.n_genes) and np.array_equal(repair(L, P), P)
    assert len({tuple(g) for g in P}) > 30
    assert initial_population(L, 0, np.random.default_rng(0)).shape == (0, L.n_genes)
    assert initial_population(L, 2, np.random.default_rng(0)).shape == (2, L.n_genes)


def test_initial_population_at_given_points_stays_on_them(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    pts = L.legal_globals[(L.legal_globals[:, 1] == 0) & (L.legal_globals[:, 2] == 1)]  # one X, one r
    assert 0 < len(pts) < len(L.legal_globals)
    P = initial_population(L, 40, np.random.default_rng(0), points=pts)
    assert np.array_equal(repair(L, P), P)
    drawn = {tuple(g) for g in P[:, [RATIO, XBAR, RRAM_RES, DAC_RES]]}
    assert drawn <= {tuple(p) for p in pts} and len(drawn) > 1
    # no points given: the draw of all legal points, as before the argument existed
    assert np.array_equal(initial_population(L, 40, np.random.default_rng(0), points=None),
                          initial_population(L, 40, np.random.default_rng(0)))


@pytest.mark.parametrize("setting", ["specified", "unified"])
def test_screening_sample_is_legal_distinct_fixed_and_covers_every_legal_point(alexnet, hw, setting):
    L = GenomeLayout.build(alexnet, hw, 49, macro_setting=setting)
    S = screening_genomes(L)
    assert np.array_equal(repair(L, S), S)
    assert len(np.unique(S, axis=0)) == len(S)
    assert np.array_equal(screening_genomes(L), S)
    globals_ = [RATIO, XBAR, RRAM_RES, DAC_RES]
    covered = {tuple(g) for g in S[:, globals_]}
    assert covered == {tuple(p) for p in L.legal_globals}
    assert len(S) > 3 * len(L.legal_globals)  # several seeds at each point


def test_dup_move_keeps_budget(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    rng = np.random.default_rng(4)
    P = random_genomes(L, 200, rng)
    M = mutate(L, P, rng, p_global=0, p_dup=1, p_macro=0, p_share=0)
    assert np.array_equal(M[:, :5], P[:, :5])
    changed = (M[:, L.dup_slice] != P[:, L.dup_slice]).sum(axis=1)
    assert (changed > 0).mean() > 0.9
    assert np.median(changed) == 2  # one source, one target: no rescale needed
    n, lo, hi = dup_window(L, M[:, RATIO], M[:, XBAR], M[:, RRAM_RES])
    assert ((crossbars(L, M) >= lo) & (crossbars(L, M) <= hi)).all()


def test_macro_move_goes_to_neighbouring_count(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    rng = np.random.default_rng(5)
    P = random_genomes(L, 200, rng)
    M = mutate(L, P, rng, p_global=0, p_dup=0, p_macro=1, p_share=0)
    assert np.array_equal(M[:, L.dup_slice], P[:, L.dup_slice])
    lim = np.where(np.arange(8) < 5, np.pad(P[:, L.dup_slice], ((0, 0), (0, 3)), constant_values=1), 1) \
        * L.row_blocks[P[:, XBAR]]
    for b in range(50):
        for i in range(8):
            cand = [c for c in range(1, 1000) if lim[b, i] % c == 0]
            old, new = P[b, L.macro_slice][i], M[b, L.macro_slice][i]
            if len(cand) > 1:
                assert abs(cand.index(new) - cand.index(old)) == 1


def test_share_toggle_and_no_sharing(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    rng = np.random.default_rng(6)
    P = repair(L, np.where(np.arange(L.n_genes) >= L.share_slice.start, -1, random_genomes(L, 100, rng)))
    M = mutate(L, P, rng, p_global=0, p_dup=0, p_macro=0, p_share=1)
    assert (M[:, L.share_slice] >= 0).any()
    off = GenomeLayout.build(alexnet, hw, 49, allow_sharing=False)
    M = mutate(off, random_genomes(off, 50, rng), rng, p_share=1)
    assert (M[:, off.share_slice] == -1).all()


def test_crossover_keeps_layer_blocks(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    mask = block_swap_mask(L, 500, np.random.default_rng(0))
    for cols in L.layer_blocks:
        assert (mask[:, cols] == mask[:, cols[:1]]).all()
    assert (mask[:, :5] == mask[:, :1]).all()
    assert 0.4 < mask.mean() < 0.6
    rng = np.random.default_rng(1)
    A, B = random_genomes(L, 30, rng), random_genomes(L, 30, rng)
    C, D = crossover(L, A, B, rng)
    assert np.array_equal(repair(L, C), C) and np.array_equal(repair(L, D), D)
    # identical parents give identical children
    C, D = crossover(L, A, A, rng)
    assert np.array_equal(C, A) and np.array_equal(D, A)


def test_operators_are_seeded_only_by_the_generator(alexnet, hw):
    L = GenomeLayout.build(alexnet, hw, 49)
    P = random_genomes(L, 20, np.random.default_rng(0))
    assert np.array_equal(mutate(L, P, np.random.default_rng(9)), mutate(L, P, np.random.default_rng(9)))
    assert np.array_equal(random_genomes(L, 20, np.random.default_rng(0)), P)
    assert math.isclose(L.total_power_w, 49.0)
