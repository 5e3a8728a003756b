"""The graphs of the embedded model zoo (:mod:`evo_pimsyn.zoo`), built with ``onnx.helper``.

A module of its own so that importing the zoo's names (every command's ``--model`` help)
does not import onnx, about 1 s of every command's start-up; only building a graph does.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the IR that opset 17 shipped with: readable by older runtimes


class _Graph:
    """Appends nodes in call order and tracks NCHW shapes to size the weights."""

    def __init__(self, name: str, input_name: str, input_shape: tuple[int, ...]):
        self.name = name
        self.input_name = input_name
        self.input_shape = input_shape
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shape: dict[str, tuple[int, ...]] = {input_name: input_shape}

    # -- plumbing ---------------------------------------------------------------------
    def param(self, name: str, dims: list[int]) -> str:
        self.inits.append(numpy_helper.from_array(np.array(dims, dtype=np.int64), f"{name}__shape"))
        fill = helper.make_tensor("value", TensorProto.FLOAT, [1], [0.01])
        self.nodes.append(helper.make_node("ConstantOfShape", [f"{name}__shape"], [name], name=f"{name}__fill", value=fill))
        return name

    def op(self, op: str, node_name: str, inputs: list[str], shape: tuple[int, ...], output: str | None = None, **attrs) -> str:
        out = output or f"{node_name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=node_name, **attrs))
        self.shape[out] = shape
        return out

    # -- layers -------------------------------------------------------------------------
    def conv(self, scope: str, x: str, cout: int, k: int, s: int = 1, p: int = 0, groups: int = 1,
             params: str | None = None, node_name: str | None = None, output: str | None = None) -> str:
        n, cin, h, w = self.shape[x]
        prefix = params or _module_path(scope)
        weight = self.param(f"{prefix}.weight" if params is None else f"{prefix}_weight", [cout, cin // groups, k, k])
        bias = self.param(f"{prefix}.bias" if params is None else f"{prefix}_bias", [cout])
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        return self.op(
            "Conv", node_name or f"{scope}/Conv", [x, weight, bias], (n, cout, oh, ow), output,
            dilations=[1, 1], group=groups, kernel_shape=[k, k], pads=[p] * 4, strides=[s, s],
        )

    def relu(self, scope: str, x: str, node_name: str | None = None, output: str | None = None) -> str:
        return self.op("Relu", node_name or f"{scope}/Relu", [x], self.shape[x], output)

    def relu6(self, scope: str, x: str) -> str:
        lo = self.op("Constant", f"{scope}/Constant", [], (), value=helper.make_tensor("value", TensorProto.FLOAT, [], [0.0]))
        hi = self.op("Constant", f"{scope}/Constant_1", [], (), value=helper.make_tensor("value", TensorProto.FLOAT, [], [6.0]))
        return self.op("Clip", f"{scope}/Clip", [x, lo, hi], self.shape[x])

    def pool(self, op: str, scope: str, x: str, k: int, s: int, p: int = 0, ceil: bool = False,
             node_name: str | None = None, output: str | None = None) -> str:
        n, c, h, w = self.shape[x]

        def size(v: int) -> int:
            span = v + 2 * p - k
            o = (-(-span // s) if ceil else span // s) + 1
            return o - 1 if ceil and (o - 1) * s >= v + p else o

        attrs = dict(kernel_shape=[k, k], pads=[p] * 4, strides=[s, s])
        if ceil:
            attrs["ceil_mode"] = 1
        return self.op(op, node_name or f"{scope}/{op}", [x], (n, c, size(h), size(w)), output, **attrs)

    def global_avg(self, scope: str, x: str) -> str:
        n, c = self.shape[x][:2]
        return self.op("GlobalAveragePool", f"{scope}/GlobalAveragePool", [x], (n, c, 1, 1))

    def add(self, scope: str, a: str, b: str) -> str:
        return self.op("Add", f"{scope}/Add", [a, b], self.shape[a])

    def concat(self, scope: str, xs: list[str]) -> str:
        n, _, h, w = self.shape[xs[0]]
        return self.op("Concat", f"{scope}/Concat", xs, (n, sum(self.shape[x][1] for x in xs), h, w), axis=1)

    def flatten(self, node_name: str, x: str, output: str | None = None) -> str:
        n = self.shape[x][0]
        return self.op("Flatten", node_name, [x], (n, int(np.prod(self.shape[x][1:]))), output, axis=1)

    def gemm(self, scope: str, x: str, cout: int, params: str | None = None,
             node_name: str | None = None, output: str | None = None) -> str:
        n, cin = self.shape[x]
        prefix = params or _module_path(scope)
        sep = "." if params is None else "_"
        weight = self.param(f"{prefix}{sep}weight", [cout, cin])
        bias = self.param(f"{prefix}{sep}bias", [cout])
        return self.op("Gemm", node_name or f"{scope}/Gemm", [x, weight, bias], (n, cout), output,
                       alpha=1.0, beta=1.0, transB=1)

    def model(self, output: str) -> onnx.ModelProto:
        x = helper.make_tensor_value_info(self.input_name, TensorProto.FLOAT, list(self.input_shape))
        y = helper.make_tensor_value_info(output, TensorProto.FLOAT, list(self.shape[output]))
        graph = helper.make_graph(self.nodes, self.name, [x], [y], initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="evo-pimsyn zoo")
        model.ir_version = IR_VERSION
        return model


def _module_path(scope: str) -> str:
    """PyTorch's dotted parameter prefix of a scope: /layer1/layer1.0/conv1 -> layer1.0.conv1."""
    parts = [p for p in scope.split("/") if p]
    path = parts[-1]
    for part in reversed(parts[:-1]):
        if not path.startswith(part + "."):  # Sequential children already carry the parent
            path = f"{part}.{path}"
    return path


