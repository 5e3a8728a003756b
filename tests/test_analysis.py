"""evo_pimsyn.analysis: Pareto filter (against a naive oracle), exact hypervolume (against
inclusion-exclusion), load_run on finished and in-progress runs, compare_runs, design
records. Also home of the small shared run the CLI and notebook tests use."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.analysis import compare_runs, hypervolume, load_run, pareto_filter, pareto_mask, ranked_front
from evo_pimsyn.analysis import designs
from evo_pimsyn.analysis.hypervolume import hypervolume_min
from fitness.errors import InputError

RUN_ARGS = ("--model", "zoo:alexnet", "--power", "49", "--generations", "3", "--population", "8",
            "--rescore-every", "2", "--quiet")


def make_run(tmp_path_factory, seed: int = 0) -> Path:
    """A tiny finished AlexNet run, made once per test session and seed: every test module
    asks for it through here, and the folder itself is the cache (a fixture imported into
    several modules would otherwise run once per module)."""
    from evo_pimsyn.cli import main

    path = tmp_path_factory.getbasetemp() / f"shared-run-seed{seed}"
    if not (path / "pareto.csv").exists():
        shutil.rmtree(path, ignore_errors=True)
        assert main(["run", *RUN_ARGS, "--seed", str(seed), "--out", str(path)]) == 0
    return path


def in_progress_copy(run: Path, dest: Path) -> Path:
    """The run as it looks before it finishes: checkpoints and archives, no pareto.csv."""
    shutil.copytree(run, dest)
    for name in ("pareto.csv", "best.json", "pimcomp.json"):
        (dest / name).unlink(missing_ok=True)
    return dest


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory)


# ---- Pareto filter ----------------------------------------------------------------------
def naive_mask(F: np.ndarray) -> np.ndarray:
    n = len(F)
    out = np.zeros(n, dtype=bool)
    for i in range(n):
        if not np.isfinite(F[i]).all():
            continue
        out[i] = not any(np.isfinite(F[j]).all() and all(F[j] <= F[i]) and any(F[j] < F[i])
                         for j in range(n) if j != i)
    return out


@pytest.mark.property
@pytest.mark.parametrize("seed", range(40))
def test_pareto_mask_matches_naive_oracle(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 60)), int(rng.integers(1, 5))
    F = rng.integers(0, 6, size=(n, m)).astype(float)  # small ints: many ties and duplicates
    if seed % 3 == 0:
        F[rng.random(n) < 0.1, 0] = np.nan
    mask = pareto_mask(F)
    assert np.array_equal(mask, naive_mask(F))
    perm = rng.permutation(n)
    assert np.array_equal(pareto_mask(F[perm]), mask[perm])  # order does not matter


@pytest.mark.unit
def test_pareto_filter_senses_and_feasibility():
    df = pd.DataFrame({"efficiency_gops_w": [10.0, 20.0, 15.0, 30.0], "area_mm2": [1.0, 2.0, 3.0, 0.5],
                       "feasible": [True, True, True, False]})
    # max efficiency, min area; row 3 dominates everything but is infeasible
    assert list(pareto_filter(df, ["efficiency", "area"]).index) == [0, 1]
    assert list(pareto_filter(df, ["efficiency_gops_w", "area_mm2"], feasible_only=False).index) == [3]
    assert list(pareto_filter(df, [("area_mm2", "max")]).index) == [2]
    with pytest.raises(InputError, match="objectives"):
        pareto_filter(df, ["speed"])
    with pytest.raises(InputError, match="no column"):
        pareto_filter(df, ["throughput"])


# ---- hypervolume ---------------------------------------------------------------------------
def inclusion_exclusion(F: np.ndarray, ref: np.ndarray) -> float:
    F = F[(F < ref).all(axis=1)]
    total = 0.0
    for k in range(1, len(F) + 1):
        for subset in itertools.combinations(range(len(F)), k):
            corner = F[list(subset)].max(axis=0)
            total += (-1) ** (k + 1) * np.prod(ref - corner)
    return total


@pytest.mark.property
@pytest.mark.parametrize("seed", range(25))
def test_hypervolume_matches_inclusion_exclusion(seed):
    rng = np.random.default_rng(seed)
    m = 2 + seed % 3
    F = rng.random((int(rng.integers(1, 9)), m)).round(2)
    ref = np.full(m, 1.05)
    assert hypervolume_min(F, ref) == pytest.approx(inclusion_exclusion(F, ref), rel=1e-12, abs=1e-12)


@pytest.mark.unit
def test_hypervolume_units_and_errors():
    df = pd.DataFrame({"efficiency_gops_w": [2.0, 1.0], "area_mm2": [2.0, 1.0]})
    # max efficiency from ref 0, min area up to ref 3: boxes 2x1 and 1x2 overlapping in 1x1
    assert hypervolume(df, ["efficiency", "area"], [0, 3]) == pytest.approx(3.0)
    assert hypervolume(df, ["efficiency"], [0]) == pytest.approx(2.0)
    assert hypervolume(df.iloc[0:0], ["efficiency", "area"], [0, 3]) == 0.0
    with pytest.raises(InputError, match="one value per objective"):
        hypervolume(df, ["efficiency", "area"], [0])
    assert hypervolume_min(np.ones((2, 4)), np.full(4, 2.0)) == 1.0  # exact for any number of objectives


# ---- load_run ---------------------------------------------------------------------------------
@pytest.mark.e2e
def test_load_finished_run_typed(small_run):
    run = load_run(small_run)
    assert run.status == "finished" and run.front_source == "pareto.csv"
    assert [o.name for o in run.objectives] == ["efficiency", "throughput", "area"]
    g, p, a = run.generations, run.pareto, run.archive
    assert g["generation"].dtype == np.int64 and list(g["generation"]) == [0, 1, 2, 3]
    assert {"best_efficiency_gops_w", "hypervolume", "wall_time_s"} <= set(g.columns)
    assert p["feasible"].dtype == bool and p["design"].dtype == np.int64
    assert str(p["macro_share_0"].dtype) == "Int64"
    assert p["efficiency_gops_w"].dtype == np.float64 and len(p) > 0
    assert sorted(a["generation"].unique()) == [0, 2] and a.columns[0] == "generation"
    assert run.network.name == "alexnet" and run.last_generation == 3


@pytest.mark.e2e
def test_load_in_progress_run_reads_checkpoint(small_run, tmp_path):
    run = load_run(in_progress_copy(small_run, tmp_path / "going"))
    assert run.status == "in progress" and run.front_source.startswith("checkpoint (generation 3")
    assert len(run.pareto) and {"efficiency_gops_w", "dup_0", "macro_num_0", "gene_dup_0"} <= set(run.pareto.columns)
    # the checkpoint archive is the same set of designs the finished run re-scored
    done = load_run(small_run).pareto
    assert sorted(run.pareto["dup_0"]) == sorted(done["dup_0"])


@pytest.mark.e2e
def test_load_in_progress_run_without_checkpoint_uses_archive(small_run, tmp_path):
    path = in_progress_copy(small_run, tmp_path / "going")
    shutil.rmtree(path / "checkpoints")
    run = load_run(path)
    assert run.front_source == "archive/gen-000002.csv" and len(run.pareto)


@pytest.mark.unit
@pytest.mark.parametrize("make, message", [
    (lambda p: p, "no such folder"),
    (lambda p: (p.mkdir(), p)[1], "no run.json"),
    (lambda p: (p.mkdir(), (p / "run.json").write_text("{"), p)[2], "not valid JSON"),
    (lambda p: (p.mkdir(), (p / "run.json").write_text("{}"), p)[2], "not an evo-pimsyn run"),
])
def test_load_rejects_non_runs(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        load_run(make(tmp_path / "x"))


# ---- compare, ranks, design records ------------------------------------------------------------
@pytest.mark.e2e
def test_compare_runs(small_run, tmp_path_factory):
    other = make_run(tmp_path_factory, seed=1)
    table = compare_runs([small_run, other])
    assert list(table.index) == [small_run.name, other.name]
    assert {"best_efficiency_gops_w", "best_area_mm2", "hypervolume", "front_size", "evaluations"} <= set(table.columns)
    assert (table["hypervolume"] > 0).all() and (table["status"] == "finished").all()
    ref = table.attrs["hypervolume_ref"]
    assert ref["efficiency_gops_w"] == 0.0 and ref["area_mm2"] > table["best_area_mm2"].max()
    with pytest.raises(InputError):
        compare_runs([])


@pytest.mark.e2e
def test_ranked_front_and_record_reevaluates(small_run):
    run = load_run(small_run)
    front = ranked_front(run)
    assert list(front["rank"]) == list(range(1, len(front) + 1))
    assert front["efficiency_gops_w"].is_monotonic_decreasing
    by_area = ranked_front(run, "area")
    assert by_area["area_mm2"].is_monotonic_increasing
    row = designs.pick(run, 1)
    rec = designs.record(run, row)
    assert set(rec) >= {"total_power_W", "dup", "macro_num", "macro_share", "macro_setting"}
    metrics = designs.evaluation(run, rec)
    assert metrics["efficiency_gops_w"] == pytest.approx(row["efficiency_gops_w"], rel=1e-12)
    with pytest.raises(InputError, match="out of range"):
        designs.pick(run, len(front) + 1)
