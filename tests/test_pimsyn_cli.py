"""``evo-pimsyn pimsyn``: PIMSYN's README commands, its flags and output formats; and the
PIMCOMP network writer (``fitness.pimcomp_export``) round-tripped through the importer."""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
from pathlib import Path

import onnx
import pytest

from evo_pimsyn import zoo
from evo_pimsyn.cli import main
from evo_pimsyn.models import load_model
from fitness.evaluate import evaluate
from fitness.pimcomp import load_pimcomp, network_from_pimcomp
from fitness.pimcomp_export import network_to_pimcomp
from tests.test_export_cli import assert_pimsyn_keys

pytestmark = pytest.mark.e2e

# PIMSYN's README, verbatim; only the program name changes
README_ONNX = ("python main.py --onnx_path ./model/alexnet.onnx --network ./network/alexnet.json --total_power 49 "
               "--macro_setting specified --config ./config.json --macro_reuse True --output ./output/alexnet.json "
               "--pimcomp ./output/alexnet_pimcomp.json")
README_JSON = README_ONNX.replace("--onnx_path ./model/alexnet.onnx ", "")
FAST = ["--generations", "2", "--population", "8", "--quiet"]  # evo-pimsyn's additions, to keep CI short


def pimsyn_argv(readme: str) -> list[str]:
    words = shlex.split(readme)
    assert words[:2] == ["python", "main.py"]
    return ["pimsyn", *words[2:]]


@pytest.fixture
def workdir(tmp_path, monkeypatch, reference_dir) -> Path:
    """PIMSYN's folder layout: config.json, network/, model/ (output/ is created)."""
    (tmp_path / "network").mkdir()
    (tmp_path / "model").mkdir()
    shutil.copy(reference_dir / "pimsyn_config.json", tmp_path / "config.json")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _field_equal(a, b, skip=("fused",)) -> list:
    return [(la.name, f.name) for la, lb in zip(a.layers, b.layers) for f in dataclasses.fields(la)
            if f.name not in skip and getattr(la, f.name) != getattr(lb, f.name)]


def test_readme_command_from_network_json(workdir, reference_dir):
    shutil.copy(reference_dir / "networks" / "alexnet.json", workdir / "network" / "alexnet.json")
    assert main(pimsyn_argv(README_JSON) + FAST) == 0
    arch = json.loads((workdir / "output" / "alexnet.json").read_text())
    ref = json.loads((reference_dir / "outputs" / "alexnet.json").read_text())
    assert list(arch) == list(ref)  # same layer names, in order: the network is PIMSYN's own
    assert_pimsyn_keys(arch, ref, extra=set())
    assert arch["power_efficiency"] > 0
    pimcomp = json.loads((workdir / "output" / "alexnet_pimcomp.json").read_text())
    assert list(pimcomp) == list(json.loads((reference_dir / "outputs" / "alexnet_pimcomp.json").read_text()))
    assert pimcomp["CrossbarH"] == arch["xbar_size"] and pimcomp["CellPrecision"] == arch["rram_res"]


def test_readme_command_from_onnx(workdir, reference_dir):
    onnx.save(zoo.build_zoo_model("alexnet"), workdir / "model" / "alexnet.onnx")
    assert main(pimsyn_argv(README_ONNX) + FAST) == 0
    # the converted network, in PIMCOMP's format, reads back as the ONNX model's layer table
    written = json.loads((workdir / "network" / "alexnet.json").read_text())
    ref_nodes = json.loads((reference_dir / "networks" / "alexnet.json").read_text())
    ref_keys = {}
    for node in ref_nodes:
        ref_keys.setdefault(node["operation"], set()).update(node)
    for node in written:
        if node["operation"] in ref_keys:
            assert set(node) <= ref_keys[node["operation"]], node["operation"]
    assert _field_equal(network_from_pimcomp(written), load_model("model/alexnet.onnx")) == []
    arch = json.loads((workdir / "output" / "alexnet.json").read_text())
    assert_pimsyn_keys(arch, json.loads((reference_dir / "outputs" / "alexnet.json").read_text()))
    assert (workdir / "output" / "alexnet_pimcomp.json").exists()


