"""A run folder as typed DataFrames (``load_run``), finished or still going.

Layout (``evo_pimsyn.engine``): ``run.json``, ``generations.csv`` (written every
generation), ``pareto.csv`` (written when the run ends), ``archive/gen-NNNNNN.csv``
(with ``--rescore-every``), ``checkpoints/checkpoint.npz``. The front is taken from the
freshest of these: ``pareto.csv`` when it is at least as new as the latest checkpoint
(the run finished), else the newest of the last re-scored archive file and the
checkpoint's archive (a run in progress, or one interrupted; the checkpoint's objectives
are the search fidelity's, its designs are decoded from the genomes).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from evo_pimsyn.engine import checkpoint
from evo_pimsyn.engine.objectives import OBJECTIVES, Objective, parse_objectives, to_raw
from evo_pimsyn.engine.outputs import read_run
from evo_pimsyn.engine.problem import PimProblem
from evo_pimsyn.engine.setup import run_model_settings, run_search_space
from fitness.errors import InputError
from fitness.hardware import hardware_from_dict
from fitness.network import Network

_ARCHIVE_FILE = re.compile(r"gen-(\d+)\.csv$")
_BOOL_COLUMNS = ("feasible", "crashed")
_STRING_COLUMNS = ("fidelity", "search_fidelity", "reason", "macro_setting")


@dataclass(kw_only=True)
class RunData:
    path: Path
    run: dict
    objectives: tuple[Objective, ...]
    generations: pd.DataFrame
    pareto: pd.DataFrame
    archive: pd.DataFrame
    status: str  # "finished" or "in progress" (also an interrupted run)
    front_source: str  # which file the front came from
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def last_generation(self) -> int:
        return int(self.generations["generation"].iloc[-1]) if len(self.generations) else -1

    @cached_property
    def network(self):
        if "network" not in self.run:
            raise InputError(f"{self.path}: run.json holds no network (not a PIM run)")
        return Network.from_dict(self.run["network"], source=f"{self.path}/run.json")

    @property
    def model(self) -> dict:
        """How the run scores designs: ``power_check`` and ``fixes`` keywords of the evaluator."""
        power_check, fixes = run_model_settings(self.run)
        return {"power_check": power_check, "fixes": fixes}

    @cached_property
    def hardware(self):
        if "hardware" not in self.run:
            raise InputError(f"{self.path}: run.json holds no hardware config (not a PIM run)")
        return hardware_from_dict(self.run["hardware"], source=f"{self.path}/run.json")


def load_run(path: str | Path) -> RunData:
    """Read run folder ``path`` (see the module docstring)."""
    path = Path(path)
    run = read_run(path)
    objectives = parse_objectives(run.get("objectives"))
    generations = _typed(_read_csv(path / "generations.csv"))
    archive = _read_archive(path / "archive")
    pareto, source = _front(path, run, objectives, archive)
    finished = source == "pareto.csv"
    return RunData(path=path, run=run, objectives=objectives, generations=generations, pareto=_typed(pareto),
                   archive=archive, status="finished" if finished else "in progress", front_source=source)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        return pd.DataFrame()
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Stable dtypes whatever pandas guessed: ints stay ints beside missing values
    (``macro_share_*`` is empty where a layer shares nothing), flags are bool."""
    df = df.copy()
    for col in df.columns:
        name = str(col)
        if name in _BOOL_COLUMNS:
            df[col] = df[col].map(lambda v: str(v).strip().lower() in ("true", "1")).astype(bool)
        elif name in _STRING_COLUMNS:
            df[col] = df[col].astype("string")
        elif name.startswith("macro_share_"):
            df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
        elif name in ("generation", "design", "evaluations", "evaluations_new", "archive_size") \
                and pd.api.types.is_numeric_dtype(df[col]) and not df[col].isna().any():
            df[col] = df[col].astype(np.int64)
    return df


