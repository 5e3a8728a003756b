"""PNG plots of a study (matplotlib's object API on the Agg canvas, as analysis.plots)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evo_pimsyn.analysis.plots import _figure, _save


def efficiency_vs_power(points: pd.DataFrame, path=None, *, title: str = "", ylabel: str = "") -> Figure:
    """One line per network: ``value`` (mean over seeds) against ``power_w``, seeds as a
    min-max bar and as dots. ``points``: columns model, power_w, seed, value."""
    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    for k, (model, group) in enumerate(points.groupby("model", sort=False)):
        stats = group.groupby("power_w")["value"].agg(["mean", "min", "max"]).sort_index()
        x = stats.index.to_numpy(dtype=np.float64)
        color = f"C{k}"
        ax.errorbar(x, stats["mean"], yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]], fmt="o-",
                    color=color, capsize=3, label=str(model))
        ax.scatter(group["power_w"], group["value"], s=10, color=color, alpha=0.5)
    ax.set_xlabel("total power budget [W]")
    ax.set_ylabel(ylabel or "best efficiency [GOPS/W]")
    ax.grid(alpha=0.3)
    if len(points):
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no finished cell yet", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(title or "Best efficiency against power")
    return _save(fig, path)


def normalised_bars(panels: list[tuple[str, pd.DataFrame]], values: list[str], path=None, *,
                    title: str = "") -> Figure:
    """One panel per metric: for each (network, power) group, one bar per value of the
    varied option, the mean over seeds of the metric divided by the mean at the first
    value (so the first bar is 1), seeds as a min-max bar and as dots. Each panel's frame
    has columns model, power_w, seed, value, ratio (``study.baseline_ratios``)."""
    fig = _figure(max(6.5, 1.2 + 0.55 * len(values) * max(1, _n_groups(panels))), 3.2 * len(panels) + 0.6)
    width = 0.8 / max(1, len(values))
    for p, (label, frame) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, p + 1)
        groups = list(dict.fromkeys(zip(frame["model"], frame["power_w"])))
        for k, value in enumerate(values):
            for g, (model, power) in enumerate(groups):
                sel = frame[(frame["model"] == model) & (frame["power_w"] == power) & (frame["value"] == value)]
                ratios = sel["ratio"].to_numpy(dtype=np.float64)
                ratios = ratios[np.isfinite(ratios)]
                x = g + (k - (len(values) - 1) / 2) * width
                if not len(ratios):
                    ax.text(x, 0.02, "none", rotation=90, ha="center", va="bottom", fontsize=7, color="0.4")
                    continue
                mean = float(ratios.mean())
                ax.bar(x, mean, width=width * 0.9, color=f"C{k}", label=value if g == 0 else None,
                       yerr=[[mean - ratios.min()], [ratios.max() - mean]], capsize=3)
                ax.scatter(np.full(len(ratios), x), ratios, s=9, color="k", zorder=3)
        ax.axhline(1.0, color="0.3", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(groups)))
        ax.set_xticklabels([f"{m}\n{pw:g} W" for m, pw in groups], fontsize=8)
        ax.set_ylabel(f"{label}\n(relative to {values[0]})", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        if p == 0 and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, ncol=min(len(values), 4))
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _n_groups(panels) -> int:
    return max((len(set(zip(f["model"], f["power_w"]))) for _, f in panels), default=1)
