"""The power check and the model fixes from the command line: defaults, what each table
records, and the refusals that keep a design scored under the model that found it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evo_pimsyn.cli import main
from tests import engine_helpers as h

pytestmark = pytest.mark.e2e

MODEL = "zoo:alexnet"


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def fc_run(tmp_path_factory):
    """A short strict run under the `fc` fix."""
    out = tmp_path_factory.mktemp("fc") / "run"
    res = h.run(h.cli_cmd("run", "--model", MODEL, "--power", "49", "--generations", "2", "--population", "8",
                          "--fixes", "fc", "--out", str(out), "--quiet"))
    assert res.returncode == 0, res.stderr
    return out


def test_run_records_the_check_and_fixes(fc_run):
    run = json.loads((fc_run / "run.json").read_text())
    assert (run["power_check"], run["fixes"]) == ("strict", "fc")
    front = pd.read_csv(fc_run / "pareto.csv")
    assert set(front["power_check"]) == {"strict"} and set(front["fixes"]) == {"fc"}
    assert {"peak_power_w", "power_margin_w"} <= set(front.columns)


@pytest.mark.parametrize("option, value, recorded", [("--fixes", "none", "fc"), ("--power-check", "pimsyn", "strict")])
def test_resume_refuses_another_model(fc_run, option, value, recorded):
    res = h.run(h.cli_cmd("resume", str(fc_run), "--generations", "3", option, value))
    assert res.returncode == 2
    line = res.stderr.strip()
    assert "\n" not in line and f"{option[2:]} {recorded}, not {value}" in line


def test_resume_accepts_the_same_model(fc_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fc_run, copy)
    res = h.run(h.cli_cmd("resume", str(copy), "--generations", "3", "--fixes", "fc", "--power-check", "strict",
                          "--quiet"))
    assert res.returncode == 0, res.stderr


def test_exports_carry_the_model(fc_run, tmp_path):
    design = tmp_path / "d.jsonl"
    assert main(["export", str(fc_run), "--format", "design", "-o", str(design)]) == 0
    (rec,) = _lines(design)
    assert (rec["power_check"], rec["fixes"]) == ("strict", "fc")
    arch = tmp_path / "a.json"
    assert main(["export", str(fc_run), "--format", "pimsyn", "-o", str(arch)]) == 0
    assert json.loads(arch.read_text())["model_fixes"] == "fc"
    # re-scored from the exported line alone, under the model it carries
    out = tmp_path / "e.csv"
    assert main(["evaluate", "--model", MODEL, "--designs", str(design), "-o", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert (row["power_check"], row["fixes"]) == ("strict", "fc")
    front = pd.read_csv(fc_run / "pareto.csv")
    best = front[front["feasible"]].sort_values("efficiency_gops_w", ascending=False).iloc[0]
    assert row["efficiency_gops_w"] == pytest.approx(best["efficiency_gops_w"], rel=1e-12)


def test_export_of_an_unfixed_run_has_pimsyns_keys_only(tmp_path):
    out = tmp_path / "run"
    res = h.run(h.cli_cmd("run", "--model", MODEL, "--power", "49", "--generations", "1", "--population", "8",
                          "--out", str(out), "--quiet"))
    assert res.returncode == 0, res.stderr
    arch = tmp_path / "a.json"
    assert main(["export", str(out), "--format", "pimsyn", "-o", str(arch)]) == 0
    assert "model_fixes" not in json.loads(arch.read_text())


@pytest.fixture(scope="module")
def feasible_designs(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "f.jsonl"
    assert main(["sample", "--model", MODEL, "--power", "49", "-n", "4", "--feasible-only", "-o", str(path)]) == 0
    return path


def test_sample_feasible_only_writes_designs_the_model_accepts(feasible_designs, tmp_path):
    recs = _lines(feasible_designs)
    assert len(recs) == 4 and all((r["power_check"], r["fixes"]) == ("strict", "none") for r in recs)
    out = tmp_path / "e.csv"
    assert main(["evaluate", "--model", MODEL, "--designs", str(feasible_designs), "-o", str(out)]) == 0
    frame = pd.read_csv(out)
    assert frame["feasible"].all() and (frame["power_margin_w"] >= 0).all()
    assert frame["power_margin_w"].to_numpy() == pytest.approx(49 - frame["peak_power_w"].to_numpy())


def test_evaluate_refuses_lines_scored_under_another_model(feasible_designs, tmp_path, capsys):
    recs = _lines(feasible_designs)
    recs[2]["fixes"] = "fc"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert main(["evaluate", "--model", MODEL, "--designs", str(mixed)]) == 2
    err = capsys.readouterr().err.strip()
    assert "design 3" in err and "fixes fc" in err and "\n" not in err
    assert main(["evaluate", "--model", MODEL, "--designs", str(feasible_designs), "--power-check", "pimsyn"]) == 2
    assert "design 1" in capsys.readouterr().err


def test_unknown_fix_is_one_line_naming_it(feasible_designs, capsys):
    assert main(["evaluate", "--model", MODEL, "--designs", str(feasible_designs), "--fixes", "fc,min-pwr"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'min-pwr'" in err and "did you mean 'min-power'" in err and "\n" not in err
