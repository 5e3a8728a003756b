"""Property tests of the genome package over AlexNet, ResNet-18 and VGG16 at 20/49/100 W,
specified and unified macros, with and without sharing.

Legality is judged twice: by :func:`fitness.design.legality_mask` (the independent judge)
and by the stricter budget rules repair promises on top of it (dup within 1..W*H, the
crossbar window |U - N_conv| <= mean(set) unless no copy fits any more, the ratio grid).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitness.design import legality_mask
from fitness.errors import InputError
from genomes import GenomeLayout, crossover, decode, encode, initial_population, mutate, repair
from genomes.layout import DAC_RES, RATIO, RRAM_RES, XBAR
from genomes.repair import dup_window
from tests.cached import hardware, reference_network

NETWORKS = ("alexnet", "resnet18", "vgg16")
POWERS = (20, 49, 100)
CONFIGS = [(net, p, setting, sharing) for net in NETWORKS for p in POWERS
           for setting in ("specified", "unified") for sharing in (True, False)]
DESIGN_FIELDS = ("xbar_size", "rram_res", "dac_res", "rram_ratio", "total_power_w", "unified", "dup", "macro_num",
                 "macro_share")

pytestmark = pytest.mark.property

PROPS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=None)
def _layout(net, power, setting, sharing):
    try:
        return GenomeLayout.build(reference_network(net), hardware(), power, setting, allow_sharing=sharing)
    except InputError:
        return None  # VGG16 at 20 W cannot hold its weights (tested in test_genomes_layout)


@st.composite
def problems(draw):
    """(layout, raw genomes): genes drawn a little beyond their bounds on both sides."""
    cfg = draw(st.sampled_from(CONFIGS))
    layout = _layout(*cfg)
    if layout is None:
        layout = _layout("alexnet", cfg[1], cfg[2], cfg[3])
    rows = draw(st.integers(1, 6))
    span = layout.upper - layout.lower
    cols = [st.integers(int(lo - 2 - s // 4), int(hi + 2 + s // 4)) for lo, hi, s in zip(layout.lower, layout.upper, span)]
    G = np.array([draw(st.tuples(*cols)) for _ in range(rows)], dtype=np.int64)
    return layout, G


def assert_legal(layout, G):
    assert G.dtype == np.int64 and G.shape[1] == layout.n_genes
    ok, why = legality_mask(layout.network, layout.hardware, decode(layout, G))
    assert ok.all(), list(why[~ok])
    # the stricter budget rules repair promises
    q, x, r = G[:, RATIO], G[:, XBAR], G[:, RRAM_RES]
    assert layout.legal[q, x, r, G[:, DAC_RES]].all()
    dup = G[:, layout.dup_slice]
    assert ((dup >= 1) & (dup <= layout.pixels)).all()
    sets = layout.sets[x, r, : layout.n_conv]
    used = (dup * sets).sum(axis=1)
    n, lo, hi = dup_window(layout, q, x, r)
    assert (used <= hi).all()
    room = (dup < layout.dup_max[x, r]) & (sets <= (hi - used)[:, None])
    assert ((used >= lo) | ~room.any(axis=1)).all()


def same_designs(a, b):
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in DESIGN_FIELDS)


@PROPS
@given(problems())
def test_repair_is_legal_and_idempotent(problem):
    layout, G = problem
    R = repair(layout, G)
    assert_legal(layout, R)
    assert np.array_equal(repair(layout, R), R)


@PROPS
@given(problems())
def test_decode_encode_round_trip(problem):
    layout, G = problem
    R = repair(layout, G)
    designs = decode(layout, R)
    assert same_designs(decode(layout, encode(layout, designs)), designs)
    assert np.array_equal(encode(layout, designs), R)  # one genome per design
    # and through the reference schema
    back = type(designs).from_records(layout.network, designs.to_records())
    assert same_designs(decode(layout, encode(layout, back)), designs)


@PROPS
@given(problems(), st.integers(0, 2**32 - 1))
def test_mutation_output_is_legal(problem, seed):
    layout, G = problem
    rng = np.random.default_rng(seed)
    P = repair(layout, G)
    for kw in ({}, {"p_global": 1.0, "p_dup": 1.0, "p_macro": 1.0, "p_share": 1.0}):
        M = mutate(layout, P, rng, **kw)
        assert_legal(layout, M)
        assert np.array_equal(repair(layout, M), M)


@PROPS
@given(problems(), st.integers(0, 2**32 - 1), st.booleans())
def test_crossover_output_is_legal(problem, seed, as_block):
    layout, G = problem
    rng = np.random.default_rng(seed)
    A = repair(layout, G)
    B = initial_population(layout, len(A), rng)
    C, D = crossover(layout, A, B, rng, globals_as_block=as_block)
    for child in (C, D):
        assert_legal(layout, child)
        assert np.array_equal(repair(layout, child), child)


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c[3]], ids=lambda c: f"{c[0]}-{c[1]}W-{c[2]}")
def test_initial_population_is_legal(cfg):
    layout = _layout(*cfg)
    if layout is None:  # VGG16 at 20 W: refused with the least power that would do
        with pytest.raises(InputError, match="needs at least"):
            GenomeLayout.build(reference_network(cfg[0]), hardware(), cfg[1], cfg[2])
        return
    P = initial_population(layout, 24, np.random.default_rng(0))
    assert_legal(layout, P)
    assert np.array_equal(repair(layout, P), P)
