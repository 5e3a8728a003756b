"""Search aids against premature convergence: local-search neighbours, restarts after
stagnation and verification of would-be bests with the exact evaluator. All state they
keep (stall counter, restarts, verified flags) must survive a checkpoint round trip, so a
resumed run is identical to a straight one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.engine import checkpoint as ckpt
from evo_pimsyn.engine import loop, restarts, verification
from evo_pimsyn.engine.evaluation import Evaluator, score
from evo_pimsyn.engine.objectives import parse_objectives
from tests import engine_helpers as h
from tests.conftest import REFERENCE

ALEXNET = REFERENCE / "networks" / "alexnet.json"
WALL = set(loop.WALL_COLUMNS)


@pytest.fixture(scope="module")
def problem():
    from evo_pimsyn.engine.setup import prepare_pim

    return prepare_pim(str(ALEXNET), None, 49.0, "specified", True).problem


def _settings(**kw):
    return loop.Settings(objectives=parse_objectives("efficiency"), power_w=49.0, population=8, fidelity="analytic",
                         restart_after=kw.pop("restart_after", 2), polish_fraction=kw.pop("polish_fraction", 0.0),
                         **kw)


def _run(problem, settings, gens, state=None, workers=1):
    with Evaluator(*problem.scorer("analytic"), workers=workers) as ev, \
            Evaluator(*problem.scorer("cycle"), workers=1) as verify:
        return loop.evolve(problem, ev, settings, loop.Stop(generations=gens), state=state, seed=3, verify=verify)


def _same(a: loop.State, b: loop.State) -> None:
    assert a.generation == b.generation and a.evaluations == b.evaluations
    np.testing.assert_array_equal(a.population, b.population)
    np.testing.assert_array_equal(a.objectives, b.objectives)
    np.testing.assert_array_equal(a.verified, b.verified)
    np.testing.assert_array_equal(a.archive.genomes, b.archive.genomes)
    np.testing.assert_array_equal(a.archive.objectives, b.archive.objectives)
    assert a.counters == b.counters
    # as frames: NaN (no feasible design yet) equals NaN there, not in dict comparison
    strip = [pd.DataFrame(log).drop(columns=list(WALL), errors="ignore") for log in (a.logbook, b.logbook)]
    pd.testing.assert_frame_equal(*strip)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


@pytest.mark.e2e
def test_restarts_and_verification_resume_identically(problem, tmp_path):
    settings = _settings(restart_after=1)  # restarts several times within 20 generations
    straight = _run(problem, settings, 20)
    assert straight.counters.restarts >= 1 and straight.counters.verified >= 1
    assert straight.logbook[-1]["restarts"] == straight.counters.restarts
    half = _run(problem, settings, 9)
    ckpt.save(tmp_path, half, config_hash="x")
    loaded = ckpt.load(tmp_path).state
    assert loaded.verified is not None and loaded.verified.dtype == bool
    np.testing.assert_array_equal(loaded.search_values, half.search_values)
    _same(straight, _run(problem, settings, 20, state=loaded))
    _same(straight, _run(problem, settings, 20, workers=2))


@pytest.mark.e2e
def test_archive_best_is_exact(problem):
    st = _run(problem, _settings(restart_after=0), 6)
    fn, args = problem.scorer("cycle")
    frame = fn(*args, st.archive.genomes)
    np.testing.assert_allclose(-st.archive.objectives[:, 0], frame["efficiency_gops_w"].to_numpy(float))


@pytest.mark.unit
def test_verify_best_only_rescores_would_be_bests():
    calls = []

    def verify(G):
        calls.append(G.copy())
        return pd.DataFrame({"feasible": [True] * len(G), "reason": ["ok"] * len(G),
                             "efficiency_gops_w": G[:, 0].astype(float) / 2, "peak_power_w": [1.0] * len(G)})

    settings = _settings(verify_limit=8)
    G = np.array([[10], [30], [20], [30], [5]], dtype=np.int64)
    F = -G.astype(float)
    V = np.zeros(len(G))
    flags = np.array([True, False, False, False, False])
    F[0] = -9.0  # row 0 already verified at 9
    F2, V2, fl, n_verified = verification.verify_best(G, F, V, flags, -G[:, 0].astype(float), verify, settings)
    # 30 (twice, one design) and 20 beat 9 and are re-scored once each; 5 does not
    assert sorted(int(g) for c in calls for g in c[:, 0]) == [20, 30]
    np.testing.assert_array_equal(fl, [True, True, True, True, False])
    np.testing.assert_array_equal(-F2[:, 0], [9, 15, 10, 15, 5])
    assert n_verified == 2


@pytest.mark.unit
def test_verify_bar_uses_the_best_rows_fast_value_where_it_under_rates():
    """The best verified row is worth 12 exactly but only 10 by the fast model: a row
    whose fast value is 11 beats it in the fast model's own terms and is checked; a row
    at 9 is not. Where the fast model over-rates the best, its exact value is the bar."""
    calls = []

    def verify(G):
        calls.append(G.copy())
        return pd.DataFrame({"feasible": [True] * len(G), "reason": ["ok"] * len(G),
                             "efficiency_gops_w": G[:, 0].astype(float) + 1.5, "peak_power_w": [1.0] * len(G)})

    settings = _settings(verify_limit=8)
    G = np.array([[10], [11], [9]], dtype=np.int64)
    fast = -G[:, 0].astype(float)
    F = fast[:, None].copy()
    F[0] = -12.0
    flags = np.array([True, False, False])
    F2, _, fl, _ = verification.verify_best(G, F, np.zeros(3), flags, fast, verify, settings)
    assert [int(g) for c in calls for g in c[:, 0]] == [11]
    np.testing.assert_array_equal(fl, [True, True, False])
    assert -F2[1, 0] == 12.5
    calls.clear()
    # over-rated best (fast 10, exact 9.5): the bar is its exact 9.5, so a row whose fast
    # value is 9.7 (below the best's fast 10) is checked, one at 9 is not
    F[0] = -9.5
    G2 = np.array([[10], [11], [9], [8]], dtype=np.int64)
    fast2 = np.array([-10.0, -11.0, -9.7, -9.0])
    F2 = np.vstack([F, [[-9.0]]])
    F2[2, 0] = -9.7
    verification.verify_best(G2, F2, np.zeros(4), np.array([True, False, False, False]), fast2, verify, settings)
    assert sorted(int(g) for c in calls for g in c[:, 0]) == [9, 11]


@pytest.mark.unit
def test_local_moves_keep_the_global_setting(problem):
    from genomes.operators import mutate

    rng = np.random.default_rng(0)
    E = problem.initial(16, rng)
    M = mutate(problem.layout, E, rng, p_global=1.0, global_genes=("rram_ratio",))
    np.testing.assert_array_equal(M[:, :3], E[:, :3])
    N = problem.neighbors(E, 40, rng)
    assert N.shape == (40, problem.n_genes)
    from genomes.repair import repair

    np.testing.assert_array_equal(repair(problem.layout, N), N)
    with pytest.raises(ValueError):
        mutate(problem.layout, E, rng, global_genes=("nope",))


@pytest.mark.e2e
def test_polish_generations_resume_identically(problem, tmp_path):
    """The last half of a 12-generation run polishes (generations 7-12); a run killed in
    the middle of the polish and resumed from its checkpoint ends identical."""
    settings = _settings(restart_after=0, polish_fraction=0.5)
    straight = _run(problem, settings, 12)
    assert straight.counters.polish_generations == 6

    holder: list = []

    def kill_at_8(st, batch):
        if st.generation == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), Evaluator(*problem.scorer("analytic"), workers=1) as ev, \
            Evaluator(*problem.scorer("cycle"), workers=1) as verify:
        loop.evolve(problem, ev, settings, loop.Stop(generations=12), seed=3, verify=verify,
                    on_generation=kill_at_8, holder=holder)
    ckpt.save(tmp_path, holder[0], config_hash="x")
    _same(straight, _run(problem, settings, 12, state=ckpt.load(tmp_path).state))


@pytest.mark.e2e
def test_polish_step_climbs_from_the_best_verified_design(problem):
    """A polish generation's children are neighbours of the best verified design (same
    crossbar size, cell and DAC resolution) and the best of them by the fast model are
    verified even when none beats the bar."""
    from genomes.layout import DAC_RES, RRAM_RES, XBAR

    settings = _settings(restart_after=0)
    state = _run(problem, settings, 3)
    best = verification.best_verified(state.objectives, state.violation, state.verified)
    assert best is not None
    seen = []
    fn, args = problem.scorer("analytic")

    def evaluate(G):
        seen.append(np.array(G))
        return fn(*args, G)

    vfn, vargs = problem.scorer("cycle")
    new, batch = loop.step(state, problem, evaluate, settings, verify=lambda G: vfn(*vargs, G), polish=True)
    children = seen[0]
    assert len(children) == 2 * settings.population  # population + local_fraction x population
    setting = [XBAR, RRAM_RES, DAC_RES]
    assert (children[:, setting] == state.population[best, setting]).all()
    feasible_new = len(np.unique(children[batch.feasible], axis=0))
    assert new.counters.verified - state.counters.verified >= min(settings.verify_limit, feasible_new)
    assert new.counters.polish_generations == 1
    # the new population's best is verified and no worse than before
    nb = verification.best_verified(new.objectives, new.violation, new.verified)
    assert new.objectives[nb, 0] <= state.objectives[best, 0]


@pytest.mark.unit
def test_stop_in_last_fraction():
    stop = loop.Stop(generations=20)
    st = loop.State(generation=17, population=None, objectives=None, violation=None, archive=None, logbook=[],
                    rng=None, evaluations=0, elapsed_s=0.0)
    assert not stop.in_last(st, 0.1)  # generation 18 of 20
    st.generation = 18
    assert stop.in_last(st, 0.1)  # generation 19
    assert not stop.in_last(st, 0.0)
    timed = loop.Stop(time_budget_s=100.0)
    st.elapsed_s = 89.0
    assert not timed.in_last(st, 0.1)
    st.elapsed_s = 90.0
    assert timed.in_last(st, 0.1)


@pytest.mark.unit
def test_stall_counts_the_populations_progress():
    """The restart counter follows the population's own hypervolume: a fresh population
    (after a restart) starts a new baseline even when it is far below the archive's best."""
    c = loop.Counters().progressed(2.0)
    assert (c.best_hv, c.stall) == (2.0, 0)
    c = c.progressed(2.0).progressed(1.5)
    assert (c.best_hv, c.stall) == (2.0, 2)
    c = c.progressed(3.0)
    assert (c.best_hv, c.stall) == (3.0, 0)
    c = loop.replace(c, best_hv=None)  # what a restart does
    c = c.progressed(0.5)
    assert (c.best_hv, c.stall) == (0.5, 0)
    assert c.progressed(0.6).stall == 0