def test_macro_reuse_false_means_false_and_unified(workdir, reference_dir):
    shutil.copy(reference_dir / "networks" / "alexnet.json", workdir / "net.json")
    argv = ["pimsyn", "--network", "net.json", "--total_power", "49", "--macro_setting", "unified",
            "--macro_reuse", "False", "--output", "o/a.json", "--pimcomp", "o/p.json", "--run-dir", "kept", *FAST]
    assert main(argv) == 0
    run = json.loads((workdir / "kept" / "run.json").read_text())
    assert run["macro_reuse"] is False and run["objectives"] == ["efficiency"] and run["macro_setting"] == "unified"
    arch = json.loads((workdir / "o" / "a.json").read_text())
    layers = [v for v in arch.values() if isinstance(v, dict) and "macro_sharing" in v]
    assert all(v["macro_sharing"] == "None" for v in layers)
    assert len({v["macro_size"] for v in layers}) == 1  # unified: one macro size
    assert (workdir / "o" / "p.json").exists()


def test_pimsyn_bad_input(workdir, capsys):
    assert main(["pimsyn", "--total_power", "49"]) == 2
    err = capsys.readouterr().err
    assert "give --network" in err and err.count("\n") == 1
    assert main(["pimsyn", "--network", "missing.json", "--total_power", "49", *FAST]) == 2
    assert "missing.json: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["pimsyn", "--network", "n.json", "--total_power", "49", "--macro_reuse", "maybe"])
    assert exc.value.code == 2
    assert "must be True or False" in capsys.readouterr().err


# ---- network_to_pimcomp ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["alexnet", "resnet18", "vgg13", "vgg16", "msra_A"])
def test_pimcomp_round_trip_reference_networks(reference_dir, name):
    net = load_pimcomp(reference_dir / "networks" / f"{name}.json")
    nodes = json.loads(json.dumps(network_to_pimcomp(net)))
    back = network_from_pimcomp(nodes, name=net.name)
    assert back == net  # fused (with_act relu) included
    assert len({n["name"] for n in nodes}) == len(nodes)
    assert [n["index"] for n in nodes] == list(range(len(nodes)))


@pytest.mark.parametrize("name", zoo.ZOO_NAMES)
def test_pimcomp_round_trip_zoo(name):
    net = load_model(f"zoo:{name}")
    back = network_from_pimcomp(network_to_pimcomp(net), name=net.name)
    assert back.input_shape == net.input_shape and len(back.layers) == len(net.layers)
    assert _field_equal(back, net) == []


@pytest.mark.filterwarnings("ignore::UserWarning")  # the frontend's notes on dynamic batch sizes
def test_pimcomp_round_trip_public_onnx(reference_dir):
    for path in sorted((reference_dir / "onnx_public").glob("*.onnx")):
        try:
            net = load_model(str(path))
        except Exception:  # noqa: BLE001 - a file the frontend refuses is not this test's concern
            continue
        assert _field_equal(network_from_pimcomp(network_to_pimcomp(net), name=net.name), net) == [], path.name


def test_pimcomp_round_trip_evaluates_identically(reference_dir):
    net = load_model("zoo:resnet18")
    back = network_from_pimcomp(network_to_pimcomp(net), name=net.name)
    line = next(json.loads(l) for l in (reference_dir / "points.jsonl").read_text().splitlines()
                if '"resnet18"' in l)
    a, b = evaluate(net, _hw(), [line]), evaluate(back, _hw(), [line])
    assert a.drop(columns="id").equals(b.drop(columns="id"))


def _hw():
    from fitness.hardware import load_hardware

    return load_hardware(None)
