"""What the engine searches: genome layout, variation and the batch scoring function.

:class:`Problem` is the narrow interface the loop needs. :class:`PimProblem` adapts the
``genomes`` package (layout, init, operators, repair, codec) and ``fitness.evaluate``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd

FIDELITIES = ("analytic", "cycle")

try:  # one-line "evo-pimsyn: warning: ..." in the CLI
    from evo_pimsyn.messages import InputWarning as _WarningBase
except ImportError:  # pragma: no cover
    _WarningBase = UserWarning


class FidelityWarning(_WarningBase):
    """The requested evaluator fidelity is not available; another one is used."""


class Problem(Protocol):
    n_genes: int
    gene_names: tuple[str, ...]

    def initial(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def vary(self, A: np.ndarray, B: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Children of the parent pairs (A[k], B[k]): both children of every pair,
        ``[2 * len(A), n_genes]``, first children then second children."""
        ...

    def scorer(self, fidelity: str) -> tuple[Callable[..., pd.DataFrame], tuple[Any, ...]]: ...


def score_designs(network, hardware, layout, fidelity: str, G: np.ndarray) -> pd.DataFrame:
    """Worker task: decode a genome slice and score it with the vectorized model."""
    from fitness.evaluate import evaluate
    from genomes.codec import decode

    return evaluate(network, hardware, decode(layout, G), fidelity=fidelity)


