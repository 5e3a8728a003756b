"""The corner phase of a multi-objective run: a single-objective climb of the first
objective's extreme (efficiency, in the default order) whose designs join the front.

A three-objective search spreads its population over the whole front and never climbs to
the efficiency extreme as far as a single-objective search does (AlexNet, 60 s: 680-691
GOPS/W at the front's efficiency end against 702-705 from a single-objective run), and
that corner weighs most in the front's hypervolume. So the last ``Settings.corner_fraction``
of a multi-objective run (of its generations or of its time budget, like the polish phase)
evolves a second population instead: ``Settings.corner_population`` designs searched on the
first objective alone, seeded with the archive's best designs in it (``corner_seed`` of the
population; the rest fresh from ``problem.initial``), with everything a single-objective run
has: the local-search batch, restarts, verification of would-be bests with the exact model
(``engine/verification.py``) and, in the last ``polish_fraction`` of the phase, the polish.

What the phase finds is offered to the run's archive, which keeps only the designs that
no other dominates in all objectives:

* with a verify evaluator (an analytic search of the PIMSYN model) every design the phase
  verified, with its exact values of every objective (the verify memo keeps them all:
  ``VerifyMemo.keep``), replacing the archive's row of the same genome if it has one (an
  exact value replaces an estimate; a design the exact model refuses leaves the archive).
  Before they are offered, the archive's rows whose estimate of the first objective beats
  the phase's best exact value are scored exactly too (:func:`estimates_beyond`): an
  estimate must not keep an exact value out of the archive. A three-objective search of
  the analytic model drifts to the designs it over-rates most, and those dominated every
  design the phase found (AlexNet at 49 W, 10 minutes: the phase reached 709.7 GOPS/W,
  verified, against estimates of up to 716.1 whose exact values are 664-681, and the run's
  front ended at 680.9, as without the phase);
* without one (a cycle-fidelity search, the toy problem) every design the phase scored,
  with its search values, as any generation's children.

The phase's population lives in ``State.corner`` (a :class:`~evo_pimsyn.engine.loop.State`
of its own, checkpointed with the run's); it draws from the run's random stream, so a run
is the same whatever its worker count and whether or not it was resumed. The loop runs the
phase (``loop.corner_step``); this module holds its pieces that do not need the loop.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from evo_pimsyn.engine.archive import Archive
from evo_pimsyn.engine.evaluation import score

if TYPE_CHECKING:  # the loop imports this module
    from evo_pimsyn.engine.loop import Settings


def cornering(settings: "Settings") -> bool:
    """True when the run has a corner phase: several objectives and a positive fraction."""
    return len(settings.objectives) > 1 and settings.corner_fraction > 0


def corner_settings(settings: "Settings") -> "Settings":
    """The phase's own settings: the run's first objective alone, its population, NSGA-II
    (one objective needs no reference points), no corner phase of its own."""
    return replace(settings, objectives=settings.objectives[:1], population=settings.corner_population,
                   algorithm="nsga2", corner_fraction=0.0)


# at most this many archive rows a corner generation scores exactly because their
# estimates beat the phase's best exact value (estimates_beyond); a generation's own
# checks are a few, and the first generation may meet a few tens such rows
EXTREME_CHECKS = 64


def estimates_beyond(archive: Archive, bar: float, limit: int = EXTREME_CHECKS) -> np.ndarray:
    """Rows of ``archive`` whose first objective (minimization form) beats ``bar``, best
    first (ties by archive row), at most ``limit``."""
    rows = np.flatnonzero(archive.objectives[:, 0] < bar)
    return rows[np.lexsort((rows, archive.objectives[rows, 0]))][:limit]


def corner_seeds(archive: Archive, n: int, share: float) -> np.ndarray:
    """The archive's best designs in the first objective, best first (ties by archive row:
    the archive's order is canonical), at most ``round(share * n)`` of them."""
    k = min(len(archive), int(round(share * n)))
    order = np.lexsort((np.arange(len(archive)), archive.objectives[:, 0]))
    return archive.genomes[order[:k]]


class Recorder:
    """An evaluator that also keeps every batch it scored (genomes and table), for a phase
    without verification, whose children are offered to the archive with their search
    values in all objectives."""

    def __init__(self, evaluate: Callable[[np.ndarray], pd.DataFrame]) -> None:
        self.evaluate = evaluate
        self.batches: list[tuple[np.ndarray, pd.DataFrame]] = []

    def __call__(self, G: np.ndarray) -> pd.DataFrame:
        frame = self.evaluate(G)
        self.batches.append((np.asarray(G, dtype=np.int64).copy(), frame))
        return frame

    def offer(self, archive: Archive, settings: "Settings") -> np.ndarray:
        """Merge every recorded batch into ``archive`` (scored in all of ``settings``'s
        objectives); returns the objectives of the feasible rows offered."""
        offered = [np.empty((0, len(settings.objectives)))]
        for G, frame in self.batches:
            s = score(frame, settings.objectives, settings.power_w)
            archive.update(G, s.objectives, s.violation <= 0)
            offered.append(s.objectives[s.violation <= 0])
        self.batches = []
        return np.concatenate(offered)
