"""The embedded model zoo: real ONNX graphs of classic CNNs, built with ``onnx.helper``.

Each model is what an exporter writes for the network in inference mode: node order and
tensor names follow torchvision's TorchScript export (``/features/features.0/Conv``,
BatchNorm folded into the convs, Dropout removed), except ``vgg16``, which follows the
ONNX model zoo's Gluon export (``vgg0_conv0_fwd``, no adaptive pool, a Flatten before every
Dense) because that is the graph PIMSYN's own VGG16 description was converted from.

Weights carry shapes but no trained values: each is a ``ConstantOfShape`` node fed by a
small int64 initializer, as in the "light" model-zoo graphs that ship with onnx, so the
models are a few kilobytes, pass ``onnx.checker.check_model(full_check=True)`` and go
through the same frontend as user files (``zoo:NAME``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fitness.errors import InputError

if TYPE_CHECKING:
    import onnx

# the graphs' builders (evo_pimsyn.zoo_graphs, one per name: tests/test_zoo.py) import onnx,
# which every command would otherwise pay for at start-up to list these names in its help
ZOO_NAMES: tuple[str, ...] = ("lenet5", "alexnet", "vgg11", "vgg13", "vgg16", "resnet18", "resnet34", "resnet50",
                              "mobilenet_v2", "squeezenet1_1")


def build_zoo_model(name: str) -> onnx.ModelProto:
    """The ONNX graph of zoo model ``name`` (one of :data:`ZOO_NAMES`)."""
    if name not in ZOO_NAMES:
        raise InputError(f"unknown zoo model {name!r}; the zoo has: {', '.join(ZOO_NAMES)}")
    from evo_pimsyn.zoo_graphs import BUILDERS  # onnx: see ZOO_NAMES

    return BUILDERS[name]()
