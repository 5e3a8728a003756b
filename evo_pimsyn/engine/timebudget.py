"""The wall-time budget of a command (``--time-budget``).

The budget bounds the whole command, from its start (the process's, for the CLI) to the
last file it writes: start-up (imports, loading the model, compiling the numba kernels on
the first run after an install or loading them from their cache), the search with its
checkpoints, and the finish: the archive re-scored with the cycle model into pareto.csv,
then best.json and pimcomp.json.

Two rules keep it:

* the search stops before a generation that would not leave the finish its time: before
  each generation the session checks that one more generation (as long as the last one)
  plus the finish still fit (:class:`SearchDeadline`); the finish is estimated from the
  archive's size and the cycle model's measured cost per design (:class:`FinishCost`,
  measured on a few designs at start-up and on every design the session checks with the
  cycle model while it runs);
* the finish re-scores the archive in chunks, the designs that matter most first
  (:func:`rescore_order`), and stops re-scoring when the next chunk would not fit (the
  first, about ``CHUNK_S`` of work, always runs): the rows
  it did not reach keep the analytic model's values (column ``fidelity`` of pareto.csv) and
  the command says how many.

A resumed run's budget is the run's total over its sessions: each checkpoint records the
budget spent up to it (``budget_spent_s``, the command time of every session so far), and
a resumed session has what is left of it. Time spent after a session's last checkpoint (a
killed run's lost generations, a finished run's final re-scoring) is not counted again.

Clocks are passed in (``clock``, seconds, monotonic), so tests drive the rules with a fake one.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from evo_pimsyn.engine.nsga import crowding_distance

Clock = Callable[[], float]

# The finish is planned for this many times the measured mean cost of an archive design:
# the archive's designs differ (the samples are single designs, whose calls also pay the
# model's per-call overhead, so the mean errs high), and a chunk planned too short would
# leave designs to the analytic fallback, while one planned too long wastes search time
# (AlexNet, 49 W, 60 s: the finish estimate ~3 s, the re-scoring took 0.8 s of it).
SAFETY = 1.25
# Workers share the machine with the main process and each other: planned speedup per
# worker (2 local workers scored a 512-design cycle batch 1.95x faster than one).
PARALLEL_EFFICIENCY = 0.75
# After the re-scoring: pareto.csv (~0.1 ms a design: its frame and CSV), best.json and
# pimcomp.json (the best design's architecture, ~10 ms), and the process's exit (joblib's
# worker pool and the interpreter shut down after the last file, ~0.5 s measured).
WRITE_FIXED_S = 1.0
WRITE_PER_DESIGN_S = 2e-4
# one chunk of the final re-scoring takes about this long (the budget is checked between chunks)
CHUNK_S = 1.0
# archive designs measured before the estimate rests on them rather than on the start-up sample
MIN_ARCHIVE_SAMPLES = 3
# share of a time-budgeted run's time spent measuring the cycle model on archive designs
# (FinishCost.sample): AlexNet ~3 ms a design, ResNet50 ~0.2 s
SAMPLE_SHARE = 0.01
SAMPLE_STRIDE = 7919  # a prime: successive samples spread over the archive


def process_started_at(clock: Clock = time.monotonic) -> float:
    """The ``clock`` time at which this process started, so that a budget also counts the
    interpreter's start and the imports before ``main``: on Linux the start time of
    /proc/self/stat (clock ticks after boot) against /proc/uptime; ``clock()`` elsewhere."""
    now = clock()
    try:
        after_comm = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_ticks = int(after_comm[19])  # field 22 (starttime); field 3 is index 0 here
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        age_s = uptime_s - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return now
    return now - age_s if 0.0 <= age_s < 3600.0 else now  # an implausible age: not this clock's


@dataclass
class TimeBudget:
    """``total_s`` seconds for a run, of which ``spent_before_s`` went to earlier sessions;
    this session started at ``started_at`` (a ``clock`` time)."""

    total_s: float
    started_at: float
    spent_before_s: float = 0.0
    clock: Clock = time.monotonic

    @property
    def end(self) -> float:
        """The ``clock`` time by which this session must have written its last file."""
        return self.started_at + self.total_s - self.spent_before_s

    def left(self) -> float:
        return self.end - self.clock()


def spent(started_at: float, spent_before_s: float, clock: Clock) -> float:
    """Budget a run has spent so far: earlier sessions' and this session's command time."""
    return spent_before_s + (clock() - started_at)


@dataclass
class FinishCost:
    """Estimated seconds of a session's finish (:meth:`estimate`) for an archive of ``n``
    designs, from the cycle model's measured cost per design in one process.

    The cost of a design varies tenfold (a design the model refuses early costs little, a
    feasible one its whole schedule), so the estimate rests on the archive's own designs
    (all feasible) once a few were measured (:meth:`observe` from the progress display's
    checks, :meth:`sample` and the final re-scoring's chunks), and until then on the
    start-up sample of random designs (:meth:`observe_prior`)."""

    workers: int = 1
    clock: Clock = time.monotonic
    pool_start_s: float = 0.0  # starting the workers (their imports and kernel loads), when remote
    pool_up_until: float = -math.inf  # until then the workers are known to be running (no start to pay)
    save_s: float = 0.0  # the last checkpoint and generations.csv write: the finish writes them once more
    prior_designs: int = 0
    prior_s: float = 0.0
    measured_designs: int = 0
    measured_s: float = 0.0
    sample_s: float = 0.0  # time :meth:`sample` spent
    sampled: set = field(default_factory=set)
    first_sample_at: float | None = None

    def observe_prior(self, designs: int, seconds: float) -> None:
        """``designs`` random designs took ``seconds`` through the cycle model in this process."""
        if designs > 0 and seconds >= 0:
            self.prior_designs += int(designs)
            self.prior_s += float(seconds)

    def observe(self, designs: int, seconds: float) -> None:
        """``designs`` archive designs took ``seconds`` through the cycle model in this process."""
        if designs > 0 and seconds >= 0:
            self.measured_designs += int(designs)
            self.measured_s += float(seconds)

    @property
    def design_s(self) -> float:
        """Mean cost of one design through the cycle model in one process (0 until measured)."""
        if self.measured_designs >= MIN_ARCHIVE_SAMPLES:
            return self.measured_s / self.measured_designs
        return self.prior_s / self.prior_designs if self.prior_designs else 0.0

    def sample(self, genomes: np.ndarray, cycle: Callable[[np.ndarray], object], clock: Clock) -> None:
        """Score one archive design not measured before with ``cycle`` (in this process) and
        observe its cost, as long as such samples took at most ``SAMPLE_SHARE`` of the time
        since the first one (called after each generation of a time-budgeted run). Which
        design is a function of the archive and the samples so far; the search never sees
        the score."""
        now = clock()
        if self.first_sample_at is None:
            self.first_sample_at = now
        if not len(genomes) or (self.sampled and self.sample_s > SAMPLE_SHARE * (now - self.first_sample_at)):
            return
        n = len(genomes)
        for step in range(n):
            row = (len(self.sampled) * SAMPLE_STRIDE + step) % n
            key = genomes[row].tobytes()
            if key not in self.sampled:
                break
        else:
            return
        t0 = clock()
        cycle(genomes[row:row + 1])
        took = clock() - t0
        self.sampled.add(key)
        self.sample_s += took
        self.observe(1, took)

    def speedup(self, n: int) -> float:
        w = min(self.workers, max(n, 1))
        return max(1.0, w * PARALLEL_EFFICIENCY) if w > 1 else 1.0

    def rescore_s(self, n: int, *, pool: bool = True) -> float:
        """Planned time to re-score ``n`` designs with the cycle model (``pool``: starting
        the workers included)."""
        if n <= 0:
            return 0.0
        start = self.pool_start_s if pool and self.workers > 1 and self.clock() > self.pool_up_until else 0.0
        return start + SAFETY * n * self.design_s / self.speedup(n)

    def fitting(self, seconds: float) -> int:
        """How many designs the re-scoring can take in ``seconds`` (workers already started)."""
        if self.design_s <= 0:
            return 1 << 62
        return max(0, int(seconds * self.speedup(1 << 30) / (SAFETY * self.design_s)))

    @staticmethod
    def write_s(n: int) -> float:
        """Planned time from the end of the re-scoring to the command's exit."""
        return WRITE_FIXED_S + WRITE_PER_DESIGN_S * max(n, 0)

    def estimate(self, n: int) -> float:
        return self.save_s + self.rescore_s(n) + self.write_s(n)

    def chunk(self, n: int) -> int:
        """Designs per chunk of the final re-scoring: about ``CHUNK_S`` of work, at least
        one per worker, at most ``n``."""
        per_chunk = CHUNK_S * self.speedup(n) / (SAFETY * self.design_s) if self.design_s > 0 else n
        return int(max(1, min(n, max(self.workers, math.floor(per_chunk)))))


# generations whose times predict the next one's (the longest of them)
STEP_HISTORY = 8


@dataclass
class SearchDeadline:
    """Stop rule of a time-budgeted search (``loop.Stop.deadline``): the search stops when
    one more generation, as long as the longest of the last ``STEP_HISTORY``, and the
    finish for the current archive would end after ``budget.end``. The longest, not the
    last: generations differ (a checkpoint write, a restart, a polish generation's cycle
    checks), and one longer than predicted eats into the finish's time. :meth:`fits` asks
    the same of a next generation that scores more designs than the last (the corner
    phase's first generations score 2 and 4 times as many as a population of 64), predicted
    that much longer."""

    budget: TimeBudget
    finish: FinishCost
    last_check: float | None = None
    steps_s: list = field(default_factory=list)

    def reached(self, state) -> bool:
        now = self.budget.clock()
        # each generation's time with its checkpoint and progress output; the first check
        # of a session has none yet: the logged time of the state's generation
        if self.last_check is not None:
            self.steps_s = [*self.steps_s[1 - STEP_HISTORY:], now - self.last_check]
        elif state.logbook:
            self.steps_s = [float(state.logbook[-1].get("generation_wall_s", 0.0))]
        self.last_check = now
        return not self._fits(state, now, max(self.steps_s, default=0.0))

    def fits(self, state, designs: int) -> bool:
        """Whether a next generation that scores ``designs`` still fits: the predicted
        generation (as in :meth:`reached`, called first) times ``designs`` over the last
        generation's designs when that is more."""
        step_s = max(self.steps_s, default=0.0)
        last = state.logbook[-1].get("evaluations_new") if state.logbook else None
        if last and designs > last:
            step_s *= designs / last
        return self._fits(state, self.budget.clock(), step_s)

    def _fits(self, state, now: float, step_s: float) -> bool:
        return now + step_s + self.finish.estimate(len(state.archive)) < self.budget.end

    def search_left_s(self, state) -> float:
        return max(0.0, self.budget.end - self.finish.estimate(len(state.archive)) - self.budget.clock())

    def search_fraction(self, state) -> float:
        """Share of the run's search time (all sessions) already used: searched so far over
        searched so far plus what this session can still search."""
        done = float(state.elapsed_s)
        total = done + self.search_left_s(state)
        return done / total if total > 0 else 1.0


def rescore_order(F: np.ndarray) -> np.ndarray:
    """Order in which the final re-scoring takes the archive's rows (objectives ``F`` in
    minimization form): with one objective best first; with several the extremes of every
    objective first, then by crowding distance (the front's spread before its crowded
    middle). Ties by row index, so the order depends on the archive only."""
    F = np.asarray(F, dtype=np.float64)
    idx = np.arange(len(F))
    if len(F) == 0:
        return idx
    if F.shape[1] == 1:
        return np.lexsort((idx, F[:, 0]))
    return np.lexsort((idx, -crowding_distance(F)))


def plan_rescoring(order: Sequence[int], finish: FinishCost, until: float, clock: Clock):
    """Chunks of ``order`` (row indices, most important first) for the final re-scoring.
    The first chunk (about ``CHUNK_S`` of work) always: the search stops with just the
    finish's estimate left, and a few tenths of a second more for the last checkpoint would
    otherwise leave a small front to the analytic values. Then chunks as large as still end,
    with the writes after them, before ``until`` (at most ``CHUNK_S`` of work each, so the
    budget is checked often). The caller times each chunk into ``finish.observe``, so later
    chunks are planned with it."""
    order = np.asarray(order, dtype=np.int64)
    n = len(order)
    start = 0
    while start < n:
        size = finish.chunk(n - start)
        if start:
            size = min(size, finish.fitting(until - clock() - finish.write_s(n)))
            if size < 1:
                return
        yield order[start:start + size]
        start += size
