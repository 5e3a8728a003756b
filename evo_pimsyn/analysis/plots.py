"""PNG plots of a run. Figures are built with matplotlib's object API on the Agg canvas:
no pyplot, no display and no global backend switch, so the functions are safe in
headless CI, in worker threads and inside a notebook whose backend the user chose.

Each function returns the :class:`~matplotlib.figure.Figure` and, given ``path``, also
writes it as PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from evo_pimsyn.engine.objectives import Objective

DPI = 110
# energy columns of the evaluator, in the order the bars are drawn; label, column
ENERGY_PARTS = (
    ("ADC", "energy_adc_nj"), ("DAC", "energy_dac_nj"), ("shift-add", "energy_shiftadd_nj"),
    ("addition", "energy_addition_nj"), ("pool", "energy_pool_nj"), ("eltwise", "energy_eltwise_nj"),
    ("ReLU", "energy_relu_nj"), ("sigmoid", "energy_sigmoid_nj"), ("crossbars", "energy_crossbars_nj"),
    ("memory (static)", "energy_memory_static_nj"), ("memory (dynamic)", "energy_memory_dynamic_nj"),
    ("NoC", "energy_noc_nj"),
)


def _figure(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(path, format="png", bbox_inches="tight")
    return fig


def axis_label(obj: Objective) -> str:
    arrow = "higher is better" if obj.maximize else "lower is better"
    return f"{obj.label} [{obj.unit}]\n({arrow})"


def _values(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64) if col in df else np.array([])


def _limits(v: np.ndarray) -> tuple[float, float] | tuple[None, None]:
    v = v[np.isfinite(v)]
    if not len(v):
        return None, None
    lo, hi = float(v.min()), float(v.max())
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


def pareto_scatter(front: pd.DataFrame, objectives: Sequence[Objective], path=None, *,
                   others: pd.DataFrame | None = None, highlight: int | None = 0, title: str = "") -> Figure:
    """2 objectives: one scatter; 3: a scatter matrix (histograms on the diagonal);
    1: the values in rank order. ``others`` (e.g. earlier archive snapshots) is drawn in
    grey behind; ``highlight`` is the positional row of ``front`` to mark (the chosen design)."""
    m = len(objectives)
    if m == 1:
        fig = _figure(6, 4)
        ax = fig.add_subplot()
        obj = objectives[0]
        v = np.sort(_values(front, obj.column))[::-1 if obj.maximize else 1]
        ax.plot(np.arange(1, len(v) + 1), v, "o-", ms=4)
        ax.set_xlabel("rank")
        ax.set_ylabel(axis_label(obj))
    else:
        pairs = [(0, 1)] if m == 2 else None
        fig = _figure(6.5, 5) if m == 2 else _figure(10, 9.5)
        axes = [[fig.add_subplot(1, 1, 1)]] if m == 2 else \
            [[fig.add_subplot(m, m, i * m + j + 1) for j in range(m)] for i in range(m)]
        for i in range(m if m > 2 else 1):
            for j in range(m if m > 2 else 1):
                ax = axes[i][j]
                xi, yi = pairs[0] if pairs else (j, i)
                ox, oy = objectives[xi], objectives[yi]
                if m > 2 and i == j:
                    ax.hist(_values(front, ox.column)[np.isfinite(_values(front, ox.column))], bins=15,
                            color="tab:blue", alpha=0.7)
                    if j == 0:
                        ax.set_ylabel(f"{oy.label} [{oy.unit}]\n(diagonal: histogram)")
                else:
                    if others is not None and len(others):
                        ax.scatter(_values(others, ox.column), _values(others, oy.column), s=8, c="0.8",
                                   label="earlier archives")
                    ax.scatter(_values(front, ox.column), _values(front, oy.column), s=18, c="tab:blue",
                               edgecolor="k", linewidth=0.3, label="front")
                    if highlight is not None and 0 <= highlight < len(front):
                        ax.scatter(_values(front, ox.column)[highlight], _values(front, oy.column)[highlight],
                                   s=140, marker="*", c="tab:red", edgecolor="k", label="chosen design", zorder=3)
                    if m == 2 or j == 0:
                        ax.set_ylabel(axis_label(oy) if m == 2 else f"{oy.label} [{oy.unit}]")
                    # zoom on the front: early archive points far behind it would squash it
                    ax.set_xlim(*_limits(_values(front, ox.column)))
                    ax.set_ylim(*_limits(_values(front, oy.column)))
                if m == 2 or i == m - 1:
                    ax.set_xlabel(axis_label(ox) if m == 2 else f"{ox.label} [{ox.unit}]")
                ax.grid(alpha=0.3)
        axes[0][-1 if m == 2 else 1].legend(fontsize=7, loc="best")
    fig.suptitle(title or f"Pareto front ({len(front)} designs)")
    return _save(fig, path)


def convergence(generations: pd.DataFrame, objectives: Sequence[Objective], path=None, *, title: str = "",
                references: Mapping[str, tuple[float, str]] | None = None) -> Figure:
    """Best value of each objective over the archive, and the hypervolume, against the
    search's wall time on a log axis (the action is in the first seconds of a long run);
    dotted vertical lines mark the restarts (column ``restarts``). ``references`` maps an
    objective column to a (value, label) drawn as a dashed horizontal line, e.g. PIMSYN's
    figure. Without a ``wall_time_s`` column (or a positive one) the axis is the generation."""
    panels = [(f"best {o.label} [{o.unit}]", f"best_{o.column}") for o in objectives]
    units = {o.column: o.unit for o in objectives}
    if "hypervolume" in generations:
        panels.append(("hypervolume (normalized)", "hypervolume"))
    fig = _figure(6.5, 2.1 * len(panels) + 0.6)
    x = _values(generations, "wall_time_s")
    timed = len(x) > 0 and bool((x > 0).any())
    if not timed:
        x = _values(generations, "generation")
    keep = x > 0 if timed else np.ones(len(x), dtype=bool)
    restarts = _values(generations, "restarts")
    restart_x = x[1:][np.diff(restarts) > 0] if len(restarts) > 1 else np.array([])
    for k, (label, col) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, k + 1)
        y = _values(generations, col)
        if len(y):
            ax.plot(x[keep], y[keep], "o-" if keep.sum() <= 60 else "-", ms=3, color=f"C{k}", drawstyle="steps-post")
        for i, rx in enumerate(restart_x):
            ax.axvline(rx, color="0.5", lw=0.8, ls=":", label="restart" if i == 0 and k == 0 else None)
        column = col.removeprefix("best_")
        if references and column in references:
            value, what = references[column]
            ax.axhline(value, color="tab:red", lw=1.2, ls="--", label=f"{what}: {value:g} {units.get(column, '')}")
        if timed:
            ax.set_xscale("log")
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
        if k == len(panels) - 1:
            ax.set_xlabel("search wall time [s] (log scale)" if timed else "generation")
    fig.suptitle(title or "Convergence")
    fig.tight_layout()
    return _save(fig, path)


def layer_table(arch: Mapping, layer_names: Sequence[str]) -> pd.DataFrame:
    """Per-layer resources from a PIMSYN-format architecture: duplication, own macros,
    ADCs (per macro x macros), crossbars (macro_size x macros), macro sharing partner."""
    rows = []
    for k, name in enumerate(layer_names):
        info = arch.get(name, {})
        macros = int(info.get("macro_num", 0))
        rows.append({
            "layer": k, "name": name,
            "duplication": int(info.get("duplication", 0)),
            "macros": macros,
            "adcs": int(info.get("ADC", 0)) * macros,
            "crossbars": int(info.get("macro_size", 0)) * macros,
            "shares_with": info.get("macro_sharing") if info.get("macro_sharing") not in (None, "None") else "",
        })
    return pd.DataFrame(rows)


def layer_resources(table: pd.DataFrame, path=None, *, kinds: Sequence[str] = (), title: str = "") -> Figure:
    """Four bar panels over the layers (see :func:`layer_table`); hatched bars mark a
    layer that shares its macros with another one."""
    panels = (("weight duplication", "duplication"), ("macros (own)", "macros"), ("ADCs", "adcs"),
              ("crossbars allocated", "crossbars"))
    n = len(table)
    fig = _figure(max(6.5, 0.32 * n + 2), 8)
    labels = [f"{i}:{kinds[i]}" if i < len(kinds) else str(i) for i in range(n)]
    # a sharing pair is marked on both layers: the one naming its partner and the partner
    names = table["name"].astype(str).tolist()
    partners = set(table["shares_with"].astype(str)) - {""}
    shared = np.array([bool(w) or n in partners for n, w in zip(names, table["shares_with"].astype(str))])
    for k, (label, col) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, k + 1)
        bars = ax.bar(np.arange(n), table[col].to_numpy(), color=f"C{k}")
        for bar, s in zip(bars, shared):
            if s and col in ("macros", "crossbars", "adcs"):
                bar.set_hatch("//")
        ax.set_ylabel(label, fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xticks(np.arange(n))
        ax.set_xticklabels(labels if k == len(panels) - 1 else [], rotation=90, fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.axes[-1].set_xlabel("layer (index:kind); hatched: a pair of layers sharing macros (the pair's ADCs "
                            "are counted on one of the two)")
    fig.suptitle(title or "Per-layer resources")
    fig.tight_layout()
    return _save(fig, path)


def energy_parts(row: Mapping) -> pd.DataFrame:
    """Energy of one inference by component (nJ) and its average power (W = nJ/ns)."""
    latency = float(row.get("latency_ns", np.nan))
    rows = []
    for label, col in ENERGY_PARTS:
        e = float(row.get(col, np.nan)) if col in row else np.nan
        if np.isfinite(e) and e > 0:
            rows.append({"component": label, "energy_nj": e, "power_w": e / latency if latency > 0 else np.nan})
    out = pd.DataFrame(rows, columns=["component", "energy_nj", "power_w"])
    total = out["energy_nj"].sum()
    out["share"] = out["energy_nj"] / total if total > 0 else np.nan
    return out.sort_values("energy_nj", ascending=False, ignore_index=True)


def energy_breakdown(parts: pd.DataFrame, path=None, *, title: str = "") -> Figure:
    """Two bar panels: energy per inference (uJ, log scale: ADCs dwarf the ALUs) and
    average power while inferring (W), by component."""
    fig = _figure(10, 0.33 * max(len(parts), 4) + 1.8)
    y = np.arange(len(parts))[::-1]
    ax = fig.add_subplot(1, 2, 1)
    ax.barh(y, parts["energy_nj"] / 1e3, color="tab:orange")
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels(parts["component"])
    ax.set_xlabel("energy per inference [uJ] (log)")
    ax.grid(axis="x", alpha=0.3)
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.barh(y, parts["power_w"], color="tab:green")
    ax2.set_yticks(y)
    ax2.set_yticklabels([f"{s:.1%}" for s in parts["share"]])
    ax2.set_xlabel("average power [W] (labels: share of energy)")
    ax2.grid(axis="x", alpha=0.3)
    fig.suptitle(title or "Energy and power by component")
    fig.tight_layout()
    return _save(fig, path)
