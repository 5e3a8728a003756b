"""From a prepared, shaped ONNX graph to the layer table, with PIMSYN's semantics.

Layers are the compute nodes in (stable topological) node order. Providers and charged
activations come from the same walk PIMSYN does on its JSON: from each layer, follow the
consumers through non-compute nodes; a compute node ends a path (it is a consumer, so this
layer is its provider), a Relu/Sigmoid met on the way is charged to this layer, and a
BatchNorm/LRN/Clip/... met on the way is recorded as fused. So a Relu after an Add belongs
to the Add, and one after a Concat to every layer feeding the Concat, as in PIMSYN.
"""

from __future__ import annotations

import numpy as np

from evo_pimsyn.onnx_frontend import ops
from evo_pimsyn.onnx_frontend.geometry import attributes, window
from evo_pimsyn.onnx_frontend.graph import PreparedGraph
from evo_pimsyn.onnx_frontend.shapes import pad_amounts
from fitness.errors import InputError
from fitness.network import Layer, Network

# Nodes that forward their first input unchanged in shape, looked through when folding Pad.
_TRANSPARENT_FOR_PAD = frozenset({"Identity", "Cast", "Dropout", "QuantizeLinear", "DequantizeLinear"})


def build_network(g: PreparedGraph, name: str) -> Network:
    _index(g)
    roles = [_role(g, i) for i in range(len(g.nodes))]
    compute = [i for i, r in enumerate(roles) if r == "compute"]
    if not any(g.nodes[i].op_type in ops.MVM_OPS for i in compute):
        kinds = ", ".join(sorted({g.nodes[i].op_type for i in compute})) or "no compute op at all"
        raise InputError(f"{g.source}: no conv or fc layer (only {kinds}): nothing to map onto crossbars")
    layer_of = {node: k for k, node in enumerate(compute)}

    providers: list[list[int]] = [[] for _ in compute]
    charged: list[list[str]] = []
    fused: list[list[str]] = []
    for k, i in enumerate(compute):
        acts: list[str] = []
        folded: list[str] = []
        found: list[int] = []
        _walk(g, roles, i, acts, folded, found, set())
        for node in found:
            c = layer_of[node]
            if k not in providers[c]:
                providers[c].append(k)
        charged.append(acts)
        fused.append(folded)

    layers: list[Layer] = []
    for k, i in enumerate(compute):
        geometry = _geometry(g, i, [layers[p] for p in sorted(providers[k])])
        layers.append(
            Layer(
                name=g.nodes[i].output[0],
                providers=tuple(sorted(providers[k])),
                activations=tuple(charged[k]),
                fused=tuple(fused[k]),
                **geometry,
            )
        )
    return Network(name=name, layers=tuple(layers), input_shape=_input_shape(g, layers[0]))


def _input_shape(g: PreparedGraph, first: Layer) -> tuple[int, int, int]:
    dims = g.data_inputs[0][1]
    if first.kind in ("conv", "pool") and not first.providers:
        # The first layer sees the input as NCHW even when the graph takes NHWC and
        # transposes it (tf2onnx): trust the layer when the element counts agree.
        if first.in_channels * first.in_hw[0] * first.in_hw[1] == int(np.prod(dims[1:], dtype=np.int64)):
            return (first.in_channels, *first.in_hw)
    return (dims[1], *_hw(dims)) if len(dims) >= 3 else (dims[-1], 1, 1)


def _index(g: PreparedGraph) -> None:
    g.producer = {o: i for i, n in enumerate(g.nodes) for o in n.output if o}
    g.consumers = {}
    for i, node in enumerate(g.nodes):
        for name in dict.fromkeys(node.input):  # a node reading a tensor twice consumes it once
            if name:
                g.consumers.setdefault(name, []).append(i)


def _is_dynamic(g: PreparedGraph, name: str) -> bool:
    return bool(name) and name not in g.static


def _dynamic_inputs(g: PreparedGraph, i: int) -> list[str]:
    node = g.nodes[i]
    return [node.input[k] for k in ops.data_slots(node) if k < len(node.input) and _is_dynamic(g, node.input[k])]


