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
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.engine.evaluation import score
from evo_pimsyn.engine.objectives import Objective

# At most this many genomes are remembered (least recently used go first): ~1 KB each for
# ResNet18's 68 genes, so a few tens of MB; a 10-minute run verifies about 14,000.
CAPACITY = 1 << 15


class VerifyMemo:
    """Wraps a verify evaluator ``G -> DataFrame``: :meth:`scores` returns the exact
    (objectives, violation) of each row, calling the evaluator only on genomes it has not
    scored before (each distinct one once, in first-seen order).

    ``keep``: objectives the memo also remembers whenever it scores a genome, whatever the
    call asked for. A multi-objective run's corner phase verifies one objective and offers
    the verified designs to its archive with all of them (``engine/corner.py``), without a
    second exact evaluation. :meth:`drain` returns the genomes checked since the last drain
    (memo hits included), so that what the caller learns does not depend on what the memo
    still holds (a resumed run's memo starts empty)."""

    def __init__(self, verify: Callable[[np.ndarray], pd.DataFrame], capacity: int = CAPACITY,
                 keep: Sequence[Objective] = ()) -> None:
        self.verify = verify
        self.capacity = int(capacity)
        self.keep = tuple(keep)
        # genome bytes -> ({objective name: exact value, minimization form}, violation)
        self._memo: OrderedDict[bytes, tuple[dict[str, float], float]] = OrderedDict()
        self._journal: list[np.ndarray] = []
        self.hits = 0
        self.scored = 0

    def scores(self, G: np.ndarray, objectives: Sequence[Objective], power_w: float, *,
               record: bool = True) -> tuple[np.ndarray, np.ndarray]:
        G = np.ascontiguousarray(G, dtype=np.int64)
        names = [o.name for o in objectives]
        keys = [row.tobytes() for row in G]
        new: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            known = self._memo.get(k)
            if known is not None and all(n in known[0] for n in names):
                self._memo.move_to_end(k)
            elif k not in new:
                new[k] = i
        if new:
            rows = np.fromiter(new.values(), dtype=np.int64, count=len(new))
            wanted = (*objectives, *(o for o in self.keep if o.name not in names))
            exact = score(self.verify(G[rows]), wanted, power_w)
            for j, k in enumerate(new):
                values = {o.name: float(exact.objectives[j, c]) for c, o in enumerate(wanted)}
                self._memo[k] = (values, float(exact.violation[j]))
                self._memo.move_to_end(k)
            self.scored += len(new)
        self.hits += len(keys) - len(new)
        F = np.array([[self._memo[k][0][n] for n in names] for k in keys], dtype=np.float64).reshape(len(keys),
                                                                                                      len(names))
        V = np.array([self._memo[k][1] for k in keys], dtype=np.float64)
        while len(self._memo) > self.capacity:
            self._memo.popitem(last=False)
        if record and len(G):
            self._journal.append(G.copy())
        return F, V

    def drain(self, n_genes: int) -> np.ndarray:
        """The genomes :meth:`scores` was asked about since the last drain, each once, in
        first-asked order (``[k, n_genes]`` int64)."""
        if not self._journal:
            return np.empty((0, n_genes), dtype=np.int64)
        G = np.concatenate(self._journal)
        self._journal = []
        _, first = np.unique(G, axis=0, return_index=True)
        return G[np.sort(first)]
