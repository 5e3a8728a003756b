"""Unit and oracle tests of the engine's pure functions: objectives, constrained
domination, NSGA-II/III survival, the archive, non-dominance and hypervolume
(engine/front.py, through moocore), even slices."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.engine import nsga
from evo_pimsyn.engine.archive import Archive, box_volumes, normalized_hypervolume
from evo_pimsyn.engine.evaluation import Evaluator, score
from evo_pimsyn.engine.front import hypervolume, pareto_mask, pareto_ranks
from evo_pimsyn.engine.objectives import DEFAULT_OBJECTIVES, parse_objectives, violation
from evo_pimsyn.engine.session import parse_duration
from evo_pimsyn.engine.toy import score_toy
from fitness.errors import InputError


# ---- objectives ------------------------------------------------------------------------
@pytest.mark.unit
def test_parse_objectives_default_and_list():
    assert [o.name for o in parse_objectives(None)] == list(DEFAULT_OBJECTIVES)
    objs = parse_objectives("efficiency, area")
    assert [o.column for o in objs] == ["efficiency_gops_w", "area_mm2"]
    assert [o.maximize for o in objs] == [True, False]
    assert [o.name for o in parse_objectives("efficiency")] == ["efficiency"]


@pytest.mark.unit
@pytest.mark.parametrize("spec, match", [
    ("efficiency,speed", r"unknown objective 'speed'.*"),
    ("", r"comma list of names from \{efficiency, throughput, area"),
    ("area,area", r"lists 'area' twice"),
    ("efficiency,,area", r"comma list"),
])
def test_parse_objectives_errors(spec, match):
    with pytest.raises(InputError, match=match):
        parse_objectives(spec)


@pytest.mark.unit
def test_objective_matrix_and_violation():
    frame = pd.DataFrame({
        "feasible": [True, False, False, True],
        "efficiency_gops_w": [100.0, 0.0, 0.0, np.nan],
        "area_mm2": [10.0, 5.0, 5.0, 1.0],
        "peak_power_w": [40.0, 60.0, np.nan, 30.0],
    })
    s = score(frame, parse_objectives("efficiency,area"), 49.0)
    assert s.objectives[0].tolist() == [-100.0, 10.0]
    assert np.isinf(s.objectives[1:]).all()
    assert s.feasible.tolist() == [True, False, False, False]  # NaN objective -> not comparable
    assert s.violation[0] == 0 and s.violation[1] == pytest.approx(1 + 11 / 60) and s.violation[2] == 2.0
    assert violation(frame, 49.0)[3] == 0.0


# ---- constrained domination: fast vs naive oracle ---------------------------------------
def _naive_dominates(F, V, i, j):
    fi, fj = V[i] <= 0, V[j] <= 0
    if fi and not fj:
        return True
    if not fi and not fj:
        return V[i] < V[j]
    if not fi:
        return False
    return bool(np.all(F[i] <= F[j]) and np.any(F[i] < F[j]))


def _naive_ranks(F, V):
    n = len(F)
    ranks = np.full(n, -1)
    remaining = set(range(n))
    r = 0
    while remaining:
        front = [j for j in remaining if not any(_naive_dominates(F, V, i, j) for i in remaining if i != j)]
        for j in front:
            ranks[j] = r
        remaining -= set(front)
        r += 1
    return ranks


def _random_case(seed, n=40, m=3):
    rng = np.random.default_rng(seed)
    F = rng.integers(0, 6, size=(n, m)).astype(float)  # small ints: many ties and duplicates
    V = np.where(rng.random(n) < 0.3, rng.integers(1, 4, size=n).astype(float), 0.0)
    F[V > 0] = np.inf
    return F, V


@pytest.mark.property
@pytest.mark.parametrize("seed", range(25))
def test_ranks_match_naive_oracle(seed):
    F, V = _random_case(seed, m=1 + seed % 4)
    assert nsga.nondominated_ranks(F, V).tolist() == _naive_ranks(F, V).tolist()


@pytest.mark.property
@pytest.mark.parametrize("seed", range(10))
def test_ranks_of_feasible_rows_with_infinities_match_naive_oracle(seed):
    """An infinite objective of a feasible row (a metric the model could not bound) ranks
    like any worse value; moocore's own pareto_rank gets such rows wrong."""
    F, _ = _random_case(seed, m=2 + seed % 3)
    F[np.random.default_rng(seed).random(F.shape) < 0.15] = np.inf
    V = np.zeros(len(F))
    assert nsga.nondominated_ranks(F, V).tolist() == _naive_ranks(F, V).tolist()
    assert pareto_ranks(F).tolist() == _naive_ranks(F, V).tolist()


