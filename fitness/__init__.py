"""The hardware and performance model of PIMSYN-style ReRAM accelerators.

Knows networks, hardware configs and the model; nothing of genetic algorithms.
"""

from fitness.errors import InputError
from fitness.network import Layer, Network

__all__ = ["InputError", "Layer", "Network"]
