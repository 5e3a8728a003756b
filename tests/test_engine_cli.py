"""`evo-pimsyn run` / `resume` end to end on a real network (PIMSYN's AlexNet JSON, 49 W):
run-folder contents, workers 1 vs 2, SIGKILL at random points then resume, Ctrl-C, and
resume refusals. Small populations and few generations keep it to seconds per run."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import time

import numpy as np
import pandas as pd
import pytest

from tests import engine_helpers as h
from tests.conftest import REFERENCE

pytestmark = pytest.mark.e2e

ALEXNET = REFERENCE / "networks" / "alexnet.json"
GENS = 5
COMMON = ("--power", "49", "--population", "16", "--seed", "7", "--fidelity", "cycle")


def run_cmd(out, *extra, gens=GENS, model=None):
    return h.cli_cmd("run", "--model", str(model or ALEXNET), *COMMON, "--generations", str(gens), "--out",
                     str(out), *extra)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "ref"
    res = h.run(run_cmd(out, "--quiet"))
    assert res.returncode == 0, res.stderr
    return out


def test_run_folder_contents(reference):
    names = {p.name for p in reference.iterdir()}
    assert {"run.json", "generations.csv", "pareto.csv", "best.json", "pimcomp.json", "checkpoints"} <= names
    run = json.loads((reference / "run.json").read_text())
    net = run["network"]
    assert run["model_hash"] == hashlib.sha256(json.dumps(net, sort_keys=True).encode()).hexdigest()
    assert run["seed"] == 7 and run["population"] == 16 and run["objectives"] == ["efficiency", "throughput", "area"]
    assert run["stop"] == {"generations": GENS, "time_budget_s": None}
    assert {"numpy", "pandas", "deap", "joblib", "evo_pimsyn", "python"} <= set(run["versions"])
    assert "RRAM" in run["hardware"] and run["fidelity"] == "cycle"
    assert (run["power_check"], run["fixes"]) == ("strict", "none")  # the defaults: the budget is a cap
    gens = (reference / "generations.csv").read_text().splitlines()
    header = gens[0].split(",")
    assert len(gens) == GENS + 2
    for col in ("generation", "evaluations", "feasible_fraction", "best_efficiency_gops_w", "best_throughput_ips",
                "best_area_mm2", "hypervolume", "wall_time_s"):
        assert col in header
    pareto = (reference / "pareto.csv").read_text().splitlines()
    cols = pareto[0].split(",")
    for col in ("efficiency_gops_w", "throughput_ips", "area_mm2", "fidelity", "search_fidelity", "xbar_size",
                "rram_ratio", "dup_0", "macro_num_0", "macro_share_0", "latency_ns", "energy_nj", "gene_xbar_size",
                "power_check", "fixes", "peak_power_w", "power_margin_w"):
        assert col in cols
    front = pd.read_csv(reference / "pareto.csv")
    ok = front["feasible"].astype(bool)
    assert ok.any() and (front.loc[ok, "peak_power_w"] <= run["power_w"]).all()
    assert np.allclose(front["power_margin_w"], run["power_w"] - front["peak_power_w"])
    assert len(pareto) > 1
    best = json.loads((reference / "best.json").read_text())
    pim = json.loads((reference / "pimcomp.json").read_text())
    assert set(pim) == {"CellPrecision", "CrossbarH", "CrossbarW", "ChipH", "ChipW", "CoreH", "CoreW"}
    assert pim["CellPrecision"] == best["rram_res"] and pim["CrossbarH"] == best["xbar_size"]
    assert best["power_efficiency"] > 0


@pytest.mark.slow
def test_workers_1_vs_2_identical(reference, tmp_path):
    out = tmp_path / "w2"
    res = h.run(run_cmd(out, "--quiet", "--workers", "2"))
    assert res.returncode == 0, res.stderr
    h.assert_same_results(reference, out)


def test_progress_lines_when_stderr_is_not_a_terminal_and_quiet(tmp_path):
    # the test's stderr is a pipe: plain lines (a start line and a last one), no bar
    res = h.run(run_cmd(tmp_path / "loud", gens=1))
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("evo-pimsyn: generation")]
    assert [line.split(";")[0] for line in lines] == ["evo-pimsyn: generation 0/1", "evo-pimsyn: generation 1/1"]
    # the search runs on the cycle model here: its bests are the verified ones, no estimate beside them
    assert "best (cycle model): efficiency " in lines[-1] and "unverified" not in res.stderr
    assert "\r" not in res.stderr and "best_eff=" not in res.stderr
    quiet = h.run(run_cmd(tmp_path / "quiet", "--quiet", gens=1))
    assert quiet.stderr == "" and quiet.stdout == ""


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(reference, tmp_path):
    # two trials of the real model through the command line; test_engine_runs kills toy runs
    # (and their resumes) at more points
    rnd = random.Random(7)
    interrupted = 0
    for trial in range(2):
        out = tmp_path / f"k{trial}"
        proc = h.popen(run_cmd(out, "--quiet"))
        h.wait_for(out / "run.json", proc)
        # a random generation (-1: before the first one), then a random moment inside the next
        h.wait_for_generation(out, rnd.randint(-1, GENS - 1), proc)
        time.sleep(rnd.uniform(0.0, 0.15))
        interrupted += h.kill(proc)
        res = h.run(h.cli_cmd("resume", str(out), "--quiet"))
        assert res.returncode == 0, res.stderr
        h.assert_same_results(reference, out)
    assert interrupted, "no trial was killed while running: the test proved nothing"


@pytest.mark.slow
def test_ctrl_c_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "int"
    proc = h.popen(run_cmd(out, "--quiet", gens=500))
    h.wait_for(out / "checkpoints" / "checkpoint.npz", proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"Resume with: evo-pimsyn resume {out}" in err
    at = int(json.loads(__import__("zipfile").ZipFile(out / "checkpoints" / "checkpoint.npz").read("meta.json"))
             ["generation"])
    target = at + 2
    res = h.run(h.cli_cmd("resume", str(out), "--generations", str(target), "--quiet"))
    assert res.returncode == 0, res.stderr
    fresh = tmp_path / "fresh"
    assert h.run(run_cmd(fresh, "--quiet", gens=target)).returncode == 0
    h.assert_same_results(fresh, out)


@pytest.mark.slow
def test_resume_refuses_changed_config_or_model(tmp_path):
    cfg = tmp_path / "hw.json"
    data = json.loads((h.REPO / "configs" / "pimsyn_date24.json").read_text())
    cfg.write_text(json.dumps(data))
    out = tmp_path / "cfg"
    assert h.run(run_cmd(out, "--quiet", "--config", str(cfg), gens=1)).returncode == 0
    other = ALEXNET.parent / "vgg13.json"
    res = h.run(h.cli_cmd("resume", str(out), "--model", str(other), "--quiet"))
    assert res.returncode == 2 and "cannot resume" in res.stderr and "model" in res.stderr
    data["noc_power"] = data["noc_power"] * 2
    cfg.write_text(json.dumps(data))
    res = h.run(h.cli_cmd("resume", str(out), "--quiet"))
    assert res.returncode == 2, res.stderr
    assert "cannot resume" in res.stderr and "hardware config" in res.stderr and "Traceback" not in res.stderr


def test_bad_objectives_is_one_line_error(tmp_path):
    res = h.run(h.cli_cmd("run", "--model", str(ALEXNET), "--power", "49", "--objectives", "efficiency,speed",
                          "--out", str(tmp_path / "x")))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("evo-pimsyn: error: The 'objectives' parameter")


@pytest.mark.slow
def test_bench_search_smoke(tmp_path):
    res = h.run([__import__("sys").executable, str(h.REPO / "bench" / "search.py"), "--models", str(ALEXNET),
                 "--generations", "1", "--population", "8", "--fidelity", "cycle", "--out", str(tmp_path)])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:2] == ["model", "method"]
    assert [l.split()[1] for l in lines[2:]] == ["GA", "random"]
    evals = [int(l.split()[2]) for l in lines[2:]]
    # same evaluation budget: population 8 + one generation of 8 children and 8 local-search neighbours
    assert evals == [24, 24]
    # the ceiling climb starts from that run's best and never ends below it
    run_dir = next(tmp_path.glob("*-ga"))
    res = h.run([__import__("sys").executable, str(h.REPO / "bench" / "ceiling.py"), str(run_dir), "--seconds", "2",
                 "--neighbours", "16", "--checked", "2", "--workers", "1"])
    assert res.returncode == 0, res.stderr
    row = res.stdout.splitlines()[2].split()
    start, end, checked = float(row[1]), float(row[2]), int(row[4])
    best = max(float(r["efficiency_gops_w"]) for r in __import__("csv").DictReader((run_dir / "pareto.csv").open())
               if r["feasible"] == "True")
    assert start == pytest.approx(best, abs=0.05) and end >= start and checked >= 2  # printed to 0.1
    floor, steps = float(row[6]), int(row[7])
    assert floor > end and steps > 0  # static energy is positive, so T = 0 beats any real design
    # PIMSYN's own alexnet.json at 49 W: the default target is 1.2 x PIMSYN's 658.4 GOPS/W
    assert float(row[8]) == pytest.approx(1.2 * 658.4, abs=0.05)


def test_ceiling_energy_split_reproduces_the_design():
    """E = E_dyn + P_static x T: the design's own efficiency as the target gives back its
    own steps; a target above its dynamic-energy floor has no steps."""
    import importlib.util

    from evo_pimsyn.engine.setup import prepare_pim

    spec = importlib.util.spec_from_file_location("ceiling", h.REPO / "bench" / "ceiling.py")
    ceiling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ceiling)
    problem = prepare_pim(str(ALEXNET), None, 49.0, "specified", True).problem
    G = problem.initial(16, __import__("numpy").random.default_rng(0))
    frame = problem.scorer("cycle")[0](*problem.scorer("cycle")[1], G)
    k = int(frame["efficiency_gops_w"].fillna(0).to_numpy().argmax())
    split = ceiling.energy_split(problem, G[k])
    eff = float(frame["efficiency_gops_w"].iloc[k])
    assert split["steps"] == int(frame["steps"].iloc[k])
    assert ceiling.steps_for(split, eff) == pytest.approx(split["steps"], rel=1e-9)
    floor = split["ops"] / split["e_dyn_nj"]
    assert floor > eff and ceiling.steps_for(split, 1.01 * floor) < 0


@pytest.mark.slow
def test_polish_option(tmp_path):
    """Single objective with the analytic search: the last tenth of the generations polish
    by default (recorded in run.json and counted in generations.csv); --polish 0 turns it
    off; a value outside [0, 1] is a one-line error."""
    import csv

    counts = {}
    for polish in ("0.1", "0"):
        out = tmp_path / f"p{polish}"
        res = h.run(h.cli_cmd("run", "--model", str(ALEXNET), "--power", "49", "--population", "8", "--seed", "1",
                              "--objectives", "efficiency", "--generations", "10", "--polish", polish,
                              "--out", str(out), "--quiet"))
        assert res.returncode == 0, res.stderr
        assert json.loads((out / "run.json").read_text())["polish_fraction"] == float(polish)
        rows = list(csv.DictReader((out / "generations.csv").open()))
        counts[polish] = [int(r["polish_generations"]) for r in rows]
    assert counts["0.1"][-1] == 1 and counts["0.1"][-2] == 0  # generation 10 of 10
    assert counts["0"][-1] == 0
    res = h.run(h.cli_cmd("run", "--model", str(ALEXNET), "--power", "49", "--polish", "1.5",
                          "--out", str(tmp_path / "bad")))
    assert res.returncode == 2 and "--polish" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_corner_option(tmp_path):
    """Three objectives: by default the last fifth of the generations is the corner phase
    (session.DEFAULT_CORNER, recorded in run.json, counted in generations.csv); --corner 0
    has none; a single objective has none whatever --corner says, and records 0 (its runs
    hash as before the phase); a value outside [0, 1] is a one-line error."""
    import csv

    counts = {}
    for corner, objectives, recorded in ((None, "efficiency,throughput,area", 0.2),
                                         ("0", "efficiency,throughput,area", 0.0), ("0.2", "efficiency", 0.0)):
        out = tmp_path / f"c{corner}-{len(objectives)}"
        res = h.run(h.cli_cmd("run", "--model", str(ALEXNET), "--power", "49", "--population", "8", "--seed", "1",
                              "--objectives", objectives, "--generations", "10",
                              *([] if corner is None else ["--corner", corner]), "--out", str(out), "--quiet"))
        assert res.returncode == 0, res.stderr
        assert json.loads((out / "run.json").read_text())["corner_fraction"] == recorded
        rows = list(csv.DictReader((out / "generations.csv").open()))
        counts[corner, objectives] = [int(r["corner_generations"]) for r in rows]
    assert counts[None, "efficiency,throughput,area"][-3:] == [0, 1, 2]  # generations 9 and 10 of 10
    assert counts["0", "efficiency,throughput,area"][-1] == 0 and counts["0.2", "efficiency"][-1] == 0
    res = h.run(h.cli_cmd("run", "--model", str(ALEXNET), "--power", "49", "--corner", "1.5",
                          "--out", str(tmp_path / "bad")))
    assert res.returncode == 2 and "--corner" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "bad").exists()
    # what the phase climbs: the box by default, the first objective on request
    assert json.loads((tmp_path / "cNone-26" / "run.json").read_text())["corner_objective"] == "box"
    out = tmp_path / "first"
    res = h.run(h.cli_cmd("run", "--model", str(ALEXNET), "--power", "49", "--population", "8", "--seed", "1",
                          "--generations", "10", "--corner-objective", "first", "--out", str(out), "--quiet"))
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "run.json").read_text())["corner_objective"] == "first"
    res = h.run(h.cli_cmd("run", "--model", str(ALEXNET), "--power", "49", "--corner-objective", "last",
                          "--out", str(tmp_path / "bad")))
    assert res.returncode == 2 and "--corner-objective" in res.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_checkpoint_every_option(tmp_path):
    """--checkpoint-every: auto by default, 0 (every generation) or a duration, recorded in
    run.json; a run ends with its last generation checkpointed whatever the cadence; a bad
    value is a one-line error."""
    from evo_pimsyn.engine import checkpoint as ckpt

    for value, recorded in ((None, "auto"), ("0", 0.0), ("10m", 600.0)):
        out = tmp_path / f"c{value}"
        extra = [] if value is None else ["--checkpoint-every", value]
        res = h.run(h.cli_cmd("run", "--model", "zoo:lenet5", "--power", "10", "--population", "8", "--generations",
                              "4", *extra, "--out", str(out), "--quiet"))
        assert res.returncode == 0, res.stderr
        assert json.loads((out / "run.json").read_text())["checkpoint_every_s"] == recorded
        assert ckpt.load(out / "checkpoints").state.generation == 4
    res = h.run(h.cli_cmd("run", "--model", "zoo:lenet5", "--power", "10", "--checkpoint-every", "often",
                          "--out", str(tmp_path / "bad")))
    assert res.returncode == 2 and "--checkpoint-every" in res.stderr.strip().splitlines()[-1]
