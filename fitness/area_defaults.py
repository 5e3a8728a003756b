"""Default component areas (mm²), used when a config entry has no ``area_mm2``.

PIMSYN has no area model; these defaults come from ISAAC (Shafiee et al., ISCA 2016,
Table 6, 32 nm), scaled the way MNSIM (Xia et al., TCAD 2018) scales its peripherals:

* ADC: ISAAC's 8-bit 1.28 GS/s SAR ADC is 0.0012 mm²; SAR area roughly doubles per
  extra bit (capacitor DAC), so ``0.0012 * 2**(bits - 8)``.
* DAC: ISAAC's 1-bit DACs take 0.00017 mm² for 8 x 128 of them (1.66e-7 mm² each);
  a d-bit DAC is scaled by ``2**(d - 1)``.
* Crossbar: ISAAC's eight 128 x 128 arrays take 0.0002 mm² (2.5e-5 mm² each); the
  cell array scales with X², the cell resolution does not change it.
* Scratchpad: ISAAC's 64 KB eDRAM buffer is 0.083 mm², scaled linearly with capacity.
* Shift-add, addition, ReLU and eltwise units: ISAAC's shift-and-add, 0.00024 mm² for
  four (6e-5 each). Pool: ISAAC's max-pool unit, 0.00024 mm². Sigmoid: 0.0006 mm² for
  two (3e-4 each).
* NoC router: ISAAC's router, 0.151 mm², is shared by four tiles; one macro is charged a
  quarter.
"""

from __future__ import annotations

ADC_8BIT_MM2 = 0.0012
DAC_1BIT_MM2 = 0.00017 / (8 * 128)
CROSSBAR_128_MM2 = 0.0002 / 8
EDRAM_64KB_MM2 = 0.083
NOC_ROUTER_MM2 = 0.151 / 4

ALU_MM2 = {
    "SHIFTADD": 0.00024 / 4,
    "ADDITION": 0.00024 / 4,
    "RELU": 0.00024 / 4,
    "ELTWISE": 0.00024 / 4,
    "POOL": 0.00024,
    "SIGMOID": 0.0006 / 2,
}


def adc_mm2(bits: int) -> float:
    return ADC_8BIT_MM2 * 2.0 ** (bits - 8)


def dac_mm2(bits: int) -> float:
    return DAC_1BIT_MM2 * 2.0 ** (bits - 1)


def crossbar_mm2(xbar_size: int) -> float:
    return CROSSBAR_128_MM2 * (xbar_size / 128) ** 2


def memory_mm2(capacity_kb: int) -> float:
    return EDRAM_64KB_MM2 * capacity_kb / 64
