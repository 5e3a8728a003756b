"""Conflict correction: the steps the exact scheduler loses to arbitration (MODEL.md §8.6).

The recurrence (:mod:`.recurrence`) is exact without conflicts. Two kinds of conflict add
bubbles in the cycle scheduler:

* **ADC sharing.** A shared macro pair's ADC is one server; each block's ADC bit chain
  holds it for B steps, a running chain beats a new one and a tie goes to the earlier
  layer. The recurrence already makes the later layer of a pair wait for free ADC slots
  between the earlier layer's chains (so a layer that is starved while its partner
  streams back to back starts late, and its consumers with it). What it leaves out is the
  earlier layer's own waiting behind the later layer's chains; this is estimated with a
  fluid FIFO queue over both layers' chain requests (``Timing.pair_delay``: per pair the
  larger delay of the two layers' last chains, combined over the pairs as the root of
  their summed squares) and added to the steps, with gain ``ADC_PAIR_GAIN`` (1.0 fits: on
  400 random AlexNet designs with sharing the corrected steps are within 0.4 % of the
  cycle scheduler's at p95, 7 % at worst). GA designs share on 5-10 pairs, whose delays
  largely overlap: their plain sum made the best ResNet18 designs 5-6 % slower than the
  cycle scheduler finds them. With the root of the summed squares the cycle model's best
  design of each GA population checked is also the analytic model's best (the sum ranked
  it 2nd in one population and 14th in another).
* **NoC link conflicts.** On random designs they cost < 1 % of steps (the TRAN and MRG
  ops that share links rarely start in the same step), so no correction is applied.
"""

from __future__ import annotations

import numpy as np

ADC_PAIR_GAIN = 1.0


def corrected_steps(prep, idx, timing, k_tran, k_ld, k_st, k_mrg) -> tuple[np.ndarray, np.ndarray]:
    """(steps, estimated extra steps) for designs ``idx``; the ADC-slot waiting already in
    the recurrence is not counted in the extra."""
    extra = np.round(ADC_PAIR_GAIN * timing.pair_delay).astype(np.int64)
    return timing.steps + extra, extra
