"""The final front holds only designs the exact model accepts: an archive design that the
cycle-model re-scoring refuses (over the budget, say, where the search's estimate was not)
goes to refused.csv with its reason, never into pareto.csv."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.engine import setup
from evo_pimsyn.engine.session import REFUSED_CSV, RunOptions, start
from evo_pimsyn.engine.toy import ToyProblem, score_toy

pytestmark = pytest.mark.e2e


def _stricter_cycle(high: int, power_w: float, G: np.ndarray) -> pd.DataFrame:
    """The toy's scores, with every feasible design of odd first gene refused as over budget."""
    frame = score_toy(high, power_w, 0.0, G)
    odd = frame["feasible"].to_numpy() & (np.asarray(G)[:, 0] % 2 == 1)
    frame.loc[odd, "feasible"] = False
    frame.loc[odd, "reason"] = "peak_power_gt_budget"
    return frame


@dataclass(kw_only=True)
class StricterCycleToy(ToyProblem):
    def scorer(self, fidelity: str):
        if fidelity == "cycle":
            return _stricter_cycle, (self.high, self.power_w)
        return score_toy, (self.high, self.power_w, self.delay_s)


def test_designs_the_cycle_model_refuses_leave_the_front(tmp_path, monkeypatch):
    def prepare(model, config, power_w, macro_setting, macro_reuse, power_check, fixes, *, pins=None, dup="searched"):
        s = setup.prepare_toy("toy", config, power_w, macro_setting, macro_reuse, power_check, fixes)
        s.problem = StricterCycleToy(power_w=float(power_w))
        return s

    monkeypatch.setitem(setup.PREPARERS, "stricter", prepare)
    out = tmp_path / "run"
    assert start(RunOptions(model="toy", power_w=49.0, problem="stricter", population=16, generations=6, seed=3,
                            fidelity="analytic", out=str(out), quiet=True)) == 0
    front, refused = pd.read_csv(out / "pareto.csv"), pd.read_csv(out / REFUSED_CSV)
    # the search (analytic) kept odd designs; the exact re-scoring refused exactly those
    assert len(front) and len(refused)
    assert front["feasible"].all() and (front["gene_x0"] % 2 == 0).all()
    assert (~refused["feasible"]).all() and (refused["gene_x0"] % 2 == 1).all()
    assert set(refused["reason"]) == {"peak_power_gt_budget"}
    # nothing lost: together they are the archive, each design once
    assert sorted(front["design"].tolist() + refused["design"].tolist()) == list(range(len(front) + len(refused)))
