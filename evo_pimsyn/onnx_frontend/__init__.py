"""ONNX frontend: an ONNX model (file or ModelProto) to the network IR.

Pipeline: :mod:`reader` (bytes to ModelProto, one-line errors for non-models) ->
:mod:`graph` (inline functions, stable topological sort, dead-node pruning, static tensors,
fixed batch) -> :mod:`shapes` (ONNX shape inference plus our own rules) -> :mod:`layers`
(compute layers, providers, activations, PIMSYN semantics).
"""

from __future__ import annotations

from pathlib import Path

import onnx

from evo_pimsyn.onnx_frontend import graph, layers, reader, shapes
from fitness.errors import InputError
from fitness.network import Network

__all__ = ["load_onnx", "network_from_onnx_model", "read_model"]

read_model = reader.read_model


def load_onnx(path: str | Path) -> Network:
    """Load an .onnx file (external weight data is not read) as a layer table."""
    path = Path(path)
    return network_from_onnx_model(reader.read_model(path), name=path.stem, source=str(path))


def network_from_onnx_model(model: onnx.ModelProto, name: str = "network", source: str = "model") -> Network:
    """The layer table of ``model``; the model itself is not modified."""
    try:
        prepared = graph.prepare(model, source)
        shapes.resolve(prepared)
        return layers.build_network(prepared, name)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed graph must not end in a traceback
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise InputError(f"{source}: malformed ONNX graph ({detail})") from exc
