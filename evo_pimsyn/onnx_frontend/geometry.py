"""Sliding-window geometry of ONNX Conv and pooling: kernel, strides, dilations, pads.

``auto_pad`` is resolved to explicit pads here, with ONNX's rule: SAME_* makes the output
``ceil(in / stride)`` long and puts the odd pixel at the end (UPPER) or the start (LOWER).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import onnx
from onnx import helper

from fitness.errors import InputError


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        out[attr.name] = value.decode() if isinstance(value, bytes) else value
    return out


@dataclass(frozen=True, kw_only=True)
class Window:
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    begin: tuple[int, ...]
    end: tuple[int, ...]
    ceil_mode: bool = False

    def output(self, size: Sequence[int]) -> tuple[int, ...]:
        out = []
        for x, k, s, d, b, e in zip(size, self.kernel, self.strides, self.dilations, self.begin, self.end):
            span = x + b + e - ((k - 1) * d + 1)
            if span < 0:
                return tuple(0 for _ in size)  # window larger than the padded input
            o = (math.ceil(span / s) if self.ceil_mode else span // s) + 1
            if self.ceil_mode and (o - 1) * s >= x + b:
                o -= 1  # the last window must start inside the input or its leading pad
            out.append(o)
        return tuple(out)


def _ints(value: Any, label: str, where: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) for v in value):
        raise InputError(f"{where}: {label} must be a list of integers, got {value!r}")
    return tuple(value)


def window(node: onnx.NodeProto, attrs: dict[str, Any], size: Sequence[int], kernel: Sequence[int], where: str) -> Window:
    n = len(size)
    kernel = _ints(list(kernel) if isinstance(kernel, tuple) else kernel, "kernel_shape", where)
    strides = _ints(attrs.get("strides") or [1] * n, "strides", where)
    dilations = _ints(attrs.get("dilations") or [1] * n, "dilations", where)
    for label, vals in (("kernel_shape", kernel), ("strides", strides), ("dilations", dilations)):
        if len(vals) != n:
            raise InputError(f"{where}: {label} has {len(vals)} entries for {n} spatial axes")
        if any(v <= 0 for v in vals):
            raise InputError(f"{where}: {label} must be positive, got {list(vals)}")
    auto_pad = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for x, k, s, d in zip(size, kernel, strides, dilations):
            total = max(0, (math.ceil(x / s) - 1) * s + (k - 1) * d + 1 - x)
            b = total - total // 2 if auto_pad == "SAME_LOWER" else total // 2
            begin.append(b)
            end.append(total - b)
    elif auto_pad == "VALID":
        begin, end = [0] * n, [0] * n
    elif auto_pad == "NOTSET":
        pads = list(_ints(attrs.get("pads") or [0] * (2 * n), "pads", where))
        if len(pads) != 2 * n:
            raise InputError(f"{where}: pads has {len(pads)} entries for {n} spatial axes (expected {2 * n})")
        if any(p < 0 for p in pads):
            raise InputError(f"{where}: negative pads {pads} are not supported")
        begin, end = pads[:n], pads[n:]
    else:
        raise InputError(f"{where}: unknown auto_pad {auto_pad!r}")
    return Window(kernel=kernel, strides=strides, dilations=dilations, begin=tuple(begin), end=tuple(end),
                  ceil_mode=bool(attrs.get("ceil_mode", 0)))
