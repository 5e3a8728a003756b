"""The network IR: an immutable table of compute layers in topological order.

Every frontend (ONNX, PIMCOMP/PIMSYN JSON, our own JSON) produces a :class:`Network`;
the hardware model reads only this table, mostly through the per-field numpy views of
:attr:`Network.arrays` so that it can vectorize over layers and designs.

Shapes follow ONNX order: ``in_hw``/``out_hw`` are ``(height, width)``; ``pads`` are
``(top, left, bottom, right)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from fitness.errors import InputError
from fitness.jsonio import read_json

KINDS = ("conv", "fc", "pool", "eltwise")
KIND_CODE = {k: i for i, k in enumerate(KINDS)}
CONV, FC, POOL, ELTWISE = range(4)

# Activations that PIMSYN charges as an ALU op of the producing layer (MODEL.md §3.2).
CHARGED_ACTIVATIONS = ("relu", "sigmoid")
POOL_METHODS = ("max", "avg")

SCHEMA_FORMAT = "evo-pimsyn-network"
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One compute layer. Sizes are element counts; spatial pairs are (h, w)."""

    name: str
    kind: str
    in_channels: int
    out_channels: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    providers: tuple[int, ...] = ()
    # Activation ops charged to this layer, in the order PIMSYN appends them.
    activations: tuple[str, ...] = ()
    # Ops folded into this layer at no cost (batchnorm, lrn, clip, ...), for the record.
    fused: tuple[str, ...] = ()
    pool_method: str | None = None

    @property
    def is_mvm(self) -> bool:
        """Conv and fc layers run on crossbars (matrix-vector multiplication)."""
        return self.kind in ("conv", "fc")

    @property
    def rows(self) -> int:
        """Crossbar rows one output needs: Kh*Kw*Cin (conv, dense as PIMSYN maps it), Cin (fc)."""
        if self.kind == "conv":
            return self.kernel[0] * self.kernel[1] * self.in_channels
        if self.kind == "fc":
            return self.in_channels
        return 0

    @property
    def weights(self) -> int:
        if self.kind == "conv":
            return self.out_channels * (self.in_channels // self.groups) * self.kernel[0] * self.kernel[1]
        if self.kind == "fc":
            return self.out_channels * self.in_channels
        return 0

    @property
    def macs(self) -> int:
        if self.kind == "conv":
            return self.weights * self.out_hw[0] * self.out_hw[1]
        if self.kind == "fc":
            return self.weights
        return 0

    def crossbar_set(self, xbar_size: int, slices: int) -> int:
        """Crossbars holding one copy of the weights (MODEL.md §4, paper Eq. 1)."""
        if not self.is_mvm:
            return 0
        return -(-self.rows // xbar_size) * -(-self.out_channels // xbar_size) * slices


def _pair(value: Any, where: str, minimum: int) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InputError(f"{where} must be a list of 2 integers, got {value!r}")
    return tuple(_int(v, where, minimum) for v in value)  # type: ignore[return-value]


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{where} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{where} must be >= {minimum}, got {value}")
    return int(value)


def _check_layer(layer: Layer, index: int) -> None:
    where = f"layer {index} ({layer.name!r})"
    if layer.kind not in KINDS:
        raise InputError(f"{where}: kind must be one of {', '.join(KINDS)}, got {layer.kind!r}")
    for fname in ("in_channels", "out_channels", "groups"):
        _int(getattr(layer, fname), f"{where}.{fname}", 1)
    for fname in ("in_hw", "out_hw", "kernel", "stride", "dilation"):
        _pair(getattr(layer, fname), f"{where}.{fname}", 1)
    if len(layer.pads) != 4 or any(int(p) < 0 for p in layer.pads):
        raise InputError(f"{where}.pads must be 4 integers >= 0, got {list(layer.pads)!r}")
    if layer.kind == "conv" and layer.in_channels % layer.groups:
        raise InputError(f"{where}: in_channels {layer.in_channels} is not divisible by groups {layer.groups}")
    for p in layer.providers:
        if not 0 <= p < index:
            raise InputError(f"{where}: provider index {p} is not an earlier layer")
    for act in layer.activations:
        if act not in CHARGED_ACTIVATIONS:
            raise InputError(f"{where}: activation must be one of {CHARGED_ACTIVATIONS}, got {act!r}")
    if layer.pool_method is not None and layer.pool_method not in POOL_METHODS:
        raise InputError(f"{where}: pool_method must be one of {POOL_METHODS}, got {layer.pool_method!r}")


@dataclass(frozen=True)
class Network:
    """An immutable, validated table of compute layers in topological order."""

    name: str
    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int] = field(default=(3, 224, 224))  # (C, H, W)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise InputError(f"network {self.name!r} has no compute layers")
        names = set()
        for i, layer in enumerate(self.layers):
            _check_layer(layer, i)
            if layer.name in names:
                raise InputError(f"layer {i}: duplicate layer name {layer.name!r}")
            names.add(layer.name)
        if not any(layer.is_mvm for layer in self.layers):
            raise InputError(f"network {self.name!r} has no conv or fc layer: nothing to map on crossbars")

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    # ---- derived index lists -------------------------------------------------------
    @cached_property
    def conv_indices(self) -> np.ndarray:
        """Layer indices of conv layers: the order of the ``dup`` vector."""
        return _ro(np.array([i for i, l in enumerate(self.layers) if l.kind == "conv"], dtype=np.int64))

    @cached_property
    def mvm_indices(self) -> np.ndarray:
        """Layer indices in PIMSYN's gene order: all conv layers, then all fc layers."""
        fcs = [i for i, l in enumerate(self.layers) if l.kind == "fc"]
        return _ro(np.concatenate([self.conv_indices, np.array(fcs, dtype=np.int64)]))

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        out: list[list[int]] = [[] for _ in self.layers]
        for i, layer in enumerate(self.layers):
            for p in layer.providers:
                out[p].append(i)
        return tuple(tuple(c) for c in out)

    @cached_property
    def arrays(self) -> "LayerArrays":
        return LayerArrays.from_layers(self.layers)

    @cached_property
    def fused_activations_charged(self) -> "Network":
        """This network with every ReLU/Sigmoid the frontend fused into a layer (PIMCOMP's
        ``with_act``) charged as an op of that layer, ahead of the ones it walked to (the
        ``activations`` fix, Q2); the network itself when none is fused. Cached, so that the
        per-network op tables are built once."""
        if not any(a in CHARGED_ACTIVATIONS for layer in self.layers for a in layer.fused):
            return self
        layers = []
        for layer in self.layers:
            fused_acts = tuple(a for a in layer.fused if a in CHARGED_ACTIVATIONS)
            rest = tuple(a for a in layer.fused if a not in CHARGED_ACTIVATIONS)
            layers.append(replace(layer, activations=fused_acts + layer.activations, fused=rest))
        return Network(name=self.name, layers=tuple(layers), input_shape=self.input_shape)

    @property
    def total_macs(self) -> int:
        return sum(l.macs for l in self.layers)

    @property
    def total_weights(self) -> int:
        return sum(l.weights for l in self.layers)

    # ---- JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Our own schema; a superset of the ``evo-pimsyn network -o`` layer table."""
        layers = []
        for layer in self.layers:
            layers.append(
                {
                    "name": layer.name,
                    "kind": layer.kind,
                    "in_channels": layer.in_channels,
                    "out_channels": layer.out_channels,
                    "kernel": list(layer.kernel),
                    "stride": list(layer.stride),
                    "pads": list(layer.pads),
                    "dilation": list(layer.dilation),
                    "groups": layer.groups,
                    "in_hw": list(layer.in_hw),
                    "out_hw": list(layer.out_hw),
                    "providers": [self.layers[p].name for p in layer.providers],
                    "activations": list(layer.activations),
                    "fused": list(layer.fused),
                    "pool_method": layer.pool_method,
                    "macs": layer.macs,
                    "weights": layer.weights,
                }
            )
        return {
            "format": SCHEMA_FORMAT,
            "version": SCHEMA_VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": layers,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "network") -> "Network":
        """Load our own schema. Also accepts the bare ``{"layers": [...]}`` layer table."""
        if not isinstance(data, Mapping) or not isinstance(data.get("layers"), list):
            raise InputError(f"{source}: expected a JSON object with a 'layers' list")
        version = data.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise InputError(f"{source}: unsupported network schema version {version!r} (expected {SCHEMA_VERSION})")
        layers: list[Layer] = []
        index_of: dict[str, int] = {}
        required = ("name", "kind", "in_channels", "out_channels", "in_hw", "out_hw")
        for i, raw in enumerate(data["layers"]):
            where = f"{source}: layers[{i}]"
            if not isinstance(raw, Mapping):
                raise InputError(f"{where} must be an object")
            for key in required:
                if key not in raw:
                    raise InputError(f"{where}: missing field {key!r}")
            name = str(raw["name"])
            providers = []
            for pname in raw.get("providers", []):
                if pname not in index_of:
                    raise InputError(f"{where}.providers: {pname!r} is not an earlier layer")
                providers.append(index_of[pname])
            try:
                layer = Layer(
                    name=name,
                    kind=raw["kind"],
                    in_channels=_int(raw["in_channels"], f"{where}.in_channels", 1),
                    out_channels=_int(raw["out_channels"], f"{where}.out_channels", 1),
                    in_hw=_pair(raw["in_hw"], f"{where}.in_hw", 1),
                    out_hw=_pair(raw["out_hw"], f"{where}.out_hw", 1),
                    kernel=_pair(raw.get("kernel", [1, 1]), f"{where}.kernel", 1),
                    stride=_pair(raw.get("stride", [1, 1]), f"{where}.stride", 1),
                    pads=tuple(_int(p, f"{where}.pads", 0) for p in raw.get("pads", [0, 0, 0, 0])),
                    dilation=_pair(raw.get("dilation", [1, 1]), f"{where}.dilation", 1),
                    groups=_int(raw.get("groups", 1), f"{where}.groups", 1),
                    providers=tuple(providers),
                    activations=tuple(raw.get("activations", ())),
                    fused=tuple(raw.get("fused", ())),
                    pool_method=raw.get("pool_method"),
                )
            except TypeError as exc:  # e.g. a string where a list was expected
                raise InputError(f"{where}: {exc}") from None
            index_of[name] = i
            layers.append(layer)
        shape = data.get("input_shape", [layers[0].in_channels, *layers[0].in_hw] if layers else [3, 224, 224])
        return cls(name=str(data.get("name", source)), layers=tuple(layers), input_shape=tuple(int(s) for s in shape))

    @classmethod
    def load(cls, path: str | Path) -> "Network":
        return cls.from_dict(read_json(path), source=str(path))


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, kw_only=True)
class LayerArrays:
    """Read-only per-field arrays over layers, for the vectorized model.

    Spatial fields are split into ``_h``/``_w`` columns in ONNX order.
    """

    kind: np.ndarray
    in_channels: np.ndarray
    out_channels: np.ndarray
    in_h: np.ndarray
    in_w: np.ndarray
    out_h: np.ndarray
    out_w: np.ndarray
    kernel_h: np.ndarray
    kernel_w: np.ndarray
    stride_h: np.ndarray
    stride_w: np.ndarray
    pad_top: np.ndarray
    pad_left: np.ndarray
    pad_bottom: np.ndarray
    pad_right: np.ndarray
    dilation_h: np.ndarray
    dilation_w: np.ndarray
    groups: np.ndarray
    rows: np.ndarray
    macs: np.ndarray
    weights: np.ndarray
    n_activations: np.ndarray

    @classmethod
    def from_layers(cls, layers: Iterable[Layer]) -> "LayerArrays":
        layers = list(layers)

        def col(fn) -> np.ndarray:
            return _ro(np.array([fn(l) for l in layers], dtype=np.int64))

        return cls(
            kind=col(lambda l: KIND_CODE[l.kind]),
            in_channels=col(lambda l: l.in_channels),
            out_channels=col(lambda l: l.out_channels),
            in_h=col(lambda l: l.in_hw[0]),
            in_w=col(lambda l: l.in_hw[1]),
            out_h=col(lambda l: l.out_hw[0]),
            out_w=col(lambda l: l.out_hw[1]),
            kernel_h=col(lambda l: l.kernel[0]),
            kernel_w=col(lambda l: l.kernel[1]),
            stride_h=col(lambda l: l.stride[0]),
            stride_w=col(lambda l: l.stride[1]),
            pad_top=col(lambda l: l.pads[0]),
            pad_left=col(lambda l: l.pads[1]),
            pad_bottom=col(lambda l: l.pads[2]),
            pad_right=col(lambda l: l.pads[3]),
            dilation_h=col(lambda l: l.dilation[0]),
            dilation_w=col(lambda l: l.dilation[1]),
            groups=col(lambda l: l.groups),
            rows=col(lambda l: l.rows),
            macs=col(lambda l: l.macs),
            weights=col(lambda l: l.weights),
            n_activations=col(lambda l: len(l.activations)),
        )
