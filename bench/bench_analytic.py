"""Throughput of the analytic evaluator (designs/s, one core).

    .venv/bin/python bench/bench_analytic.py [--networks alexnet,resnet18,vgg16] [--batches 1,64,4096] [--clock cpu]

Designs are random legal ones (``genomes.initial_population`` at 49 W); the first call of
each network is a warm-up (numba compilation, caches) and is not timed. ``--clock cpu``
times with the process's CPU time instead of the wall clock: steadier on a shared machine
(the evaluator is single-threaded, so both agree on an idle one).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fitness.analytic.evaluate import evaluate_analytic  # noqa: E402
from fitness.hardware import load_hardware  # noqa: E402
from fitness.pimcomp import load_pimcomp  # noqa: E402
from genomes import GenomeLayout, decode, initial_population  # noqa: E402

NETWORKS = REPO / "tests" / "data" / "reference" / "networks"


def random_designs(network, hardware, n, seed=0, power_w=49.0):
    layout = GenomeLayout.build(network, hardware, power_w)
    return decode(layout, initial_population(layout, n, np.random.default_rng(seed)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="alexnet,resnet18,vgg16")
    ap.add_argument("--batches", default="1,64,4096")
    ap.add_argument("--min-time", type=float, default=2.0, help="seconds of timed calls per point")
    ap.add_argument("--samples", type=int, default=None, help="recurrence samples per layer (default: the evaluator's)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall clock or process CPU time")
    ap.add_argument("--fixes", default="none", help="model fixes: none (default), all or a comma list")
    args = ap.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    hw = load_hardware()
    kw = {"fixes": args.fixes} if args.samples is None else {"max_samples": args.samples, "fixes": args.fixes}
    print(f"{'network':10s} {'batch':>6s} {'designs/s':>12s} {'us/design':>10s} {'feasible':>8s}")
    for name in args.networks.split(","):
        net = load_pimcomp(NETWORKS / f"{name}.json")
        pool = random_designs(net, hw, max(int(b) for b in args.batches.split(",")), seed=1)
        evaluate_analytic(net, hw, pool.take(np.arange(min(64, len(pool)))), **kw)  # warm-up
        for bs in (int(b) for b in args.batches.split(",")):
            batch = pool.take(np.arange(bs))
            n_calls, elapsed, feas = 0, 0.0, 0.0
            while elapsed < args.min_time or n_calls < 2:
                t0 = clock()
                df = evaluate_analytic(net, hw, batch, **kw)
                elapsed += clock() - t0
                n_calls += 1
                feas = float(df["feasible"].mean())
            rate = n_calls * bs / elapsed
            print(f"{name:10s} {bs:6d} {rate:12.0f} {1e6 / rate:10.1f} {feas:8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