@pytest.mark.unit
def test_stall_ignores_growth_below_the_minimum_gain():
    """With Settings.restart_min_gain, a generation whose hypervolume grew by less than that
    fraction counts as stalled and keeps the old baseline; a larger step resets the count."""
    c = loop.Counters().progressed(2.0, 1e-3)
    c = c.progressed(2.001, 1e-3)  # +0.05 %
    c = c.progressed(2.0019, 1e-3)  # +0.095 % over the kept baseline 2.0
    assert (c.best_hv, c.stall) == (2.0, 2)
    c = c.progressed(2.0021, 1e-3)  # +0.105 %
    assert (c.best_hv, c.stall) == (2.0021, 0)
    c = c.progressed(2.0022, 0.0)  # any growth counts without a minimum
    assert (c.best_hv, c.stall) == (2.0022, 0)
    with pytest.raises(ValueError, match="restart_min_gain"):
        _settings(restart_min_gain=1.0)


@pytest.mark.unit
def test_a_gain_of_the_archive_counts_as_progress():
    """Minimization form: the archive's best falling by more than the minimum gain (or a
    first feasible design) is progress; a smaller step, none or an empty archive is not."""
    assert loop.archive_gained(-435.4, -437.2, 3e-4)
    assert not loop.archive_gained(-435.4, -435.5, 3e-4)  # +0.02 %
    assert not loop.archive_gained(-435.4, -435.4, 0.0)
    assert loop.archive_gained(float("inf"), -1.0, 3e-4)
    assert not loop.archive_gained(float("inf"), float("inf"), 3e-4)


