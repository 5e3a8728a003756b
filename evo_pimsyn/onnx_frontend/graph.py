"""Preparing an ONNX graph for layer extraction.

Exporters disagree on where weights live (initializers, initializers also listed as graph
inputs, graph inputs without data, ConstantOfShape outputs, DequantizeLinear of int8
initializers), on node order and on dead leftovers. This module reduces every variant to
one form: live nodes in a stable topological order, the set of *static* tensors (known
without running the network: weights and shape computations), the data inputs with a
fixed batch, and a data-free skeleton model for ONNX shape inference.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from evo_pimsyn.messages import warn
from fitness.errors import InputError

# Values of static tensors up to this many elements are kept for shape computations
# (Reshape targets, Pad amounts, axes); weights are larger and never read.
SMALL_VALUE_LIMIT = 4096

# Inputs that carry parameters rather than the data flowing through the network: a graph
# input used only in these slots is a weight (or shape) turned into an input by the exporter.
PARAM_SLOTS: dict[str, frozenset[int]] = {
    op: frozenset(slots)
    for op, slots in {
        "Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (1,),
        "BatchNormalization": (1, 2, 3, 4), "InstanceNormalization": (1, 2), "PRelu": (1,),
        "Reshape": (1,), "Pad": (1, 2, 3), "LayerNormalization": (1, 2), "Slice": (1, 2, 3, 4), "Clip": (1, 2),
        "Squeeze": (1,), "Unsqueeze": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "Split": (1,),
        "Tile": (1,), "Expand": (1,), "ConstantOfShape": (0,), "Gather": (1,),
        "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2), "QLinearConv": range(1, 9),
        "QLinearMatMul": range(1, 8), "QLinearAdd": (1, 2, 3, 4, 5, 6, 7), "QLinearMul": (1, 2, 3, 4, 5, 6, 7),
    }.items()
}
# Binary element-wise ops: a graph input there may be data (x + y) or a bias; decided last.
ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Pow"})
SHAPE_OPS = frozenset({"Shape", "Size"})


@dataclass(kw_only=True)
class PreparedGraph:
    source: str
    nodes: list[onnx.NodeProto]
    opset: int
    skeleton: onnx.ModelProto
    data_inputs: list[tuple[str, tuple[int, ...]]]
    static: set[str]
    values: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    producer: dict[str, int] = field(default_factory=dict)
    consumers: dict[str, list[int]] = field(default_factory=dict)

    def label(self, index: int) -> str:
        return node_label(self.nodes[index], index)


def node_label(node: onnx.NodeProto, index: int) -> str:
    op = node.op_type if node.op_type.isprintable() else repr(node.op_type)
    if node.name:
        return f"node {node.name!r} ({op})"
    first = node.output[0] if node.output else ""
    return f"node #{index} ({op}, output {first!r})"


def default_opset(model: onnx.ModelProto, source: str) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if versions:
        return int(versions[0])
    if model.ir_version < 3:
        return 1  # before IR 3 a model had no opset_import and meant opset 1
    raise InputError(f"{source}: no opset_import for the default ONNX domain (truncated or not an ONNX model)")


def prepare(model: onnx.ModelProto, source: str) -> PreparedGraph:
    _check_strings(model, source)
    if model.functions:
        model = _inline_functions(model, source)
    opset = default_opset(model, source)
    graph = model.graph
    if not graph.output:
        raise InputError(f"{source}: the graph has no outputs")

    inits = {t.name: t for t in graph.initializer}
    inits.update({s.values.name: s.values for s in graph.sparse_initializer})
    declared = {vi.name: vi for vi in graph.input}
    available = set(declared) | set(inits)
    nodes = _live_nodes(list(graph.node), [o.name for o in graph.output], available, source)
    nodes = _sorted_nodes(nodes, available, source)

    free = [name for name in declared if name not in inits]
    data_names = _data_inputs(nodes, free)
    param_inputs = {n for n in free if n not in data_names}
    static = set(inits) | param_inputs
    for node in nodes:
        if node.op_type in SHAPE_OPS or all(not i or i in static for i in node.input):
            static.update(o for o in node.output if o)
    if not data_names:
        raise InputError(f"{source}: the graph has no data input (every input is a weight or constant)")

    data_inputs = [(name, _fixed_input_shape(declared[name], source)) for name in data_names]
    values = _small_values(inits)
    skeleton = _skeleton(model, nodes, opset, data_inputs, declared, inits, values)
    return PreparedGraph(source=source, nodes=nodes, opset=opset, skeleton=skeleton, data_inputs=data_inputs,
                         static=static, values=values)


def _check_strings(model: onnx.ModelProto, source: str) -> None:
    # Protobuf hands back bytes for a string field that is not valid UTF-8 (a corrupt file).
    graph = model.graph
    names = [graph.name, *(v.name for v in (*graph.input, *graph.output)), *(t.name for t in graph.initializer)]
    for node in graph.node:
        names.extend((node.op_type, node.name, node.domain, *node.input, *node.output))
    if any(not isinstance(n, str) for n in names):
        raise InputError(f"{source}: corrupt file: a name or op type in the graph is not valid UTF-8 text")


def _inline_functions(model: onnx.ModelProto, source: str) -> onnx.ModelProto:
    # The dynamo exporter of torch 2.1-2.4 wraps each module in a model-local function.
    try:  # onnx.inliner exists from onnx 1.16 on
        from onnx import inliner
    except ImportError:  # onnx < 1.16
        raise InputError(f"{source}: the model uses local functions; inlining them needs onnx >= 1.16") from None
    try:
        return inliner.inline_local_functions(model)
    except Exception as exc:  # noqa: BLE001 - any failure inside onnx is an input problem here
        raise InputError(f"{source}: cannot inline the model's local functions ({' '.join(str(exc).split())})") from None


def _sorted_nodes(nodes: list[onnx.NodeProto], available: set[str], source: str) -> list[onnx.NodeProto]:
    """Kahn's algorithm, always taking the earliest ready node: stored order is kept where valid."""
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for out in node.output:
            if not out:
                continue
            if out in producer:
                raise InputError(
                    f"{source}: tensor {out!r} is produced twice, by {node_label(nodes[producer[out]], producer[out])} "
                    f"and {node_label(node, i)}"
                )
            if out in available:
                raise InputError(f"{source}: {node_label(node, i)} writes {out!r}, which is already a graph input or initializer")
            producer[out] = i
    deps: list[set[int]] = []
    users: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        need = set()
        for name in node.input:
            if not name or name in available:
                continue
            if name not in producer:
                raise InputError(
                    f"{source}: {node_label(node, i)} reads {name!r}, which no node, initializer or graph input provides"
                )
            need.add(producer[name])
        deps.append(need)
        for p in need:
            users[p].append(i)
    missing = [len(d) for d in deps]
    ready = [i for i, m in enumerate(missing) if m == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            missing[u] -= 1
            if missing[u] == 0:
                heapq.heappush(ready, u)
    if len(order) < len(nodes):
        left = set(range(len(nodes))) - set(order)
        cycle = _find_cycle(left, deps)
        path = " -> ".join(node_label(nodes[i], i) for i in cycle)
        raise InputError(f"{source}: the graph has a cycle: {path}")
    return [nodes[i] for i in order]


def _find_cycle(left: set[int], deps: list[set[int]]) -> list[int]:
    # Every node left over waits on another left-over node; following those waits must
    # come back to a node already on the path.
    node = min(left)
    path: list[int] = []
    seen: dict[int, int] = {}
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = min(d for d in deps[node] if d in left)
    cycle = path[seen[node]:]
    cycle.reverse()  # producer -> consumer order reads naturally
    return [*cycle, cycle[0]]


def _live_nodes(nodes: list[onnx.NodeProto], outputs: list[str], available: set[str], source: str) -> list[onnx.NodeProto]:
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    for name in outputs:
        if name not in producer and name not in available:
            raise InputError(f"{source}: graph output {name!r} is produced by no node (truncated model?)")
    live: set[int] = set()
    stack = [producer[o] for o in outputs if o in producer]
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        stack.extend(producer[name] for name in nodes[i].input if name in producer)
    dead = [i for i in range(len(nodes)) if i not in live]
    if dead:
        shown = ", ".join(node_label(nodes[i], i) for i in dead[:5])
        more = f" and {len(dead) - 5} more" if len(dead) > 5 else ""
        warn(f"{source}: dropped {len(dead)} node(s) whose outputs reach no graph output: {shown}{more}")
    return [n for i, n in enumerate(nodes) if i in live]


def _data_inputs(nodes: list[onnx.NodeProto], free: list[str]) -> list[str]:
    """Graph inputs without an initializer that carry data, in graph-input order."""
    data_use: set[str] = set()
    elementwise_use: set[str] = set()
    free_set = set(free)
    for node in nodes:
        slots = PARAM_SLOTS.get(node.op_type, frozenset())
        for k, name in enumerate(node.input):
            if name not in free_set or k in slots:
                continue
            (elementwise_use if node.op_type in ELEMENTWISE else data_use).add(name)
    chosen = data_use or elementwise_use
    return [n for n in free if n in chosen]


def _fixed_input_shape(vi: onnx.ValueInfoProto, source: str) -> tuple[int, ...]:
    where = f"{source}: input {vi.name!r}"
    if not vi.type.HasField("tensor_type"):
        raise InputError(f"{where} is not a tensor")
    if not vi.type.tensor_type.HasField("shape"):
        raise InputError(f"{where} has no shape; export the model with a fixed input shape")
    dims: list[int] = []
    for axis, dim in enumerate(vi.type.tensor_type.shape.dim):
        if dim.HasField("dim_value"):
            if dim.dim_value <= 0:
                raise InputError(f"{where} has a zero or negative dimension {dim.dim_value} at axis {axis}")
            dims.append(int(dim.dim_value))
        elif axis == 0:
            label = repr(dim.dim_param) if dim.dim_param else "(unnamed)"
            warn(f"{where}: dynamic batch dimension {label} set to 1")
            dims.append(1)
        else:
            label = repr(dim.dim_param) if dim.dim_param else "(unknown)"
            raise InputError(f"{where} has a dynamic dimension {label} at axis {axis}; a fixed input size is needed")
    if not dims:
        raise InputError(f"{where} is a scalar, not a feature map")
    return tuple(dims)


def _small_values(inits: dict[str, onnx.TensorProto]) -> dict[str, np.ndarray]:
    values = {}
    for name, tensor in inits.items():
        if tensor.data_location == onnx.TensorProto.EXTERNAL or int(np.prod(tensor.dims)) > SMALL_VALUE_LIMIT:
            continue
        try:
            values[name] = numpy_helper.to_array(tensor)
        except Exception:  # noqa: BLE001 - stripped or malformed data: the value stays unknown
            continue
    return values


def _skeleton(
    model: onnx.ModelProto,
    nodes: list[onnx.NodeProto],
    opset: int,
    data_inputs: list[tuple[str, tuple[int, ...]]],
    declared: dict[str, onnx.ValueInfoProto],
    inits: dict[str, onnx.TensorProto],
    values: dict[str, np.ndarray],
) -> onnx.ModelProto:
    """A data-free copy for shape inference: large weights become typed graph inputs."""
    inputs = []
    for name, dims in data_inputs:
        elem = declared[name].type.tensor_type.elem_type or onnx.TensorProto.FLOAT
        inputs.append(onnx.helper.make_tensor_value_info(name, elem, list(dims)))
    data_names = {n for n, _ in data_inputs}
    for name, vi in declared.items():
        if name not in data_names and name not in inits:
            inputs.append(vi)
    kept = []
    for name, tensor in inits.items():
        inputs.append(onnx.helper.make_tensor_value_info(name, tensor.data_type, list(tensor.dims)))
        if name in values:
            kept.append(tensor)
    outputs = [onnx.ValueInfoProto(name=o.name) for o in model.graph.output]
    graph = onnx.helper.make_graph(nodes, model.graph.name or "graph", inputs, outputs, initializer=kept)
    opsets = [o for o in model.opset_import if o.domain not in ("", "ai.onnx")]
    opsets.append(onnx.helper.make_opsetid("", opset))
    skeleton = onnx.helper.make_model(graph, opset_imports=opsets)
    skeleton.ir_version = max(model.ir_version, 3)
    return skeleton
