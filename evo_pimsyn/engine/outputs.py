"""Run-folder writers: run.json, generations.csv, pareto.csv, best.json, pimcomp.json.

Every file is written to a temp file and renamed into place, so a reader (or a killed
run) never sees half a file. CSV column names are stable and carry units.

``pimcomp.json`` (PIMSYN's PIMCOMP handoff, ``tests/data/reference/outputs/alexnet_pimcomp.json``)
is derived from the best design as follows; PIMSYN writes it only for unified macros, and
its example (AlexNet, 256x256 crossbars, 2-bit cells, 8x8 macro grid, macro size 256)
pins the mapping:

* ``CellPrecision`` = rram_res (bits per cell), ``CrossbarH`` = ``CrossbarW`` = xbar_size;
* ``ChipH`` x ``ChipW`` = the macro grid (MODEL.md §7.1: rows = ceil(sqrt(N_mac)),
  cols = ceil(N_mac / rows)), i.e. ``macro_h`` x ``macro_w`` of the architecture output;
* ``CoreH`` x ``CoreW`` = the crossbars of one macro laid out as a near-square grid:
  H = ceil(sqrt(s)), W = ceil(s / H) with s the macro size in crossbars (the largest
  macro size over the layers in the specified setting); 256 -> 16 x 16 as in the example.
  This is our inference: PIMSYN's example is consistent with it, its code is not shipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import deap
import joblib
import numpy as np
import pandas as pd

from evo_pimsyn import __version__
from evo_pimsyn.engine.objectives import Objective, to_raw
from fitness.errors import InputError
from fitness.jsonio import read_json

RUN_FORMAT = "evo-pimsyn-run"
RUN_VERSION = 1
RUN_FILE = "run.json"


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def jsonable(value: Any) -> Any:
    """JSON-safe copy of ``value``: mappings with string keys, lists for tuples and arrays,
    Python scalars for numpy ones, None for NaN and infinities (JSON has neither)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_run(run_dir: str | Path) -> dict:
    """The run record (``run.json``) of folder ``run_dir``; InputError (one line) when the
    folder is not a run folder or the record is not one this version reads."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        why = "not a directory" if run_dir.exists() else "no such folder"
        raise InputError(f"{run_dir}: not a run folder ({why})")
    path = run_dir / RUN_FILE
    if not path.exists():
        raise InputError(f"{run_dir}: not a run folder (no {RUN_FILE})")
    run = read_json(path, "an evo-pimsyn run record")
    if not isinstance(run, dict) or run.get("format") != RUN_FORMAT:
        raise InputError(f"{path}: not an evo-pimsyn run record")
    if run.get("version") != RUN_VERSION:
        raise InputError(f"{path}: run record version {run.get('version')!r}, this version reads {RUN_VERSION}")
    return run


def canonical_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(jsonable(data), sort_keys=True).encode()).hexdigest()


def versions() -> dict[str, str]:
    return {
        "evo_pimsyn": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "deap": getattr(deap, "__version__", "unknown"),
        "joblib": joblib.__version__,
        "platform": f"{sys.platform}-{platform.machine()}",
    }


# ---- generations.csv -----------------------------------------------------------------
def generations_frame(logbook: Sequence[dict]) -> pd.DataFrame:
    return pd.DataFrame(list(logbook))


# ---- pareto.csv ----------------------------------------------------------------------
def pareto_frame(genomes: np.ndarray, search_F: np.ndarray, frame: pd.DataFrame, designs: pd.DataFrame,
                 gene_names: Sequence[str], objectives: Sequence[Objective], *, fidelity: str | Sequence[str],
                 search_fidelity: str, model: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per archived design: final-fidelity objectives, the search-fidelity ones,
    how the model scored them (``model``: power check and fixes, so that a design re-scored
    later is scored alike), every design variable, the evaluator's derived metrics, and the
    raw genes. ``fidelity`` is the evaluator of ``frame``'s rows, one for all or one per row."""
    frame = frame.reset_index(drop=True)
    n = len(genomes)
    out: dict[str, Any] = {"design": np.arange(n, dtype=np.int64)}
    for obj in objectives:
        out[obj.column] = frame[obj.column].array if obj.column in frame else np.full(n, np.nan)
    out["fidelity"] = [fidelity] * n if isinstance(fidelity, str) else list(fidelity)
    out["feasible"] = frame["feasible"].to_numpy(dtype=bool) if "feasible" in frame else np.ones(n, dtype=bool)
    out["search_fidelity"] = [search_fidelity] * n
    for key, value in (model or {}).items():
        out[key] = [value] * n
    raw = to_raw(search_F, objectives)
    for k, obj in enumerate(objectives):
        out[f"search_{obj.column}"] = raw[:, k]
    designs = designs.reset_index(drop=True)
    for col in designs.columns:
        if col not in out:
            out[col] = designs[col].array
    for col in frame.columns:
        if col not in out and col != "id":
            out[col] = frame[col].array
    G = np.asarray(genomes, dtype=np.int64)
    for j, name in enumerate(gene_names):
        out[f"gene_{name}"] = G[:, j]
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def flatten_records(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Reference-schema design records -> one column per scalar, ``name_<i>`` per list item.
    ``total_power_W`` is renamed ``total_power_w``; ``None`` (no sharing partner) stays empty."""
    columns: dict[str, list] = {}
    for n, rec in enumerate(records):
        for key, value in rec.items():
            if key in ("id", "network", "pimsyn_gene"):
                continue
            key = "total_power_w" if key == "total_power_W" else key
            items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else None
            pairs = [(f"{key}_{i}", v) for i, v in enumerate(items)] if items is not None else [(key, value)]
            for name, v in pairs:
                columns.setdefault(name, [None] * n).append(v)
        for col in columns.values():  # a key missing from this record
            if len(col) < n + 1:
                col.append(None)
    out = {}
    for name, values in columns.items():
        ints = all(v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool)) for v in values)
        if ints and any(v is None for v in values):
            out[name] = pd.array(values, dtype="Int64")  # "3" rather than "3.0" beside empty cells
        else:
            out[name] = values
    return pd.DataFrame(out, index=pd.RangeIndex(len(records)))


# ---- pimcomp.json --------------------------------------------------------------------
def pimcomp_config(arch: Mapping[str, Any]) -> dict[str, int]:
    """PIMCOMP handoff from a PIMSYN-format architecture dict (see module docstring)."""
    sizes = [int(v["macro_size"]) for v in arch.values() if isinstance(v, Mapping) and "macro_size" in v]
    counts = [int(v["macro_num"]) for v in arch.values()
              if isinstance(v, Mapping) and "macro_num" in v and v.get("macro_sharing") in (None, "None")]
    if "macro_h" in arch and "macro_w" in arch:
        chip_h, chip_w = int(arch["macro_h"]), int(arch["macro_w"])
    else:
        n_mac = max(1, sum(counts))
        chip_h = math.ceil(math.sqrt(n_mac))
        chip_w = math.ceil(n_mac / chip_h)
    s = max(sizes) if sizes else 1
    core_h = math.ceil(math.sqrt(s))
    core_w = math.ceil(s / core_h)
    return {
        "CellPrecision": int(arch["rram_res"]),
        "CrossbarH": int(arch["xbar_size"]),
        "CrossbarW": int(arch["xbar_size"]),
        "ChipH": chip_h,
        "ChipW": chip_w,
        "CoreH": core_h,
        "CoreW": core_w,
    }


def write_pimcomp(path: str | Path, arch: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(pimcomp_config(arch), indent=4) + "\n")


def write_best(path: str | Path, arch: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(jsonable(arch), indent=4) + "\n")
