"""The generation loop: init -> evaluate -> [select parents -> vary -> evaluate -> survive]*.

All state lives in one :class:`State`, replaced (never mutated half-way) at the end of
every generation, so that an interrupt at any point leaves the last complete generation
intact for the checkpoint. The only randomness is ``State.rng``.

Against premature convergence (a single-objective population collapses onto one global
setting within seconds), every generation also scores a local-search batch
(``problem.neighbors`` of the best quarter: ratio, dup, macro and sharing moves at a fixed
crossbar size and cell / DAC resolution), and after ``Settings.restart_after``
generations without progress of the population (its hypervolume) or of the archive's
best (:func:`archive_gained`) it restarts from
``problem.initial`` (the archive keeps the bests); every other restart makes half of
the fresh population large-neighbourhood moves of archive designs (``problem.perturb``),
and the restarts in between draw from the global settings the run has not yet converged
on and, single-objective, keep their epoch out of those settings while a setting that a
screening sample in generation 0 found promising is unexplored; single-objective, every
restart draws among the promising settings (``engine/restarts.py``).
With one objective and a ``verify`` evaluator (the exact cycle model behind an analytic
search), designs that would become the best are re-scored with it first, so the search
cannot settle on a design the fast fidelity over-rates; checks that keep failing to find
a better design are made fewer (``verification.adaptive_limit``). The last
``Settings.polish_fraction`` of the run polishes the best verified design (its neighbours
only, the best of them verified whatever the bar); both live in ``engine/verification.py``.
With several objectives, the last ``Settings.corner_fraction`` of the run evolves a
single-objective population instead, which climbs the first objective's extreme with all
of the above and offers what it finds to the archive (``engine/corner.py``, :func:`corner_step`).
The stall counter, restart, verification, miss, polish and corner counts, the explored
and ranked settings (``State.counters``), the verified flags (``State.verified``),
search-fidelity values (``State.search_values``) and the corner phase's population
(``State.corner``) are checkpointed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol, Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.engine import nsga, restarts
from evo_pimsyn.engine.archive import Archive, hv_reference, normalized_hypervolume
from evo_pimsyn.engine.corner import (Boxed, Recorder, boxing, corner_seeds, corner_settings, corner_values,
                                      corner_verifier, cornering, estimates_beyond, ready)
from evo_pimsyn.engine.evaluation import Scores, score
from evo_pimsyn.engine.objectives import Objective, to_raw
from evo_pimsyn.engine.problem import Problem
from evo_pimsyn.engine.verification import (adaptive_limit, archivable, best_verified_value, polish_children,
                                            verify_best, verify_top, verifying)
from evo_pimsyn.engine.verify_memo import VerifyMemo

ALGORITHMS = ("nsga2", "nsga3")
WALL_COLUMNS = ("generation_wall_s", "wall_time_s")
# The loop's one timer (State.elapsed_s, the wall columns, the time budget), read at call
# time: tests put a fake clock here instead of sleeping and measuring.
clock = time.perf_counter


@dataclass(frozen=True, kw_only=True)
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
    # Single objective, problems with ``setting_keys``: during a wholly fresh restart's epoch,
    # designs of the settings explored before rank after every real violation, so that the
    # epoch climbs a new setting instead of drifting back (engine/restarts.py).
    shun_explored: bool = True
    # Single objective, problems with ``screening`` and ``initial_in``: generation 0 ranks
    # the settings by a screening sample, every restart draws its fresh designs among the
    # promising ones, and once all of those are explored the fresh epochs stop shunning
    # (engine/restarts.py). Every objective count, problems with ``screening``: generation
    # 0's population is the NSGA-II survivors of the initial draw and the screening sample
    # together (_with_screened).
    screen_settings: bool = True
    # Single objective with a ``verify`` evaluator (the exact model behind a faster search
    # fidelity): at most this many designs per generation that would beat the best
    # verified one are re-scored with it before selection (see verification.verify_best).
    verify_limit: int = 8
    # Single objective with a ``verify`` evaluator: the last ``polish_fraction`` of the run
    # (of its generations or of its time budget) polishes the best verified design. Every
    # child is then a neighbour of it and the ``verify_limit`` best by the fast fidelity
    # are verified whatever the bar (a cycle-model hill climb; see step()). Near the end
    # a restart has no time left to pay off, while the fast model's error (0.5-3 %) hides
    # improvements that only the exact model sees.
    polish_fraction: float = 0.1
    # Several objectives: the last ``corner_fraction`` of the run (of its generations or of
    # its time budget) evolves a population of ``corner_population`` on the first objective
    # alone, ``corner_seed`` of it the archive's best designs in that objective and the rest
    # fresh, verified and polished as a single-objective run is; its designs join the
    # archive (engine/corner.py). A multi-objective search never climbs to the efficiency
    # extreme of its front as far as a single-objective one, and that corner weighs most in
    # the front's hypervolume. The loop's own default is no phase; a run's is
    # ``session.DEFAULT_CORNER``, where the measurements that set it are.
    corner_fraction: float = 0.0
    corner_population: int = 256
    corner_seed: float = 0.5
    # The phase's ``verify_limit``. The analytic model's error is erratic (over a 10-minute
    # AlexNet front: efficiency estimates 0.98-1.10x the cycle model's, throughput
    # 0.95-1.17x; a design's and its neighbour's efficiency errors correlate at 0.27), and a
    # box multiplies the errors of every objective, so the design whose exact box is best is
    # seldom among the 8 best estimates. bench/peers.py, three objectives, 120 s, 2 workers,
    # seed 0, verify limit 8 -> 32 -> 64 (corner phase and main phase alike; the main phase
    # of several objectives verifies nothing): AlexNet 3.272e9 -> 3.332e9 -> 3.506e9, VGG16
    # 5.979e7 -> 6.060e7 -> 6.025e7. Checks made in vain lower it to 2 a generation
    # (verification.adaptive_limit), as they lower a single-objective run's 8 (bench/PEERS.md).
    corner_verify_limit: int = 64
    # The phase climbs each design's own hypervolume box in all the run's objectives
    # (corner.BOX) instead of the first objective alone.
    corner_box: bool = False

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
        if not 0.0 <= self.corner_fraction <= 1.0:
            raise ValueError(f"The 'corner_fraction' parameter must be in [0, 1]. "
                             f"Got {self.corner_fraction!r} instead.")
        if self.corner_population < 4:
            raise ValueError(f"The 'corner_population' parameter must be an int >= 4. "
                             f"Got {self.corner_population!r} instead.")
        if not 0.0 <= self.corner_seed <= 1.0:
            raise ValueError(f"The 'corner_seed' parameter must be in [0, 1]. Got {self.corner_seed!r} instead.")
        if self.corner_verify_limit < 0:
            raise ValueError(f"The 'corner_verify_limit' parameter must be an int >= 0. "
                             f"Got {self.corner_verify_limit!r} instead.")
        if not 0.0 <= self.restart_elite <= 1.0:
            raise ValueError(f"The 'restart_elite' parameter must be in [0, 1]. Got {self.restart_elite!r} instead.")
        if not 0.0 <= self.restart_min_gain < 1.0:
            raise ValueError(f"The 'restart_min_gain' parameter must be in [0, 1). Got {self.restart_min_gain!r} instead.")
        if self.restart_after < 0:
            raise ValueError(f"The 'restart_after' parameter must be an int >= 0. Got {self.restart_after!r} instead.")


class Deadline(Protocol):
    """A wall-clock stop rule (``engine/timebudget.py``'s SearchDeadline)."""

    def reached(self, state: "State") -> bool: ...

    def fits(self, state: "State", designs: int) -> bool: ...

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

    def fits(self, state: "State", designs: int) -> bool:
        """Whether the deadline leaves time for a next generation that scores ``designs``
        (the corner phase's score several times what the run's did); called after
        :meth:`reached` said the run goes on."""
        return self.deadline is None or self.deadline.fits(state, designs)

    def in_last(self, state: "State", fraction: float) -> bool:
        """True when the next generation falls in the last ``fraction`` of the run."""
        if fraction <= 0:
            return False
        if self.generations is not None and state.generation + 1 > (1.0 - fraction) * self.generations:
            return True
        if self.deadline is not None and self.deadline.search_fraction(state) >= 1.0 - fraction:
            return True
        return self.time_budget_s is not None and state.elapsed_s >= (1.0 - fraction) * self.time_budget_s


@dataclass(frozen=True)
class Counters:
    """The loop's bookkeeping from one generation to the next (checkpointed)."""

    # generations since the population's hypervolume last grew by more than
    # Settings.restart_min_gain, and that hypervolume (None: the next generation sets it)
    stall: int = 0
    best_hv: float | None = None
    restarts: int = 0
    verified: int = 0  # rows re-scored with the verify evaluator (repeats of a design included)
    polish_generations: int = 0
    corner_generations: int = 0  # generations of the corner phase (engine/corner.py)
    # rows verified since a check last found a design better than every one verified before
    # (the archive's best; verification.adaptive_limit)
    verify_misses: int = 0
    # global settings (Problem.setting_keys) the population had converged on at its
    # restarts: a wholly fresh restart draws its designs from the others (engine/restarts.py)
    explored: tuple[int, ...] = ()
    # the promising settings by the problem's screening sample, best first (None: not
    # screened); every restart draws its fresh designs among them (engine/restarts.py)
    ranked: tuple[int, ...] | None = None

    def progressed(self, hv: float, min_gain: float = 0.0) -> "Counters":
        """After a generation whose population has hypervolume ``hv``: the stall count is 0
        and ``hv`` the new baseline when it beats the old one by more than the fraction
        ``min_gain``, else the count grows by one. The population's hypervolume, not the
        archive's: after a restart the fresh population needs hundreds of generations to
        climb back to the archive's best, and a counter on the archive would restart it
        every ``restart_after`` generations, long before it reaches the top of its basin."""
        if self.best_hv is None or hv > self.best_hv * (1.0 + max(min_gain, 1e-12)) + 1e-300:
            return replace(self, best_hv=hv, stall=0)
        return replace(self, stall=self.stall + 1)

    def to_record(self) -> dict:
        return {"stall": self.stall, "best_hv": self.best_hv, "restarts": self.restarts,
                "verified": self.verified, "polish_generations": self.polish_generations,
                "corner_generations": self.corner_generations, "verify_misses": self.verify_misses,
                "explored": list(self.explored), "ranked": None if self.ranked is None else list(self.ranked)}

    @classmethod
    def from_record(cls, record: dict) -> "Counters":
        """From :meth:`to_record`'s dict; keys it lacks keep their defaults (a run without
        restarts or verification wrote none of theirs). ValueError for anything else."""
        if not isinstance(record, dict):
            raise ValueError(f"counters must be a JSON object, got {record!r}")
        unknown = sorted(set(record) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown counter {unknown[0]!r}")
        best_hv = record.get("best_hv")
        if best_hv is not None and (isinstance(best_hv, bool) or not isinstance(best_hv, (int, float))):
            raise ValueError(f"counter 'best_hv' must be a number or null, got {best_hv!r}")
        counts = {k: record.get(k, 0) for k in ("stall", "restarts", "verified", "polish_generations",
                                                "corner_generations", "verify_misses")}
        for key, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"counter {key!r} must be an int >= 0, got {value!r}")
        explored = record.get("explored", [])
        if not _int_list(explored):
            raise ValueError(f"counter 'explored' must be a list of ints, got {explored!r}")
        ranked = record.get("ranked")
        if ranked is not None and not _int_list(ranked):
            raise ValueError(f"counter 'ranked' must be a list of ints or null, got {ranked!r}")
        return cls(best_hv=None if best_hv is None else float(best_hv), explored=tuple(explored),
                   ranked=None if ranked is None else tuple(ranked), **counts)


def _int_list(value) -> bool:
    return isinstance(value, list) and not any(isinstance(k, bool) or not isinstance(k, int) for k in value)


@dataclass(kw_only=True)
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
    counters: Counters = field(default_factory=Counters)
    verified: np.ndarray | None = None  # [N] bool: population objectives come from the verify evaluator
    # [N] the search fidelity's value of the first objective (minimization form), also for
    # verified rows, whose ``objectives`` hold the verify evaluator's value
    search_values: np.ndarray | None = None
    # the corner phase's single-objective population (engine/corner.py), from its first
    # generation on: a State of its own whose archive, counters and hypervolume reference
    # are the phase's; its generation, evaluations, time, logbook and random stream are
    # the run's (set when it steps)
    corner: "State | None" = None


def _phase_counts(state: State) -> tuple[int, int, int]:
    """(restarts, verified, polish generations) of the run: its own and its corner phase's."""
    c = state.counters
    k = state.corner.counters if state.corner is not None else Counters()
    return c.restarts + k.restarts, c.verified + k.verified, c.polish_generations + k.polish_generations


def _log_row(state: State, batch: Scores, settings: Settings, gen_wall_s: float,
             population: State | None = None) -> dict:
    """generations.csv's row of ``state``; ``population``: the state whose population this
    generation evolved (the corner phase's), if not ``state``'s."""
    population = state if population is None else population
    row: dict = {
        "generation": state.generation,
        "evaluations": state.evaluations,
        "evaluations_new": int(len(batch.feasible)),
        "feasible_fraction": float(batch.feasible.mean()) if len(batch.feasible) else 0.0,
        "population_feasible_fraction": float((population.violation <= 0).mean()),
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
        row["hypervolume"] = normalized_hypervolume(state.archive.objectives, state.hv_ref, state.hv_scale)
    else:
        row["hypervolume"] = 0.0
    row["restarts"], row["verified"], row["polish_generations"] = _phase_counts(state)
    row["corner_generations"] = state.counters.corner_generations
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
               rng: np.random.Generator, verify: Callable[[np.ndarray], pd.DataFrame] | None = None,
               genomes: np.ndarray | None = None) -> tuple[State, Scores]:
    """Generation 0: ``settings.population`` genomes from ``problem.initial``, scored
    together with the problem's screening sample (:func:`_with_screened`), which with one
    objective also ranks the global settings for the restarts (:func:`_ranked`). Given
    ``genomes`` (a start the caller chose: the corner phase's archive seeds) are kept as
    they are and the sample only ranks."""
    t0 = clock()
    chosen = genomes is not None
    if genomes is None:
        genomes = problem.initial(settings.population, rng)
    G = np.asarray(genomes, dtype=np.int64)
    batch = score(evaluate(G), settings.objectives, settings.power_w)
    sample = _scored_screening(problem, evaluate, settings)
    if not chosen:
        G, batch = _with_screened(G, batch, sample)
    fast = batch.objectives[:, 0].copy()
    F, V, flags, n_verified = verify_best(G, batch.objectives, batch.violation, np.zeros(len(G), dtype=bool), fast,
                                          verify, settings)
    archive = Archive.empty(G.shape[1], len(settings.objectives))
    archive.update(G, F, archivable(V, flags, verify, settings))
    ranked, n_screened = _ranked(problem, settings, sample)
    state = State(generation=0, population=G, objectives=F, violation=V, archive=archive, logbook=[], rng=rng,
                  evaluations=len(G) + n_screened, elapsed_s=0.0,
                  counters=Counters(verified=n_verified, ranked=ranked), verified=flags, search_values=fast)
    _with_hv_reference(state, batch)
    row = _log_row(state, batch, settings, 0.0)
    state.counters = state.counters.progressed(_population_hv(state))
    _stamp_wall(state, row, clock() - t0)
    state.logbook = [row]
    return state, batch


def _with_screened(G: np.ndarray, batch: Scores, sample: tuple[np.ndarray, Scores] | None
                   ) -> tuple[np.ndarray, Scores]:
    """(the survivors of the initial draw ``G`` and the screening ``sample`` together, their
    scores); ``(G, batch)`` without a sample.

    A network that few random designs fit settles around the first ones that do, and the
    screening sample's pixel-proportional seeds at every legal point start where the search
    should. Several objectives: MobileNetV2 at 49 W, 1 random design in 128 feasible, the
    population settled around low-duplication designs and the moves cannot steepen a flat
    duplication vector (a ratio step is answered by repair rescaling the whole vector, a
    duplication move takes copies from layers that have none to give): 120 s, 189 GOPS/W
    at the front's efficient end, where pymoo's NSGA-II reached 298. One objective: on
    ResNet50 at 49 W 3 to 7 random designs in 256 are feasible (the best 40-156 GOPS/W);
    the population climbed one of their settings (256x256 crossbars, 1-bit cells, 2-bit
    DACs) to about 233 and stayed there for 80-230 s, until a fresh restart drew from the
    settings the screening ranked, while the screening's own best design (256x256, 2-bit
    cells) scored 420, and a 120 s run returned 233."""
    if sample is None:
        return G, batch
    screened, found = sample
    allG = np.concatenate([G, screened])
    allF = np.concatenate([batch.objectives, found.objectives])
    allV = np.concatenate([batch.violation, found.violation])
    keep = nsga.select_nsga2(*penalize_duplicates(allG, allF, allV), len(G))
    frame = pd.concat([batch.frame, found.frame], ignore_index=True).iloc[keep].reset_index(drop=True)
    kept = Scores(frame=frame, objectives=allF[keep], violation=allV[keep],
                  feasible=np.concatenate([batch.feasible, found.feasible])[keep])
    return allG[keep], kept


def _ranked(problem: Problem, settings: Settings, sample: tuple[np.ndarray, Scores] | None
            ) -> tuple[tuple[int, ...] | None, int]:
    """(the promising settings the screening ``sample`` ranks, best first
    (restarts.rank_screening), the designs it scored): the ranking with one objective, None
    otherwise; (None, 0) without a sample."""
    if sample is None:
        return None, 0
    screened, found = sample
    if len(settings.objectives) != 1:
        return None, len(screened)
    return restarts.rank_screening(problem, screened, found.frame, settings.objectives, found.violation), len(screened)


def _screen(problem: Problem, evaluate: Callable[[np.ndarray], pd.DataFrame],
            settings: Settings) -> tuple[tuple[int, ...] | None, int]:
    """(the promising settings ranked by the problem's screening sample, the designs it
    scored) for a restart of a run whose checkpoint predates the screening (:func:`_ranked`)."""
    return _ranked(problem, settings, _scored_screening(problem, evaluate, settings)
                   if len(settings.objectives) == 1 else None)


def _scored_screening(problem: Problem, evaluate: Callable[[np.ndarray], pd.DataFrame],
                      settings: Settings) -> tuple[np.ndarray, Scores] | None:
    """The problem's screening sample and its scores; None without ``Settings.screen_settings``
    or for a problem without one."""
    if not settings.screen_settings:
        return None
    screened = problem.screening(settings.fidelity)
    if screened is None:
        return None
    screened = np.asarray(screened, dtype=np.int64)
    return screened, score(evaluate(screened), settings.objectives, settings.power_w)


DUPLICATE_VIOLATION = 3.0  # worse than any real violation (see objectives.violation)


def penalize_duplicates(G: np.ndarray, F: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    are verified whatever the bar (:func:`~evo_pimsyn.engine.verification.verify_top`); no restart."""
    t0 = clock()
    rng = np.random.Generator(type(state.rng.bit_generator)())
    rng.bit_generator.state = state.rng.bit_generator.state
    G, F, V = state.population, state.objectives, state.violation
    n = len(G)
    counters = state.counters
    archive = Archive(state.archive.genomes.copy(), state.archive.objectives.copy())
    evaluations = state.evaluations
    flags = state.verified if state.verified is not None else np.zeros(n, dtype=bool)
    # a checkpoint without search values (older runs): the objectives stand in for them
    fast = state.search_values if state.search_values is not None else F[:, 0].copy()
    n_local = int(round(settings.local_fraction * n))
    children = polish_children(problem, G, F, V, flags, n + n_local, rng) \
        if polish and verifying(verify, settings) else None
    polishing = children is not None
    if not polishing and settings.restart_after and counters.stall >= settings.restart_after:
        G, F, V, flags, fast, n_scored, counters = _restart(problem, evaluate, settings, verify, G, F, V, archive,
                                                            counters, rng)
        evaluations += n_scored
    if polishing:
        counters = replace(counters, polish_generations=counters.polish_generations + 1)
    else:
        ranks, crowd = nsga.rank_and_crowding(F, V)
        pairs = -(-n // 2)
        ia = nsga.binary_tournament(ranks, crowd, pairs, rng)
        ib = nsga.binary_tournament(ranks, crowd, pairs, rng)
        children = np.asarray(problem.vary(G[ia], G[ib], rng), dtype=np.int64)[:n]
        local = _local_batch(problem, G, F, V, n_local, rng) if n_local > 0 else None
        if local is not None:
            children = np.concatenate([children, local])
    batch = score(evaluate(children), settings.objectives, settings.power_w)
    allG = np.concatenate([G, children])
    allfast = np.concatenate([fast, batch.objectives[:, 0]])
    allF, allV, allflags = (np.concatenate([F, batch.objectives]), np.concatenate([V, batch.violation]),
                            np.concatenate([flags, np.zeros(len(children), dtype=bool)]))
    if polishing:
        allF, allV, allflags, n_top = verify_top(allG, allF, allV, allflags, allfast, verify, settings)
        counters = replace(counters, verified=counters.verified + n_top)
    allF, allV, allflags, n_verified = verify_best(allG, allF, allV, allflags, allfast, verify,
                                                   adaptive_limit(settings, counters.verify_misses))
    if n_verified or polishing:
        # a miss: a check that found no design better than any verified before (the
        # archive, which takes verified designs only while verifying); in a generation
        # without checks (here or in verify_top) no row can beat it, every verified row
        # being in it already
        raised = best_verified_value(allF, allV, allflags) < archive.best_value()
        counters = replace(counters, verified=counters.verified + n_verified,
                           verify_misses=0 if raised else counters.verify_misses + n_verified)
    selF, selV = penalize_duplicates(allG, allF, allV)
    if settings.shun_explored and not polishing and len(settings.objectives) == 1 \
            and restarts.in_fresh_epoch(counters.restarts) and restarts.shuns(counters.ranked, counters.explored):
        selV = restarts.shun_explored(problem, allG, selV, counters.explored)
    if settings.algorithm == "nsga3":
        if ref_points is None:
            ref_points = nsga.reference_points(len(settings.objectives), settings.population)
        keep = nsga.select_nsga3(selF, selV, n, ref_points, rng)
    else:
        keep = nsga.select_nsga2(selF, selV, n)
    archive.update(children, allF[n:], archivable(allV[n:], allflags[n:], verify, settings))
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
        counters=counters,
        verified=allflags[keep],
        search_values=allfast[keep],
    )
    _with_hv_reference(new, batch)
    row = _log_row(new, batch, settings, 0.0)
    new.counters = new.counters.progressed(_population_hv(new), settings.restart_min_gain)
    if len(settings.objectives) == 1 \
            and archive_gained(state.archive.best_value(), archive.best_value(), settings.restart_min_gain):
        new.counters = replace(new.counters, stall=0)
    _stamp_wall(new, row, clock() - t0, state.elapsed_s)
    new.logbook.append(row)
    return new, batch


def _restart(problem: Problem, evaluate: Callable[[np.ndarray], pd.DataFrame], settings: Settings,
             verify: Callable[[np.ndarray], pd.DataFrame] | None, G: np.ndarray, F: np.ndarray, V: np.ndarray,
             archive: Archive, counters: Counters, rng: np.random.Generator):
    """A fresh initial population in place of the converged one ``G`` (the archive, updated
    here, keeps the old bests), so that the run explores other global settings and basins
    again; every other restart breeds half of it from the archive (``Settings.restart_elite``).
    Returns its genomes, objectives, violations, verified flags and search values, the
    number of designs scored, and the counters after it."""
    n = len(G)
    n_elite = int(round(settings.restart_elite * n)) if restarts.breeds_from_archive(counters.restarts) else 0
    explored = restarts.explored_settings(problem, G, F, V, counters.explored, len(settings.objectives))
    ranked, n_screened = counters.ranked, 0
    if ranked is None:  # a checkpoint from before the screening (or none: a no-op)
        ranked, n_screened = _screen(problem, evaluate, settings)
    G = restarts.fresh_genomes(problem, n, rng, explored if n_elite == 0 else (), ranked)
    if n_elite > 0 and len(archive.genomes):
        moved = problem.perturb(archive.genomes, G[:n_elite], rng)
        if moved is not None:
            G[n - n_elite:] = moved
    fresh = score(evaluate(G), settings.objectives, settings.power_w)
    fast = fresh.objectives[:, 0].copy()
    F, V, flags, n_verified = verify_best(G, fresh.objectives, fresh.violation, np.zeros(n, dtype=bool), fast,
                                          verify, settings)
    archive.update(G, F, archivable(V, flags, verify, settings))
    # the fresh population's own progress counts from here (best_hv None)
    counters = replace(counters, restarts=counters.restarts + 1, stall=0, best_hv=None,
                       verified=counters.verified + n_verified, verify_misses=0, explored=explored, ranked=ranked)
    return G, F, V, flags, fast, len(G) + n_screened, counters


def archive_gained(before: float, after: float, min_gain: float) -> bool:
    """Whether the archive's best first objective (minimization form) improved from
    ``before`` to ``after`` by more than the fraction ``min_gain``: with one objective,
    progress whatever the population's hypervolume did. With verification the population's
    values are partly unverified estimates, and one over-rated estimate sets a baseline
    that verified designs never pass (ResNet50 at 49 W, seed 1: an estimate of 439.2 GOPS/W
    set it in generation 187, a check found 437.2 against the archive's 435.4 in generation
    231, and the stall count ran on to a restart in generation 248)."""
    if not np.isfinite(after):
        return False
    if not np.isfinite(before):
        return True
    return after < before - min_gain * abs(before)


def corner_step(state: State, problem: Problem, evaluate: Callable[[np.ndarray], pd.DataFrame],
                settings: Settings, verify: Callable[[np.ndarray], pd.DataFrame] | None = None,
                polish: bool = False) -> tuple[State, Scores]:
    """One generation of the corner phase (``engine/corner.py``); returns a new state (the
    input state is left untouched) and the phase's batch of the generation.

    The phase's first generation seeds its population (the archive's best designs in the
    phase's objective, ``corner.corner_values``, and fresh ones) and scores it; the next
    ones are :func:`step` s of it under ``corner_settings`` (``polish``: a polish
    generation). The designs it verified (without verification: all it scored) are offered
    to the run's archive with their values in every objective. The run's own population,
    its stall count and hypervolume reference stay as they were. ``verify``: the exact
    evaluator, or the phase's memo of it (``corner.corner_verifier``; :func:`evolve` keeps
    one from the phase's start)."""
    t0 = clock()
    box = boxing(state, settings)
    csettings = corner_settings(settings, box)
    if verify is not None and not isinstance(verify, VerifyMemo):
        verify = corner_verifier(verify, state, settings)
    checking = verifying(verify, csettings)
    if checking:
        verify.drain(problem.n_genes)  # only what this generation verifies is offered
    if box:
        evaluate = Boxed(evaluate, settings, state)
    recorder = None if checking else Recorder(evaluate)
    scorer = evaluate if recorder is None else recorder
    if state.corner is None:
        rng = np.random.Generator(type(state.rng.bit_generator)())
        rng.bit_generator.state = state.rng.bit_generator.state
        seeds = corner_seeds(state.archive, corner_values(state.archive.objectives, state, settings),
                             csettings.population, settings.corner_seed)
        fresh = np.asarray(problem.initial(csettings.population - len(seeds), rng), dtype=np.int64)
        sub, batch = initialize(problem, scorer, csettings, rng, verify,
                                genomes=np.concatenate([seeds, fresh]) if len(seeds) else fresh)
    else:
        sub = replace(state.corner, generation=0, logbook=[], rng=state.rng, evaluations=0, elapsed_s=0.0)
        sub, batch = step(sub, problem, scorer, csettings, None, verify, polish)
    archive = Archive(state.archive.genomes.copy(), state.archive.objectives.copy())
    checked = 0
    if checking:
        G = verify.drain(problem.n_genes)
        F, V = verify.scores(G, settings.objectives, settings.power_w, record=False)
        offered = F[V <= 0]
        # the archive's estimates beyond the phase's best exact value get theirs first
        # (corner.estimates_beyond); they are revised, not offered
        beyond = archive.genomes[estimates_beyond(corner_values(archive.objectives, state, settings),
                                                  sub.archive.best_value())]
        if len(beyond):
            Fb, Vb = verify.scores(beyond, settings.objectives, settings.power_w, record=False)
            G, F, V = np.concatenate([G, beyond]), np.concatenate([F, Fb]), np.concatenate([V, Vb])
            checked = len(beyond)
        archive.revise(G, F, V <= 0)
    else:
        offered = recorder.offer(archive, settings)
    new = replace(
        state,
        generation=state.generation + 1,
        archive=archive,
        logbook=list(state.logbook),
        rng=sub.rng,
        evaluations=state.evaluations + sub.evaluations,
        counters=replace(state.counters, corner_generations=state.counters.corner_generations + 1,
                         verified=state.counters.verified + checked),
        corner=replace(sub, generation=0, logbook=[], evaluations=0, elapsed_s=0.0),
    )
    if new.hv_ref is None:
        ref = hv_reference(offered)
        if ref is not None:
            new.hv_ref, new.hv_scale = ref
    row = _log_row(new, batch, settings, 0.0, population=new.corner)
    _stamp_wall(new, row, clock() - t0, state.elapsed_s)
    new.logbook.append(row)
    return new, batch


def _stamp_wall(state: State, row: dict, wall_s: float, before_s: float = 0.0) -> None:
    """Set the generation's wall time, measured to after its hypervolumes (archive and
    population: milliseconds a generation for a 3-objective archive of a few hundred
    designs, which a clock stopped before them left out of wall_time_s)."""
    state.elapsed_s = before_s + wall_s
    row["generation_wall_s"] = round(wall_s, 6)
    row["wall_time_s"] = round(state.elapsed_s, 6)


def _population_hv(state: State) -> float:
    feasible = state.violation <= 0
    if state.hv_ref is None or not feasible.any():
        return 0.0
    return normalized_hypervolume(state.objectives[feasible], state.hv_ref, state.hv_scale)


def _local_batch(problem: Problem, G: np.ndarray, F: np.ndarray, V: np.ndarray, n: int,
                 rng: np.random.Generator) -> np.ndarray | None:
    """``n`` neighbours of the best quarter (at least 4) of the distinct population rows,
    best first by (constrained rank, crowding); None for a problem without neighbours."""
    selF, selV = penalize_duplicates(G, F, V)
    ranks, crowd = nsga.rank_and_crowding(selF, selV)
    order = np.lexsort((np.arange(len(G)), -crowd, ranks))
    k = min(len(G), max(4, len(G) // 4))
    local = problem.neighbors(G[order[:k]], n, rng)
    return None if local is None else np.asarray(local, dtype=np.int64)


def evolve(problem: Problem, evaluate: Callable[[np.ndarray], pd.DataFrame], settings: Settings, stop: Stop, *,
           state: State | None = None, seed: int | np.random.SeedSequence | None = None,
           on_generation: Callable[[State, Scores], None] | None = None,
           holder: list | None = None, verify: Callable[[np.ndarray], pd.DataFrame] | None = None) -> State:
    """Run until ``stop``. ``holder`` (a one-element list), if given, always holds the last
    complete state, so a caller that catches ``KeyboardInterrupt`` can checkpoint it."""
    corner_verify = None  # the corner phase's memo (corner.corner_verifier), from its start
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
    corner_on = cornering(settings)
    corner_verifies = corner_on and verifying(verify, corner_settings(settings))
    while not stop.reached(state):
        # a corner generation that would not fit in a time budget leaves its place to an
        # ordinary one (a short budget whose phase starts with seconds left)
        in_corner = corner_on and stop.in_last(state, settings.corner_fraction) \
            and stop.fits(state, _corner_designs(state, settings)) and ready(state, settings)
        if in_corner:
            if corner_verify is None and verify is not None:
                corner_verify = corner_verifier(verify, state, settings)
            # the phase's own polish: the last polish_fraction of the phase
            polish = corner_verifies and stop.in_last(state, settings.corner_fraction * settings.polish_fraction)
            state, batch = corner_step(state, problem, evaluate, settings, corner_verify, polish)
        else:
            polish = verifying(verify, settings) and stop.in_last(state, settings.polish_fraction)
            state, batch = step(state, problem, evaluate, settings, ref_points, verify, polish)
        if holder is not None:
            holder[:] = [state]
        if on_generation is not None:
            _timed_callback(on_generation, state, batch)
    return state


def _corner_designs(state: State, settings: Settings) -> int:
    """Designs the next corner generation scores: its seeded population first, then the
    population's children and neighbours."""
    n = settings.corner_population
    return n if state.corner is None else n + int(round(settings.local_fraction * n))


def _timed_callback(on_generation: Callable[[State, Scores], None], state: State, batch: Scores) -> None:
    # The time budget bounds the wall time the user waits, so the callback's checkpoint
    # and CSV writes count too (they grow with the run). The row the callback logs was
    # stamped before this, so the logged wall_time_s leaves out the last callback.
    t0 = clock()
    on_generation(state, batch)
    state.elapsed_s += clock() - t0


def logbook_frame(logbook: Sequence[dict]) -> pd.DataFrame:
    return pd.DataFrame(list(logbook))