@dataclass
class PimProblem:
    network: Any
    hardware: Any
    power_w: float
    macro_setting: str = "specified"
    macro_reuse: bool = True
    layout: Any = field(init=False)
    # single-objective searches at the analytic fidelity re-score would-be bests with it
    verify_fidelity: str = field(default="cycle", init=False)

    def __post_init__(self) -> None:
        from genomes.layout import GenomeLayout

        self.layout = GenomeLayout.build(
            self.network, self.hardware, self.power_w,
            macro_setting=self.macro_setting, allow_sharing=self.macro_reuse,
        )

    @property
    def n_genes(self) -> int:
        return int(self.layout.n_genes)

    @property
    def gene_names(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self.layout.gene_names)

    def initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        from genomes.init import initial_population
        from genomes.repair import repair

        return repair(self.layout, np.asarray(initial_population(self.layout, n, rng), dtype=np.int64), rng)

    def vary(self, A: np.ndarray, B: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from genomes.operators import crossover, mutate
        from genomes.repair import repair

        children = crossover(self.layout, A, B, rng)
        if isinstance(children, tuple):
            children = np.concatenate(children)
        children = mutate(self.layout, children, rng)
        return np.asarray(repair(self.layout, children, rng), dtype=np.int64)

    def neighbors(self, E: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` local variations of the elite genomes ``E`` (best first): parents drawn
        with a bias to the front of ``E`` (the better of two uniform draws), crossed over
        in pairs and mutated with the global reset limited to the ratio, so that the
        crossbar size, cell and DAC resolution stay: a batched hill-climb of ratio, dup,
        macro counts and sharing around the best designs."""
        from genomes.layout import DAC_RES, RRAM_RES, XBAR
        from genomes.operators import crossover, mutate
        from genomes.repair import repair

        E = np.asarray(E, dtype=np.int64)
        k = len(E)
        half = -(-n // 2)
        ia = np.minimum(rng.integers(k, size=half), rng.integers(k, size=half))
        ib = np.minimum(rng.integers(k, size=half), rng.integers(k, size=half))
        # crossover only between parents of one (X, r, d): otherwise the child is a jump
        setting = [XBAR, RRAM_RES, DAC_RES]
        same = (E[ia][:, setting] == E[ib][:, setting]).all(axis=1)
        ib = np.where(same, ib, ia)
        children = np.concatenate(crossover(self.layout, E[ia], E[ib], rng))[:n]
        children = mutate(self.layout, children, rng, p_global=0.3, p_dup=0.8, global_genes=("rram_ratio",))
        return np.asarray(repair(self.layout, children), dtype=np.int64)

    def scorer(self, fidelity: str):
        return score_designs, (self.network, self.hardware, self.layout, fidelity)

    def min_slice(self, fidelity: str) -> int:
        """Fewest designs per worker task (``Evaluator.min_slice``). An analytic batch of 128
        designs took 11-16 ms in-process and 22 ms over 2 local workers (alexnet, resnet18);
        at 512 the two broke even. A cycle-level design takes milliseconds: each is worth a task."""
        return 256 if fidelity == "analytic" else 1

    def decode(self, G: np.ndarray):
        from genomes.codec import decode

        return decode(self.layout, np.asarray(G, dtype=np.int64))

    def design_table(self, G: np.ndarray) -> pd.DataFrame:
        """Every design variable, one column per scalar (``dup_<j>``, ``macro_num_<i>``, ...)."""
        from evo_pimsyn.engine.outputs import flatten_records

        return flatten_records(self.decode(G).to_records())

    def architecture(self, g: np.ndarray) -> dict:
        """PIMSYN's output-file format for one genome (``fitness.evaluate.architecture``;
        until that exists, the global fields and per-layer partitioning without the
        per-layer component counts)."""
        batch = self.decode(np.asarray(g, dtype=np.int64)[None, :])
        try:
            from fitness.evaluate import architecture
        except ImportError:
            architecture = None
        if architecture is not None:
            return architecture(self.network, self.hardware, batch)
        from fitness.evaluate import evaluate

        row = evaluate(self.network, self.hardware, batch, fidelity="cycle").iloc[0]
        from genomes.layout import RRAM_RES, XBAR

        sets = self.layout.sets[int(g[XBAR]), int(g[RRAM_RES])]
        return fallback_architecture(self.network, batch.to_records()[0], row, sets)

    def resolve_fidelity(self, requested: str, probe: np.ndarray) -> str:
        """``analytic`` falls back to ``cycle`` (with a warning) while the analytic
        evaluator is not implemented."""
        if requested != "analytic":
            return requested
        try:
            score_designs(self.network, self.hardware, self.layout, "analytic", probe[:1])
        except NotImplementedError:
            warnings.warn("the analytic evaluator is not available yet; searching with fidelity 'cycle'",
                          FidelityWarning, stacklevel=2)
            return "cycle"
        return "analytic"


def fallback_architecture(network, record: dict, row, sets) -> dict:
    """The PIMSYN output fields we can fill without the allocation details: globals,
    per MVM layer duplication / macro_num / macro_sharing (partner layer name or "None")
    and macro_size, here ceil(dup * crossbars per copy / macro_num) (our estimate; PIMSYN
    normalizes its macro_size in a way its output does not document)."""
    out: dict = {
        "rram_ratio": record["rram_ratio"],
        "rram_res": record["rram_res"],
        "xbar_size": record["xbar_size"],
        "power_efficiency": float(row["efficiency_gops_w"]),
        "dac_res": record["dac_res"],
        "adc_res": int(row["adc_res"]) if "adc_res" in row else None,
        "macro_h": int(row["macro_rows"]) if "macro_rows" in row else None,
        "macro_w": int(row["macro_cols"]) if "macro_cols" in row else None,
        "spm_capacity": int(row["memory_capacity_kb"]) if "memory_capacity_kb" in row else None,
    }
    mvm = [int(i) for i in network.mvm_indices]
    n_conv = len(network.conv_indices)
    for pos, layer_index in enumerate(mvm):
        layer = network.layers[layer_index]
        partner = record["macro_share"][pos]
        entry = {
            "duplication": record["dup"][pos] if pos < n_conv else 1,
            "macro_num": record["macro_num"][pos],
            "macro_sharing": "None" if partner is None else network.layers[mvm[partner]].name,
        }
        dup = record["dup"][pos] if pos < n_conv else 1
        entry["macro_size"] = -(-int(dup) * int(sets[pos]) // max(1, int(record["macro_num"][pos])))
        out[layer.name] = entry
    out["_note"] = "partial: per-layer component counts need fitness.evaluate.architecture"
    return {k: v for k, v in out.items() if v is not None}
