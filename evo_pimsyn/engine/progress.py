"""Progress of a run on stderr: a tqdm bar on a terminal, plain lines anywhere else.

What it shows is what the run will report: the best value of each objective over designs
scored with the cycle model (the values pareto.csv and the closing line are made of).
Where the search itself runs on the cycle model, or verifies its would-be bests with it
(a single-objective analytic search), the archive's bests are exact already. Otherwise
(a multi-objective search on the analytic estimate) :class:`VerifiedBests` scores the
archive's designs with the cycle model, the best of each objective by the search's values
first, in at most ``VERIFY_SHARE`` of the run's time (an AlexNet archive of ~300 designs is
covered in about a minute); the search's own best values may be shown beside them,
labelled as unverified estimates. None of this touches the search: its results do not
depend on whether or how progress is shown.

On a terminal: a tqdm bar (generation, evaluations/s, ``best_eff``, time left). Elsewhere
(stderr redirected to a file, a batch job): one plain line at the start, one every
``log_every_s`` seconds (30 by default) and one at the end, about 300 bytes each: under
4 KB for a 5-minute run, where the bar's carriage-return updates wrote 200 KB.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, Sequence, TextIO

import numpy as np
from tqdm import tqdm

from evo_pimsyn.engine.evaluation import score
from evo_pimsyn.engine.objectives import Objective, to_raw

DEFAULT_LOG_EVERY_S = 30.0
# the share of the run's wall time that checking the archive's bests for the progress
# display may take (AlexNet: three designs at ~4 ms each per refresh; ResNet50: ~0.2 s each)
VERIFY_SHARE = 0.02
# the terminal bar's verified values are refreshed at most this often
BAR_REFRESH_S = 1.0
# archive designs checked with the cycle model per call of the model, and at most per refresh
VERIFY_BATCH = 4
VERIFY_MAX = 256


def format_value(value: float) -> str:
    """672.0, 11,616, 5.864: thousands as whole numbers, hundreds to a tenth (as GOPS/W are
    quoted), smaller values to four significant digits."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"


def format_interval(seconds: float) -> str:
    from tqdm import tqdm

    return tqdm.format_interval(max(0.0, seconds))


class VerifiedBests:
    """Best value of each objective over the archive's designs scored with the cycle model.

    ``exact``: the search's own values are the cycle model's (cycle fidelity, or a verified
    single-objective search) and the logbook's bests are used as they are. Otherwise
    :meth:`refresh` scores archive designs not scored yet with ``verify`` (a cycle-model
    evaluator, ``G -> DataFrame``), the best by the search's values first: the search's
    best design of an objective is often not the cycle model's (the estimate's error
    differs between designs), so checking only the top one showed less than the run's
    final re-scoring found. Only designs still in the archive count, as in that re-scoring.
    ``observe(designs, seconds)``, if given, learns the cycle model's cost from each check.
    """

    def __init__(self, objectives: Sequence[Objective], power_w: float, *, exact: bool,
                 verify: Callable | None = None, clock: Callable[[], float] = time.monotonic,
                 observe: Callable[[int, float], None] | None = None) -> None:
        self.objectives = tuple(objectives)
        self.power_w = float(power_w)
        self.exact = exact or verify is None
        self.verify = verify
        self.clock = clock
        self.observe = observe
        self.checked = 0  # designs scored for the display
        self._memo: dict[bytes, np.ndarray] = {}
        self._spent_s = 0.0
        self._since: float | None = None

    def refresh(self, state) -> None:
        """Score archive designs with the cycle model, best first by the search's values
        (each objective's ranking in turn), ``VERIFY_BATCH`` at a time while the checks stay
        within ``VERIFY_SHARE`` of the time since the first one (the first batch always)."""
        if self.exact or not len(state.archive):
            return
        now = self.clock()
        if self._since is None:
            self._since = now
        G = state.archive.genomes
        todo = self._unverified(G, state.archive.objectives)
        while todo and (not self._memo or self._spent_s <= VERIFY_SHARE * (self.clock() - self._since)):
            batch, todo = todo[:VERIFY_BATCH], todo[VERIFY_BATCH:]
            t0 = self.clock()
            scores = score(self.verify(G[batch]), self.objectives, self.power_w)
            took = self.clock() - t0
            raw = to_raw(scores.objectives, self.objectives)  # NaN where the cycle model refuses it
            for k, r in enumerate(batch):
                self._memo[G[r].tobytes()] = raw[k]
            self._spent_s += took
            self.checked += len(batch)
            if self.observe is not None:
                self.observe(len(batch), took)

    def _unverified(self, G: np.ndarray, F: np.ndarray) -> list[int]:
        """Up to ``VERIFY_MAX`` archive rows not scored yet: the best of each objective by
        the search's values, then the second best of each, and so on."""
        orders = [np.argsort(F[:, j], kind="stable") for j in range(F.shape[1])]
        out: list[int] = []
        seen: set[int] = set()
        for rank in range(len(G)):
            for order in orders:
                r = int(order[rank])
                if r not in seen and G[r].tobytes() not in self._memo:
                    seen.add(r)
                    out.append(r)
                    if len(out) == VERIFY_MAX:
                        return out
        return out

    def values(self, state) -> list[float]:
        """Best verified value of each objective (NaN: none yet), in column units."""
        if self.exact:
            row = state.logbook[-1] if state.logbook else {}
            return [_finite(row.get(f"best_{o.column}")) for o in self.objectives]
        keys = {g.tobytes() for g in state.archive.genomes}
        known = [v for k, v in self._memo.items() if k in keys]
        if not known:
            return [float("nan")] * len(self.objectives)
        V = np.vstack(known)
        out = []
        for j, o in enumerate(self.objectives):
            col = V[:, j][np.isfinite(V[:, j])]
            out.append(float(col.max() if o.maximize else col.min()) if len(col) else float("nan"))
        return out

    def estimates(self, state) -> list[float] | None:
        """The search's own best values when they are not the cycle model's, else None."""
        if self.exact:
            return None
        row = state.logbook[-1] if state.logbook else {}
        return [_finite(row.get(f"best_{o.column}")) for o in self.objectives]


