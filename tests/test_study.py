"""``evo-pimsyn study``: grid expansion, the CLI, scheduling over workers (local processes and
dask), kill/Ctrl-C and resume, study.csv and its shared hypervolume reference, refusals.

Scheduling, kill and resume run on the engine's synthetic problem (engine/toy.py, a small
sleep per batch standing in for a slow evaluator, as tests/test_engine_runs.py does); the
outputs are checked on PIMSYN's AlexNet through the command line."""

from __future__ import annotations

import csv
import io
import json
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.study import StudySpec, run_study
from evo_pimsyn.study.presets import PAPER, PRESETS
from fitness.errors import InputError
from tests import engine_helpers as h

TOY_GENS = 24
# a toy study through the API (the CLI has no toy problem): 3 seeds x 2 populations
TOY_STUDY = (
    "import sys\n"
    "from evo_pimsyn.study import StudySpec, run_study\n"
    "out, workers, gens, backend, model = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]\n"
    "spec = StudySpec(models=[model], powers=[49], seeds=[0, 1, 2], vary=[('population', ['8', '12'])],\n"
    "                 base={'problem': 'toy', 'generations': gens})\n"
    "sys.exit(run_study(spec, out, workers=workers, backend=backend))\n"
)


def toy_study_cmd(out: Path, workers: int = 1, generations: int = TOY_GENS, backend: str = "local",
                  model: str = "toy:0.02") -> list[str]:
    return [sys.executable, "-c", TOY_STUDY, str(out), str(workers), str(generations), backend, model]


def csv_without_wall(path: Path) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert rows and "wall_time_s" in rows[0]
    return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows]


# ---- the grid ----------------------------------------------------------------------------
@pytest.mark.unit
def test_grid_and_one_at_a_time_cells():
    vary = [("dup", ["searched", "proportional", "one"]), ("macro-reuse", ["on", "off"])]
    grid = StudySpec(models=["pimsyn:alexnet"], powers=[20, 49], seeds=[0, 1], vary=vary).cells()
    assert len(grid) == 2 * 3 * 2 * 2
    oat = StudySpec(models=["pimsyn:alexnet"], powers=[49], seeds=[0], vary=vary, vary_mode="one-at-a-time").cells()
    assert [c.id for c in oat] == ["alexnet-49W-seed0", "alexnet-49W-dup=proportional-seed0",
                                   "alexnet-49W-dup=one-seed0", "alexnet-49W-macro_reuse=off-seed0"]
    off = oat[-1].options
    assert off.macro_reuse is False and off.dup == "searched" and off.seed == 0 and off.power_w == 49.0
    assert len({c.id for c in grid}) == len(grid)


@pytest.mark.unit
def test_varied_gene_pins_each_cell_and_keeps_the_shared_pins():
    spec = StudySpec(models=["zoo:alexnet"], powers=[49], vary=[("xbar_size", ["128", "256"])],
                     base={"pins": "rram_res=2"})
    pins = [c.options.pins for c in spec.cells()]
    assert pins == [{"xbar_size": 128, "rram_res": 2}, {"xbar_size": 256, "rram_res": 2}]
    with pytest.raises(InputError, match="xbar_size is both pinned .* and varied"):
        StudySpec(models=["zoo:alexnet"], powers=[49], vary=[("xbar_size", ["128"])], base={"pins": "xbar_size=128"})


@pytest.mark.unit
def test_objectives_and_fixes_values_use_plus_for_comma():
    spec = StudySpec(models=["zoo:alexnet"], powers=[49], vary=[("objectives", ["efficiency", "efficiency+area"])])
    assert [c.options.objectives for c in spec.cells()] == ["efficiency", "efficiency,area"]
    assert spec.cells()[1].id == "alexnet-49W-objectives=efficiency+area-seed0"


