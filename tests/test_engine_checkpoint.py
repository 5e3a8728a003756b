"""Checkpoints: round trip, atomic replace with the previous kept, fallback on a corrupt
latest checkpoint, no pickle, and resume refusals."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from evo_pimsyn.engine import checkpoint as ckpt
from evo_pimsyn.engine import loop
from evo_pimsyn.engine.evaluation import Evaluator
from evo_pimsyn.engine.objectives import parse_objectives
from evo_pimsyn.engine.session import RunOptions, resume, start
from evo_pimsyn.engine.toy import ToyProblem
from fitness.errors import InputError


def _states(generations=4):
    problem = ToyProblem()
    settings = loop.Settings(objectives=parse_objectives(None), power_w=49.0, population=8)
    states = []
    fn, args = problem.scorer("cycle")
    with Evaluator(fn, args) as ev:
        loop.evolve(problem, ev, settings, loop.Stop(generations), seed=5,
                    on_generation=lambda st, batch: states.append(st))
    return states


def _same(a: loop.State, b: loop.State) -> None:
    assert a.generation == b.generation and a.evaluations == b.evaluations
    for name in ("population", "objectives", "violation", "hv_ref", "hv_scale"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.archive.genomes, b.archive.genomes)
    np.testing.assert_array_equal(a.archive.objectives, b.archive.objectives)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert a.counters == b.counters
    assert len(a.logbook) == len(b.logbook)


@pytest.mark.unit
def test_round_trip_and_previous_kept(tmp_path):
    states = _states()
    ckpt.save(tmp_path, states[2], config_hash="abc")
    ckpt.save(tmp_path, states[3], config_hash="abc")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ckpt.PREVIOUS, ckpt.LATEST])
    loaded = ckpt.load(tmp_path)
    _same(loaded.state, states[3])
    assert loaded.meta["config_hash"] == "abc" and loaded.meta["schema"] == ckpt.SCHEMA
    arrays, meta = ckpt.read(tmp_path / ckpt.PREVIOUS)
    assert meta["generation"] == 2
    # the resumed RNG continues the same stream
    assert loaded.state.rng.integers(1 << 30) == states[3].rng.integers(1 << 30)


@pytest.mark.unit
def test_checkpoint_is_plain_npz_with_json(tmp_path):
    ckpt.save(tmp_path, _states()[-1])
    with zipfile.ZipFile(tmp_path / ckpt.LATEST) as zf:
        names = set(zf.namelist())
        meta = json.loads(zf.read("meta.json"))
    assert {"meta.json", "population.npy", "archive_genomes.npy"} <= names
    assert meta["version"] == ckpt.SCHEMA_VERSION and meta["rng"]["bit_generator"] == "PCG64"
    with np.load(tmp_path / ckpt.LATEST, allow_pickle=False) as npz:
        assert npz["population"].dtype == np.int64


@pytest.mark.unit
@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "bad_json", "pickled_array", "wrong_version",
                                    "bad_counters"])
def test_corrupt_latest_falls_back_with_warning(tmp_path, damage):
    states = _states()
    ckpt.save(tmp_path, states[2])
    ckpt.save(tmp_path, states[3])
    latest = tmp_path / ckpt.LATEST
    data = latest.read_bytes()
    if damage == "truncate":
        latest.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        latest.write_bytes(b"\x00" * 64 + data[64:])
    elif damage == "empty":
        latest.write_bytes(b"")
    else:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        if damage == "bad_json":
            members["meta.json"] = b"{not json"
        elif damage in ("wrong_version", "bad_counters"):
            meta = json.loads(members["meta.json"])
            if damage == "wrong_version":
                meta["version"] = 999
            else:
                meta["extra"] = {"stall": "3"}
            members["meta.json"] = json.dumps(meta).encode()
        else:  # an object array needs pickle to load: must be refused, never executed
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
            members["population.npy"] = buf.getvalue()
        with zipfile.ZipFile(latest, "w") as zf:
            for name, blob in members.items():
                zf.writestr(name, blob)
    with pytest.warns(ckpt.CheckpointWarning, match="falling back to the previous checkpoint"):
        loaded = ckpt.load(tmp_path)
    assert loaded.state.generation == 2 and loaded.path.name == ckpt.PREVIOUS


def _rewrite_meta(path, edit) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["meta.json"])
    edit(meta)
    members["meta.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)


@pytest.mark.unit
def test_counters_round_trip_and_partial_records_load(tmp_path):
    """The loop's counters are meta.json's ``extra`` object; a checkpoint written before a
    counter existed (or by a run that never set it) loads with the counter at its default,
    and an unknown counter is refused."""
    state = loop.replace(_states()[-1], counters=loop.Counters(stall=7, best_hv=1.25, restarts=2, verified=9,
                                                               polish_generations=1))
    ckpt.save(tmp_path, state)
    assert ckpt.load(tmp_path).state.counters == state.counters
    _rewrite_meta(tmp_path / ckpt.LATEST, lambda meta: meta.update(extra={"best_hv": 2.5, "stall": 3}))
    assert ckpt.load(tmp_path).state.counters == loop.Counters(stall=3, best_hv=2.5)
    _rewrite_meta(tmp_path / ckpt.LATEST, lambda meta: meta.update(extra={"stalls": 3}))
    with pytest.raises(ckpt.CheckpointError, match="bad loop counters .*unknown counter 'stalls'"):
        ckpt.read(tmp_path / ckpt.LATEST)


@pytest.mark.unit
def test_missing_latest_falls_back(tmp_path):
    states = _states()
    ckpt.save(tmp_path, states[1])
    ckpt.save(tmp_path, states[2])
    (tmp_path / ckpt.LATEST).unlink()  # killed between the two renames
    with pytest.warns(ckpt.CheckpointWarning):
        assert ckpt.load(tmp_path).state.generation == 1


@pytest.mark.unit
def test_both_corrupt_is_an_input_error(tmp_path):
    (tmp_path / ckpt.LATEST).write_bytes(b"junk")
    (tmp_path / ckpt.PREVIOUS).write_bytes(b"junk")
    with pytest.raises(InputError, match="no usable checkpoint"):
        ckpt.load(tmp_path)


@pytest.mark.unit
def test_no_temp_file_left(tmp_path):
    ckpt.save(tmp_path, _states()[-1])
    assert not list(tmp_path.glob(".*tmp"))


# ---- resume refusals -----------------------------------------------------------------------
def _toy_run(tmp_path, **kw):
    out = tmp_path / "run"
    opts = RunOptions(model="toy", power_w=49.0, problem="toy", population=8, generations=3, out=str(out),
                      quiet=True, **kw)
    assert start(opts) == 0
    return out


@pytest.mark.e2e
def test_resume_refuses_other_model(tmp_path):
    out = _toy_run(tmp_path)
    with pytest.raises(InputError, match=r"cannot resume .*the model given \(toy:0.5\) differs"):
        resume(out, model="toy:0.5", quiet=True)


@pytest.mark.e2e
def test_resume_refuses_checkpoint_of_other_config(tmp_path):
    out = _toy_run(tmp_path)
    other = _toy_run(tmp_path / "other", seed=1)
    for name in ("checkpoint.npz", "checkpoint.prev.npz"):
        (out / "checkpoints" / name).write_bytes((other / "checkpoints" / name).read_bytes())
    with pytest.raises(InputError, match="run.json's seed is 0 but its checkpoint checkpoint.npz was made with 1"):
        resume(out, quiet=True)


@pytest.mark.e2e
def test_run_refuses_existing_run_folder(tmp_path):
    out = _toy_run(tmp_path)
    with pytest.raises(InputError, match="already holds a run; continue it with `evo-pimsyn resume"):
        start(RunOptions(model="toy", power_w=49.0, problem="toy", out=str(out), quiet=True))


@pytest.mark.e2e
def test_resume_not_a_run_folder(tmp_path):
    with pytest.raises(InputError, match="not a run folder"):
        resume(tmp_path, quiet=True)
