"""The generation loop: init -> evaluate -> [select parents -> vary -> evaluate -> survive]*.

All state lives in one :class:`State`, replaced (never mutated half-way) at the end of
every generation, so that an interrupt at any point leaves the last complete generation
intact for the checkpoint. The only randomness is ``State.rng``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from evo_pimsyn.engine import nsga
from evo_pimsyn.engine.archive import Archive, hv_reference, hypervolume, normalized_gain
from evo_pimsyn.engine.evaluation import Scores, score
from evo_pimsyn.engine.objectives import Objective, to_raw
from evo_pimsyn.engine.problem import Problem

ALGORITHMS = ("nsga2", "nsga3")
WALL_COLUMNS = ("generation_wall_s", "wall_time_s")


@dataclass(frozen=True)
class Settings:
    objectives: tuple[Objective, ...]
    power_w: float
    population: int = 64
    algorithm: str = "nsga2"
    fidelity: str = "cycle"
    power_check: str = "pimsyn"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"The 'algorithm' parameter must be one of {ALGORITHMS}. Got {self.algorithm!r} instead.")
        if self.population < 4:
            raise ValueError(f"The 'population' parameter must be an int >= 4. Got {self.population!r} instead.")


@dataclass(frozen=True)
class Stop:
    """Stop after ``generations`` (total, generation 0 = the initial population) or once
    the cumulative search time reaches ``time_budget_s``; either may be None."""

    generations: int | None = None
    time_budget_s: float | None = None

    def reached(self, state: "State") -> bool:
        if self.generations is not None and state.generation >= self.generations:
            return True
        if self.time_budget_s is not None and state.elapsed_s >= self.time_budget_s:
            return True
        return False


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
               rng: np.random.Generator) -> tuple[State, Scores]:
    t0 = time.perf_counter()
    G = np.asarray(problem.initial(settings.population, rng), dtype=np.int64)
    batch = score(evaluate(G), settings.objectives, settings.power_w, settings.power_check)
    archive = Archive.empty(G.shape[1], len(settings.objectives))
    archive.update(G, batch.objectives, batch.feasible)
    state = State(0, G, batch.objectives, batch.violation, archive, [], rng, len(G), 0.0)
    _with_hv_reference(state, batch)
    wall = time.perf_counter() - t0
    state.elapsed_s = wall
    state.logbook = [_log_row(state, batch, settings, wall)]
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
         settings: Settings, ref_points: np.ndarray | None = None) -> tuple[State, Scores]:
    """One generation; returns a new state (the input state is left untouched)."""
    t0 = time.perf_counter()
    rng = np.random.Generator(type(state.rng.bit_generator)())
    rng.bit_generator.state = state.rng.bit_generator.state
    G, F, V = state.population, state.objectives, state.violation
    n = len(G)
    ranks, crowd = nsga.rank_and_crowding(F, V)
    pairs = -(-n // 2)
    ia = nsga.binary_tournament(ranks, crowd, pairs, rng)
    ib = nsga.binary_tournament(ranks, crowd, pairs, rng)
    children = np.asarray(problem.vary(G[ia], G[ib], rng), dtype=np.int64)[:n]
    batch = score(evaluate(children), settings.objectives, settings.power_w, settings.power_check)
    allG = np.concatenate([G, children])
    allF = np.concatenate([F, batch.objectives])
    allV = np.concatenate([V, batch.violation])
    selF, selV = _penalize_duplicates(allG, allF, allV)
    if settings.algorithm == "nsga3":
        if ref_points is None:
            ref_points = nsga.reference_points(len(settings.objectives), settings.population)
        keep = nsga.select_nsga3(selF, selV, n, ref_points, rng)
    else:
        keep = nsga.select_nsga2(selF, selV, n)
    archive = Archive(state.archive.genomes.copy(), state.archive.objectives.copy())
    archive.update(children, batch.objectives, batch.feasible)
    new = replace(
        state,
        generation=state.generation + 1,
        population=allG[keep],
        objectives=allF[keep],
        violation=allV[keep],
        archive=archive,
        logbook=list(state.logbook),
        rng=rng,
        evaluations=state.evaluations + len(children),
    )
    _with_hv_reference(new, batch)
    wall = time.perf_counter() - t0
    new.elapsed_s = state.elapsed_s + wall
    new.logbook.append(_log_row(new, batch, settings, wall))
    return new, batch


def evolve(problem: Problem, evaluate: Callable[[np.ndarray], pd.DataFrame], settings: Settings, stop: Stop, *,
           state: State | None = None, seed: int | np.random.SeedSequence | None = None,
           on_generation: Callable[[State, Scores], None] | None = None,
           holder: list | None = None) -> State:
    """Run until ``stop``. ``holder`` (a one-element list), if given, always holds the last
    complete state, so a caller that catches ``KeyboardInterrupt`` can checkpoint it."""
    if state is None:
        state, batch = initialize(problem, evaluate, settings, np.random.default_rng(seed))
        if holder is not None:
            holder[:] = [state]
        if on_generation is not None:
            on_generation(state, batch)
    elif holder is not None:
        holder[:] = [state]
    ref_points = nsga.reference_points(len(settings.objectives), settings.population) \
        if settings.algorithm == "nsga3" else None
    while not stop.reached(state):
        state, batch = step(state, problem, evaluate, settings, ref_points)
        if holder is not None:
            holder[:] = [state]
        if on_generation is not None:
            on_generation(state, batch)
    return state


def logbook_frame(logbook: Sequence[dict]) -> pd.DataFrame:
    return pd.DataFrame(list(logbook))