@pytest.mark.unit
@pytest.mark.parametrize("kw, match", [
    ({"vary": [("colour", ["red"])]}, "cannot vary 'colour': --vary takes one of macro-setting"),
    ({"vary": [("dup", ["half"])]}, r"--vary dup=half: the value must be one of searched, proportional, one"),
    ({"vary": [("macro_reuse", ["maybe"])]}, "must be on or off"),
    ({"vary": [("corner_objective", ["last"])]}, "--vary corner-objective=last: the value must be one of box, first"),
    ({"vary": [("xbar_size", ["big"])]}, "must be a number"),
    ({"vary": [("dup", ["one"]), ("dup", ["searched"])]}, "varied twice"),
    ({"models": ["zoo:alexnet", "/tmp/x/alexnet.onnx"]}, "same name 'alexnet'"),
    ({"powers": [49, 49]}, "lists a value twice"),
    ({"seeds": []}, "at least one value"),
    ({"vary_mode": "random"}, "one of grid, one-at-a-time"),
])
def test_bad_study_specs_are_one_line_errors(kw, match):
    args = {"models": ["zoo:alexnet"], "powers": [49], **kw}
    with pytest.raises(InputError, match=match) as info:
        StudySpec(**args)
    assert "\n" not in str(info.value)


@pytest.mark.unit
def test_shared_options_equal_to_the_run_default_are_dropped():
    a = StudySpec(models=["zoo:alexnet"], powers=[49], base={"objectives": "efficiency, throughput,area",
                                                             "fixes": "none", "dup": "searched", "corner": 0.2,
                                                             "corner_objective": "box"})
    b = StudySpec(models=["zoo:alexnet"], powers=[49])
    assert a.to_dict() == b.to_dict()
    assert StudySpec.from_dict(json.loads(json.dumps(a.to_dict()))).to_dict() == a.to_dict()
    # the run's population default depends on the objectives (64, or 256 for efficiency alone,
    # which a varied objectives option can give some cells): a population given stays
    c = StudySpec(models=["zoo:alexnet"], powers=[49], base={"population": 64})
    assert c.to_dict() != b.to_dict() and c.to_dict()["base"]["population"] == 64


@pytest.mark.unit
def test_corner_objective_is_a_study_option_and_an_axis():
    """What the corner phase climbs reaches every cell: shared (--corner-objective) or varied."""
    from evo_pimsyn.cli import build_parser
    from evo_pimsyn.commands.study import spec_from_args

    spec = StudySpec(models=["zoo:alexnet"], powers=[49], vary=[("corner_objective", ["box", "first"])])
    cells = spec.cells()
    assert [c.options.corner_objective for c in cells] == ["box", "first"]
    assert [c.id for c in cells] == ["alexnet-49W-seed0", "alexnet-49W-corner_objective=first-seed0"]
    shared = spec_from_args(build_parser().parse_args(["study", "--models", "zoo:alexnet", "--powers", "49",
                                                       "--corner-objective", "first"]))
    assert shared.base["corner_objective"] == "first"
    assert {c.options.corner_objective for c in shared.cells()} == {"first"}
    assert StudySpec.from_dict(json.loads(json.dumps(shared.to_dict()))).to_dict() == shared.to_dict()


@pytest.mark.unit
def test_pimsyn_ablations_preset():
    from evo_pimsyn.cli import build_parser
    from evo_pimsyn.commands.study import spec_from_args

    spec = spec_from_args(build_parser().parse_args(["study", "--preset", "pimsyn-ablations", "--time-budget", "2m"]))
    cells = spec.cells()
    assert len(cells) == 5 * 5 * 2  # networks x (baseline + 4 reduced spaces) x seeds
    assert {c.options.objectives for c in cells} == {"efficiency"} and {c.power_w for c in cells} == {49.0}
    assert {c.options.time_budget_s for c in cells} == {120.0} and {c.options.generations for c in cells} == {None}
    assert {c.model for c in cells} == {f"pimsyn:{n}" for n in ("alexnet", "vgg13", "vgg16", "resnet18", "msra_A")}
    ids = {c.id for c in cells}
    assert {"resnet18-49W-seed1", "resnet18-49W-dup=proportional-seed1", "resnet18-49W-dup=one-seed1",
            "resnet18-49W-macro_setting=unified-seed1", "resnet18-49W-macro_reuse=off-seed1"} <= ids
    # every paper comparison is one varied value of the preset
    preset = PRESETS["pimsyn-ablations"]
    assert all(c.variant in dict(preset.vary)[c.axis] for c in PAPER)
    one = spec_from_args(build_parser().parse_args(["study", "--preset", "pimsyn-ablations", "--models",
                                                    "pimsyn:alexnet", "--seeds", "3", "--generations", "5"]))
    assert len(one.cells()) == 5 and one.base["generations"] == 5 and one.seeds == [3]