# ---- the models ---------------------------------------------------------------------------

def _lenet5() -> onnx.ModelProto:
    g = _Graph("lenet5", "input", (1, 1, 32, 32))
    x = g.relu("/features/features.1", g.conv("/features/features.0", g.input_name, 6, 5))
    x = g.pool("MaxPool", "/features/features.2", x, 2, 2)
    x = g.relu("/features/features.4", g.conv("/features/features.3", x, 16, 5))
    x = g.pool("MaxPool", "/features/features.5", x, 2, 2)
    x = g.flatten("/Flatten", x)
    x = g.relu("/classifier/classifier.1", g.gemm("/classifier/classifier.0", x, 120))
    x = g.relu("/classifier/classifier.3", g.gemm("/classifier/classifier.2", x, 84))
    return g.model(g.gemm("/classifier/classifier.4", x, 10, output="output"))


def _alexnet() -> onnx.ModelProto:
    g = _Graph("alexnet", "input", (1, 3, 224, 224))
    x = g.input_name
    for idx, (cout, k, s, p, pool) in zip(
        (0, 3, 6, 8, 10), ((64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False), (256, 3, 1, 1, False), (256, 3, 1, 1, True))
    ):
        x = g.relu(f"/features/features.{idx + 1}", g.conv(f"/features/features.{idx}", x, cout, k, s, p))
        if pool:
            x = g.pool("MaxPool", f"/features/features.{idx + 2}", x, 3, 2)
    # AdaptiveAvgPool2d((6, 6)) on a 6x6 map: the exporter writes a 1x1 average pool.
    x = g.flatten("/Flatten", g.pool("AveragePool", "/avgpool", x, 1, 1))
    x = g.relu("/classifier/classifier.2", g.gemm("/classifier/classifier.1", x, 4096))
    x = g.relu("/classifier/classifier.5", g.gemm("/classifier/classifier.4", x, 4096))
    return g.model(g.gemm("/classifier/classifier.6", x, 1000, output="output"))


_VGG_CFG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def _vgg_torchvision(name: str) -> onnx.ModelProto:
    g = _Graph(name, "input", (1, 3, 224, 224))
    x, idx = g.input_name, 0
    for v in _VGG_CFG[name]:
        if v == "M":
            x = g.pool("MaxPool", f"/features/features.{idx}", x, 2, 2)
            idx += 1
        else:
            x = g.relu(f"/features/features.{idx + 1}", g.conv(f"/features/features.{idx}", x, v, 3, 1, 1))
            idx += 2
    x = g.flatten("/Flatten", g.pool("AveragePool", "/avgpool", x, 1, 1))
    x = g.relu("/classifier/classifier.1", g.gemm("/classifier/classifier.0", x, 4096))
    x = g.relu("/classifier/classifier.4", g.gemm("/classifier/classifier.3", x, 4096))
    return g.model(g.gemm("/classifier/classifier.6", x, 1000, output="output"))


def _vgg16_gluon() -> onnx.ModelProto:
    g = _Graph("vgg16", "data", (1, 3, 224, 224))
    x, conv, pool = g.input_name, 0, 0
    for v in _VGG_CFG["vgg16"]:
        if v == "M":
            name = f"vgg0_pool{pool}_fwd"
            x = g.pool("MaxPool", "", x, 2, 2, node_name=name, output=name)
            pool += 1
        else:
            name = f"vgg0_conv{conv}"
            x = g.conv("", x, v, 3, 1, 1, params=name, node_name=f"{name}_fwd", output=f"{name}_fwd")
            x = g.relu("", x, node_name=f"{name}_relu_fwd", output=f"{name}_relu_fwd")
            conv += 1
    for i, width in enumerate((4096, 4096, 1000)):
        x = g.flatten(f"flatten_{60 + 5 * i}", x, output=f"flatten_{60 + 5 * i}")
        name = f"vgg0_dense{i}"
        x = g.gemm("", x, width, params=name, node_name=f"{name}_fwd", output=f"{name}_fwd")
        if i < 2:
            x = g.relu("", x, node_name=f"{name}_relu_fwd", output=f"{name}_relu_fwd")
            x = g.op("Dropout", f"vgg0_dropout{i}_fwd", [x], g.shape[x], f"vgg0_dropout{i}_fwd")
    return g.model(x)


