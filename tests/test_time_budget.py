"""``--time-budget`` bounds the whole command (engine/timebudget.py), checked with a fake
clock: a problem whose scorers advance the clock by a cost per design (the analytic and the
cycle model at different prices) stands in for the hardware model, so the rules are tested
on what they decide, not on how fast this machine is."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.engine import checkpoint as ckpt
from evo_pimsyn.engine import loop, setup
from evo_pimsyn.engine.evaluation import Evaluator
from evo_pimsyn.engine.objectives import parse_objectives
from evo_pimsyn.engine.session import RunOptions, resume, start
from evo_pimsyn.engine.timebudget import (CHUNK_S, SAFETY, FinishCost, SearchDeadline, TimeBudget, plan_rescoring,
                                          process_started_at, rescore_order)
from evo_pimsyn.engine.toy import ToyProblem, score_toy
from tests.engine_helpers import FakeClock


def _timed_score(clock: FakeClock, per_design_s: float, high: int, power_w: float, G: np.ndarray) -> pd.DataFrame:
    clock.advance(per_design_s * len(G))
    return score_toy(high, power_w, 0.0, G)


@dataclass
class TimedToy(ToyProblem):
    """The toy problem whose scoring costs ``analytic_s`` / ``cycle_s`` fake seconds a design."""

    clock: FakeClock = field(default_factory=FakeClock)
    analytic_s: float = 0.0
    cycle_s: float = 0.0

    def scorer(self, fidelity: str):
        per = self.cycle_s if fidelity == "cycle" else self.analytic_s
        return _timed_score, (self.clock, per, self.high, self.power_w)


@pytest.fixture
def timed(monkeypatch):
    """Register problem kind "timed" (a TimedToy on a fresh fake clock); returns a setter
    of its prices and the clock."""
    clock = FakeClock()
    prices = SimpleNamespace(analytic_s=0.01, cycle_s=0.01)

    def prepare_timed(model, config, power_w, macro_setting, macro_reuse, power_check, fixes, *, pins=None,
                      dup="searched"):
        s = setup.prepare_toy("toy", config, power_w, macro_setting, macro_reuse, power_check, fixes, pins=pins,
                              dup=dup)
        s.problem = TimedToy(power_w=float(power_w), clock=clock, analytic_s=prices.analytic_s,
                             cycle_s=prices.cycle_s)
        return s

    monkeypatch.setitem(setup.PREPARERS, "timed", prepare_timed)
    return SimpleNamespace(clock=clock, prices=prices)


def _options(out, **kw) -> RunOptions:
    base = dict(model="toy", power_w=49.0, problem="timed", population=16, seed=2, out=str(out), quiet=True,
                checkpoint_every_s=0.0)
    base.update(kw)
    return RunOptions(**base)


# ---- the session under a budget ------------------------------------------------------------
@pytest.mark.e2e
def test_budget_bounds_the_command_start_up_search_and_finish(timed, tmp_path):
    out = tmp_path / "run"
    assert start(_options(out, time_budget_s=20.0), started_at=0.0, clock=timed.clock) == 0
    # every cost of this run is on the fake clock: its reading is when the last file was written
    assert 20.0 * 0.7 <= timed.clock.now <= 20.0
    front = pd.read_csv(out / "pareto.csv")
    assert len(front) > 20 and (front["fidelity"] == "cycle").all()
    gens = pd.read_csv(out / "generations.csv")
    assert len(gens) > 50  # the search had most of the budget (0.16 s a generation)
    meta = ckpt.load(out / "checkpoints").meta
    assert 0.0 < meta["budget_spent_s"] <= timed.clock.now


@pytest.mark.e2e
def test_every_front_row_carries_its_own_designs_scores(timed, tmp_path):
    """The finish re-scores the archive in rescore_order, extremes first; each pareto.csv row
    must still hold the scores of the design in its own gene columns (the toy's two
    fidelities agree, so its search columns say the same). At 1 ms a design the whole
    archive is one chunk, in that order."""
    timed.prices.cycle_s = 0.001
    out = tmp_path / "run"
    assert start(_options(out, time_budget_s=20.0), started_at=0.0, clock=timed.clock) == 0
    front = pd.read_csv(out / "pareto.csv")
    state = ckpt.load(out / "checkpoints").state
    assert not np.array_equal(rescore_order(state.archive.objectives), np.arange(len(front)))  # the case at stake
    toy = ToyProblem()  # the timed problem's genes, range and budget
    genes = front[[f"gene_{name}" for name in toy.gene_names]].to_numpy(np.int64)
    alone = score_toy(toy.high, toy.power_w, 0.0, genes)
    for col in ("efficiency_gops_w", "throughput_ips", "area_mm2"):
        np.testing.assert_allclose(front[col].to_numpy(), alone[col].to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(front[col].to_numpy(), front[f"search_{col}"].to_numpy(), rtol=1e-12)


@pytest.mark.e2e
def test_budget_bounds_a_run_with_its_corner_phase(timed, tmp_path):
    """Analytic scores at 1 ms a design: the corner phase's generations (256 designs to
    seed it, then 256 children) take 16 times an ordinary one's (16 children), and the
    deadline sees each coming: the run ends inside its budget with the front re-scored."""
    timed.prices.analytic_s = 0.001
    out = tmp_path / "run"
    assert start(_options(out, time_budget_s=30.0, corner=0.2), started_at=0.0, clock=timed.clock) == 0
    assert 30.0 * 0.7 <= timed.clock.now <= 30.0
    gens = pd.read_csv(out / "generations.csv")
    assert gens["corner_generations"].iloc[-1] >= 2
    assert (pd.read_csv(out / "pareto.csv")["fidelity"] == "cycle").all()
    meta = ckpt.load(out / "checkpoints").meta
    assert 0.0 < meta["budget_spent_s"] <= timed.clock.now


@pytest.mark.e2e
def test_budget_counts_start_up_before_the_call(timed, tmp_path):
    # a command whose process started 12 s before the session (imports, compilation) has 8 s left
    timed.clock.advance(12.0)
    assert start(_options(tmp_path / "run", time_budget_s=20.0), started_at=0.0, clock=timed.clock) == 0
    assert 12.0 < timed.clock.now <= 20.0


@pytest.mark.e2e
def test_a_start_up_longer_than_the_budget_still_ends_with_a_front(timed, tmp_path, capsys):
    timed.clock.advance(30.0)  # a first run compiling its kernels against a 20 s budget
    out = tmp_path / "run"
    assert start(_options(out, time_budget_s=20.0, quiet=False), started_at=0.0, clock=timed.clock) == 0
    err = capsys.readouterr().err
    assert "start-up (loading or compiling the model's kernels) took 30.1 s, all of the 20.0 s budget left" in err
    assert len(pd.read_csv(out / "generations.csv")) == 1 and len(pd.read_csv(out / "pareto.csv"))


@pytest.mark.e2e
def test_finish_rescores_what_fits_best_designs_first_and_says_so(timed, tmp_path, capsys):
    timed.prices.cycle_s = 1.0  # the exact model at a second a design: the archive cannot all be re-scored
    out = tmp_path / "run"
    assert start(_options(out, time_budget_s=12.0, quiet=False, log_every_s=60.0), started_at=0.0,
                 clock=timed.clock) == 0
    assert timed.clock.now <= 12.0 + 1.0  # the finish's first chunk (one design here) runs whatever the time
    front = pd.read_csv(out / "pareto.csv")
    exact = front["fidelity"].to_numpy() == "cycle"
    assert 0 < exact.sum() < len(front) and set(front["fidelity"]) == {"cycle", "analytic"}
    # the re-scored rows are the first in rescore_order: the extremes of every objective
    state = ckpt.load(out / "checkpoints").state
    order = rescore_order(state.archive.objectives)
    assert set(np.flatnonzero(exact)) == set(order[: exact.sum()].tolist())
    err = capsys.readouterr().err
    assert f"re-score {exact.sum()} of the {len(front)} front designs" in err
    assert (out / "best.json").exists() is False  # the toy problem has no architecture to write
    assert "(cycle-evaluated)" in err


@pytest.mark.e2e
def test_resume_under_a_budget_has_what_earlier_sessions_left(timed, tmp_path):
    out = tmp_path / "run"
    assert start(_options(out, time_budget_s=10.0), started_at=0.0, clock=timed.clock) == 0
    spent = ckpt.load(out / "checkpoints").meta["budget_spent_s"]
    first_gens = len(pd.read_csv(out / "generations.csv"))
    began = timed.clock.now
    assert resume(out, time_budget_s=25.0, quiet=True, clock=timed.clock, started_at=began) == 0
    assert timed.clock.now - began <= 25.0 - spent
    assert timed.clock.now - began >= (25.0 - spent) * 0.6
    assert len(pd.read_csv(out / "generations.csv")) > first_gens
    assert json.loads((out / "run.json").read_text())["stop"] == {"generations": None, "time_budget_s": 25.0}
    assert ckpt.load(out / "checkpoints").meta["budget_spent_s"] > spent


@pytest.mark.e2e
def test_resuming_a_finished_budget_run_leaves_its_outputs_alone(timed, tmp_path, capsys):
    out = tmp_path / "run"
    assert start(_options(out, time_budget_s=10.0), started_at=0.0, clock=timed.clock) == 0
    before = {name: ((out / name).read_bytes(), (out / name).stat().st_mtime_ns) for name in ("pareto.csv",)}
    assert resume(out, clock=timed.clock) == 0
    assert {name: ((out / name).read_bytes(), (out / name).stat().st_mtime_ns) for name in before} == before
    assert "had already reached its stop" in capsys.readouterr().err


# ---- the stop rule -------------------------------------------------------------------------
@pytest.mark.unit
def test_deadline_counts_each_generations_callback():
    """A callback taking 0.2 s (a checkpoint) is part of each generation's time: with 2 s
    and 1 s kept for the finish's writes, generations 1-3 fit and the fourth would not."""
    clock = FakeClock()
    problem = ToyProblem()
    settings = loop.Settings(objectives=parse_objectives(None), power_w=49.0, population=8)
    budget = TimeBudget(2.0, 0.0, clock=clock)
    stop = loop.Stop(deadline=SearchDeadline(budget, FinishCost()))
    calls = []

    def slow_checkpoint(state, batch):
        calls.append(state.generation)
        clock.advance(0.2)

    with Evaluator(*problem.scorer("cycle")) as ev:
        state = loop.evolve(problem, ev, settings, stop, seed=1, on_generation=slow_checkpoint)
    assert calls == [0, 1, 2, 3] and state.generation == 3


