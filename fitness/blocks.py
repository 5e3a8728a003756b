"""Duplication and computation-block counts per layer (MODEL.md §3.4), vectorized over designs.

POOL/ELTWISE layers inherit their block count from their providers on a freshly parsed
network (PIMSYN's leak across dup candidates, Q10, is not reproduced: the reference points
do not have it either). Their n is not recomputed from dup, so n x dup may exceed the map
(Q11).
"""

from __future__ import annotations

import numpy as np

from fitness.crossbars import ceil_div
from fitness.network import CONV, FC, Network


def layer_dup_blocks(network: Network, conv_dup, within_map: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(dup [B, L], n_blocks [B, L]) from the per-conv duplication vector [B, n_conv].

    A POOL/ELTWISE layer without providers gets n = -1 (PIMSYN's initial value) and dup 0;
    the layout rejects it (PIMSYN crashes there). ``within_map``: a POOL/ELTWISE layer
    runs ceil(W H / dup) blocks, so that none of them lies wholly past the map (Q11).
    """
    conv_dup = np.asarray(conv_dup, dtype=np.int64)
    arr = network.arrays
    n_design = conv_dup.shape[0]
    n_layer = len(network)
    dup = np.zeros((n_design, n_layer), dtype=np.int64)
    blocks = np.zeros((n_design, n_layer), dtype=np.int64)
    pixels = arr.out_h * arr.out_w
    conv_pos = {int(l): i for i, l in enumerate(network.conv_indices)}
    for l, layer in enumerate(network.layers):
        kind = arr.kind[l]
        if kind == CONV:
            dup[:, l] = conv_dup[:, conv_pos[l]]
            blocks[:, l] = ceil_div(pixels[l], dup[:, l])
        elif kind == FC:
            dup[:, l] = 1
            blocks[:, l] = pixels[l]
        else:
            n = np.full(n_design, -1, dtype=np.int64)
            for p in layer.providers:
                n = np.maximum(n, blocks[:, p])
            n = np.minimum(n, pixels[l])
            dup[:, l] = np.where(n > 0, ceil_div(pixels[l], np.maximum(n, 1)), 0)
            if within_map:
                n = np.where(n > 0, ceil_div(pixels[l], np.maximum(dup[:, l], 1)), n)
            blocks[:, l] = n
    return dup, blocks
