"""Analytic evaluator: the cycle evaluator's table from closed forms, for a whole batch.

``evaluate_analytic(network, hardware, designs)`` returns the same columns as
:func:`fitness.evaluate.evaluate`. Differences from the cycle model:

* steps come from the max-plus recurrence (:mod:`.recurrence`, exact without conflicts
  when every block is sampled) plus a calibrated conflict correction (:mod:`.correction`);
* the buffer need (memory capacity) is estimated from the recurrence times (:mod:`.recurrence`);
* ``bubbles`` is the correction's estimate of the extra steps, not a count of bubble nodes.

Everything else (allocation, clock, cycle counts, memory tables, energy, feasibility
rules, the capacity/clock fixed point) is the cycle evaluator's own vectorized code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitness.analytic.correction import corrected_steps
from fitness.analytic.prepare import DEFAULT_MIN_SAMPLES, DEFAULT_SAMPLES, AnalyticPrepared, prepare_analytic
from fitness.analytic.recurrence import run_recurrence, sample_caps
from fitness.budget import DEFAULT_POWER_CHECK, check_mode
from fitness.design import as_batch
from fitness.fixed_point import FixedPoint, Scheduled, solve
from fitness.fixes import parse_fixes
from fitness.metrics import metrics_frame


def analytic_scheduler(prep: AnalyticPrepared, idx, k_tran, k_ld, k_st, k_mrg, correct: bool = True) -> Scheduled:
    idx = np.asarray(idx, dtype=np.int64)
    n = len(idx)
    timing = run_recurrence(prep.network, prep.samples, idx, prep.op_code, prep.n_ops, prep.bits, prep.dup,
                            prep.blocks, prep.prov, prep.cons, k_tran, k_ld, k_st, k_mrg,
                            prep.macros.partner, capacity_scale=prep.hardware.data_res / 8, fixes=prep.fixes)
    if correct:
        steps, extra = corrected_steps(prep, idx, timing, k_tran, k_ld, k_st, k_mrg)
    else:
        steps, extra = timing.steps, np.zeros(n, dtype=np.int64)
    return Scheduled(np.full(n, "ok", dtype=object), steps, timing.elements, extra)


def uncorrected_scheduler(prep, idx, k_tran, k_ld, k_st, k_mrg) -> Scheduled:
    return analytic_scheduler(prep, idx, k_tran, k_ld, k_st, k_mrg, correct=False)


def evaluate_analytic_full(network, hardware, designs, max_samples: int = DEFAULT_SAMPLES,
                           scheduler=analytic_scheduler, min_samples: int = DEFAULT_MIN_SAMPLES, *,
                           power_check: str = DEFAULT_POWER_CHECK, fixes=None,
                           ) -> tuple[AnalyticPrepared, FixedPoint, pd.DataFrame]:
    batch = as_batch(network, designs)
    prep = prepare_analytic(network, hardware, batch, max_samples, min_samples=min_samples,
                            fixes=parse_fixes(fixes))
    fp = solve(prep, scheduler)
    return prep, fp, metrics_frame(prep, fp, power_check)


# Designs per pass: the [B, L, ...] stage arrays and the per-sample time arrays grow with
# designs x samples, and past a few MB they leave the cache, while each pass also pays a
# fixed cost (a few hundred numpy calls). About 2^20 (design, sampled block) cells per pass
# was fastest: AlexNet (253 samples per design at most: 4096 designs, 7 % faster than
# 2048), ResNet18 (908: 1024, 2 % faster than 2048) and VGG16 (784: 1024, 3 % faster).
SAMPLE_CELLS = 1 << 20


def chunk_size(network, max_samples: int = DEFAULT_SAMPLES, min_samples: int = DEFAULT_MIN_SAMPLES) -> int:
    """Designs per pass for ``network``: the largest power of two at or below SAMPLE_CELLS /
    (most recurrence samples of one design), kept within [256, 4096]."""
    per = max(1, SAMPLE_CELLS // max(1, int(sample_caps(network, max_samples, min_samples).sum())))
    return int(min(4096, max(256, 1 << (per.bit_length() - 1))))


def evaluate_analytic(network, hardware, designs, max_samples: int = DEFAULT_SAMPLES, chunk: int | None = None,
                      min_samples: int = DEFAULT_MIN_SAMPLES, *, power_check: str = DEFAULT_POWER_CHECK,
                      fixes=None) -> pd.DataFrame:
    """One row per design, same columns and refusal rules as the cycle ``evaluate``
    (``chunk``: designs per pass, default :func:`chunk_size`; the results do not depend on it)."""
    check_mode(power_check)
    fixes = parse_fixes(fixes)
    batch = as_batch(network, designs)
    n = len(batch)
    chunk = chunk_size(network, max_samples, min_samples) if chunk is None else max(1, int(chunk))
    kw = dict(min_samples=min_samples, power_check=power_check, fixes=fixes)
    if n <= chunk:
        return evaluate_analytic_full(network, hardware, batch, max_samples, **kw)[2]
    parts = [evaluate_analytic_full(network, hardware, batch.take(np.arange(a, min(a + chunk, n))), max_samples,
                                    **kw)[2]
             for a in range(0, n, chunk)]
    return pd.concat(parts, ignore_index=True)