@pytest.mark.e2e
def test_cli_refusals_are_one_line(tmp_path, capsys):
    from evo_pimsyn.cli import main

    for argv, match in [
        (["study", "--models", "zoo:alexnet"], "a study needs --powers"),
        (["study", "--models", "zoo:alexnet", "--powers", "49"], "give the study a --name"),
        (["study", "--resume", str(tmp_path), "--seeds", "1"], "drop --seeds"),
        (["study", "--resume", str(tmp_path)], "not a study folder"),
        (["study", "--name", "x", "--models", "zoo:alexnet", "--powers", "49,abc"], "comma list of floats"),
        (["study", "--out", str(tmp_path / "s"), "--models", "pimsyn:alexnet", "--powers", "49",
          "--vary", "dup"], "OPTION=V1,V2"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and match in err, (argv, err)


# ---- running: determinism, kill, Ctrl-C, resume --------------------------------------------
@pytest.fixture(scope="module")
def toy_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "ref"
    res = h.run(toy_study_cmd(out, workers=1))
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.e2e
def test_toy_study_outputs(toy_reference):
    frame = pd.read_csv(toy_reference / "study.csv")
    assert list(frame["cell"]) == ["toy_0-49W-seed0", "toy_0-49W-seed1", "toy_0-49W-seed2",
                                   "toy_0-49W-population=12-seed0", "toy_0-49W-population=12-seed1",
                                   "toy_0-49W-population=12-seed2"]
    assert (frame["status"] == "finished").all() and (frame["generations"] == TOY_GENS).all()
    assert list(frame["population"]) == [8, 8, 8, 12, 12, 12]
    # one model and power: one reference for all, and each hypervolume is that of its front
    assert frame["hv_reference"].nunique() == 1 and frame["hv_objectives"].iloc[0] == "efficiency+throughput+area"
    from evo_pimsyn.analysis import hypervolume, load_run, ranked_front

    ref = [float(v) for v in frame["hv_reference"].iloc[0].split(";")]
    for _, row in frame.iterrows():
        front = ranked_front(load_run(toy_reference / row["run_dir"]))
        assert row["hypervolume"] == pytest.approx(hypervolume(front, ["efficiency", "throughput", "area"], ref))
        assert row["best_efficiency_gops_w"] == pytest.approx(front["efficiency_gops_w"].max())
        assert row["best_area_mm2"] == pytest.approx(front["area_mm2"].min())
    record = json.loads((toy_reference / "study.json").read_text())
    assert sorted(record["done"]) == sorted(frame["cell"])
    assert (toy_reference / "report.html").exists()


@pytest.mark.e2e
def test_workers_do_not_change_the_study(toy_reference, tmp_path):
    out = tmp_path / "w2"
    res = h.run(toy_study_cmd(out, workers=2))
    assert res.returncode == 0, res.stderr
    assert csv_without_wall(out / "study.csv") == csv_without_wall(toy_reference / "study.csv")
    for cell in (toy_reference / "runs").iterdir():
        h.assert_same_results(cell, out / "runs" / cell.name)


@pytest.mark.e2e
def test_killed_study_resumes_to_the_same_study_csv(toy_reference, tmp_path):
    rnd = random.Random(20)
    for trial in range(2):
        out = tmp_path / f"trial{trial}"
        proc = h.popen(toy_study_cmd(out, workers=2))
        h.wait_for(out / "study.json", proc)
        time.sleep(rnd.uniform(1.0, 4.0))  # some cells done, some in progress (cell start-up takes ~1 s)
        assert h.kill(proc), "the study ended before the kill"
        # the scheduler's death stops its cells (they checkpoint on the SIGTERM it leaves them)
        for lock in (out / "locks").glob("*.lock"):
            if lock.name != "study.lock":
                _wait_unlocked(lock)
        res = h.run(toy_study_cmd(out, workers=1 + trial))
        assert res.returncode == 0, res.stderr
        assert csv_without_wall(out / "study.csv") == csv_without_wall(toy_reference / "study.csv")


def _wait_unlocked(lock: Path, timeout: float = 60) -> None:
    import fcntl

    end = time.monotonic() + timeout
    with open(lock) as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.monotonic() > end:
                    raise TimeoutError(f"{lock} still held") from None
                time.sleep(0.05)


@pytest.mark.e2e
def test_ctrl_c_checkpoints_cells_and_resume_finishes(tmp_path):
    out = tmp_path / "ctrlc"
    # 0.1 s per batch: the first cells are mid-run for seconds when the Ctrl-C comes
    proc = h.popen(toy_study_cmd(out, workers=2, model="toy:0.1"))
    h.wait_for_generation(out / "runs" / "toy_0-49W-seed0", 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert f"evo-pimsyn study --resume {out}" in err
    logs = "".join(p.read_text() for p in (out / "logs").glob("*.log"))
    assert "checkpoint at generation" in logs and "Traceback" not in logs
    res = h.run(h.cli_cmd("study", "--resume", str(out), "--quiet"))
    assert res.returncode == 0, res.stderr
    frame = pd.read_csv(out / "study.csv")
    assert (frame["status"] == "finished").all() and (frame["generations"] == TOY_GENS).all()


@pytest.mark.e2e
def test_changed_study_or_cell_options_are_refused(toy_reference, tmp_path):
    import shutil

    spec = StudySpec(models=["toy:0.02"], powers=[49], seeds=[0, 1, 2], vary=[("population", ["8", "16"])],
                     base={"problem": "toy", "generations": TOY_GENS})
    with pytest.raises(InputError, match="holds another study .*differs in vary"):
        run_study(spec, toy_reference, quiet=True)
    # a cell folder that holds a run of other options (here: another seed's run copied in)
    out = tmp_path / "copied"
    shutil.copytree(toy_reference, out)
    shutil.rmtree(out / "runs" / "toy_0-49W-seed1")
    shutil.copytree(out / "runs" / "toy_0-49W-seed0", out / "runs" / "toy_0-49W-seed1")
    record = json.loads((out / "study.json").read_text())
    same = StudySpec.from_dict(record["spec"])
    with pytest.raises(InputError, match=r"cell toy_0-49W-seed1: .* holds a run made with other options"):
        run_study(same, out, quiet=True)


@pytest.mark.e2e
def test_one_scheduler_per_study_folder(toy_reference):
    from evo_pimsyn.study.journal import read_study, study_lock

    spec = StudySpec.from_dict(read_study(toy_reference)["spec"])
    with study_lock(toy_reference):
        with pytest.raises(InputError, match="another evo-pimsyn study process is running this study"):
            run_study(spec, toy_reference, quiet=True)


@pytest.mark.e2e
def test_finished_study_rerun_runs_nothing(toy_reference):
    before = {p: p.stat().st_mtime_ns for p in (toy_reference / "runs").rglob("pareto.csv")}
    res = h.run(toy_study_cmd(toy_reference, workers=2))
    assert res.returncode == 0 and "6 cell(s), 6 done, 0 to run" in res.stderr
    assert before == {p: p.stat().st_mtime_ns for p in (toy_reference / "runs").rglob("pareto.csv")}


@pytest.mark.e2e
def test_dask_backend_gives_the_same_study(toy_reference, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask"
    res = h.run(toy_study_cmd(out, workers=2, backend="dask"))
    assert res.returncode == 0, res.stderr
    assert csv_without_wall(out / "study.csv") == csv_without_wall(toy_reference / "study.csv")


# ---- on a real network -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def alexnet_study(tmp_path_factory):
    """PIMSYN's AlexNet with xbar 512 and 4-bit cells pinned, DAC 1 or 4 (4 has no ADC:
    no legal design) and dup searched or one."""
    from evo_pimsyn.cli import main

    out = tmp_path_factory.mktemp("study") / "alex"
    rc = main(["study", "--out", str(out), "--models", "pimsyn:alexnet", "--powers", "49", "--seeds", "0",
               "--pin", "xbar_size=512,rram_res=4", "--vary", "dac_res=1,4", "--vary", "dup=searched,one",
               "--generations", "2", "--population", "8", "--objectives", "efficiency,throughput", "--workers", "2",
               "--quiet"])
    assert rc == 0
    return out


@pytest.mark.e2e
def test_real_study_csv_report_and_no_legal_design(alexnet_study):
    frame = pd.read_csv(alexnet_study / "study.csv", keep_default_na=False, na_values=[""])
    assert list(frame["cell"]) == ["alexnet-49W-seed0", "alexnet-49W-dup=one-seed0", "alexnet-49W-dac_res=4-seed0",
                                   "alexnet-49W-dac_res=4-dup=one-seed0"]
    refused = frame[frame["dac_res"] == 4]
    assert (refused["status"] == "no legal design").all()
    assert refused["reason"].str.contains("ADC resolutions these give \\(16 bits\\)").all()
    assert refused["run_dir"].map(lambda d: not (alexnet_study / d).exists()).all()
    ran = frame[frame["dac_res"] == 1]
    assert set(ran["status"]) <= {"finished", "infeasible"}
    assert (ran["pins"] == "xbar_size=512,rram_res=4,dac_res=1").all() and list(ran["dup"]) == ["searched", "one"]
    assert (ran.loc[ran["status"] == "finished", "design_xbar_size"] == 512).all()
    html = (alexnet_study / "report.html").read_text()
    assert html.count("<img") == 3  # efficiency against power, and one bar chart per varied option
    assert "Varying dac_res" in html and "Varying dup" in html


@pytest.mark.e2e
def test_load_study_joins_each_cells_run(alexnet_study):
    from evo_pimsyn.analysis import RunData, load_study

    cells = load_study(alexnet_study)
    assert len(cells) == 4 and cells.attrs["study"]["spec"]["vary"][0][0] == "dac_res"
    ran = cells[cells["status"] != "no legal design"]
    assert all(isinstance(r, RunData) for r in ran["run"]) and cells.loc[cells["dac_res"] == 4, "run"].isna().all()
    assert (ran["run_status"] == "finished").all() and (ran["last_generation"] == 2).all()
    for _, row in ran.iterrows():
        assert row["run"].run["pins"] == {"xbar_size": 512, "rram_res": 4, "dac_res": 1}
        assert row["config_hash"] == row["run"].run["config_hash"]
    with pytest.raises(InputError, match="not a study folder"):
        load_study(alexnet_study / "runs")


@pytest.mark.unit
def test_ablation_table_gains_and_missing_networks():
    from evo_pimsyn.analysis.study import ablation_table

    rows = []
    for model, base, prop, unified_status in (("alexnet", 120.0, 100.0, "finished"), ("vgg16", 90.0, 60.0, "infeasible")):
        for seed, jitter in ((0, 1.0), (1, -1.0)):
            for dup, macro, value, status in (("searched", "specified", base + jitter, "finished"),
                                              ("proportional", "specified", prop + jitter, "finished"),
                                              ("one", "specified", base / 20, "finished"),
                                              ("searched", "unified", np.nan if unified_status != "finished"
                                               else base / 1.1, unified_status)):
                rows.append({"model": model, "power_w": 49.0, "seed": seed, "dup": dup, "macro_setting": macro,
                             "status": status, "best_efficiency_gops_w": value, "design_throughput_gops": value * 3})
    table = ablation_table(pd.DataFrame(rows), PAPER, {"dup": ["searched", "proportional", "one"],
                                                       "macro_setting": ["specified", "unified"]})
    eff = table[table["metric"] == "efficiency"].set_index("ablation")
    assert eff.loc["searched duplication vs W_O*H_O-proportional", "alexnet"] == "+20.0 %"
    assert eff.loc["searched duplication vs W_O*H_O-proportional", "vgg16"] == "+50.0 %"
    assert eff.loc["searched duplication vs W_O*H_O-proportional", "measured mean"] == "+35.0 %"
    assert eff.loc["searched duplication vs W_O*H_O-proportional", "paper"] == "+19 %"
    assert eff.loc["searched duplication vs none", "alexnet"] == "x20.0"
    assert eff.loc["specified vs unified macros", "alexnet"] == "+10.0 %"
    assert eff.loc["specified vs unified macros", "vgg16"] == "no feasible design"
    assert "macro sharing on vs off" not in eff.index  # not varied in this frame