@pytest.mark.unit
def test_deadline_leaves_the_finish_its_time_and_sets_the_polish_phase():
    clock = FakeClock(5.0)
    finish = FinishCost()
    finish.observe(4, 0.4)  # 0.1 s a design
    deadline = SearchDeadline(TimeBudget(60.0, 0.0, clock=clock), finish)
    state = SimpleNamespace(archive=np.zeros(100), logbook=[{"generation_wall_s": 0.5}], elapsed_s=4.0)
    # finish for 100 designs: 100 x 0.1 x SAFETY + writes
    assert finish.estimate(100) == pytest.approx(100 * 0.1 * SAFETY + finish.write_s(100))
    assert not deadline.reached(state)  # the first check: the logged generation time, 0.5 s
    clock.now = 60.0 - finish.estimate(100) - 0.6
    assert deadline.reached(state)  # the last generation took clock.now - 5 s: another one would not fit
    deadline.last_check, deadline.steps_s = clock.now - 0.5, []
    assert not deadline.reached(state)  # one more 0.5 s generation ends 0.1 s before the finish must start
    clock.now += 0.2
    deadline.last_check, deadline.steps_s = clock.now - 0.5, []
    assert deadline.reached(state)  # ... and now 0.1 s after
    # the longest of the last generations predicts the next: one 1 s generation among 0.1 s ones
    deadline.steps_s = [0.1] * 6 + [1.0]
    clock.now = 60.0 - finish.estimate(100) - 1.0
    deadline.last_check = clock.now - 0.1
    assert deadline.reached(state)
    deadline.steps_s = [0.1] * 8
    deadline.last_check = clock.now - 0.1
    assert not deadline.reached(state)
    # polish: the last tenth of the run's search time (4 s searched, 6 s left for it)
    clock.now = 60.0 - finish.estimate(100) - 6.0
    assert deadline.search_fraction(state) == pytest.approx(0.4)
    assert not loop.Stop(deadline=deadline).in_last(state, 0.5)
    clock.now += 5.6
    assert loop.Stop(deadline=deadline).in_last(state, 0.1)


