"""Exact scores of the designs a single-objective run has verified, by genome.

A run verifies its would-be bests with the cycle model, at tens of milliseconds a design
(ResNet18: about 50 ms, 70 % of a generation's time), and designs come back after they
leave the population: neighbour batches, restarts and the polish phase meet the same
genomes again (about a tenth of a ResNet18 run's checks in its first 90 s). The model is a
pure function of the genome, so a remembered score is what a new evaluation would return.

The memo is not checkpointed: a resumed run scores such a design once more and gets the
same values, so runs stay identical whether or not they were resumed.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import numpy as np
import pandas as pd

from evo_pimsyn.engine.evaluation import score

# At most this many genomes are remembered (least recently used go first): ~1 KB each for
# ResNet18's 68 genes, so a few tens of MB; a 10-minute run verifies about 14,000.
CAPACITY = 1 << 15


class VerifyMemo:
    """Wraps a verify evaluator ``G -> DataFrame``: :meth:`scores` returns the exact
    (objectives, violation) of each row, calling the evaluator only on genomes it has not
    scored before (each distinct one once, in first-seen order)."""

    def __init__(self, verify: Callable[[np.ndarray], pd.DataFrame], capacity: int = CAPACITY) -> None:
        self.verify = verify
        self.capacity = int(capacity)
        self._memo: OrderedDict[bytes, tuple[np.ndarray, float]] = OrderedDict()
        self.hits = 0
        self.scored = 0

    def scores(self, G: np.ndarray, objectives, power_w: float) -> tuple[np.ndarray, np.ndarray]:
        G = np.ascontiguousarray(G, dtype=np.int64)
        keys = [row.tobytes() for row in G]
        new: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k in self._memo:
                self._memo.move_to_end(k)
            elif k not in new:
                new[k] = i
        if new:
            rows = np.fromiter(new.values(), dtype=np.int64, count=len(new))
            exact = score(self.verify(G[rows]), objectives, power_w)
            for j, k in enumerate(new):
                self._memo[k] = (exact.objectives[j].copy(), float(exact.violation[j]))
            self.scored += len(new)
        self.hits += len(keys) - len(new)
        F = np.stack([self._memo[k][0] for k in keys])
        V = np.array([self._memo[k][1] for k in keys])
        while len(self._memo) > self.capacity:
            self._memo.popitem(last=False)
        return F, V
