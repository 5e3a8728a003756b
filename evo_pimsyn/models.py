"""Resolving a MODEL argument to a network: ``zoo:NAME``, ``pimsyn:NAME``, an .onnx file,
or a network .json.

Every subcommand that takes a model calls :func:`load_model`, so all of them accept the
same forms. JSON files are either PIMCOMP/PIMSYN network descriptions (a list of nodes) or
our own schema (``{"layers": [...]}``, what ``evo-pimsyn network -o`` writes).
``pimsyn:NAME`` is one of PIMSYN's own five network JSONs, shipped in
``evo_pimsyn/data/pimsyn/`` (the inputs of its paper's experiments).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evo_pimsyn import zoo
from fitness.errors import InputError
from fitness.jsonio import read_json
from fitness.network import Network
from fitness.pimcomp import looks_like_pimcomp, network_from_pimcomp

if TYPE_CHECKING:
    import onnx

# The ONNX frontend is imported where a model needs it: onnx takes about 1 s to import, and
# every command imports this module for its --model help, while PIMSYN's JSON models and
# bad arguments need no onnx.

ZOO_PREFIX = "zoo:"
PIMSYN_PREFIX = "pimsyn:"
PIMSYN_DIR = Path(__file__).resolve().parent / "data" / "pimsyn"
PIMSYN_NAMES = ("alexnet", "vgg13", "vgg16", "resnet18", "msra_A")
MODEL_HELP = ("an .onnx file, a PIMCOMP/PIMSYN or evo-pimsyn network .json, zoo:NAME (" + ", ".join(zoo.ZOO_NAMES)
              + ") or pimsyn:NAME (PIMSYN's own network JSONs: " + ", ".join(PIMSYN_NAMES) + ")")


def pimsyn_network_path(name: str) -> Path:
    """The shipped JSON of PIMSYN network ``name`` (one of :data:`PIMSYN_NAMES`)."""
    if name not in PIMSYN_NAMES:
        raise InputError(f"{PIMSYN_PREFIX}{name}: unknown PIMSYN network; choose from {', '.join(PIMSYN_NAMES)}")
    return PIMSYN_DIR / f"{name}.json"


def load_model(spec: str) -> Network:
    """The layer table of MODEL ``spec``; bad input raises :class:`InputError`."""
    spec = str(spec)
    if spec.startswith(ZOO_PREFIX):
        from evo_pimsyn.onnx_frontend import network_from_onnx_model  # onnx: see the imports

        name = spec[len(ZOO_PREFIX):]
        return network_from_onnx_model(zoo.build_zoo_model(name), name=name, source=spec)
    if spec.startswith(PIMSYN_PREFIX):
        return _load_json(pimsyn_network_path(spec[len(PIMSYN_PREFIX):]))
    path = _existing(spec)
    if _is_json(path):
        return _load_json(path)
    from evo_pimsyn.onnx_frontend import load_onnx  # onnx: see the imports

    return load_onnx(path)


def load_model_proto(spec: str) -> onnx.ModelProto:
    """The ONNX graph behind MODEL ``spec`` (a zoo model or an .onnx file)."""
    spec = str(spec)
    if spec.startswith(ZOO_PREFIX):
        return zoo.build_zoo_model(spec[len(ZOO_PREFIX):])
    if spec.startswith(PIMSYN_PREFIX):
        raise InputError(f"{spec}: PIMSYN's network .json has no ONNX graph; use an .onnx file or zoo:NAME")
    path = _existing(spec)
    if _is_json(path):
        raise InputError(f"{path}: a network .json has no ONNX graph; use an .onnx file or zoo:NAME")
    from evo_pimsyn.onnx_frontend import read_model  # onnx: see the imports

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
