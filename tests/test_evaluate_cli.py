import json

import pandas as pd
import pytest

from evo_pimsyn.cli import main

pytestmark = pytest.mark.e2e


@pytest.fixture()
def alexnet_points(reference_dir):
    lines = [json.loads(l) for l in (reference_dir / "points.jsonl").read_text().splitlines()]
    return [p for p in lines if p["network"] == "alexnet"]


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def test_evaluate_keeps_order_copies_fields_and_flags_bad_rows(tmp_path, reference_dir, alexnet_points):
    ok = next(p for p in alexnet_points if p["pimsyn_status"] == "ok")
    infeasible = next(p for p in alexnet_points if p["pimsyn_status"] == "infeasible")
    crash = next(p for p in alexnet_points if p["pimsyn_status"] == "crash")
    no_power = {k: v for k, v in ok.items() if k != "total_power_W"}
    short_dup = dict(ok, dup=ok["dup"][:-1], id="short")
    designs = tmp_path / "d.jsonl"
    _write(designs, [infeasible, "{not json", ok, crash, short_dup, no_power])
    out = tmp_path / "out.csv"
    rc = main(["evaluate", "--model", str(reference_dir / "networks" / "alexnet.json"), "--designs", str(designs),
               "--fidelity", "cycle", "-o", str(out), "--power", "49", "--power-check", "pimsyn"])
    assert rc == 0
    df = pd.read_csv(out)
    assert df["row"].tolist() == list(range(6))
    assert df.loc[0, "id"] == infeasible["id"] and not df.loc[0, "feasible"]
    assert df.loc[0, "reason"] == infeasible["pimsyn_reason"]
    assert "not valid JSON" in df.loc[1, "reason"] and "d.jsonl:2" in df.loc[1, "reason"]
    assert df.loc[2, "feasible"]
    assert df.loc[2, "efficiency_gops_w"] == pytest.approx(ok["efficiency_gops_w"], rel=1e-9)
    assert df.loc[2, "input_efficiency_gops_w"] == pytest.approx(ok["efficiency_gops_w"])
    assert not df.loc[3, "feasible"] and isinstance(df.loc[3, "reason"], str) and df.loc[3, "reason"] != "ok"
    assert "dup has 4 entries, expected 5" in df.loc[4, "reason"]
    # --power fills in a missing total_power_W.
    assert df.loc[5, "feasible"] == (ok["total_power_W"] == 49)
    assert set(df["fidelity"]) == {"cycle"}


def test_line_power_overrides_flag(tmp_path, reference_dir, alexnet_points):
    ok = next(p for p in alexnet_points if p["pimsyn_status"] == "ok" and p["total_power_W"] == 49)
    designs = tmp_path / "d.jsonl"
    _write(designs, [ok])
    out = tmp_path / "o.csv"
    assert main(["evaluate", "--model", str(reference_dir / "networks" / "alexnet.json"), "--designs", str(designs),
                 "--power", "20", "-o", str(out)]) == 0
    assert pd.read_csv(out).loc[0, "efficiency_gops_w"] == pytest.approx(ok["efficiency_gops_w"], rel=1e-9)


@pytest.mark.parametrize("content, message", [(None, "no such file"), ("", "no designs in the file")])
def test_bad_design_files(tmp_path, reference_dir, capsys, content, message):
    designs = tmp_path / "d.jsonl"
    if content is not None:
        designs.write_text(content)
    rc = main(["evaluate", "--model", str(reference_dir / "networks" / "alexnet.json"), "--designs", str(designs)])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
