"""Progress output (engine/progress.py): the bar and the log lines show the best values the
cycle model gives (what the run will report), an estimate only labelled as one, and a log
file gets one plain line every ``log_every_s`` seconds. A fake clock drives the time."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.engine.archive import Archive
from evo_pimsyn.engine.objectives import parse_objectives
from evo_pimsyn.engine.progress import VERIFY_SHARE, Progress, VerifiedBests, format_value
from evo_pimsyn.engine.timebudget import TimeBudget
from tests.engine_helpers import FakeClock

OBJS = parse_objectives("efficiency,area")


def _state(generation: int, genomes, F, *, evaluations=None, est_eff=716.3, est_area=5.0):
    """A loop state stand-in: archive (minimization form) and the logbook's bests (the search's values)."""
    archive = Archive(np.asarray(genomes, dtype=np.int64), np.asarray(F, dtype=np.float64))
    row = {"best_efficiency_gops_w": est_eff, "best_area_mm2": est_area}
    evaluations = evaluations if evaluations is not None else 64 * (generation + 1)
    return SimpleNamespace(generation=generation, evaluations=evaluations, archive=archive, logbook=[row],
                           elapsed_s=float(generation))


def _cycle_model(calls, clock=None, cost_s=0.0):
    """A cycle-model stand-in: efficiency = gene 0 (GOPS/W), area = gene 1 (mm^2); gene 2 = 1 is refused."""

    def verify(G):
        calls.append(G.copy())
        if clock is not None:
            clock.now += cost_s * len(G)
        ok = G[:, 2] == 0
        return pd.DataFrame({"feasible": ok, "efficiency_gops_w": np.where(ok, G[:, 0], 0).astype(float),
                             "area_mm2": G[:, 1].astype(float), "peak_power_w": np.full(len(G), 10.0)})

    return verify


# archive: rows (genes) with the search's estimates (minimization form: -efficiency, area)
GENES = [[700, 9, 0], [650, 4, 0], [690, 6, 0], [720, 3, 1]]
SEARCH_F = [[-716.3, 9.0], [-660.0, 4.0], [-700.0, 6.0], [-730.0, 3.0]]


@pytest.mark.unit
def test_verified_bests_check_the_archive_best_first_and_count_only_archive_designs():
    calls = []
    bests = VerifiedBests(OBJS, 49.0, exact=False, verify=_cycle_model(calls), clock=FakeClock())
    state = _state(3, GENES, SEARCH_F)
    bests.refresh(state)
    # each objective's ranking in turn: the best of both is row 3, then efficiency's second
    # (row 0) and area's second (row 1), then row 2; one call of VERIFY_BATCH designs
    assert [[g.tolist() for g in c] for c in calls] == [[GENES[3], GENES[0], GENES[1], GENES[2]]]
    # the cycle model refuses row 3 (the search's best of both): the verified bests are others'
    assert bests.values(state) == [700.0, 4.0]
    assert bests.estimates(state) == [716.3, 5.0]
    bests.refresh(state)
    assert len(calls) == 1  # known designs are not scored again
    state.archive = Archive(np.asarray(GENES[1:3], dtype=np.int64), np.asarray(SEARCH_F[1:3]))
    assert bests.values(state) == [690.0, 4.0]  # a design that left the archive no longer counts


@pytest.mark.unit
def test_verified_bests_stay_within_their_share_of_the_time():
    clock = FakeClock()
    calls = []
    observed = []
    bests = VerifiedBests(OBJS, 49.0, exact=False, verify=_cycle_model(calls, clock, cost_s=1.0), clock=clock,
                          observe=lambda n, s: observed.append((n, s)))
    genes = [[600 + k, 10 - k % 7, 0] for k in range(12)]
    F = [[-g[0], float(g[1])] for g in genes]
    state = _state(0, genes, F)
    bests.refresh(state)  # the first batch always: four designs, 4 s
    assert observed == [(4, 4.0)] and bests.checked == 4
    clock.now += 4.0 / VERIFY_SHARE - 5.0  # 4 s of checks in less than 4 s / share: over its share
    bests.refresh(state)
    assert bests.checked == 4
    clock.now += 1.0
    bests.refresh(state)  # within its share again: one more batch, which spends it
    assert bests.checked == 8 and observed[-1] == (4, 4.0)
    assert bests.values(state)[0] == 611.0  # the best by the search's values came first


@pytest.mark.unit
def test_exact_runs_show_the_logbook_bests():
    bests = VerifiedBests(OBJS, 49.0, exact=True)
    state = _state(1, GENES, SEARCH_F, est_eff=703.2, est_area=5.864)
    assert bests.values(state) == [703.2, 5.864] and bests.estimates(state) is None


@pytest.mark.unit
def test_bar_shows_the_verified_best_and_labels_the_estimate():
    stream = io.StringIO()
    clock = FakeClock()
    bests = VerifiedBests(OBJS, 49.0, exact=False, verify=_cycle_model([]), clock=clock)
    progress = Progress(generations=None, start_generation=0, bests=bests, stream=stream, interactive=True,
                        budget=TimeBudget(60.0, 0.0, clock=clock), clock=clock)
    progress.update(_state(0, GENES[:3], SEARCH_F[:3]))
    clock.now = 2.0
    progress.update(_state(1, GENES[:3], SEARCH_F[:3]))
    progress.close()
    text = stream.getvalue()
    assert "best_eff=700.0 GOPS/W" in text and "unverified_est=716.3 GOPS/W" in text
    assert "best_eff=716.3" not in text and "left=00:58" in text


@pytest.mark.unit
def test_log_lines_every_interval_and_under_10_kb_for_five_minutes():
    stream = io.StringIO()
    clock = FakeClock()
    bests = VerifiedBests(parse_objectives("efficiency,throughput,area"), 49.0, exact=True)
    progress = Progress(generations=None, start_generation=0, bests=bests, stream=stream, interactive=False,
                        budget=TimeBudget(300.0, 0.0, clock=clock), clock=clock, log_every_s=30.0)
    row = {"best_efficiency_gops_w": 703.2, "best_throughput_ips": 11616.06, "best_area_mm2": 5.864}
    for generation in range(6002):  # a generation every 50 ms for five minutes and a bit
        clock.now = generation / 20
        state = SimpleNamespace(generation=generation, evaluations=128 * (generation + 1), logbook=[row],
                                archive=Archive.empty(3, 3), elapsed_s=clock.now)
        progress.update(state)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 + 10 + 1  # the start, one every 30 s (the 10th at 300 s), the end
    assert "\r" not in stream.getvalue() and len(stream.getvalue().encode()) < 10_000
    first, middle = lines[0], lines[1]
    assert first.startswith("evo-pimsyn: generation 0; 128 evaluations;")
    assert middle.startswith("evo-pimsyn: generation 600; 76,928 evaluations (2,560/s);")
    assert ("best (cycle model): efficiency 703.2 GOPS/W, throughput 11,616 inferences/s, area 5.864 mm^2"
            in middle)
    assert middle.endswith("00:30 elapsed; 04:30 left")
    assert lines[-1].startswith("evo-pimsyn: generation 6001;")


@pytest.mark.unit
def test_quiet_writes_nothing():
    stream = io.StringIO()
    progress = Progress(generations=5, start_generation=0, quiet=True, stream=stream, interactive=False)
    progress.update(_state(0, GENES, SEARCH_F))
    progress.close()
    assert stream.getvalue() == ""


@pytest.mark.unit
@pytest.mark.parametrize("value, text", [(703.21, "703.2"), (672.0, "672.0"), (11616.06, "11,616"), (5.8641, "5.864"),
                                         (float("nan"), "n/a"), (0.012345, "0.01235")])
def test_format_value(value, text):
    assert format_value(value) == text