@pytest.mark.property
@pytest.mark.parametrize("seed", range(10))
def test_ranks_permutation_invariant(seed):
    F, V = _random_case(seed)
    perm = np.random.default_rng(seed + 100).permutation(len(F))
    assert (nsga.nondominated_ranks(F, V)[perm] == nsga.nondominated_ranks(F[perm], V[perm])).all()


@pytest.mark.unit
def test_feasible_always_beats_infeasible():
    F = np.array([[5.0, 5.0], [np.inf, np.inf], [0.0, 0.0]])
    V = np.array([0.0, 1.0, 0.0])
    assert nsga.nondominated_ranks(F, V).tolist() == [1, 2, 0]


@pytest.mark.property
@pytest.mark.parametrize("seed", range(10))
def test_select_nsga2_keeps_whole_better_fronts(seed):
    F, V = _random_case(seed, n=30)
    k = 15
    keep = nsga.select_nsga2(F, V, k)
    assert len(keep) == k and len(set(keep.tolist())) == k
    ranks = nsga.nondominated_ranks(F, V)
    worst_kept = ranks[keep].max()
    dropped = np.setdiff1d(np.arange(len(F)), keep)
    assert (ranks[dropped] >= worst_kept).all()


@pytest.mark.unit
def test_crowding_extremes_infinite():
    F = np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    d = nsga.crowding_distance(F)
    assert np.isinf(d[[0, 3]]).all() and np.isfinite(d[[1, 2]]).all()


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(5))
def test_select_nsga3_is_deterministic_given_rng(seed):
    rng = np.random.default_rng(seed)
    F = rng.random((40, 3))
    V = np.zeros(40)
    ref = nsga.reference_points(3, 20)
    a = nsga.select_nsga3(F, V, 20, ref, np.random.default_rng(7))
    b = nsga.select_nsga3(F, V, 20, ref, np.random.default_rng(7))
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 20


@pytest.mark.unit
def test_nsga3_does_not_touch_global_rng():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    F = np.random.default_rng(1).random((30, 3))
    nsga.select_nsga3(F, np.zeros(30), 10, nsga.reference_points(3, 10), np.random.default_rng(0))
    assert (np.random.get_state()[1] == before).all()


@pytest.mark.unit
def test_binary_tournament_prefers_better_rank():
    ranks = np.array([0, 5])
    crowd = np.zeros(2)
    winners = nsga.binary_tournament(ranks, crowd, 2000, np.random.default_rng(0))
    assert (winners == 0).mean() == pytest.approx(0.75, abs=0.05)


# ---- archive and hypervolume -------------------------------------------------------------
@pytest.mark.property
@pytest.mark.parametrize("seed", range(10))
def test_pareto_mask_matches_oracle(seed):
    rng = np.random.default_rng(seed)
    F = rng.integers(0, 8, size=(60, 1 + seed % 3)).astype(float)
    naive = [not any(np.all(F[j] <= F[i]) and np.any(F[j] < F[i]) for j in range(len(F))) for i in range(len(F))]
    assert pareto_mask(F).tolist() == naive
    assert pareto_mask(F).tolist() == (pareto_ranks(F) == 0).tolist()


