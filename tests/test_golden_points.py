"""Golden comparison with PIMSYN's own ``evaluate_fitness`` on the 906 reference points.

The cycle evaluator reproduces PIMSYN to float round-off: every feasible point's
efficiency, clock, latency and energy terms within 1e-9 relative, steps, capacity and
macro grid equal, infeasible exactly where (and why) PIMSYN returns 0, and a refusal row
(never an exception) where PIMSYN crashes.
"""

import json

import numpy as np
import pytest

from fitness.evaluate import evaluate
from fitness.hardware import load_hardware
from fitness.pimcomp import load_pimcomp

pytestmark = [pytest.mark.golden, pytest.mark.slow]  # PIMSYN's 906 points

NETWORKS = ("alexnet", "resnet18", "msra_A", "vgg13", "vgg16")
REL = 1e-9
FLOAT_FIELDS = {
    "efficiency_gops_w": "efficiency_gops_w",
    "clk_ns": "clk_ns",
    "latency_ns": "latency_ns",
    "energy_nj": "energy_total_nj",
    "energy_components_nj": "energy_components_nj",
    "energy_crossbars_nj": "energy_crossbars_nj",
    "energy_memory_nj": "energy_memory_nj",
    "energy_noc_nj": "energy_noc_nj",
}
INT_FIELDS = ("steps", "memory_capacity_kb", "ops", "macro_rows", "macro_cols")


@pytest.fixture(scope="module")
def points(reference_dir):
    return [json.loads(line) for line in (reference_dir / "points.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def results(points, reference_dir):
    hw = load_hardware()
    out = {}
    for name in NETWORKS:
        pts = [p for p in points if p["network"] == name]
        net = load_pimcomp(reference_dir / "networks" / f"{name}.json")
        out[name] = (pts, evaluate(net, hw, pts, power_check="pimsyn"), net)
    return out


@pytest.mark.parametrize("name", NETWORKS)
def test_feasible_points_match(results, name):
    pts, frame, _ = results[name]
    rows = [(p, frame.iloc[i]) for i, p in enumerate(pts) if p["pimsyn_status"] == "ok"]
    assert rows
    problems = []
    for p, r in rows:
        if not r.feasible:
            problems.append(f"{p['id']}: refused ({r.reason})")
            continue
        for ours, theirs in FLOAT_FIELDS.items():
            if not np.isclose(r[ours], p[theirs], rtol=REL, atol=0):
                problems.append(f"{p['id']}: {ours} {r[ours]!r} != {p[theirs]!r}")
        for key in INT_FIELDS:
            if int(r[key]) != int(p[key]):
                problems.append(f"{p['id']}: {key} {r[key]} != {p[key]}")
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("name", NETWORKS)
def test_infeasible_and_crash_points_refused(results, name):
    pts, frame, _ = results[name]
    problems = []
    for i, p in enumerate(pts):
        r = frame.iloc[i]
        if p["pimsyn_status"] == "infeasible":
            if r.feasible or r.reason != p["pimsyn_reason"] or r.crashed:
                problems.append(f"{p['id']}: {r.reason} != {p['pimsyn_reason']}")
            if p["macro_rows"] is not None and (r.macro_rows, r.macro_cols) != (p["macro_rows"], p["macro_cols"]):
                problems.append(f"{p['id']}: grid {r.macro_rows}x{r.macro_cols}")
        elif p["pimsyn_status"] == "crash":
            if r.feasible or not r.crashed or r.reason in ("ok", "") or r.efficiency_gops_w != 0:
                problems.append(f"{p['id']}: crash not refused ({r.reason})")
    assert not problems, "\n".join(problems[:20])


def test_all_point_kinds_covered(results):
    statuses = {p["pimsyn_status"] for pts, _, _ in results.values() for p in pts}
    assert statuses == {"ok", "infeasible", "crash"}
    reasons = {r for _, frame, _ in results.values() for r in frame.reason}
    assert "adc_arbitration_conflict (Q23)" in reasons and "share_partner_not_earlier (Q7)" in reasons
    assert sum(len(pts) for pts, _, _ in results.values()) == 906


def test_strict_power_check_refuses_exactly_the_points_over_their_budget(results):
    """The default check keeps PIMSYN's numbers and refuses, with its own reason, the points
    PIMSYN accepted whose peak power is above their budget (and only those)."""
    hw = load_hardware()
    refused = kept = 0
    for name, (pts, pimsyn, net) in results.items():
        strict = evaluate(net, hw, pts)
        budget = np.array([p["total_power_W"] for p in pts], dtype=float)
        peak = pimsyn["peak_power_w"].to_numpy(dtype=float)
        over = pimsyn["feasible"].to_numpy(dtype=bool) & (peak > budget)
        assert np.allclose(strict["power_margin_w"], budget - peak, equal_nan=True)
        assert (strict["feasible"].to_numpy(dtype=bool) == (pimsyn["feasible"].to_numpy(dtype=bool) & ~over)).all()
        assert (strict["reason"][over] == "peak_power_gt_budget").all()
        assert (strict["power_margin_w"][over] < 0).all()
        same = ["efficiency_gops_w", "steps", "peak_power_w", "energy_nj"]
        assert strict[same].equals(pimsyn[same])  # over-budget rows keep their metrics
        refused += int(over.sum())
        kept += int((pimsyn["feasible"].to_numpy(dtype=bool) & ~over).sum())
    # the reference points hold designs on both sides of the budget
    assert refused > 0 and kept > 0
