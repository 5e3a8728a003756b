"""The generation loop: init -> evaluate -> [select parents -> vary -> evaluate -> survive]*.

All state lives in one :class:`State`, replaced (never mutated half-way) at the end of
every generation, so that an interrupt at any point leaves the last complete generation
intact for the checkpoint. The only randomness is ``State.rng``.

Against premature convergence (a single-objective population collapses onto one global
setting within seconds), every generation also scores a local-search batch
(``problem.neighbors`` of the best quarter: ratio, dup, macro and sharing moves at a fixed
crossbar size and cell / DAC resolution), and after ``Settings.restart_after``
generations without progress of the population (its hypervolume) it restarts from
``problem.initial`` (the archive keeps the bests); every other restart makes half of
the fresh population large-neighbourhood moves of archive designs (``problem.perturb``).
With one objective and a ``verify`` evaluator (the exact cycle model behind an analytic
search), designs that would become the best are re-scored with it first, so the search
cannot settle on a design the fast fidelity over-rates, and the last
``Settings.polish_fraction`` of the run polishes the best verified design (its neighbours
only, the best of them verified whatever the bar). The stall counter, restart,
verification and polish counts (``State.extra``) and the verified flags
(``State.verified``) and search-fidelity values (``State.search_values``) are checkpointed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol, Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.engine import nsga
from evo_pimsyn.engine.archive import Archive, hv_reference, hypervolume, normalized_gain
from evo_pimsyn.engine.evaluation import Scores, score
from evo_pimsyn.engine.objectives import Objective, to_raw
from evo_pimsyn.engine.problem import Problem
from evo_pimsyn.engine.verify_memo import VerifyMemo

ALGORITHMS = ("nsga2", "nsga3")
WALL_COLUMNS = ("generation_wall_s", "wall_time_s")


@dataclass(frozen=True)
class Settings:
    objectives: tuple[Objective, ...]
    power_w: float
    population: int = 64
    algorithm: str = "nsga2"
    fidelity: str = "cycle"
    # Against premature convergence (see step()): a local-search batch of
    # ``local_fraction * population`` neighbours of the best designs every generation
    # (problems with a ``neighbors`` method), and a restart of the population from
    # ``problem.initial`` after ``restart_after`` generations in which the population's
    # hypervolume did not grow (0: never). The archive keeps everything found before a restart.
    local_fraction: float = 1.0
    restart_after: int = 60
    # Growth of the population's hypervolume that counts as progress (relative): below it a
    # generation counts towards ``restart_after``. A population creeping up by hundredths
    # of a percent is stuck in its basin (ResNet18, 180 s screens of seeds 0/1/2: 402.9 GOPS/W
    # mean with any growth counting, 408.4 with 3e-4; the seed stuck lowest gained most).
    restart_min_gain: float = 3e-4
    # Every other restart (the 1st, 3rd, ...) breeds this fraction of the fresh population
    # from the archive (problems with a ``perturb`` method): archive designs with a random
    # part of their layers redrawn from the fresh genomes, a large-neighbourhood move around
    # the best basins found so far. The restarts in between are wholly fresh: bred from the
    # archive, a population keeps the archive's crossbar size, resolutions and ratio, and a
    # run whose first basin has a poor setting would never leave it.
    restart_elite: float = 0.5
    # Single objective with a ``verify`` evaluator (the exact model behind a faster search
    # fidelity): at most this many designs per generation that would beat the best
    # verified one are re-scored with it before selection (see _verify_best).
    verify_limit: int = 8
    # Single objective with a ``verify`` evaluator: the last ``polish_fraction`` of the run
    # (of its generations or of its time budget) polishes the best verified design. Every
    # child is then a neighbour of it and the ``verify_limit`` best by the fast fidelity
    # are verified whatever the bar (a cycle-model hill climb; see step()). Near the end
    # a restart has no time left to pay off, while the fast model's error (0.5-3 %) hides
    # improvements that only the exact model sees.
    polish_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"The 'algorithm' parameter must be one of {ALGORITHMS}. Got {self.algorithm!r} instead.")
        if self.population < 4:
            raise ValueError(f"The 'population' parameter must be an int >= 4. Got {self.population!r} instead.")
        if not 0.0 <= self.local_fraction <= 8.0:
            raise ValueError(f"The 'local_fraction' parameter must be in [0, 8]. Got {self.local_fraction!r} instead.")
        if not 0.0 <= self.polish_fraction <= 1.0:
            raise ValueError(f"The 'polish_fraction' parameter must be in [0, 1]. "
                             f"Got {self.polish_fraction!r} instead.")
        if not 0.0 <= self.restart_elite <= 1.0:
            raise ValueError(f"The 'restart_elite' parameter must be in [0, 1]. Got {self.restart_elite!r} instead.")
        if not 0.0 <= self.restart_min_gain < 1.0:
            raise ValueError(f"The 'restart_min_gain' parameter must be in [0, 1). Got {self.restart_min_gain!r} instead.")
        if self.restart_after < 0:
            raise ValueError(f"The 'restart_after' parameter must be an int >= 0. Got {self.restart_after!r} instead.")


class Deadline(Protocol):
    """A wall-clock stop rule (``engine/timebudget.py``'s SearchDeadline)."""

    def reached(self, state: "State") -> bool: ...

    def search_fraction(self, state: "State") -> float: ...


@dataclass(frozen=True)
class Stop:
    """Stop after ``generations`` (total, generation 0 = the initial population), once
    the cumulative search time reaches ``time_budget_s``, or when ``deadline`` says the
    next generation would not fit (a session's ``--time-budget``); any may be None."""

    generations: int | None = None
    time_budget_s: float | None = None
    deadline: Deadline | None = None

    def reached(self, state: "State") -> bool:
        if self.generations is not None and state.generation >= self.generations:
            return True
        if self.time_budget_s is not None and state.elapsed_s >= self.time_budget_s:
            return True
        return self.deadline is not None and self.deadline.reached(state)

    def in_last(self, state: "State", fraction: float) -> bool:
        """True when the next generation falls in the last ``fraction`` of the run."""
        if fraction <= 0:
            return False
        if self.generations is not None and state.generation + 1 > (1.0 - fraction) * self.generations:
            return True
        if self.deadline is not None and self.deadline.search_fraction(state) >= 1.0 - fraction:
            return True
        return self.time_budget_s is not None and state.elapsed_s >= (1.0 - fraction) * self.time_budget_s


@dataclass
class State:
    generation: int
    population: np.ndarray  # [N, n_genes] int64
    objectives: np.ndarray  # [N, m] minimization form
    violation: np.ndarray  # [N]
    archive: Archive
    logbook: list[dict]
    rng: np.random.Generator
    evaluations: int
    elapsed_s: float
    hv_ref: np.ndarray | None = None
    hv_scale: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    verified: np.ndarray | None = None  # [N] bool: population objectives come from the verify evaluator
    # [N] the search fidelity's value of the first objective (minimization form), also for
    # verified rows, whose ``objectives`` hold the verify evaluator's value
    search_values: np.ndarray | None = None


def _log_row(state: State, batch: Scores, settings: Settings, gen_wall_s: float) -> dict:
    row: dict = {
        "generation": state.generation,
        "evaluations": state.evaluations,
        "evaluations_new": int(len(batch.feasible)),
        "feasible_fraction": float(batch.feasible.mean()) if len(batch.feasible) else 0.0,
        "population_feasible_fraction": float((state.violation <= 0).mean()),
    }
    best = to_raw(state.archive.objectives, settings.objectives)
    for k, obj in enumerate(settings.objectives):
        col = best[:, k]
        if len(col) == 0:
            row[f"best_{obj.column}"] = float("nan")
        else:
            row[f"best_{obj.column}"] = float(np.nanmax(col) if obj.maximize else np.nanmin(col))
    row["archive_size"] = len(state.archive)
    if state.hv_ref is not None and len(state.archive):
        row["hypervolume"] = hypervolume(normalized_gain(state.archive.objectives, state.hv_ref, state.hv_scale))
    else:
        row["hypervolume"] = 0.0
    row["restarts"] = int(state.extra.get("restarts", 0))
    row["verified"] = int(state.extra.get("verified", 0))
    row["polish_generations"] = int(state.extra.get("polish_generations", 0))
    row["fidelity"] = settings.fidelity
    row["generation_wall_s"] = round(gen_wall_s, 6)
    row["wall_time_s"] = round(state.elapsed_s, 6)
    return row


def _with_hv_reference(state: State, batch: Scores) -> None:
    if state.hv_ref is None:
        ref = hv_reference(batch.objectives[batch.feasible])
        if ref is not None:
            state.hv_ref, state.hv_scale = ref


def initialize(problem: Problem, evaluate: Callable[[np.ndarray], pd.DataFrame], settings: Settings,
               rng: np.random.Generator, verify: Callable[[np.ndarray], pd.DataFrame] | None = None
               ) -> tuple[State, Scores]:
    t0 = time.perf_counter()
    G = np.asarray(problem.initial(settings.population, rng), dtype=np.int64)
    batch = score(evaluate(G), settings.objectives, settings.power_w)
    extra: dict = {}
    fast = batch.objectives[:, 0].copy()
    F, V, flags = _verify_best(G, batch.objectives, batch.violation, np.zeros(len(G), dtype=bool), fast, verify,
                               settings, extra)
    archive = Archive.empty(G.shape[1], len(settings.objectives))
    archive.update(G, F, _archivable(V, flags, verify, settings))
    state = State(0, G, F, V, archive, [], rng, len(G), 0.0, extra=extra, verified=flags, search_values=fast)
    _with_hv_reference(state, batch)
    row = _log_row(state, batch, settings, 0.0)
    _track_progress(state)
    _stamp_wall(state, row, time.perf_counter() - t0)
    state.logbook = [row]
    return state, batch


DUPLICATE_VIOLATION = 3.0  # worse than any real violation (see objectives.violation)


def _penalize_duplicates(G: np.ndarray, F: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Selection copies of F and V in which every repeat of an earlier genome row ranks
    last, so that survivors are distinct whenever enough distinct rows exist (without
    this a single-objective population collapses onto copies of its best design)."""
    _, first = np.unique(G, axis=0, return_index=True)
    repeat = np.ones(len(G), dtype=bool)
    repeat[first] = False
    if not repeat.any():
        return F, V
    F = F.copy()
    F[repeat] = np.inf
    return F, np.where(repeat, DUPLICATE_VIOLATION, V)


def step(state: State, problem: Problem, evaluate: Callable[[np.ndarray], pd.DataFrame],
         settings: Settings, ref_points: np.ndarray | None = None,
         verify: Callable[[np.ndarray], pd.DataFrame] | None = None, polish: bool = False) -> tuple[State, Scores]:
    """One generation; returns a new state (the input state is left untouched).

    ``polish`` (single objective with ``verify``, problems with ``neighbors``): the children
    are neighbours of the best verified design and the best of them by the fast fidelity
    are verified whatever the bar (:func:`_verify_top`); no restart."""
    t0 = time.perf_counter()
    rng = np.random.Generator(type(state.rng.bit_generator)())
    rng.bit_generator.state = state.rng.bit_generator.state
    G, F, V = state.population, state.objectives, state.violation
    n = len(G)
    extra = dict(state.extra)
    archive = Archive(state.archive.genomes.copy(), state.archive.objectives.copy())
    evaluations = state.evaluations
    flags = state.verified if state.verified is not None else np.zeros(n, dtype=bool)
    # a checkpoint without search values (older runs): the objectives stand in for them
    fast = state.search_values if state.search_values is not None else F[:, 0].copy()
    seed_row = _best_verified(F, V, flags) if polish and _verifying(verify, settings) \
        and hasattr(problem, "neighbors") else None
    if seed_row is None and settings.restart_after and int(extra.get("stall", 0)) >= settings.restart_after:
        # Restart: a fresh initial population (the archive keeps the old bests), so that
        # a converged population explores other global settings and basins again; every
        # other restart breeds half of it from the archive (Settings.restart_elite).
        G = np.asarray(problem.initial(n, rng), dtype=np.int64)
        n_elite = int(round(settings.restart_elite * n)) if int(extra.get("restarts", 0)) % 2 == 0 else 0
        if n_elite > 0 and len(archive.genomes) and hasattr(problem, "perturb"):
            G[n - n_elite:] = problem.perturb(archive.genomes, G[:n_elite], rng)
        fresh = score(evaluate(G), settings.objectives, settings.power_w)
        fast = fresh.objectives[:, 0].copy()
        F, V, flags = _verify_best(G, fresh.objectives, fresh.violation, np.zeros(n, dtype=bool), fast, verify,
                                   settings, extra)
        archive.update(G, F, _archivable(V, flags, verify, settings))
        evaluations += len(G)
        extra["restarts"] = int(extra.get("restarts", 0)) + 1
        extra["stall"] = 0
        extra.pop("best_hv", None)  # the fresh population's own progress counts from here
    n_local = int(round(settings.local_fraction * n))
    if seed_row is not None:
        children = np.asarray(problem.neighbors(G[seed_row][None, :], n + n_local, rng), dtype=np.int64)
        extra["polish_generations"] = int(extra.get("polish_generations", 0)) + 1
    else:
        ranks, crowd = nsga.rank_and_crowding(F, V)
        pairs = -(-n // 2)
        ia = nsga.binary_tournament(ranks, crowd, pairs, rng)
        ib = nsga.binary_tournament(ranks, crowd, pairs, rng)
        children = np.asarray(problem.vary(G[ia], G[ib], rng), dtype=np.int64)[:n]
        if n_local > 0 and hasattr(problem, "neighbors"):
            children = np.concatenate([children, _local_batch(problem, G, F, V, n_local, rng)])
    batch = score(evaluate(children), settings.objectives, settings.power_w)
    allG = np.concatenate([G, children])
    allfast = np.concatenate([fast, batch.objectives[:, 0]])
    allF, allV, allflags = (np.concatenate([F, batch.objectives]), np.concatenate([V, batch.violation]),
                            np.concatenate([flags, np.zeros(len(children), dtype=bool)]))
    if seed_row is not None:
        allF, allV, allflags = _verify_top(allG, allF, allV, allflags, allfast, verify, settings, extra)
    allF, allV, allflags = _verify_best(allG, allF, allV, allflags, allfast, verify, settings, extra)
    selF, selV = _penalize_duplicates(allG, allF, allV)
    if settings.algorithm == "nsga3":
        if ref_points is None:
            ref_points = nsga.reference_points(len(settings.objectives), settings.population)
        keep = nsga.select_nsga3(selF, selV, n, ref_points, rng)
    else:
        keep = nsga.select_nsga2(selF, selV, n)
    archive.update(children, allF[n:], _archivable(allV[n:], allflags[n:], verify, settings))
    new = replace(
        state,
        generation=state.generation + 1,
        population=allG[keep],
        objectives=allF[keep],
        violation=allV[keep],
        archive=archive,
        logbook=list(state.logbook),
        rng=rng,
        evaluations=evaluations + len(children),
        extra=extra,
        verified=allflags[keep],
        search_values=allfast[keep],
    )
    _with_hv_reference(new, batch)
    row = _log_row(new, batch, settings, 0.0)
    _track_progress(new, settings.restart_min_gain)
    _stamp_wall(new, row, time.perf_counter() - t0, state.elapsed_s)
    new.logbook.append(row)
    return new, batch


def _stamp_wall(state: State, row: dict, wall_s: float, before_s: float = 0.0) -> None:
    """Set the generation's wall time, measured to after its hypervolumes (archive and
    population: milliseconds a generation for a 3-objective archive of a few hundred
    designs, which a clock stopped before them left out of wall_time_s)."""
    state.elapsed_s = before_s + wall_s
    row["generation_wall_s"] = round(wall_s, 6)
    row["wall_time_s"] = round(state.elapsed_s, 6)


def _verify_best(G: np.ndarray, F: np.ndarray, V: np.ndarray, flags: np.ndarray, fast: np.ndarray,
                 verify: Callable[[np.ndarray], pd.DataFrame] | None, settings: Settings,
                 extra: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Single objective only: re-score with ``verify`` every feasible row that is not yet
    verified and would beat the best verified row (best first, at most
    ``settings.verify_limit`` rows), so that the elite, the archive and the reported best
    carry exact values and the search cannot settle on a design the fast fidelity
    over-rates. Repeats of a row share its values. Deterministic (no random numbers).

    "Would beat" compares a row's fast value ``fast`` with the weaker of the best verified
    row's exact and fast values: where the fast fidelity under-rates a whole basin (its
    neighbours' errors are alike), a neighbour that the fast model ranks above the best is
    worth the exact check even when its fast value is below the best's exact one."""
    if not _verifying(verify, settings) or len(G) == 0:
        return F, V, flags
    F, V, flags, group = _share_verified(G, F, V, flags)
    done = 0
    while done < settings.verify_limit:
        kb = _best_verified(F, V, flags)
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
    extra["verified"] = int(extra.get("verified", 0)) + done
    return F, V, flags


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


def _apply_verified(G, F, V, flags, group, cand, verify, settings: Settings) -> None:
    """Score rows ``cand`` with ``verify`` and give every copy of each its exact values (in place)."""
    memo = verify if isinstance(verify, VerifyMemo) else VerifyMemo(verify)
    exact_f, exact_v = memo.scores(G[cand], settings.objectives, settings.power_w)
    for k, i in enumerate(cand):
        rows = np.flatnonzero(group == group[i])
        F[rows], V[rows], flags[rows] = exact_f[k], exact_v[k], True


def _best_verified(F: np.ndarray, V: np.ndarray, flags: np.ndarray) -> int | None:
    known = np.flatnonzero((V <= 0) & flags)
    return int(known[np.argmin(F[known, 0])]) if len(known) else None


def _verify_top(G: np.ndarray, F: np.ndarray, V: np.ndarray, flags: np.ndarray, fast: np.ndarray,
                verify: Callable[[np.ndarray], pd.DataFrame], settings: Settings,
                extra: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Verify the ``settings.verify_limit`` best unverified feasible rows by their fast value
    (one per distinct genome), whatever the bar; repeats of a verified row share its values."""
    F, V, flags, group = _share_verified(G, F, V, flags)
    cand = np.flatnonzero((V <= 0) & ~flags)
    cand = cand[np.lexsort((cand, fast[cand]))]
    _, lead = np.unique(group[cand], return_index=True)
    cand = cand[np.sort(lead)][: settings.verify_limit]
    if len(cand):
        _apply_verified(G, F, V, flags, group, cand, verify, settings)
    extra["verified"] = int(extra.get("verified", 0)) + len(cand)
    return F, V, flags


def _verifying(verify, settings: Settings) -> bool:
    return verify is not None and len(settings.objectives) == 1 and settings.verify_limit > 0


def _archivable(V: np.ndarray, flags: np.ndarray, verify, settings: Settings) -> np.ndarray:
    """Rows the archive may take: feasible ones, and while verifying only verified ones
    (an unverified row that merely ties the best would otherwise enter with a fast-fidelity
    value)."""
    ok = V <= 0
    return ok & flags if _verifying(verify, settings) else ok


def _track_progress(state: State, min_gain: float = 0.0) -> None:
    """Stagnation counter: generations since the population's hypervolume (normalized as the
    archive's) last grew by more than the fraction ``min_gain`` (Settings.restart_min_gain).
    The population's, not the archive's: after a restart the fresh population needs
    hundreds of generations to climb back to the archive's best, and a counter on the
    archive would restart it every ``restart_after`` generations, long before it reaches
    the top of its basin."""
    extra = state.extra
    hv = _population_hv(state)
    best = extra.get("best_hv")
    if best is None or hv > float(best) * (1.0 + max(min_gain, 1e-12)) + 1e-300:
        extra["best_hv"] = hv
        extra["stall"] = 0
    else:
        extra["stall"] = int(extra.get("stall", 0)) + 1


def _population_hv(state: State) -> float:
    feasible = state.violation <= 0
    if state.hv_ref is None or not feasible.any():
        return 0.0
    return hypervolume(normalized_gain(state.objectives[feasible], state.hv_ref, state.hv_scale))


def _local_batch(problem: Problem, G: np.ndarray, F: np.ndarray, V: np.ndarray, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    """``n`` neighbours of the best quarter (at least 4) of the distinct population rows,
    best first by (constrained rank, crowding)."""
    selF, selV = _penalize_duplicates(G, F, V)
    ranks, crowd = nsga.rank_and_crowding(selF, selV)
    order = np.lexsort((np.arange(len(G)), -crowd, ranks))
    k = min(len(G), max(4, len(G) // 4))
    return np.asarray(problem.neighbors(G[order[:k]], n, rng), dtype=np.int64)


def evolve(problem: Problem, evaluate: Callable[[np.ndarray], pd.DataFrame], settings: Settings, stop: Stop, *,
           state: State | None = None, seed: int | np.random.SeedSequence | None = None,
           on_generation: Callable[[State, Scores], None] | None = None,
           holder: list | None = None, verify: Callable[[np.ndarray], pd.DataFrame] | None = None) -> State:
    """Run until ``stop``. ``holder`` (a one-element list), if given, always holds the last
    complete state, so a caller that catches ``KeyboardInterrupt`` can checkpoint it."""
    if verify is not None and not isinstance(verify, VerifyMemo):
        verify = VerifyMemo(verify)  # designs that come back are not verified again
    if state is None:
        state, batch = initialize(problem, evaluate, settings, np.random.default_rng(seed), verify)
        if holder is not None:
            holder[:] = [state]
        if on_generation is not None:
            _timed_callback(on_generation, state, batch)
    elif holder is not None:
        holder[:] = [state]
    ref_points = nsga.reference_points(len(settings.objectives), settings.population) \
        if settings.algorithm == "nsga3" else None
    while not stop.reached(state):
        polish = _verifying(verify, settings) and stop.in_last(state, settings.polish_fraction)
        state, batch = step(state, problem, evaluate, settings, ref_points, verify, polish)
        if holder is not None:
            holder[:] = [state]
        if on_generation is not None:
            _timed_callback(on_generation, state, batch)
    return state


def _timed_callback(on_generation: Callable[[State, Scores], None], state: State, batch: Scores) -> None:
    # The time budget bounds the wall time the user waits, so the callback's checkpoint
    # and CSV writes count too (they grow with the run). The row the callback logs was
    # stamped before this, so the logged wall_time_s leaves out the last callback.
    t0 = time.perf_counter()
    on_generation(state, batch)
    state.elapsed_s += time.perf_counter() - t0


def logbook_frame(logbook: Sequence[dict]) -> pd.DataFrame:
    return pd.DataFrame(list(logbook))