@pytest.mark.property
def test_archive_order_independent_and_deduplicated():
    rng = np.random.default_rng(0)
    G = rng.integers(0, 5, size=(80, 3))
    F = np.column_stack([G[:, 0] - G[:, 1], G[:, 1] - G[:, 0] + G[:, 2]]).astype(float)
    feas = rng.random(80) < 0.8
    a = Archive.empty(3, 2)
    a.update(G, F, feas)
    b = Archive.empty(3, 2)
    perm = rng.permutation(80)
    for chunk in np.array_split(perm, 7):
        b.update(G[chunk], F[chunk], feas[chunk])
    assert (a.genomes == b.genomes).all() and (a.objectives == b.objectives).all()
    assert len(np.unique(a.genomes, axis=0)) == len(a)
    assert pareto_mask(a.objectives).all()
    # nothing seen and feasible dominates an archived design
    Ff = F[feas]
    for f in a.objectives:
        assert not ((Ff <= f).all(axis=1) & (Ff < f).any(axis=1)).any()


def _mc_hv(P, rng, n=200_000):
    hi = P.max(axis=0)
    X = rng.random((n, P.shape[1])) * hi
    covered = (X[:, None, :] <= P[None, :, :]).all(axis=2).any(axis=1)
    return covered.mean() * np.prod(hi)


def _hv_above_origin(P):
    """Volume between the origin and the (maximized) points ``P``."""
    return hypervolume(-np.asarray(P, dtype=float), np.zeros(np.shape(P)[1]))


@pytest.mark.property
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_hypervolume_against_monte_carlo(m):
    rng = np.random.default_rng(m)
    P = rng.random((12, m))
    assert _hv_above_origin(P) == pytest.approx(_mc_hv(P, rng), rel=0.02)


@pytest.mark.unit
def test_hypervolume_exact_cases():
    assert _hv_above_origin(np.array([[1.0, 1.0]])) == 1.0
    assert _hv_above_origin(np.array([[2.0, 1.0], [1.0, 2.0]])) == 3.0
    assert _hv_above_origin(np.array([[1.0, 1.0, 1.0], [2.0, 0.5, 1.0]])) == pytest.approx(1.5)
    assert _hv_above_origin(np.empty((0, 2))) == 0.0
    assert _hv_above_origin(np.array([[-1.0, 2.0]])) == 0.0
    assert hypervolume(np.array([[1.0, np.inf], [np.nan, 0.0], [0.0, 1.0]]), np.array([2.0, 2.0])) == 2.0


@pytest.mark.unit
def test_normalized_hypervolume_counts_scale_units():
    F = np.array([[8.0, 20.0], [9.0, 10.0]])  # minimization form
    ref, scale = np.array([10.0, 30.0]), np.array([2.0, 10.0])
    # gains (1, 1) and (0.5, 2): 1 + 0.5 * 2 - 0.5 * 1
    assert normalized_hypervolume(F, ref, scale) == pytest.approx(1.5)


@pytest.mark.unit
def test_box_volumes_are_each_rows_own_hypervolume():
    F = np.array([[8.0, 20.0], [9.0, 10.0], [11.0, 0.0], [np.inf, np.inf]])
    ref, scale = np.array([10.0, 30.0]), np.array([2.0, 10.0])
    # gains (1, 1), (0.5, 2), beyond the reference in the first objective, infeasible
    np.testing.assert_allclose(box_volumes(F, ref, scale), [1.0, 1.0, 0.0, 0.0])
    for row in F[:2]:
        assert box_volumes(row[None], ref, scale)[0] == pytest.approx(normalized_hypervolume(row[None], ref, scale))


# ---- evaluation --------------------------------------------------------------------------
@pytest.mark.unit
def test_evaluator_workers_identical():
    G = np.random.default_rng(0).integers(0, 64, size=(23, 6))
    with Evaluator(score_toy, (64, 49.0, 0.0), workers=1) as one:
        a = one(G)
    with Evaluator(score_toy, (64, 49.0, 0.0), workers=2) as two:
        b = two(G)
    pd.testing.assert_frame_equal(a, b)


