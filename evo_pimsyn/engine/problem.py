"""What the engine searches: genome layout, variation and the batch scoring function.

:class:`Problem` is the narrow interface the loop needs. :class:`PimProblem` adapts the
``genomes`` package (layout, init, operators, repair, codec) and ``fitness.evaluate``.

Both load numba (0.3-0.5 s) and are imported inside PimProblem's methods: the engine
core (loop, checkpoints, the toy problem) and ``analysis.load_run`` import this module
for :class:`Problem` and never need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd

from evo_pimsyn.engine.outputs import flatten_records
from fitness.budget import DEFAULT_POWER_CHECK
from fitness.fixes import NONE

FIDELITIES = ("analytic", "cycle")
# share of the layers that a restart's large-neighbourhood move redraws (PimProblem.perturb)
LNS_SHARE = (0.2, 0.5)


class Problem(Protocol):
    """What the engine searches: genomes are int64 rows of ``n_genes`` genes.

    ``initial``, ``vary`` and ``scorer`` (and the two attributes) are required. The other
    members are optional capabilities; a problem that subclasses :class:`Problem` inherits
    the defaults below, and each default's docstring says what the engine then does.
    """

    n_genes: int
    gene_names: tuple[str, ...]
    # The fidelity that re-scores a single-objective run's would-be bests when the run
    # searches with another one (engine/verification.py). None (default): no verification
    # and no polish phase.
    verify_fidelity: str | None = None

    def initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` legal genomes drawn with ``rng``, ``[n, n_genes]``."""
        ...

    def vary(self, A: np.ndarray, B: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Children of the parent pairs (A[k], B[k]): both children of every pair,
        ``[2 * len(A), n_genes]``, first children then second children."""
        ...

    def scorer(self, fidelity: str) -> tuple[Callable[..., pd.DataFrame], tuple[Any, ...]]:
        """``(fn, args)``: ``fn(*args, G)`` scores genomes ``G`` at ``fidelity`` into the
        evaluator's table; ``fn`` is module-level (workers receive it by reference)."""
        ...

    def neighbors(self, E: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray | None:
        """``n`` local variations of the elite genomes ``E`` (best first): every
        generation's local-search batch and the polish phase's children. Default None:
        no local-search batch, and polish generations are ordinary ones."""
        return None

    def perturb(self, E: np.ndarray, sources: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """Large-neighbourhood moves of the archive genomes ``E``, one per row of
        ``sources`` (fresh genomes), for every other restart. Default None: every restart
        is wholly fresh."""
        return None

    def setting_keys(self, G: np.ndarray) -> np.ndarray | None:
        """One integer per genome naming its global setting: a single-objective run's wholly
        fresh restarts draw from the settings it has not converged on yet
        (``engine/restarts.py``). Default None: restarts draw from all."""
        return None

    def screening(self, fidelity: str) -> np.ndarray | None:
        """A fixed sample of genomes spread over every global setting, scored once at
        ``fidelity`` in generation 0, where it joins the initial draw's selection
        (``loop._with_screened``) and, with one objective, ranks the promising settings for
        the restarts (``engine/restarts.py``). Default None: neither."""
        return None

    def initial_in(self, keys, n: int, rng: np.random.Generator) -> np.ndarray | None:
        """``n`` fresh genomes of the global settings ``keys`` (``setting_keys``), as
        ``initial`` draws them; None when none of them has a legal design. Default None."""
        return None

    def min_slice(self, fidelity: str) -> int:
        """Fewest designs worth a worker task at ``fidelity`` (``Evaluator.min_slice``).
        Default 1: every design is."""
        return 1

    def design_table(self, G: np.ndarray) -> pd.DataFrame:
        """The design variables of genomes ``G``, one row each (pareto.csv columns).
        Default: no columns."""
        return pd.DataFrame(index=pd.RangeIndex(len(G)))

    def architecture(self, g: np.ndarray) -> dict | None:
        """One genome in PIMSYN's output format (``best.json``, ``pimcomp.json``).
        Default None: neither file is written."""
        return None


def score_designs(network, hardware, layout, fidelity: str, power_check: str, fixes: frozenset,
                  G: np.ndarray) -> pd.DataFrame:
    """Worker task: decode a genome slice and score it with the vectorized model."""
    from fitness.evaluate import evaluate  # numba: see the module docstring
    from genomes.codec import decode

    return evaluate(network, hardware, decode(layout, G), fidelity=fidelity, power_check=power_check, fixes=fixes)


@dataclass(kw_only=True)
class PimProblem(Problem):
    network: Any
    hardware: Any
    power_w: float
    macro_setting: str = "specified"
    macro_reuse: bool = True
    power_check: str = DEFAULT_POWER_CHECK
    fixes: frozenset = NONE
    # part of the space fixed (genomes.layout): pinned global genes and the dup mode; the
    # layout's bounds, legal table and repair hold them, so every operator, restart and
    # local move stays on them
    pins: Any = None
    dup: str = "searched"
    layout: Any = field(init=False)
    # single-objective searches at the analytic fidelity re-score would-be bests with it
    verify_fidelity: str = field(default="cycle", init=False)

    def __post_init__(self) -> None:
        from genomes.layout import GenomeLayout  # numba: see the module docstring

        self.layout = GenomeLayout.build(
            self.network, self.hardware, self.power_w,
            macro_setting=self.macro_setting, allow_sharing=self.macro_reuse, pins=self.pins, dup_mode=self.dup,
        )

    @property
    def n_genes(self) -> int:
        return int(self.layout.n_genes)

    @property
    def gene_names(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self.layout.gene_names)

    def initial(self, n: int, rng: np.random.Generator, points: np.ndarray | None = None) -> np.ndarray:
        from genomes.init import initial_population  # numba: see the module docstring
        from genomes.repair import repair

        G = initial_population(self.layout, n, rng, points=points)
        return repair(self.layout, np.asarray(G, dtype=np.int64), rng)

    def initial_in(self, keys, n: int, rng: np.random.Generator) -> np.ndarray | None:
        """``initial`` confined to the legal global points of the settings ``keys``."""
        from genomes.layout import DAC_RES, RRAM_RES, XBAR  # numba: see the module docstring

        pts = self.layout.legal_globals  # (ratio, X, r, d) rows
        G = np.zeros((len(pts), self.n_genes), dtype=np.int64)
        G[:, XBAR], G[:, RRAM_RES], G[:, DAC_RES] = pts[:, 1], pts[:, 2], pts[:, 3]
        points = pts[np.isin(self.setting_keys(G), np.asarray(keys, dtype=np.int64))]
        return self.initial(n, rng, points) if len(points) else None

    def screening(self, fidelity: str) -> np.ndarray | None:
        """Every heuristic seed at every legal global point (``genomes.init.screening_genomes``);
        None for a cycle-fidelity search: its thousands of designs, milliseconds each,
        would cost a short run much of its time (AlexNet: 2652 designs, ResNet18: 4614)."""
        from genomes.init import screening_genomes  # numba: see the module docstring

        if fidelity == "cycle":
            return None
        return np.asarray(screening_genomes(self.layout), dtype=np.int64)

    def vary(self, A: np.ndarray, B: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from genomes.operators import crossover, mutate  # numba: see the module docstring
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
        from genomes.layout import DAC_RES, RRAM_RES, XBAR  # numba: see the module docstring
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

    def perturb(self, E: np.ndarray, sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Large-neighbourhood moves for a restart, one per row of ``sources`` (fresh genomes):
        a copy of an elite genome of ``E`` (drawn uniformly) in which a random 20-50 % of the
        MVM layers take their gene blocks (dup, macro count, sharing) from the source row,
        repaired. The elite's crossbar size, resolutions, ratio and macro size stay.

        Single-move neighbours cannot leave a converged per-layer allocation, and a fresh
        start rarely finds a basin as good as the best one's global setting; redrawing a
        block of layers at that setting lands in nearby basins instead."""
        from genomes.repair import repair  # numba: see the module docstring

        E = np.asarray(E, dtype=np.int64)
        sources = np.asarray(sources, dtype=np.int64)
        k = len(sources)
        blocks = self.layout.layer_blocks
        children = E[rng.integers(len(E), size=k)].copy()
        share = rng.uniform(LNS_SHARE[0], LNS_SHARE[1], size=k)
        take = rng.random((k, len(blocks))) < share[:, None]
        for j, cols in enumerate(blocks):
            rows = np.flatnonzero(take[:, j])
            children[np.ix_(rows, cols)] = sources[np.ix_(rows, cols)]
        return np.asarray(repair(self.layout, children, rng), dtype=np.int64)

    def setting_keys(self, G: np.ndarray) -> np.ndarray:
        """(crossbar size, cell resolution, DAC resolution) as one integer: the genes whose
        change makes a design's per-layer allocation meaningless. The ratio is not part of
        it: a local move changes it."""
        from genomes.layout import DAC_RES, RRAM_RES, XBAR  # numba: see the module docstring

        G = np.asarray(G, dtype=np.int64)
        return (G[:, XBAR] * 16 + G[:, RRAM_RES]) * 16 + G[:, DAC_RES]

    def scorer(self, fidelity: str):
        return score_designs, (self.network, self.hardware, self.layout, fidelity, self.power_check, self.fixes)

    def min_slice(self, fidelity: str) -> int:
        """Fewest designs per worker task (``Evaluator.min_slice``). An analytic batch of 128
        designs took 11-16 ms in-process and 22 ms over 2 local workers (alexnet, resnet18);
        at 512 the two broke even. A cycle-level design takes milliseconds: each is worth a task."""
        return 256 if fidelity == "analytic" else 1

    def decode(self, G: np.ndarray):
        from genomes.codec import decode  # numba: see the module docstring

        return decode(self.layout, np.asarray(G, dtype=np.int64))

    def design_table(self, G: np.ndarray) -> pd.DataFrame:
        """Every design variable, one column per scalar (``dup_<j>``, ``macro_num_<i>``, ...)."""
        return flatten_records(self.decode(G).to_records())

    def architecture(self, g: np.ndarray) -> dict:
        """PIMSYN's output-file format for one genome (``fitness.export.architecture``)."""
        from fitness.export import architecture  # numba: see the module docstring

        return architecture(self.network, self.hardware, self.decode(np.asarray(g, dtype=np.int64)[None, :]),
                            power_check=self.power_check, fixes=self.fixes)
