"""Progress bar (tqdm on stderr): generation, evaluations/s, best efficiency, ETA."""

from __future__ import annotations

import sys
import time

import numpy as np
from tqdm import tqdm


def _fmt_s(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Progress:
    """``update(state)`` after each generation. With a generation target the bar has a
    total and tqdm's ETA; with a time budget the postfix shows the time left."""

    def __init__(self, *, generations: int | None, time_budget_s: float | None, start_generation: int,
                 quiet: bool = False, efficiency_column: str | None = "best_efficiency_gops_w") -> None:
        self.quiet = quiet
        self.time_budget_s = time_budget_s
        self.efficiency_column = efficiency_column
        self._bar = None
        self._last = (time.perf_counter(), None)
        if quiet:
            return
        self._bar = tqdm(total=generations, initial=start_generation, unit="gen", file=sys.stderr,
                         dynamic_ncols=True, desc="generation", leave=True)

    def update(self, state) -> None:
        if self._bar is None:
            return
        now = time.perf_counter()
        then, evals = self._last
        rate = (state.evaluations - evals) / max(now - then, 1e-9) if evals is not None else 0.0
        self._last = (now, state.evaluations)
        row = state.logbook[-1] if state.logbook else {}
        post = {"evals/s": f"{rate:.1f}"}
        best = row.get(self.efficiency_column) if self.efficiency_column else None
        if best is not None and np.isfinite(best):
            post["best_eff"] = f"{best:.1f} GOPS/W"
        if self.time_budget_s is not None:
            post["left"] = _fmt_s(self.time_budget_s - state.elapsed_s)
        self._bar.set_postfix(post, refresh=False)
        self._bar.update(max(0, state.generation - self._bar.n))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
