"""Array conversions shared by the numba kernels' Python wrappers."""

from __future__ import annotations

import numpy as np


def i64(a) -> np.ndarray:
    """``a`` as a C-contiguous int64 array (itself when it already is one): the one layout the
    numba kernels are compiled for, so that a caller's int32 or strided array does not
    trigger another compilation."""
    return np.ascontiguousarray(a, dtype=np.int64)