def _resnet(name: str, blocks: list[int], bottleneck: bool) -> onnx.ModelProto:
    g = _Graph(name, "input", (1, 3, 224, 224))
    x = g.relu("/relu", g.conv("/conv1", g.input_name, 64, 7, 2, 3))
    x = g.pool("MaxPool", "/maxpool", x, 3, 2, 1)
    expansion = 4 if bottleneck else 1
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512)), start=1):
        for b in range(count):
            scope = f"/layer{stage}/layer{stage}.{b}"
            stride = 2 if stage > 1 and b == 0 else 1
            identity = x
            if bottleneck:
                y = g.relu(f"{scope}/relu", g.conv(f"{scope}/conv1", x, width, 1))
                y = g.relu(f"{scope}/relu_1", g.conv(f"{scope}/conv2", y, width, 3, stride, 1))
                y = g.conv(f"{scope}/conv3", y, width * expansion, 1)
            else:
                y = g.relu(f"{scope}/relu", g.conv(f"{scope}/conv1", x, width, 3, stride, 1))
                y = g.conv(f"{scope}/conv2", y, width, 3, 1, 1)
            if b == 0 and (stride != 1 or g.shape[x][1] != width * expansion):
                identity = g.conv(f"{scope}/downsample/downsample.0", x, width * expansion, 1, stride)
            x = g.relu(f"{scope}/relu_{2 if bottleneck else 1}", g.add(scope, y, identity))
    x = g.flatten("/Flatten", g.global_avg("/avgpool", x))
    return g.model(g.gemm("/fc", x, 1000, output="output"))


def _mobilenet_v2() -> onnx.ModelProto:
    g = _Graph("mobilenet_v2", "input", (1, 3, 224, 224))
    x = g.relu6("/features/features.0/features.0.2", g.conv("/features/features.0/features.0.0", g.input_name, 32, 3, 2, 1))
    idx = 1
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            scope = f"/features/features.{idx}/conv"
            cin = g.shape[x][1]
            hidden = cin * t
            y, part = x, 0
            if t != 1:
                y = g.relu6(f"{scope}/conv.0/conv.0.2", g.conv(f"{scope}/conv.0/conv.0.0", y, hidden, 1))
                part = 1
            y = g.conv(f"{scope}/conv.{part}/conv.{part}.0", y, hidden, 3, stride, 1, groups=hidden)
            y = g.relu6(f"{scope}/conv.{part}/conv.{part}.2", y)
            y = g.conv(f"{scope}/conv.{part + 1}", y, c, 1)
            x = g.add(f"/features/features.{idx}", x, y) if stride == 1 and cin == c else y
            idx += 1
    x = g.relu6("/features/features.18/features.18.2", g.conv("/features/features.18/features.18.0", x, 1280, 1))
    x = g.flatten("/Flatten", g.global_avg("", x))
    return g.model(g.gemm("/classifier/classifier.1", x, 1000, output="output"))


def _squeezenet1_1() -> onnx.ModelProto:
    g = _Graph("squeezenet1_1", "input", (1, 3, 224, 224))
    x = g.relu("/features/features.1", g.conv("/features/features.0", g.input_name, 64, 3, 2))
    fires = {3: (16, 64), 4: (16, 64), 6: (32, 128), 7: (32, 128), 9: (48, 192), 10: (48, 192), 11: (64, 256), 12: (64, 256)}
    for idx in range(2, 13):
        scope = f"/features/features.{idx}"
        if idx in (2, 5, 8):
            x = g.pool("MaxPool", scope, x, 3, 2, ceil=True)
            continue
        squeeze, expand = fires[idx]
        sq = g.relu(f"{scope}/squeeze_activation", g.conv(f"{scope}/squeeze", x, squeeze, 1))
        e1 = g.relu(f"{scope}/expand1x1_activation", g.conv(f"{scope}/expand1x1", sq, expand, 1))
        e3 = g.relu(f"{scope}/expand3x3_activation", g.conv(f"{scope}/expand3x3", sq, expand, 3, 1, 1))
        x = g.concat(scope, [e1, e3])
    x = g.relu("/classifier/classifier.2", g.conv("/classifier/classifier.1", x, 1000, 1))
    x = g.global_avg("/classifier/classifier.3", x)
    return g.model(g.flatten("/Flatten", x, output="output"))


BUILDERS: dict[str, Callable[[], onnx.ModelProto]] = {
    "lenet5": _lenet5,
    "alexnet": _alexnet,
    "vgg11": lambda: _vgg_torchvision("vgg11"),
    "vgg13": lambda: _vgg_torchvision("vgg13"),
    "vgg16": _vgg16_gluon,
    "resnet18": lambda: _resnet("resnet18", [2, 2, 2, 2], bottleneck=False),
    "resnet34": lambda: _resnet("resnet34", [3, 4, 6, 3], bottleneck=False),
    "resnet50": lambda: _resnet("resnet50", [3, 4, 6, 3], bottleneck=True),
    "mobilenet_v2": _mobilenet_v2,
    "squeezenet1_1": _squeezenet1_1,
}
