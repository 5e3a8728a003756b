"""The corner phase of a multi-objective run: a single-objective climb of the front's corner
whose designs join the front.

A three-objective search spreads its population over the whole front and never climbs to
the efficiency extreme as far as a single-objective search does (AlexNet, 60 s: 680-691
GOPS/W at the front's efficiency end against 702-705 from a single-objective run), and
that corner weighs most in the front's hypervolume. So the last ``Settings.corner_fraction``
of a multi-objective run (of its generations or of its time budget, like the polish phase)
evolves a second population instead: ``Settings.corner_population`` designs searched on one
objective, seeded with the archive's best designs in it (``corner_seed`` of the population;
the rest fresh from ``problem.initial``), with everything a single-objective run has: the
local-search batch, restarts, verification of would-be bests with the exact model
(``engine/verification.py``; up to ``Settings.corner_verify_limit`` of them a generation,
more than a single-objective run checks: a box carries the estimate's error in every objective)
and, in the last ``polish_fraction`` of the phase, the polish.

The phase's objective is the first objective (efficiency, in the default order) or, with
``Settings.corner_box`` (a run's default: ``--corner-objective box``), :data:`BOX`: a
design's own hypervolume box over the run's reference, the most one design can add to the
front. The efficiency climb left the throughput end to the three-objective search (AlexNet
at 10 minutes: pymoo's NSGA-II front reached 11,824 inferences/s at 703.8 GOPS/W, the
engine's 11,641), while a front's hypervolume is mostly the box of its corner in both.

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

from evo_pimsyn.engine.archive import Archive, box_volumes
from evo_pimsyn.engine.evaluation import score
from evo_pimsyn.engine.objectives import Objective, feasibility, objective_matrix
from evo_pimsyn.engine.verify_memo import VerifyMemo

if TYPE_CHECKING:  # the loop imports this module
    from evo_pimsyn.engine.loop import Settings, State

# The phase's objective with ``Settings.corner_box``: a design's own hypervolume box, from
# the run's hypervolume reference (``State.hv_ref``, fixed once set), in every objective
# of the run. Not a column of the evaluator: :class:`Boxed` adds it to each batch.
BOX = Objective("box", "hv_box", True, "", "hypervolume box of one design")


def cornering(settings: "Settings") -> bool:
    """True when the run has a corner phase: several objectives and a positive fraction."""
    return len(settings.objectives) > 1 and settings.corner_fraction > 0


def ready(state: "State", settings: "Settings") -> bool:
    """Whether the phase can start: a box needs the run's reference, which its first
    feasible design sets."""
    return not settings.corner_box or state.hv_ref is not None


def boxing(state: "State", settings: "Settings") -> bool:
    """True when the phase climbs the box (not the first objective)."""
    return settings.corner_box and state.hv_ref is not None


def corner_settings(settings: "Settings", box: bool = False) -> "Settings":
    """The phase's own settings: one objective (the run's first, or ``box``: :data:`BOX`),
    its population and verify limit, NSGA-II (one objective needs no reference points), no
    corner phase of its own."""
    return replace(settings, objectives=(BOX,) if box else settings.objectives[:1],
                   population=settings.corner_population, verify_limit=settings.corner_verify_limit,
                   algorithm="nsga2", corner_fraction=0.0)


def corner_values(F: np.ndarray, state: "State", settings: "Settings") -> np.ndarray:
    """The phase's objective (minimization form) of rows ``F`` in the run's objectives."""
    if boxing(state, settings):
        return -box_volumes(F, state.hv_ref, state.hv_scale)
    return np.asarray(F, dtype=np.float64)[:, 0]


class Boxed:
    """An evaluator whose batches also carry :data:`BOX`'s column, from the run's
    objectives and reference."""

    def __init__(self, evaluate: Callable[[np.ndarray], pd.DataFrame], settings: "Settings", state: "State") -> None:
        self.evaluate = evaluate
        self.objectives = settings.objectives
        self.ref, self.scale = np.asarray(state.hv_ref), np.asarray(state.hv_scale)

    def __call__(self, G: np.ndarray) -> pd.DataFrame:
        frame = self.evaluate(G)
        F = objective_matrix(frame, self.objectives, feasibility(frame))
        return frame.assign(**{BOX.column: box_volumes(F, self.ref, self.scale)})


def corner_verifier(verify: Callable[[np.ndarray], pd.DataFrame], state: "State", settings: "Settings") -> VerifyMemo:
    """The phase's memo of exact scores: of its objective, and of all of the run's."""
    if isinstance(verify, VerifyMemo):
        verify = verify.verify
    if boxing(state, settings):
        verify = Boxed(verify, settings, state)
    return VerifyMemo(verify, keep=settings.objectives)


# at most this many archive rows a corner generation scores exactly because their
# estimates beat the phase's best exact value (estimates_beyond); a generation's own
# checks are a few, and the first generation may meet a few tens such rows
EXTREME_CHECKS = 64


def estimates_beyond(values: np.ndarray, bar: float, limit: int = EXTREME_CHECKS) -> np.ndarray:
    """Rows whose ``values`` (the phase's objective of the archive's rows, minimization
    form) beat ``bar``, best first (ties by archive row), at most ``limit``."""
    rows = np.flatnonzero(values < bar)
    return rows[np.lexsort((rows, values[rows]))][:limit]


def corner_seeds(archive: Archive, values: np.ndarray, n: int, share: float) -> np.ndarray:
    """The archive's best designs by ``values`` (the phase's objective of its rows), best
    first (ties by archive row: the archive's order is canonical), at most
    ``round(share * n)`` of them."""
    k = min(len(archive), int(round(share * n)))
    order = np.lexsort((np.arange(len(archive)), values))
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
