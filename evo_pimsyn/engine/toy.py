"""A small synthetic problem with the evaluator's column names, for engine tests and
debugging without the hardware model. Genes are integers in ``[0, high)``; the
objectives trade off against each other and some designs exceed the power budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import time

import numpy as np
import pandas as pd

from evo_pimsyn.engine.problem import Problem


def score_toy(high: int, power_w: float, delay_s: float, G: np.ndarray) -> pd.DataFrame:
    if delay_s > 0:  # stands in for a slow evaluator (kill/resume tests)
        time.sleep(delay_s)
    x = np.asarray(G, dtype=np.float64) / max(high - 1, 1)  # [B, n] in [0, 1]
    n = x.shape[1]
    a = x[:, 0]
    rest = x[:, 1:].mean(axis=1) if n > 1 else np.zeros(len(x))
    g = 1.0 + 9.0 * rest
    eff = 1000.0 * (1.0 - np.sqrt(a / g))  # ZDT1-like, maximized
    thr = 500.0 * a / g + 10.0 * x[:, -1]
    area = 50.0 + 100.0 * g * (1.0 - 0.5 * a) - 20.0 * (x[:, 1] if n > 1 else 0.0)
    peak = power_w * (0.5 + 0.7 * x[:, -1] * (1.0 - x[:, 0] * 0.5))
    feasible = peak <= power_w
    frame = pd.DataFrame(
        {
            "feasible": feasible,
            "reason": np.where(feasible, "", "peak_power_gt_budget"),
            "efficiency_gops_w": np.where(feasible, eff, 0.0),
            "throughput_ips": thr,
            "area_mm2": area,
            "latency_ns": 1e6 / np.maximum(thr, 1e-9),
            "energy_nj": 1e3 / np.maximum(eff, 1e-9),
            "peak_power_w": peak,
        }
    )
    return frame


@dataclass
class ToyProblem(Problem):
    n_genes: int = 6
    high: int = 64
    power_w: float = 49.0
    delay_s: float = 0.0

    @property
    def gene_names(self) -> tuple[str, ...]:
        return tuple(f"x{i}" for i in range(self.n_genes))

    def initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.high, size=(n, self.n_genes), dtype=np.int64)

    def vary(self, A: np.ndarray, B: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        take_b = rng.random(A.shape) < 0.5
        child = np.concatenate([np.where(take_b, B, A), np.where(take_b, A, B)])
        mut = rng.random(child.shape) < 1.0 / self.n_genes
        child = np.where(mut, rng.integers(0, self.high, size=child.shape), child)
        return child.astype(np.int64)

    def scorer(self, fidelity: str):
        return score_toy, (self.high, self.power_w, self.delay_s)
