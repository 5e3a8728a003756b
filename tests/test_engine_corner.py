"""The corner phase of a multi-objective run (engine/corner.py): the last fraction of the run
climbs the first objective's extreme with a single-objective population, verified with the
exact model, and offers what it verified to the archive. It is the same whatever the worker
count, resumes identically from a checkpoint taken in the middle of it, only ever adds
verified designs that nothing in the archive dominates, and a run recorded before it existed
resumes without it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.engine import checkpoint as ckpt
from evo_pimsyn.engine import corner, loop
from evo_pimsyn.engine.archive import Archive
from evo_pimsyn.engine.evaluation import Evaluator, score
from evo_pimsyn.engine.front import pareto_mask
from evo_pimsyn.engine.objectives import parse_objectives
from evo_pimsyn.engine.toy import ToyProblem
from evo_pimsyn.engine.verify_memo import VerifyMemo
from tests import engine_helpers as h
from tests.conftest import REFERENCE

ALEXNET = REFERENCE / "networks" / "alexnet.json"
WALL = set(loop.WALL_COLUMNS)
THREE = parse_objectives(None)


@pytest.fixture(scope="module")
def problem():
    from evo_pimsyn.engine.setup import prepare_pim

    return prepare_pim(str(ALEXNET), None, 49.0, "specified", True).problem


def _settings(**kw):
    base = dict(objectives=THREE, power_w=49.0, population=8, fidelity="analytic", restart_after=0,
                corner_fraction=0.5, corner_population=16, polish_fraction=0.4)
    return loop.Settings(**{**base, **kw})


def _run(problem, settings, gens, *, state=None, workers=1, on_generation=None, holder=None):
    with Evaluator(*problem.scorer("analytic"), workers=workers, min_slice=problem.min_slice("analytic")) as ev, \
            Evaluator(*problem.scorer("cycle"), workers=workers) as verify:
        return loop.evolve(problem, ev, settings, loop.Stop(generations=gens), state=state, seed=3, verify=verify,
                           on_generation=on_generation, holder=holder)


def _same_population(a: loop.State, b: loop.State) -> None:
    for name in ("population", "objectives", "violation", "verified", "search_values", "hv_ref", "hv_scale"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.archive.genomes, b.archive.genomes)
    np.testing.assert_array_equal(a.archive.objectives, b.archive.objectives)
    assert a.counters == b.counters


def _same(a: loop.State, b: loop.State) -> None:
    assert a.generation == b.generation and a.evaluations == b.evaluations
    _same_population(a, b)
    assert (a.corner is None) == (b.corner is None)
    if a.corner is not None:
        _same_population(a.corner, b.corner)
    strip = [pd.DataFrame(log).drop(columns=list(WALL), errors="ignore") for log in (a.logbook, b.logbook)]
    pd.testing.assert_frame_equal(*strip)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


# ---- the phase on the real problem ---------------------------------------------------------
@pytest.fixture(scope="module")
def straight(problem):
    return _run(problem, _settings(), 10)


@pytest.mark.e2e
def test_the_last_fraction_is_the_corner_phase(straight):
    """10 generations with corner_fraction 0.5: generations 6-10 evolve the corner population
    (16 designs on efficiency alone), the last 0.5 x 0.4 of the run (generations 9 and 10)
    polish it, and its would-be bests are verified; generations.csv counts them."""
    log = pd.DataFrame(straight.logbook)
    assert log["corner_generations"].tolist() == [0] * 6 + [1, 2, 3, 4, 5]
    assert straight.counters.corner_generations == 5
    sub = straight.corner
    assert sub is not None and sub.population.shape == (16, straight.population.shape[1])
    assert sub.objectives.shape == (16, 1)
    assert sub.counters.polish_generations == 2 and sub.counters.verified > 0
    assert log["polish_generations"].tolist()[-3:] == [0, 1, 2]
    # the phase's own checks, and the archive's estimates beyond its best exact value
    assert log["verified"].iloc[-1] == sub.counters.verified + straight.counters.verified
    assert (log["verified"].iloc[:6] == 0).all()  # the three-objective search verifies nothing
    # a corner generation scores the corner population's children and neighbours
    assert log["evaluations_new"].iloc[7] == 32


@pytest.mark.e2e
@pytest.mark.slow
def test_corner_phase_is_the_same_on_two_workers(problem, straight):
    _same(straight, _run(problem, _settings(), 10, workers=2))


@pytest.mark.e2e
@pytest.mark.parametrize("kill_at", [5, 6, 8, 9])
def test_a_run_killed_in_or_before_the_phase_resumes_to_the_same_end(problem, straight, tmp_path, kill_at):
    """Interrupted after generation ``kill_at`` (5: the last before the phase; 6: its seeding;
    8: inside it; 9: inside its polish), checkpointed and resumed: the same final state."""
    holder: list = []

    def interrupt(st, batch):
        if st.generation == kill_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(problem, _settings(), 10, on_generation=interrupt, holder=holder)
    assert (holder[0].corner is not None) == (kill_at >= 6)
    ckpt.save(tmp_path, holder[0], config_hash="x")
    loaded = ckpt.load(tmp_path).state
    _same(holder[0], loaded)
    _same(straight, _run(problem, _settings(), 10, state=loaded))


@pytest.mark.e2e
def test_the_box_phase_climbs_each_designs_own_hypervolume(problem, tmp_path):
    """With corner_box the phase's one objective is each design's box over the run's
    hypervolume reference in all three objectives: its population's values are those boxes
    (of the cycle model's values for the rows it verified, of the analytic model's for the
    others), its seeds are the archive's largest boxes, and a run killed inside the phase
    resumes to the same end."""
    from evo_pimsyn.engine.archive import box_volumes
    from evo_pimsyn.engine.objectives import feasibility, objective_matrix

    settings = _settings(corner_box=True)
    holder: list = []
    seen: list = []
    subs: list = []  # the phase's populations, generations 6-8

    def watch(st, batch):
        if st.generation in (5, 6):  # the archive it seeds from, the phase's first population
            seen.append(st.archive if st.generation == 5 else st.corner.population.copy())
        if st.generation >= 6:
            subs.append(st.corner)
        if st.generation == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(problem, settings, 10, on_generation=watch, holder=holder)
    final = _run(problem, settings, 10)
    assert final.counters.corner_generations == 5
    pops = [*subs, final.corner]
    G, values = np.concatenate([p.population for p in pops]), np.concatenate([p.objectives[:, 0] for p in pops])
    V, verified = np.concatenate([p.violation for p in pops]), np.concatenate([p.verified for p in pops])
    for fidelity, rows in (("cycle", verified), ("analytic", ~verified)):
        fn, args = problem.scorer(fidelity)
        frame = fn(*args, G[rows])
        F = objective_matrix(frame, THREE, feasibility(frame))
        ok = V[rows] <= 0
        assert ok.any(), fidelity  # some feasible rows of each kind to compare
        np.testing.assert_allclose(values[rows][ok], -box_volumes(F, final.hv_ref, final.hv_scale)[ok])
    before, first = seen
    boxes = box_volumes(before.objectives, final.hv_ref, final.hv_scale)
    seeds = corner.corner_seeds(before, -boxes, settings.corner_population, settings.corner_seed)
    assert len(seeds) == min(len(before), 8)
    np.testing.assert_array_equal(first[:len(seeds)], seeds)
    ckpt.save(tmp_path, holder[0], config_hash="x")
    _same(final, _run(problem, settings, 10, state=ckpt.load(tmp_path).state))


@pytest.mark.e2e
def test_the_archive_only_gains_verified_designs_that_nothing_dominates(problem):
    """Corner generations by hand from a three-objective state: the phase's first population
    starts with the archive's most efficient designs; after each generation the archive is
    non-dominated, and every row it did not hold before is a design the phase verified, with
    the cycle model's values in all three objectives; a verified design the archive held
    with its estimate now carries its exact values or is gone."""
    # without the screened generation 0, whose front starts at an efficiency end that 4
    # corner generations of 16 designs need not pass (the reach asserted at the end)
    st = _run(problem, _settings(corner_fraction=0.0, population=16, screen_settings=False), 8)
    assert st.corner is None and len(st.archive) >= 4
    fn, args = problem.scorer("cycle")
    checked: list[np.ndarray] = []

    def verify(G):
        checked.append(np.array(G, copy=True))
        return fn(*args, G)

    memo = VerifyMemo(verify, keep=THREE)
    afn, aargs = problem.scorer("analytic")
    settings = _settings(corner_population=16)
    first = Archive(st.archive.genomes.copy(), st.archive.objectives.copy())
    ever: set[bytes] = set()  # every design the phase verified so far
    for generation in range(4):
        before = Archive(st.archive.genomes.copy(), st.archive.objectives.copy())
        st, _ = loop.corner_step(st, problem, lambda G: afn(*aargs, G), settings, memo, polish=generation == 3)
        if generation == 0:  # the seeds: the archive's most efficient designs, best first
            seeds = corner.corner_seeds(before, before.objectives[:, 0], 16, settings.corner_seed)
            assert len(seeds) == min(len(before), 8)
            np.testing.assert_array_equal(st.corner.population[:len(seeds)], seeds)
            assert -before.objectives[:, 0].min() == pytest.approx(float(fn(*args, seeds[:1])["efficiency_gops_w"]
                                                                         .iloc[0]), rel=0.1)
        ever |= {g.tobytes() for c in checked for g in c}
        A = st.archive
        assert pareto_mask(A.objectives).all()
        old = {g.tobytes(): f.tolist() for g, f in zip(before.genomes, before.objectives)}
        new_rows = [k for k, (g, f) in enumerate(zip(A.genomes, A.objectives)) if old.get(g.tobytes()) != f.tolist()]
        assert all(A.genomes[k].tobytes() in ever for k in new_rows)
        if new_rows:
            exact = score(fn(*args, A.genomes[new_rows]), THREE, 49.0)
            np.testing.assert_array_equal(A.objectives[new_rows], exact.objectives)
            assert (exact.violation <= 0).all()
        # a design the phase verified carries its exact values if the archive holds it
        for g, f in zip(A.genomes, A.objectives):
            if g.tobytes() in ever:
                np.testing.assert_array_equal(memo.scores(g[None, :], THREE, 49.0, record=False)[0][0], f)
    assert st.counters.corner_generations == 4 and st.corner.counters.verified > 0 and ever
    assert st.corner.counters.polish_generations == 1
    # the phase reached further in efficiency than the three-objective search had: its best
    # verified design beats the exact value of that search's most efficient design (the
    # search kept analytic estimates, which may rate it above anything exact)
    top = first.genomes[np.argmin(first.objectives[:, 0])][None, :]
    exact_top = score(fn(*args, top), THREE, 49.0).objectives[0, 0]
    reached = min(f[0] for g, f in zip(st.archive.genomes, st.archive.objectives) if g.tobytes() in ever)
    assert reached < exact_top


@pytest.mark.e2e
def test_an_estimate_beyond_the_phases_best_does_not_keep_its_designs_out(problem):
    """An archive whose only row is an estimate that dominates every real design (its
    genome a real one, its values made up): the corner generation scores it exactly
    (corner.estimates_beyond) and the designs the phase verified join the archive. Without
    that check the made-up row kept every one of them out."""
    st = _run(problem, _settings(corner_fraction=0.0, population=16), 4)
    fake = st.archive.genomes[:1].copy()
    st.archive = Archive(fake, np.array([[-1e6, -1e6, 0.0]]))
    fn, args = problem.scorer("cycle")
    memo = VerifyMemo(lambda G: fn(*args, G), keep=THREE)
    afn, aargs = problem.scorer("analytic")
    after, _ = loop.corner_step(st, problem, lambda G: afn(*aargs, G), _settings(corner_population=16), memo)
    exact = score(fn(*args, fake), THREE, 49.0)
    A = after.archive
    held = {g.tobytes(): f for g, f in zip(A.genomes, A.objectives)}
    if exact.violation[0] <= 0 and fake[0].tobytes() in held:
        np.testing.assert_array_equal(held[fake[0].tobytes()], exact.objectives[0])
    assert len(A) > 1 and after.corner.counters.verified > 0
    # the phase's best exact efficiency is in the archive
    assert A.objectives[:, 0].min() <= after.corner.archive.best_value()
    assert after.counters.verified == 1  # the one estimate beyond the bar


@pytest.mark.unit
def test_estimates_beyond_the_bar_best_first():
    archive = Archive(np.arange(10, dtype=np.int64).reshape(5, 2),
                      np.array([[-3.0, 0], [-1, 1], [-5, 2], [-3, 0.5], [2, 5]]))
    values = archive.objectives[:, 0]
    np.testing.assert_array_equal(corner.estimates_beyond(values, -2.0), [2, 0, 3])
    np.testing.assert_array_equal(corner.estimates_beyond(values, -2.0, limit=2), [2, 0])
    assert corner.estimates_beyond(values, -9.0).size == 0
    assert corner.estimates_beyond(np.empty(0), 0.0).size == 0


# ---- the toy problem: no verify evaluator ---------------------------------------------------
def _toy_run(gens, *, state=None, workers=1, on_generation=None, holder=None, **kw):
    problem = ToyProblem()
    settings = loop.Settings(objectives=THREE, power_w=49.0, population=8, corner_population=12,
                             corner_fraction=kw.pop("corner_fraction", 0.5), **kw)
    fn, args = problem.scorer("cycle")
    with Evaluator(fn, args, workers=workers) as ev:
        return loop.evolve(problem, ev, settings, loop.Stop(gens), state=state, seed=5, on_generation=on_generation,
                           holder=holder)


@pytest.mark.e2e
def test_without_verification_the_phase_offers_everything_it_scores():
    """The toy problem has no verify evaluator: the phase's children join the archive with
    their search values (as any generation's), and its runs are the same on two workers."""
    final = _toy_run(12)
    assert final.counters.corner_generations == 6 and final.corner.counters.verified == 0
    assert pareto_mask(final.archive.objectives).all()
    _same(final, _toy_run(12, workers=2))
    off = _toy_run(12, corner_fraction=0.0)
    assert off.corner is None and off.counters.corner_generations == 0
    # the corner climbs efficiency further than the three-objective search alone
    assert final.archive.objectives[:, 0].min() < off.archive.objectives[:, 0].min()


@pytest.mark.unit
def test_phase_rules():
    assert not corner.cornering(loop.Settings(objectives=THREE, power_w=49.0))  # off by default
    assert corner.cornering(loop.Settings(objectives=THREE, power_w=49.0, corner_fraction=0.2))
    assert not corner.cornering(loop.Settings(objectives=THREE[:1], power_w=49.0, corner_fraction=0.2))
    cs = corner.corner_settings(loop.Settings(objectives=THREE, power_w=49.0, algorithm="nsga3", population=64))
    assert [o.name for o in cs.objectives] == ["efficiency"] and cs.population == 256
    assert cs.algorithm == "nsga2" and cs.corner_fraction == 0.0
    # the phase checks more would-be bests than a single-objective run (its box multiplies
    # the estimate's errors in every objective), and a run's own limit stays as it was
    assert cs.verify_limit == 64 and loop.Settings(objectives=THREE, power_w=49.0).verify_limit == 8
    assert corner.corner_settings(loop.Settings(objectives=THREE, power_w=49.0, corner_verify_limit=3)).verify_limit == 3
    boxed = loop.Settings(objectives=THREE, power_w=49.0, corner_fraction=0.2, corner_box=True)
    assert corner.corner_settings(boxed, box=True).objectives == (corner.BOX,)
    # a box needs the run's reference: the phase waits for the run's first feasible design
    no_ref = loop.State(generation=0, population=np.zeros((0, 2), dtype=np.int64), objectives=np.zeros((0, 3)),
                        violation=np.zeros(0), archive=Archive.empty(2, 3), logbook=[], rng=np.random.default_rng(0),
                        evaluations=0, elapsed_s=0.0)
    assert not corner.ready(no_ref, boxed) and not corner.boxing(no_ref, boxed)
    assert corner.ready(no_ref, loop.Settings(objectives=THREE, power_w=49.0, corner_fraction=0.2))
    with_ref = replace(no_ref, hv_ref=np.array([0.0, 0.0, 4.0]), hv_scale=np.array([2.0, 1.0, 2.0]))
    assert corner.ready(with_ref, boxed) and corner.boxing(with_ref, boxed)
    F = np.array([[-2.0, -1.0, 2.0], [-1.0, -1.0, 0.0]])  # boxes 1 x 1 x 1 and 0.5 x 1 x 2
    np.testing.assert_allclose(corner.corner_values(F, with_ref, boxed), [-1.0, -1.0])
    np.testing.assert_allclose(corner.corner_values(F, with_ref, cs), [-2.0, -1.0])
    with pytest.raises(ValueError, match="corner_fraction"):
        loop.Settings(objectives=THREE, power_w=49.0, corner_fraction=1.5)
    with pytest.raises(ValueError, match="corner_seed"):
        loop.Settings(objectives=THREE, power_w=49.0, corner_seed=-0.1)
    with pytest.raises(ValueError, match="corner_verify_limit"):
        loop.Settings(objectives=THREE, power_w=49.0, corner_verify_limit=-1)
    archive = Archive(np.arange(10, dtype=np.int64).reshape(5, 2), np.array([[3.0, 0], [1, 1], [2, 2], [1, 0],
                                                                            [5, 5]]))
    first = archive.objectives[:, 0]
    np.testing.assert_array_equal(corner.corner_seeds(archive, first, 8, 0.5), [[2, 3], [6, 7], [4, 5], [0, 1]])
    np.testing.assert_array_equal(corner.corner_seeds(archive, first, 4, 0.5), [[2, 3], [6, 7]])
    assert corner.corner_seeds(archive, first, 8, 0.0).shape == (0, 2)


@pytest.mark.unit
def test_checkpoint_round_trip_with_the_corner_population(tmp_path):
    final = _toy_run(8)
    assert final.corner is not None
    ckpt.save(tmp_path, final)
    loaded = ckpt.load(tmp_path)
    _same(final, loaded.state)
    assert loaded.meta["corner"]["counters"] == final.corner.counters.to_record()
    before = _toy_run(3, corner_fraction=0.0)  # no phase: no corner arrays, and none loaded
    ckpt.save(tmp_path / "before", before)
    arrays, meta = ckpt.read(tmp_path / "before" / ckpt.LATEST)
    assert "corner" not in meta and not any(n.startswith("corner_") for n in arrays)
    assert ckpt.load(tmp_path / "before").state.corner is None


@pytest.mark.unit
def test_a_checkpoint_with_a_damaged_corner_population_falls_back(tmp_path):
    import zipfile

    ckpt.save(tmp_path, _toy_run(7))
    ckpt.save(tmp_path, _toy_run(8))
    latest = tmp_path / ckpt.LATEST
    with zipfile.ZipFile(latest) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["meta.json"])
    meta.pop("corner")  # arrays without the phase's counters
    members["meta.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(latest, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    with pytest.raises(ckpt.CheckpointError, match="corner phase arrays without"):
        ckpt.read(latest)
    with pytest.warns(ckpt.CheckpointWarning, match="falling back"):
        assert ckpt.load(tmp_path).state.generation == 7


# ---- run folders ------------------------------------------------------------------------
@pytest.mark.e2e
def test_run_json_records_the_corner_fraction_in_its_settings_hash(tmp_path):
    from evo_pimsyn.engine import outputs
    from evo_pimsyn.engine.session import SEARCH_KEYS, RunOptions, check_run_record, plan

    runs = {c: plan(RunOptions(model="toy", power_w=49.0, problem="toy", corner=c))[1] for c in (0.0, 0.2, 0.3)}
    assert [r["corner_fraction"] for r in runs.values()] == [0.0, 0.2, 0.3]
    assert len({r["config_hash"] for r in runs.values()}) == 3
    # the phase off hashes as a run from before it existed: a study's older cells stay its own
    off = runs[0.0]
    assert off["corner_objective"] == "first"  # no phase: nothing to climb
    assert off["config_hash"] == outputs.canonical_hash({k: off[k] for k in SEARCH_KEYS
                                                         if k not in ("corner_fraction", "corner_objective")})
    assert "corner_fraction" not in check_run_record(off) and check_run_record(runs[0.2])["corner_fraction"] == 0.2
    # a run's default is the phase (session.DEFAULT_CORNER); the loop's own is none
    assert RunOptions(model="toy", power_w=49.0).corner == 0.2 and loop.Settings.corner_fraction == 0.0
    # one objective has no phase: it records 0, whatever was asked, and hashes as before
    single = plan(RunOptions(model="toy", power_w=49.0, problem="toy", objectives="efficiency", corner=0.2))[1]
    assert single["corner_fraction"] == 0.0 and "corner_fraction" not in check_run_record(single)
    assert single["corner_objective"] == "first" and "corner_objective" not in check_run_record(single)
    # the phase climbs the box by default (session.DEFAULT_CORNER_OBJECTIVE); "first" hashes
    # as the phase did before it had a choice
    assert runs[0.2]["corner_objective"] == "box" and check_run_record(runs[0.2])["corner_objective"] == "box"
    first = plan(RunOptions(model="toy", power_w=49.0, problem="toy", corner=0.2, corner_objective="first"))[1]
    assert first["config_hash"] != runs[0.2]["config_hash"]
    assert first["config_hash"] == outputs.canonical_hash({k: first[k] for k in SEARCH_KEYS if k != "corner_objective"})
    out = h.start_toy(tmp_path, "default", generations=10)
    rows = pd.read_csv(out / "generations.csv")
    assert rows["corner_generations"].tolist() == [0] * 9 + [1, 2]  # the last fifth: generations 9 and 10
    assert json.loads((out / "run.json").read_text())["corner_fraction"] == 0.2
    # what the phase climbs is part of the search: the other objective ends elsewhere
    first = h.start_toy(tmp_path, "first", generations=10, corner_objective="first")
    assert (out / "pareto.csv").read_bytes() != (first / "pareto.csv").read_bytes()
    off = h.start_toy(tmp_path, "off", generations=10, corner=0.0)
    assert (pd.read_csv(off / "generations.csv")["corner_generations"] == 0).all()
    assert json.loads((off / "run.json").read_text())["corner_fraction"] == 0.0


def _make_legacy(out):
    """Turn a run into one recorded before the corner phase existed: no corner_fraction in
    run.json, its hash over the older keys, and checkpoints that record only that hash."""
    from evo_pimsyn.engine import outputs
    from evo_pimsyn.engine.session import SEARCH_KEYS

    run = json.loads((out / "run.json").read_text())
    run.pop("corner_fraction")
    run.pop("corner_objective")
    run["config_hash"] = outputs.canonical_hash({k: run[k] for k in SEARCH_KEYS
                                                 if k not in ("corner_fraction", "corner_objective")})
    (out / "run.json").write_text(json.dumps(run, indent=2))
    loaded = ckpt.load(out / "checkpoints")
    ckpt.save(out / "checkpoints", loaded.state, config_hash=run["config_hash"], model_hash=run["model_hash"])


@pytest.mark.e2e
def test_a_run_recorded_before_the_corner_phase_resumes_without_it(tmp_path):
    """An older run (no corner_fraction in run.json) resumed to 12 generations runs none of
    the phase: it ends as a run started with --corner 0 does, not as one with --corner 0.2."""
    from evo_pimsyn.engine.session import check_run_record, resume

    old = h.start_toy(tmp_path, "old", generations=5, corner=0.0)
    _make_legacy(old)
    assert "corner_fraction" not in check_run_record(json.loads((old / "run.json").read_text()))
    assert resume(old, generations=12, quiet=True) == 0
    rows = pd.read_csv(old / "generations.csv")
    assert (rows["corner_generations"] == 0).all() and len(rows) == 13
    h.assert_same_results(old, h.start_toy(tmp_path, "off", generations=12, corner=0.0))
    with_phase = h.start_toy(tmp_path, "on", generations=12, corner=0.2)
    assert pd.read_csv(with_phase / "generations.csv")["corner_generations"].iloc[-1] > 0
    assert (old / "pareto.csv").read_bytes() != (with_phase / "pareto.csv").read_bytes()


@pytest.mark.e2e
def test_an_edited_corner_fraction_is_refused(tmp_path):
    from evo_pimsyn.engine.session import resume
    from fitness.errors import InputError

    out = h.start_toy(tmp_path, "run", generations=3, corner=0.2)
    path = out / "run.json"
    run = json.loads(path.read_text())
    run["corner_fraction"] = 0.5
    path.write_text(json.dumps(run))
    with pytest.raises(InputError, match="run.json's corner_fraction is 0.5 but its checkpoint .* with 0.2"):
        resume(out, quiet=True)
    run["corner_fraction"] = 2
    path.write_text(json.dumps(run))
    with pytest.raises(InputError, match="field 'corner_fraction' must be a fraction in"):
        resume(out, quiet=True)
