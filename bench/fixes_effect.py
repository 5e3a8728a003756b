"""What each model fix changes: PIMSYN's best designs re-scored under the fix, and the best
design a search finds under it.

    .venv/bin/python bench/fixes_effect.py [--models pimsyn:alexnet,pimsyn:resnet18,pimsyn:vgg16] [--power 49]
        [--time-budget 5m] [--fixes all-single] [--workers 2] [--seed 0] [--out runs/fixes_effect]

For every model, a single-objective (efficiency) search under PIMSYN's model (``--fixes
none``) finds the best PIMSYN-exact design; then, for each fix alone and for all fixes
together:

* (a) that design re-scored with the cycle model under the fix: how much of PIMSYN's
  figure the fix takes away (or adds);
* (b) the best design a search of the same budget finds under the fix, with its global
  setting (crossbar size X, cell bits r, DAC bits d, ReRAM power ratio): what a search
  that knows the fix would build instead.

Every search and re-score uses the same power check (``--power-check``, default strict:
the budget is a cap). The models default to PIMSYN's own network JSONs (``pimsyn:NAME``).
Each search is an ordinary run folder under ``--out``; a finished one is reused when the
script is run again (so a slice can be rerun or extended), an unfinished one is resumed. The table is printed and written to ``OUT/fixes_effect.csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evo_pimsyn.commands.run import _duration  # noqa: E402
from evo_pimsyn.engine.session import RunOptions, resume, start  # noqa: E402
from evo_pimsyn.engine.setup import prepare_pim  # noqa: E402
from fitness.evaluate import evaluate  # noqa: E402
from fitness.fixes import FIXES, fixes_label, parse_fixes  # noqa: E402
from genomes import decode  # noqa: E402

SETTING = ("xbar_size", "rram_res", "dac_res", "rram_ratio")
METRICS = ("efficiency_gops_w", "throughput_ips", "peak_power_w")


def fix_sets(spec: str) -> list[frozenset]:
    """``all-single``: each fix alone, then all together; else a ';'-separated list of sets.
    Never the empty set (``none``): its row, PIMSYN's model, heads every network's table."""
    if spec == "all-single":
        return [frozenset([name]) for name in FIXES] + [frozenset(FIXES)]
    sets = [parse_fixes(part) for part in spec.split(";") if part.strip()]
    return list(dict.fromkeys(s for s in sets if s))


def search(model: str, fixes: frozenset, args, run_dir: Path) -> pd.Series:
    """The best feasible front row of a finished efficiency search (started or resumed)."""
    if not (run_dir / "pareto.csv").exists():
        if (run_dir / "run.json").exists():
            code = resume(run_dir, quiet=True)
        else:
            code = start(RunOptions(model=model, power_w=args.power, time_budget_s=args.time_budget,
                                    population=args.population, workers=args.workers, seed=args.seed,
                                    objectives="efficiency", power_check=args.power_check,
                                    fixes=fixes_label(fixes), out=str(run_dir), quiet=True,
                                    checkpoint_every_s=30.0))
        if code != 0:
            raise SystemExit(f"search {run_dir} ended with exit code {code}")
    front = pd.read_csv(run_dir / "pareto.csv")
    front = front[front["feasible"].astype(bool)]
    if front.empty:
        return pd.Series(dtype=object)
    return front.sort_values("efficiency_gops_w", ascending=False, kind="stable").iloc[0]


def rescore(model: str, genome: np.ndarray, fixes: frozenset, args) -> pd.Series:
    problem = prepare_pim(model, None, args.power, "specified", True, args.power_check, fixes).problem
    design = decode(problem.layout, genome[None, :])
    return evaluate(problem.network, problem.hardware, design, "cycle", power_check=args.power_check,
                    fixes=fixes).iloc[0]


def _metrics(row: pd.Series, prefix: str) -> dict:
    if row.empty or not bool(row.get("feasible", False)):
        reason = row.get("reason", "no feasible design") if not row.empty else "no feasible design"
        return {f"{prefix}{m}": np.nan for m in METRICS} | {f"{prefix}reason": reason}
    return {f"{prefix}{m}": float(row[m]) for m in METRICS} | {f"{prefix}reason": ""}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="pimsyn:alexnet,pimsyn:resnet18,pimsyn:vgg16")
    p.add_argument("--power", type=float, default=49.0)
    p.add_argument("--time-budget", type=_duration, default=300.0, help="per search (default 5m)")
    p.add_argument("--fixes", default="all-single",
                   help="all-single (default: each fix alone, then all) or fix sets separated by ';'")
    p.add_argument("--population", type=int, default=256)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--power-check", choices=("strict", "pimsyn"), default="strict")
    p.add_argument("--out", default=str(REPO / "runs" / "fixes_effect"))
    args = p.parse_args(argv)
    from evo_pimsyn.messages import use_cli_format

    use_cli_format()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        name = model.split(":", 1)[-1].rsplit("/", 1)[-1].removesuffix(".json").removesuffix(".onnx")
        tag = f"{name}-{args.power:g}W-seed{args.seed}"
        base = search(model, frozenset(), args, out / f"{tag}-none")
        if base.empty:
            print(f"{name}: no feasible PIMSYN-exact design at {args.power:g} W", file=sys.stderr)
            continue
        genome = base[[c for c in base.index if c.startswith("gene_")]].to_numpy(dtype=np.int64)
        rows.append({"network": name, "fixes": "none", **_metrics(base, "a_"), **_metrics(base, "b_"),
                     **{f"b_{k}": base[k] for k in SETTING}})
        for fixes in fix_sets(args.fixes):
            label = fixes_label(fixes)
            a = rescore(model, genome, fixes, args)
            b = search(model, fixes, args, out / f"{tag}-{label.replace(',', '+')}")
            rows.append({"network": name, "fixes": label, **_metrics(a, "a_"), **_metrics(b, "b_"),
                         **({f"b_{k}": b[k] for k in SETTING} if not b.empty else {})})
            print(f"{name:9s} {label:14s} (a) {rows[-1]['a_efficiency_gops_w']:8.1f}  "
                  f"(b) {rows[-1]['b_efficiency_gops_w']:8.1f} GOPS/W", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(out / "fixes_effect.csv", index=False)
    print(f"power check {args.power_check}, {args.power:g} W, {args.time_budget:g} s per search, "
          f"{args.workers} workers, seed {args.seed}; (a) the best PIMSYN-exact design re-scored under the fix, "
          f"(b) the best design a search finds under it")
    print(render(table))
    (out / "fixes_effect.json").write_text(json.dumps(vars(args), default=str, indent=2) + "\n")
    return 0


def render(table: pd.DataFrame) -> str:
    head = (f"{'network':9s} {'fixes':14s} | {'(a) GOPS/W':>10s} {'inf/s':>8s} {'peak W':>7s} | "
            f"{'(b) GOPS/W':>10s} {'inf/s':>8s} {'peak W':>7s} {'X':>4s} {'r':>2s} {'d':>2s} {'ratio':>5s}")
    lines = [head, "-" * len(head)]
    for _, r in table.iterrows():
        def num(key, fmt):
            v = r.get(key)
            return format(v, fmt) if v is not None and pd.notna(v) else "-"
        lines.append(
            f"{r['network']:9s} {r['fixes']:14s} | {num('a_efficiency_gops_w', '10.1f')} "
            f"{num('a_throughput_ips', '8.0f')} {num('a_peak_power_w', '7.2f')} | "
            f"{num('b_efficiency_gops_w', '10.1f')} {num('b_throughput_ips', '8.0f')} {num('b_peak_power_w', '7.2f')} "
            f"{num('b_xbar_size', '4.0f')} {num('b_rram_res', '2.0f')} {num('b_dac_res', '2.0f')} "
            f"{num('b_rram_ratio', '5.2f')}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
