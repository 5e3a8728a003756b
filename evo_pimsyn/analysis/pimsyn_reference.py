"""PIMSYN's published results and the runs they apply to.

Which network. A run is on one of PIMSYN's five networks (AlexNet, VGG13, VGG16,
ResNet18, MSRA-A: its ``models/JSON`` files) when its conv and fc layers, in order, have
that network's shapes: :func:`mvm_signature` hashes the input shape and, for every conv/fc
layer, its kind, channels, input size, kernel, stride, pads, dilation and groups. Names,
activations (fused by PIMSYN's frontend, separate in ours), pooling and element-wise layers
do not enter, so ``zoo:alexnet`` and PIMSYN's ``alexnet.json`` are both AlexNet, while a
network with one conv layer changed is none of the five. Not the model hash: that one
changes with every difference of the layer table, the activations included.

Which power. PIMSYN's figure applies to a run at the power it was reported for (within
1 mW), whatever the run's power check (PIMSYN's own allows a few % over the budget, the
strict one does not: the figure is a reference, not a bound).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

# mvm_signature of PIMSYN's networks (tests/test_pimsyn_reference.py recomputes them from
# the reference JSONs and the zoo)
SIGNATURES = {
    "alexnet": "14e8be4262238b74",
    "resnet18": "2acd4900159f8283",
    "vgg13": "bfb964240c756652",
    "vgg16": "d393a9fda8ea6039",
    "msra_A": "a4da6d76550404d9",
}


@dataclass(frozen=True)
class Figure:
    efficiency_gops_w: float
    what: str  # where the number comes from, for a plot legend


# tests/data/reference/README.md, "PIMSYN's headline results on these inputs"
FIGURES = {
    ("alexnet", 49.0): Figure(658.4, "PIMSYN, its best single setting (0.3, 2, 256)"),
    ("resnet18", 49.0): Figure(349.0, "PIMSYN, its repository's output"),
}
POWER_TOLERANCE_W = 1e-3


def mvm_signature(network) -> str:
    """Hash of the network's input shape and conv/fc layer shapes (see the module docstring)."""
    rows = [[l.kind, l.in_channels, l.out_channels, list(l.in_hw), list(l.kernel), list(l.stride), list(l.pads),
             list(l.dilation), l.groups] for l in network.layers if l.kind in ("conv", "fc")]
    text = json.dumps({"input": list(network.input_shape), "mvm": rows})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pimsyn_network(network) -> str | None:
    """The name of the PIMSYN network ``network`` is (``SIGNATURES``), or None."""
    signature = mvm_signature(network)
    return next((name for name, sig in SIGNATURES.items() if sig == signature), None)


def pimsyn_figure(network, power_w: float) -> Figure | None:
    """PIMSYN's reported efficiency for this network at this power, if it reported one."""
    name = pimsyn_network(network)
    for (net, power), figure in FIGURES.items():
        if net == name and abs(float(power_w) - power) <= POWER_TOLERANCE_W:
            return figure
    return None
