"""A study folder as tables: study.csv (one row per cell) and :func:`load_study`.

study.csv columns, in order:

* ``cell``, ``model``, ``power_w``, ``seed`` and the cell's options (``objectives``,
  ``algorithm``, ``population``, ``fidelity``, ``macro_setting``, ``macro_reuse``, ``dup``,
  ``pins``, ``power_check``, ``fixes``, ``config``), plus one column per varied global gene
  (``xbar_size``, ...);
* ``status``: ``finished``, ``infeasible`` (finished without a feasible design),
  ``no legal design`` (refused before it ran; ``reason`` says why), ``in progress`` or
  ``not started``; ``reason``;
* ``best_<column>`` for every objective of the study: the best cycle-scored value on the
  cell's front (feasible designs only);
* ``design_*``: the front design that is best in the cell's first objective (its
  efficiency, throughput, area, peak power and global point);
* ``front_size``, ``hypervolume`` of the front against a reference shared by the cells of
  one network and power (``hv_objectives``, ``hv_reference``: over the union of their
  objectives; 0 for a maximized objective, 10 % beyond the worst value of any of those
  fronts for a minimized one, see ``compare.common_reference``);
* ``generations``, ``evaluations``, ``wall_time_s`` (the only column that depends on the
  machine), ``run_dir`` (relative to the study folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from evo_pimsyn.analysis.compare import common_reference
from evo_pimsyn.analysis.hypervolume import hypervolume
from evo_pimsyn.analysis.load import RunData, load_run, ranked_front
from evo_pimsyn.engine.objectives import OBJECTIVES, parse_objectives
from fitness.errors import InputError

STUDY_CSV = "study.csv"
WALL_COLUMNS = ("wall_time_s",)
DESIGN_COLUMNS = ("efficiency_gops_w", "throughput_gops", "throughput_ips", "area_mm2", "peak_power_w", "xbar_size",
                  "rram_res", "dac_res", "rram_ratio")
_STATUS_ORDER = ("finished", "infeasible", "no legal design", "in progress", "not started")


def _record(study_dir: Path) -> dict:
    from evo_pimsyn.study.journal import read_study

    return read_study(study_dir)


def _cell_runs(study_dir: Path, record: dict) -> list[tuple[object, RunData | None]]:
    """(cell, its run or None) for every cell of the study, in order."""
    from evo_pimsyn.study.spec import StudySpec

    cells = StudySpec.from_dict(record["spec"]).cells()
    out = []
    for cell in cells:
        run_dir = study_dir / cell.run_dir
        out.append((cell, load_run(run_dir) if (run_dir / "run.json").exists() else None))
    return out


def study_frame(study_dir: str | Path) -> pd.DataFrame:
    """study.csv's rows for the study in ``study_dir`` (see the module docstring)."""
    from evo_pimsyn.engine.setup import model_name
    from evo_pimsyn.study.spec import options_record

    study_dir = Path(study_dir)
    record = _record(study_dir)
    refused = {c["id"]: c.get("no_legal_design") for c in record.get("cells", []) if c.get("no_legal_design")}
    done = set(record.get("done", []))
    pairs = _cell_runs(study_dir, record)
    all_objectives = _union_objectives(cell.options.objectives for cell, _ in pairs)

    rows = []
    fronts = []
    for cell, run in pairs:
        row = {"cell": cell.id, "model": model_name(cell.model), "power_w": cell.power_w, "seed": cell.seed,
               **options_record(cell.options)}
        for axis in cell.values:  # a varied option shows the value as the study names it
            row[axis] = cell.values[axis]
        status, reason, front = _status(cell, run, refused, done)
        row["status"], row["reason"] = status, reason
        fronts.append(front)
        for obj in all_objectives:
            values = _column(front, obj.column)
            row[f"best_{obj.column}"] = (values.max() if obj.maximize else values.min()) if len(values) else np.nan
        design = front.iloc[0] if len(front) else None
        for col in DESIGN_COLUMNS:
            row[f"design_{col}"] = float(design[col]) if design is not None and col in front else np.nan
        row["front_size"] = len(front)
        rows.append(row)
    frame = pd.DataFrame(rows)
    _add_hypervolumes(frame, [cell for cell, _ in pairs], fronts)
    for k, (cell, run) in enumerate(pairs):
        g = run.generations if run is not None else pd.DataFrame()
        frame.loc[k, "generations"] = int(g["generation"].iloc[-1]) if len(g) and "generation" in g else np.nan
        frame.loc[k, "evaluations"] = int(g["evaluations"].iloc[-1]) if len(g) and "evaluations" in g else np.nan
        frame.loc[k, "wall_time_s"] = float(g["wall_time_s"].iloc[-1]) if len(g) and "wall_time_s" in g else np.nan
        frame.loc[k, "run_dir"] = cell.run_dir
    for col in ("generations", "evaluations", "front_size", "design_xbar_size", "design_rram_res", "design_dac_res"):
        frame[col] = pd.to_numeric(frame[col]).round().astype("Int64")
    return frame


