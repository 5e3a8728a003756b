"""Is a run's best design a local optimum of the exact model? A cycle-model hill climb from it.

    .venv/bin/python bench/ceiling.py RUN_DIR [RUN_DIR ...] [--seconds 60] [--neighbours 256]
        [--checked 8] [--workers 2] [--seed 0]

For each single-objective (efficiency) run folder written by ``evo-pimsyn run`` or
``bench/search.py``: start from the best feasible design of its ``pareto.csv``, draw
``--neighbours`` local variations of the current design per round (``PimProblem.neighbors``:
ratio, duplication, macro-count and sharing moves at its crossbar size and cell / DAC
resolution), rank them with the analytic model, score the ``--checked`` best with the
cycle model and move to the best of them if it beats the current design. It prints the
start and end efficiency (cycle model), the number of cycle evaluations and the time.

A climb that finds nothing, or little, in thousands of exact evaluations says that the
GA's best is a local optimum of PIMSYN's model: a higher target then needs a design in
another basin, not a finer search around this one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _efficiency(frame, power_w: float, power_check: str) -> np.ndarray:
    """GOPS/W, -inf where infeasible: the GA's own scoring rule (engine ``score``)."""
    from evo_pimsyn.engine.evaluation import score
    from evo_pimsyn.engine.objectives import parse_objectives

    return -score(frame, parse_objectives("efficiency"), power_w, power_check).objectives[:, 0]


def climb(run_dir: Path, args) -> dict:
    import pandas as pd

    from evo_pimsyn.engine.evaluation import Evaluator
    from evo_pimsyn.engine.session import read_run
    from evo_pimsyn.engine.setup import prepare

    run = read_run(run_dir)
    if list(run["objectives"]) != ["efficiency"] or run["problem"] != "pim":
        raise SystemExit(f"{run_dir}: not a single-objective (efficiency) accelerator run")
    power_w, power_check = float(run["power_w"]), run.get("power_check", "pimsyn")
    problem = prepare(run["problem"], run["model"], run.get("hardware_config"), power_w, run["macro_setting"],
                      run["macro_reuse"]).problem
    front = pd.read_csv(run_dir / "pareto.csv")
    front = front[front["feasible"].astype(bool)].sort_values("efficiency_gops_w", ascending=False)
    if front.empty:
        raise SystemExit(f"{run_dir}: no feasible design in pareto.csv")
    current = front[[f"gene_{n}" for n in problem.gene_names]].to_numpy(np.int64)[:1]
    rng = np.random.default_rng(args.seed)
    seen = {current[0].tobytes()}
    t0 = time.perf_counter()
    with Evaluator(*problem.scorer("analytic"), workers=1) as fast, \
            Evaluator(*problem.scorer("cycle"), workers=args.workers) as exact:
        start = best = float(_efficiency(exact(current), power_w, power_check)[0])
        checked = 0
        while time.perf_counter() - t0 < args.seconds:
            cand = np.unique(problem.neighbors(current, args.neighbours, rng), axis=0)
            cand = cand[[row.tobytes() not in seen for row in cand]]
            if not len(cand):
                continue
            top = cand[np.argsort(-_efficiency(fast(cand), power_w, power_check), kind="stable")[:args.checked]]
            seen.update(row.tobytes() for row in top)
            eff = _efficiency(exact(top), power_w, power_check)
            checked += len(top)
            if eff.max() > best:
                best, current = float(eff.max()), top[np.argmax(eff)][None, :]
    return {"model": run["model"], "start": start, "end": best, "checked": checked,
            "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--neighbours", type=int, default=256)
    p.add_argument("--checked", type=int, default=8, help="neighbours scored with the cycle model per round")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    head = f"{'run':40s} {'start GOPS/W':>13s} {'end GOPS/W':>11s} {'gain':>7s} {'cycle evals':>12s} {'s':>6s}"
    print(head)
    print("-" * len(head))
    for run_dir in args.runs:
        r = climb(run_dir, args)
        print(f"{str(run_dir)[-40:]:40s} {r['start']:13.1f} {r['end']:11.1f} {100 * (r['end'] / r['start'] - 1):6.2f}% "
              f"{r['checked']:12d} {r['seconds']:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