def _finite(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return value if math.isfinite(value) else float("nan")


class Progress:
    """``update(state)`` after each generation, ``close()`` at the end.

    ``budget`` (engine/timebudget.py), if given, gives the time left; otherwise a
    generation target gives the bar its total and tqdm's ETA. ``interactive`` defaults to
    whether ``stream`` (stderr) is a terminal; ``started_at`` (a ``clock`` time, default
    now) is when the command started."""

    def __init__(self, *, generations: int | None, start_generation: int, bests: VerifiedBests | None = None,
                 budget=None, quiet: bool = False, stream: TextIO | None = None, interactive: bool | None = None,
                 log_every_s: float = DEFAULT_LOG_EVERY_S, clock: Callable[[], float] = time.monotonic,
                 started_at: float | None = None) -> None:
        self.quiet = quiet
        self.bests = bests
        self.budget = budget
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = _isatty(self.stream) if interactive is None else interactive
        self.log_every_s = float(log_every_s)
        self.clock = clock
        self.generations = generations
        self.lines = 0
        self._bar = None
        self._started = clock() if started_at is None else started_at  # "elapsed" counts from it
        self._last = (clock(), None)  # (time, evaluations) of the last rate sample
        self._last_line: float | None = None
        self._last_refresh: float | None = None
        self._last_state = None
        self._line_generation = None
        if quiet or not self.interactive:
            return
        self._bar = tqdm(total=generations, initial=start_generation, unit="gen", file=self.stream,
                         dynamic_ncols=True, desc="generation", leave=True)

    def _efficiency(self) -> int | None:
        names = [o.name for o in self.bests.objectives] if self.bests is not None else []
        return names.index("efficiency") if "efficiency" in names else None

    def _refresh(self, state, now: float, every_s: float) -> bool:
        """Check the archive's bests with the cycle model if ``every_s`` passed since the last
        time; True if it did (then the shown values are due for an update)."""
        if self._last_refresh is not None and now - self._last_refresh < every_s:
            return False
        self._last_refresh = now
        if self.bests is not None:
            self.bests.refresh(state)
        return True

    def update(self, state) -> None:
        if self.quiet:
            return
        self._last_state = state
        now = self.clock()
        if self._bar is not None:
            self._update_bar(state, now)
        elif self._last_line is None or now - self._last_line >= self.log_every_s:
            self._write_line(state, now)

    def _rate(self, state, now: float) -> float:
        then, evals = self._last
        self._last = (now, state.evaluations)
        return (state.evaluations - evals) / max(now - then, 1e-9) if evals is not None else 0.0

    def _update_bar(self, state, now: float) -> None:
        # the postfix is rebuilt once a BAR_REFRESH_S: finding the verified bests among the
        # archive's designs every generation would cost a fast generation a few per cent
        if self._refresh(state, now, BAR_REFRESH_S):
            self._bar.set_postfix(self._postfix(state, now), refresh=False)
        self._bar.update(max(0, state.generation - self._bar.n))

    def _postfix(self, state, now: float) -> dict:
        post = {"evals/s": f"{self._rate(state, now):.1f}"}
        k = self._efficiency()
        if k is not None:
            verified = self.bests.values(state)[k]
            if math.isfinite(verified):
                post["best_eff"] = f"{verified:.1f} GOPS/W"
            estimates = self.bests.estimates(state)
            if estimates is not None and math.isfinite(estimates[k]):
                post["unverified_est"] = f"{estimates[k]:.1f} GOPS/W"
        if self.budget is not None:
            post["left"] = format_interval(self.budget.left())
        return post

    def _write_line(self, state, now: float) -> None:
        self._refresh(state, now, 0.0)
        rate = self._rate(state, now)
        parts = [f"evo-pimsyn: generation {state.generation}"
                 + (f"/{self.generations}" if self.generations is not None else ""),
                 f"{state.evaluations:,} evaluations ({rate:,.0f}/s)" if self._last_line is not None
                 else f"{state.evaluations:,} evaluations"]
        if self.bests is not None:
            objs = self.bests.objectives
            parts.append("best (cycle model): " + ", ".join(
                f"{o.name} {format_value(v)} {o.unit}" for o, v in zip(objs, self.bests.values(state))))
            estimates = self.bests.estimates(state)
            if estimates is not None:
                parts.append("search estimate (analytic model, unverified): " + ", ".join(
                    f"{o.name} {format_value(v)} {o.unit}" for o, v in zip(objs, estimates)))
        parts.append(f"{format_interval(now - self._started)} elapsed")
        if self.budget is not None:
            parts.append(f"{format_interval(self.budget.left())} left")
        print("; ".join(parts), file=self.stream, flush=True)
        self.lines += 1
        self._last_line = now
        self._line_generation = state.generation

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif not self.quiet and self._last_state is not None \
                and self._line_generation != self._last_state.generation:
            self._write_line(self._last_state, self.clock())
        self._last_state = None


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
