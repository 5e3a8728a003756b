"""bench/peers.py's pieces: the adapter that turns a peer's proposals into legal genomes,
the candidate tracker, the two hypervolume references, the resumable results.csv and a
short run of each peer (those need the ``bench`` extra and skip without it)."""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import optional_extra

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("bench_peers", REPO / "bench" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup(reference_dir):
    from evo_pimsyn.engine.setup import prepare_pim

    return prepare_pim(str(reference_dir / "networks" / "alexnet.json"), None, 49.0, "specified", True, "strict")


@pytest.mark.unit
def test_the_benchmark_reads_pimsyn_networks_from_the_repository(peers, reference_dir):
    """A clone runs the benchmark: PIMSYN's networks come from the repository's copy, not
    from a folder beside it."""
    for name in ("alexnet", "resnet18", "vgg16"):
        path = Path(peers.NETWORKS[name])
        assert path.is_file() and path.parent == reference_dir / "networks"


# ---- the adapter --------------------------------------------------------------------------
@pytest.mark.unit
def test_to_genomes_gives_legal_fixed_points_of_repair(peers, setup):
    from genomes.repair import repair

    layout = setup.problem.layout
    rng = np.random.default_rng(0)
    # anything a real-valued optimizer may propose: inside, outside and far outside the bounds
    X = rng.uniform(layout.lower - 5.0, layout.upper + 5.0, size=(64, layout.n_genes))
    X[0] = -1e12
    X[1] = 1e12
    G = peers.to_genomes(layout, X)
    assert G.dtype == np.int64 and G.shape == X.shape
    assert ((G >= layout.lower) & (G <= layout.upper)).all()
    np.testing.assert_array_equal(repair(layout, G), G)


@pytest.mark.unit
def test_to_genomes_rounds_to_the_nearest_integer_first(peers, setup):
    layout = setup.problem.layout
    legal = setup.problem.initial(16, np.random.default_rng(1))
    noise = np.random.default_rng(2).uniform(-0.49, 0.49, size=legal.shape)
    np.testing.assert_array_equal(peers.to_genomes(layout, legal + noise), legal)


@pytest.mark.unit
def test_to_genomes_takes_non_finite_values_and_refuses_a_wrong_shape(peers, setup):
    layout = setup.problem.layout
    X = np.full((2, layout.n_genes), np.nan)
    X[1] = np.inf
    G = peers.to_genomes(layout, X)
    assert ((G >= layout.lower) & (G <= layout.upper)).all()
    with pytest.raises(ValueError, match=r"proposals must be a matrix \[B, 26\]"):
        peers.to_genomes(layout, np.zeros((3, 5)))


@pytest.mark.e2e
def test_peer_problem_scores_repaired_genomes_with_the_engine_rule(peers, setup):
    from evo_pimsyn.engine.evaluation import score

    fn, args = setup.problem.scorer("analytic")
    pp = peers.PeerProblem(setup, ("efficiency",), lambda G: fn(*args, G))
    X = np.random.default_rng(3).uniform(setup.problem.layout.lower, setup.problem.layout.upper,
                                         size=(32, setup.problem.layout.n_genes))
    G, F, V = pp(X)
    ref = score(fn(*args, G), pp.objectives, 49.0)
    np.testing.assert_array_equal(F, ref.objectives)
    np.testing.assert_array_equal(V, ref.violation)
    assert pp.tracker.evaluations == 32


# ---- the tracker --------------------------------------------------------------------------
@pytest.mark.unit
def test_tracker_keeps_the_best_distinct_feasible_genomes_with_their_first_time(peers):
    tr = peers.Tracker(n_genes=2, n_objectives=1, top=3)
    G = np.array([[0, 0], [1, 1], [2, 2], [3, 3]])
    tr.add(G, np.array([[-5.0], [-7.0], [-1.0], [-9.0]]), np.array([0.0, 0.0, 0.0, 1.5]), t_s=1.0)
    tr.add(np.array([[1, 1], [4, 4]]), np.array([[-7.0], [-6.0]]), np.zeros(2), t_s=2.0)
    assert tr.evaluations == 6
    assert tr.genomes.tolist() == [[1, 1], [4, 4], [0, 0]]  # [3, 3] is infeasible
    assert tr.seen_s.tolist() == [1.0, 2.0, 1.0]  # [1, 1] keeps the time it was first seen
    assert tr.search_best == -7.0


@pytest.mark.unit
def test_tracker_with_several_objectives_keeps_the_non_dominated_ones(peers):
    tr = peers.Tracker(n_genes=1, n_objectives=2)
    tr.add(np.array([[0], [1], [2]]), np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]]), np.zeros(3), t_s=0.5)
    assert sorted(tr.genomes[:, 0].tolist()) == [0, 1]