def _stalled_steps(problem, settings, verify, n=12):
    """(whether the archive's best gained, the stall count after) for ``n`` generations, each
    started from a stall count of 5 under a population baseline out of reach."""
    fn, args = problem.scorer("analytic")
    evaluate = lambda G: fn(*args, G)  # noqa: E731
    state, _ = loop.initialize(problem, evaluate, settings, np.random.default_rng(3), verify=verify)
    out = []
    for _ in range(n):
        stalled = loop.replace(state, counters=loop.replace(state.counters, stall=5, best_hv=1e9))
        new, _ = loop.step(stalled, problem, evaluate, settings, verify=verify)
        out.append((loop.archive_gained(state.archive.best_value(), new.archive.best_value(),
                                        settings.restart_min_gain), new.counters.stall))
        state = new
    return out


@pytest.mark.e2e
def test_a_verified_gain_resets_the_stall_count_under_an_over_rated_baseline(problem):
    """The population's hypervolume baseline set out of reach (as an over-rated estimate
    sets it): a generation whose checks raise the archive's best resets the stall count,
    one that does not counts on."""
    vfn, vargs = problem.scorer("cycle")
    settings = _settings(restart_after=10**6)
    steps = _stalled_steps(problem, settings, lambda G: vfn(*vargs, G))
    assert all(stall == (0 if gained else 6) for gained, stall in steps)
    assert {gained for gained, _ in steps} == {True, False}
    # with several objectives the population's hypervolume alone counts
    three = loop.replace(settings, objectives=parse_objectives("efficiency,throughput,area"))
    steps = _stalled_steps(problem, three, None)
    assert all(stall == 6 for _, stall in steps)
    assert any(gained for gained, _ in steps)


