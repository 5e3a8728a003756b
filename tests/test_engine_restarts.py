"""What a restart draws (engine/restarts.py): every restart records the global setting the
population had converged on, and a wholly fresh restart draws from the others."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.engine import loop, restarts
from evo_pimsyn.engine.evaluation import Evaluator
from evo_pimsyn.engine.objectives import parse_objectives, violation
from evo_pimsyn.engine.toy import ToyProblem

pytestmark = pytest.mark.unit


@dataclass
class SettingToy(ToyProblem):
    """The toy problem with a 'global setting': gene 0 modulo 4."""

    def setting_keys(self, G):
        return np.asarray(G)[:, 0] % 4


def test_the_explored_setting_is_the_best_feasible_designs_and_is_recorded_once():
    problem = SettingToy()
    G = np.array([[5, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0], [7, 0, 0, 0, 0, 0]])  # settings 1, 2, 3
    F = np.array([[-9.0], [-5.0], [-1.0]])
    V = np.array([1.5, 0.0, 0.0])  # the best value is infeasible: setting 2's design is the best
    assert restarts.explored_settings(problem, G, F, V, (), 1) == (2,)
    assert restarts.explored_settings(problem, G, F, V, (0, 2), 1) == (0, 2)
    assert restarts.explored_settings(problem, G, F, V, (0,), 1) == (0, 2)
    # several objectives, nothing feasible, or a problem without settings: unchanged
    assert restarts.explored_settings(problem, G, np.hstack([F, F]), V, (0,), 2) == (0,)
    assert restarts.explored_settings(problem, G, F, np.ones(3), (0,), 1) == (0,)
    assert restarts.explored_settings(ToyProblem(), G, F, V, (0,), 1) == (0,)


def test_a_fresh_restart_draws_from_the_settings_not_yet_explored():
    problem = SettingToy()
    G = restarts.fresh_genomes(problem, 16, np.random.default_rng(1), explored=(0, 2))
    assert G.shape == (16, problem.n_genes)
    assert set(problem.setting_keys(G)) <= {1, 3}
    # nothing explored: exactly problem.initial's draw
    np.testing.assert_array_equal(restarts.fresh_genomes(problem, 16, np.random.default_rng(1), ()),
                                  problem.initial(16, np.random.default_rng(1)))
    pool = problem.initial(16 * restarts.FRESH_DRAWS, np.random.default_rng(1))
    # every setting explored: the first draws, whatever their setting
    G = restarts.fresh_genomes(problem, 16, np.random.default_rng(1), explored=(0, 1, 2, 3))
    np.testing.assert_array_equal(G, pool[:16])
    # a problem without settings: the first draws
    G = restarts.fresh_genomes(ToyProblem(), 16, np.random.default_rng(1), explored=(0,))
    np.testing.assert_array_equal(G, pool[:16])


def test_too_few_new_draws_are_topped_up_with_explored_ones_in_draw_order():
    problem = SettingToy()
    pool = problem.initial(8 * restarts.FRESH_DRAWS, np.random.default_rng(3))
    keys = problem.setting_keys(pool)
    G = restarts.fresh_genomes(problem, 8, np.random.default_rng(3), explored=(0, 1, 2))
    new = pool[keys == 3]
    assert 0 < len(new) < 8  # the seed leaves too few designs of setting 3
    np.testing.assert_array_equal(G, np.concatenate([new, pool[keys != 3]])[:8])


def test_a_run_records_each_setting_it_had_converged_on_and_checkpoints_them():
    problem = SettingToy()
    settings = loop.Settings(objectives=parse_objectives("efficiency"), power_w=49.0, population=16,
                             restart_after=2, restart_min_gain=0.5)  # stalls, hence restarts, often
    with Evaluator(*problem.scorer("cycle"), workers=1) as ev:
        state = loop.evolve(problem, ev, settings, loop.Stop(generations=30), seed=5)
    assert state.counters.restarts >= 3
    explored = state.counters.explored
    assert 1 <= len(explored) == len(set(explored)) and set(explored) <= {0, 1, 2, 3}
    assert loop.Counters.from_record(state.counters.to_record()) == state.counters


def test_counters_refuse_an_explored_list_of_anything_but_ints():
    with pytest.raises(ValueError, match="explored"):
        loop.Counters.from_record({"explored": [1, "2"]})
    with pytest.raises(ValueError, match="explored"):
        loop.Counters.from_record({"explored": 3})
    assert loop.Counters.from_record({}).explored == ()  # a checkpoint from before the field


def test_fresh_epochs_are_those_after_the_odd_numbered_restarts():
    # restart 0 breeds from the archive (epoch 1), restart 1 is wholly fresh (epoch 2), ...
    assert [restarts.in_fresh_epoch(r) for r in range(6)] == [False, False, True, False, True, False]


def test_designs_of_explored_settings_rank_after_every_real_violation():
    problem = SettingToy()
    G = np.array([[4, 0, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0], [8, 0, 0, 0, 0, 0]])  # 0, 1, 2, 0
    V = np.array([0.0, 0.7, 0.0, 2.5])
    shunned = restarts.shun_explored(problem, G, V, (0,))
    np.testing.assert_array_equal(shunned, [restarts.EXPLORED_VIOLATION, 0.7, 0.0, 2.5])
    assert restarts.EXPLORED_VIOLATION < loop.DUPLICATE_VIOLATION
    assert restarts.shun_explored(problem, G, V, ()) is V
    assert restarts.shun_explored(problem, G, V, (0, 1, 2)) is V  # every row explored
    assert restarts.shun_explored(ToyProblem(), G, V, (0,)) is V


def test_a_fresh_epoch_keeps_its_population_out_of_the_explored_settings():
    problem = SettingToy()
    settings = loop.Settings(objectives=parse_objectives("efficiency"), power_w=49.0, population=16,
                             restart_after=2, restart_min_gain=0.5)
    seen = []

    def watch(state, batch):
        c = state.counters
        # a generation of a fresh epoch (not its restart) while some setting is unexplored
        if restarts.in_fresh_epoch(c.restarts) and c.stall > 0 and len(c.explored) < 4:
            seen.append(set(problem.setting_keys(state.population)) & set(c.explored))

    with Evaluator(*problem.scorer("cycle"), workers=1) as ev:
        loop.evolve(problem, ev, settings, loop.Stop(generations=40), seed=5, on_generation=watch)
    assert seen and all(not s for s in seen)


@dataclass
class ScreenedToy(SettingToy):
    """SettingToy with a screening sample and fresh draws confined to given settings."""

    def screening(self, fidelity):
        G = np.zeros((self.high, self.n_genes), dtype=np.int64)
        G[:, 0] = np.arange(self.high)
        G[:, -1] = self.high // 2
        return G[(G[:, 0] % 4 != 3) | (G[:, 0] > 40)]  # setting 3 screens far worse than the others

    def initial_in(self, keys, n, rng):
        G = self.initial(n, rng)
        G[:, 0] = np.asarray(keys)[G[:, 1] % len(keys)] + 4 * (G[:, 0] // 4)
        return G


def test_settings_rank_by_their_best_feasible_design_and_only_the_promising_count():
    problem = SettingToy()
    G = np.array([[1], [5], [2], [3], [6], [0]])  # settings 1, 1, 2, 3, 2, 0
    F = np.array([[-8.0], [-10.0], [-10.0], [-12.0], [-1.0], [-7.0]])
    V = np.array([0.0, 0.0, 0.0, 0.5, 0.0, 0.0])  # setting 3's only design is infeasible
    # 1 and 2 tie at -10 (the smaller key first); 0 is 30 % worse than them: not promising
    assert restarts.rank_settings(problem, G, F, V) == (1, 2)
    F[5] = -7.5  # 25 % worse: promising
    assert restarts.rank_settings(problem, G, F, V) == (1, 2, 0)
    assert restarts.rank_settings(problem, G, F, np.ones(6)) == ()
    assert restarts.rank_settings(ToyProblem(), G, F, V) == ()


def test_the_screening_ranks_a_setting_whose_designs_are_all_a_hair_over_the_power_budget():
    """The heuristic seeds fill the budget, and the allocation's ceilings leave some
    settings' seeds just over it: such a setting ranks by those designs (its runs reach
    feasible designs there), one further over does not, nor does a refused design."""
    problem = SettingToy()
    objectives = parse_objectives("efficiency")
    G = np.array([[1], [5], [2], [3], [0]])  # settings 1, 1, 2, 3, 0
    frame = pd.DataFrame({objectives[0].column: [100.0, 90.0, 110.0, 120.0, 130.0],
                          "feasible": [True, True, False, False, False],
                          # milliwatts over 49 W, half a watt over, refused outright
                          "peak_power_w": [48.0, 48.5, 49.002, 49.5, np.nan]})
    V = violation(frame, 49.0)
    assert restarts.rank_screening(problem, G, frame, objectives, V) == (2, 1)
    # the plain ranking counts feasible designs only
    F = np.where(V[:, None] <= 0, -frame[[objectives[0].column]].to_numpy(), np.inf)
    assert restarts.rank_settings(problem, G, F, V) == (1,)


def test_a_fresh_restart_draws_among_the_allowed_settings_the_unexplored_first():
    problem = ScreenedToy()
    G = restarts.fresh_genomes(problem, 16, np.random.default_rng(1), explored=(0, 2), allowed=(2, 3))
    keys = problem.setting_keys(G)
    assert G.shape == (16, 6) and set(keys) == {3}  # the unexplored one of the allowed
    # a restart that breeds from the archive (nothing explored): n draws among the allowed
    G = restarts.fresh_genomes(problem, 16, np.random.default_rng(1), explored=(), allowed=(1,))
    assert set(problem.setting_keys(G)) == {1}
    # a problem that cannot draw among settings: the draw without them
    np.testing.assert_array_equal(restarts.fresh_genomes(SettingToy(), 16, np.random.default_rng(1), (0, 2), (2, 3)),
                                  restarts.fresh_genomes(SettingToy(), 16, np.random.default_rng(1), (0, 2)))


def test_fresh_epochs_shun_only_while_a_promising_setting_is_unexplored():
    assert restarts.shuns((2, 0), (0,))
    assert not restarts.shuns((2, 0), (0, 2, 1))
    assert restarts.shuns(None, (0, 2)) and restarts.shuns((), (0, 2))  # not screened, or nothing found


def test_a_run_screens_once_and_its_restarts_draw_among_the_promising_settings(monkeypatch):
    problem = ScreenedToy()
    shunned_while = []  # the explored settings at every generation that shunned them
    plain = restarts.shun_explored

    def spy(problem, G, V, explored):
        shunned_while.append(set(explored))
        return plain(problem, G, V, explored)

    monkeypatch.setattr(restarts, "shun_explored", spy)
    settings = loop.Settings(objectives=parse_objectives("efficiency"), power_w=49.0, population=16,
                             restart_after=2, restart_min_gain=0.5)
    epochs = {}  # restart number -> (explored settings, population) at its first generation

    def watch(state, batch):
        c = state.counters
        if c.restarts not in epochs:
            epochs[c.restarts] = (c.explored, state.population.copy())

    screened = problem.screening("cycle")
    with Evaluator(*problem.scorer("cycle"), workers=1) as ev:
        state = loop.evolve(problem, ev, settings, loop.Stop(generations=80), seed=5, on_generation=watch)
        found = loop.score(ev(screened), settings.objectives, settings.power_w)
        # generation 0 counts the screening sample among its evaluations
        assert loop.evolve(problem, ev, settings, loop.Stop(generations=0), seed=5).evaluations == 16 + len(screened)
    ranked = restarts.rank_screening(problem, screened, found.frame, settings.objectives, found.violation)
    assert state.counters.ranked == ranked == (0, 1, 2)
    for k in sorted(epochs)[1:]:
        # the generation after a restart: its population drawn among the promising
        # settings, only its children can have left them
        assert np.isin(problem.setting_keys(epochs[k][1]), ranked).mean() >= 0.5
    # once every promising setting is explored, a fresh epoch climbs them all again: no shunning
    assert any(restarts.in_fresh_epoch(k) and set(ranked) <= set(epochs[k][0]) for k in epochs)
    assert shunned_while and all(not set(ranked) <= explored for explored in shunned_while)
    assert loop.Counters.from_record(state.counters.to_record()) == state.counters


def test_counters_refuse_a_ranking_of_anything_but_ints():
    with pytest.raises(ValueError, match="ranked"):
        loop.Counters.from_record({"ranked": [1, 2.5]})
    with pytest.raises(ValueError, match="ranked"):
        loop.Counters.from_record({"ranked": 3})
    assert loop.Counters.from_record({"explored": [1]}).ranked is None  # a checkpoint from before the field
