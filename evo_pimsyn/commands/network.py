"""``evo-pimsyn network``: the layer table of a model, as the hardware model sees it.

Prints one row per compute layer (conv, fc, pool, eltwise) with shapes, MACs, weights and
the crossbars one copy of its weights needs, then totals. ``-o`` writes the table as JSON
(the ``{"layers": [...]}`` schema other tools read); ``--save-onnx`` writes the ONNX graph
of a zoo model (for an .onnx MODEL, the graph as read: external weight files are not copied).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evo_pimsyn.models import MODEL_HELP, load_model, load_model_proto
from fitness.errors import InputError
from fitness.network import Layer, Network

WEIGHT_BITS = 16  # PIMSYN's weight_res: a weight spans ceil(16 / rram_res) crossbar slices


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "network",
        help="print the layer table of a model (shapes, MACs, weights, crossbars)",
        description="Print the compute layers of MODEL with shapes, MACs, weights and crossbar sets, then totals.",
    )
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("-o", "--output", metavar="layers.json", help="also write the layer table as JSON")
    p.add_argument("--xbar-size", type=int, choices=(128, 256, 512), default=256, help="crossbar rows = columns (default 256)")
    p.add_argument("--rram-res", type=int, choices=(1, 2, 4), default=2, help="bits per ReRAM cell (default 2)")
    p.add_argument("--save-onnx", metavar="FILE", help="write the model's ONNX graph (zoo:NAME or .onnx input)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    network = load_model(args.model)
    slices = -(-WEIGHT_BITS // args.rram_res)
    sys.stdout.write(format_table(network, args.xbar_size, slices))
    if args.output:
        _write(Path(args.output), json.dumps(network.to_dict(), indent=1) + "\n")
    if args.save_onnx:
        import onnx  # about 1 s: only --save-onnx needs it (evo_pimsyn.models)

        model = load_model_proto(args.model)
        try:
            onnx.save(model, args.save_onnx)
        except OSError as exc:
            raise InputError(f"{args.save_onnx}: cannot write ({exc.strerror or exc})") from None
    return 0


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _chw(channels: int, hw: tuple[int, int]) -> str:
    return f"{channels}x{hw[0]}x{hw[1]}"


def _pair(p: tuple[int, int]) -> str:
    return f"{p[0]}x{p[1]}"


def _row(i: int, layer: Layer, xbar_size: int, slices: int) -> list[str]:
    mvm = layer.is_mvm
    kind = layer.kind if layer.kind != "pool" else f"pool.{layer.pool_method or 'max'}"
    if layer.kind == "conv" and layer.groups > 1:
        kind += f"/g{layer.groups}"
    return [
        str(i),
        layer.name,
        kind,
        _chw(layer.in_channels, layer.in_hw),
        _chw(layer.out_channels, layer.out_hw),
        _pair(layer.kernel) if layer.kind in ("conv", "pool") else "-",
        _pair(layer.stride) if layer.kind in ("conv", "pool") else "-",
        ",".join(layer.activations) or "-",
        f"{layer.macs:,}" if mvm else "-",
        f"{layer.weights:,}" if mvm else "-",
        f"{layer.crossbar_set(xbar_size, slices):,}" if mvm else "-",
    ]


def format_table(network: Network, xbar_size: int, slices: int) -> str:
    head = ["#", "name", "kind", "in CxHxW", "out CxHxW", "kernel", "stride", "act", "MACs", "weights", f"xbars@{xbar_size}"]
    rows = [_row(i, layer, xbar_size, slices) for i, layer in enumerate(network.layers)]
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
    right = {0, 8, 9, 10}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    counts = {}
    for layer in network.layers:
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
    xbars = sum(layer.crossbar_set(xbar_size, slices) for layer in network.layers)
    c, h, w = network.input_shape
    out = [
        f"network {network.name}: input {c}x{h}x{w}, {len(network)} layers ("
        + ", ".join(f"{n} {k}" for k, n in counts.items())
        + ")",
        line(head),
        line(["-" * w for w in widths]),
        *(line(r) for r in rows),
        "",
        f"total: {network.total_macs:,} MACs ({2 * network.total_macs / 1e9:.3f} GOP), "
        f"{network.total_weights:,} weights, {xbars:,} crossbars of {xbar_size}x{xbar_size} "
        f"for one copy ({slices} slices per weight at {WEIGHT_BITS}-bit weights)",
    ]
    return "\n".join(out) + "\n"
