"""The hardware and performance model of PIMSYN-style ReRAM accelerators.

Knows networks, hardware configs and the model; nothing of genetic algorithms.
"""

from fitness.kernel_cache import drop_stale_kernels

# before any kernel is compiled or loaded from numba's cache: a kernel whose inlined helper
# changed in another module would otherwise run its old compiled code (kernel_cache.py)
drop_stale_kernels()

from fitness.errors import InputError  # noqa: E402
from fitness.network import Layer, Network  # noqa: E402

__all__ = ["InputError", "Layer", "Network"]
