"""The archive: every non-dominated feasible design seen during the run.

Rows are genomes (int64) with their objectives (minimization form). Identical genomes
are kept once. After every update the rows are sorted by objectives, then genes, so the
archive's content and order depend only on the set of designs seen, not on the order or
batching in which they arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evo_pimsyn.engine.front import hypervolume, pareto_mask


def _canonical_order(G: np.ndarray, F: np.ndarray) -> np.ndarray:
    keys = [G[:, j] for j in range(G.shape[1] - 1, -1, -1)] + [F[:, j] for j in range(F.shape[1] - 1, -1, -1)]
    return np.lexsort(keys) if keys else np.arange(len(G))


def _unique_rows(G: np.ndarray) -> np.ndarray:
    """Index of the first occurrence of every distinct row, in order of first occurrence."""
    if len(G) == 0:
        return np.empty(0, dtype=np.int64)
    _, first = np.unique(G, axis=0, return_index=True)
    return np.sort(first)


@dataclass
class Archive:
    genomes: np.ndarray  # [A, n_genes] int64
    objectives: np.ndarray  # [A, m] float64, minimization form

    @classmethod
    def empty(cls, n_genes: int, n_objectives: int) -> "Archive":
        return cls(np.empty((0, n_genes), dtype=np.int64), np.empty((0, n_objectives), dtype=np.float64))

    def __len__(self) -> int:
        return len(self.genomes)

    def best_value(self) -> float:
        """The smallest first objective (minimization form); ``inf`` when empty."""
        return float(self.objectives[:, 0].min()) if len(self.objectives) else float("inf")

    def update(self, G: np.ndarray, F: np.ndarray, feasible: np.ndarray) -> None:
        """Merge a batch; only feasible rows with finite objectives can enter."""
        ok = feasible & np.isfinite(F).all(axis=1)
        allG = np.concatenate([self.genomes, np.asarray(G, dtype=np.int64)[ok]])
        allF = np.concatenate([self.objectives, np.asarray(F, dtype=np.float64)[ok]])
        first = _unique_rows(allG)
        allG, allF = allG[first], allF[first]
        keep = pareto_mask(allF)
        allG, allF = allG[keep], allF[keep]
        order = _canonical_order(allG, allF)
        self.genomes, self.objectives = allG[order], allF[order]

    def revise(self, G: np.ndarray, F: np.ndarray, feasible: np.ndarray) -> None:
        """Merge a batch of better-known values: a row of the archive whose genome is in
        ``G`` is first dropped (whatever the batch says of it: an exact score replaces a
        search-fidelity estimate, and a design the exact model refuses leaves), then the
        batch is merged as by :meth:`update`."""
        G = np.asarray(G, dtype=np.int64)
        if len(self.genomes) and len(G):
            known = {g.tobytes() for g in np.ascontiguousarray(G)}
            stay = np.array([g.tobytes() not in known for g in np.ascontiguousarray(self.genomes)], dtype=bool)
            self.genomes, self.objectives = self.genomes[stay], self.objectives[stay]
        self.update(G, F, feasible)


def normalized_gain(F: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Map minimization-form objectives to the hypervolume's maximization space:
    ``(ref - F) / scale``; 0 at the reference point, 1 one scale unit better."""
    return (ref - F) / scale


def box_volumes(F: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Each row's own hypervolume (the box between it and ``ref``, in units of ``scale``);
    0 for a row at or beyond the reference in any objective, or not finite."""
    gain = normalized_gain(np.asarray(F, dtype=np.float64), ref, scale)
    gain = np.where(np.isfinite(gain), np.maximum(gain, 0.0), 0.0)
    return gain.prod(axis=1)


def normalized_hypervolume(F: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> float:
    """Hypervolume of minimization-form objectives ``F`` bounded by ``ref``, each axis in
    units of ``scale`` (the volume of :func:`normalized_gain`'s points above the origin)."""
    return hypervolume(-normalized_gain(F, ref, scale), np.zeros(len(ref)))


def hv_reference(F: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Reference point and scale from a batch's finite rows: nadir plus 10 % of the range,
    scale = reference - ideal. None when no row is finite."""
    F = F[np.isfinite(F).all(axis=1)]
    if len(F) == 0:
        return None
    ideal, nadir = F.min(axis=0), F.max(axis=0)
    span = nadir - ideal
    span = np.where(span > 0, span, np.maximum(np.abs(nadir), 1.0))
    ref = nadir + 0.1 * span
    return ref, ref - ideal