# ---- references -----------------------------------------------------------------------------
@pytest.mark.unit
def test_reference_point_is_the_power_bound_of_the_config(peers, hw):
    ref = peers.reference_point(hw, 49.0)
    # 64 KB scratchpad with its router: (0.083 + 0.03775) mm^2 / 0.0136025 W, times 49 W less the NoC's 0.104 W
    assert ref[:2] == (0.0, 0.0)
    assert ref[2] == pytest.approx((49.0 - 0.104) * (0.083 + 0.03775) / 0.0136025)
    assert peers.reference_point(hw, 20.0)[2] < ref[2]


@pytest.mark.unit
def test_no_feasible_design_exceeds_the_area_bound(peers, setup):
    from genomes.init import random_genomes

    fn, args = setup.problem.scorer("analytic")
    frame = fn(*args, random_genomes(setup.problem.layout, 2048, np.random.default_rng(4)))
    feasible = frame[frame["feasible"]]
    assert len(feasible) > 100
    assert (feasible["area_mm2"] < peers.reference_point(setup.hardware, 49.0)[2]).all()


@pytest.mark.unit
def test_nadir_reference_is_fixed_and_inside_the_bound(peers, setup):
    a = peers.nadir_reference(setup, sample=512)
    assert a == peers.nadir_reference(setup, sample=512)  # seeded: the same for every contender and run
    assert a[:2] == (0.0, 0.0) and 0 < a[2] < peers.reference_point(setup.hardware, 49.0)[2]


# ---- results.csv ---------------------------------------------------------------------------
@pytest.mark.unit
def test_results_csv_resumes_where_it_stopped(peers, tmp_path):
    path = tmp_path / "results.csv"
    todo = peers.plan(["alexnet", "resnet18"], [0, 1], [120.0], ["engine", "pymoo-ga", "pymoo-nsga2"],
                      ("single", "three"), 49.0, 2)
    # pymoo-ga runs only the single objective, pymoo-nsga2 only three: 2 networks x 2 seeds x 4
    assert len(todo) == 16 and {(t["contender"], t["objectives"]) for t in todo} == {
        ("engine", "single"), ("engine", "three"), ("pymoo-ga", "single"), ("pymoo-nsga2", "three")}
    assert peers.done_keys(path) == set()
    for item in todo[:3]:
        peers.append_row(path, {**item, "best_efficiency_gops_w": 1.0, "finished_at": "2024-01-01T00:00:00"})
    peers.append_row(path, {**todo[3]})  # a row without finished_at is not a measurement
    done = peers.done_keys(path)
    assert done == {peers.row_key(t) for t in todo[:3]}
    assert [t for t in todo if peers.row_key(t) not in done] == todo[3:]
    assert path.read_text().count("\n") == 5  # header + 4 rows, header written once


@pytest.mark.unit
def test_row_key_matches_csv_text_and_fresh_values(peers):
    fresh = {"network": "alexnet", "power_w": 49.0, "objectives": "single", "contender": "engine",
             "budget_s": 120.0, "seed": 0, "workers": 2}
    text = {k: str(v) for k, v in fresh.items()} | {"budget_s": "120", "power_w": "49"}
    assert peers.row_key(fresh) == peers.row_key(text)


