"""Writer of the PIMCOMP-NN / PIMSYN network JSON format: the inverse of
:func:`fitness.pimcomp.network_from_pimcomp`.

PIMSYN's ``main.py --onnx_path X --network Y`` converts the ONNX model and writes ``Y``
in this format; ``evo-pimsyn pimsyn`` does the same with this writer. Node records carry
the fields of ``tests/data/reference/networks/*.json`` (name, index, operation, bitwidth,
provider/consumer names, counts and indices, input/output dims, param, with_act/with_bn).

What round-trips through ``network_from_pimcomp``: every layer field the hardware model
reads (kind, channels, spatial shapes, kernel, stride, pads, dilation, groups, providers,
charged activations, pool method) and the input shape. How the layout encodes them:

* an ``OP_INPUT`` node first, consumed by every layer that has no provider;
* a layer's charged activations (relu / sigmoid) become a chain of ``OP_RELU`` /
  ``OP_SIGMOID`` nodes right after it, and its consumers hang off the chain's end, as the
  importer's walk charges every activation node met between two compute layers;
* an ``OP_FLATTEN`` node sits on every edge from a layer with a spatial output to an
  FC layer, as PIMCOMP writes it (transparent: costs nothing);
* fused ops are for the record only (they cost nothing): ``relu`` and ``batchnorm`` come
  back through ``with_act`` / ``with_bn``; ``lrn`` and ``tanh`` as ``OP_LRN`` / ``OP_TANH``
  nodes; names PIMCOMP has no op for (clip, bias, ...) are dropped;
* providers come back in ascending layer order (the format keeps consumer lists only).
"""

from __future__ import annotations

from fitness.network import Layer, Network

OPERATION = {"conv": "OP_CONV", "fc": "OP_FC", "pool": "OP_POOL", "eltwise": "OP_ELTWISE"}
ACTIVATION_NODE = {"relu": "OP_RELU", "sigmoid": "OP_SIGMOID"}
FUSED_NODE = {"lrn": "OP_LRN", "tanh": "OP_TANH", "bn": "OP_BN"}
BITWIDTH = 16  # what the reference networks carry; PIMSYN does not read it
ELTWISE_SUM = 2  # PIMCOMP's eletype of the reference ResNet-18's Add nodes


def _dims(channels: int, hw: tuple[int, int], flat: bool) -> list[int]:
    return [1, int(channels)] if flat else [1, int(channels), int(hw[0]), int(hw[1])]


def _param(layer: Layer) -> dict:
    if layer.kind == "conv":
        return {"dilation_h": layer.dilation[0], "dilation_w": layer.dilation[1], "group": layer.groups,
                "input_channel": layer.in_channels, "kernel_h": layer.kernel[0], "kernel_w": layer.kernel[1],
                "output_channel": layer.out_channels, **_window(layer), "with_bias": 1}
    if layer.kind == "fc":
        return {"input_channel": layer.in_channels, "output_channel": layer.out_channels, "with_bias": 1}
    if layer.kind == "pool":
        return {"global": 0, "kernel_h": layer.kernel[0], "kernel_w": layer.kernel[1], **_window(layer),
                "pool_method": 1 if layer.pool_method == "avg" else 0}
    return {"eletype": ELTWISE_SUM}


def _window(layer: Layer) -> dict:
    top, left, bottom, right = layer.pads
    return {"pad_h0": top, "pad_h1": bottom, "pad_w0": left, "pad_w1": right,
            "stride_h": layer.stride[0], "stride_w": layer.stride[1]}


def network_to_pimcomp(network: Network, input_name: str = "input") -> list[dict]:
    """The node list of ``network`` (see the module docstring); ``json.dump`` it."""
    nodes: list[dict] = []
    by_name: dict[str, dict] = {}

    def add(name: str, operation: str, out_dims: list[int], in_dims: list[int] | None, **extra) -> dict:
        node = {"name": name, "index": len(nodes), "operation": operation, "bitwidth": BITWIDTH,
                "provider": [], "consumer": [], "output_dim": out_dims, "output_dim_num": len(out_dims)}
        if in_dims is not None:
            node["input_dim"] = in_dims
            node["input_dim_num"] = len(in_dims)
        node.update(extra)
        nodes.append(node)
        by_name[name] = node
        return node

    def link(src: dict, dst: dict) -> None:
        src["consumer"].append(dst["name"])
        dst["provider"].append(src["name"])

    names = {layer.name for layer in network.layers}

    def fresh(base: str) -> str:
        name, k = base, 1
        while name in names or name in by_name:
            name, k = f"{base}_{k}", k + 1
        names.add(name)
        return name

    c, h, w = network.input_shape
    source = add(fresh(input_name), "OP_INPUT", [1, int(c), int(h), int(w)], None)
    tails: list[dict] = []  # per layer: the node its consumers hang off
    for i, layer in enumerate(network.layers):
        flat_in = layer.kind == "fc"
        out = _dims(layer.out_channels, layer.out_hw, layer.kind == "fc")
        extra: dict = {"param": _param(layer)}
        if layer.is_mvm:
            extra.update(with_act=int("relu" in layer.fused), with_bn=int("batchnorm" in layer.fused), with_clip=0)
        node = add(layer.name, OPERATION[layer.kind], out, _dims(layer.in_channels, layer.in_hw, flat_in), **extra)
        for p in layer.providers or ():
            _connect(tails[p], network.layers[p], node, layer, add, link, fresh)
        if not layer.providers:
            _connect(source, None, node, layer, add, link, fresh)
        tail = node
        for op in layer.fused:
            if op in FUSED_NODE:
                tail = _chain(tail, FUSED_NODE[op], f"{layer.name}__{op}", out, add, link, fresh)
        for act in layer.activations:
            tail = _chain(tail, ACTIVATION_NODE[act], f"{layer.name}__{act}", out, add, link, fresh)
        tails.append(tail)
    for node in nodes:
        if node["operation"] == "OP_INPUT":
            del node["provider"]  # as PIMCOMP writes it: an input has no provider list
        node["provider_num"] = len(node.get("provider", ()))
        node["consumer_num"] = len(node["consumer"])
        node["provider_index"] = [by_name[n]["index"] for n in node.get("provider", ())]
        node["consumer_index"] = [by_name[n]["index"] for n in node["consumer"]]
        node["new_node_index"] = node["index"]
    return nodes


def _chain(tail: dict, operation: str, base: str, dims: list[int], add, link, fresh) -> dict:
    node = add(fresh(base), operation, list(dims), list(dims))
    link(tail, node)
    return node


def _connect(tail: dict, producer: Layer | None, node: dict, layer: Layer, add, link, fresh) -> None:
    """Edge producer -> layer; through an OP_FLATTEN when an FC reads a spatial map."""
    spatial = producer is not None and producer.kind != "fc"
    if layer.kind == "fc" and (spatial or (producer is None and len(tail["output_dim"]) == 4)):
        size = 1
        for d in tail["output_dim"][1:]:
            size *= int(d)
        flat = add(fresh(f"{tail['name']}__flatten"), "OP_FLATTEN", [1, size], list(tail["output_dim"]))
        link(tail, flat)
        tail = flat
    link(tail, node)