def _union_objectives(specs) -> list:
    """Every objective any cell searches, in the registry's order."""
    names = set()
    for spec in specs:
        names.update(o.name for o in parse_objectives(spec))
    return [o for o in OBJECTIVES.values() if o.name in names]


def _column(front: pd.DataFrame, column: str) -> pd.Series:
    if column not in front:
        return pd.Series(dtype=float)
    values = pd.to_numeric(front[column], errors="coerce")
    return values[np.isfinite(values)]


def _status(cell, run: RunData | None, refused: dict, done: set) -> tuple[str, str, pd.DataFrame]:
    """(status, reason, feasible cycle-scored front best-first in the cell's first objective)."""
    empty = pd.DataFrame()
    if cell.id in refused:
        return "no legal design", refused[cell.id], empty
    if run is None:
        return "not started", "", empty
    if run.status != "finished" or cell.id not in done:
        return "in progress", f"generation {run.last_generation}", empty
    front = ranked_front(run)
    if not len(front):
        return "infeasible", "no feasible design found", front
    return "finished", "", front


def _add_hypervolumes(frame: pd.DataFrame, cells: list, fronts: list[pd.DataFrame]) -> None:
    """``hypervolume``, ``hv_objectives``, ``hv_reference`` per (model, power) group."""
    frame["hypervolume"] = np.nan
    frame["hv_objectives"] = ""
    frame["hv_reference"] = ""
    groups: dict[tuple, list[int]] = {}
    for k, cell in enumerate(cells):
        groups.setdefault((cell.model, cell.power_w), []).append(k)
    for rows in groups.values():
        objs = _union_objectives(cells[k].options.objectives for k in rows)
        usable = [k for k in rows if len(fronts[k]) and all(o.column in fronts[k] for o in objs)]
        if not usable:  # a group without a front has no hypervolume
            for k in rows:
                frame.loc[k, "hv_objectives"] = "+".join(o.name for o in objs)
            continue
        ref = common_reference([fronts[k] for k in usable], objs)
        for k in rows:
            frame.loc[k, "hv_objectives"] = "+".join(o.name for o in objs)
            frame.loc[k, "hv_reference"] = ";".join(f"{v:.6g}" for v in ref)
            if k in usable:
                frame.loc[k, "hypervolume"] = hypervolume(fronts[k], objs, ref)
            elif frame.loc[k, "status"] == "infeasible":
                frame.loc[k, "hypervolume"] = 0.0


def write_study_outputs(study_dir: str | Path) -> list[Path]:
    """Write study.csv and, when matplotlib is there, report.html; the paths written."""
    from evo_pimsyn.engine import outputs

    study_dir = Path(study_dir)
    frame = study_frame(study_dir)
    paths = [study_dir / STUDY_CSV]
    outputs.write_csv(paths[0], frame)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return paths
    from evo_pimsyn.analysis.study_report import build

    paths.append(build(study_dir, frame))
    return paths


