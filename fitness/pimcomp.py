"""Import of the PIMCOMP-NN / PIMSYN network JSON format (MODEL.md §1.1, §3).

The result is the same layer table, in the same layer order, that PIMSYN builds: compute
layers are the CONV/FC/POOL/ELTWISE nodes in list order; providers are rebuilt from the
consumer lists by walking through transparent nodes; RELU and SIGMOID nodes met on that
walk become charged activations of the layer (activations already fused by the frontend,
``with_act``, cost nothing, as in PIMSYN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fitness.errors import InputError
from fitness.jsonio import read_json
from fitness.network import Layer, Network

COMPUTE_OPS = {"OP_CONV": "conv", "OP_FC": "fc", "OP_POOL": "pool", "OP_ELTWISE": "eltwise"}
ACTIVATION_OPS = {"OP_RELU": "relu", "OP_SIGMOID": "sigmoid"}


def looks_like_pimcomp(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "operation" in data[0]


def _dims(node: dict, key: str, where: str) -> list[int]:
    dims = node.get(key)
    if not isinstance(dims, list) or len(dims) not in (2, 4) or not all(isinstance(d, int) for d in dims):
        raise InputError(f"{where}: {key} must be a list of 2 or 4 integers, got {dims!r}")
    if any(d <= 0 for d in dims[1:]):
        raise InputError(f"{where}: {key} has a zero or negative dimension: {dims}")
    return dims


def _chw(dims: list[int]) -> tuple[int, int, int]:
    return (dims[1], dims[2], dims[3]) if len(dims) == 4 else (dims[1], 1, 1)


def network_from_pimcomp(nodes: list, name: str = "network", source: str = "network") -> Network:
    if not looks_like_pimcomp(nodes):
        raise InputError(f"{source}: not a PIMCOMP network JSON (expected a list of nodes with 'operation')")
    by_name: dict[str, dict] = {}
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or "name" not in node or "operation" not in node:
            raise InputError(f"{source}: node {i} lacks 'name' or 'operation'")
        by_name[str(node["name"])] = node

    compute = [n for n in nodes if n["operation"] in COMPUTE_OPS]
    index_of = {str(n["name"]): i for i, n in enumerate(compute)}

    def walk(start: dict, acts: list[str], found: list[int], fused: list[str], seen: set[str]) -> None:
        for cname in start.get("consumer", []) or []:
            if cname not in by_name:
                raise InputError(f"{source}: node {start['name']!r} names unknown consumer {cname!r}")
            child = by_name[cname]
            if child["operation"] in COMPUTE_OPS:
                if index_of[cname] not in found:
                    found.append(index_of[cname])
                continue
            if cname in seen:
                continue
            seen.add(cname)
            if child["operation"] in ACTIVATION_OPS:
                acts.append(ACTIVATION_OPS[child["operation"]])
            elif child["operation"] in ("OP_BN", "OP_LRN", "OP_TANH"):
                fused.append(child["operation"][3:].lower())
            walk(child, acts, found, fused, seen)

    consumers: list[list[int]] = []
    activations: list[list[str]] = []
    fused_ops: list[list[str]] = []
    for node in compute:
        acts: list[str] = []
        found: list[int] = []
        fused: list[str] = []
        if node.get("with_act"):
            fused.append("relu")
        if node.get("with_bn"):
            fused.append("batchnorm")
        walk(node, acts, found, fused, set())
        consumers.append(found)
        activations.append(acts)
        fused_ops.append(fused)

    providers: list[list[int]] = [[] for _ in compute]
    for p, cons in enumerate(consumers):
        for c in cons:
            if c <= p:
                raise InputError(f"{source}: layer {compute[c]['name']!r} consumes a later layer; nodes must be in topological order")
            providers[c].append(p)

    layers = []
    out_shapes: list[tuple[int, int, int]] = []
    for i, node in enumerate(compute):
        where = f"{source}: layer {node['name']!r}"
        kind = COMPUTE_OPS[node["operation"]]
        param = node.get("param") or {}
        out_c, out_h, out_w = _chw(_dims(node, "output_dim", where))
        if "input_dim" in node:
            in_c, in_h, in_w = _chw(_dims(node, "input_dim", where))
        elif providers[i]:
            in_c, in_h, in_w = out_shapes[providers[i][0]]
        else:
            in_c, in_h, in_w = out_c, out_h, out_w
        kernel, stride, pads, dilation, groups = (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1
        pool_method = None
        if kind in ("conv", "pool"):
            try:
                kernel = (int(param["kernel_h"]), int(param["kernel_w"]))
                stride = (int(param["stride_h"]), int(param["stride_w"]))
            except KeyError as exc:
                raise InputError(f"{where}: param lacks {exc.args[0]!r}") from None
            pads = tuple(int(param.get(k, 0)) for k in ("pad_h0", "pad_w0", "pad_h1", "pad_w1"))
        if kind == "conv":
            dilation = (int(param.get("dilation_h", 1)), int(param.get("dilation_w", 1)))
            groups = int(param.get("group", 1))
        if kind in ("conv", "fc"):
            if "input_channel" not in param:
                raise InputError(f"{where}: param lacks 'input_channel'")
            in_c = int(param["input_channel"])
        if kind == "fc":
            out_h = out_w = in_h = in_w = 1
        if kind == "pool":
            pool_method = "avg" if param.get("pool_method", 0) == 1 else "max"
        out_shapes.append((out_c, out_h, out_w))
        layers.append(
            Layer(
                name=str(node["name"]),
                kind=kind,
                in_channels=in_c,
                out_channels=out_c,
                in_hw=(in_h, in_w),
                out_hw=(out_h, out_w),
                kernel=kernel,
                stride=stride,
                pads=pads,
                dilation=dilation,
                groups=groups,
                providers=tuple(providers[i]),
                activations=tuple(activations[i]),
                fused=tuple(fused_ops[i]),
                pool_method=pool_method,
            )
        )
    first = nodes[0]
    input_shape = _chw(first["output_dim"]) if first.get("operation") == "OP_INPUT" else (layers[0].in_channels, *layers[0].in_hw)
    return Network(name=name, layers=tuple(layers), input_shape=input_shape)


def load_pimcomp(path: str | Path) -> Network:
    path = Path(path)
    return network_from_pimcomp(read_json(path), name=path.stem, source=str(path))