def _pid_frame(*args):
    """score_toy plus the process that scored each row."""
    import os

    frame = score_toy(*args)
    frame["pid"] = os.getpid()
    return frame


@pytest.mark.unit
def test_evaluator_min_slice_keeps_small_batches_in_process():
    import os

    G = np.random.default_rng(0).integers(0, 64, size=(70, 6))
    with Evaluator(_pid_frame, (64, 49.0, 0.0), workers=2, min_slice=32) as ev:
        small, large = ev(G[:63]), ev(G)
        ref = ev.fn(*ev.args, G)
    assert (small["pid"] == os.getpid()).all()  # 63 // 32: one slice, no worker round trip
    assert (large["pid"] != os.getpid()).all()  # two slices of 35 on the workers
    assert [ev.n_slices(n) for n in (10, 63, 64, 1000)] == [1, 1, 2, 2]
    pd.testing.assert_frame_equal(large.drop(columns="pid"), ref.drop(columns="pid"))


@pytest.mark.unit
def test_evaluator_rejects_bad_workers():
    with pytest.raises(ValueError, match="'workers' parameter"):
        Evaluator(score_toy, workers=0)


@pytest.mark.unit
@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("10m", 600), ("1h30m", 5400), ("2h", 7200)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.unit
@pytest.mark.parametrize("text", ["", "10x", "m", "-5", "0"])
def test_parse_duration_errors(text):
    with pytest.raises(InputError, match="time-budget"):
        parse_duration(text)


@pytest.mark.property
@pytest.mark.parametrize("seed", range(12))
def test_hypervolume_exact_on_integer_grid(seed):
    """Integer points: the volume is the count of unit cells (c-1, c] below some point."""
    rng = np.random.default_rng(seed)
    m = 2 + seed % 3
    P = rng.integers(1, 6, size=(rng.integers(1, 25), m)).astype(float)
    cells = np.array(list(itertools.product(range(1, 6), repeat=m)), dtype=float)
    count = (cells[:, None, :] <= P[None, :, :]).all(axis=2).any(axis=1).sum()
    assert _hv_above_origin(P) == pytest.approx(float(count))
    assert _hv_above_origin(P[rng.permutation(len(P))]) == pytest.approx(float(count))


# ---- outputs ----------------------------------------------------------------------------
@pytest.mark.golden
def test_pimcomp_matches_pimsyn_example(reference_dir):
    import json

    from evo_pimsyn.engine.outputs import pimcomp_config

    arch = json.loads((reference_dir / "outputs" / "alexnet.json").read_text())
    expected = json.loads((reference_dir / "outputs" / "alexnet_pimcomp.json").read_text())
    assert pimcomp_config(arch) == expected


@pytest.mark.unit
def test_pimcomp_grid_without_macro_h():
    from evo_pimsyn.engine.outputs import pimcomp_config

    arch = {"rram_res": 4, "xbar_size": 128,
            "a": {"macro_num": 5, "macro_sharing": "None", "macro_size": 96},
            "b": {"macro_num": 3, "macro_sharing": "a", "macro_size": 96}}
    assert pimcomp_config(arch) == {"CellPrecision": 4, "CrossbarH": 128, "CrossbarW": 128, "ChipH": 3,
                                    "ChipW": 2, "CoreH": 10, "CoreW": 10}


@pytest.mark.unit
def test_flatten_records_columns_and_nullable_ints():
    from evo_pimsyn.engine.outputs import flatten_records

    recs = [{"id": "a", "total_power_W": 49, "rram_ratio": 0.3, "dup": [3, 4], "macro_share": [None, 0]},
            {"id": "b", "total_power_W": 49, "rram_ratio": 0.2, "dup": [1, 2], "macro_share": [None, None]}]
    frame = flatten_records(recs)
    assert list(frame.columns) == ["total_power_w", "rram_ratio", "dup_0", "dup_1", "macro_share_0", "macro_share_1"]
    assert frame.to_csv(index=False).splitlines()[1:] == ["49,0.3,3,4,,0", "49,0.2,1,2,,"]


