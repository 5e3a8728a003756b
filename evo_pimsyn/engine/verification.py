"""Single-objective runs with an exact model behind a faster search fidelity: verification
of would-be bests, and the polish phase.

Verification (:func:`verify_best`): designs that would become the best are re-scored with
the ``verify`` evaluator (the cycle model behind an analytic search) before selection, so
that the elite, the archive and the reported best carry exact values and the search
cannot settle on a design the fast fidelity over-rates. While verifying, only verified
rows may enter the archive (:func:`archivable`).

Polish (:func:`polish_children`, :func:`verify_top`): in the last
``Settings.polish_fraction`` of a run every child is a neighbour of the best verified
design, and the best of them by the fast fidelity are verified whatever the bar: a
cycle-model hill climb.

Everything here is deterministic (no random numbers but the neighbours' ``rng``); the
counts of verified rows are returned, and the loop adds them to its counters.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from evo_pimsyn.engine.problem import Problem
from evo_pimsyn.engine.verify_memo import VerifyMemo

if TYPE_CHECKING:  # the loop imports this module
    from evo_pimsyn.engine.loop import Settings

Verify = Callable[[np.ndarray], pd.DataFrame]


def verifying(verify: Verify | None, settings: "Settings") -> bool:
    """True when this run verifies: a verify evaluator, one objective and a positive limit."""
    return verify is not None and len(settings.objectives) == 1 and settings.verify_limit > 0


def archivable(V: np.ndarray, flags: np.ndarray, verify: Verify | None, settings: "Settings") -> np.ndarray:
    """Rows the archive may take: feasible ones, and while verifying only verified ones
    (an unverified row that merely ties the best would otherwise enter with a fast-fidelity
    value)."""
    ok = V <= 0
    return ok & flags if verifying(verify, settings) else ok


def best_verified(F: np.ndarray, V: np.ndarray, flags: np.ndarray) -> int | None:
    """Row of the best feasible verified design (first objective), None if there is none."""
    known = np.flatnonzero((V <= 0) & flags)
    return int(known[np.argmin(F[known, 0])]) if len(known) else None


def best_verified_value(F: np.ndarray, V: np.ndarray, flags: np.ndarray) -> float:
    """The first objective of the best feasible verified row (``inf`` if there is none)."""
    row = best_verified(F, V, flags)
    return float("inf") if row is None else float(F[row, 0])


# verification per generation falls to half of Settings.verify_limit after every
# verify_limit rows verified in a row that did not raise the best, down to this many rows
# (a quarter of the default 8; a larger limit falls as far, a smaller one to its quarter)
ADAPTIVE_FLOOR_ROWS = 2


def adaptive_limit(settings: "Settings", misses: int) -> "Settings":
    """``settings`` with the verify limit for a generation that follows ``misses`` rows
    verified in vain (no new best verified design since): halved for every
    ``verify_limit`` of them, to a quarter of it or :data:`ADAPTIVE_FLOOR_ROWS`, whichever
    is smaller (at least one row).

    A population stuck in a basin where the fast model over-rates the neighbours of its
    best sends ``verify_limit`` of them to the exact model every generation, and none
    becomes the best: on ResNet18 (120 s, 2 workers) a run that did not improve after its
    31st second made 4,038 cycle-model checks of 15-30 ms each, at least half of its search
    time, which an analytic search would have spent on other basins. The floor keeps some:
    on AlexNet the checks of a stuck run are what finds the better designs its fast model
    under-rates (seeds 1 and 2 at 120 s: 706.0 and 706.2 GOPS/W with 8 a generation, 704.9
    and 701.9 with a floor of one). The corner phase's 64 fall to 2 as well: with a floor of
    a quarter, 16 checks of VGG16's 15-30 ms a generation made its stuck phase's generations
    9x slower than the analytic search's (10 minutes, seed 0: 221 generations in two minutes,
    its front where it was at 120 s)."""
    limit = settings.verify_limit
    if limit <= 1 or misses < limit:
        return settings
    floor = max(1, min(limit >> 2, ADAPTIVE_FLOOR_ROWS))
    return replace(settings, verify_limit=max(floor, limit >> (misses // limit)))


def verify_best(G: np.ndarray, F: np.ndarray, V: np.ndarray, flags: np.ndarray, fast: np.ndarray,
                verify: Verify | None, settings: "Settings") -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Re-score with ``verify`` every feasible row that is not yet verified and would beat
    the best verified row (best first, at most ``settings.verify_limit`` rows). Repeats of
    a row share its values. Returns copies of (F, V, flags) and the number of rows
    verified; without verification (:func:`verifying`) the inputs and 0.

    "Would beat" compares a row's fast value ``fast`` with the weaker of the best verified
    row's exact and fast values: where the fast fidelity under-rates a whole basin (its
    neighbours' errors are alike), a neighbour that the fast model ranks above the best is
    worth the exact check even when its fast value is below the best's exact one."""
    if not verifying(verify, settings) or len(G) == 0:
        return F, V, flags, 0
    F, V, flags, group = _share_verified(G, F, V, flags)
    done = 0
    while done < settings.verify_limit:
        kb = best_verified(F, V, flags)
        if kb is None:
            bar = np.inf
        else:
            bar = max(F[kb, 0], fast[kb]) if np.isfinite(fast[kb]) else F[kb, 0]
        cand = np.flatnonzero((V <= 0) & ~flags & (F[:, 0] < bar))
        if not len(cand):
            break
        cand = cand[np.lexsort((cand, F[cand, 0]))]
        _, lead = np.unique(group[cand], return_index=True)
        cand = cand[np.sort(lead)][: min(4, settings.verify_limit - done)]
        _apply_verified(G, F, V, flags, group, cand, verify, settings)
        done += len(cand)
    return F, V, flags, done