@pytest.mark.unit
def test_a_fresh_draw_among_given_settings_and_the_screening_sample(problem):
    """initial_in: fresh genomes all of the given (crossbar size, cell, DAC resolution)
    settings, legal, several ratios; None for keys no legal design has. The screening
    sample covers every setting that has a legal design."""
    from genomes.repair import repair

    keys = problem.setting_keys(problem.layout.legal_globals[:, [1, 2, 3, 0]])  # (X, r, d, ratio) columns
    two = [int(k) for k in np.argsort(-np.bincount(keys))[:2]]  # the settings with the most legal ratios
    G = problem.initial_in(two, 64, np.random.default_rng(2))
    assert G.shape == (64, problem.n_genes) and set(problem.setting_keys(G)) == set(two)
    np.testing.assert_array_equal(repair(problem.layout, G), G)
    assert len(np.unique(G[:, 3])) > 1  # ratios vary
    assert problem.initial_in([max(keys) + 1], 4, np.random.default_rng(2)) is None
    S = problem.screening("analytic")
    assert set(problem.setting_keys(S)) == set(keys.tolist())
    assert problem.screening("cycle") is None  # thousands of cycle-model designs: not worth it


@pytest.mark.unit
def test_perturb_redraws_layers_at_the_elite_setting(problem):
    """A restart's large-neighbourhood move: each child keeps an elite's global genes
    (crossbar size, resolutions, ratio, macro size), is repaired, and takes some layers'
    blocks from its source row while keeping others from the elite."""
    from genomes.layout import N_GLOBAL
    from genomes.repair import repair

    rng = np.random.default_rng(4)
    E = problem.initial(3, rng)
    sources = problem.initial(64, rng)
    P = problem.perturb(E, sources, rng)
    assert P.shape == sources.shape
    np.testing.assert_array_equal(repair(problem.layout, P), P)
    elite_of = [int(np.flatnonzero((E[:, :N_GLOBAL] == row[:N_GLOBAL]).all(axis=1))[0]) for row in P]
    assert len(set(elite_of)) > 1  # elites drawn among all of E
    dup = problem.layout.dup_slice
    from_elite = (P[:, dup] == E[elite_of][:, dup]).mean()
    assert 0.2 < from_elite < 0.95  # most layers kept, some redrawn (before the budget rescale)


@pytest.mark.e2e
@pytest.mark.parametrize("spec", ["efficiency", "efficiency,throughput,area"])
def test_generation_0_keeps_the_best_of_the_initial_draw_and_the_screening(problem, spec):
    """With one objective or several, generation 0 scores the screening sample with the
    initial draw and keeps the NSGA-II survivors of both, a population of the run's size
    that no feasible design left out dominates; without screen_settings, the draw alone.
    With one objective the sample also ranks the settings for the restarts."""
    objectives = parse_objectives(spec)
    fn, args = problem.scorer("analytic")
    evaluate = lambda G: fn(*args, G)  # noqa: E731
    screened = problem.screening("analytic")
    settings = loop.replace(_settings(), objectives=objectives)
    plain, _ = loop.initialize(problem, evaluate, loop.replace(settings, screen_settings=False),
                               np.random.default_rng(5))
    state, batch = loop.initialize(problem, evaluate, settings, np.random.default_rng(5))
    assert len(state.population) == len(plain.population) == 8
    assert state.evaluations == plain.evaluations + len(screened)
    assert len(batch.frame) == len(batch.objectives) == 8
    from_screening = (state.population[:, None, :] == screened[None, :, :]).all(axis=2).any(axis=1)
    assert from_screening.any()
    union = np.concatenate([plain.population, screened])
    scores = score(evaluate(union), objectives, 49.0)
    kept_rows = {g.tobytes() for g in state.population}
    kept = state.objectives[state.violation <= 0]
    left_out = [i for i, g in enumerate(union) if g.tobytes() not in kept_rows and scores.violation[i] <= 0]
    assert left_out
    for f in scores.objectives[left_out]:
        assert not ((f <= kept).all(axis=1) & (f < kept).any(axis=1)).any()
    found = score(evaluate(screened), objectives, 49.0)
    ranked = restarts.rank_screening(problem, screened, found.frame, settings.objectives, found.violation)
    assert state.counters.ranked == (ranked if len(objectives) == 1 else None)
    assert plain.counters.ranked is None


