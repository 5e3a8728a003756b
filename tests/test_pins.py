"""Pinned global genes and the dup modes (genomes.layout pins / dup_mode, run --pin / --dup).

The promise under test: once the layout is built with pins and a dup mode, no genome that
comes out of any path of the search (initial population, crossover, mutation, repair, the
local-search neighbours, restarts and their large-neighbourhood moves, the polish phase)
is off the pins or carries another duplication; and a pin no legal design can have is
refused when the problem is built, in one line that says why.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evo_pimsyn.engine import loop
from evo_pimsyn.engine.objectives import parse_objectives
from evo_pimsyn.engine.problem import PimProblem, score_designs
from fitness.design import legality_mask
from fitness.errors import InputError
from genomes import GenomeLayout, crossover, decode, initial_population, mutate, repair
from genomes.layout import (DAC_RES, GLOBAL_NAMES, MACRO_SIZE, RATIO, RATIO_GRID, RRAM_RES, XBAR, NoLegalDesign,
                            parse_pins, pins_label)
from tests.cached import hardware, reference_network

DATA = Path(__file__).resolve().parent.parent / "evo_pimsyn" / "data" / "pimsyn"
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=None)
def _layout(net, power, setting, pins, dup):
    return GenomeLayout.build(reference_network(net), hardware(), power, setting, pins=dict(pins), dup_mode=dup)


def off_pins(layout: GenomeLayout, G: np.ndarray) -> list[str]:
    """Every way genomes ``G`` break the layout's pins or dup mode (empty: none)."""
    G = np.asarray(G, dtype=np.int64)
    if not len(G):
        return []
    d = decode(layout, G)
    found = []
    values = {"xbar_size": d.xbar_size, "rram_res": d.rram_res, "dac_res": d.dac_res, "rram_ratio": d.rram_ratio}
    for name, value in layout.pins.items():
        if name == "macro_size":
            got = layout.macro_sizes[G[:, XBAR], G[:, RRAM_RES], G[:, MACRO_SIZE]]
        else:
            got = values[name]
        bad = ~np.isclose(np.asarray(got, dtype=np.float64), value, rtol=0, atol=1e-9)
        if bad.any():
            found.append(f"{name}: {sorted(set(np.asarray(got)[bad].tolist()))} != {value}")
    if layout.dup_mode == "one" and (d.dup != 1).any():
        found.append("dup != 1")
    if layout.dup_mode == "proportional":
        want = naive_proportional(layout, G[:, RATIO], G[:, XBAR], G[:, RRAM_RES])
        if not np.array_equal(d.dup, want):
            found.append("dup is not the proportional rule's")
    return found


def naive_proportional(layout: GenomeLayout, q, x, r) -> np.ndarray:
    """PIMSYN's SA seed (MODEL.md §10.2) transcribed with Python lists, one row at a time,
    clipped to the layout's dup range: the oracle of the layout's table."""
    rows = []
    for qi, xi, ri in zip(np.atleast_1d(q), np.atleast_1d(x), np.atleast_1d(r)):
        sets = [int(v) for v in layout.sets[xi, ri, : layout.n_conv]]
        n = int(layout.n_conv_budget[qi, xi, ri])
        share = [int(p) * s for p, s in zip(layout.pixels, sets)]
        seed = [math.ceil((n * a / sum(share)) / s) for a, s in zip(share, sets)]
        delta = sum(a * s for a, s in zip(seed, sets)) - n
        idx = 0
        while delta > sum(sets) / len(sets):
            if seed[idx] > 1:
                seed[idx] -= 1
                delta -= sets[idx]
            idx = idx + 1 if idx < len(seed) - 1 else 0
        rows.append([min(max(v, 1), int(m)) for v, m in zip(seed, layout.dup_max[xi, ri])])
    return np.array(rows, dtype=np.int64)


# ---- parsing ----------------------------------------------------------------------------
@pytest.mark.unit
def test_parse_pins_forms_and_order():
    assert parse_pins(None) == {} and parse_pins("") == {}
    assert parse_pins("rram_ratio=0.25, xbar_size=128") == {"xbar_size": 128, "rram_ratio": 0.25}
    assert list(parse_pins({"dac_res": 2, "xbar_size": "256"})) == ["xbar_size", "dac_res"]
    assert pins_label({"rram_ratio": 0.2, "xbar_size": 128}) == "xbar_size=128,rram_ratio=0.2"


