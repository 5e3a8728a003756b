"""Chip area per design (mm²), vectorized over designs. PIMSYN has no area model; the unit
areas come from the hardware config (defaults: :mod:`fitness.area_defaults`)."""

from __future__ import annotations

import numpy as np


def area_mm2(xbars_used, xbar_area_mm2, units, unit_area_mm2, n_macros, memory_area_mm2, router_area_mm2) -> np.ndarray:
    """Used crossbars + allocated ADC/DAC/ALU units + per macro one scratchpad and one router.

    Shapes: xbars_used [B, L]; xbar_area_mm2 [B]; units [B, L, C]; unit_area_mm2 [B, C];
    n_macros [B]; memory_area_mm2 [B] (area of the chosen capacity); router_area_mm2 scalar.
    """
    xb = np.asarray(xbars_used).sum(axis=1) * xbar_area_mm2
    peripherals = np.nansum(np.asarray(units) * np.asarray(unit_area_mm2)[:, None, :], axis=(1, 2))
    return xb + peripherals + np.asarray(n_macros) * (memory_area_mm2 + router_area_mm2)
