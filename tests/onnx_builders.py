"""Hand-built ONNX graphs in the shapes real exporters write, and an independent oracle.

The builders reproduce what the PyTorch TorchScript exporter, the PyTorch dynamo exporter
and the Caffe2-era ONNX model zoo emit (weights as initializers, initializers also listed
as inputs, graph inputs without data, ConstantOfShape; Flatten vs Reshape vs Shape/Gather/
Concat/Reshape before Gemm; Constant and Identity nodes), for any opset from 9 to 21.

:func:`reference_mvm_table` derives the conv/fc table straight from ONNX shape inference,
sharing no code with the frontend: it is what the tests compare against.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT
IR_FOR_OPSET = {9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


class G:
    """A tiny graph builder: node order is call order."""

    def __init__(self, opset: int = 17, ir_version: int | None = None):
        self.opset = opset
        self.ir_version = ir_version or IR_FOR_OPSET.get(opset, 8)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.functions: list[onnx.FunctionProto] = []
        self._count = 0

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def input(self, name: str, dims: Sequence[int | str | None]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, FLOAT, list(dims)))
        return name

    def output(self, name: str, dims: Sequence[int | str | None]) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, FLOAT, list(dims)))

    def node(self, op: str, inputs: Sequence[str], n_out: int = 1, name: str | None = None,
             outputs: Sequence[str] | None = None, domain: str | None = None, **attrs):
        outs = list(outputs) if outputs else [self.fresh(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name or self.fresh(f"node_{op}"), domain=domain, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def init(self, name: str, array: np.ndarray, as_input: bool = False) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        if as_input:
            self.inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.asarray(array).dtype), list(np.shape(array))))
        return name

    def const(self, array, name: str | None = None) -> str:
        """A Constant node (TorchScript style)."""
        array = np.asarray(array)
        out = name or self.fresh("const")
        self.nodes.append(helper.make_node("Constant", [], [out], name=self.fresh("Constant"), value=numpy_helper.from_array(array, out)))
        return out

    def weight(self, name: str, dims: Sequence[int], how: str = "initializer") -> str:
        """A weight stored the way ``how`` says exporters store it."""
        dims = list(dims)
        if how == "initializer":
            return self.init(name, np.zeros(dims, np.float32))
        if how == "both":  # IR < 4 style: every initializer is also a graph input
            return self.init(name, np.zeros(dims, np.float32), as_input=True)
        if how == "input":  # export_params=False: a graph input without data
            self.inputs.append(helper.make_tensor_value_info(name, FLOAT, dims))
            return name
        if how == "constant_of_shape":  # the "light" model-zoo graphs
            shape = self.init(f"{name}__SHAPE", np.array(dims, np.int64), as_input=True)
            self.nodes.append(helper.make_node("ConstantOfShape", [shape], [name], name=self.fresh("ConstantOfShape"),
                                               value=helper.make_tensor("value", FLOAT, [1], [0.0])))
            return name
        if how == "constant":
            return self.const(np.zeros(dims, np.float32), name)
        if how == "external":  # weight data in a file that is not there
            t = TensorProto(name=name, data_type=FLOAT, dims=dims)
            t.data_location = TensorProto.EXTERNAL
            for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(4 * int(np.prod(dims))))):
                entry = t.external_data.add()
                entry.key, entry.value = key, value
            self.inits.append(t)
            return name
        raise ValueError(how)

    # -- opset-dependent spellings ----------------------------------------------------------
    def i64(self, values) -> str:
        return self.const(np.array(values, np.int64))

    def unsqueeze(self, x: str, axes: list[int]) -> str:
        if self.opset >= 13:
            return self.node("Unsqueeze", [x, self.i64(axes)])
        return self.node("Unsqueeze", [x], axes=axes)

    def reduce_mean(self, x: str, axes: list[int], keepdims: int = 1) -> str:
        if self.opset >= 18:
            return self.node("ReduceMean", [x, self.i64(axes)], keepdims=keepdims)
        return self.node("ReduceMean", [x], axes=axes, keepdims=keepdims)

    def clip(self, x: str, lo: float, hi: float) -> str:
        if self.opset >= 11:
            return self.node("Clip", [x, self.const(np.array(lo, np.float32)), self.const(np.array(hi, np.float32))])
        return self.node("Clip", [x], min=lo, max=hi)

    def pad(self, x: str, pads: list[int]) -> str:
        if self.opset >= 11:
            return self.node("Pad", [x, self.i64(pads)])
        return self.node("Pad", [x], pads=pads)

    def conv(self, x: str, cin: int, cout: int, k: int | tuple[int, int], how: str = "initializer", bias: bool = True, **attrs) -> str:
        kh, kw = (k, k) if isinstance(k, int) else k
        group = attrs.get("group", 1)
        stem = self.fresh("conv")
        ins = [x, self.weight(f"{stem}.weight", [cout, cin // group, kh, kw], how)]
        if bias:
            ins.append(self.weight(f"{stem}.bias", [cout], how))
        attrs.setdefault("kernel_shape", [kh, kw])
        return self.node("Conv", ins, **attrs)

    def gemm(self, x: str, cin: int, cout: int, how: str = "initializer") -> str:
        stem = self.fresh("fc")
        w = self.weight(f"{stem}.weight", [cout, cin], how)
        b = self.weight(f"{stem}.bias", [cout], how)
        return self.node("Gemm", [x, w, b], transB=1)

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "g", self.inputs, self.outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)], functions=self.functions)
        model.ir_version = self.ir_version
        return model


# ---- exporter-shaped models ------------------------------------------------------------------

def small_resnet(g: G, flatten: str = "flatten", how: str = "initializer", batch="1", bn: bool = False,
                 pool: str = "global") -> onnx.ModelProto:
    """conv-relu-maxpool, a residual block with a 1x1 downsample, global pool, fc.

    Layers: 0 conv1 (3->8, 32x32), 1 maxpool (->16x16), 2 conv2 (8->16, s2), 3 downsample
    (8->16, 1x1 s2), 4 add (relu), 5 global average pool (8x8), 6 fc (16->10).
    """
    x = g.input("input.1", [int(batch) if batch.isdigit() else batch, 3, 32, 32])
    y = g.conv(x, 3, 8, 3, how, pads=[1, 1, 1, 1], strides=[1, 1])
    if bn:
        c = 8
        y = g.node("BatchNormalization", [y, *(g.weight(g.fresh("bn"), [c], how) for _ in range(4))])
    y = g.node("Relu", [y])
    p = g.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    a = g.node("Relu", [g.conv(p, 8, 16, 3, how, pads=[1, 1, 1, 1], strides=[2, 2])])
    b = g.conv(p, 8, 16, 1, how, strides=[2, 2])
    s = g.node("Relu", [g.node("Add", [a, b])])
    if pool == "global":
        s = g.node("GlobalAveragePool", [s])
    elif pool == "reduce_mean":  # the dynamo exporter's adaptive_avg_pool2d(1)
        s = g.reduce_mean(s, [-1, -2], keepdims=1)
    f = _flatten(g, s, flatten)
    g.output(g.gemm(f, 16, 10, how), [int(batch) if batch.isdigit() else batch, 10])
    return g.model()


def _flatten(g: G, x: str, style: str) -> str:
    if style == "flatten":
        return g.node("Flatten", [x], axis=1)
    if style == "reshape_constant":  # TorchScript: x.view(1, -1) with a Constant target
        return g.node("Reshape", [x, g.i64([1, -1])])
    if style == "reshape_initializer":  # dynamo: the target is an initializer
        return g.node("Reshape", [x, g.init(g.fresh("shape"), np.array([1, 16], np.int64))])
    if style == "reshape_shape":  # TorchScript: x.view(x.size(0), -1) via Shape/Gather/Concat
        shape = g.node("Shape", [x])
        n = g.node("Gather", [shape, g.const(np.array(0, np.int64))], axis=0)
        target = g.node("Concat", [g.unsqueeze(n, [0]), g.i64([-1])], axis=0)
        return g.node("Reshape", [x, target])
    if style == "squeeze":  # x.squeeze(-1).squeeze(-1)
        if g.opset >= 13:
            return g.node("Squeeze", [x, g.i64([2, 3])])
        return g.node("Squeeze", [x], axes=[2, 3])
    raise ValueError(style)


SMALL_RESNET_TABLE = [
    # name-free expected rows: kind, cin, cout, in_hw, out_hw, kernel, stride, pads, providers, activations
    ("conv", 3, 8, (32, 32), (32, 32), (3, 3), (1, 1), (1, 1, 1, 1), (), ("relu",)),
    ("pool", 8, 8, (32, 32), (16, 16), (2, 2), (2, 2), (0, 0, 0, 0), (0,), ()),
    ("conv", 8, 16, (16, 16), (8, 8), (3, 3), (2, 2), (1, 1, 1, 1), (1,), ("relu",)),
    ("conv", 8, 16, (16, 16), (8, 8), (1, 1), (2, 2), (0, 0, 0, 0), (1,), ()),
    ("eltwise", 16, 16, (8, 8), (8, 8), (1, 1), (1, 1), (0, 0, 0, 0), (2, 3), ("relu",)),
    ("pool", 16, 16, (8, 8), (1, 1), (8, 8), (1, 1), (0, 0, 0, 0), (4,), ()),
    ("fc", 16, 10, (1, 1), (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), (5,), ()),
]


def row(layer) -> tuple:
    return (layer.kind, layer.in_channels, layer.out_channels, layer.in_hw, layer.out_hw, layer.kernel,
            layer.stride, layer.pads, layer.providers, layer.activations)


def caffe2_zoo_cnn() -> onnx.ModelProto:
    """The Caffe2-converted model-zoo shape: opset 9, IR 3, ConstantOfShape weights listed
    as inputs, LRN, Dropout with its mask output, Reshape by a graph-input initializer."""
    g = G(opset=9, ir_version=3)
    x = g.input("data_0", [1, 3, 32, 32])
    y = g.node("Relu", [g.conv(x, 3, 8, 5, "constant_of_shape", strides=[1, 1], pads=[0, 0, 0, 0])])
    y = g.node("LRN", [y], size=5, alpha=1e-4, beta=0.75, bias=1.0)
    y = g.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])
    y = g.node("Reshape", [y, g.init("OC2_DUMMY_1", np.array([1, -1], np.int64), as_input=True)])
    y = g.node("Relu", [g.gemm(y, 8 * 14 * 14, 32, "constant_of_shape")])
    y, _mask = g.node("Dropout", [y], n_out=2, ratio=0.5)
    y = g.gemm(y, 32, 10, "constant_of_shape")
    g.output(g.node("Softmax", [y]), [1, 10])
    return g.model()


# ---- the oracle -------------------------------------------------------------------------------

def reference_mvm_table(model: onnx.ModelProto) -> list[dict]:
    """Conv/fc rows implied by ONNX shape inference alone (file order, batch ignored)."""
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        if vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    for t in inferred.graph.initializer:
        shapes.setdefault(t.name, list(t.dims))
    rows = []
    for node in inferred.graph.node:
        if node.op_type in ("Conv", "QLinearConv"):
            w_slot = 3 if node.op_type == "QLinearConv" else 1
            w, y = shapes.get(node.input[w_slot]), shapes.get(node.output[0])
            if w is None or y is None or None in w or None in y[1:]:
                rows.append(dict(kind="conv", unknown=True))  # ONNX inference gave up upstream
                continue
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            rows.append(dict(kind="conv", in_channels=w[1] * group, out_channels=y[1], out_hw=tuple(y[2:]), kernel=tuple(w[2:]),
                             groups=group, macs=int(np.prod(y[1:])) * w[1] * int(np.prod(w[2:]))))
        elif node.op_type in ("Gemm", "MatMul", "QLinearMatMul"):
            w_slot = 3 if node.op_type == "QLinearMatMul" else 1
            w = shapes.get(node.input[w_slot])
            if w is None or len(w) != 2:
                continue  # not a constant 2-D weight: no fc layer
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            k, n = (w[1], w[0]) if trans_b else (w[0], w[1])
            rows.append(dict(kind="fc", in_channels=k, out_channels=n, macs=k * n))
    return rows


def network_mvm_table(network) -> list[dict]:
    rows = []
    for layer in network.layers:
        if layer.kind == "conv":
            rows.append(dict(kind="conv", in_channels=layer.in_channels, out_channels=layer.out_channels,
                             out_hw=layer.out_hw, kernel=layer.kernel, groups=layer.groups, macs=layer.macs))
        elif layer.kind == "fc":
            rows.append(dict(kind="fc", in_channels=layer.in_channels, out_channels=layer.out_channels, macs=layer.macs))
    return rows


def reference_pool_table(model: onnx.ModelProto) -> list[dict]:
    """Pool rows implied by ONNX shape inference and the pool attributes (file order)."""
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        if vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    rows = []
    for node in inferred.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"):
            if node.input[0] not in shapes or node.output[0] not in shapes:
                continue  # ONNX inference gave up upstream; nothing to compare against
            x, y = shapes[node.input[0]], shapes[node.output[0]]
            if None in x[1:] or None in y[1:]:
                continue
            glob = node.op_type.startswith("Global")
            rows.append(dict(channels=x[1], in_hw=tuple(x[2:]), out_hw=tuple(y[2:]),
                             kernel=tuple(x[2:]) if glob else tuple(attrs["kernel_shape"]),
                             stride=(1, 1) if glob else tuple(attrs.get("strides", (1, 1)))))
    return rows


def network_pool_table(network) -> list[dict]:
    return [dict(channels=l.in_channels, in_hw=l.in_hw, out_hw=l.out_hw, kernel=l.kernel, stride=l.stride)
            for l in network.layers if l.kind == "pool"]