@pytest.mark.unit
@pytest.mark.parametrize("spec, match", [
    ("xbar=128", "cannot pin 'xbar'"),
    ("xbar_size", "NAME=VALUE"),
    ("xbar_size=128,xbar_size=256", "pinned twice"),
    ("xbar_size=big", "must be a number"),
    ("xbar_size=128.5", "positive integer"),
    ("dac_res=0", "positive integer"),
    ("rram_ratio=nan", "must be a number"),
])
def test_parse_pins_refuses_bad_text(spec, match):
    with pytest.raises(InputError, match=match):
        parse_pins(spec)


# ---- the layout -------------------------------------------------------------------------
@pytest.mark.unit
def test_pinned_layout_bounds_and_legal_table():
    L = _layout("alexnet", 49, "specified", (("xbar_size", 128), ("rram_ratio", 0.25)), "searched")
    x = int(np.flatnonzero(L.xbar_sizes == 128)[0])
    q = int(np.flatnonzero(np.isclose(RATIO_GRID, 0.25))[0])
    assert L.lower[XBAR] == L.upper[XBAR] == x and L.lower[RATIO] == L.upper[RATIO] == q
    assert (L.legal_globals[:, 0] == q).all() and (L.legal_globals[:, 1] == x).all()
    # every grid point's nearest legal point is on the pins
    assert (L.nearest[..., 0] == q).all() and (L.nearest[..., 1] == x).all()
    free = _layout("alexnet", 49, "specified", (), "searched")
    assert L.legal.sum() < free.legal.sum() and (L.legal <= free.legal).all()
    names = {d["name"]: d["meaning"] for d in L.describe()}
    assert "pinned to 128" in names["xbar_size"] and "pinned to 0.25" in names["rram_ratio"]


@pytest.mark.unit
@pytest.mark.parametrize("net, setting, pins, match", [
    # VGG16 at 49 W needs 4-bit cells: with 1-bit cells its weights need about twice the crossbars
    ("vgg16", "specified", "rram_res=1", r"cannot hold the weights of vgg16 at 49 W: .*\(needs a power of at least"),
    ("vgg16", "specified", "xbar_size=128,rram_ratio=0.15", r"or a ratio of at least 0\.21"),
    ("alexnet", "specified", "xbar_size=512,rram_res=4,dac_res=4", r"ADC resolutions these give \(16 bits\)"),
    ("alexnet", "unified", "xbar_size=128,rram_res=1,macro_size=32", r"macros of 32 crossbars cannot hold a row block"),
])
def test_pin_without_legal_design_is_refused_with_the_reason(net, setting, pins, match):
    with pytest.raises(NoLegalDesign, match=match) as info:
        GenomeLayout.build(reference_network(net), hardware(), 49, setting, pins=pins)
    assert "\n" not in str(info.value)


@pytest.mark.unit
@pytest.mark.parametrize("setting, pins, match", [
    ("specified", "xbar_size=100", "has no RRAM entry for it"),
    ("specified", "dac_res=3", "has no DAC entry"),
    ("specified", "rram_ratio=0.125", "on the grid"),
    ("specified", "macro_size=64", "unified macro setting only"),
    ("unified", "macro_size=40", "on the config's grid 32, 64"),
])
def test_pin_value_outside_the_config_is_an_input_error(setting, pins, match):
    with pytest.raises(InputError, match=match) as info:
        GenomeLayout.build(reference_network("alexnet"), hardware(), 49, setting, pins=pins)
    assert not isinstance(info.value, NoLegalDesign)


@pytest.mark.unit
def test_bad_dup_mode_is_refused():
    with pytest.raises(InputError, match="'dup' parameter must be one of searched, proportional, one"):
        GenomeLayout.build(reference_network("alexnet"), hardware(), 49, dup_mode="half")


@pytest.mark.unit
@pytest.mark.parametrize("net, setting", [("alexnet", "specified"), ("resnet18", "specified"), ("vgg16", "unified")])
def test_proportional_table_matches_pimsyn_seed_rule(net, setting):
    L = _layout(net, 49, setting, (), "proportional")
    q, x, r = np.nonzero(L.capacity_ok)
    assert np.array_equal(L.proportional_dup[q, x, r], naive_proportional(L, q, x, r))
    # it fills the budget as PIMSYN's acceptance asks, where no layer hits its W*H ceiling
    sets = L.sets[x, r, : L.n_conv]
    used = (L.proportional_dup[q, x, r] * sets).sum(axis=1)
    unclipped = (L.proportional_dup[q, x, r] < L.dup_max[x, r]).all(axis=1)
    assert (used[unclipped] <= L.n_conv_budget[q, x, r][unclipped] + L.conv_set_mean[x, r][unclipped]).all()


# ---- property tests: every operator under pins ------------------------------------------
NETS = ("alexnet", "resnet18")
MODES = ("searched", "proportional", "one")