@pytest.mark.unit
def test_optuna_values_give_infeasible_rows_the_reference(peers):
    from evo_pimsyn.engine.objectives import parse_objectives

    objs = parse_objectives("efficiency,throughput,area")
    F = np.array([[-700.0, -9000.0, 20.0], [np.inf, np.inf, np.inf]])
    assert peers.optuna_values(F, objs, (0.0, 0.0, 434.0)) == [[700.0, 9000.0, 20.0], [0.0, 0.0, 434.0]]


@pytest.mark.unit
def test_tables_from_a_results_csv(peers, tmp_path):
    path = tmp_path / "results.csv"
    for seed, (e, g) in enumerate([(700.0, 650.0), (690.0, 660.0)]):
        for c, v in (("engine", e), ("pymoo-ga", g)):
            peers.append_row(path, {"network": "alexnet", "power_w": 49.0, "objectives": "single", "contender": c,
                                    "budget_s": 120.0, "seed": seed, "workers": 2, "best_efficiency_gops_w": v,
                                    "time_to_best_s": 10.0, "finished_at": "x"})
    text = peers.report(path)
    row = next(l for l in text.splitlines() if l.startswith("| alexnet | 695.0"))
    # mean ratio 695 / 655, worst engine seed over best peer seed 690 / 660
    assert "| pymoo-ga | 1.061 | 1.045 |" in row
    assert "| single | 120 | alexnet | 2 | 700.0 (seed 0) | 690.0 (seed 1) | 1.43 |" in text


@pytest.mark.unit
def test_reach_table_sets_each_target_against_the_best_any_row_found(peers, tmp_path):
    import pandas as pd

    path = tmp_path / "results.csv"
    ref = {"ref_efficiency_gops_w": 0.0, "ref_throughput_ips": 0.0, "ref_area_mm2": 10.0}
    base = {"network": "vgg16", "power_w": 49.0, "workers": 2, "finished_at": "x", **ref}
    for budget, c, seed, v in [(120.0, "engine", 0, 400.0), (120.0, "pymoo-de", 0, 410.0),
                               (600.0, "engine", 0, 430.0), (600.0, "pymoo-de", 0, 420.0)]:
        peers.append_row(path, {**base, "objectives": "single", "contender": c, "budget_s": budget, "seed": seed,
                                "best_efficiency_gops_w": v})
    # three objectives: each contender's front is one box; their union covers more than either
    fronts = {"engine": (2.0, 3.0, 8.0), "pymoo-nsga2": (3.0, 2.0, 8.0)}
    for c, (e, t, a) in fronts.items():
        row = {**base, "objectives": "three", "contender": c, "budget_s": 120.0, "seed": 0,
               "hypervolume": e * t * (10.0 - a)}
        peers.append_row(path, row)
        where = {"engine": tmp_path / "engine" / "vgg16-three-120s-seed0-w2-engine" / "pareto.csv",
                 "pymoo-nsga2": tmp_path / "fronts" / "vgg16-three-120s-seed0-w2-pymoo-nsga2.csv"}[c]
        where.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"feasible": [True, False], "efficiency_gops_w": [e, 99.0], "throughput_ips": [t, 99.0],
                      "area_mm2": [a, 1.0]}).to_csv(where, index=False)
        assert peers.front_files(tmp_path, row) == [where]
    text = peers.reach_table(pd.read_csv(path), tmp_path)
    # single: 1.05 x 410 against the best of every row (430, the engine's 600 s)
    assert "| single | vgg16 | 120 | pymoo-de 410.0 | 430.5 | 400.0 | 430.0 (engine 600 s seed 0) | 1.001 |" in text
    assert "| single | vgg16 | 600 | pymoo-de 420.0 | 441.0 | 430.0 | 430.0 (engine 600 s seed 0) | 1.026 |" in text
    # three: union of the two boxes = 2*3*2 + 3*2*2 - 2*2*2 = 16 (the infeasible rows count for nothing)
    row = next(line for line in text.splitlines() if line.startswith("| three |"))
    assert "| pymoo-nsga2 12 | 13.2 | 12 | 16 (union of 2 fronts of 2 rows, 2 designs) | 0.825 |" in row


