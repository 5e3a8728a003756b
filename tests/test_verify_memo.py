"""The verify memo: a design that comes back is not scored by the exact model again, and
what the memo returns is what scoring it again would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.engine import loop
from evo_pimsyn.engine.evaluation import score
from evo_pimsyn.engine.objectives import parse_objectives
from evo_pimsyn.engine.problem import Problem
from evo_pimsyn.engine.verify_memo import VerifyMemo

OBJ = parse_objectives("efficiency")
THREE = parse_objectives("efficiency,throughput,area")


def _verify(calls):
    def verify(G):
        calls.append(G[:, 0].tolist())
        eff = G[:, 0].astype(float) / 3.0
        return pd.DataFrame({"feasible": G[:, 0] % 5 != 0, "reason": ["ok"] * len(G),
                             "efficiency_gops_w": eff, "peak_power_w": 1.0 + G[:, 1] % 2})
    return verify


@pytest.mark.unit
def test_each_distinct_genome_is_scored_once():
    calls = []
    memo = VerifyMemo(_verify(calls))
    G = np.array([[7, 0], [8, 1], [7, 0], [10, 0]], dtype=np.int64)
    F, V = memo.scores(G, OBJ, 49.0)
    assert calls == [[7, 8, 10]]  # the repeat in the batch is scored once
    direct = score(_verify([])(G), OBJ, 49.0)
    np.testing.assert_array_equal(F, direct.objectives)
    np.testing.assert_array_equal(V, direct.violation)
    F2, V2 = memo.scores(G[[3, 1]], OBJ, 49.0)
    assert calls == [[7, 8, 10]]  # all remembered
    np.testing.assert_array_equal(F2, direct.objectives[[3, 1]])
    np.testing.assert_array_equal(V2, direct.violation[[3, 1]])
    assert (memo.hits, memo.scored) == (3, 3)


@pytest.mark.unit
def test_least_recently_used_genomes_are_forgotten_first():
    calls = []
    memo = VerifyMemo(_verify(calls), capacity=2)
    row = lambda *v: np.array([[x, 0] for x in v], dtype=np.int64)  # noqa: E731
    memo.scores(row(1, 2), OBJ, 49.0)
    memo.scores(row(1), OBJ, 49.0)  # 1 is now the most recent
    memo.scores(row(3), OBJ, 49.0)  # evicts 2
    memo.scores(row(1, 2), OBJ, 49.0)
    assert calls == [[1, 2], [3], [2]]


@pytest.mark.e2e
def test_a_run_scores_no_design_twice_with_the_exact_model():
    """Through evolve(): every genome reaching the verify evaluator is new to it."""
    seen: list[bytes] = []

    def verify(G):
        seen.extend(g.tobytes() for g in G)
        return _verify([])(G)

    class Toy(Problem):
        """Fast scores over a tiny genome space, so that designs recur often."""

        def initial(self, n, rng):
            return rng.integers(1, 13, size=(n, 2))

        def vary(self, a, b, rng):
            return np.clip(a + rng.integers(-1, 2, size=a.shape), 1, 12)

    settings = loop.Settings(objectives=OBJ, power_w=49.0, population=6, fidelity="analytic", restart_after=2,
                             polish_fraction=0.0)

    def fast(G):  # over-rates every design, so every would-be best is checked
        out = _verify([])(G)
        out["efficiency_gops_w"] = out["efficiency_gops_w"] + 10.0
        return out

    st = loop.evolve(Toy(), fast, settings, loop.Stop(generations=25), seed=1, verify=verify)
    assert len(seen) == len(set(seen)) > 0  # every repeat came from the memo
    assert st.counters.verified > len(seen)  # and there were repeats (the count includes them)


@pytest.mark.unit
def test_memo_keeps_every_objective_and_journals_what_it_was_asked():
    calls = []

    def verify(G):
        calls.append(G[:, 0].tolist())
        return pd.DataFrame({"feasible": [True] * len(G), "reason": [""] * len(G),
                             "efficiency_gops_w": G[:, 0] * 1.0, "throughput_ips": G[:, 0] * 2.0,
                             "area_mm2": G[:, 0] * 3.0, "peak_power_w": [1.0] * len(G)})

    memo = VerifyMemo(verify, keep=THREE)
    G = np.array([[1, 0], [2, 0], [1, 0]], dtype=np.int64)
    F, _ = memo.scores(G, OBJ, 49.0)
    np.testing.assert_array_equal(F, [[-1.0], [-2.0], [-1.0]])
    F3, _ = memo.scores(G[:2], THREE, 49.0, record=False)
    assert calls == [[1, 2]]  # the three objectives were kept the first time
    np.testing.assert_array_equal(F3, [[-1.0, -2.0, 3.0], [-2.0, -4.0, 6.0]])
    memo.scores(np.array([[2, 0], [3, 0]]), OBJ, 49.0)  # a hit and a new design
    np.testing.assert_array_equal(memo.drain(2), [[1, 0], [2, 0], [3, 0]])
    assert memo.drain(2).shape == (0, 2)
    plain = VerifyMemo(verify)  # without keep: a later call for more objectives scores again
    plain.scores(G[:1], OBJ, 49.0)
    plain.scores(G[:1], THREE, 49.0)
    assert calls[-2:] == [[1], [1]]
