"""When a run writes its checkpoint (and generations.csv with it).

Both files hold the whole generation log, so each write costs time proportional to the
generations so far, and writing every generation is quadratic in the run's length: at
6,000 generations a write takes about 0.3 s, three generations' worth of a fast search.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTO = "auto"
# auto cadence: seconds of search between writes per second the last write took, so writes
# take at most 1 / (AUTO_GAP + 1) = 5 % of the run's time
AUTO_GAP = 19.0


@dataclass
class Cadence:
    """``every_s`` seconds between writes (0: every generation) or, with ``auto``, every
    generation while writes are cheap and otherwise once AUTO_GAP times the last write's
    duration has passed. Times are a monotonic clock's, passed in by the caller."""

    every_s: float = 0.0
    auto: bool = False
    last_end: float = 0.0
    last_cost: float = 0.0  # 0 until a write: an auto cadence writes the first generation at once

    @classmethod
    def from_setting(cls, setting, now: float) -> "Cadence":
        """From run.json's ``checkpoint_every_s`` (seconds or "auto"); the clock starts now."""
        if setting == AUTO:
            return cls(auto=True, last_end=now)
        return cls(every_s=float(setting), last_end=now)

    def due(self, now: float) -> bool:
        return now - self.last_end >= (AUTO_GAP * self.last_cost if self.auto else self.every_s)

    def wrote(self, start: float, end: float) -> None:
        self.last_end = end
        self.last_cost = end - start