def _read_archive(directory: Path) -> pd.DataFrame:
    """Every ``archive/gen-N.csv`` stacked, with its ``generation`` as first column."""
    frames = []
    for f in sorted(directory.glob("gen-*.csv")) if directory.is_dir() else ():
        m = _ARCHIVE_FILE.search(f.name)
        df = _read_csv(f)
        if m and len(df.columns):
            # one concat, not insert: the archive CSVs are wide and insert would fragment them
            gen = pd.DataFrame({"generation": np.full(len(df), int(m.group(1)), dtype=np.int64)}, index=df.index)
            frames.append(pd.concat([gen, df], axis=1))
    return _typed(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return -1.0


def _front(path: Path, run: dict, objectives, archive: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    ckpt_file = path / "checkpoints" / "checkpoint.npz"
    pareto_file = path / "pareto.csv"
    if pareto_file.exists() and _mtime(pareto_file) >= _mtime(ckpt_file):
        return _read_csv(pareto_file), "pareto.csv"
    last_archive = archive[archive["generation"] == archive["generation"].max()] if len(archive) else archive
    ckpt = _checkpoint_front(path, run, objectives) if ckpt_file.exists() or \
        (path / "checkpoints" / "checkpoint.prev.npz").exists() else None
    if ckpt is not None and (not len(last_archive) or ckpt[1] > int(last_archive["generation"].iloc[0])):
        return ckpt[0], f"checkpoint (generation {ckpt[1]}, {run.get('fidelity', 'search')} fidelity)"
    if len(last_archive):
        gen = int(last_archive["generation"].iloc[0])
        return last_archive.drop(columns="generation").reset_index(drop=True), f"archive/gen-{gen:06d}.csv"
    if pareto_file.exists():  # older than the checkpoint, but nothing newer to show
        return _read_csv(pareto_file), "pareto.csv"
    return pd.DataFrame({o.column: pd.Series(dtype=float) for o in objectives}), "none yet"


def _checkpoint_front(path: Path, run: dict, objectives) -> tuple[pd.DataFrame, int] | None:
    """The checkpoint's archive as pareto.csv-like rows (objectives, design variables, genes)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a fallback to the previous checkpoint is fine here
            loaded = checkpoint.load(path / "checkpoints")
    except InputError:
        return None
    G, F = loaded.state.archive.genomes, loaded.state.archive.objectives
    raw = to_raw(F, objectives)
    out: dict = {"design": np.arange(len(G), dtype=np.int64)}
    for k, obj in enumerate(objectives):
        out[obj.column] = raw[:, k]
    out["fidelity"] = [run.get("fidelity", "")] * len(G)
    out["feasible"] = np.ones(len(G), dtype=bool)
    frame = pd.DataFrame(out)
    if run.get("problem", "pim") == "pim" and len(G):
        problem = _problem(run, path)
        frame = pd.concat([frame, problem.design_table(G).reset_index(drop=True)], axis=1)
    names = run.get("gene_names") or [f"x{j}" for j in range(G.shape[1])]
    genes = pd.DataFrame(G, columns=[f"gene_{n}" for n in names]) if G.ndim == 2 and G.shape[1] == len(names) \
        else pd.DataFrame(index=frame.index)
    return pd.concat([frame, genes], axis=1), int(loaded.state.generation)


def _problem(run: dict, path: Path):
    power_check, fixes = run_model_settings(run)
    return PimProblem(network=Network.from_dict(run["network"], source=f"{path}/run.json"),
                      hardware=hardware_from_dict(run["hardware"], source=f"{path}/run.json"),
                      power_w=float(run["power_w"]), macro_setting=run.get("macro_setting", "specified"),
                      macro_reuse=bool(run.get("macro_reuse", True)), power_check=power_check, fixes=fixes,
                      **run_search_space(run))


def objective_by_name(run: RunData, name: str | None) -> Objective:
    """``name`` (an objective name or its column) or, if None, the run's first objective."""
    if name is None:
        return run.objectives[0]
    for o in OBJECTIVES.values():
        if name in (o.name, o.column):
            return o
    raise InputError(f"unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}")


def ranked_front(run: RunData, by: str | None = None) -> pd.DataFrame:
    """Feasible front designs, best first by objective ``by`` (default the run's first),
    with a 1-based ``rank`` column: what ``report`` prints and ``export --rank`` takes."""
    obj = objective_by_name(run, by)
    front = run.pareto
    if not len(front):
        return front.assign(rank=pd.Series(dtype=np.int64))
    if obj.column not in front.columns:
        raise InputError(f"{run.path}: the front has no {obj.column!r} column (objectives: "
                         f"{', '.join(o.name for o in run.objectives)})")
    if "feasible" in front.columns:
        front = front[front["feasible"].to_numpy(dtype=bool)]
    values = pd.to_numeric(front[obj.column], errors="coerce")
    front = front[values.notna().to_numpy()]
    front = front.sort_values(obj.column, ascending=not obj.maximize, kind="stable").reset_index(drop=True)
    front.insert(0, "rank", np.arange(1, len(front) + 1, dtype=np.int64))
    return front
