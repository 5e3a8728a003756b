"""The population a run gets without --population: 256 when its objectives are efficiency
alone (its generations cost mostly their cycle-model checks, so a larger population
searches more per second), else 64; the user's --population wins, and run.json records the
resolved number. The `pimsyn` command, single-objective, gets 256."""

from __future__ import annotations

import json

import pytest

from evo_pimsyn.cli import build_parser
from evo_pimsyn.engine.session import (DEFAULT_POPULATION, MULTI_OBJECTIVE_POPULATION, SINGLE_OBJECTIVE_POPULATION,
                                       RunOptions, default_population, plan, resolved_population)
from evo_pimsyn.study import StudySpec
from evo_pimsyn.study.spec import options_record
from tests.conftest import REFERENCE

ALEXNET = REFERENCE / "networks" / "alexnet.json"


@pytest.mark.unit
@pytest.mark.parametrize("objectives, population", [
    ("efficiency", 256), (["efficiency"], 256), (" efficiency ", 256), (None, 128),
    ("efficiency,throughput,area", 128), ("efficiency,area", 128), ("area,efficiency", 128), ("throughput", 64),
    ("area", 64),
])
def test_default_population_by_objectives(objectives, population):
    assert (DEFAULT_POPULATION, MULTI_OBJECTIVE_POPULATION, SINGLE_OBJECTIVE_POPULATION) == (64, 128, 256)
    assert default_population(objectives) == population
    given = {} if objectives is None else {"objectives": objectives}
    assert resolved_population(RunOptions(model="toy", power_w=49.0, **given)) == population
    assert resolved_population(RunOptions(model="toy", power_w=49.0, population=12, **given)) == 12


@pytest.mark.e2e
@pytest.mark.parametrize("objectives, given, recorded", [
    ("efficiency", None, 256), ("efficiency", 64, 64), ("efficiency,throughput,area", None, 128),
    ("efficiency,area", 32, 32),
])
def test_run_json_records_the_resolved_population(objectives, given, recorded):
    _, run = plan(RunOptions(model="toy", power_w=49.0, problem="toy", objectives=objectives, population=given))
    assert run["population"] == recorded
    # the same search whether the default was taken or the same number given
    _, same = plan(RunOptions(model="toy", power_w=49.0, problem="toy", objectives=objectives, population=recorded))
    assert same["config_hash"] == run["config_hash"]


@pytest.mark.unit
def test_command_lines_leave_the_default_to_the_objectives():
    parser = build_parser()
    run = parser.parse_args(["run", "--model", "zoo:alexnet", "--power", "49"])
    assert run.population is None and run.corner == 0.2  # the corner phase: a multi-objective run's default
    assert parser.parse_args(["run", "--model", "m", "--power", "49", "--population", "32"]).population == 32
    pimsyn = parser.parse_args(["pimsyn", "--network", "n.json", "--total_power", "49"])
    assert pimsyn.population is None
    study = parser.parse_args(["study", "--name", "s", "--models", "zoo:alexnet", "--powers", "49"])
    assert study.population is None


@pytest.mark.e2e
def test_the_pimsyn_command_searches_with_256(tmp_path, monkeypatch, capsys):
    from evo_pimsyn.cli import main

    monkeypatch.chdir(tmp_path)
    rc = main(["pimsyn", "--network", str(ALEXNET), "--total_power", "49", "--macro_setting", "specified",
               "--generations", "0", "--run-dir", str(tmp_path / "run"), "--output", str(tmp_path / "out.json"),
               "--quiet"])
    assert rc == 0, capsys.readouterr().err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["objectives"] == ["efficiency"] and run["population"] == 256


@pytest.mark.unit
def test_a_study_resolves_each_cells_population():
    spec = StudySpec(models=["zoo:alexnet"], powers=[49], vary=[("objectives", ["efficiency", "efficiency+area"])])
    assert [options_record(c.options)["population"] for c in spec.cells()] == [256, 128]
    given = StudySpec(models=["zoo:alexnet"], powers=[49], base={"population": 64},
                      vary=[("objectives", ["efficiency", "efficiency+area"])])
    assert [options_record(c.options)["population"] for c in given.cells()] == [64, 64]
