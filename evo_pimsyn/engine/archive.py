"""The archive: every non-dominated feasible design seen during the run.

Rows are genomes (int64) with their objectives (minimization form). Identical genomes
are kept once. After every update the rows are sorted by objectives, then genes, so the
archive's content and order depend only on the set of designs seen, not on the order or
batching in which they arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 512


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """True for rows not Pareto-dominated by any other row (equal rows are all kept)."""
    n = len(F)
    keep = np.ones(n, dtype=bool)
    for start in range(0, n, CHUNK):
        block = F[start:start + CHUNK]
        le = (F[:, None, :] <= block[None, :, :]).all(axis=2)
        lt = (F[:, None, :] < block[None, :, :]).any(axis=2)
        keep[start:start + CHUNK] = ~(le & lt).any(axis=0)
    return keep


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


def hypervolume(points: np.ndarray) -> float:
    """Hypervolume dominated by ``points`` (maximization, reference at the origin;
    points with a non-positive coordinate contribute nothing)."""
    P = np.asarray(points, dtype=np.float64)
    if P.size == 0:
        return 0.0
    P = P[(P > 0).all(axis=1)]
    if len(P) == 0:
        return 0.0
    m = P.shape[1]
    if m == 1:
        return float(P[:, 0].max())
    if m == 2:
        order = np.lexsort((-P[:, 1], -P[:, 0]))
        x, y = P[order, 0], P[order, 1]
        best_y = np.maximum.accumulate(y)
        prev = np.concatenate([[0.0], best_y[:-1]])
        return float(np.sum(x * np.maximum(best_y - prev, 0.0)))
    if m == 3:
        return _hv3(P)
    # m > 3: slice along the last axis, (m-1)-dim volume of every prefix
    order = np.argsort(-P[:, -1], kind="stable")
    P = P[order]
    levels = P[:, -1]
    total = 0.0
    for i in range(len(P)):
        nxt = levels[i + 1] if i + 1 < len(P) else 0.0
        height = levels[i] - nxt
        if height > 0:
            total += height * hypervolume(P[: i + 1, :-1])
    return float(total)


def _hv3(P: np.ndarray) -> float:
    """3-D hypervolume by a sweep down the z axis over an incrementally kept 2-D
    staircase (x ascending, y descending); O(n log n) bisects plus O(n) area updates."""
    import bisect

    order = np.lexsort((-P[:, 1], -P[:, 0], -P[:, 2]))
    P = P[order]
    xs: list[float] = []
    ys: list[float] = []
    area = 0.0
    total = 0.0
    for i in range(len(P)):
        x, y, z = float(P[i, 0]), float(P[i, 1]), float(P[i, 2])
        k = bisect.bisect_left(xs, x)
        if not (k < len(xs) and ys[k] >= y):  # not dominated by a point with x' >= x
            # points with x' <= x and y' <= y are dominated: a block ending at k (or k-1)
            hi = k + 1 if k < len(xs) and xs[k] == x else k
            lo = hi
            while lo > 0 and ys[lo - 1] <= y:
                lo -= 1
            del xs[lo:hi], ys[lo:hi]
            xs.insert(lo, x)
            ys.insert(lo, y)
            ax = np.asarray(xs)
            area = float(np.sum(np.diff(ax, prepend=0.0) * np.asarray(ys)))
        nxt = float(P[i + 1, 2]) if i + 1 < len(P) else 0.0
        total += area * (z - nxt)
    return total


def normalized_gain(F: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Map minimization-form objectives to the hypervolume's maximization space:
    ``(ref - F) / scale``; 0 at the reference point, 1 one scale unit better."""
    return (ref - F) / scale


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
