"""The embedded zoo: real ONNX graphs that pass the checker and match PIMSYN's networks."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest

from evo_pimsyn.models import load_model
from evo_pimsyn.zoo import ZOO_NAMES, build_zoo_model
from evo_pimsyn.zoo_graphs import BUILDERS
from fitness.errors import InputError
from fitness.pimcomp import load_pimcomp
from tests.onnx_builders import network_mvm_table, network_pool_table, reference_mvm_table, reference_pool_table

# MACs of one 224x224 inference (torchvision's published figures; LeNet-5 at 32x32).
EXPECTED_MACS = {
    "lenet5": 416_520,
    "alexnet": 714_188_480,
    "vgg11": 7_609_090_048,
    "vgg13": 11_308_466_176,
    "vgg16": 15_470_264_320,
    "resnet18": 1_814_073_344,
    "resnet34": 3_663_761_408,
    "resnet50": 4_089_184_256,
    "mobilenet_v2": 300_774_272,
    "squeezenet1_1": 349_151_936,
}


@pytest.mark.unit
def test_zoo_names():
    assert set(ZOO_NAMES) == set(EXPECTED_MACS)
    assert tuple(BUILDERS) == ZOO_NAMES  # one graph per name, in the help's order


@pytest.mark.e2e
def test_the_command_line_starts_without_onnx():
    """The commands list the zoo in their help and import onnx only to read a model that
    needs it (about 1 s of every command's start-up, and of every bad-argument answer)."""
    code = ("import sys\nfrom evo_pimsyn.cli import build_parser\nfrom evo_pimsyn.models import load_model\n"
            "build_parser()\nload_model('pimsyn:alexnet')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'onnx', 'ml_dtypes'}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


@pytest.mark.unit
@pytest.mark.parametrize("name", ZOO_NAMES)
def test_zoo_model_is_a_checked_onnx_graph_through_the_frontend(name):
    model = build_zoo_model(name)
    onnx.checker.check_model(model, full_check=True)
    assert model.ByteSize() < 100_000  # weights are shapes only
    assert model.SerializeToString() == build_zoo_model(name).SerializeToString()
    network = load_model(f"zoo:{name}")
    assert network.name == name
    assert network.total_macs == EXPECTED_MACS[name]
    assert network_mvm_table(network) == reference_mvm_table(model)
    assert network_pool_table(network) == reference_pool_table(model)


@pytest.mark.unit
def test_unknown_zoo_name_lists_the_zoo():
    with pytest.raises(InputError, match=r"unknown zoo model 'resnet101'; the zoo has: lenet5, alexnet, .*squeezenet1_1"):
        load_model("zoo:resnet101")


def _geometry(layer):
    return (layer.kind, layer.in_channels, layer.out_channels, layer.in_hw, layer.out_hw, layer.kernel,
            layer.stride, layer.pads, layer.providers, layer.pool_method)


@pytest.mark.golden
@pytest.mark.parametrize("name", ["alexnet", "vgg13", "vgg16", "resnet18"])
def test_layer_tables_equal_the_reference_networks(name, reference_dir):
    ref = load_pimcomp(reference_dir / "networks" / f"{name}.json")
    zoo = load_model(f"zoo:{name}")
    assert [_geometry(l) for l in zoo.layers] == [_geometry(l) for l in ref.layers]
    assert zoo.input_shape == ref.input_shape


@pytest.mark.unit
def test_model_specific_structure():
    vgg16 = load_model("zoo:vgg16")  # the Gluon export: no adaptive pool before the classifier
    assert [l.kind for l in vgg16.layers[-4:]] == ["pool", "fc", "fc", "fc"]
    assert vgg16.layers[-3].name == "vgg0_dense0_fwd"
    mobilenet = load_model("zoo:mobilenet_v2")
    depthwise = [l for l in mobilenet.layers if l.kind == "conv" and l.groups > 1]
    assert len(depthwise) == 17 and all(l.groups == l.in_channels for l in depthwise)
    assert sum(l.kind == "eltwise" for l in mobilenet.layers) == 10
    assert all("clip" in l.fused for l in depthwise)
    squeeze = load_model("zoo:squeezenet1_1")
    assert [l.out_hw for l in squeeze.layers if l.kind == "pool" and l.pool_method == "max"] == [(55, 55), (27, 27), (13, 13)]
    resnet50 = load_model("zoo:resnet50")
    assert sum(l.kind == "conv" for l in resnet50.layers) == 53
