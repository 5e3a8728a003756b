"""Determinism, kill/resume and Ctrl-C of whole runs, on the engine's synthetic problem
(engine/toy.py, with a small sleep per batch standing in for a slow evaluator), so they
exercise the loop, checkpoints and outputs independently of the hardware model.
tests/test_engine_cli.py repeats the key ones through `evo-pimsyn run` on a real network."""

from __future__ import annotations

import csv
import io
import random
import signal
import time

import pytest

from tests import engine_helpers as h

pytestmark = pytest.mark.e2e

GENS = 12
DELAY_MODEL = "toy:0.03"  # 30 ms per evaluated batch
CORNER = 0.2  # the reference runs end with the corner phase (generations 10-12), so kills land in it too


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    res = h.run(h.toy_start_cmd(out, seed=11, generations=GENS, model=DELAY_MODEL, corner=CORNER))
    assert res.returncode == 0, res.stderr
    return out


def test_same_seed_twice_identical(reference, tmp_path):
    out = tmp_path / "again"
    res = h.run(h.toy_start_cmd(out, seed=11, generations=GENS, model=DELAY_MODEL, corner=CORNER))
    assert res.returncode == 0, res.stderr
    h.assert_same_results(reference, out)
    other = tmp_path / "other_seed"
    res = h.run(h.toy_start_cmd(other, seed=12, generations=GENS, model=DELAY_MODEL, corner=CORNER))
    assert res.returncode == 0, res.stderr
    assert (other / "pareto.csv").read_bytes() != (reference / "pareto.csv").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 4])
def test_workers_identical(reference, tmp_path, workers):
    out = tmp_path / f"w{workers}"
    res = h.run(h.toy_start_cmd(out, seed=11, workers=workers, generations=GENS, model=DELAY_MODEL,
                                corner=CORNER))
    assert res.returncode == 0, res.stderr
    h.assert_same_results(reference, out)


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(reference, tmp_path):
    rnd = random.Random(2024)
    interrupted = 0
    for trial in range(4):
        out = tmp_path / f"trial{trial}"
        proc = h.popen(h.toy_start_cmd(out, seed=11, generations=GENS, model=DELAY_MODEL, corner=CORNER))
        h.wait_for(out / "run.json", proc)
        h.wait_for_generation(out, rnd.randint(-1, GENS - 1), proc)
        time.sleep(rnd.uniform(0.0, 0.04))
        interrupted += h.kill(proc)
        # kill the resumed run too, once or twice, before letting it finish
        for _ in range(rnd.randint(0, 2)):
            proc = h.popen(h.cli_cmd("resume", str(out), "--quiet"))
            time.sleep(rnd.uniform(0.5, 1.0))
            h.kill(proc)
        res = h.run(h.cli_cmd("resume", str(out), "--quiet"))
        assert res.returncode == 0, res.stderr
        h.assert_same_results(reference, out)
    assert interrupted, "no trial was killed while running: the test proved nothing"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_writes_checkpoint_and_resume_hint(reference, tmp_path, sig):
    out = tmp_path / "int"
    proc = h.popen(h.toy_start_cmd(out, seed=11, generations=GENS, model="toy:0.15", corner=CORNER))
    h.wait_for(out / "checkpoints" / "checkpoint.npz", proc)
    time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"Resume with: evo-pimsyn resume {out}" in err
    assert "checkpoint at generation" in err
    assert not (out / "pareto.csv").exists()
    res = h.run(h.cli_cmd("resume", str(out), "--quiet"))
    assert res.returncode == 0, res.stderr
    # the slower toy model scores the same designs; only its hash differs
    gen_ref = h.generations_without_wall(reference / "generations.csv")
    assert h.generations_without_wall(out / "generations.csv") == gen_ref
    assert (out / "pareto.csv").read_bytes() == (reference / "pareto.csv").read_bytes()


