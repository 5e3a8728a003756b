"""Speed of the cycle-level evaluator against PIMSYN's recorded time per design.

Usage: .venv/bin/python bench/bench_cycle.py [--reference DIR] [--repeat N] [networks...]

For every network, on the reference points of that network (numba compile excluded by a
warm-up):

* batch: all points in one ``evaluate`` call (how the GA uses it). A design's time is its
  own scheduler time plus an equal share of the call's vectorized stages and table.
* single: each point alone in its own ``evaluate`` call (includes the per-call overhead).

PIMSYN's ``pimsyn_wall_s`` was recorded on a 2-core machine running two evaluations at
once (about 1.5-2x its single-process time); ours run single-process on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fitness.evaluate import evaluate_full  # noqa: E402
from fitness.fixed_point import Scheduled, cycle_scheduler  # noqa: E402
from fitness.hardware import load_hardware  # noqa: E402
from fitness.pimcomp import load_pimcomp  # noqa: E402

NETWORKS = ("alexnet", "resnet18", "msra_A", "vgg13", "vgg16")


class TimedScheduler:
    """The cycle scheduler, recording the wall time spent on each design."""

    def __init__(self, n: int) -> None:
        self.seconds = [0.0] * n

    def __call__(self, prep, idx, k_tran, k_ld, k_st, k_mrg) -> Scheduled:
        n = len(idx)
        out = Scheduled(np.full(n, "ok", dtype=object), np.zeros(n, dtype=np.int64), np.zeros(n),
                        np.zeros(n, dtype=np.int64))
        for i, b in enumerate(idx):
            one = slice(i, i + 1)
            t = time.perf_counter()
            r = cycle_scheduler(prep, idx[one], k_tran[one], k_ld[one], k_st[one], k_mrg[one])
            self.seconds[int(b)] += time.perf_counter() - t
            out.status[i], out.steps[i], out.elements[i], out.bubbles[i] = r.status[0], r.steps[0], r.elements[0], r.bubbles[0]
        return out


def batch_times(net, hw, pts, repeat: int) -> list[float]:
    best = None
    for _ in range(repeat):
        sched = TimedScheduler(len(pts))
        t = time.perf_counter()
        evaluate_full(net, hw, pts, scheduler=sched)
        total = time.perf_counter() - t
        shared = (total - sum(sched.seconds)) / len(pts)
        times = [s + shared for s in sched.seconds]
        if best is None or sum(times) < sum(best):
            best = times
    return best


def single_times(net, hw, pts, repeat: int) -> list[float]:
    out = []
    for p in pts:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            evaluate_full(net, hw, [p])
            best = min(best, time.perf_counter() - t)
        out.append(best)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("networks", nargs="*", default=list(NETWORKS))
    ap.add_argument("--reference", default=str(REPO / "tests" / "data" / "reference"))
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats; the best is kept (default 3)")
    args = ap.parse_args(argv)
    ref = Path(args.reference)
    points = [json.loads(l) for l in (ref / "points.jsonl").read_text().splitlines() if l.strip()]
    hw = load_hardware()
    header = (f"{'network':9s} {'points':>6s} {'PIMSYN median s':>15s} {'batch median ms':>15s} {'ratio':>7s} "
              f"{'single median ms':>16s} {'ratio':>7s} {'feasible-only batch ms':>22s} {'ratio':>7s}")
    print(header)
    print("-" * len(header))
    for name in args.networks:
        pts = [p for p in points if p["network"] == name]
        net = load_pimcomp(ref / "networks" / f"{name}.json")
        evaluate_full(net, hw, pts[:4])  # numba compile / cache load
        pimsyn = statistics.median(p["pimsyn_wall_s"] for p in pts)
        batch = batch_times(net, hw, pts, args.repeat)
        single = single_times(net, hw, pts, max(1, args.repeat - 1))
        ok = [i for i, p in enumerate(pts) if p["pimsyn_status"] == "ok"]
        pimsyn_ok = statistics.median(pts[i]["pimsyn_wall_s"] for i in ok)
        batch_ok = statistics.median(batch[i] for i in ok)
        mb, ms = statistics.median(batch), statistics.median(single)
        print(f"{name:9s} {len(pts):6d} {pimsyn:15.3f} {mb * 1e3:15.2f} {pimsyn / mb:6.0f}x "
              f"{ms * 1e3:16.2f} {pimsyn / ms:6.0f}x {batch_ok * 1e3:22.2f} {pimsyn_ok / batch_ok:6.0f}x")
    print("\nratio = PIMSYN's median time per design / ours (same points); feasible-only compares the "
          "points PIMSYN scored (its median over them).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
