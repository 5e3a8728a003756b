"""The ``report`` output: a terminal table of the front, PNG plots and a self-contained
``report.html`` (PNGs embedded as base64, so the file can be mailed or archived alone)."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evo_pimsyn.analysis import designs
from evo_pimsyn.analysis.load import RunData, objective_by_name, ranked_front
from fitness.fixes import fixes_label
from genomes.layout import pins_label

# design variables and metrics worth seeing beside the objectives, when present
KEY_COLUMNS = ("xbar_size", "rram_res", "dac_res", "adc_res", "rram_ratio", "n_macros", "memory_capacity_kb",
               "peak_power_w", "power_margin_w")


def summary(run: RunData) -> dict:
    g = run.generations
    return {
        "run": str(run.path),
        "model": run.run.get("model_name", run.run.get("model")),
        "power budget [W]": run.run.get("power_w"),
        "power check": run.model["power_check"],
        "model fixes": fixes_label(run.model["fixes"]),
        "objectives": ", ".join(o.name for o in run.objectives),
        "macro setting": f"{run.run.get('macro_setting')}, reuse {'on' if run.run.get('macro_reuse') else 'off'}",
        "pinned genes": pins_label(run.run.get("pins")) or "none",
        "weight duplication": run.run.get("dup", "searched"),
        "population": run.run.get("population"),
        "seed": run.run.get("seed"),
        "status": run.status,
        "generations done": run.last_generation,
        "evaluations": int(g["evaluations"].iloc[-1]) if len(g) and "evaluations" in g else 0,
        "wall time [s]": round(float(g["wall_time_s"].iloc[-1]), 1) if len(g) and "wall_time_s" in g else None,
        "front": f"{len(ranked_front(run))} feasible designs (from {run.front_source})",
    }


def top_tables(run: RunData, top: int = 3) -> dict[str, pd.DataFrame]:
    """For each objective, its ``top`` front designs with the objectives and key variables.
    ``rank`` is the position by the run's first objective: what ``export --rank`` takes."""
    front = ranked_front(run)
    if not len(front):
        return {}
    cols = ["rank", *[o.column for o in run.objectives], *[c for c in KEY_COLUMNS if c in front.columns]]
    out = {}
    for obj in run.objectives:
        if obj.column not in front:
            continue
        best = front.sort_values(obj.column, ascending=not obj.maximize, kind="stable").head(top)
        out[obj.name] = best[cols].reset_index(drop=True)
    return out


def terminal_text(run: RunData, top: int = 3) -> str:
    lines = [f"{k}: {v}" for k, v in summary(run).items()]
    tables = top_tables(run, top)
    if not tables:
        lines.append("\n(no feasible design on the front yet)")
    for name, table in tables.items():
        lines.append(f"\nTop {len(table)} by {name} ({objective_by_name(run, name).unit}):")
        lines.append(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return "\n".join(lines)


@dataclass
class Report:
    text: str
    images: dict[str, Path] = field(default_factory=dict)
    html: Path | None = None
    rank: int | None = None


def build(run: RunData, out_dir: str | Path, *, rank: int = 1, top: int = 3) -> Report:
    """Write the PNGs and report.html of ``run`` into ``out_dir``; ``rank`` picks the
    design (1-based, by the run's first objective) whose breakdowns are plotted."""
    from evo_pimsyn.analysis import plots  # matplotlib (the plot extra) only when plotting

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(terminal_text(run, top))
    front = ranked_front(run)
    highlight = rank - 1 if 0 < rank <= len(front) else None
    others = run.archive[run.archive["generation"] < run.archive["generation"].max()] if len(run.archive) else None
    report.images["pareto"] = out_dir / "pareto.png"
    plots.pareto_scatter(front, run.objectives, report.images["pareto"], others=others, highlight=highlight,
                         title=f"{run.name}: Pareto front, {len(front)} designs ({run.front_source})")
    if len(run.generations):
        report.images["convergence"] = out_dir / "convergence.png"
        plots.convergence(run.generations, run.objectives, report.images["convergence"],
                          title=f"{run.name}: convergence ({run.status}, generation {run.last_generation})\n"
                                "bests as the search scored them; pareto.csv holds the front re-scored",
                          references=reference_lines(run))
    sections = []
    if len(front) and "network" in run.run:  # per-design plots need the hardware model (not for toy runs)
        row = designs.pick(run, rank)
        report.rank = rank
        rec = designs.record(run, row)
        arch = designs.architecture(run, rec)
        metrics = designs.evaluation(run, rec)
        layers = plots.layer_table(arch, [l.name for l in run.network.layers])
        kinds = [l.kind for l in run.network.layers]
        report.images["layers"] = out_dir / f"layers_rank{rank}.png"
        plots.layer_resources(layers, report.images["layers"], kinds=kinds,
                              title=f"{run.name}: rank {rank} design, per-layer resources")
        parts = plots.energy_parts(metrics)
        report.images["energy"] = out_dir / f"energy_rank{rank}.png"
        plots.energy_breakdown(parts, report.images["energy"],
                               title=f"{run.name}: rank {rank} design, {float(metrics['energy_nj']) / 1e3:.1f} uJ per "
                                     f"inference, {float(metrics['efficiency_gops_w']):.1f} GOPS/W, peak "
                                     f"{float(metrics['peak_power_w']):.1f} W")
        sections = [("Chosen design (reference schema)", f"<pre>{html.escape(json.dumps(rec))}</pre>"),
                    ("Per-layer resources", layers.to_html(index=False)),
                    ("Energy and power by component", parts.to_html(index=False, float_format=lambda v: f"{v:.4g}"))]
    report.html = out_dir / "report.html"
    report.html.write_text(_html(run, report, top, sections), encoding="utf-8")
    return report


def reference_lines(run: RunData) -> dict[str, tuple[float, str]]:
    """PIMSYN's figure for the run's network and power, when it reported one
    (analysis/pimsyn_reference.py), as a reference line of the efficiency panel."""
    from evo_pimsyn.analysis.pimsyn_reference import pimsyn_figure

    if "network" not in run.run or not any(o.name == "efficiency" for o in run.objectives):
        return {}
    figure = pimsyn_figure(run.network, float(run.run["power_w"]))
    return {"efficiency_gops_w": (figure.efficiency_gops_w, figure.what)} if figure is not None else {}


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _html(run: RunData, report: Report, top: int, sections: list[tuple[str, str]]) -> str:
    fmt = lambda v: f"{v:.4g}"  # noqa: E731
    parts = [f"<h1>evo-pimsyn report: {html.escape(run.name)}</h1>",
             pd.DataFrame(list(summary(run).items()), columns=["", "value"]).to_html(index=False)]
    for name, table in top_tables(run, top).items():
        parts.append(f"<h3>Top {len(table)} by {html.escape(name)}</h3>" + table.to_html(index=False, float_format=fmt))
    titles = {"pareto": "Pareto front", "convergence": "Convergence",
              "layers": f"Per-layer resources (rank {report.rank})",
              "energy": f"Energy and power breakdown (rank {report.rank})"}
    for key, path in report.images.items():
        parts.append(f"<h2>{titles[key]}</h2>{_img(path)}")
    for title, body in sections:
        parts.append(f"<h2>{html.escape(title)}</h2>{body}")
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;font-size:12px}" \
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(run.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