# ---- the peers themselves (bench extra) ------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.parametrize("name,mode", [("pymoo-ga", "single"), ("pymoo-de", "single"), ("pymoo-nsga2", "three"),
                                       ("optuna-tpe", "single"), ("optuna-nsga2", "three")])
def test_each_peer_runs_on_the_problem_within_its_budget(peers, setup, name, mode):
    optional_extra(name.split("-")[0], "bench")
    ref = peers.reference_point(setup.hardware, 49.0)
    pp, search_s = peers.run_peer(name, setup, mode, 0.5, 0, 1, "project", ref)
    assert 0.5 <= search_s < 20
    assert pp.tracker.evaluations >= peers.POP[name] // 8  # at least one batch
    assert len(pp.tracker.genomes) > 0 and math.isfinite(pp.tracker.search_best)
    frame = peers.cycle_frame(setup, pp.tracker.genomes, 1)
    m = peers.front_metrics(frame, mode, ref, peers.nadir_reference(setup, sample=256))
    assert m["best_efficiency_gops_w"] > 0
    if mode == "three":
        assert m["hypervolume"] > 0 and m["front_designs"] >= 1


@pytest.mark.unit
def test_engine_variants_name_run_options_and_settings(peers, tmp_path):
    assert peers.engine_variant("engine") == ({}, {})
    cli, settings = peers.engine_variant("engine+population=256+restart_after=0+restart_min_gain=1e-3")
    assert cli == {"population": "256"} and settings == {"restart_after": 0, "restart_min_gain": 1e-3}
    with pytest.raises(ValueError, match="is not KEY=VALUE"):
        peers.engine_variant("engine+mutation=2")
    assert peers.engine_variant("engine+split=0.2") == ({"split": "0.2"}, {})
    assert peers.engine_variant("engine+corner=0.2+corner_seed=0") == ({"corner": "0.2"}, {"corner_seed": 0})
    for variant in ("engine+split=0.2", "engine+corner=0.2", "engine+corner_population=128"):
        assert [t["objectives"] for t in peers.plan(["alexnet"], [0], [60.0], [variant], ("single", "three"),
                                                    49.0, 1)] == ["three"]
    split = peers.engine_command("zoo:alexnet", 49.0, "three", 60.0, 0, 1, tmp_path, "engine+split=0.2")
    assert "--split" not in split and split[1:4] == ["-m", "evo_pimsyn", "run"]
    corner = peers.engine_command("zoo:alexnet", 49.0, "three", 60.0, 0, 1, tmp_path, "engine+corner=0.2")
    assert corner[corner.index("--corner") + 1] == "0.2"
    plain = peers.engine_command("zoo:alexnet", 49.0, "single", 120.0, 1, 2, tmp_path / "r")
    assert plain[1:4] == ["-m", "evo_pimsyn", "run"] and "--population" not in plain
    cmd = peers.engine_command("zoo:alexnet", 49.0, "single", 120.0, 1, 2, tmp_path / "r",
                               "engine+population=256+restart_after=0")
    assert cmd[2:5] == ["--engine-settings", "restart_after=0", "run"]
    assert cmd[cmd.index("--population") + 1] == "256" and cmd[cmd.index("--time-budget") + 1] == "120s"


@pytest.mark.e2e
def test_engine_settings_reach_the_run(tmp_path):
    """--engine-settings runs evo-pimsyn with loop.Settings defaults replaced: restart after
    every generation without progress, so a 4-generation run restarts."""
    import csv
    import subprocess

    out = tmp_path / "run"
    res = subprocess.run([sys.executable, str(REPO / "bench" / "peers.py"), "--engine-settings",
                          "restart_after=1,restart_min_gain=0.5", "run", "--model", "zoo:lenet5", "--power", "49",
                          "--generations", "4", "--out", str(out), "--quiet"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    restarts = [int(r["restarts"]) for r in csv.DictReader((out / "generations.csv").open())]
    assert restarts[-1] >= 1
