"""Scaling of batch evaluation over local worker processes (the engine's ``Evaluator``).

    .venv/bin/python bench/bench_scaling.py --quick                      # < 4 min on 16 cores
    .venv/bin/python bench/bench_scaling.py --workers 1,2,4,8,16         # full
    .venv/bin/python bench/bench_scaling.py --quick --only workers       # one table

Tables (each with the ratio to the single-worker figure):

1. ``workers``: evaluations/s of one fixed batch (strong scaling: the GA's population does
   not grow with the machine) against the worker count; speedup and parallel efficiency
   (speedup / workers). The 1-worker figure is in-process scoring (no IPC), so efficiency
   is measured against the strictest baseline. Also the peak memory (max RSS) per worker.
2. ``batch``: evaluations/s against the batch size at the largest worker count.
3. ``networks``: wall time of a short GA run (lenet5 -> resnet50) at 1 worker and at the
   largest worker count.

Only numpy, numba, pandas, joblib, onnx and deap (and this repository) need to be
importable. Every process runs single-threaded (OMP/BLAS/numba threads = 1).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evo_pimsyn.engine import loop  # noqa: E402
from evo_pimsyn.engine.evaluation import Evaluator  # noqa: E402
from evo_pimsyn.engine.objectives import parse_objectives  # noqa: E402
from evo_pimsyn.engine.setup import prepare  # noqa: E402

NETWORKS = ("lenet5", "alexnet", "vgg16", "resnet18", "resnet50")


def _memory_probe(delay_s: float, G):  # worker task: (pid, peak RSS in MiB)
    time.sleep(delay_s)  # keep this worker busy so that the other probes land elsewhere
    return pd.DataFrame({"pid": [os.getpid()] * len(G),
                         "max_rss_mib": [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024] * len(G)})


def _setup(network: str, power_w: float):
    return prepare("pim", f"zoo:{network}", None, power_w, "specified", True)


def _rate(evaluate, G: np.ndarray, reps: int) -> tuple[float, float]:
    """Median evaluations/s over ``reps`` calls (after one warm-up call) and the median call time."""
    evaluate(G)  # warm-up: worker start, imports, numba cache load
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        evaluate(G)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return len(G) / med, med


def table_workers(setup, fidelity: str, batch: int, counts: list[int], reps: int, seed: int,
                  spw: int = 1) -> pd.DataFrame:
    fn, args = setup.problem.scorer(fidelity)
    G = setup.problem.initial(batch, np.random.default_rng(seed))
    rows = []
    for w in counts:
        with Evaluator(fn, args, workers=w, slices_per_worker=spw) as evaluate:
            rate, call_s = _rate(evaluate, G, reps)
            if w == 1:
                mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            else:
                # each worker reports its own peak RSS; the pool is the one that just scored
                with Evaluator(_memory_probe, (0.2,), workers=w) as probe:
                    mem = float(probe(np.zeros((w, 1), dtype=np.int64))["max_rss_mib"].max())
        rows.append({"workers": w, "evals_per_s": rate, "batch_s": call_s, "max_rss_per_worker_mib": mem})
        print(f"  workers={w:<3d} {rate:9.1f} evals/s  ({call_s:.3f} s per batch of {batch})", flush=True)
    df = pd.DataFrame(rows)
    base = df["evals_per_s"].iloc[0]
    df["speedup"] = df["evals_per_s"] / base
    df["efficiency"] = df["speedup"] / df["workers"] * (df["workers"].iloc[0])
    return df


def table_batch(setup, fidelity: str, sizes: list[int], workers: int, reps: int, seed: int) -> pd.DataFrame:
    fn, args = setup.problem.scorer(fidelity)
    rows = []
    with Evaluator(fn, args, workers=workers) as evaluate:
        for n in sizes:
            G = setup.problem.initial(n, np.random.default_rng(seed))
            rate, call_s = _rate(evaluate, G, reps)
            rows.append({"batch": n, "workers": workers, "evals_per_s": rate, "batch_s": call_s})
            print(f"  batch={n:<5d} {rate:9.1f} evals/s", flush=True)
    df = pd.DataFrame(rows)
    df["ratio_to_smallest"] = df["evals_per_s"] / df["evals_per_s"].iloc[0]
    return df


def ga_time(setup, fidelity: str, population: int, generations: int, workers: int, seed: int) -> float:
    settings = loop.Settings(objectives=parse_objectives("efficiency,throughput,area"), power_w=setup.problem.power_w,
                             population=population, algorithm="nsga2", fidelity=fidelity)
    fn, args = setup.problem.scorer(fidelity)
    with Evaluator(fn, args, workers=workers) as evaluate:
        evaluate(setup.problem.initial(workers, np.random.default_rng(seed + 1)))  # start + warm the pool
        t = time.perf_counter()
        loop.evolve(setup.problem, evaluate, settings, loop.Stop(generations), seed=seed)
        return time.perf_counter() - t


def table_networks(networks: list[str], power_w: float, fidelity: str, population: int, generations: int,
                   workers: int, seed: int) -> pd.DataFrame:
    rows = []
    for name in networks:
        setup = _setup(name, power_w)
        row = {"network": name, "mvm_layers": len(setup.network.mvm_indices),
               "evaluations": population * (generations + 1)}
        for w in sorted({1, workers}):
            row[f"run_s_w{w}"] = ga_time(setup, fidelity, population, generations, w, seed)
        if workers > 1:
            row["speedup"] = row["run_s_w1"] / row[f"run_s_w{workers}"]
        rows.append(row)
        print(f"  {name:<9s} " + "  ".join(f"{k}={v:.2f}" for k, v in row.items() if k.startswith("run_s")),
              flush=True)
    df = pd.DataFrame(rows)
    df["ratio_to_smallest_w1"] = df["run_s_w1"] / df["run_s_w1"].iloc[0]
    return df


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = os.cpu_count() or 1
    ap.add_argument("--workers", default=None, help=f"comma list of worker counts (default 1,2,{cores})")
    ap.add_argument("--network", default="resnet18", help="network of the worker and batch tables (zoo name)")
    ap.add_argument("--fidelity", choices=("cycle", "analytic"), default="cycle")
    ap.add_argument("--batch", type=int, default=None, help="designs per batch (default 256; --quick 128)")
    ap.add_argument("--batches", default=None, help="batch-size sweep (default 16,64,256,1024; --quick 16,64,256)")
    ap.add_argument("--networks", default=",".join(NETWORKS), help="networks of the run-time table")
    ap.add_argument("--population", type=int, default=None, help="GA population of the run-time table "
                                                                  "(default 64; --quick 32)")
    ap.add_argument("--generations", type=int, default=None, help="GA generations (default 4; --quick 2)")
    ap.add_argument("--reps", type=int, default=None, help="timed calls per point (default 5; --quick 3)")
    ap.add_argument("--power", type=float, default=49.0, help="power budget, W")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--only", choices=("workers", "batch", "networks"), action="append",
                    help="run only these tables (repeatable)")
    ap.add_argument("--quick", action="store_true", help="smaller batches and runs (< 4 min on 16 cores)")
    ap.add_argument("--slices-per-worker", type=int, default=1,
                    help="slices each batch is cut into per worker (default 1, the engine's setting)")
    ap.add_argument("--csv", metavar="PREFIX", help="also write PREFIX-workers.csv etc.")
    args = ap.parse_args(argv)
    q = args.quick
    counts = [int(x) for x in (args.workers or f"1,2,{cores}").split(",")]
    counts = sorted(set(counts))
    if counts[0] != 1:
        counts = [1, *counts]
    batch = args.batch or (128 if q else 256)
    sizes = [int(x) for x in (args.batches or ("16,64,256" if q else "16,64,256,1024")).split(",")]
    population = args.population or (32 if q else 64)
    generations = args.generations if args.generations is not None else (2 if q else 4)
    reps = args.reps or (3 if q else 5)
    tables = args.only or ["workers", "batch", "networks"]
    top = counts[-1]
    pd.set_option("display.width", 200)
    print(f"# bench_scaling: {cores} cores, python {sys.version.split()[0]}, fidelity {args.fidelity}, "
          f"workers {counts}", flush=True)
    t0 = time.perf_counter()
    out = {}
    if "workers" in tables:
        print(f"\n## evaluations/s against workers ({args.network}, batch {batch}, {args.fidelity})", flush=True)
        out["workers"] = table_workers(_setup(args.network, args.power), args.fidelity, batch, counts, reps,
                                       args.seed, args.slices_per_worker)
        print(out["workers"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if "batch" in tables:
        print(f"\n## evaluations/s against batch size ({args.network}, {top} workers, {args.fidelity})", flush=True)
        out["batch"] = table_batch(_setup(args.network, args.power), args.fidelity, sizes, top, reps, args.seed)
        print(out["batch"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if "networks" in tables:
        print(f"\n## GA run time against network size (population {population}, {generations} generations, "
              f"{args.fidelity}, 1 vs {top} workers)", flush=True)
        out["networks"] = table_networks(args.networks.split(","), args.power, args.fidelity, population,
                                         generations, top, args.seed)
        print(out["networks"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.csv:
        for name, df in out.items():
            df.to_csv(f"{args.csv}-{name}.csv", index=False)
    print(f"\n# total {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
