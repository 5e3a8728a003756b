"""``evo-pimsyn sample``: random legal designs in the reference design schema."""

from __future__ import annotations

import json

import pytest

from evo_pimsyn.cli import main
from fitness.design import DesignBatch, legality_mask
from fitness.hardware import load_hardware
from fitness.pimcomp import load_pimcomp

pytestmark = pytest.mark.e2e

SCHEMA = ("id", "network", "total_power_W", "rram_ratio", "rram_res", "xbar_size", "dac_res", "macro_setting", "dup",
          "macro_num", "macro_share")


@pytest.fixture(scope="module")
def alexnet_path(reference_dir):
    return str(reference_dir / "networks" / "alexnet.json")


def _sample(capsys, *argv):
    rc = main(["sample", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_writes_legal_designs_to_file(tmp_path, capsys, alexnet_path):
    out = tmp_path / "designs.jsonl"
    rc, stdout, _ = _sample(capsys, "--model", alexnet_path, "--power", "49", "-n", "12", "--seed", "3", "-o", str(out))
    assert rc == 0 and stdout == ""
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 12
    for i, rec in enumerate(recs):
        assert tuple(rec) == SCHEMA
        assert rec["id"] == f"sample-3-{i}" and rec["network"] == alexnet_path
        assert rec["total_power_W"] == 49 and rec["macro_setting"] == "specified"
        assert all(s is None or isinstance(s, int) for s in rec["macro_share"])
    net = load_pimcomp(alexnet_path)
    ok, why = legality_mask(net, load_hardware(), DesignBatch.from_records(net, recs))
    assert ok.all(), list(why)
    assert len({json.dumps(r["dup"]) for r in recs}) > 6


def test_stdout_and_determinism(capsys, alexnet_path):
    a = _sample(capsys, "--model", alexnet_path, "--power", "49", "-n", "4", "--seed", "5")
    b = _sample(capsys, "--model", alexnet_path, "--power", "49", "-n", "4", "--seed", "5")
    c = _sample(capsys, "--model", alexnet_path, "--power", "49", "-n", "4", "--seed", "6")
    assert a[0] == 0 and a[1] == b[1] and a[1] != c[1]
    assert len(a[1].splitlines()) == 4
    assert _sample(capsys, "--model", alexnet_path, "--power", "49", "-n", "0")[1] == ""


def test_unified_without_reuse(capsys, alexnet_path):
    rc, out, _ = _sample(capsys, "--model", alexnet_path, "--power", "20", "-n", "8", "--macro-setting", "unified",
                         "--no-macro-reuse")
    recs = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and len(recs) == 8
    assert all(r["macro_setting"] == "unified" and r["macro_share"] == [None] * 8 for r in recs)
    net = load_pimcomp(alexnet_path)
    ok, why = legality_mask(net, load_hardware(), DesignBatch.from_records(net, recs))
    assert ok.all(), list(why)


def test_power_too_small(capsys, reference_dir):
    rc, out, err = _sample(capsys, "--model", str(reference_dir / "networks" / "vgg16.json"), "--power", "20")
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "needs at least 25.363 W" in err


@pytest.mark.parametrize("argv, match", [
    (["--power", "49", "-n", "-1"], "-n must be >= 0"),
    (["--power", "-3"], "positive"),
    (["--power", "49", "--seed", "-2"], "--seed"),
])
def test_bad_arguments(capsys, alexnet_path, argv, match):
    rc, _, err = _sample(capsys, "--model", alexnet_path, *argv)
    assert rc == 2 and match in err


def test_missing_model(capsys, tmp_path):
    rc, _, err = _sample(capsys, "--model", str(tmp_path / "nope.json"), "--power", "49")
    assert rc == 2 and "nope.json" in err
