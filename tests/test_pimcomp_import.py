"""PIMCOMP/PIMSYN JSON import gives the same layer table as the ONNX path."""

from __future__ import annotations

import json

import pytest

from evo_pimsyn.models import load_model
from fitness.network import Network
from fitness.pimcomp import load_pimcomp

pytestmark = pytest.mark.golden


def _geometry(layer):
    return (layer.kind, layer.in_channels, layer.out_channels, layer.in_hw, layer.out_hw, layer.kernel, layer.stride,
            layer.pads, layer.dilation, layer.groups, layer.providers, layer.pool_method, layer.macs, layer.weights)


@pytest.mark.parametrize("name", ["alexnet", "vgg13", "vgg16", "resnet18"])
def test_pimcomp_json_equals_onnx_zoo(name, reference_dir):
    path = reference_dir / "networks" / f"{name}.json"
    from_json = load_model(str(path))
    assert [_geometry(l) for l in from_json.layers] == [_geometry(l) for l in load_pimcomp(path).layers]
    zoo = load_model(f"zoo:{name}")
    assert [_geometry(l) for l in zoo.layers] == [_geometry(l) for l in from_json.layers]
    for j, o in zip(from_json.layers, zoo.layers):
        # PIMCOMP's frontend fused the ReLU after AlexNet's and ResNet18's convs/fcs into
        # the layer (with_act: free); an ONNX Relu is charged, as a separate RELU node is.
        relu_fused_by_pimcomp = ("relu",) if "relu" in j.fused else ()
        assert o.activations == relu_fused_by_pimcomp + j.activations


def test_other_reference_network_and_own_schema_round_trip(reference_dir, tmp_path):
    msra = load_model(str(reference_dir / "networks" / "msra_A.json"))
    assert len(msra) == 26 and msra.layers[23].providers == (19, 20, 21, 22)
    zoo = load_model("zoo:resnet18")
    path = tmp_path / "layers.json"
    path.write_text(json.dumps(zoo.to_dict()))
    assert load_model(str(path)) == zoo
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"layers": zoo.to_dict()["layers"]}))
    assert [_geometry(l) for l in load_model(str(bare)).layers] == [_geometry(l) for l in zoo.layers]
    assert Network.from_dict(zoo.to_dict()) == zoo