def _role(g: PreparedGraph, i: int) -> str:
    node = g.nodes[i]
    if not any(_is_dynamic(g, o) for o in node.output):
        return "static"
    key = ops.op_key(node)
    if key is None or key in ops.STATIC_ONLY:
        raise InputError(
            f"{g.source}: {g.label(i)}: op {ops.op_display(node)!r} is not supported; supported ops: {', '.join(ops.SUPPORTED)}"
        )
    if key in ops.MVM_OPS or key in ops.POOL_OPS:
        return "compute"
    if key in ops.ELTWISE_OPS or key in ops.AFFINE:
        n_dynamic = len(_dynamic_inputs(g, i))
        if n_dynamic >= 2:
            if key not in ops.ELTWISE_OPS:
                raise InputError(f"{g.source}: {g.label(i)}: {key} of two activations is not supported (only Add, Sum, Sub, Mul)")
            return "compute"
        has_static = any(name and not _is_dynamic(g, name) for name in node.input)
        return "fused" if has_static else "routing"
    if key in ops.CHARGED:
        return "charged"
    if key in ops.FUSED:
        return "fused"
    return "routing"


def _walk(g: PreparedGraph, roles: list[str], start: int, acts: list[str], folded: list[str], found: list[int], seen: set[int]) -> None:
    """Depth-first, consumers in node order (PIMSYN's recursion, with an explicit stack)."""

    def consumers(i: int) -> list[tuple[int, str]]:
        return [(c, out) for out in g.nodes[i].output if _is_dynamic(g, out) for c in g.consumers.get(out, ())]

    stack = consumers(start)[::-1]
    while stack:
        c, tensor = stack.pop()
        role = roles[c]
        if role == "static":
            continue  # Shape of an activation: a shape computation, not data flow
        if role == "compute":
            if tensor in _dynamic_inputs(g, c) and c not in found:
                found.append(c)
            continue
        if c in seen:
            continue
        seen.add(c)
        op = g.nodes[c].op_type
        if role == "charged":
            acts.append(ops.CHARGED[op])
        elif role == "fused":
            folded.append(ops.FUSED.get(op) or ops.AFFINE[op])
        stack.extend(consumers(c)[::-1])


# ---- geometry of one layer ------------------------------------------------------------------

def _shape(g: PreparedGraph, name: str, i: int, what: str) -> tuple[int, ...]:
    dims = g.shapes.get(name)
    if dims is None:
        raise InputError(f"{g.source}: {g.label(i)}: cannot determine the shape of its {what} {name!r}")
    if any(d <= 0 for d in dims):
        raise InputError(f"{g.source}: {g.label(i)}: {what} {name!r} has a zero or negative dimension {list(dims)}")
    return dims


def _hw(dims: tuple[int, ...]) -> tuple[int, int]:
    if len(dims) == 4:
        return (dims[2], dims[3])
    if len(dims) == 3:
        return (1, dims[2])  # 1-D feature map (N, C, L): a 1 x L image
    return (1, 1)


def _spatial_rank_check(g: PreparedGraph, i: int, dims: tuple[int, ...]) -> None:
    if len(dims) not in (3, 4):
        kind = "3-D" if len(dims) == 5 else f"rank-{len(dims)}"
        raise InputError(f"{g.source}: {g.label(i)}: {kind} input {list(dims)} is not supported (only 1-D and 2-D feature maps)")


def _pair(values: tuple[int, ...], fill: int) -> tuple[int, int]:
    return (values[0], values[1]) if len(values) == 2 else (fill, values[0])


def _geometry(g: PreparedGraph, i: int, providers: list[Layer]) -> dict:
    node = g.nodes[i]
    op = node.op_type
    if op in ops.MVM_OPS:
        return _conv(g, i) if ops.MVM_OPS[op] == "conv" else _fc(g, i)
    if op in ops.POOL_OPS:
        return _pool(g, i)
    return _eltwise(g, i, providers)


def _unpadded_input(g: PreparedGraph, i: int) -> tuple[str, list[int]]:
    """The conv/pool input before any Pad nodes, and the spatial pads they add (begin..., end...)."""
    name = g.nodes[i].input[0]
    extra: list[int] | None = None
    while name in g.producer:
        p = g.producer[name]
        node = g.nodes[p]
        if node.op_type == "Pad":
            rank = len(_shape(g, node.input[0], p, "input"))
            try:
                pads = pad_amounts(node, attributes(node), [g.values.get(n) if n else None for n in node.input], rank, g.opset)
            except (TypeError, ValueError, IndexError, KeyError):
                raise InputError(f"{g.source}: {g.label(p)}: pad amounts are not constant") from None
            if any(pads[a] or pads[a + rank] for a in (0, 1)):
                raise InputError(f"{g.source}: {g.label(p)}: padding the batch or channel axis is not supported")
            spatial = pads[2:rank] + pads[rank + 2:]
            if any(v < 0 for v in spatial):
                raise InputError(f"{g.source}: {g.label(p)}: negative pads (cropping) {pads} are not supported")
            extra = spatial if extra is None else [a + b for a, b in zip(extra, spatial)]
        elif node.op_type not in _TRANSPARENT_FOR_PAD:
            break
        name = node.input[0]
    if extra is None:
        return g.nodes[i].input[0], []
    return name, extra