@pytest.mark.unit
def test_deadline_scales_a_larger_next_generation():
    """The loop asks whether a corner generation fits: one scoring 4 times the last one's
    designs is predicted 4 times as long; a smaller one keeps the measured time."""
    clock = FakeClock(0.0)
    finish = FinishCost()
    finish.observe(4, 0.4)
    deadline = SearchDeadline(TimeBudget(60.0, 0.0, clock=clock), finish)
    state = SimpleNamespace(archive=np.zeros(10), elapsed_s=1.0,
                            logbook=[{"generation_wall_s": 1.0, "evaluations_new": 128}])
    clock.now = 60.0 - finish.estimate(10) - 2.0  # 2 s left before the finish must start
    stop = loop.Stop(deadline=deadline)
    assert not stop.reached(state)  # a 1 s generation fits
    assert stop.fits(state, 64) and stop.fits(state, 128) and stop.fits(state, 255)
    assert not stop.fits(state, 256) and not stop.fits(state, 512)  # 2 s: it would end as the finish starts
    assert deadline.steps_s == [1.0]  # asking did not count as a generation
    assert loop.Stop(generations=5).fits(state, 10 ** 6)


@pytest.mark.unit
def test_budget_of_a_resumed_run():
    clock = FakeClock(100.0)
    budget = TimeBudget(60.0, 100.0, spent_before_s=45.0, clock=clock)
    assert budget.end == 115.0 and budget.left() == 15.0


