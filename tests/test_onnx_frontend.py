"""The ONNX frontend on exporter-shaped graphs, real model-zoo files, and hostile input."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from evo_pimsyn.messages import InputWarning
from evo_pimsyn.onnx_frontend import load_onnx, network_from_onnx_model
from fitness.errors import InputError
from tests.conftest import REFERENCE
from tests.onnx_builders import (
    SMALL_RESNET_TABLE,
    G,
    caffe2_zoo_cnn,
    network_mvm_table,
    network_pool_table,
    reference_mvm_table,
    reference_pool_table,
    row,
    small_resnet,
)

pytestmark = pytest.mark.unit

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_FILES = sorted(LIGHT.glob("*.onnx"))
PUBLIC = REFERENCE / "onnx_public"
PUBLIC_FILES = sorted(PUBLIC.glob("*.onnx"))


def parse(model: onnx.ModelProto):
    """Parse with warnings turned into errors: a clean graph must not warn."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        return network_from_onnx_model(model, "t", "test.onnx")


def assert_matches_oracle(model: onnx.ModelProto, network) -> None:
    ref = reference_mvm_table(model)
    got = network_mvm_table(network)
    assert len(ref) == len(got)
    for r, g in zip(ref, got):
        if not r.get("unknown"):  # ONNX inference itself gave up there
            assert r == g
    pools = reference_pool_table(model)
    if not any(n.op_type == "ReduceMean" for n in model.graph.node):
        assert pools == network_pool_table(network)


# ---- exporter shapes -----------------------------------------------------------------------

FLATTENS = ("flatten", "reshape_constant", "reshape_initializer", "reshape_shape", "squeeze")


@pytest.mark.parametrize("opset", range(9, 22))
@pytest.mark.parametrize("flatten", FLATTENS)
def test_flatten_styles_every_opset(opset, flatten):
    model = small_resnet(G(opset), flatten=flatten, pool="reduce_mean" if opset >= 18 else "global")
    onnx.checker.check_model(model, full_check=True)
    network = parse(model)
    assert [row(l) for l in network.layers] == SMALL_RESNET_TABLE
    assert_matches_oracle(model, network)


@pytest.mark.parametrize("how", ["initializer", "both", "input", "constant_of_shape", "constant", "external"])
@pytest.mark.parametrize("opset", [9, 13, 18, 21])
def test_weight_storage_variants(how, opset):
    model = small_resnet(G(opset), how=how, bn=True)
    network = parse(model)
    assert [row(l) for l in network.layers] == SMALL_RESNET_TABLE
    assert network.layers[0].fused == ("batchnorm",)
    assert_matches_oracle(model, network)


def test_identity_nodes_on_weights_and_data():
    # TorchScript exports alias shared weights through Identity nodes placed first.
    g = G(17)
    x = g.input("input.1", [1, 3, 8, 8])
    w = g.weight("w", [4, 3, 3, 3])
    w2 = g.node("Identity", [w], name="Identity_0")
    y = g.node("Conv", [x, w2], kernel_shape=[3, 3])
    y = g.node("Identity", [g.node("Relu", [y])])
    g.output(g.node("Conv", [y, g.weight("w3", [2, 4, 1, 1])], kernel_shape=[1, 1]), [1, 2, 6, 6])
    network = parse(g.model())
    assert [l.kind for l in network.layers] == ["conv", "conv"]
    assert network.layers[1].providers == (0,)
    assert network.layers[0].activations == ("relu",)


def test_caffe2_model_zoo_shape():
    model = caffe2_zoo_cnn()
    onnx.checker.check_model(model, full_check=True)
    network = parse(model)
    assert [l.kind for l in network.layers] == ["conv", "pool", "fc", "fc"]
    assert network.layers[0].fused == ("lrn",)
    assert network.layers[1].pads == (0, 0, 1, 1)
    assert network.layers[2].in_channels == 8 * 14 * 14
    assert_matches_oracle(model, network)


def test_dynamic_batch_becomes_one_with_a_warning():
    model = small_resnet(G(17), batch="batch_size")
    with pytest.warns(InputWarning, match=r"input 'input.1': dynamic batch dimension 'batch_size' set to 1"):
        network = network_from_onnx_model(model, "t", "m.onnx")
    assert [row(l) for l in network.layers] == SMALL_RESNET_TABLE
    assert network.input_shape == (3, 32, 32)


