"""Reading an ONNX file into a ModelProto, with one-line errors for files that are not one.

Weights stay where they are: external data is never pulled in (the layer table needs
only tensor shapes), so models whose weight files are missing or stripped load fine.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from fitness.errors import InputError

# Bytes that occur in text files; binary protobuf almost always has others early on.
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def read_model(path: str | Path) -> onnx.ModelProto:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an ONNX file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_model(data, str(path))


def parse_model(data: bytes, source: str) -> onnx.ModelProto:
    if not data:
        raise InputError(f"{source}: empty file (0 bytes), not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError):
        if _looks_like_text(data):
            raise InputError(f"{source}: is a text file, not a binary ONNX model (protobuf)") from None
        raise InputError(f"{source}: not a valid ONNX protobuf (truncated or corrupt file)") from None
    # Protobuf accepts many byte strings as a message of unknown fields only: what makes
    # it an ONNX model is an IR version (tag byte 0x08, never in text) and a graph.
    if model.ir_version <= 0 or not model.HasField("graph"):
        if _looks_like_text(data):
            raise InputError(f"{source}: is a text file, not a binary ONNX model (protobuf)")
        raise InputError(f"{source}: not an ONNX model (no IR version or no graph; truncated or another file type)")
    if not model.graph.node:
        raise InputError(f"{source}: the ONNX graph has no nodes")
    return model


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True  # a BOM: a text editor wrote this
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 4 KiB boundary still counts as text.
        if exc.start < len(head) - 4:
            return False
    return sum(b in _TEXT_BYTES for b in head) >= 0.97 * len(head)