# ---- the finish ----------------------------------------------------------------------------
@pytest.mark.unit
def test_finish_cost_rests_on_archive_designs_once_measured():
    finish = FinishCost(workers=1)
    assert finish.design_s == 0.0 and finish.estimate(50) == finish.write_s(50)
    finish.observe_prior(4, 0.4)
    assert finish.design_s == pytest.approx(0.1)
    finish.observe(2, 0.02)
    assert finish.design_s == pytest.approx(0.1)  # too few archive designs yet
    finish.observe(1, 0.04)
    assert finish.design_s == pytest.approx(0.02)
    clock = FakeClock(500.0)
    two = FinishCost(workers=2, clock=clock, pool_start_s=3.0, measured_designs=10, measured_s=1.0)
    assert two.rescore_s(1) == pytest.approx(3.0 + SAFETY * 0.1)  # one design: one worker busy
    assert two.rescore_s(100) == pytest.approx(3.0 + SAFETY * 100 * 0.1 / 1.5)
    assert two.rescore_s(100, pool=False) == pytest.approx(SAFETY * 100 * 0.1 / 1.5)
    two.pool_up_until = 600.0  # workers used recently: they are still up, no start to plan for
    assert two.rescore_s(100) == pytest.approx(SAFETY * 100 * 0.1 / 1.5)
    clock.now = 601.0
    assert two.rescore_s(100) == pytest.approx(3.0 + SAFETY * 100 * 0.1 / 1.5)