def polish_children(problem: Problem, G: np.ndarray, F: np.ndarray, V: np.ndarray, flags: np.ndarray, n: int,
                    rng: np.random.Generator) -> np.ndarray | None:
    """A polish generation's ``n`` children: neighbours of the best verified design. None
    when no design is verified yet or the problem has no neighbours (the loop then makes
    an ordinary generation)."""
    seed_row = best_verified(F, V, flags)
    if seed_row is None:
        return None
    children = problem.neighbors(G[seed_row][None, :], n, rng)
    return None if children is None else np.asarray(children, dtype=np.int64)


def verify_top(G: np.ndarray, F: np.ndarray, V: np.ndarray, flags: np.ndarray, fast: np.ndarray, verify: Verify,
               settings: "Settings") -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Verify the ``settings.verify_limit`` best unverified feasible rows by their fast value
    (one per distinct genome), whatever the bar; repeats of a verified row share its values.
    Returns copies of (F, V, flags) and the number of rows verified."""
    F, V, flags, group = _share_verified(G, F, V, flags)
    cand = np.flatnonzero((V <= 0) & ~flags)
    cand = cand[np.lexsort((cand, fast[cand]))]
    _, lead = np.unique(group[cand], return_index=True)
    cand = cand[np.sort(lead)][: settings.verify_limit]
    if len(cand):
        _apply_verified(G, F, V, flags, group, cand, verify, settings)
    return F, V, flags, len(cand)


def _share_verified(G: np.ndarray, F: np.ndarray, V: np.ndarray, flags: np.ndarray):
    """Copies of (F, V, flags) in which a repeated genome takes the values of a verified copy
    if there is one; also each row's genome group."""
    F, V, flags = F.copy(), V.copy(), flags.copy()
    _, inverse = np.unique(G, axis=0, return_inverse=True)
    group = inverse.reshape(-1)
    for g in np.unique(group[flags]):
        rows = np.flatnonzero(group == g)
        src = rows[np.argmax(flags[rows])]
        F[rows], V[rows], flags[rows] = F[src], V[src], True
    return F, V, flags, group


def _apply_verified(G, F, V, flags, group, cand, verify, settings: "Settings") -> None:
    """Score rows ``cand`` with ``verify`` and give every copy of each its exact values (in place)."""
    memo = verify if isinstance(verify, VerifyMemo) else VerifyMemo(verify)
    exact_f, exact_v = memo.scores(G[cand], settings.objectives, settings.power_w)
    for k, i in enumerate(cand):
        rows = np.flatnonzero(group == group[i])
        F[rows], V[rows], flags[rows] = exact_f[k], exact_v[k], True