def test_the_reference_run_ends_with_its_corner_phase(reference):
    """With --corner 0.2 the last fifth of the 12 generations (10-12) is the corner phase, so
    the kills and resumes of these tests also land in it."""
    rows = list(csv.DictReader((reference / "generations.csv").open()))
    assert [int(r["corner_generations"]) for r in rows][-4:] == [0, 1, 2, 3]


def test_sigkill_in_the_corner_phase_then_resume(reference, tmp_path):
    out = tmp_path / "corner"
    proc = h.popen(h.toy_start_cmd(out, seed=11, generations=GENS, model="toy:0.1", corner=CORNER))
    h.wait_for(out / "run.json", proc)
    meta = h.wait_for_checkpoint(out, GENS - 2, proc)  # the phase's first generation (10) is checkpointed
    assert h.kill(proc), "the run ended before the kill: the test proved nothing"
    assert "corner" in meta  # killed inside the phase
    res = h.run(h.cli_cmd("resume", str(out), "--quiet"))
    assert res.returncode == 0, res.stderr
    assert h.generations_without_wall(out / "generations.csv") == \
        h.generations_without_wall(reference / "generations.csv")
    assert (out / "pareto.csv").read_bytes() == (reference / "pareto.csv").read_bytes()


@pytest.fixture(scope="module")
def reference_without_corner(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "off"
    res = h.run(h.toy_start_cmd(out, seed=11, generations=GENS, model=DELAY_MODEL, corner=0))
    assert res.returncode == 0, res.stderr
    return out


def test_resume_extends_generations(reference_without_corner, tmp_path):
    """Without the end phases (--corner 0), a run extended with resume
    ends where a straight longer run does. With them it cannot: they are the last fraction
    of the stop rule, which the extension moves (with --corner 0.2 a run of 6 generations has
    its phase in 5-6, one of 12 in 10-12)."""
    out = tmp_path / "ext"
    assert h.run(h.toy_start_cmd(out, seed=11, generations=6, model=DELAY_MODEL, corner=0)).returncode == 0
    res = h.run(h.cli_cmd("resume", str(out), "--generations", str(GENS), "--quiet"))
    assert res.returncode == 0, res.stderr
    h.assert_same_results(reference_without_corner, out)


def test_corrupt_latest_checkpoint_resume_warns_and_matches(reference_without_corner, tmp_path):
    out = tmp_path / "corrupt"
    assert h.run(h.toy_start_cmd(out, seed=11, generations=8, model=DELAY_MODEL, corner=0)).returncode == 0
    latest = out / "checkpoints" / "checkpoint.npz"
    latest.write_bytes(latest.read_bytes()[:100])
    res = h.run(h.cli_cmd("resume", str(out), "--generations", str(GENS), "--quiet"))
    assert res.returncode == 0, res.stderr
    assert "evo-pimsyn: warning:" in res.stderr and "falling back to the previous checkpoint" in res.stderr
    h.assert_same_results(reference_without_corner, out)


# ---- in-process runs of the session layer ------------------------------------------------
@pytest.mark.parametrize("kw", [
    dict(algorithm="nsga3"),
    dict(objectives="efficiency"),
    dict(objectives="efficiency,area", algorithm="nsga3"),
    dict(objectives="latency,energy,power,area"),
])
def test_algorithms_and_objective_subsets_deterministic(tmp_path, kw):
    a = h.start_toy(tmp_path, "a", generations=6, **kw)
    b = h.start_toy(tmp_path, "b", generations=6, **kw)
    h.assert_same_results(a, b)
    header = (a / "generations.csv").read_text().splitlines()[0]
    from evo_pimsyn.engine.objectives import parse_objectives

    for obj in parse_objectives(kw.get("objectives")):
        assert f"best_{obj.column}" in header


def test_rescore_every_writes_archive_snapshots(tmp_path):
    out = h.start_toy(tmp_path, "rs", generations=4, rescore_every=2)
    assert sorted(p.name for p in (out / "archive").iterdir()) == ["gen-000000.csv", "gen-000002.csv",
                                                                    "gen-000004.csv"]
