"""``evo-pimsyn network``: the layer table, its JSON, and one-line errors for bad models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from evo_pimsyn.cli import main
from evo_pimsyn.models import load_model
from evo_pimsyn.zoo import build_zoo_model
from fitness.network import Network
from tests.onnx_builders import G, small_resnet

pytestmark = pytest.mark.e2e

LAYER_KEYS = {"name", "kind", "in_channels", "out_channels", "kernel", "stride", "pads", "dilation", "groups", "in_hw", "out_hw", "providers"}


def run_cli(capsys, *argv):
    code = main(["network", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_and_totals(capsys):
    code, out, err = run_cli(capsys, "zoo:resnet18")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "network resnet18: input 3x224x224, 31 layers (20 conv, 2 pool, 8 eltwise, 1 fc)"
    assert lines[1].split()[:6] == ["#", "name", "kind", "in", "CxHxW", "out"]
    first = lines[3].split()
    assert first[:7] == ["0", "/conv1/Conv_output_0", "conv", "3x224x224", "64x112x112", "7x7", "2x2"]
    assert first[-3:] == ["118,013,952", "9,408", "8"]  # MACs, weights, crossbars (147 rows x 64 cols, 8 slices)
    assert "total: 1,814,073,344 MACs (3.628 GOP), 11,678,912 weights" in out


@pytest.mark.parametrize("xbar, res", [(128, 1), (256, 2), (512, 4)])
def test_crossbar_column_follows_size_and_resolution(capsys, xbar, res):
    code, out, _ = run_cli(capsys, "zoo:alexnet", "--xbar-size", str(xbar), "--rram-res", str(res))
    net = load_model("zoo:alexnet")
    slices = -(-16 // res)
    total = sum(l.crossbar_set(xbar, slices) for l in net.layers)
    assert code == 0 and f"{total:,} crossbars of {xbar}x{xbar}" in out


def test_output_json_schema_and_round_trip(capsys, tmp_path):
    path = tmp_path / "layers.json"
    code, _, _ = run_cli(capsys, "zoo:alexnet", "-o", str(path))
    assert code == 0
    data = json.loads(path.read_text())
    assert all(LAYER_KEYS <= set(layer) for layer in data["layers"])
    fc = data["layers"][-1]
    assert (fc["kind"], fc["kernel"], fc["stride"], fc["in_hw"], fc["out_hw"], fc["in_channels"]) == ("fc", [1, 1], [1, 1], [1, 1], [1, 1], 4096)
    assert data["layers"][1]["providers"] == [data["layers"][0]["name"]]
    assert Network.from_dict(data) == load_model("zoo:alexnet")
    code, out, _ = run_cli(capsys, str(path))  # the written table is itself a MODEL
    assert code == 0 and out.startswith("network alexnet: input 3x224x224, 12 layers")


def test_save_onnx_writes_the_zoo_model(capsys, tmp_path):
    path = tmp_path / "x.onnx"
    code, _, _ = run_cli(capsys, "zoo:squeezenet1_1", "--save-onnx", str(path))
    assert code == 0
    saved = onnx.load(str(path))
    onnx.checker.check_model(saved, full_check=True)
    assert saved.SerializeToString() == build_zoo_model("squeezenet1_1").SerializeToString()
    _, from_zoo, _ = run_cli(capsys, "zoo:squeezenet1_1")
    _, from_file, _ = run_cli(capsys, str(path))
    assert from_file.splitlines()[1:] == from_zoo.splitlines()[1:]


def test_pimcomp_json_model(capsys, reference_dir):
    code, out, _ = run_cli(capsys, str(reference_dir / "networks" / "vgg16.json"))
    assert code == 0 and "21 layers (13 conv, 5 pool, 3 fc)" in out


# ---- bad input: one line on stderr, exit 2, no traceback ---------------------------------------

def _write_model(path, model):
    path.write_bytes(model.SerializeToString())
    return path


def _bad_files(tmp_path):
    lenet = build_zoo_model("lenet5").SerializeToString()
    files = {}
    files["empty"] = (tmp_path / "empty.onnx", "empty file (0 bytes)")
    files["empty"][0].write_bytes(b"")
    files["text"] = (tmp_path / "notes.onnx", "is a text file, not a binary ONNX model")
    files["text"][0].write_text("This is not a model.\nJust some notes.\n")
    files["truncated"] = (tmp_path / "cut.onnx", "not a valid ONNX protobuf (truncated or corrupt file)")
    files["truncated"][0].write_bytes(lenet[: len(lenet) // 2])
    files["random"] = (tmp_path / "noise.onnx", "not a valid ONNX protobuf")
    files["random"][0].write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    g = G(17)
    x = g.input("x", [1, 3, 8, 8])
    g.output(g.node("Resize", [g.node("Conv", [x, g.weight("w", [2, 3, 1, 1])], kernel_shape=[1, 1]), "",
                               g.const(np.array([1, 1, 2, 2], np.float32))], name="up"), [1, 2, 16, 16])
    files["unsupported"] = (_write_model(tmp_path / "resize.onnx", g.model()), "node 'up' (Resize): op 'Resize' is not supported; supported ops: ")
    g = G(17)
    g.output(g.node("MaxPool", [g.input("x", [1, 3, 8, 8])], kernel_shape=[2, 2]), [1, 3, 7, 7])
    files["noconv"] = (_write_model(tmp_path / "pool.onnx", g.model()), "no conv or fc layer")
    for label, dim in (("zero", 0), ("negative", -4)):
        m = small_resnet(G(17))
        m.graph.input[0].type.tensor_type.shape.dim[1].dim_value = dim
        files[label] = (_write_model(tmp_path / f"{label}.onnx", m), f"zero or negative dimension {dim} at axis 1")
    files["missing"] = (tmp_path / "nope.onnx", "nope.onnx: no such file")
    files["badjson"] = (tmp_path / "net.json", "not valid JSON")
    files["badjson"][0].write_text("{ layers: ")
    files["dir"] = (tmp_path, "is a directory")
    return files


BAD = ["empty", "text", "truncated", "random", "unsupported", "noconv", "zero", "negative", "missing", "badjson", "dir"]


@pytest.mark.parametrize("case", BAD)
def test_bad_inputs_one_line_exit_2(capsys, tmp_path, case):
    path, expected = _bad_files(tmp_path)[case]
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"evo-pimsyn: error: {path}") and expected in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("case", ["text", "truncated", "unsupported", "missing"])
def test_bad_inputs_in_a_real_process(tmp_path, case):
    path, expected = _bad_files(tmp_path)[case]
    proc = subprocess.run([sys.executable, "-m", "evo_pimsyn", "network", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr and "Traceback" not in proc.stderr


def test_warning_is_one_line(tmp_path):
    path = _write_model(tmp_path / "dyn.onnx", small_resnet(G(17), batch="N"))
    proc = subprocess.run([sys.executable, "-m", "evo_pimsyn", "network", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stderr == f"evo-pimsyn: warning: {path}: input 'input.1': dynamic batch dimension 'N' set to 1\n"


def test_save_onnx_needs_an_onnx_model(capsys, reference_dir, tmp_path):
    code, _, err = run_cli(capsys, str(reference_dir / "networks" / "alexnet.json"), "--save-onnx", str(tmp_path / "a.onnx"))
    assert code == 2 and "has no ONNX graph" in err and err.count("\n") == 1


@pytest.mark.parametrize("name", ["alexnet", "vgg13", "vgg16", "resnet18", "msra_A"])
def test_pimsyn_networks_ship_with_the_package(capsys, reference_dir, name):
    """``pimsyn:NAME`` is PIMSYN's own network JSON, the same layer table as the reference copy."""
    shipped, reference = load_model(f"pimsyn:{name}"), load_model(str(reference_dir / "networks" / f"{name}.json"))
    assert shipped.to_dict() == reference.to_dict()
    code, out, err = run_cli(capsys, f"pimsyn:{name}")
    assert code == 0 and out.startswith(f"network {name}:")


def test_unknown_pimsyn_network_is_one_line(capsys):
    code, out, err = run_cli(capsys, "pimsyn:lenet")
    assert code == 2 and err.strip().count("\n") == 0 and "choose from alexnet, vgg13, vgg16, resnet18, msra_A" in err