@pytest.mark.unit
def test_finish_samples_archive_designs_within_their_share():
    clock = FakeClock()
    finish = FinishCost()
    G = np.arange(40, dtype=np.int64).reshape(10, 4)
    seen = []

    def cycle(rows):
        seen.append(rows[0].tobytes())
        clock.advance(0.5)

    finish.sample(G, cycle, clock)
    assert finish.measured_designs == 1
    clock.advance(10.0)  # 0.5 s of samples in 10.5 s: over the 1 % share
    finish.sample(G, cycle, clock)
    assert finish.measured_designs == 1
    clock.advance(50.0)
    finish.sample(G, cycle, clock)
    assert finish.measured_designs == 2 and len(set(seen)) == 2


@pytest.mark.unit
@pytest.mark.parametrize("m", [1, 2, 3])
def test_rescore_order_extremes_first_and_independent_of_nothing_but_the_archive(m):
    rng = np.random.default_rng(m)
    F = rng.random((30, m))
    order = rescore_order(F)
    assert sorted(order.tolist()) == list(range(30))
    if m == 1:
        assert np.all(np.diff(F[order, 0]) >= 0)
    else:
        extremes = {int(np.argmin(F[:, j])) for j in range(m)} | {int(np.argmax(F[:, j])) for j in range(m)}
        assert set(order[: len(extremes)].tolist()) == extremes
    np.testing.assert_array_equal(order, rescore_order(F.copy()))


@pytest.mark.unit
def test_plan_rescoring_takes_what_fits_and_at_least_one():
    clock = FakeClock()
    finish = FinishCost(measured_designs=10, measured_s=1.0)  # 0.1 s a design
    order = np.arange(100)[::-1]
    chunks = []
    until = finish.write_s(100) + 3.0
    for rows in plan_rescoring(order, finish, until, clock):
        chunks.append(rows)
        clock.advance(0.1 * len(rows))
    done = np.concatenate(chunks)
    np.testing.assert_array_equal(done, order[: len(done)])  # in order, no gaps
    # chunks planned at 0.1 x SAFETY s a design fill the 3 s until one more design would not fit
    assert 3.0 - 0.1 * SAFETY < 0.1 * len(done) <= 3.0
    assert max(len(c) for c in chunks) <= CHUNK_S / (0.1 * SAFETY) + 1
    late = list(plan_rescoring(order, finish, clock.now, clock))  # no time at all: the first chunk still
    assert [r.tolist() for r in late] == [order[:finish.chunk(100)].tolist()]
    assert finish.chunk(100) == int(CHUNK_S / (0.1 * SAFETY))


# ---- the process's start ---------------------------------------------------------------------
@pytest.mark.unit
def test_process_started_at_is_when_the_process_started():
    """A child process's start, on the monotonic clock every process shares: after the
    parent launched it, before the child's imports ended. (psutil's create_time, wall clock
    at boot plus ticks, was the reference before: a wall clock stepped after boot put it
    0.5 s off a correct value on this machine.)"""
    import subprocess
    import sys
    import time

    code = ("import time; from evo_pimsyn.engine.timebudget import process_started_at; "
            "print(process_started_at(), time.monotonic())")
    before = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    started, imported = (float(v) for v in out.stdout.split())
    tick = 1.0 / os.sysconf("SC_CLK_TCK")  # the process table's resolution
    assert before - tick <= started < imported
    # the age counts the interpreter's start and the imports, not a value of clock() alone
    assert 1000.0 - process_started_at(clock=lambda: 1000.0) > 0.0


@pytest.mark.unit
@pytest.mark.parametrize("command", ["run", "resume", "pimsyn"])
def test_help_says_what_the_budget_includes(command, capsys):
    from evo_pimsyn.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for part in ("from its start to the last file written", "compiling the model's kernels", "final re-scoring",
                 "within 5% or 5 s"):
        assert part in text
    assert ("--log-every" in text) and (("The run's total" in text) == (command == "resume"))