@pytest.mark.unit
def test_violation_ranks_over_budget_rows_between_feasible_and_refused():
    # the evaluator's strict power check leaves over-budget rows scored but infeasible
    frame = pd.DataFrame({"feasible": [True, False, False], "reason": ["ok", "peak_power_gt_budget", "mini_power"],
                          "efficiency_gops_w": [1.0, 2.0, 0.0], "peak_power_w": [49.0, 49.3, np.nan]})
    s = score(frame, parse_objectives("efficiency"), 49.0)
    assert s.feasible.tolist() == [True, False, False]
    assert s.violation[1] == pytest.approx(1 + 0.3 / 49.3) and np.isinf(s.objectives[1, 0])
    assert s.violation[1] < s.violation[2] == 2.0  # near the budget beats refused outright


@pytest.mark.unit
def test_survival_prefers_distinct_genomes():
    from evo_pimsyn.engine.loop import penalize_duplicates

    G = np.array([[1, 2], [1, 2], [3, 4], [1, 2], [5, 6]])
    F = np.array([[0.0], [0.0], [1.0], [0.0], [2.0]])
    V = np.zeros(5)
    sF, sV = penalize_duplicates(G, F, V)
    assert sV.tolist() == [0, 3, 0, 3, 0] and np.isinf(sF[[1, 3]]).all()
    assert nsga.select_nsga2(sF, sV, 3).tolist() == [0, 2, 4]
    assert F[1, 0] == 0.0  # the caller's arrays are untouched


@pytest.mark.unit
def test_checkpoint_cadence_auto_bounds_write_time():
    from evo_pimsyn.engine.cadence import AUTO, AUTO_GAP, Cadence

    c = Cadence.from_setting(AUTO, now=100.0)
    assert c.due(100.0)  # the first generation is written at once
    # generations of 0.1 s, writes whose cost grows with the log (0.05 ms per generation so far)
    now, spent, written = 100.0, 0.0, 0
    for gen in range(20000):
        now += 0.1
        if c.due(now):
            cost = 5e-5 * gen
            c.wrote(now, now + cost)
            now += cost
            spent += cost
            written += 1
    assert spent / (now - 100.0) <= 1.0 / (AUTO_GAP + 1) + 1e-9
    assert written < 20000 / 10  # quadratic writing avoided
    # while writes are cheap against a generation, every generation is written
    c = Cadence.from_setting(AUTO, now=0.0)
    now = 0.0
    for _ in range(50):
        now += 0.1
        assert c.due(now)
        c.wrote(now, now + 0.001)
        now += 0.001


@pytest.mark.unit
def test_checkpoint_cadence_fixed():
    from evo_pimsyn.engine.cadence import Cadence

    every = Cadence.from_setting(0.0, now=5.0)
    assert every.due(5.0) and every.due(5.001)
    c = Cadence.from_setting(30, now=0.0)
    assert not c.due(29.9) and c.due(30.0)
    c.wrote(30.0, 31.0)
    assert not c.due(60.9) and c.due(61.0)


@pytest.mark.unit
def test_archive_revise_replaces_estimates_with_exact_values():
    G = np.array([[1], [2], [3]], dtype=np.int64)
    archive = Archive.empty(1, 2)
    archive.update(G, np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0]]), np.ones(3, dtype=bool))
    # design 2 is worse than estimated, design 3 infeasible under the exact model, and design
    # 4 is new but dominated by design 1
    archive.revise(np.array([[2], [3], [4]]), np.array([[1.5, 2.0], [np.inf, np.inf], [0.5, 3.5]]),
                   np.array([True, False, True]))
    np.testing.assert_array_equal(archive.genomes, [[1], [2]])
    np.testing.assert_array_equal(archive.objectives, [[0.0, 3.0], [1.5, 2.0]])
    archive.update(np.array([[2]]), np.array([[9.0, 0.0]]), np.array([True]))  # update keeps the known row
    np.testing.assert_array_equal(archive.objectives, [[0.0, 3.0], [1.5, 2.0]])