def test_model_is_not_modified():
    model = small_resnet(G(17), batch="N")
    before = model.SerializeToString()
    with pytest.warns(InputWarning):
        network_from_onnx_model(model)
    assert model.SerializeToString() == before


def test_external_weights_missing_on_disk(tmp_path):
    model = small_resnet(G(17))
    path = tmp_path / "m.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="m.data", size_threshold=0)
    (tmp_path / "m.data").unlink()
    assert [row(l) for l in load_onnx(path).layers] == SMALL_RESNET_TABLE


def test_local_functions_are_inlined():
    # torch 2.1-2.4's dynamo exporter wraps every module in a model-local function.
    f = helper.make_function(
        "pkg.torch", "ConvRelu", ["x", "w"], ["y"],
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        [helper.make_opsetid("", 17)],
    )
    g = G(17)
    x = g.input("x", [1, 3, 8, 8])
    y = g.node("ConvRelu", [x, g.weight("w", [4, 3, 3, 3])], domain="pkg.torch")
    g.output(g.node("Gemm", [g.node("Flatten", [y]), g.weight("fc", [10, 256])], transB=1), [1, 10])
    g.functions.append(f)
    model = g.model()
    model.opset_import.append(helper.make_opsetid("pkg.torch", 1))
    network = parse(model)
    assert [(l.kind, l.activations) for l in network.layers] == [("conv", ("relu",)), ("fc", ())]


# ---- semantics ------------------------------------------------------------------------------

