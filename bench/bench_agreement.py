"""Agreement of the analytic evaluator with the cycle-level one on random legal designs.

    .venv/bin/python bench/bench_agreement.py            # full: 1000 designs per network
    .venv/bin/python bench/bench_agreement.py --quick    # 1000 alexnet/resnet18, 300 vgg16

Designs: ``genomes.initial_population`` at 49 W (heuristic seeds plus random legal
genomes, a quarter of the MVM layers sharing macros). Per network it prints the feasible
set agreement, Spearman's rho of the efficiency over the designs feasible in both, the
median and 95th percentile of the relative efficiency error, the same for steps, how often
the memory capacity matches, and the time per design of both evaluators.
Targets (issue 3): rho >= 0.95, median <= 5 %, p95 <= 15 %, feasible agreement >= 99 %.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fitness.analytic.evaluate import evaluate_analytic  # noqa: E402
from fitness.evaluate import evaluate  # noqa: E402
from fitness.hardware import load_hardware  # noqa: E402
from fitness.pimcomp import load_pimcomp  # noqa: E402
from genomes import GenomeLayout, decode, initial_population  # noqa: E402

NETWORKS = REPO / "tests" / "data" / "reference" / "networks"


def spearman(a, b) -> float:
    return float(np.corrcoef(pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy())[0, 1])


def agreement(cy: pd.DataFrame, an: pd.DataFrame) -> dict:
    f_c, f_a = cy["feasible"].to_numpy(), an["feasible"].to_numpy()
    both = f_c & f_a
    e_c = cy["efficiency_gops_w"].to_numpy()[both]
    e_a = an["efficiency_gops_w"].to_numpy()[both]
    rel = np.abs(e_a / e_c - 1)
    s_c = cy["steps"].to_numpy(dtype=float, na_value=np.nan)[both]
    s_a = an["steps"].to_numpy(dtype=float, na_value=np.nan)[both]
    srel = np.abs(s_a / s_c - 1)
    k_c = cy["memory_capacity_kb"].to_numpy(dtype=float, na_value=np.nan)[both]
    k_a = an["memory_capacity_kb"].to_numpy(dtype=float, na_value=np.nan)[both]
    return {
        "n": len(cy), "feasible_cycle": int(f_c.sum()), "feasible_both": int(both.sum()),
        "feasible_agree": float((f_c == f_a).mean()),
        "spearman": spearman(e_c, e_a) if both.sum() > 2 else float("nan"),
        "eff_median": float(np.median(rel)) if both.any() else float("nan"),
        "eff_p95": float(np.percentile(rel, 95)) if both.any() else float("nan"),
        "steps_median": float(np.median(srel)) if both.any() else float("nan"),
        "steps_p95": float(np.percentile(srel, 95)) if both.any() else float("nan"),
        "capacity_equal": float((k_c == k_a).mean()) if both.any() else float("nan"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="alexnet,vgg16,resnet18")
    ap.add_argument("-n", type=int, default=1000, help="designs per network")
    ap.add_argument("--quick", action="store_true", help="300 designs for vgg16 (its cycle side is the slow one)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--power", type=float, default=49.0)
    ap.add_argument("--power-check", choices=("strict", "pimsyn"), default="strict")
    ap.add_argument("--fixes", default="none", help="model fixes: none (default), all or a comma list")
    args = ap.parse_args(argv)

    hw = load_hardware()
    rows = []
    for name in args.networks.split(","):
        net = load_pimcomp(NETWORKS / f"{name}.json")
        n = 300 if (args.quick and name == "vgg16") else args.n
        layout = GenomeLayout.build(net, hw, args.power)
        batch = decode(layout, initial_population(layout, n, np.random.default_rng(args.seed)))
        model = {"power_check": args.power_check, "fixes": args.fixes}
        evaluate_analytic(net, hw, batch.take(np.arange(min(8, n))), **model)  # compile outside the timing
        t0 = time.perf_counter()
        an = evaluate_analytic(net, hw, batch, **model)
        t_an = time.perf_counter() - t0
        t0 = time.perf_counter()
        cy = evaluate(net, hw, batch, **model)
        t_cy = time.perf_counter() - t0
        row = {"network": name, **agreement(cy, an), "us_per_design_analytic": 1e6 * t_an / n,
               "ms_per_design_cycle": 1e3 * t_cy / n}
        rows.append(row)
        print(f"{name:9s} n={row['n']:5d} feasible(cycle)={row['feasible_cycle']:4d} both={row['feasible_both']:4d} "
              f"agree={row['feasible_agree']:.4f} spearman={row['spearman']:.4f} "
              f"eff median={row['eff_median']:.4f} p95={row['eff_p95']:.4f} "
              f"steps median={row['steps_median']:.4f} p95={row['steps_p95']:.4f} "
              f"capacity equal={row['capacity_equal']:.3f} analytic={row['us_per_design_analytic']:.1f}us "
              f"cycle={row['ms_per_design_cycle']:.1f}ms", flush=True)
    ok = all(r["spearman"] >= 0.95 and r["eff_median"] <= 0.05 and r["eff_p95"] <= 0.15 and r["feasible_agree"] >= 0.99
             for r in rows)
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