def read_study_csv(study_dir: str | Path) -> pd.DataFrame:
    path = Path(study_dir) / STUDY_CSV
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise InputError(f"{study_dir}: no {STUDY_CSV} yet (run or resume the study first)") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file") from None
    for col in ("cell", "model", "status", "reason", "objectives", "algorithm", "fidelity", "macro_setting",
                "macro_reuse", "dup", "pins", "power_check", "fixes", "config", "hv_objectives", "hv_reference",
                "run_dir"):
        if col in frame:
            frame[col] = frame[col].fillna("").astype("string")
    for col in ("seed", "population", "generations", "evaluations", "front_size", "design_xbar_size",
                "design_rram_res", "design_dac_res"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    return frame


def load_study(path: str | Path) -> pd.DataFrame:
    """study.csv of the study folder ``path`` joined with each cell's run.

    Adds ``run`` (the cell's :class:`~evo_pimsyn.analysis.load.RunData`, None before it
    started), ``run_status`` (the run folder's own: finished or in progress),
    ``last_generation``, ``front_source`` and ``config_hash``; ``frame.attrs["study"]``
    is the study.json record (spec, cells, done)."""
    study_dir = Path(path)
    record = _record(study_dir)
    frame = read_study_csv(study_dir)
    runs, status, last, source, hashes = [], [], [], [], []
    for run_dir in frame["run_dir"]:
        folder = study_dir / str(run_dir)
        run = load_run(folder) if (folder / "run.json").exists() else None
        runs.append(run)
        status.append(run.status if run is not None else "")
        last.append(run.last_generation if run is not None else pd.NA)
        source.append(run.front_source if run is not None else "")
        hashes.append(run.run.get("config_hash", "") if run is not None else "")
    frame["run"] = pd.Series(runs, index=frame.index, dtype=object)
    frame["run_status"] = pd.array(status, dtype="string")
    frame["last_generation"] = pd.array(last, dtype="Int64")
    frame["front_source"] = pd.array(source, dtype="string")
    frame["config_hash"] = pd.array(hashes, dtype="string")
    frame.attrs["study"] = json.loads(json.dumps(record))
    return frame


# ---- comparisons against a baseline ----------------------------------------------------------
def axis_labels(record: dict) -> dict[str, list[str]]:
    """Each varied axis's value labels (study.csv's spelling), in the study's order."""
    from evo_pimsyn.study.spec import axis_value

    return {axis: [axis_value(axis, v)[1] for v in values] for axis, values in record["spec"].get("vary", [])}


def baseline_ratios(frame: pd.DataFrame, axis: str, labels: dict[str, list[str]], metric: str) -> pd.DataFrame:
    """For one varied ``axis``: every cell whose other axes sit at their first value, its
    ``metric`` divided by the mean over seeds of the same network and power at the axis's
    first value. Columns model, power_w, seed, value, ratio (NaN where the cell or the
    baseline has no value)."""
    values = labels[axis]
    keep = np.ones(len(frame), dtype=bool)
    for other, other_values in labels.items():
        if other != axis:
            keep &= frame[other].astype(str).to_numpy() == other_values[0]
    sub = frame[keep]
    rows = []
    for (model, power), group in sub.groupby(["model", "power_w"], sort=False):
        at_first = pd.to_numeric(group.loc[group[axis].astype(str) == values[0], metric], errors="coerce")
        base = float(at_first.mean()) if at_first.notna().any() else np.nan
        for _, r in group.iterrows():
            v = pd.to_numeric(pd.Series([r[metric]]), errors="coerce").iloc[0]
            rows.append({"model": model, "power_w": power, "seed": r["seed"], "value": str(r[axis]),
                         "ratio": float(v) / base if np.isfinite(base) and base > 0 and pd.notna(v) else np.nan})
    return pd.DataFrame(rows, columns=["model", "power_w", "seed", "value", "ratio"])


def ablation_table(frame: pd.DataFrame, comparisons, labels: dict[str, list[str]]) -> pd.DataFrame:
    """One row per (comparison, metric): the baseline's measured gain over the variant per
    network (mean over seeds of each, ``base / variant - 1``), their mean over the networks
    where both exist, and the paper's figure. Networks where either side has no feasible
    design show why instead of a number."""
    metrics = (("efficiency", "best_efficiency_gops_w", "efficiency"),
               ("throughput", "design_throughput_gops", "throughput"))
    first = {a: values[0] for a, values in labels.items()}
    groups = list(dict.fromkeys(zip(frame["model"].astype(str), frame["power_w"].astype(float))))
    several_powers = len({p for _, p in groups}) > 1
    rows = []
    for comp in comparisons:
        if comp.axis not in labels or comp.variant not in labels[comp.axis]:
            continue
        for label, column, paper_attr in metrics:
            row = {"ablation": comp.title, "metric": label}
            gains = []
            for model, power in groups:
                key = f"{model} {power:g} W" if several_powers else model
                base = _cells(frame, model, power, first)
                var = _cells(frame, model, power, {**first, comp.axis: comp.variant})
                b, v = _mean(base, column), _mean(var, column)
                if np.isfinite(b) and np.isfinite(v) and v > 0:
                    gain = b / v - 1.0
                    gains.append(gain)
                    row[key] = _gain_text(gain)
                else:
                    row[key] = _missing_text(base, var)
            row["measured mean"] = _gain_text(float(np.mean(gains))) if gains else "n/a"
            row["paper"] = getattr(comp, paper_attr)
            rows.append(row)
    return pd.DataFrame(rows)


def _cells(frame: pd.DataFrame, model: str, power: float, values: dict[str, str]) -> pd.DataFrame:
    keep = (frame["model"].astype(str) == model) & (frame["power_w"].astype(float) == power)
    for axis, value in values.items():
        keep &= frame[axis].astype(str) == str(value)
    return frame[keep]


def _mean(cells: pd.DataFrame, column: str) -> float:
    values = pd.to_numeric(cells[column], errors="coerce") if column in cells else pd.Series(dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else np.nan


def _gain_text(gain: float) -> str:
    """+19.3 % below a doubling; x12.4 (times) from there, where percentages stop reading well."""
    return f"{gain * 100:+.1f} %" if gain < 1.0 else f"x{gain + 1.0:.1f}"


def _missing_text(base: pd.DataFrame, var: pd.DataFrame) -> str:
    for cells in (base, var):
        statuses = set(cells["status"].astype(str)) if len(cells) else {"not in study"}
        for s in ("no legal design", "infeasible", "in progress", "not started", "not in study"):
            if s in statuses:
                return "no feasible design" if s == "infeasible" else s
    return "n/a"
