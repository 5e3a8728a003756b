"""Resume checks what it resumes: the settings hash is recomputed from run.json and compared
with the checkpoint's, and an edited or damaged run.json is refused with one line naming
the field (exit 2 on the command line). Runs recorded before a setting existed (``fixes``)
were hashed without it and still resume."""

from __future__ import annotations

import json

import pytest

from evo_pimsyn.cli import main
from evo_pimsyn.engine import checkpoint as ckpt
from evo_pimsyn.engine import outputs
from evo_pimsyn.engine.session import SEARCH_KEYS, RunOptions, check_run_record, resume, start
from fitness.errors import InputError


def _toy_run(tmp_path, name="run", **kw):
    out = tmp_path / name
    opts = dict(model="toy", power_w=49.0, problem="toy", population=8, generations=3, out=str(out), quiet=True)
    opts.update(kw)
    assert start(RunOptions(**opts)) == 0
    return out


def _edit(out, **fields):
    path = out / "run.json"
    run = json.loads(path.read_text())
    for key, value in fields.items():
        if value is _DROP:
            run.pop(key)
        else:
            run[key] = value
    path.write_text(json.dumps(run, indent=2))
    return run


_DROP = object()


@pytest.mark.e2e
def test_edited_power_is_refused_naming_the_field(tmp_path, capsys):
    out = _toy_run(tmp_path)
    _edit(out, power_w=50.0)
    assert main(["resume", str(out), "--generations", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("evo-pimsyn: error: cannot resume")
    assert "run.json's power_w is 50.0 but its checkpoint checkpoint.npz was made with 49.0" in err


@pytest.mark.e2e
@pytest.mark.parametrize("key, value", [("seed", 4), ("population", 12), ("objectives", ["efficiency"]),
                                        ("algorithm", "nsga3"), ("macro_reuse", False), ("fixes", "all"),
                                        ("power_check", "pimsyn"), ("model_hash", "0" * 64)])
def test_every_search_setting_is_checked(tmp_path, key, value):
    out = _toy_run(tmp_path)
    _edit(out, **{key: value})
    with pytest.raises(InputError, match=f"run.json's {key} is .* but its checkpoint"):
        resume(out, quiet=True)


@pytest.mark.e2e
def test_a_removed_setting_is_named(tmp_path):
    out = _toy_run(tmp_path)
    _edit(out, fixes=_DROP)
    with pytest.raises(InputError, match="run.json's fixes is missing but its checkpoint .* was made with 'none'"):
        resume(out, quiet=True)


@pytest.mark.e2e
def test_edited_config_hash_is_refused(tmp_path):
    out = _toy_run(tmp_path)
    _edit(out, config_hash="0" * 64)
    with pytest.raises(InputError, match="run.json's config_hash 000000000000 is not the hash of its settings"):
        resume(out, quiet=True)


@pytest.mark.e2e
def test_settings_that_mean_the_same_resume(tmp_path):
    out = _toy_run(tmp_path)
    _edit(out, power_w=49)  # an int for the float it was: the same setting, the same hash
    assert resume(out, generations=4, quiet=True) == 0


@pytest.mark.parametrize("fields, message", [
    ({"population": "many"}, "field 'population' must be an int >= 4, got 'many'"),
    ({"power_w": -1}, "field 'power_w' must be a positive number of W, got -1"),
    ({"objectives": ["speed"]}, "field 'objectives' must be a list of objective names, got"),
    ({"fidelity": "exact"}, "field 'fidelity' must be one of analytic, cycle, got 'exact'"),
    ({"seed": _DROP}, "field 'seed' is missing"),
    ({"stop": _DROP}, "field 'stop' must be an object"),
    ({"stop": {"generations": -2, "time_budget_s": None}}, "field 'stop.generations' must be an int >= 0 or null"),
    ({"workers": 0}, "field 'workers' must be an int >= 1, got 0"),
    ({"checkpoint_every_s": "often"}, "field 'checkpoint_every_s' must be seconds >= 0 or auto"),
])
@pytest.mark.e2e
def test_damaged_fields_are_refused_in_one_line(tmp_path, capsys, fields, message):
    out = _toy_run(tmp_path)
    _edit(out, **fields)
    assert main(["resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out / 'run.json'}: {message}" in err


@pytest.mark.e2e
def test_without_a_checkpoint_the_hash_is_still_checked(tmp_path):
    out = _toy_run(tmp_path)
    for name in ("checkpoint.npz", "checkpoint.prev.npz"):
        (out / "checkpoints" / name).unlink()
    _edit(out, seed=9)
    with pytest.raises(InputError, match="run.json's settings .* do not give its config_hash"):
        resume(out, quiet=True)


def _make_legacy(out):
    """Turn a run into one recorded before ``fixes`` existed (and the corner phase, which came
    later): neither in run.json, its hash over the older keys, and a checkpoint that records
    only that hash (no settings)."""
    run = json.loads((out / "run.json").read_text())
    run.pop("fixes")
    run.pop("corner_fraction")
    run["config_hash"] = outputs.canonical_hash({k: run[k] for k in SEARCH_KEYS if k in run})
    (out / "run.json").write_text(json.dumps(run, indent=2))
    loaded = ckpt.load(out / "checkpoints")
    ckpt.save(out / "checkpoints", loaded.state, config_hash=run["config_hash"], model_hash=run["model_hash"])
    return run


@pytest.mark.e2e
def test_a_run_hashed_before_fixes_existed_resumes(tmp_path):
    out = _toy_run(tmp_path)
    run = _make_legacy(out)
    assert "fixes" not in check_run_record(run)
    assert resume(out, generations=5, quiet=True) == 0
    assert ckpt.load(out / "checkpoints").state.generation == 5


@pytest.mark.e2e
def test_an_edit_of_a_legacy_run_is_refused_without_a_name(tmp_path):
    out = _toy_run(tmp_path)
    _make_legacy(out)
    _edit(out, power_w=50.0)
    with pytest.raises(InputError, match="run.json's settings no longer give its config_hash .* predates the record"):
        resume(out, quiet=True)
