"""Resolving a MODEL argument to a network: ``zoo:NAME``, an .onnx file, or a network .json.

Every subcommand that takes a model calls :func:`load_model`, so all of them accept the
same three forms. JSON files are either PIMCOMP/PIMSYN network descriptions (a list of
nodes) or our own schema (``{"layers": [...]}``, what ``evo-pimsyn network -o`` writes).
"""

from __future__ import annotations

from pathlib import Path

import onnx

from evo_pimsyn import zoo
from evo_pimsyn.onnx_frontend import load_onnx, network_from_onnx_model, read_model
from fitness.errors import InputError
from fitness.jsonio import read_json
from fitness.network import Network
from fitness.pimcomp import looks_like_pimcomp, network_from_pimcomp

ZOO_PREFIX = "zoo:"
MODEL_HELP = "an .onnx file, a PIMCOMP/PIMSYN or evo-pimsyn network .json, or zoo:NAME (" + ", ".join(zoo.ZOO_NAMES) + ")"


def load_model(spec: str) -> Network:
    """The layer table of MODEL ``spec``; bad input raises :class:`InputError`."""
    spec = str(spec)
    if spec.startswith(ZOO_PREFIX):
        name = spec[len(ZOO_PREFIX):]
        return network_from_onnx_model(zoo.build_zoo_model(name), name=name, source=spec)
    path = _existing(spec)
    if _is_json(path):
        return _load_json(path)
    return load_onnx(path)


def load_model_proto(spec: str) -> onnx.ModelProto:
    """The ONNX graph behind MODEL ``spec`` (a zoo model or an .onnx file)."""
    spec = str(spec)
    if spec.startswith(ZOO_PREFIX):
        return zoo.build_zoo_model(spec[len(ZOO_PREFIX):])
    path = _existing(spec)
    if _is_json(path):
        raise InputError(f"{path}: a network .json has no ONNX graph; use an .onnx file or zoo:NAME")
    return read_model(path)


def _existing(spec: str) -> Path:
    path = Path(spec)
    if not path.exists():
        raise InputError(f"{spec}: no such file")
    if path.is_dir():
        raise InputError(f"{spec}: is a directory, not a model file")
    return path


def _is_json(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".json", ".onnx"):
        return suffix == ".json"
    try:  # no telling extension: JSON starts with [ or { after optional whitespace
        with path.open("rb") as fh:
            head = fh.read(64).lstrip()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return head[:1] in (b"[", b"{")


def _load_json(path: Path) -> Network:
    data = read_json(path, "a network JSON")
    if looks_like_pimcomp(data):
        return network_from_pimcomp(data, name=path.stem, source=str(path))
    if isinstance(data, dict) and "layers" in data:
        if not data.get("name"):
            data = {**data, "name": path.stem}
        return Network.from_dict(data, source=str(path))
    raise InputError(
        f"{path}: neither a PIMCOMP network (a list of nodes with 'operation') nor an evo-pimsyn network (an object with 'layers')"
    )
