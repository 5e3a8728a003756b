"""``evo-pimsyn export``: the four formats, their keys against PIMSYN's examples, the
design JSON re-evaluated by ``evaluate``, and one-line errors with exit 2."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from evo_pimsyn.analysis import load_run, ranked_front
from evo_pimsyn.cli import main
from tests.test_analysis import make_run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory)


def assert_pimsyn_keys(arch: dict, ref: dict, extra: set = frozenset({"RELU"})) -> None:
    """Same global keys as PIMSYN's example; the same layers in order (by position: zoo
    and PIMSYN name AlexNet's last FC differently) with the same per-layer keys, apart
    from ``extra`` (our ONNX frontend charges the ReLU that PIMSYN's JSON has fused)."""
    assert {k for k, v in arch.items() if not isinstance(v, dict)} == \
        {k for k, v in ref.items() if not isinstance(v, dict)}
    ours = [v for v in arch.values() if isinstance(v, dict)]
    theirs = [v for v in ref.values() if isinstance(v, dict)]
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert set(b) <= set(a) <= set(b) | set(extra), k


def _export(run_dir, capsys, *args) -> str:
    assert main(["export", str(run_dir), *args]) == 0
    return capsys.readouterr().out


def test_export_pimsyn_and_pimcomp_match_reference_keys(run_dir, reference_dir, capsys):
    arch = json.loads(_export(run_dir, capsys, "--rank", "1", "--format", "pimsyn"))
    ref = json.loads((reference_dir / "outputs" / "alexnet.json").read_text())
    assert_pimsyn_keys(arch, ref)
    best = ranked_front(load_run(run_dir)).iloc[0]
    assert arch["power_efficiency"] == pytest.approx(best["efficiency_gops_w"], rel=1e-12)
    pimcomp = json.loads(_export(run_dir, capsys, "--format", "pimcomp"))
    assert set(pimcomp) == set(json.loads((reference_dir / "outputs" / "alexnet_pimcomp.json").read_text()))
    assert pimcomp["CrossbarH"] == arch["xbar_size"] and pimcomp["ChipH"] == arch["macro_h"]
    # the engine's own best.json is the same design: rank 1 by efficiency
    assert json.loads((run_dir / "best.json").read_text()) == arch


def test_export_design_is_reevaluable(run_dir, tmp_path, capsys):
    out = tmp_path / "d" / "design.jsonl"
    assert main(["export", str(run_dir), "--rank", "2", "--format", "design", "-o", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["id"].endswith("rank2") and len(rec["dup"]) == 5 and len(rec["macro_num"]) == 8
    csv = tmp_path / "eval.csv"
    assert main(["evaluate", "--model", "zoo:alexnet", "--designs", str(out), "-o", str(csv)]) == 0
    row = pd.read_csv(csv).iloc[0]
    expected = ranked_front(load_run(run_dir)).iloc[1]
    assert bool(row["feasible"])
    for col in ("efficiency_gops_w", "throughput_ips", "area_mm2"):
        assert row[col] == pytest.approx(expected[col], rel=1e-9)


def test_export_schedule_and_by(run_dir, capsys):
    sched = pd.read_csv(io.StringIO(_export(run_dir, capsys, "--format", "schedule", "--by", "area")))
    assert list(sched.columns) == ["layer", "block", "op", "bit", "macros", "start_step", "end_step"]
    assert len(sched) > 0 and (sched["end_step"] >= sched["start_step"]).all()


@pytest.mark.parametrize("args, message", [
    (["--format", "pdf"], "unknown export format 'pdf'"),
    (["--rank", "999"], "rank 999 is out of range"),
    (["--by", "speed"], "unknown objective 'speed'"),
])
def test_export_errors_one_line_exit_2(run_dir, capsys, args, message):
    assert main(["export", str(run_dir), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_export_not_a_run(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "design"]) == 2
    assert "not a run folder" in capsys.readouterr().err
