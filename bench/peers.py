"""The engine against the optimizers people already use, on the project's own problem.

    .venv/bin/python bench/peers.py [--networks alexnet,resnet18,vgg16,resnet50,mobilenet_v2,squeezenet1_1]
        [--seeds 0,1,2] [--budgets 120s,10m] [--objectives single|three|both]
        [--contenders engine,pymoo-ga,pymoo-de,pymoo-nsga2,optuna-tpe,optuna-nsga2]
        [--workers 2] [--out runs/peers] [--report-only]

Needs the ``bench`` extra (``pip install -e ".[bench]"``: pymoo, optuna).

Every contender gets the same genome layout (``genomes.GenomeLayout`` of the network at its
power), the same repair (``genomes.repair``, applied to whatever a peer proposes after
rounding to the nearest integer and clipping to the gene bounds, as pymoo documents for
integer variables), the same analytic evaluator (the engine's ``Evaluator`` with the same
worker count), the same model settings (PIMSYN's config, specified macros with reuse,
power check ``strict``, no model fixes) and the same wall-clock budget of search time
(kernels loaded first, the final cycle-model scoring not counted: as the engine's
``wall_time_s``). Only the search algorithm differs:

* ``engine``: ``evo-pimsyn run`` in a subprocess, as a user starts it (default population,
  restarts, local search, verification and polish; nothing tuned for the bench);
* ``pymoo-ga``, ``pymoo-nsga2``: pymoo's GA / NSGA-II with its documented integer setup
  (SBX and PM with eta 3 and rounding), population 100, duplicates eliminated;
* ``pymoo-de``: pymoo's DE/rand/1/bin, CR 0.3, population 100;
* ``optuna-tpe``: Optuna's TPE sampler (its defaults), ask/tell in batches of 8;
* ``optuna-nsga2``: Optuna's NSGA-II sampler (population 50), ask/tell one generation at a time.

pymoo writes the repaired genome back into its population (a pymoo ``Repair``); Optuna keeps
the parameters it proposed and is told the values of their repaired design. Infeasible
designs are constraint violations (the engine's ``violation``: pymoo ``G``, Optuna
``Trial.set_constraint``) with the worst objective values. Peers start from the engine's own
initial designs (``PimProblem.initial``: heuristic seeds and random legal genomes;
``--peer-init uniform`` gives them their own uniform sampling of the gene box instead), so
the comparison is of the search, not of the start.

At the end each peer's candidates are scored with the cycle model, as the engine's archive
is re-scored into its pareto.csv: with one objective its ``TOP`` (64) best distinct designs
by the analytic efficiency, with three its whole non-dominated archive (every feasible
design it evaluated that no other dominates, by the analytic model: the engine's rule).

Results:

* single objective (efficiency): best cycle-scored efficiency (GOPS/W) and the search time
  at which the design that has it was first evaluated (the engine: the first generation
  whose verified best reached its final best);
* three objectives (efficiency, throughput, area): hypervolume of the cycle-scored feasible
  designs with ONE reference point per (network, power), the same for every contender and
  seed (:func:`reference_point`), and the number of designs on that front;
* the targets against the best known (:func:`reach_table`): the engine's margin over the
  best peer (1.05x one objective, 1.10x three) next to the best that any row of the CSV
  found, whatever its contender, budget and seed (three objectives: the hypervolume of the
  union of every row's cycle-scored designs). A target above it asks for designs that no
  contender has found, not only for a better engine.

Every (network, power, objectives, contender, budget, seed, workers) ends as one row of
``OUT/results.csv``, appended and fsynced as soon as it is done; a rerun skips the rows
already there, so the measurement can be run in slices and resumed after a kill (a
half-done engine run folder is deleted and run again). ``--report-only`` prints the tables
from the CSV. The cycle-scored candidates of every row are kept in ``OUT/fronts/``, the
engine's run folders in ``OUT/engine/``.

A proposed change of the engine's defaults can be measured here before it is made: a
contender ``engine+KEY=VALUE+...`` runs ``evo-pimsyn run`` with ``--population`` /
``--polish`` / ``--corner`` or with other ``loop.Settings`` defaults (``local_fraction``,
``restart_after``, ``corner_seed``, ...), e.g. ``engine+population=64`` or
``engine+corner=0.2`` (three objectives: the corner phase, ``--corner``); ``engine+split=0.2``
(three objectives) is the probe that measured the corner phase before the engine had it: the
last fifth of the budget goes to a second, single-objective run with population 256 (a run
folder of its own, not seeded from the first) whose designs join the front of the first
(run with ``--corner 0`` unless the contender sets it).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# the repository's copy of PIMSYN's reference networks (tests/data/reference), so that any
# clone runs the benchmark
REFERENCE_NETWORKS = REPO / "tests" / "data" / "reference" / "networks"
# PIMSYN's network JSONs (its frontend's layer tables, with its config: the like-for-like
# inputs) and three embedded zoo models beyond PIMSYN's set. All are feasible at 49 W under
# the strict power check (`evo-pimsyn sample --model M --power 49 -n 5 --feasible-only`
# wrote 5 of 5 for each zoo model).
NETWORKS = {
    "alexnet": str(REFERENCE_NETWORKS / "alexnet.json"),
    "resnet18": str(REFERENCE_NETWORKS / "resnet18.json"),
    "vgg16": str(REFERENCE_NETWORKS / "vgg16.json"),
    "resnet50": "zoo:resnet50",
    "mobilenet_v2": "zoo:mobilenet_v2",
    "squeezenet1_1": "zoo:squeezenet1_1",
}
POWER_W = 49.0
POWER_CHECK = "strict"  # the product default
MODES = {"single": ("efficiency",), "three": ("efficiency", "throughput", "area")}
TOP = 64  # single objective: a peer's best distinct designs scored with the cycle model
OPTUNA_TPE_BATCH = 8
# which objective sets each contender runs (pymoo's GA and DE are single-objective)
CONTENDERS = {
    "engine": ("single", "three"),
    "pymoo-ga": ("single",),
    "pymoo-de": ("single",),
    "pymoo-nsga2": ("three",),
    "optuna-tpe": ("single", "three"),
    "optuna-nsga2": ("single", "three"),
}
COLUMNS = ("network", "power_w", "objectives", "contender", "budget_s", "seed", "workers", "power_check",
           "best_efficiency_gops_w", "time_to_best_s", "search_best_efficiency_gops_w", "hypervolume",
           "front_designs", "ref_efficiency_gops_w", "ref_throughput_ips", "ref_area_mm2", "hypervolume_nadir",
           "front_designs_nadir", "ref_area_nadir_mm2", "candidates",
           "evaluations", "verified", "search_s", "wall_s", "peer_init", "finished_at")
KEY = ("network", "power_w", "objectives", "contender", "budget_s", "seed", "workers")


# ---- the shared reference point ---------------------------------------------------------
def reference_point(hardware, power_w: float) -> tuple[float, float, float]:
    """(efficiency GOPS/W, throughput inferences/s, area mm^2): the hypervolume reference of
    every contender at ``power_w``; fixed by the hardware config and the power alone.

    Efficiency and throughput are bounded below by 0. Area is bounded above under the strict
    power check: a design's area is the sum over its crossbars, converters and ALUs of count
    x area, plus per macro its scratchpad and a NoC router, while its peak power, at most the
    budget, is the sum of the same counts x peak power (a scratchpad: its leakage) plus the
    whole-chip NoC. So area <= (budget - NoC power) x the largest area per watt of any
    component kind (a scratchpad counted with its router). With PIMSYN's config at 49 W
    that is 48.9 W x 8.88 mm^2/W (64 KB scratchpads) = 434 mm^2, whatever the network."""
    per_w = [x.area_mm2 / x.peak_power_w for x in hardware.rram.values() if x.peak_power_w > 0]
    units = [*hardware.adc.values(), *hardware.dac.values(), *hardware.alu.values()]
    per_w += [u.area_mm2 / u.peak_power_w for u in units if u.peak_power_w > 0]
    per_w += [(m.area_mm2 + hardware.noc_router_area_mm2) / m.leak_power_w
              for m in hardware.memory.values() if m.leak_power_w > 0]
    return 0.0, 0.0, float((power_w - hardware.noc_power_w) * max(per_w))


NADIR_SAMPLE = 4096  # random legal designs of the sample whose front fixes the second reference
NADIR_MARGIN = 1.1


def nadir_reference(setup, sample: int = NADIR_SAMPLE) -> tuple[float, float, float]:
    """A tighter reference, also fixed by the network and power alone: efficiency and
    throughput 0, area 1.1 x the largest area on the (efficiency, throughput, area) front of
    ``sample`` random legal designs (``genomes.init.random_genomes``, seed 0, analytic model).

    :func:`reference_point` is guaranteed but loose: the fronts' areas are a tenth of it
    (AlexNet: 6-39 mm^2 against 434 mm^2), so that the area axis weighs little in its
    hypervolume. A random sample's front reaches about as far in area as the searched
    fronts (AlexNet: 39.6 mm^2), and 10 % more keeps their designs inside the box."""
    from evo_pimsyn.analysis import pareto_filter
    from genomes.init import random_genomes

    problem = setup.problem
    fn, args = problem.scorer("analytic")
    frame = fn(*args, random_genomes(problem.layout, sample, np.random.default_rng(0)))
    front = pareto_filter(frame, list(MODES["three"]))
    area = float(front["area_mm2"].max()) if len(front) else float("nan")
    return 0.0, 0.0, NADIR_MARGIN * area


# ---- what a peer sees -------------------------------------------------------------------
def to_genomes(layout, X) -> np.ndarray:
    """Legal genomes (int64) of a peer's proposals ``X`` [B, n_genes], any real values:
    rounded to the nearest integer (half to even, as pymoo's ``RoundingRepair``), clipped
    to the gene bounds and repaired (``genomes.repair``, deterministic and idempotent)."""
    from genomes.repair import repair

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != layout.n_genes:
        raise ValueError(f"proposals must be a matrix [B, {layout.n_genes}], got shape {X.shape}")
    X = np.nan_to_num(X, nan=0.0, posinf=np.iinfo(np.int32).max, neginf=np.iinfo(np.int32).min)
    X = np.clip(np.rint(X), layout.lower, layout.upper).astype(np.int64)
    return np.asarray(repair(layout, X), dtype=np.int64)


@dataclass
class Tracker:
    """Every evaluated batch of a peer: its candidates for the final cycle scoring (one
    objective: the ``top`` best distinct feasible genomes with the search time each was
    first seen; more: the non-dominated archive), the best search value, the count."""

    n_genes: int
    n_objectives: int
    top: int = TOP
    evaluations: int = 0
    genomes: np.ndarray = field(init=False)
    objectives: np.ndarray = field(init=False)  # minimization form
    seen_s: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.genomes = np.zeros((0, self.n_genes), dtype=np.int64)
        self.objectives = np.zeros((0, self.n_objectives))
        self.seen_s = np.zeros(0)

    def add(self, G: np.ndarray, F: np.ndarray, V: np.ndarray, t_s: float) -> None:
        self.evaluations += len(G)
        ok = (np.asarray(V) <= 0) & np.isfinite(F).all(axis=1)
        allG = np.concatenate([self.genomes, np.asarray(G, dtype=np.int64)[ok]])
        allF = np.concatenate([self.objectives, np.asarray(F, dtype=np.float64)[ok]])
        allT = np.concatenate([self.seen_s, np.full(int(ok.sum()), float(t_s))])
        _, first = np.unique(allG, axis=0, return_index=True)  # the earliest copy: the known one
        first = np.sort(first)
        allG, allF, allT = allG[first], allF[first], allT[first]
        if self.n_objectives == 1:
            keep = np.lexsort((allT, allF[:, 0]))[: self.top]
        else:
            from evo_pimsyn.engine.archive import pareto_mask

            keep = np.flatnonzero(pareto_mask(allF))
        self.genomes, self.objectives, self.seen_s = allG[keep], allF[keep], allT[keep]

    @property
    def search_best(self) -> float:
        """Best first objective in minimization form (inf when nothing feasible)."""
        return float(self.objectives[:, 0].min()) if len(self.objectives) else np.inf


class PeerProblem:
    """The problem as a peer sees it: ``pp(X) -> (G, F, V)`` (legal genomes, objectives in
    minimization form with inf where infeasible, violation 0 when feasible), scored with
    the engine's evaluator; every call is recorded by ``pp.tracker`` with its search time."""

    def __init__(self, setup, modes: tuple[str, ...], evaluate: Callable) -> None:
        from evo_pimsyn.engine.objectives import parse_objectives

        self.setup = setup
        self.layout = setup.problem.layout
        self.objectives = parse_objectives(",".join(modes))
        self.power_w = float(setup.problem.power_w)
        self.evaluate = evaluate
        self.tracker = Tracker(self.layout.n_genes, len(self.objectives))
        self.t0 = time.perf_counter()

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def __call__(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from evo_pimsyn.engine.evaluation import score

        G = to_genomes(self.layout, X)
        s = score(self.evaluate(G), self.objectives, self.power_w)
        self.tracker.add(G, s.objectives, s.violation, self.elapsed())
        return G, s.objectives, s.violation


# ---- the peers --------------------------------------------------------------------------
WORST = 1e30  # a peer's objective value for an infeasible design (minimization form)


def _pymoo_parts(pp: PeerProblem):
    from pymoo.core.problem import Problem
    from pymoo.core.repair import Repair

    layout = pp.layout

    class GenomeProblem(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=layout.n_genes, n_obj=len(pp.objectives), n_ieq_constr=1,
                             xl=layout.lower.astype(np.float64), xu=layout.upper.astype(np.float64), vtype=int)

        def _evaluate(self, X, out, *args, **kwargs):
            _, F, V = pp(X)
            out["F"] = np.where(np.isfinite(F), F, WORST)
            out["G"] = V[:, None]  # <= 0: feasible

    class GenomeRepair(Repair):
        def _do(self, problem, X, **kwargs):
            return to_genomes(layout, X).astype(np.float64)

    return GenomeProblem(), GenomeRepair()


def pymoo_algorithm(name: str, init: np.ndarray | None, repair):
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    sampling = init.astype(np.float64) if init is not None else IntegerRandomSampling()
    if name == "pymoo-de":
        from pymoo.algorithms.soo.nonconvex.de import DE

        return DE(pop_size=100, sampling=sampling, variant="DE/rand/1/bin", CR=0.3, repair=repair)
    # pymoo's documented integer setup ("Discrete Variable Problem")
    ops = dict(sampling=sampling, crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
               mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
               eliminate_duplicates=True, repair=repair)
    if name == "pymoo-ga":
        from pymoo.algorithms.soo.nonconvex.ga import GA

        return GA(pop_size=100, **ops)
    if name == "pymoo-nsga2":
        from pymoo.algorithms.moo.nsga2 import NSGA2

        return NSGA2(pop_size=100, **ops)
    raise ValueError(f"unknown pymoo contender {name!r}")


POP = {"pymoo-ga": 100, "pymoo-de": 100, "pymoo-nsga2": 100, "optuna-tpe": 64, "optuna-nsga2": 50}


def run_pymoo(name: str, pp: PeerProblem, budget_s: float, seed: int, init: np.ndarray | None) -> None:
    from pymoo.core.termination import NoTermination

    problem, repair = _pymoo_parts(pp)
    algorithm = pymoo_algorithm(name, init, repair)
    algorithm.setup(problem, termination=NoTermination(), seed=seed, verbose=False)
    while pp.elapsed() < budget_s and algorithm.has_next():
        pop = algorithm.ask()
        algorithm.evaluator.eval(problem, pop)
        algorithm.tell(infills=pop)


def optuna_values(F: np.ndarray, objectives, ref: tuple[float, ...]) -> list[list[float]]:
    """Values to tell Optuna (the objectives' own units and senses); an infeasible row gets
    the reference point's values (the worst the bench counts)."""
    signs = np.array([o.sign for o in objectives])
    worst = np.array([ref[k] for k, _ in enumerate(objectives)])
    raw = np.where(np.isfinite(F), F * signs, worst)
    return raw.tolist()


def run_optuna(name: str, pp: PeerProblem, budget_s: float, seed: int, init: np.ndarray | None,
               ref: tuple[float, ...]) -> None:
    import optuna
    from optuna.distributions import IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # constraints: Trial.set_constraint (Optuna 5; the samplers' constraints_func is deprecated)
    if name == "optuna-tpe":
        sampler, batch = optuna.samplers.TPESampler(seed=seed), OPTUNA_TPE_BATCH
    elif name == "optuna-nsga2":
        sampler, batch = optuna.samplers.NSGAIISampler(seed=seed, population_size=POP[name]), POP[name]
    else:
        raise ValueError(f"unknown optuna contender {name!r}")
    study = optuna.create_study(sampler=sampler,
                                directions=["maximize" if o.maximize else "minimize" for o in pp.objectives])
    names = [str(n) for n in pp.layout.gene_names]
    dists = {n: IntDistribution(int(lo), int(hi)) for n, lo, hi in zip(names, pp.layout.lower, pp.layout.upper)}
    for g in init if init is not None else ():
        study.enqueue_trial({n: int(v) for n, v in zip(names, g)})
    while pp.elapsed() < budget_s:
        trials = [study.ask(dists) for _ in range(batch)]
        X = np.array([[t.params[n] for n in names] for t in trials], dtype=np.float64)
        _, F, V = pp(X)
        for t, values, v in zip(trials, optuna_values(F, pp.objectives, ref), V):
            t.set_constraint("violation", float(v))  # <= 0: feasible
            study.tell(t, values)


def run_peer(name: str, setup, mode: str, budget_s: float, seed: int, workers: int, peer_init: str,
             ref: tuple[float, ...]) -> tuple[PeerProblem, float]:
    """Run one peer for ``budget_s`` seconds of search; returns its problem (with the
    tracker) and the search time it took."""
    from evo_pimsyn.engine.evaluation import Evaluator

    problem = setup.problem
    fn, args = problem.scorer("analytic")
    fn(*args, problem.initial(4, np.random.default_rng(seed)))  # loads the kernels: not search time
    init = problem.initial(POP[name], np.random.default_rng(seed)) if peer_init == "project" else None
    with Evaluator(fn, args, workers=workers, min_slice=problem.min_slice("analytic")) as evaluate:
        pp = PeerProblem(setup, MODES[mode], evaluate)
        pp.start()
        if name.startswith("pymoo-"):
            run_pymoo(name, pp, budget_s, seed, init)
        else:
            run_optuna(name, pp, budget_s, seed, init, ref)
        return pp, pp.elapsed()


# ---- scoring at the end -----------------------------------------------------------------
def cycle_frame(setup, G: np.ndarray, workers: int) -> pd.DataFrame:
    """The cycle model's rows of genomes ``G`` (with the genomes' design columns), on
    ``workers`` processes, as the engine re-scores its archive."""
    from evo_pimsyn.engine.evaluation import Evaluator

    fn, args = setup.problem.scorer("cycle")
    with Evaluator(fn, args, workers=workers) as evaluate:
        frame = evaluate(G)
    designs = setup.design_table(G).reset_index(drop=True)
    return pd.concat([frame.reset_index(drop=True), designs.add_prefix("gene_")], axis=1)


def front_metrics(frame: pd.DataFrame, mode: str, ref: tuple[float, ...],
                  nadir: tuple[float, ...] | None = None) -> dict:
    """Best efficiency (row index too) and, with three objectives, hypervolume and front size
    of cycle-scored rows (with ``nadir``: also the hypervolume from it, and how many front
    designs lie inside its box)."""
    from evo_pimsyn.analysis import hypervolume, pareto_filter

    out: dict = {"best_efficiency_gops_w": float("nan"), "best_row": None, "hypervolume": float("nan"),
                 "front_designs": 0, "hypervolume_nadir": float("nan"), "front_designs_nadir": 0}
    feas = frame["feasible"].to_numpy(dtype=bool) if len(frame) else np.zeros(0, dtype=bool)
    if feas.any():
        eff = np.where(feas, frame["efficiency_gops_w"].to_numpy(dtype=np.float64), -np.inf)
        out["best_row"] = int(np.argmax(eff))
        out["best_efficiency_gops_w"] = float(eff.max())
    objectives = list(MODES[mode])
    if mode == "three":
        out["hypervolume"] = float(hypervolume(frame, objectives, list(ref))) if feas.any() else 0.0
        front = pareto_filter(frame, objectives) if feas.any() else frame.iloc[:0]
        out["front_designs"] = int(len(front))
        if nadir is not None:
            out["hypervolume_nadir"] = float(hypervolume(frame, objectives, list(nadir))) if feas.any() else 0.0
            out["front_designs_nadir"] = int((front["area_mm2"].to_numpy(dtype=np.float64) < nadir[2]).sum())
    else:
        out["front_designs"] = int(feas.any())
    return out


# ---- the engine, as a user runs it --------------------------------------------------------
# Engine variants for testing a default change on this bench: contender
# ``engine+KEY=VALUE+...``, KEY a command-line option of ``run`` (``population``, ``polish``)
# or a field of ``loop.Settings`` that the command line does not set (its default replaced
# for that run, in a subprocess of its own: ``--engine-settings``).
CLI_KEYS = {"population": "--population", "polish": "--polish", "corner": "--corner",
            "corner_objective": "--corner-objective"}
SETTINGS_KEYS = ("local_fraction", "restart_after", "restart_min_gain", "restart_elite", "shun_explored",
                 "screen_settings", "verify_limit", "corner_population", "corner_seed", "corner_verify_limit")
# ``engine+split=F`` (three objectives): the probe that measured the corner phase before the
# engine had one (``--corner``). The last fraction F of the budget goes to a second,
# single-objective (efficiency) run with population 256, whose verified designs join the
# three-objective run's front.
SPLIT_KEY = "split"
SPLIT_POPULATION = 256


def engine_variant(name: str) -> tuple[dict[str, str], dict[str, float]]:
    """(run options, Settings overrides) of contender ``name`` ('engine' or 'engine+K=V+...')."""
    base, *pairs = name.split("+")
    if base != "engine":
        raise ValueError(f"not an engine contender: {name!r}")
    cli, settings = {}, {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or (key not in CLI_KEYS and key not in SETTINGS_KEYS and key != SPLIT_KEY):
            raise ValueError(f"engine variant {name!r}: {pair!r} is not KEY=VALUE with KEY one of "
                             f"{', '.join([*CLI_KEYS, *SETTINGS_KEYS, SPLIT_KEY])}")
        if key in CLI_KEYS or key == SPLIT_KEY:
            cli[key] = value
        else:
            settings[key] = float(value) if "." in value or "e" in value else int(value)
    return cli, settings


def engine_command(spec: str, power_w: float, mode: str, budget_s: float, seed: int, workers: int,
                   run_dir: Path, name: str = "engine") -> list[str]:
    cli, settings = engine_variant(name)
    cli.pop(SPLIT_KEY, None)
    head = [sys.executable, "-m", "evo_pimsyn"]
    if settings:
        head = [sys.executable, str(Path(__file__).resolve()), "--engine-settings",
                ",".join(f"{k}={v}" for k, v in settings.items())]
    extra = [a for k, v in cli.items() for a in (CLI_KEYS[k], v)]
    return [*head, "run", "--model", spec, "--power", f"{power_w:g}", "--objectives", ",".join(MODES[mode]),
            "--time-budget", f"{budget_s:g}s", "--workers", str(workers), "--seed", str(seed), *extra,
            "--out", str(run_dir), "--quiet"]


def _run_with_settings(text: str, argv: list[str]) -> int:
    """``evo-pimsyn`` with some ``loop.Settings`` defaults replaced (engine variants)."""
    from evo_pimsyn import cli
    from evo_pimsyn.engine import loop

    _, settings = engine_variant("engine+" + text.replace(",", "+"))
    plain = loop.Settings

    class Patched(plain):  # a subclass: its class attributes (the other defaults) stay readable
        def __init__(self, *args, **kwargs):
            plain.__init__(self, *args, **{**settings, **kwargs})

    loop.Settings = Patched
    return cli.main(argv)


def _engine_run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} ended with exit code {proc.returncode}:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def run_engine(spec: str, power_w: float, mode: str, budget_s: float, seed: int, workers: int,
               run_dir: Path, ref: tuple[float, ...], nadir: tuple[float, ...], name: str = "engine") -> dict:
    if run_dir.exists():  # a run that did not end in results.csv (killed): start it over
        shutil.rmtree(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    cli = engine_variant(name)[0]
    split = float(cli.get(SPLIT_KEY, 0.0))
    if split and mode == "three":
        plain = "+".join(p for p in name.split("+") if not p.startswith(SPLIT_KEY + "="))
        if "corner" not in cli:
            plain += "+corner=0"
        main_dir, corner_dir = run_dir / "three", run_dir / "corner"
        wall = _engine_run(engine_command(spec, power_w, mode, (1 - split) * budget_s, seed, workers, main_dir,
                                          plain))
        wall += _engine_run(engine_command(spec, power_w, "single", split * budget_s, seed, workers, corner_dir,
                                           f"engine+population={SPLIT_POPULATION}"))
        gens = pd.read_csv(main_dir / "generations.csv")
        tail = pd.read_csv(corner_dir / "generations.csv")
        front = pd.read_csv(main_dir / "pareto.csv")
        extra = pd.read_csv(corner_dir / "pareto.csv")
        front = pd.concat([front, extra[front.columns.intersection(extra.columns)]], ignore_index=True)
        gens = pd.concat([gens, tail.assign(evaluations=tail["evaluations"] + gens["evaluations"].iloc[-1],
                                            wall_time_s=tail["wall_time_s"] + gens["wall_time_s"].iloc[-1])],
                         ignore_index=True)
    else:
        wall = _engine_run(engine_command(spec, power_w, mode, budget_s, seed, workers, run_dir, name))
        gens = pd.read_csv(run_dir / "generations.csv")
        front = pd.read_csv(run_dir / "pareto.csv")
    m = front_metrics(front, mode, ref, nadir)
    best_search = pd.to_numeric(gens["best_efficiency_gops_w"], errors="coerce").max()
    reach = float("nan")
    if mode == "single" and np.isfinite(best_search):
        reach = float(gens.loc[gens["best_efficiency_gops_w"] >= best_search, "wall_time_s"].iloc[0])
    last = gens.iloc[-1]
    return {"best_efficiency_gops_w": m["best_efficiency_gops_w"], "time_to_best_s": reach,
            "search_best_efficiency_gops_w": float(best_search), "hypervolume": m["hypervolume"],
            "front_designs": m["front_designs"], "hypervolume_nadir": m["hypervolume_nadir"],
            "front_designs_nadir": m["front_designs_nadir"], "candidates": len(front),
            "evaluations": int(last["evaluations"]),
            "verified": int(last.get("verified", 0)), "search_s": float(last["wall_time_s"]), "wall_s": wall}


# ---- results.csv ------------------------------------------------------------------------
def row_key(row: dict) -> tuple:
    """Identity of a measurement (``KEY``), normalized so that CSV text and fresh values match."""
    return (str(row["network"]), round(float(row["power_w"]), 6), str(row["objectives"]), str(row["contender"]),
            round(float(row["budget_s"]), 6), int(row["seed"]), int(row["workers"]))


def done_keys(path: Path) -> set[tuple]:
    if not path.exists():
        return set()
    with path.open(newline="") as f:
        return {row_key(r) for r in csv.DictReader(f) if r.get("finished_at")}


def append_row(path: Path, row: dict) -> None:
    """One row at the end of ``path`` (header first if new), flushed and fsynced: a kill
    loses at most the measurement in progress."""
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in COLUMNS})
        f.flush()
        os.fsync(f.fileno())


def plan(networks, seeds, budgets, contenders, modes, power_w: float, workers: int) -> list[dict]:
    """Every measurement to make, in order: budget, network, seed, objectives, contender."""
    out = []
    for budget in budgets:
        for net in networks:
            for seed in seeds:
                for mode in modes:
                    for c in contenders:
                        # the corner phase and the split probe: three-objective variants
                        three_only = any(k.startswith(("corner", SPLIT_KEY)) for k in c.split("+")[1:])
                        if mode in CONTENDERS[c.split("+")[0]] and not (three_only and mode != "three"):
                            out.append({"network": net, "power_w": power_w, "objectives": mode, "contender": c,
                                        "budget_s": float(budget), "seed": int(seed), "workers": int(workers)})
    return out


# ---- tables -----------------------------------------------------------------------------
def _fmt(v: float, digits: int = 1) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _value_fmt(mode: str) -> Callable[[float], str]:
    """How a table shows a figure: efficiency with one decimal, hypervolume with 4 digits."""
    if mode == "single":
        return lambda x: _fmt(x, 1)
    return lambda x: "-" if not np.isfinite(x) else f"{x:.4g}"


def comparison_table(df: pd.DataFrame, mode: str, budget_s: float, col: str | None = None) -> str:
    """Markdown: per network the mean (min-max over seeds) of each contender's ``col``
    (single: best efficiency; three: ``hypervolume`` or ``hypervolume_nadir``), the best
    peer (by its mean), the engine's ratio to it (of the means) and the engine's worst seed
    over that peer's best seed."""
    col = col or ("best_efficiency_gops_w" if mode == "single" else "hypervolume")
    fronts = "front_designs_nadir" if col == "hypervolume_nadir" else "front_designs"
    fmt = _value_fmt(mode)
    sub = df[(df["objectives"] == mode) & np.isclose(df["budget_s"], budget_s)]
    if sub.empty:
        return ""
    order = list(CONTENDERS)
    contenders = sorted(set(sub["contender"]), key=lambda c: (order.index(c.split("+")[0]), c))
    head = ["network", *contenders, "best peer", "engine / best peer", "engine worst / peer best"]
    if mode == "single":
        head.append("engine t to best s")
    else:
        head.append("front designs " + "/".join(contenders))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for net in dict.fromkeys(sub["network"]):
        n = sub[sub["network"] == net]
        stats = {c: n.loc[n["contender"] == c, col].to_numpy(dtype=np.float64) for c in contenders}
        cells = ["-" if not len(v) else f"{fmt(v.mean())} ({fmt(v.min())}-{fmt(v.max())}, n={len(v)})"
                 for v in stats.values()]
        peers = {c: v for c, v in stats.items() if not c.startswith("engine") and len(v)}
        best = max(peers, key=lambda c: np.nanmean(peers[c])) if peers else None
        eng = stats.get("engine", np.zeros(0))
        ratio = np.nanmean(eng) / np.nanmean(peers[best]) if best and len(eng) else float("nan")
        strict = np.nanmin(eng) / np.nanmax(peers[best]) if best and len(eng) else float("nan")
        row = [net, *cells, best or "-", _fmt(ratio, 3), _fmt(strict, 3)]
        if mode == "single":
            t = n.loc[n["contender"] == "engine", "time_to_best_s"].to_numpy(dtype=np.float64)
            row.append(_fmt(np.nanmean(t)) if len(t) else "-")
        else:
            row.append("/".join(_fmt(n.loc[n["contender"] == c, fronts].astype(float).mean(), 0)
                                for c in contenders))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def spread_table(df: pd.DataFrame, contender: str = "engine") -> str:
    """Markdown: per (objectives, budget, network) the best and worst seed of ``contender``
    and the worst seed's shortfall, (best - worst) / best (three objectives: of both
    hypervolumes)."""
    sub = df[df["contender"] == contender]
    if sub.empty:
        return ""
    lines = ["| objectives | budget s | network | seeds | best seed | worst seed | worst below best % |",
             "|---|---|---|---|---|---|---|"]
    for (mode, budget, net), n in sub.groupby(["objectives", "budget_s", "network"], sort=False):
        cols = ["best_efficiency_gops_w"] if mode == "single" else ["hypervolume", "hypervolume_nadir"]
        for col in cols:
            v = n[col].to_numpy(dtype=np.float64)
            seeds = n["seed"].to_numpy()
            if not len(v) or not np.isfinite(v).any():
                continue
            hi, lo = int(np.nanargmax(v)), int(np.nanargmin(v))
            fmt = (lambda x: f"{x:.1f}") if mode == "single" else (lambda x: f"{x:.4g}")
            what = mode if mode == "single" else f"three ({col})"
            lines.append(f"| {what} | {budget:g} | {net} | {len(v)} | {fmt(v[hi])} (seed {seeds[hi]}) | "
                         f"{fmt(v[lo])} (seed {seeds[lo]}) | {100 * (v[hi] - v[lo]) / v[hi]:.2f} |")
    return "\n".join(lines)


TARGETS = {"single": 1.05, "three": 1.10}  # the engine's margin over the best peer (issue 18)


def run_name(row) -> str:
    """The name of a measurement's files (the engine's run folder under ``OUT/engine/``, a
    peer's ``OUT/fronts/NAME.csv``), from a plan item or a results.csv row."""
    return (f"{row['network']}-{row['objectives']}-{float(row['budget_s']):g}s-seed{int(row['seed'])}"
            f"-w{int(row['workers'])}-{row['contender']}")


def front_files(out: Path, row) -> list[Path]:
    """The cycle-scored designs of one results.csv row: a peer's ``fronts/`` file, the
    engine's run folder's pareto.csv (the split probe's two); [] when they are gone."""
    name = run_name(row)
    if str(row["contender"]).split("+")[0] == "engine":
        return sorted((out / "engine" / name).rglob("pareto.csv"))
    path = out / "fronts" / f"{name}.csv"
    return [path] if path.exists() else []


def best_known(df: pd.DataFrame, out: Path, mode: str, net: str, ref: tuple[float, ...]) -> tuple[float, str]:
    """The best any row of ``net`` found, whatever its contender, budget and seed, with where
    it came from: one objective, the best cycle-scored efficiency; three, the hypervolume of
    the union of every row's cycle-scored designs (nan without their files)."""
    rows = df[(df["network"] == net) & (df["objectives"] == mode)]
    if rows.empty:
        return float("nan"), "-"
    if mode == "single":
        v = rows["best_efficiency_gops_w"].to_numpy(dtype=np.float64)
        if not np.isfinite(v).any():
            return float("nan"), "-"
        b = rows.iloc[int(np.nanargmax(v))]
        return float(np.nanmax(v)), f"{b['contender']} {float(b['budget_s']):g} s seed {int(b['seed'])}"
    files = [f for _, r in rows.iterrows() for f in front_files(out, r)]
    if not files:
        return float("nan"), "-"
    union = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    m = front_metrics(union, mode, ref)
    return m["hypervolume"], f"union of {len(files)} fronts of {len(rows)} rows, {m['front_designs']} designs"


def reach_table(df: pd.DataFrame, out: Path) -> str:
    """Markdown: per (objectives, network, budget) the target (TARGETS x the best peer's
    mean), the engine's mean and the best known of that network (:func:`best_known`); a
    target above the best known asks for designs no contender has found at any budget."""
    lines = ["| objectives | network | budget s | best peer (mean) | target | engine mean | best known (where) "
             "| target / best known |", "|---|---|---|---|---|---|---|---|"]
    for (mode, net), n in df.groupby(["objectives", "network"], sort=False):
        col = "best_efficiency_gops_w" if mode == "single" else "hypervolume"
        ref = tuple(float(n[c].iloc[0]) for c in ("ref_efficiency_gops_w", "ref_throughput_ips", "ref_area_mm2"))
        known, where = best_known(df, out, mode, net, ref)
        fmt = _value_fmt(mode)
        for budget, b in n.groupby("budget_s"):
            means = b.groupby("contender")[col].mean()
            peers = means[[not c.startswith("engine") for c in means.index]]
            if peers.empty or "engine" not in means.index:
                continue
            target = TARGETS[mode] * float(peers.max())
            lines.append(f"| {mode} | {net} | {budget:g} | {peers.idxmax()} {fmt(float(peers.max()))} | "
                         f"{fmt(target)} | {fmt(float(means['engine']))} | {fmt(known)} ({where}) | "
                         f"{_fmt(target / known, 3)} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def report(path: Path) -> str:
    """The tables of a results.csv: per worker count and budget, single objective, three
    objectives from each reference, the engine's seed spread and the targets against the
    best known (:func:`reach_table`; front files are looked up beside the CSV)."""
    if not path.exists():
        return f"no results in {path}"
    df = pd.read_csv(path)
    parts = []
    titles = {
        ("single", "best_efficiency_gops_w"): "best cycle-scored efficiency, GOPS/W",
        ("three", "hypervolume"): "hypervolume of the cycle-scored front (efficiency GOPS/W x throughput "
                                  "inferences/s x area mm^2) from (0, 0, ref_area_mm2): the power bound",
        ("three", "hypervolume_nadir"): "the same from (0, 0, ref_area_nadir_mm2): the random sample's nadir",
    }
    for workers, dw in df.groupby("workers"):
        for (mode, col), what in titles.items():
            for budget in sorted(dw.loc[dw["objectives"] == mode, "budget_s"].unique()):
                table = comparison_table(dw, mode, float(budget), col)
                if table:
                    parts.append(f"### {mode} objective{'s' if mode == 'three' else ''}, {budget:g} s, "
                                 f"{POWER_W:g} W, power check {POWER_CHECK}, {workers} worker(s): {what}; "
                                 f"mean (min-max, n seeds)\n\n{table}")
        spread = spread_table(dw)
        if spread:
            parts.append(f"### seed spread of the engine, {workers} worker(s)\n\n{spread}")
        reach = reach_table(dw, path.parent)
        if reach:
            parts.append(f"### the targets against the best known, {workers} worker(s): the engine's margin "
                         f"over the best peer ({', '.join(f'{m} {f:g}x' for m, f in TARGETS.items())}) against "
                         f"the best any contender found at any budget\n\n{reach}")
    return "\n\n".join(parts)


# ---- main -------------------------------------------------------------------------------
def _setup(cache: dict, net: str):
    """(setup, reference point, nadir reference) of a network, made once per process."""
    from evo_pimsyn.engine.setup import prepare_pim

    if net not in cache:
        setup = prepare_pim(NETWORKS[net], None, POWER_W, "specified", True, POWER_CHECK)
        cache[net] = (setup, reference_point(setup.hardware, POWER_W), nadir_reference(setup))
    return cache[net]


def measure(item: dict, args, cache: dict) -> dict:
    net, mode, name = item["network"], item["objectives"], item["contender"]
    budget, seed, workers = item["budget_s"], item["seed"], item["workers"]
    setup, ref, nadir = _setup(cache, net)
    out = Path(args.out)
    row = {**item, "power_check": POWER_CHECK, "ref_efficiency_gops_w": ref[0], "ref_throughput_ips": ref[1],
           "ref_area_mm2": ref[2], "ref_area_nadir_mm2": nadir[2],
           "peer_init": "-" if name.startswith("engine") else args.peer_init}
    if name.split("+")[0] == "engine":
        row.update(run_engine(NETWORKS[net], POWER_W, mode, budget, seed, workers, out / "engine" / run_name(item),
                              ref, nadir, name))
    else:
        t0 = time.perf_counter()
        pp, search_s = run_peer(name, setup, mode, budget, seed, workers, args.peer_init, ref)
        tr = pp.tracker
        frame = cycle_frame(setup, tr.genomes, workers) if len(tr.genomes) else pd.DataFrame({"feasible": []})
        frame.insert(0, "first_seen_s", tr.seen_s)
        frame.insert(1, "search_value", tr.objectives[:, 0] * pp.objectives[0].sign)
        (out / "fronts").mkdir(parents=True, exist_ok=True)
        frame.to_csv(out / "fronts" / f"{run_name(item)}.csv", index=False)
        m = front_metrics(frame, mode, ref, nadir)
        reach = float(tr.seen_s[m["best_row"]]) if m["best_row"] is not None and mode == "single" else float("nan")
        row.update({"best_efficiency_gops_w": m["best_efficiency_gops_w"], "time_to_best_s": reach,
                    "search_best_efficiency_gops_w": -tr.search_best if np.isfinite(tr.search_best) else float("nan"),
                    "hypervolume": m["hypervolume"], "front_designs": m["front_designs"],
                    "hypervolume_nadir": m["hypervolume_nadir"], "front_designs_nadir": m["front_designs_nadir"],
                    "candidates": len(tr.genomes), "evaluations": tr.evaluations, "verified": 0,
                    "search_s": search_s, "wall_s": time.perf_counter() - t0})
    row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return row


def _names(text: str, allowed, what: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n.split("+")[0] not in allowed or (n.startswith("engine+") and _bad_variant(n))]
    if bad or not names:
        raise SystemExit(f"peers.py: error: The '--{what}' parameter must be a comma list of names from "
                         f"{{{', '.join(allowed)}}}. Got {text!r} instead.")
    return names


def _bad_variant(name: str) -> bool:
    try:
        engine_variant(name)
    except ValueError as exc:
        print(f"peers.py: {exc}", file=sys.stderr)
        return True
    return False


def main(argv=None) -> int:
    from evo_pimsyn.engine.session import parse_duration

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--engine-settings"]:  # an engine variant's subprocess (engine_command)
        return _run_with_settings(argv[1], argv[2:])

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--networks", default=",".join(NETWORKS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--budgets", default="120s,10m", help="comma list of durations (120, 120s, 10m)")
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help="comma list; engine+KEY=VALUE+... runs the engine with other settings (see CLI_KEYS, "
                        "SETTINGS_KEYS), e.g. engine+population=256 or engine+restart_after=0")
    p.add_argument("--objectives", choices=("single", "three", "both"), default="both")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--peer-init", choices=("project", "uniform"), default="project",
                   help="peers' first population: the engine's initial designs (default) or their own sampling")
    p.add_argument("--out", default=str(REPO / "runs" / "peers"))
    p.add_argument("--report-only", action="store_true", help="print the tables of OUT/results.csv and stop")
    args = p.parse_args(argv)
    out = Path(args.out)
    results = out / "results.csv"
    if args.report_only:
        print(report(results))
        return 0
    from evo_pimsyn.messages import use_cli_format

    use_cli_format()
    networks = _names(args.networks, NETWORKS, "networks")
    contenders = _names(args.contenders, CONTENDERS, "contenders")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    budgets = [parse_duration(b) for b in args.budgets.split(",") if b.strip()]
    modes = tuple(MODES) if args.objectives == "both" else (args.objectives,)
    if any(c != "engine" for c in contenders):
        try:
            import optuna  # noqa: F401
            import pymoo  # noqa: F401
        except ImportError as exc:
            raise SystemExit(f"peers.py: error: the peers need the bench extra (pip install -e '.[bench]'): {exc}")
    out.mkdir(parents=True, exist_ok=True)
    done = done_keys(results)
    todo = [it for it in plan(networks, seeds, budgets, contenders, modes, POWER_W, args.workers)
            if row_key(it) not in done]
    print(f"peers.py: {len(todo)} measurement(s) to make, {len(done)} already in {results}", file=sys.stderr)
    cache: dict = {}
    for k, item in enumerate(todo, 1):
        row = measure(item, args, cache)
        append_row(results, row)
        value = (f"{row['best_efficiency_gops_w']:.1f} GOPS/W at {row['time_to_best_s']:.1f} s"
                 if item["objectives"] == "single" else
                 f"hypervolume {row['hypervolume']:.4g}, {row['front_designs']} front designs")
        print(f"[{k}/{len(todo)}] {item['network']} {item['objectives']} {item['contender']} "
              f"{item['budget_s']:g}s seed {item['seed']}: {value}, {row['evaluations']} evaluations",
              file=sys.stderr)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