def _single_conv(opset=17, in_hw=(8, 8), cin=4, **conv_attrs):
    g = G(opset)
    x = g.input("x", [1, cin, *in_hw])
    k = conv_attrs.pop("kernel_shape", [3, 3])
    group = conv_attrs.get("group", 1)
    y = g.node("Conv", [x, g.weight("w", [8, cin // group, *k])], kernel_shape=k, **conv_attrs)
    g.output(y, [1, 8, None, None])
    return g


@pytest.mark.parametrize(
    "attrs, pads, out_hw",
    [
        (dict(auto_pad="SAME_UPPER", strides=[2, 2]), (0, 0, 1, 1), (4, 4)),
        (dict(auto_pad="SAME_LOWER", strides=[2, 2]), (1, 1, 0, 0), (4, 4)),
        (dict(auto_pad="VALID", strides=[2, 2]), (0, 0, 0, 0), (3, 3)),
        (dict(pads=[0, 1, 2, 3]), (0, 1, 2, 3), (8, 10)),
        (dict(dilations=[2, 2], pads=[2, 2, 2, 2]), (2, 2, 2, 2), (8, 8)),
    ],
)
def test_conv_padding_modes(attrs, pads, out_hw):
    model = _single_conv(**attrs).model()
    layer = parse(model).layers[0]
    assert layer.pads == pads
    assert layer.out_hw == out_hw
    assert_matches_oracle(model, parse(model))


def test_depthwise_and_grouped_conv():
    layer = parse(_single_conv(cin=8, group=8, pads=[1, 1, 1, 1]).model()).layers[0]
    assert (layer.in_channels, layer.out_channels, layer.groups) == (8, 8, 8)
    assert layer.weights == 8 * 1 * 9


def test_conv1d_is_a_one_row_image():
    g = G(17)
    x = g.input("x", [1, 4, 50])
    y = g.node("Conv", [x, g.weight("w", [8, 4, 5])], kernel_shape=[5], strides=[2], pads=[1, 2])
    g.output(g.node("Gemm", [g.node("Flatten", [y]), g.weight("fc", [3, 8 * 25])], transB=1), [1, 3])
    layer = parse(g.model()).layers[0]
    assert (layer.in_hw, layer.out_hw, layer.kernel, layer.stride, layer.pads) == ((1, 50), (1, 25), (1, 5), (1, 2), (0, 1, 0, 2))


@pytest.mark.parametrize("opset", [9, 13, 18])
def test_pad_folds_into_next_conv_and_pool(opset):
    g = G(opset)
    x = g.input("x", [1, 3, 16, 16])
    p = g.pad(x, [0, 0, 1, 2, 0, 0, 3, 4])
    y = g.node("Conv", [p, g.weight("w", [8, 3, 3, 3])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = g.node("MaxPool", [g.pad(y, [0, 0, 1, 1, 0, 0, 0, 0])], kernel_shape=[2, 2], strides=[2, 2])
    g.output(g.node("Gemm", [g.node("Flatten", [y]), g.weight("fc", [2, 8 * 10 * 11])], transB=1), [1, 2])
    conv, pool, _ = parse(g.model()).layers
    assert (conv.in_hw, conv.pads, conv.out_hw) == ((16, 16), (2, 3, 4, 5), (20, 22))
    assert (pool.in_hw, pool.pads, pool.out_hw) == ((20, 22), (1, 1, 0, 0), (10, 11))


@pytest.mark.parametrize("opset, keepdims", [(13, 1), (13, 0), (18, 1), (18, 0)])
def test_reduce_mean_over_hw_is_a_global_pool(opset, keepdims):
    g = G(opset)
    x = g.input("x", [1, 3, 8, 8])
    y = g.node("Relu", [g.node("Conv", [x, g.weight("w", [16, 3, 1, 1])], kernel_shape=[1, 1])])
    y = g.reduce_mean(y, [2, 3], keepdims)
    if keepdims:
        y = g.node("Flatten", [y])
    g.output(g.node("Gemm", [y, g.weight("fc", [10, 16])], transB=1), [1, 10])
    pool = parse(g.model()).layers[1]
    assert (pool.kind, pool.pool_method, pool.kernel, pool.in_hw, pool.out_hw) == ("pool", "avg", (8, 8), (8, 8), (1, 1))


def test_reduce_mean_over_channels_is_an_error():
    g = G(13)
    x = g.input("x", [1, 3, 8, 8])
    y = g.node("Conv", [x, g.weight("w", [16, 3, 1, 1])], kernel_shape=[1, 1], name="conv")
    g.output(g.reduce_mean(y, [1]), [1, 1, 8, 8])
    g.nodes[-1].name = "mean_c"
    with pytest.raises(InputError, match=r"node 'mean_c' \(ReduceMean\).*not a global pool over H, W"):
        parse(g.model())


def test_matmul_with_constant_weight_is_fc_and_between_activations_is_an_error():
    g = G(17)
    x = g.input("x", [1, 3, 4, 4])
    y = g.node("Flatten", [g.node("Conv", [x, g.weight("w", [2, 3, 1, 1])], kernel_shape=[1, 1])])
    y = g.node("MatMul", [y, g.weight("m", [32, 5])])
    g.output(g.node("Add", [y, g.weight("b", [5])]), [1, 5])
    fc = parse(g.model()).layers[1]
    assert (fc.kind, fc.in_channels, fc.out_channels, fc.fused) == ("fc", 32, 5, ("bias",))

    g = G(17)
    x = g.input("x", [1, 6])
    h = g.node("Gemm", [x, g.weight("w", [6, 6])], transB=1)
    g.output(g.node("MatMul", [g.node("Unsqueeze", [h, g.i64([2])]), g.node("Unsqueeze", [h, g.i64([1])])], name="outer"), [1, 6, 6])
    with pytest.raises(InputError, match=r"node 'outer' \(MatMul\).*is an activation"):
        parse(g.model())


def test_concat_joins_providers_and_charges_a_relu_after_it_to_each():
    g = G(17)
    x = g.input("x", [1, 3, 8, 8])
    a = g.node("Conv", [x, g.weight("a", [4, 3, 1, 1])], kernel_shape=[1, 1])
    b = g.node("Conv", [x, g.weight("b", [6, 3, 3, 3])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    c = g.node("Relu", [g.node("Concat", [a, b], axis=1)])
    y = g.node("Conv", [c, g.weight("c", [2, 10, 1, 1])], kernel_shape=[1, 1])
    g.output(g.node("Gemm", [g.node("Flatten", [y]), g.weight("fc", [1, 128])], transB=1), [1, 1])
    layers = parse(g.model()).layers
    assert layers[2].in_channels == 10
    assert layers[2].providers == (0, 1)
    assert layers[0].activations == layers[1].activations == ("relu",)


def test_channel_shuffle_and_split_are_routing():
    g = G(13)
    x = g.input("x", [1, 8, 4, 4])
    y = g.node("Conv", [x, g.weight("w", [8, 2, 1, 1])], kernel_shape=[1, 1], group=4)
    y = g.node("Reshape", [y, g.i64([1, 4, 2, 4, 4])])
    y = g.node("Transpose", [y], perm=[0, 2, 1, 3, 4])
    y = g.node("Reshape", [y, g.i64([1, 8, 4, 4])])
    left, right = g.node("Split", [y, g.i64([4, 4])], n_out=2, axis=1)
    r = g.node("Conv", [right, g.weight("r", [4, 4, 3, 3])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = g.node("Concat", [left, r], axis=1)
    g.output(g.node("Gemm", [g.node("Flatten", [y]), g.weight("fc", [3, 128])], transB=1), [1, 3])
    layers = parse(g.model()).layers
    assert [(l.kind, l.in_channels, l.providers) for l in layers] == [("conv", 8, ()), ("conv", 4, (0,)), ("fc", 128, (0, 1))]


@pytest.mark.parametrize(
    "op, attrs, charged, fused",
    [
        ("Relu", {}, ("relu",), ()),
        ("Sigmoid", {}, ("sigmoid",), ()),
        ("Tanh", {}, (), ("tanh",)),
        ("LeakyRelu", {"alpha": 0.1}, (), ("leakyrelu",)),
        ("HardSigmoid", {}, (), ("hardsigmoid",)),
        ("HardSwish", {}, (), ("hardswish",)),
        ("LRN", {"size": 3}, (), ("lrn",)),
    ],
)
def test_activations_charged_or_fused(op, attrs, charged, fused):
    g = G(17)
    x = g.input("x", [1, 3, 4, 4])
    y = g.node(op, [g.node("Conv", [x, g.weight("w", [2, 3, 1, 1])], kernel_shape=[1, 1])], **attrs)
    g.output(g.node("Gemm", [g.node("Flatten", [y]), g.weight("fc", [1, 32])], transB=1), [1, 1])
    conv = parse(g.model()).layers[0]
    assert (conv.activations, conv.fused) == (charged, fused)


@pytest.mark.parametrize("opset", [9, 11, 17])
def test_clip_relu6_is_fused(opset):
    g = G(opset)
    x = g.input("x", [1, 3, 4, 4])
    y = g.clip(g.node("Conv", [x, g.weight("w", [2, 3, 1, 1])], kernel_shape=[1, 1]), 0.0, 6.0)
    g.output(g.node("Gemm", [g.node("Flatten", [y]), g.weight("fc", [1, 32])], transB=1), [1, 1])
    assert parse(g.model()).layers[0].fused == ("clip",)


@pytest.mark.parametrize("op", ["Add", "Sum", "Mul", "Sub"])
def test_eltwise_of_two_activations(op):
    g = G(17)
    x = g.input("x", [1, 3, 4, 4])
    a = g.node("Conv", [x, g.weight("a", [2, 3, 1, 1])], kernel_shape=[1, 1])
    b = g.node("Conv", [x, g.weight("b", [2, 3, 3, 3])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = g.node("Relu", [g.node(op, [a, b])])
    g.output(g.node("Gemm", [g.node("Flatten", [y]), g.weight("fc", [1, 32])], transB=1), [1, 1])
    elt = parse(g.model()).layers[2]
    assert (elt.kind, elt.in_channels, elt.out_channels, elt.in_hw, elt.providers, elt.activations) == (
        "eltwise", 2, 2, (4, 4), (0, 1), ("relu",))


def test_nodes_out_of_order_are_sorted_stably():
    model = small_resnet(G(17))
    nodes = list(model.graph.node)
    reversed_model = onnx.ModelProto()
    reversed_model.CopyFrom(model)
    del reversed_model.graph.node[:]
    reversed_model.graph.node.extend(reversed(nodes))
    by_name = {l.name: row(l) for l in parse(model).layers}
    shuffled = parse(reversed_model)
    assert {l.name: row(l) for l in shuffled.layers}.keys() == by_name.keys()
    # Independent branches may come in another order; each layer's providers still name the same layers.
    original = parse(model)
    names = lambda net, l: sorted(net.layers[p].name for p in l.providers)  # noqa: E731
    for layer in shuffled.layers:
        twin = original.layers[original.index(layer.name)]
        assert names(shuffled, layer) == names(original, twin)

    rng = random.Random(0)
    for _ in range(5):
        rng.shuffle(nodes)
        m = onnx.ModelProto()
        m.CopyFrom(model)
        del m.graph.node[:]
        m.graph.node.extend(nodes)
        assert sorted(l.name for l in parse(m).layers) == sorted(by_name)


def test_stored_order_kept_when_valid():
    # resnet18 from torchvision: the downsample conv comes after conv2 of its block.
    names = [l.name for l in parse(small_resnet(G(17))).layers]
    assert names.index(names[2]) < names.index(names[3])
    assert [row(l) for l in parse(small_resnet(G(17))).layers][2][5] == (3, 3)


def test_cycle_is_an_error_naming_its_nodes():
    g = G(17)
    x = g.input("x", [1, 3, 4, 4])
    g.nodes.append(helper.make_node("Add", [x, "r"], ["a"], name="loop_add"))
    g.nodes.append(helper.make_node("Relu", ["a"], ["r"], name="loop_relu"))
    g.nodes.append(helper.make_node("Conv", ["r", g.weight("w", [2, 3, 1, 1])], ["y"], name="conv", kernel_shape=[1, 1]))
    g.output("y", [1, 2, 4, 4])
    with pytest.raises(InputError, match=r"cycle: node 'loop_\w+' \(\w+\) -> node 'loop_\w+' \(\w+\) -> node 'loop_\w+'"):
        parse(g.model())


def test_dead_nodes_are_dropped_with_a_warning():
    g = G(17)
    x = g.input("x", [1, 3, 4, 4])
    y = g.node("Conv", [x, g.weight("w", [2, 3, 1, 1])], kernel_shape=[1, 1])
    g.node("Conv", [x, g.weight("dead", [5, 3, 1, 1])], kernel_shape=[1, 1], name="unused_branch")
    g.output(g.node("Gemm", [g.node("Flatten", [y]), g.weight("fc", [1, 32])], transB=1), [1, 1])
    with pytest.warns(InputWarning, match=r"dropped 1 node\(s\) whose outputs reach no graph output: node 'unused_branch' \(Conv\)"):
        network = network_from_onnx_model(g.model())
    assert [l.kind for l in network.layers] == ["conv", "fc"]


# ---- errors ---------------------------------------------------------------------------------

def test_unsupported_op_names_node_op_and_supported_ops():
    g = G(17)
    x = g.input("x", [1, 3, 4, 4])
    y = g.node("Conv", [x, g.weight("w", [2, 3, 1, 1])], kernel_shape=[1, 1])
    y = g.node("Resize", [y, "", g.const(np.array([1, 1, 2, 2], np.float32))], name="upsample")
    g.output(y, [1, 2, 8, 8])
    with pytest.raises(InputError) as err:
        parse(g.model())
    msg = str(err.value)
    assert "\n" not in msg
    assert "node 'upsample' (Resize)" in msg and "not supported" in msg and "Conv, " in msg and "Gemm" in msg


def test_custom_domain_op_is_unsupported():
    g = G(17)
    x = g.input("x", [1, 3, 4, 4])
    y = g.node("FusedConv", [x, g.weight("w", [2, 3, 1, 1])], name="fc0", domain="com.example")
    g.output(y, [1, 2, 4, 4])
    model = g.model()
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(InputError, match=r"node 'fc0' \(FusedConv\): op 'com.example::FusedConv' is not supported"):
        parse(model)


def test_graph_without_conv_or_fc():
    g = G(17)
    x = g.input("x", [1, 3, 8, 8])
    g.output(g.node("MaxPool", [g.node("Relu", [x])], kernel_shape=[2, 2], strides=[2, 2]), [1, 3, 4, 4])
    with pytest.raises(InputError, match=r"test.onnx: no conv or fc layer \(only MaxPool\)"):
        parse(g.model())


@pytest.mark.parametrize("dims, match", [
    ([1, 0, 8, 8], r"input 'x' has a zero or negative dimension 0 at axis 1"),
    ([1, 3, -8, 8], r"input 'x' has a zero or negative dimension -8 at axis 2"),
    ([1, 3, "height", 8], r"input 'x' has a dynamic dimension 'height' at axis 2"),
])
def test_bad_input_dims(dims, match):
    g = G(17)
    x = g.input("x", dims)
    g.output(g.node("Conv", [x, g.weight("w", [2, 3, 1, 1])], kernel_shape=[1, 1]), [1, 2, 8, 8])
    with pytest.raises(InputError, match=match):
        parse(g.model())


def test_zero_weight_dim_and_channel_mismatch():
    g = G(17)
    x = g.input("x", [1, 3, 8, 8])
    g.output(g.node("Conv", [x, g.weight("w", [0, 3, 1, 1], "constant_of_shape")], kernel_shape=[1, 1], name="c0"), [1, 0, 8, 8])
    with pytest.raises(InputError, match=r"node 'c0' \(Conv\).*zero or negative dimension"):
        parse(g.model())
    g = G(17)
    x = g.input("x", [1, 3, 8, 8])
    g.output(g.node("Conv", [x, g.weight("w", [4, 5, 1, 1])], kernel_shape=[1, 1], name="c1"), [1, 4, 8, 8])
    with pytest.raises(InputError, match=r"node 'c1' \(Conv\): input has 3 channels but weight \[4, 5, 1, 1\]"):
        parse(g.model())


def test_missing_tensor_and_unproduced_output():
    g = G(17)
    x = g.input("x", [1, 3, 8, 8])
    g.output(g.node("Conv", [x, "nowhere"], kernel_shape=[1, 1], name="c"), [1, 2, 8, 8])
    with pytest.raises(InputError, match=r"node 'c' \(Conv\) reads 'nowhere', which no node, initializer or graph input provides"):
        parse(g.model())
    g = G(17)
    g.input("x", [1, 3, 8, 8])
    g.output("y", [1, 3, 8, 8])
    g.node("Relu", ["x"])
    with pytest.raises(InputError, match=r"graph output 'y' is produced by no node"):
        parse(g.model())


# ---- real files -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", LIGHT_FILES, ids=lambda p: p.stem)
def test_light_model_zoo_files(path):
    model = onnx.load(str(path), load_external_data=False)
    network = load_onnx(path)
    assert network.input_shape == (3, 224, 224)
    assert_matches_oracle(model, network)
    convs = sum(n.op_type == "Conv" for n in model.graph.node)
    assert sum(l.kind == "conv" for l in network.layers) == convs


def test_light_files_expected_tables():
    alexnet = load_onnx(LIGHT / "light_bvlc_alexnet.onnx")
    assert [l.kind for l in alexnet.layers] == ["conv", "pool", "conv", "pool", "conv", "conv", "conv", "pool", "fc", "fc", "fc"]
    assert alexnet.layers[2].groups == 2 and alexnet.layers[0].fused == ("lrn",)
    assert alexnet.layers[8].in_channels == 9216
    resnet = load_onnx(LIGHT / "light_resnet50.onnx")
    adds = [l for l in resnet.layers if l.kind == "eltwise"]
    assert len(adds) == 16 and all(l.activations == ("relu",) and len(l.providers) == 2 for l in adds)
    squeeze = load_onnx(LIGHT / "light_squeezenet.onnx")
    fire_squeeze = [l for l in squeeze.layers if l.kind == "conv" and len(l.providers) == 2]
    assert fire_squeeze  # concatenated expand layers feed the next fire's squeeze conv


@pytest.mark.parametrize("path", PUBLIC_FILES, ids=lambda p: p.stem)
def test_public_files(path):
    model = onnx.load(str(path), load_external_data=False)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        network = load_onnx(path)
    assert_matches_oracle(model, network)


def test_public_files_details():
    mnist = load_onnx(PUBLIC / "onnxzoo_mnist_cntk_opset1.onnx")  # opset 1, Constant weights
    assert [(l.kind, l.in_channels, l.out_channels, l.pads) for l in mnist.layers] == [
        ("conv", 1, 8, (2, 2, 2, 2)), ("pool", 8, 8, (0, 0, 0, 0)), ("conv", 8, 16, (2, 2, 2, 2)),
        ("pool", 16, 16, (0, 0, 0, 0)), ("fc", 256, 10, (0, 0, 0, 0))]
    assert mnist.layers[0].fused == ("bias",) and mnist.layers[0].activations == ("relu",)
    with pytest.warns(InputWarning, match="dynamic batch dimension 'batch_size' set to 1"):
        sr = load_onnx(PUBLIC / "onnxzoo_super_resolution_opset10.onnx")
    assert [l.out_channels for l in sr.layers] == [64, 64, 32, 9]
    int8 = load_onnx(PUBLIC / "onnxzoo_shufflenet-v2-12-int8.onnx")  # QLinearConv, QLinearMatMul
    assert sum(l.kind == "conv" for l in int8.layers) == 56 and int8.layers[-1].kind == "fc"
    (fc,) = load_onnx(PUBLIC / "onnxmodels_toolchain_sample_noconv.onnx").layers  # MatMul on a 1-D input
    assert (fc.kind, fc.in_channels, fc.out_channels) == ("fc", 11, 5)


def test_tf2onnx_nhwc_layout():
    # tf2onnx: an NHWC input transposed around each conv; adds and the global pool stay NHWC.
    g = G(13)
    x = g.input("input_1", [1, 16, 16, 3])
    t = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    a = g.node("Conv", [t, g.weight("a", [8, 3, 3, 3])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b = g.node("Conv", [t, g.weight("b", [8, 3, 1, 1])], kernel_shape=[1, 1])
    a, b = (g.node("Transpose", [v], perm=[0, 2, 3, 1]) for v in (a, b))
    y = g.node("Relu", [g.node("Add", [a, b])])
    y = g.reduce_mean(y, [1, 2], keepdims=0)
    g.output(g.node("MatMul", [y, g.weight("dense", [8, 4])]), [1, 4])
    network = parse(g.model())
    assert network.input_shape == (3, 16, 16)
    add, pool, fc = network.layers[2:]
    assert (add.kind, add.in_channels, add.in_hw, add.providers, add.activations) == ("eltwise", 8, (16, 16), (0, 1), ("relu",))
    assert (pool.kind, pool.in_channels, pool.in_hw, pool.kernel) == ("pool", 8, (16, 16), (16, 16))
    assert (fc.kind, fc.in_channels, fc.out_channels) == ("fc", 8, 4)


def test_quantized_qlinear_graph_with_contrib_ops():
    # onnxruntime's quantizer: QLinearConv plus com.microsoft ops ONNX shape inference does not know.
    g = G(13)
    x = g.input("x", [1, 3, 8, 8])
    s, z = g.init("s", np.array(0.1, np.float32)), g.init("z", np.array(0, np.uint8))
    q = g.node("QuantizeLinear", [x, s, z])
    w = g.init("w", np.zeros((4, 3, 3, 3), np.uint8))
    c1, c2 = (g.node("QLinearConv", [q, s, z, w, s, z, s, z], kernel_shape=[3, 3], pads=[1, 1, 1, 1]) for _ in range(2))
    add = g.node("QLinearAdd", [c1, s, z, c2, s, z, s, z], domain="com.microsoft")
    cat = g.node("QLinearConcat", [s, z, add, s, z, c1, s, z], axis=1, domain="com.microsoft")
    pool = g.node("QLinearGlobalAveragePool", [cat, s, z, s, z], domain="com.microsoft", channels_last=0)
    y = g.node("Flatten", [g.node("DequantizeLinear", [pool, s, z])])
    g.output(g.node("Gemm", [y, g.weight("fc", [10, 8])], transB=1), [1, 10])
    model = g.model()
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    layers = parse(model).layers
    assert [(l.kind, l.in_channels, l.out_channels, l.out_hw, l.providers) for l in layers] == [
        ("conv", 3, 4, (8, 8), ()), ("conv", 3, 4, (8, 8), ()), ("eltwise", 4, 4, (8, 8), (0, 1)),
        ("pool", 8, 8, (1, 1), (0, 2)), ("fc", 8, 10, (1, 1), (3,))]


def test_corrupted_bytes_only_raise_one_line_input_errors():
    from evo_pimsyn.onnx_frontend.reader import parse_model
    from evo_pimsyn.zoo import build_zoo_model

    base = build_zoo_model("squeezenet1_1").SerializeToString()
    rng = random.Random(7)
    for _ in range(150):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                network_from_onnx_model(parse_model(bytes(data), "f.onnx"), "f", "f.onnx")
        except InputError as exc:
            assert "\n" not in str(exc) and "malformed" not in str(exc)