def _conv(g: PreparedGraph, i: int) -> dict:
    node = g.nodes[i]
    attrs = attributes(node)
    where = f"{g.source}: {g.label(i)}"
    w_name = node.input[ops.weight_slot(node.op_type)]
    if _is_dynamic(g, w_name):
        raise InputError(f"{where}: weight {w_name!r} is computed from the network input; only constant weights map onto crossbars")
    x_name, pad_extra = _unpadded_input(g, i)
    x = _shape(g, x_name, i, "input")
    _spatial_rank_check(g, i, x)
    padded = _shape(g, node.input[0], i, "input")
    w = _shape(g, w_name, i, "weight")
    y = _shape(g, node.output[0], i, "output")
    if len(w) != len(x):
        raise InputError(f"{where}: weight shape {list(w)} does not fit input shape {list(x)}")
    groups = int(attrs.get("group", 1))
    if groups <= 0 or x[1] % groups or w[1] * groups != x[1]:
        raise InputError(f"{where}: input has {x[1]} channels but weight {list(w)} with group={groups} expects {w[1] * groups}")
    return dict(
        kind="conv",
        in_channels=x[1],
        out_channels=w[0],
        in_hw=_hw(x),
        out_hw=_hw(y),
        **_window_fields(node, attrs, padded, attrs.get("kernel_shape") or w[2:], pad_extra, where),
        groups=groups,
    )


def _window_fields(node, attrs: dict, padded: tuple[int, ...], kernel_shape, pad_extra: list[int] | None,
                   where: str) -> dict:
    """kernel, stride, pads and dilation of a conv or pool over the ``padded`` input, with
    the pads of a Pad node folded into it (``pad_extra``) added to its own."""
    win = window(node, attrs, padded[2:], kernel_shape, where)
    n = len(win.kernel)
    begin = [b + (pad_extra[a] if pad_extra else 0) for a, b in enumerate(win.begin)]
    end = [e + (pad_extra[a + n] if pad_extra else 0) for a, e in enumerate(win.end)]
    return dict(kernel=_pair(win.kernel, 1), stride=_pair(win.strides, 1), pads=_pads(begin, end),
                dilation=_pair(win.dilations, 1))


def _pads(begin: list[int], end: list[int]) -> tuple[int, int, int, int]:
    if len(begin) == 2:
        return (begin[0], begin[1], end[0], end[1])
    return (0, begin[0], 0, end[0])


def _fc(g: PreparedGraph, i: int) -> dict:
    node = g.nodes[i]
    attrs = attributes(node)
    where = f"{g.source}: {g.label(i)}"
    w_name = node.input[ops.weight_slot(node.op_type)]
    if _is_dynamic(g, w_name):
        raise InputError(
            f"{where}: second input {w_name!r} is an activation; only a matrix product with a constant weight is an fc layer"
        )
    a = _shape(g, node.input[0], i, "input")
    w = _shape(g, w_name, i, "weight")
    y = _shape(g, node.output[0], i, "output")
    if node.op_type == "Gemm":
        if len(a) != 2 or len(w) != 2:
            raise InputError(f"{where}: Gemm needs 2-D operands, got {list(a)} and {list(w)}")
        k = a[0] if attrs.get("transA", 0) else a[1]
        w_in, w_out = (w[1], w[0]) if attrs.get("transB", 0) else (w[0], w[1])
        lead: tuple[int, ...] = ()
    else:
        if len(w) != 2:
            raise InputError(f"{where}: MatMul weight {w_name!r} has shape {list(w)}; only a constant 2-D weight is an fc layer")
        k, (w_in, w_out) = a[-1], w
        lead = a[1:-1] if len(a) >= 3 else ()
    if w_in != k:
        raise InputError(f"{where}: input has {k} features but weight {list(w)} expects {w_in}")
    rows = int(np.prod(lead, dtype=np.int64)) if lead else 1
    if rows > 1:
        # The same matrix applied at every position of a (N, H, W, C) or (N, L, C) tensor
        # is a 1x1 convolution over those positions; as such it keeps its true MAC count.
        if len(lead) > 2:
            raise InputError(f"{where}: MatMul over a rank-{len(a)} input {list(a)} is not supported")
        hw = (lead[0], lead[1]) if len(lead) == 2 else (1, lead[0])
        return dict(kind="conv", in_channels=k, out_channels=w_out, in_hw=hw, out_hw=hw)
    if y[-1] != w_out:
        raise InputError(f"{where}: output shape {list(y)} does not match weight {list(w)}")
    return dict(kind="fc", in_channels=k, out_channels=w_out, in_hw=(1, 1), out_hw=(1, 1))


