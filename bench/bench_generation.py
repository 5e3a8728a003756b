"""Per-generation cost of a multi-objective search as its archive grows.

    .venv/bin/python bench/bench_generation.py [--clock cpu] [--sizes 78,400,3000] [--run runs/NAME]

A 3-objective (efficiency, throughput, area) AlexNet search at the analytic fidelity
(population 64, 49 W, seed 0, one process) runs to generation 100. From that state one
generation (``loop.step``: 64 children and 64 local-search neighbours scored, NSGA-II
survival, the archive update and the two hypervolumes of the generation's log row and
stall counter) is timed ``--reps`` times, each time from the same state (median): with its
own archive (``real``), then with it replaced by ``N`` mutually non-dominated designs for
each ``N`` of ``--sizes`` (``synthetic``):
random legal genomes whose objectives lie on a sphere spanning the real archive's
objective box. A real AlexNet run of this setting holds about 78 designs at generation
100 and 400 at generation 5,000 (its growth slows: 271 at 1,000, 339 at 3,000).
``--run`` adds a row timed from the last checkpoint of a real run folder (its own settings).

Columns: ``evaluate`` is the analytic scoring inside the step, ``engine`` the rest
(selection, archive, hypervolumes), ``step`` both, all in milliseconds. Restarts are off
(``restart_after=0``) so that every timed step does the same work.

Measured with ``--clock cpu --run`` (a real run at generation 5,000), engine / step ms,
the base c25da8a (its own hypervolume and Pareto code) and the moocore-based code run
alternately, twice each:

    archive                         before          after
    78    (generation 100, real)     8.9-9.9 / 14-15    4.5-4.7 /  9.5-9.8
    400   (synthetic)               20-23  / 25-29     5.0-6.2 /  9.7-12
    3000  (synthetic)              424-466 / 429-471  11.5-13.7 / 16-20
    400   (run, generation 5000)    20-23  / 26-29     4.9-5.8 /  9.4-11
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # after PYTHONPATH, so that another checkout can be timed

from evo_pimsyn.engine import checkpoint, loop  # noqa: E402
from evo_pimsyn.engine.archive import Archive  # noqa: E402
from evo_pimsyn.engine.evaluation import Evaluator  # noqa: E402
from evo_pimsyn.engine.objectives import parse_objectives  # noqa: E402
from evo_pimsyn.engine.setup import prepare, run_model_settings  # noqa: E402

OBJECTIVES = "efficiency,throughput,area"


class TimedEvaluate:
    """The evaluator, with the time spent in it summed on ``clock``."""

    def __init__(self, evaluate, clock) -> None:
        self.evaluate, self.clock, self.spent = evaluate, clock, 0.0

    def __call__(self, G):
        t0 = self.clock()
        try:
            return self.evaluate(G)
        finally:
            self.spent += self.clock() - t0


def synthetic_archive(state: loop.State, problem, n: int, rng: np.random.Generator) -> Archive:
    """``n`` legal genomes with mutually non-dominated objectives spanning the box of the
    state's archive: points of the unit sphere's positive orthant, mapped per objective."""
    F = state.archive.objectives
    lo, hi = F.min(axis=0), F.max(axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)
    x = np.abs(rng.standard_normal((n, F.shape[1])))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    G = np.unique(np.asarray(problem.initial(n, rng), dtype=np.int64), axis=0)
    while len(G) < n:  # random legal genomes are almost never equal; top up if they are
        G = np.unique(np.concatenate([G, problem.initial(n - len(G), rng)]), axis=0)
    archive = Archive.empty(G.shape[1], F.shape[1])
    archive.update(G, lo + (1.0 - x) * (hi - lo), np.ones(n, dtype=bool))
    return archive


def time_steps(state, problem, evaluate, settings, reps: int, clock) -> tuple[float, float]:
    """Median step and median evaluation time (s) of ``reps`` generations from ``state``."""
    timed = TimedEvaluate(evaluate, clock)
    loop.step(state, problem, timed, settings)  # warm-up
    steps, evals = [], []
    for _ in range(reps):
        timed.spent = 0.0
        t0 = clock()
        loop.step(state, problem, timed, settings)
        steps.append(clock() - t0)
        evals.append(timed.spent)
    return statistics.median(steps), statistics.median(evals)


def _row(label: str, generation: int, archive: int, step_s: float, eval_s: float) -> str:
    return (f"{label:10s} {generation:10d} {archive:8d} {1e3 * eval_s:10.1f} {1e3 * (step_s - eval_s):9.1f} "
            f"{1e3 * step_s:9.1f}")


def run_folder_row(run_dir: Path, reps: int, clock) -> str:
    run = json.loads((run_dir / "run.json").read_text())
    setup = prepare(run["problem"], run["model"], run.get("hardware_config"), run["power_w"], run["macro_setting"],
                    run["macro_reuse"], *run_model_settings(run))
    state = checkpoint.load(run_dir / "checkpoints").state
    settings = loop.Settings(objectives=parse_objectives(run["objectives"]), power_w=float(run["power_w"]),
                             population=int(run["population"]), algorithm=run["algorithm"],
                             fidelity=run["fidelity"], restart_after=0, polish_fraction=0.0)
    with Evaluator(*setup.problem.scorer(settings.fidelity), workers=1) as evaluate:
        step_s, eval_s = time_steps(state, setup.problem, evaluate, settings, reps, clock)
    return _row("run", state.generation, len(state.archive), step_s, eval_s)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="zoo:alexnet")
    ap.add_argument("--sizes", default="78,400,3000", help="archive sizes to time (comma list)")
    ap.add_argument("--generations", type=int, default=100, help="generations run before timing")
    ap.add_argument("--reps", type=int, default=15, help="timed generations per row")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall clock or process CPU time")
    ap.add_argument("--run", type=Path, help="also time from the last checkpoint of this run folder")
    args = ap.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    setup = prepare("pim", args.model, None, 49.0, "specified", True)
    settings = loop.Settings(objectives=parse_objectives(OBJECTIVES), power_w=49.0, population=64,
                             fidelity="analytic", restart_after=0, polish_fraction=0.0)
    print(f"{'archive':10s} {'generation':>10s} {'designs':>8s} {'evaluate':>10s} {'engine':>9s} {'step':>9s}"
          f"   (ms per generation, {args.clock} clock, median of {args.reps})")
    with Evaluator(*setup.problem.scorer("analytic"), workers=1) as evaluate:
        state = loop.evolve(setup.problem, evaluate, settings, loop.Stop(generations=args.generations), seed=0)
        step_s, eval_s = time_steps(state, setup.problem, evaluate, settings, args.reps, clock)
        print(_row("real", state.generation, len(state.archive), step_s, eval_s), flush=True)
        rng = np.random.default_rng(1)
        for n in (int(s) for s in args.sizes.split(",")):
            timed_state = dataclasses.replace(state, archive=synthetic_archive(state, setup.problem, n, rng))
            step_s, eval_s = time_steps(timed_state, setup.problem, evaluate, settings, args.reps, clock)
            print(_row("synthetic", state.generation, len(timed_state.archive), step_s, eval_s), flush=True)
    if args.run is not None:
        print(run_folder_row(args.run, args.reps, clock), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
