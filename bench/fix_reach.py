"""How many random legal designs of each reference network a model fix changes.

    .venv/bin/python bench/fix_reach.py [--networks alexnet,...] [-n 200] [--fixes fc,min-power,...]
                                        [--fidelity analytic|cycle]

Designs: ``genomes.initial_population`` at 49 W (seed 0). Each fix alone is compared with
``none`` (PIMSYN's model) under PIMSYN's power verdict, so that only the model differs. Per
(network, fix) it prints how many designs change feasibility, and among the designs
feasible under both how many change efficiency, steps or memory capacity at all, with the
median and largest relative efficiency change. A fix that changes nothing on a network says
so with 0 / n. Two fixes act on few designs, so their own measures follow: how much the
minimum-power test's power falls under ``min-power`` (and whether any refusal flips), and how
many designs' capacity/clock loops do not converge (where ``fixed-point`` acts).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fitness.evaluate import evaluate  # noqa: E402
from fitness.hardware import load_hardware  # noqa: E402
from fitness.pimcomp import load_pimcomp  # noqa: E402

# the repository's copy of PIMSYN's reference networks, so that any clone runs this
NETWORKS = REPO / "tests" / "data" / "reference" / "networks"
STAGE_FIXES = "fc,min-power,eltwise-loads,fixed-point,pool-surplus,input-load,activations"


def reach(base, fixed) -> dict:
    """Differences of a fixed evaluation from the base one, over the same designs."""
    f_b, f_f = base["feasible"].to_numpy(), fixed["feasible"].to_numpy()
    both = f_b & f_f
    e_b = base["efficiency_gops_w"].to_numpy()[both]
    e_f = fixed["efficiency_gops_w"].to_numpy()[both]
    rel = np.abs(e_f / e_b - 1) if both.any() else np.zeros(0)

    def changed(col):
        a = base[col].to_numpy(dtype=float, na_value=np.nan)[both]
        b = fixed[col].to_numpy(dtype=float, na_value=np.nan)[both]
        return int((a != b).sum())

    return {"feasibility_changed": int((f_b != f_f).sum()), "both": int(both.sum()),
            "efficiency_changed": int((e_b != e_f).sum()), "steps_changed": changed("steps"),
            "capacity_changed": changed("memory_capacity_kb"),
            "eff_median": float(np.median(rel)) if rel.size else 0.0, "eff_max": float(rel.max()) if rel.size else 0.0}


def min_power_drop(network, hardware, batch) -> str:
    """The minimum-power test's power under ``min-power`` against PIMSYN's, per design."""
    from fitness.analytic.prepare import adc_resolution_fast
    from fitness.prepare import batch_stages
    from fitness.workload import minimum_power_for

    st = batch_stages(network, hardware, batch, adc_resolution_fast(batch.xbar_size, batch.dac_res, batch.rram_res))
    args = (network, st.work, st.work_zeroed, st.macros, st.params)
    ok = st.status == "ok"
    before = minimum_power_for(*args, frozenset())[ok]
    drop = before - minimum_power_for(*args, frozenset({"min-power"}))[ok]
    lower = drop > 0
    if not lower.any():
        return f"P_min lower on 0 of {ok.sum()} designs"
    return (f"P_min lower on {lower.sum()} of {ok.sum()} designs (those sharing macros: "
            f"{int((st.macros.partner[ok] >= 0).any(axis=1).sum())}), median {np.median(drop[lower]):.3f} W "
            f"({100 * np.median(drop[lower] / before[lower]):.2f} % of it), max {drop.max():.2f} W")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="alexnet,resnet18,vgg13,vgg16,msra_A")
    ap.add_argument("-n", type=int, default=200, help="designs per network")
    ap.add_argument("--fixes", default=STAGE_FIXES, help="comma list of the fixes to measure one by one")
    ap.add_argument("--fidelity", choices=("analytic", "cycle"), default="analytic")
    args = ap.parse_args(argv)
    from genomes import GenomeLayout, decode, initial_population

    hw = load_hardware()
    for name in args.networks.split(","):
        net = load_pimcomp(NETWORKS / f"{name}.json")
        layout = GenomeLayout.build(net, hw, 49.0)
        batch = decode(layout, initial_population(layout, args.n, np.random.default_rng(0)))
        base = evaluate(net, hw, batch, args.fidelity, power_check="pimsyn")
        scored = base["fixed_point_converged"].notna()
        print(f"{name:9s} {min_power_drop(net, hw, batch)}; capacity/clock loop not converged on "
              f"{int((base['fixed_point_converged'][scored] == False).sum())} of {int(scored.sum())} "  # noqa: E712
              f"scored designs", flush=True)
        for fix in args.fixes.split(","):
            r = reach(base, evaluate(net, hw, batch, args.fidelity, power_check="pimsyn", fixes=fix))
            print(f"{name:9s} {fix:14s} feasibility changed {r['feasibility_changed']:4d}/{args.n}  "
                  f"of {r['both']:4d} feasible in both: efficiency changed {r['efficiency_changed']:4d}, "
                  f"steps {r['steps_changed']:4d}, capacity {r['capacity_changed']:4d}; "
                  f"|d eff| median {100 * r['eff_median']:.3f} % max {100 * r['eff_max']:.3f} %", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
