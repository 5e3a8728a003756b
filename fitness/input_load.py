"""The network input's share of the scratchpad (the ``input-load`` fix).

PIMSYN starts the first conv with no provider, so its input buffer need is 0 (MODEL.md
§8.7) and the input image takes no room in its macros. With the fix the input is a
provider like any other: block c of a layer the input feeds holds the input window its
pixels need, the inputcap of §8.7 with the input (C x H x W, PIMSYN's "W" = H) as provider P.
The traffic side of the fix (the input written per block) is :func:`fitness.memory.input_traffic`.
"""

from __future__ import annotations

import numba
import numpy as np

from fitness.arrays import i64
from fitness.depcb import cdiv, map_shape, pixel_range, window_start
from fitness.memory import input_layers
from fitness.network import Network


@numba.njit(cache=True, inline="always")
def _block_need(c, geo, l, dup_l, per_macro, idiv_l, in_c, in_h, in_w, pixel_window, non_square):
    """inputcap(c; input, l) in elements (MODEL.md §8.7): the input as layer l's provider,
    its window as :func:`fitness.depcb.window_start` and ``pixel_range`` give it for any
    other provider (PIMSYN's pixel arithmetic, or the ``pixel-window`` / ``non-square``
    fixes' when those are on)."""
    g = geo[:, l]  # kind, rows, cols, kernel h/w, stride h/w, pad top/left
    cols_l, _, rows_p, cols_p = map_shape(g[1], g[2], in_h, in_w, non_square)
    pix_p = in_h * in_w
    start = window_start(c, dup_l, g[0], g[3], g[4], g[5], g[6], g[7], g[8], cols_l, rows_p, cols_p, pix_p,
                         pixel_window)
    _, end = pixel_range(dup_l * c + per_macro, g[0], g[3], g[4], g[5], g[6], g[7], g[8], cols_l, rows_p, cols_p,
                         pix_p)
    return (end - start) * in_c / idiv_l


def _geometry(network: Network) -> np.ndarray:
    arr = network.arrays
    return np.ascontiguousarray(np.stack([arr.kind, arr.out_h, arr.out_w, arr.kernel_h, arr.kernel_w, arr.stride_h,
                                          arr.stride_w, arr.pad_top, arr.pad_left]).astype(np.int64))


@numba.njit(cache=True)
def _per_block(geo, sources, dup, n, idiv, ddiv, in_c, in_h, in_w, pixel_window, non_square):
    total = 0
    for l in range(n.shape[0]):
        total += max(n[l], 0)
    out = np.zeros(total)
    o = 0
    for l in range(n.shape[0]):
        if sources[l] and n[l] > 0:
            per_macro = cdiv(dup[l], max(ddiv[l], 1))
            for c in range(n[l]):
                out[o + c] = _block_need(c, geo, l, dup[l], per_macro, idiv[l], in_c, in_h, in_w, pixel_window,
                                         non_square)
        o += max(n[l], 0)
    return out


def input_need_per_block(network: Network, layer_dup, layer_blocks, idiv, ddiv, fixes=frozenset()) -> np.ndarray:
    """Input-window need (elements) of every block of one design, in global block order
    (:class:`fitness.depcb.DagStructure`'s ``blk_off``); 0 outside the layers the input feeds."""
    c, h, w = network.input_shape
    return _per_block(_geometry(network), input_layers(network), i64(layer_dup), i64(layer_blocks), i64(idiv),
                      i64(ddiv), int(c), int(h), int(w), "pixel-window" in fixes, "non-square" in fixes)


@numba.njit(cache=True)
def _max_sampled(geo, sources, dup, n, idiv, ddiv, in_c, in_h, in_w, cap, pixel_window, non_square):
    n_design, n_layer = n.shape
    out = np.zeros((n_design, n_layer))
    for l in range(n_layer):
        if not sources[l]:
            continue
        for b in range(n_design):
            nl = n[b, l]
            if nl <= 0:
                continue
            per_macro = cdiv(dup[b, l], max(ddiv[b, l], 1))
            m = min(nl, cap)
            best = 0.0
            # evenly spaced blocks with both ends, and blocks 1-3, where the rows near the top differ
            for i in range(m + 3):
                if i < m:
                    c = i if m == nl else (i * (nl - 1)) // (m - 1)
                else:
                    c = i - m + 1
                    if c >= nl:
                        continue
                v = _block_need(c, geo, l, dup[b, l], per_macro, idiv[b, l], in_c, in_h, in_w, pixel_window,
                                non_square)
                if v > best:
                    best = v
            out[b, l] = best
    return out


def input_need_max(network: Network, layer_dup, layer_blocks, idiv, ddiv, max_samples: int,
                   fixes=frozenset()) -> np.ndarray:
    """[B, L] max input-window need over (at most ``max_samples`` evenly spaced, plus the
    first) blocks of the layers the input feeds, as the analytic input buffer need samples them."""
    c, h, w = network.input_shape
    return _max_sampled(_geometry(network), input_layers(network), i64(layer_dup), i64(layer_blocks), i64(idiv),
                        i64(ddiv), int(c), int(h), int(w), max(2, int(max_samples)), "pixel-window" in fixes,
                        "non-square" in fixes)