@pytest.mark.e2e
def test_every_other_restart_seeds_half_the_population_from_the_archive(problem):
    """The 1st, 3rd, ... restart's fresh population: its second half are perturbed archive
    designs (the archive's global setting), the first half fresh genomes. The 2nd, 4th, ...
    restart and restart_elite=0 give only fresh genomes, of global settings other than the
    one the population had converged on. Fresh genomes are drawn among the promising
    settings of generation 0's screening."""
    from genomes.layout import N_GLOBAL

    state = _run(problem, _settings(restart_after=0), 4)
    assert len(state.archive.genomes) >= 1
    seen = []
    fn, args = problem.scorer("analytic")

    def evaluate(G):
        seen.append(np.array(G))
        return fn(*args, G)

    ranked = state.counters.ranked  # the promising settings, by generation 0's screening
    assert ranked

    def draw(n):  # what the restart draws first, from the state's generator
        rng = np.random.Generator(type(state.rng.bit_generator)())
        rng.bit_generator.state = state.rng.bit_generator.state
        return problem.initial_in(ranked, n, rng)

    initial = draw(8)
    # a wholly fresh restart draws from the settings other than the converged population's
    best = np.flatnonzero(state.violation <= 0)[np.argmin(state.objectives[state.violation <= 0, 0])]
    pool = draw(8 * restarts.FRESH_DRAWS)
    other = pool[problem.setting_keys(pool) != problem.setting_keys(state.population[best:best + 1])[0]]
    arch = {tuple(g[:N_GLOBAL]) for g in state.archive.genomes}
    for elite, done, seeded in ((0.5, 0, True), (0.5, 1, False), (0.5, 2, True), (0.5, 3, False), (0.0, 0, False)):
        seen.clear()
        restart = loop.replace(state, counters=loop.replace(state.counters, stall=10**6, restarts=done))
        new, _ = loop.step(restart, problem, evaluate, _settings(restart_after=1, restart_elite=elite))
        assert new.counters.restarts == done + 1
        fresh = seen[0]
        if not seeded:
            np.testing.assert_array_equal(fresh, other[:8])
            continue
        np.testing.assert_array_equal(fresh[:4], initial[:4])
        assert all(tuple(g[:N_GLOBAL]) in arch for g in fresh[4:])
        assert not (fresh[4:] == initial[4:]).all(axis=1).any()
    with pytest.raises(ValueError):
        _settings(restart_elite=1.5)


@pytest.mark.unit
def test_verification_per_generation_halves_after_each_limit_of_misses_down_to_its_floor():
    settings = _settings(verify_limit=8)
    limits = [verification.adaptive_limit(settings, m).verify_limit for m in (0, 7, 8, 15, 16, 24, 10**6)]
    assert limits == [8, 8, 4, 4, 2, 2, 2]
    assert verification.adaptive_limit(_settings(verify_limit=2), 10**6).verify_limit == 1
    # a larger limit (the corner phase's 64) falls as far as the default's: to 2 rows
    big = _settings(verify_limit=64)
    limits = [verification.adaptive_limit(big, m).verify_limit for m in (63, 64, 128, 192, 256, 320, 10**6)]
    assert limits == [64, 32, 16, 8, 4, 2, 2]
    one = _settings(verify_limit=1)
    assert verification.adaptive_limit(one, 100) is one


@pytest.mark.unit
def test_a_run_whose_checks_never_raise_the_best_verifies_less_and_less():
    """An exact model that rates every design 1 GOPS/W: after generation 0 no check ever
    raises the best verified design, so the checks a generation makes fall 8, 4, 4, 2, ..."""
    from evo_pimsyn.engine.toy import ToyProblem, score_toy

    toy = ToyProblem()

    def flat(G):
        frame = score_toy(toy.high, toy.power_w, 0.0, G)
        return frame.assign(efficiency_gops_w=np.where(frame["feasible"], 1.0, 0.0))

    settings = loop.Settings(objectives=parse_objectives("efficiency"), power_w=49.0, population=32,
                             fidelity="analytic", restart_after=0, polish_fraction=0.0, verify_limit=8)
    with Evaluator(*toy.scorer("analytic"), workers=1) as ev:
        state = loop.evolve(toy, ev, settings, loop.Stop(generations=10), seed=1, verify=flat)
    per_generation = np.diff([row["verified"] for row in state.logbook]).tolist()
    assert per_generation == [8, 4, 4, 2, 2, 2, 2, 2, 2, 2]
    assert state.counters.verify_misses == sum(per_generation)
