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
another basin, not a finer search around this one. With ``--checked`` equal to
``--neighbours`` every neighbour is scored with the cycle model, so the analytic model's
ranking plays no part (ResNet18's 416.3 and AlexNet's 712.5 designs at 49 W gained 0.00 %
in 36,440 and 232,409 such evaluations).

It also splits the end design's energy (cycle model, MODEL.md §9) into the part that does
not depend on the inference time T (conversions, crossbar reads, memory accesses) and the
static power that T multiplies (E = E_dyn + P_static x T), and prints:

* ``floor``: OPS / E_dyn, the efficiency that design's operation mix would reach at T = 0;
* ``steps`` and, with ``--target GOPS/W`` (default: 1.2 x PIMSYN's figure where it reported
  one for the run's network and power, ``evo_pimsyn.analysis.pimsyn_reference``: AlexNet
  and ResNet18 at 49 W), ``steps@target``: the pipeline steps (same clock) that would
  reach the target with the same dynamic energy. A target above the floor is out of reach
  for that crossbar size and cell / DAC resolution whatever the schedule.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evo_pimsyn.analysis.pimsyn_reference import pimsyn_figure  # noqa: E402  (the targets are 1.2 x PIMSYN's)
from evo_pimsyn.engine.evaluation import Evaluator, score  # noqa: E402
from evo_pimsyn.engine.objectives import parse_objectives  # noqa: E402
from evo_pimsyn.engine.outputs import read_run  # noqa: E402
from evo_pimsyn.engine.setup import prepare, run_model_settings, run_search_space  # noqa: E402
from fitness.evaluate import evaluate_full  # noqa: E402
from fitness.metrics import metrics_frame  # noqa: E402
from genomes import decode  # noqa: E402


def _efficiency(frame, power_w: float) -> np.ndarray:
    """GOPS/W, -inf where infeasible: the GA's own scoring rule (engine ``score``)."""
    return -score(frame, parse_objectives("efficiency"), power_w).objectives[:, 0]


def energy_split(problem, genome: np.ndarray) -> dict:
    """Cycle-model energy of one design as E_dyn + P_static x T: two tables of the same
    evaluation at its own steps and at zero steps (energy is linear in T, MODEL.md §9)."""
    ev = evaluate_full(problem.network, problem.hardware, decode(problem.layout, genome[None, :]))
    row = ev.frame.iloc[0]
    at_zero = replace(ev.fixed_point, steps=np.zeros_like(ev.fixed_point.steps))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # throughput at T = 0 divides by zero
        e_dyn = float(metrics_frame(ev.prep, at_zero)["energy_nj"].iloc[0])
    t_ns = float(row["latency_ns"])
    return {"ops": float(row["ops"]), "e_dyn_nj": e_dyn, "p_static_w": (float(row["energy_nj"]) - e_dyn) / t_ns,
            "clk_ns": float(row["clk_ns"]), "steps": int(row["steps"])}


def steps_for(split: dict, target_gops_w: float) -> float:
    """Steps (same clock and dynamic energy) at which the design would reach the target;
    negative when the target is above its floor."""
    e_nj = split["ops"] / target_gops_w  # GOPS/W = OPS / (E in nJ)
    return (e_nj - split["e_dyn_nj"]) / split["p_static_w"] / split["clk_ns"]


def climb(run_dir: Path, args) -> dict:
    run = read_run(run_dir)
    if list(run["objectives"]) != ["efficiency"] or run["problem"] != "pim":
        raise SystemExit(f"{run_dir}: not a single-objective (efficiency) accelerator run")
    power_w = float(run["power_w"])
    problem = prepare(run["problem"], run["model"], run.get("hardware_config"), power_w, run["macro_setting"],
                      run["macro_reuse"], *run_model_settings(run), **run_search_space(run)).problem
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
        start = best = float(_efficiency(exact(current), power_w)[0])
        checked = 0
        while time.perf_counter() - t0 < args.seconds:
            cand = np.unique(problem.neighbors(current, args.neighbours, rng), axis=0)
            cand = cand[[row.tobytes() not in seen for row in cand]]
            if not len(cand):
                continue
            top = cand[np.argsort(-_efficiency(fast(cand), power_w), kind="stable")[:args.checked]]
            seen.update(row.tobytes() for row in top)
            eff = _efficiency(exact(top), power_w)
            checked += len(top)
            if eff.max() > best:
                best, current = float(eff.max()), top[np.argmax(eff)][None, :]
    seconds = time.perf_counter() - t0
    split = energy_split(problem, current[0])
    figure = pimsyn_figure(problem.network, power_w)
    target = args.target if args.target is not None else (1.2 * figure.efficiency_gops_w if figure else np.nan)
    return {"model": run["model"], "start": start, "end": best, "checked": checked, "seconds": seconds,
            "floor": split["ops"] / split["e_dyn_nj"], "steps": split["steps"], "target": target,
            "steps_target": steps_for(split, target) if np.isfinite(target) else np.nan}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--neighbours", type=int, default=256)
    p.add_argument("--checked", type=int, default=8, help="neighbours scored with the cycle model per round")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", type=float, default=None,
                   help="GOPS/W for the steps@target column (default 1.2 x PIMSYN's figure where known)")
    args = p.parse_args(argv)
    head = (f"{'run':32s} {'start GOPS/W':>13s} {'end GOPS/W':>11s} {'gain':>7s} {'cycle evals':>12s} {'s':>6s} "
            f"{'floor':>7s} {'steps':>6s} {'target':>7s} {'steps@target':>12s}")
    print(head)
    print("-" * len(head))
    for run_dir in args.runs:
        r = climb(run_dir, args)
        if not np.isfinite(r["steps_target"]):
            at = f"{'-':>12s}"
        elif r["steps_target"] > 0:
            at = f"{r['steps_target']:12.0f}"
        else:
            at = f"{'above floor':>12s}"
        print(f"{str(run_dir)[-32:]:32s} {r['start']:13.1f} {r['end']:11.1f} {100 * (r['end'] / r['start'] - 1):6.2f}% "
              f"{r['checked']:12d} {r['seconds']:6.1f} {r['floor']:7.1f} {r['steps']:6d} {r['target']:7.1f} {at}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
