import json

import numpy as np
import pytest

from fitness.errors import InputError
from fitness.network import Layer, Network
from fitness.pimcomp import load_pimcomp

pytestmark = pytest.mark.unit


def _conv(name, cin, cout, hw, providers=(), k=3):
    return Layer(name=name, kind="conv", in_channels=cin, out_channels=cout, in_hw=(hw, hw), out_hw=(hw, hw),
                 kernel=(k, k), pads=(1, 1, 1, 1), providers=providers)


def test_macs_weights_rows_and_sets():
    layer = _conv("c", 64, 192, 27, k=5)
    assert layer.rows == 5 * 5 * 64
    assert layer.weights == 192 * 64 * 25
    assert layer.macs == layer.weights * 27 * 27
    # MODEL.md §11: conv2 of AlexNet at X=256, S=8 uses 7 x 1 x 8 crossbars.
    assert layer.crossbar_set(256, 8) == 56


def test_arrays_are_read_only_views():
    net = Network("n", (_conv("a", 3, 8, 8), _conv("b", 8, 8, 8, providers=(0,))))
    arrays = net.arrays
    assert arrays.rows.tolist() == [27, 72]
    with pytest.raises(ValueError):
        arrays.rows[0] = 1


def test_json_round_trip(tmp_path):
    net = load_pimcomp_net()
    path = tmp_path / "n.json"
    net.save(path)
    again = Network.load(path)
    assert again.layers == net.layers
    data = json.loads(path.read_text())
    first = data["layers"][0]
    for key in ("name", "kind", "in_channels", "out_channels", "kernel", "stride", "pads", "dilation", "groups",
                "in_hw", "out_hw", "providers"):
        assert key in first


def load_pimcomp_net():
    from tests.conftest import REFERENCE

    return load_pimcomp(REFERENCE / "networks" / "resnet18.json")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda l: l.update(kind="lstm"), "kind must be one of"),
        (lambda l: l.update(out_channels=0), "out_channels must be >= 1"),
        (lambda l: l.update(out_hw=[-1, 3]), "out_hw must be >= 1"),
        (lambda l: l.update(providers=["nope"]), "'nope' is not an earlier layer"),
        (lambda l: l.pop("in_hw"), "missing field 'in_hw'"),
    ],
)
def test_bad_layer_tables(mutate, message):
    data = Network("n", (_conv("a", 3, 8, 8),)).to_dict()
    mutate(data["layers"][0])
    with pytest.raises(InputError, match=message):
        Network.from_dict(data, source="t.json")


def test_network_without_mvm_is_rejected():
    pool = Layer(name="p", kind="pool", in_channels=3, out_channels=3, in_hw=(8, 8), out_hw=(4, 4))
    with pytest.raises(InputError, match="no conv or fc layer"):
        Network("n", (pool,))


def test_pimcomp_layer_order_providers_activations(reference_dir):
    alex = load_pimcomp(reference_dir / "networks" / "alexnet.json")
    assert [l.kind for l in alex] == ["conv", "pool", "conv", "pool", "conv", "conv", "conv", "pool", "pool",
                                      "fc", "fc", "fc"]
    assert alex.layers[0].activations == ()  # fused by the frontend (with_act)
    assert alex.layers[9].in_channels == 9216
    assert alex.total_macs * 2 == 1428376960
    res = load_pimcomp(reference_dir / "networks" / "resnet18.json")
    adds = [l for l in res if l.kind == "eltwise"]
    assert len(adds) == 8 and all(l.activations == ("relu",) and len(l.providers) == 2 for l in adds)
    assert np.all(np.diff(res.mvm_indices[:len(res.conv_indices)]) > 0)
    vgg = load_pimcomp(reference_dir / "networks" / "vgg16.json")
    assert vgg.layers[0].activations == ("relu",)
    msra = load_pimcomp(reference_dir / "networks" / "msra_A.json")
    fc1 = next(l for l in msra if l.kind == "fc")
    assert len(fc1.providers) == 4 and all(msra.layers[p].kind == "pool" for p in fc1.providers)