@st.composite
def pinned_problems(draw):
    """(layout, raw genomes) for a random legal pin set: a legal global point of the free
    space, a random subset of its genes pinned (unified: maybe its macro size too)."""
    net = draw(st.sampled_from(NETS))
    setting = draw(st.sampled_from(("specified", "unified")))
    dup = draw(st.sampled_from(MODES))
    free = _layout(net, 49, setting, (), "searched")
    q, x, r, d = free.legal_globals[draw(st.integers(0, len(free.legal_globals) - 1))]
    point = {"xbar_size": int(free.xbar_sizes[x]), "rram_res": int(free.rram_resolutions[r]),
             "dac_res": int(free.dac_resolutions[d]), "rram_ratio": float(RATIO_GRID[q])}
    names = draw(st.lists(st.sampled_from(list(point)), unique=True, min_size=1, max_size=4))
    pins = {n: point[n] for n in GLOBAL_NAMES if n in names}
    if setting == "unified" and draw(st.booleans()):
        sizes = free.macro_sizes[x, r][free.size_ok[x, r]]
        pins["macro_size"] = int(sizes[draw(st.integers(0, len(sizes) - 1))])
    layout = _layout(net, 49, setting, tuple(pins.items()), dup)
    rows = draw(st.integers(1, 6))
    span = layout.upper - layout.lower
    cols = [st.integers(int(lo - 2 - s // 4), int(hi + 2 + s // 4)) for lo, hi, s in zip(layout.lower, layout.upper, span)]
    return layout, np.array([draw(st.tuples(*cols)) for _ in range(rows)], dtype=np.int64)


def assert_on_pins(layout, G):
    assert off_pins(layout, G) == []
    ok, why = legality_mask(layout.network, layout.hardware, decode(layout, G))
    assert ok.all(), list(why[~ok])
    assert layout.legal[G[:, RATIO], G[:, XBAR], G[:, RRAM_RES], G[:, DAC_RES]].all()
    assert np.array_equal(repair(layout, G), G)


@pytest.mark.property
@PROPS
@given(pinned_problems(), st.integers(0, 2**32 - 1))
def test_repair_mutation_crossover_and_init_stay_on_pins(problem, seed):
    layout, G = problem
    rng = np.random.default_rng(seed)
    R = repair(layout, G)
    assert_on_pins(layout, R)
    for kw in ({}, {"p_global": 1.0, "p_dup": 1.0, "p_macro": 1.0, "p_share": 1.0},
               {"p_global": 1.0, "global_genes": ("rram_ratio",)}):
        assert_on_pins(layout, mutate(layout, R, rng, **kw))
    B = initial_population(layout, len(R), rng)
    assert_on_pins(layout, B)
    for child in crossover(layout, R, B, rng, globals_as_block=False):
        assert_on_pins(layout, child)


@pytest.mark.property
@PROPS
@given(pinned_problems(), st.integers(0, 2**32 - 1))
def test_neighbours_and_restart_moves_stay_on_pins(problem, seed):
    layout, G = problem
    rng = np.random.default_rng(seed)
    pim = PimProblem(network=layout.network, hardware=layout.hardware, power_w=49, macro_setting=layout.macro_setting, pins=layout.pins,
                     dup=layout.dup_mode)
    E = repair(layout, G)
    assert_on_pins(layout, pim.neighbors(E, 12, rng))
    assert_on_pins(layout, pim.perturb(E, pim.initial(8, rng), rng))
    assert_on_pins(layout, pim.vary(E, E[::-1], rng))


# ---- a real search ---------------------------------------------------------------------
SEARCHES = [
    ("alexnet", "specified", {"xbar_size": 128}, "searched"),
    ("alexnet", "specified", {"rram_res": 2}, "proportional"),
    ("resnet18", "unified", {"xbar_size": 256, "macro_size": 256}, "one"),
]


def _recording(problem):
    """(seen, evaluate, verify): the analytic and cycle scorers of ``problem``, each keeping
    a copy of every batch of genomes it is asked about in ``seen``."""
    seen = []

    def evaluate(G):
        seen.append(np.array(G, copy=True))
        return score_designs(*problem.scorer("analytic")[1], G)

    def verify(G):
        seen.append(np.array(G, copy=True))
        return score_designs(*problem.scorer("cycle")[1], G)

    return seen, evaluate, verify


@pytest.mark.e2e
@pytest.mark.parametrize("net, setting, pins, dup", SEARCHES, ids=lambda v: str(v))
def test_short_search_with_restarts_and_polish_never_leaves_the_pins(net, setting, pins, dup):
    """A real single-objective search (analytic scores, cycle-model verification) with a
    restart after every stalled generation and a polish phase: every genome it scores,
    keeps or archives is on the pins and carries the mode's duplication."""
    problem = PimProblem(network=reference_network(net), hardware=hardware(), power_w=49.0, macro_setting=setting, pins=pins, dup=dup)
    seen, evaluate, verify = _recording(problem)

    settings_ = loop.Settings(objectives=parse_objectives("efficiency"), power_w=49.0, population=12, fidelity="analytic",
                              restart_after=1, restart_min_gain=0.5, polish_fraction=0.3)
    final = loop.evolve(problem, evaluate, settings_, loop.Stop(generations=7), seed=3, verify=verify)
    assert final.counters.restarts >= 2  # a fresh restart and one bred from the archive
    assert final.counters.polish_generations >= 1
    everything = np.concatenate(seen + [final.population, final.archive.genomes])
    assert off_pins(problem.layout, everything) == []
    assert len(final.archive.genomes) >= 1


@pytest.mark.e2e
def test_a_three_objective_search_with_its_corner_phase_never_leaves_the_pins():
    """The corner phase's seeds (archive designs), fresh designs, children, neighbours,
    polish and its verified designs offered to the archive: all on the pins."""
    net, setting, pins, dup = SEARCHES[1]
    problem = PimProblem(network=reference_network(net), hardware=hardware(), power_w=49.0, macro_setting=setting, pins=pins, dup=dup)
    seen, evaluate, verify = _recording(problem)

    settings_ = loop.Settings(objectives=parse_objectives(None), power_w=49.0, population=12, fidelity="analytic",
                              corner_fraction=0.5, corner_population=16, polish_fraction=0.5)
    final = loop.evolve(problem, evaluate, settings_, loop.Stop(generations=8), seed=3, verify=verify)
    assert final.counters.corner_generations == 4 and final.corner.counters.polish_generations >= 1
    everything = np.concatenate(seen + [final.population, final.corner.population, final.archive.genomes])
    assert off_pins(problem.layout, everything) == []


# ---- the command line --------------------------------------------------------------------
@pytest.mark.e2e
def test_run_with_pin_and_dup_records_them_and_keeps_the_front_on_them(tmp_path, capsys):
    from evo_pimsyn.cli import main

    out = tmp_path / "pinned"
    # a few % of random 128x128 proportional designs fit the budget: enough evaluations to meet some
    rc = main(["run", "--model", str(DATA / "alexnet.json"), "--power", "49", "--generations", "3",
               "--population", "16", "--objectives", "efficiency,throughput", "--pin", "xbar_size=128",
               "--dup", "proportional", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    run = json.loads((out / "run.json").read_text())
    assert run["pins"] == {"xbar_size": 128} and run["dup"] == "proportional"
    front = pd.read_csv(out / "pareto.csv")
    assert len(front) and (front["xbar_size"] == 128).all()
    problem = PimProblem(network=reference_network("alexnet"), hardware=hardware(), power_w=49.0, pins=run["pins"], dup=run["dup"])
    G = front[[f"gene_{n}" for n in problem.gene_names]].to_numpy(np.int64)
    assert off_pins(problem.layout, G) == []
    assert np.array_equal(front[[f"dup_{j}" for j in range(problem.layout.n_conv)]].to_numpy(), decode(problem.layout, G).dup)


@pytest.mark.e2e
def test_pins_and_dup_change_the_config_hash(tmp_path):
    from evo_pimsyn.engine.session import RunOptions, plan

    base = dict(model=str(DATA / "alexnet.json"), power_w=49.0, generations=1)
    hashes = {plan(RunOptions(**base, **kw))[1]["config_hash"]
              for kw in ({}, {"pins": "xbar_size=128"}, {"pins": "xbar_size=256"}, {"dup": "one"})}
    assert len(hashes) == 4
    # the same pins written differently are the same search
    assert plan(RunOptions(**base, pins="rram_ratio=0.20,xbar_size=128"))[1]["config_hash"] == \
        plan(RunOptions(**base, pins={"xbar_size": 128, "rram_ratio": 0.2}))[1]["config_hash"]


@pytest.mark.e2e
def test_run_refuses_a_pin_without_legal_design_in_one_line(tmp_path, capsys):
    from evo_pimsyn.cli import main

    out = tmp_path / "never"
    rc = main(["run", "--model", str(DATA / "vgg16.json"), "--power", "49", "--pin", "rram_res=1", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert len(err.strip().splitlines()) == 1 and "cannot hold the weights" in err
