"""Tensor shapes: ONNX shape inference first, our own op rules where it gives up.

ONNX inference leaves holes: contrib ops (com.microsoft QLinearAdd), Reshape targets
computed by shape arithmetic it cannot fold, weights declared as graph inputs without a
shape. One pass in topological order fills them from the op semantics, folding small
static tensors (Reshape targets, Pad amounts, axes) with numpy along the way.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from evo_pimsyn.onnx_frontend.geometry import attributes, window
from evo_pimsyn.onnx_frontend.graph import SMALL_VALUE_LIMIT, PreparedGraph

Shape = tuple[int, ...]


def resolve(g: PreparedGraph) -> None:
    """Fill ``g.shapes`` (every tensor whose shape is known) and ``g.values`` (small statics)."""
    inferred = _onnx_inference(g.skeleton)
    shapes: dict[str, Shape] = {}
    for vi in g.skeleton.graph.input:
        dims = _dims(vi)
        if dims is not None and None not in dims:
            shapes[vi.name] = dims
    shapes.update(dict(g.data_inputs))
    values = g.values
    for node in g.nodes:
        ins = [shapes.get(name) if name else None for name in node.input]
        vals = [values.get(name) if name else None for name in node.input]
        attrs = attributes(node)
        own: list[Shape | None] | None = None
        for k, out in enumerate(node.output):
            if not out:
                continue
            dims = inferred.get(out)
            if dims is None or None in dims:
                if own is None:
                    own = _own_rule(node, attrs, ins, vals, g.opset)
                dims = own[k] if k < len(own) else None
            if dims is not None:
                shapes[out] = tuple(int(d) for d in dims)
        if node.output and node.output[0] in g.static:
            _fold(node, attrs, ins, vals, shapes, values)
    g.shapes = shapes


def _dims(vi: onnx.ValueInfoProto) -> tuple[int | None, ...] | None:
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    return tuple(int(d.dim_value) if d.HasField("dim_value") else None for d in t.shape.dim)


def _onnx_inference(model: onnx.ModelProto) -> dict[str, tuple[int | None, ...]]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is a helper; our own rules take over
        return {}
    out = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = _dims(vi)
        if dims is not None:
            out[vi.name] = dims
    return out


# ---- our own shape rules ----------------------------------------------------------------

def _own_rule(node, attrs, ins, vals, opset) -> list[Shape | None]:
    rule = _RULES.get(node.op_type)
    if rule is None:
        return []
    try:
        out = rule(node, attrs, ins, vals, opset)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, AttributeError):
        return []  # something it needs is unknown; the layer builder reports what is missing
    return out if isinstance(out, list) else [out]


def _same(node, attrs, ins, vals, opset):
    return [ins[0]] * len(node.output)


def _broadcast(*shapes: Sequence[int]) -> Shape:
    return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))


def _elementwise(node, attrs, ins, vals, opset):
    data = [ins[i] for i in _data_slots(node.op_type, len(ins))]
    if opset < 7 and node.op_type in ("Add", "Sub", "Mul", "Div"):
        return ins[0]  # legacy broadcast (attribute broadcast/axis): output is shaped like A
    return _broadcast(*data)


def _data_slots(op: str, n: int) -> list[int]:
    return [0, 3] if op in ("QLinearAdd", "QLinearMul") else list(range(n))


def _conv(node, attrs, ins, vals, opset):
    w_slot = 3 if node.op_type == "QLinearConv" else 1
    x, w = ins[0], ins[w_slot]
    kernel = attrs.get("kernel_shape") or w[2:]
    win = window(node, attrs, x[2:], kernel, "")
    return (x[0], w[0], *win.output(x[2:]))


def _pool(node, attrs, ins, vals, opset):
    x = ins[0]
    win = window(node, attrs, x[2:], attrs["kernel_shape"], "")
    y = (x[0], x[1], *win.output(x[2:]))
    return [y, y] if len(node.output) > 1 else [y]


def _global_pool(node, attrs, ins, vals, opset):
    x = ins[0]
    return (x[0], x[1], *[1] * (len(x) - 2))


def _axes(attrs, vals, slot: int, opset_input: bool) -> list[int] | None:
    if opset_input:
        return None if len(vals) <= slot or vals[slot] is None else [int(a) for a in np.ravel(vals[slot])]
    return attrs.get("axes")


def _reduce(node, attrs, ins, vals, opset):
    x = ins[0]
    axes = _axes(attrs, vals, 1, len(node.input) > 1)
    if not axes:
        if attrs.get("noop_with_empty_axes", 0):
            return x
        axes = list(range(len(x)))
    axes = {a % len(x) for a in axes}
    if attrs.get("keepdims", 1):
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _gemm(node, attrs, ins, vals, opset):
    a, b = ins[0], ins[1]
    m = a[1] if attrs.get("transA", 0) else a[0]
    n = b[0] if attrs.get("transB", 0) else b[1]
    return (m, n)


def _matmul(node, attrs, ins, vals, opset):
    a, b = (ins[0], ins[3]) if node.op_type == "QLinearMatMul" else (ins[0], ins[1])
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError("matmul mismatch")
    out = (*_broadcast(a2[:-2], b2[:-2]), a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return tuple(out)


def _concat(node, attrs, ins, vals, opset):
    known = [s for s in ins if s is not None]
    axis = attrs.get("axis", 1) % len(known[0])
    if len(known) != len(ins):
        raise ValueError("unknown input")
    total = sum(s[axis] for s in known)
    return tuple(total if i == axis else d for i, d in enumerate(known[0]))


def _qlinear_concat(node, attrs, ins, vals, opset):
    return _concat(node, attrs, ins[2::3], vals, opset)


def _flatten(node, attrs, ins, vals, opset):
    x = ins[0]
    axis = attrs.get("axis", 1) % (len(x) + 1) if x else 0
    return (int(np.prod(x[:axis], dtype=np.int64)), int(np.prod(x[axis:], dtype=np.int64)))


def _reshape(node, attrs, ins, vals, opset):
    x = ins[0]
    target = attrs.get("shape") if len(node.input) < 2 else vals[1]
    target = [int(t) for t in np.ravel(target)]
    allow_zero = attrs.get("allowzero", 0)
    out = [x[i] if t == 0 and not allow_zero else t for i, t in enumerate(target)]
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        out[out.index(-1)] = int(np.prod(x, dtype=np.int64)) // known
    return tuple(out)


def _transpose(node, attrs, ins, vals, opset):
    x = ins[0]
    perm = attrs.get("perm") or list(reversed(range(len(x))))
    return tuple(x[p] for p in perm)


def _squeeze(node, attrs, ins, vals, opset):
    x = ins[0]
    axes = _axes(attrs, vals, 1, len(node.input) > 1)
    if axes is None:
        return tuple(d for d in x if d != 1)
    drop = {a % len(x) for a in axes}
    return tuple(d for i, d in enumerate(x) if i not in drop)


def _unsqueeze(node, attrs, ins, vals, opset):
    x = ins[0]
    axes = _axes(attrs, vals, 1, len(node.input) > 1)
    rank = len(x) + len(axes)
    put = {a % rank for a in axes}
    it = iter(x)
    return tuple(1 if i in put else next(it) for i in range(rank))


def pad_amounts(node, attrs, vals, rank: int, opset: int) -> list[int]:
    if opset < 11:
        pads = attrs.get("pads", attrs.get("paddings"))
    else:
        pads = vals[1]
    pads = [int(p) for p in np.ravel(pads)]
    axes_val = vals[3] if len(vals) > 3 and vals[3] is not None else None
    if axes_val is None:
        return pads
    axes = [int(a) % rank for a in np.ravel(axes_val)]
    full = [0] * (2 * rank)
    for i, a in enumerate(axes):
        full[a], full[a + rank] = pads[i], pads[i + len(axes)]
    return full


def _pad(node, attrs, ins, vals, opset):
    x = ins[0]
    pads = pad_amounts(node, attrs, vals, len(x), opset)
    n = len(x)
    return tuple(d + pads[i] + pads[i + n] for i, d in enumerate(x))


def _slice(node, attrs, ins, vals, opset):
    x = ins[0]
    if opset < 10:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        starts, ends = np.ravel(vals[1]), np.ravel(vals[2])
        axes = np.ravel(vals[3]) if len(vals) > 3 and vals[3] is not None else None
        steps = np.ravel(vals[4]) if len(vals) > 4 and vals[4] is not None else None
    axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    out = list(x)
    for a, s, e, st in zip(axes, starts, ends, steps):
        a %= len(x)
        out[a] = len(range(*slice(int(s), int(e), st).indices(x[a])))
    return tuple(out)


def _split(node, attrs, ins, vals, opset):
    x = ins[0]
    axis = attrs.get("axis", 0) % len(x)
    parts = attrs.get("split") if opset < 13 else (vals[1] if len(vals) > 1 else None)
    n = len(node.output)
    if parts is None:
        size = -(-x[axis] // n)
        parts = [size] * (n - 1) + [x[axis] - size * (n - 1)]
    return [tuple(int(p) if i == axis else d for i, d in enumerate(x)) for p in np.ravel(parts)]


def _gather(node, attrs, ins, vals, opset):
    x, idx = ins[0], ins[1]
    axis = attrs.get("axis", 0) % len(x)
    return (*x[:axis], *idx, *x[axis + 1:])


def _shape(node, attrs, ins, vals, opset):
    rank = len(ins[0])
    start, end = attrs.get("start", 0), attrs.get("end", rank)
    return (len(range(*slice(start, end).indices(rank))),)


def _constant(node, attrs, ins, vals, opset):
    return np.shape(_constant_value(attrs))


def _constant_of_shape(node, attrs, ins, vals, opset):
    return tuple(int(v) for v in np.ravel(vals[0]))


def _expand(node, attrs, ins, vals, opset):
    return _broadcast(ins[0], [int(v) for v in np.ravel(vals[1])])


def _tile(node, attrs, ins, vals, opset):
    return tuple(d * int(r) for d, r in zip(ins[0], np.ravel(vals[1])))


_UNARY = (
    "Relu Sigmoid Tanh LeakyRelu HardSigmoid HardSwish Clip BatchNormalization LRN Dropout Identity Cast "
    "CastLike Softmax LogSoftmax PRelu Elu Selu Celu Softplus Softsign Mish Gelu ThresholdedRelu Erf Sqrt "
    "Neg Abs Exp Log Reciprocal Floor Ceil Round Not QuantizeLinear DequantizeLinear InstanceNormalization LayerNormalization "
    "QLinearSigmoid QLinearLeakyRelu"
).split()
_RULES: dict[str, Callable[..., Any]] = {op: _same for op in _UNARY}
_RULES.update(
    {op: _elementwise for op in ("Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Pow", "Equal", "Where", "QLinearAdd", "QLinearMul")}
)
_RULES.update(
    Conv=_conv, QLinearConv=_conv, MaxPool=_pool, AveragePool=_pool, LpPool=_pool,
    GlobalAveragePool=_global_pool, GlobalMaxPool=_global_pool, ReduceMean=_reduce, ReduceMax=_reduce,
    ReduceSum=_reduce, ReduceProd=_reduce, ReduceMin=_reduce, Gemm=_gemm, MatMul=_matmul,
    QLinearMatMul=_matmul, Concat=_concat, Flatten=_flatten, Reshape=_reshape, Transpose=_transpose,
    Squeeze=_squeeze, Unsqueeze=_unsqueeze, Pad=_pad, Slice=_slice, Split=_split, Gather=_gather,
    Shape=_shape, Size=lambda *a: (), Constant=_constant, ConstantOfShape=_constant_of_shape,
    Expand=_expand, Tile=_tile, QLinearAveragePool=_pool, QLinearGlobalAveragePool=_global_pool,
    QLinearConcat=_qlinear_concat,
)


# ---- folding small static tensors ---------------------------------------------------------

def _constant_value(attrs: dict[str, Any]) -> np.ndarray:
    for key, value in attrs.items():
        if key == "value":
            return numpy_helper.to_array(value)
        if key == "sparse_value":
            return numpy_helper.to_array(value.values)  # only its shape matters here
        if key in ("value_float", "value_int"):
            return np.array(value, dtype=np.float32 if key == "value_float" else np.int64)
        if key in ("value_floats", "value_ints"):
            return np.array(value, dtype=np.float32 if key == "value_floats" else np.int64)
        if key in ("value_string", "value_strings"):
            return np.array(value, dtype=object)
    raise ValueError("Constant without a value")


def _fold(node, attrs, ins, vals, shapes, values) -> None:
    out = node.output[0]
    if out in shapes and int(np.prod(shapes[out], dtype=np.int64)) > SMALL_VALUE_LIMIT:
        return
    try:
        result = _fold_value(node, attrs, ins, vals, shapes)
    except Exception:  # noqa: BLE001 - an unfoldable value just stays unknown
        return
    if result is not None and np.size(result) <= SMALL_VALUE_LIMIT:
        values[out] = np.asarray(result)


def _fold_value(node, attrs, ins, vals, shapes):
    op = node.op_type
    if op == "Constant":
        return _constant_value(attrs)
    if op == "Shape":
        rank = len(ins[0])
        return np.array(ins[0][slice(attrs.get("start", 0), attrs.get("end", rank))], dtype=np.int64)
    if op == "Size":
        return np.array(int(np.prod(ins[0], dtype=np.int64)), dtype=np.int64)
    if any(v is None for v, name in zip(vals, node.input) if name):
        return None
    x = vals[0] if vals else None
    if op in ("Identity", "Dropout"):
        return x
    if op == "Cast":
        return x.astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
    if op == "ConstantOfShape":
        fill = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, np.float32)
        return np.full([int(v) for v in np.ravel(x)], fill.ravel()[0], dtype=fill.dtype)
    if op == "Gather":
        return np.take(x, vals[1].astype(np.int64), axis=attrs.get("axis", 0))
    if op == "Slice":
        return _slice_value(node, attrs, vals, x)
    if op in ("Unsqueeze", "Squeeze", "Reshape", "Flatten"):
        return x.reshape(shapes[node.output[0]])
    if op in ("Expand", "Tile"):
        return np.broadcast_to(x, shapes[node.output[0]]) if op == "Expand" else np.tile(x, vals[1].astype(np.int64))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(v) for v in vals], axis=attrs.get("axis", 0))
    if op == "Transpose":
        return np.transpose(x, attrs.get("perm"))
    if op in _ARITH:
        return _ARITH[op](*vals)
    if op in _NARY:
        return functools.reduce(_NARY[op], vals)
    if op == "Range":
        return np.arange(vals[0], vals[1], vals[2])
    if op == "ReduceProd":
        return np.prod(x, keepdims=bool(attrs.get("keepdims", 1)))
    return None


def _slice_value(node, attrs, vals, x):
    if len(vals) == 1:  # opset < 10: starts/ends/axes are attributes
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes") or range(len(starts)), [1] * len(starts)
    else:
        starts, ends = np.ravel(vals[1]), np.ravel(vals[2])
        axes = np.ravel(vals[3]) if len(vals) > 3 and vals[3] is not None else range(len(starts))
        steps = np.ravel(vals[4]) if len(vals) > 4 and vals[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return x[tuple(index)]


def _div(a, b):
    if np.issubdtype(np.asarray(a).dtype, np.integer):
        return (np.trunc(np.asarray(a) / np.asarray(b))).astype(np.asarray(a).dtype)
    return np.asarray(a) / np.asarray(b)


_ARITH: dict[str, Callable[..., Any]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _div, "Neg": np.negative,
    "Abs": np.abs, "Floor": np.floor, "Ceil": np.ceil, "Equal": np.equal, "Where": np.where, "Sqrt": np.sqrt,
}
_NARY: dict[str, Callable[..., Any]] = {"Max": np.maximum, "Min": np.minimum, "Sum": np.add}