def _pool(g: PreparedGraph, i: int) -> dict:
    node = g.nodes[i]
    op = node.op_type
    attrs = attributes(node)
    where = f"{g.source}: {g.label(i)}"
    method = ops.POOL_OPS[op]
    if op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "QLinearGlobalAveragePool"):
        x = _shape(g, node.input[0], i, "input")
        _spatial_rank_check(g, i, x)
        if attrs.get("channels_last", 0):
            raise InputError(f"{where}: channels_last layout is not supported")
        channels, hw = x[1], _hw(x)
        if op.startswith("Reduce") and _check_spatial_axes(g, i, attrs, len(x)) == "nhwc":
            channels, hw = x[3], (x[1], x[2])
        return dict(kind="pool", in_channels=channels, out_channels=channels, in_hw=hw, out_hw=(1, 1), kernel=hw, pool_method=method)
    if "kernel_shape" not in attrs:
        raise InputError(f"{where}: {op} has no kernel_shape")
    x_name, pad_extra = _unpadded_input(g, i)
    x = _shape(g, x_name, i, "input")
    _spatial_rank_check(g, i, x)
    padded = _shape(g, node.input[0], i, "input")
    y = _shape(g, node.output[0], i, "output")
    return dict(
        kind="pool",
        in_channels=x[1],
        out_channels=x[1],
        in_hw=_hw(x),
        out_hw=_hw(y),
        **_window_fields(node, attrs, padded, attrs["kernel_shape"], pad_extra, where),
        pool_method=method,
    )


def _check_spatial_axes(g: PreparedGraph, i: int, attrs: dict, rank: int) -> str:
    """'nchw' for a reduction over H, W of NCHW; 'nhwc' over axes 1, 2 of a rank-4 tensor
    (tf2onnx leaves global pools in TensorFlow's layout)."""
    node = g.nodes[i]
    if len(node.input) > 1 and node.input[1]:
        value = g.values.get(node.input[1])
        if value is None:
            raise InputError(f"{g.source}: {g.label(i)}: reduction axes are not constant")
        axes = [int(a) for a in np.ravel(value)]
    else:
        axes = list(attrs.get("axes") or [])
    if not axes and attrs.get("noop_with_empty_axes", 0):
        raise InputError(f"{g.source}: {g.label(i)}: {node.op_type} with no axes is a no-op, not a pool")
    normal = sorted({a % rank for a in axes}) if axes else list(range(rank))
    if rank == 4 and normal == [1, 2]:
        return "nhwc"
    if normal != list(range(2, rank)):
        raise InputError(
            f"{g.source}: {g.label(i)}: {node.op_type} over axes {axes or 'all'} is not a global pool over H, W "
            f"(axes {list(range(2, rank))} of a rank-{rank} input)"
        )
    return "nchw"


def _eltwise(g: PreparedGraph, i: int, providers: list[Layer]) -> dict:
    node = g.nodes[i]
    y = _shape(g, node.output[0], i, "output")
    for p in providers:
        # tf2onnx leaves element-wise ops in TensorFlow's NHWC layout: a tensor shaped
        # (N, H, W, C) like a provider's output map is that map.
        if len(y) == 4 and p.out_channels != y[1] and tuple(y[1:]) == (*p.out_hw, p.out_channels):
            return dict(kind="eltwise", in_channels=p.out_channels, out_channels=p.out_channels, in_hw=p.out_hw, out_hw=p.out_hw)
    channels = y[1] if len(y) >= 2 else (y[0] if y else 1)
    return dict(kind="eltwise", in_channels=channels, out_channels=channels, in_hw=_hw(y), out_hw=_hw(y))
