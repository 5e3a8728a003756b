"""A study's report.html: what was run, the paper's figures beside the measured ones (for
a preset that has them), best efficiency against power per network, one bar chart per
varied option normalised to its first value, and the study.csv table. PNGs go to
``report/`` beside it and are embedded, so the file can be mailed alone."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from evo_pimsyn.analysis import study_plots
from evo_pimsyn.analysis.report import _img
from evo_pimsyn.analysis.study import ablation_table, axis_labels, baseline_ratios

# study.csv columns the report's table shows (when present)
TABLE_COLUMNS = ("cell", "status", "best_efficiency_gops_w", "best_throughput_ips", "best_area_mm2",
                 "design_throughput_gops", "design_xbar_size", "design_rram_res", "design_dac_res",
                 "design_rram_ratio", "front_size", "hypervolume", "generations", "evaluations", "wall_time_s", "reason")
METRICS = (("best efficiency", "best_efficiency_gops_w", "design_efficiency_gops_w"),
           ("throughput of the best design [GOPS]", "design_throughput_gops", "design_throughput_gops"))


def build(study_dir: str | Path, frame: pd.DataFrame) -> Path:
    """Write ``report.html`` (and ``report/*.png``) for the study; its path."""
    from evo_pimsyn.study.journal import read_study

    study_dir = Path(study_dir)
    record = read_study(study_dir)
    labels = axis_labels(record)
    images = study_dir / "report"
    images.mkdir(exist_ok=True)
    parts = [f"<h1>evo-pimsyn study: {html.escape(str(record.get('name')))}</h1>", _summary(record, frame)]

    comparisons = _comparisons(record)
    if comparisons:
        table = ablation_table(frame, comparisons, labels)
        check = record["spec"].get("base", {}).get("power_check", "strict")
        parts.append("<h2>Ablations: the full space's gain over the reduced one</h2>"
                     f"<p>Power check: {html.escape(str(check))} ("
                     + ("a design whose peak power exceeds the budget is infeasible; PIMSYN's own verdict, which its "
                        "paper's figures rest on, is --power-check pimsyn" if check == "strict" else
                        "PIMSYN's verdict, as behind its paper's figures")
                     + "). Measured: mean over seeds of the baseline (every option at its first value) divided by the "
                     "mean over seeds of the reduced space, minus one, per network; <i>measured mean</i> averages "
                     "the networks where both sides have a feasible design. Efficiency is the best cycle-scored "
                     "efficiency; throughput is that of the best-efficiency design. Paper: PIMSYN (DATE'24, "
                     "&sect;V.C); for no duplication it says only \"tens of times lower\". x<i>N</i> reads "
                     "<i>N</i> times.</p>" + table.to_html(index=False))

    eff_col = "best_efficiency_gops_w" if "best_efficiency_gops_w" in frame else "design_efficiency_gops_w"
    baseline = frame
    for axis, values in labels.items():
        baseline = baseline[baseline[axis].astype(str) == values[0]]
    points = pd.DataFrame({"model": baseline["model"], "power_w": baseline["power_w"], "seed": baseline["seed"],
                           "value": pd.to_numeric(baseline[eff_col], errors="coerce")}).dropna(subset=["value"])
    path = images / "efficiency_vs_power.png"
    what = ", ".join(f"{a}={v[0]}" for a, v in labels.items())
    study_plots.efficiency_vs_power(points, path, title="Best efficiency against power"
                                    + (f" ({what})" if what else ""))
    parts.append(f"<h2>Best efficiency against power</h2>{_img(path)}")

    for axis, values in labels.items():
        panels = []
        for label, column, fallback in METRICS:
            col = column if column in frame else fallback
            if col in frame:
                panels.append((label, baseline_ratios(frame, axis, labels, col)))
        path = images / f"vary_{axis}.png"
        study_plots.normalised_bars(panels, values, path,
                                    title=f"{axis}: each value relative to {values[0]} (bars: mean over seeds, "
                                          f"whiskers and dots: seeds)")
        parts.append(f"<h2>Varying {html.escape(axis)}</h2>{_img(path)}")

    shown = [c for c in TABLE_COLUMNS if c in frame]
    parts.append("<h2>Cells (study.csv)</h2>" + frame[shown].to_html(index=False, float_format=lambda v: f"{v:.4g}",
                                                                       na_rep=""))
    out = study_dir / "report.html"
    style = "body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;font-size:12px}" \
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    out.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(str(record.get('name')))}"
                   f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n", encoding="utf-8")
    return out


def _comparisons(record: dict):
    from evo_pimsyn.study.presets import PRESETS

    preset = record["spec"].get("preset")
    return PRESETS[preset].comparisons if preset in PRESETS else ()


def _summary(record: dict, frame: pd.DataFrame) -> str:
    spec = record["spec"]
    base = spec.get("base", {})
    stop = (f"{base['time_budget_s']:g} s per cell" if base.get("time_budget_s") else
            f"{base['generations']} generations per cell" if base.get("generations") is not None else
            "the run default per cell")
    counts = frame["status"].astype(str).value_counts()
    rows = [
        ("preset", spec.get("preset") or "none"),
        ("models", ", ".join(spec["models"])),
        ("powers [W]", ", ".join(f"{p:g}" for p in spec["powers"])),
        ("seeds", ", ".join(str(s) for s in spec["seeds"])),
        ("varied", "; ".join(f"{a} = {', '.join(v)}" for a, v in spec.get("vary", [])) or "nothing"),
        ("combination", spec.get("vary_mode", "grid")),
        ("stop", stop),
        ("shared options", ", ".join(f"{k}={v}" for k, v in sorted(base.items())
                                     if k not in ("generations", "time_budget_s") and v is not None) or "defaults"),
        ("cells", ", ".join(f"{n} {s}" for s, n in counts.items())),
        ("total search time [s]", f"{np.nansum(pd.to_numeric(frame.get('wall_time_s'), errors='coerce')):.0f}"),
    ]
    return pd.DataFrame(rows, columns=["", "value"]).to_html(index=False, escape=True)
