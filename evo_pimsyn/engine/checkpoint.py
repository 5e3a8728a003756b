"""Checkpoints: one versioned, pickle-free record per save.

A checkpoint is a single ``.npz`` (zip) file holding ``.npy`` arrays (population,
objectives, violation, archive, hypervolume reference; the corner phase's population,
archive and reference under ``corner_*`` names once it has begun) and one ``meta.json``
member (schema, generation, evaluations, RNG state via ``bit_generator.state``, logbook,
the loop's :class:`~evo_pimsyn.engine.loop.Counters` under ``extra`` and the corner
phase's under ``corner``, config and model hashes). A checkpoint without the ``corner``
parts (a run before its corner phase, or from before the phase existed) loads with none.
It is written to a temp file, fsynced and renamed over ``checkpoint.npz``; the file it
replaces becomes ``checkpoint.prev.npz``. Loading uses ``numpy.load(allow_pickle=False)``
and validates everything; a corrupt or missing latest checkpoint falls back to the
previous one with a :class:`CheckpointWarning`.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evo_pimsyn.engine.archive import Archive
from evo_pimsyn.engine.loop import Counters, State
from evo_pimsyn.engine.outputs import jsonable
from fitness.errors import InputError

SCHEMA = "evo-pimsyn-checkpoint"
SCHEMA_VERSION = 1
LATEST = "checkpoint.npz"
PREVIOUS = "checkpoint.prev.npz"
ALLOWED_BIT_GENERATORS = ("PCG64",)


try:  # one-line "evo-pimsyn: warning: ..." in the CLI
    from evo_pimsyn.messages import InputWarning as _WarningBase
except ImportError:  # pragma: no cover
    _WarningBase = UserWarning


class CheckpointWarning(_WarningBase):
    """A checkpoint could not be used and an older one was loaded instead."""


class CheckpointError(Exception):
    """A checkpoint file is missing, corrupt or of another schema."""


@dataclass
class Loaded:
    state: State
    meta: dict
    path: Path


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


CORNER = "corner_"  # array name prefix of the corner phase's population


def _population_arrays(state: State, prefix: str = "") -> dict[str, np.ndarray]:
    arrays = {
        "population": np.asarray(state.population, dtype=np.int64),
        "objectives": np.asarray(state.objectives, dtype=np.float64),
        "violation": np.asarray(state.violation, dtype=np.float64),
        "archive_genomes": np.asarray(state.archive.genomes, dtype=np.int64),
        "archive_objectives": np.asarray(state.archive.objectives, dtype=np.float64),
    }
    if state.verified is not None:
        arrays["verified"] = np.asarray(state.verified, dtype=bool)
    if state.search_values is not None:
        arrays["search_values"] = np.asarray(state.search_values, dtype=np.float64)
    if state.hv_ref is not None:
        arrays["hv_ref"] = np.asarray(state.hv_ref, dtype=np.float64)
        arrays["hv_scale"] = np.asarray(state.hv_scale, dtype=np.float64)
    return {prefix + name: a for name, a in arrays.items()}


def state_record(state: State, **meta: Any) -> tuple[dict[str, np.ndarray], dict]:
    arrays = _population_arrays(state)
    if state.corner is not None:
        arrays.update(_population_arrays(state.corner, CORNER))
    record = {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "generation": int(state.generation),
        "evaluations": int(state.evaluations),
        "elapsed_s": float(state.elapsed_s),
        "rng": jsonable(state.rng.bit_generator.state),
        "logbook": jsonable(list(state.logbook)),
        "extra": jsonable(state.counters.to_record()),  # the loop's counters (a name older than them)
        **({"corner": {"counters": jsonable(state.corner.counters.to_record())}} if state.corner is not None else {}),
        **jsonable(meta),
    }
    return arrays, record


def save(directory: str | Path, state: State, **meta: Any) -> Path:
    """Write a checkpoint atomically; the one it replaces is kept as the previous one."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays, record = state_record(state, **meta)
    tmp = directory / f".{LATEST}.tmp"
    with open(tmp, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("meta.json", json.dumps(record, allow_nan=False))  # key order = CSV column order
            for name, array in arrays.items():
                zf.writestr(f"{name}.npy", _npy_bytes(array))
        fh.flush()
        os.fsync(fh.fileno())
    latest, previous = directory / LATEST, directory / PREVIOUS
    if latest.exists():
        os.replace(latest, previous)
    os.replace(tmp, latest)
    _fsync_dir(directory)
    return latest


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _nan_rows(rows: list) -> list[dict]:
    return [{k: (float("nan") if v is None else v) for k, v in row.items()} for row in rows]


def read(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays and meta of one checkpoint file; :class:`CheckpointError` if unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            if "meta.json" not in names:
                raise CheckpointError(f"{path}: no meta.json member")
            raw = npz["meta.json"]
            meta = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
            arrays = {n: np.asarray(npz[n]) for n in names if n != "meta.json"}
    except CheckpointError:
        raise
    except Exception as exc:  # zip, npy or JSON damage of any kind
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None
    _validate(path, arrays, meta)
    return arrays, meta


def _validate_population(path: Path, arrays: dict, prefix: str = "") -> None:
    need = {"population": np.int64, "objectives": np.float64, "violation": np.float64,
            "archive_genomes": np.int64, "archive_objectives": np.float64}
    for name, dtype in need.items():
        if prefix + name not in arrays or arrays[prefix + name].dtype != dtype:
            raise CheckpointError(f"{path}: array {prefix + name!r} missing or not {np.dtype(dtype).name}")
    P, F, V = (arrays[prefix + n] for n in ("population", "objectives", "violation"))
    AG, AF = arrays[prefix + "archive_genomes"], arrays[prefix + "archive_objectives"]
    if P.ndim != 2 or F.ndim != 2 or V.shape != (len(P),) or len(F) != len(P):
        raise CheckpointError(f"{path}: {prefix}population arrays have inconsistent shapes")
    if AG.ndim != 2 or AF.ndim != 2 or len(AG) != len(AF) or AG.shape[1] != P.shape[1] or AF.shape[1] != F.shape[1]:
        raise CheckpointError(f"{path}: {prefix}archive arrays have inconsistent shapes")
    verified, values = arrays.get(prefix + "verified"), arrays.get(prefix + "search_values")
    if verified is not None and (verified.dtype != np.bool_ or verified.shape != (len(P),)):
        raise CheckpointError(f"{path}: array {prefix + 'verified'!r} is not a bool vector over the population")
    if values is not None and (values.dtype != np.float64 or values.shape != (len(P),)):
        raise CheckpointError(f"{path}: array {prefix + 'search_values'!r} is not a float vector over the population")


def _validate(path: Path, arrays: dict, meta: Any) -> None:
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        raise CheckpointError(f"{path}: not an evo-pimsyn checkpoint")
    if meta.get("version") != SCHEMA_VERSION:
        raise CheckpointError(f"{path}: checkpoint schema version {meta.get('version')!r}, expected {SCHEMA_VERSION}")
    for key in ("generation", "evaluations", "elapsed_s", "rng", "logbook"):
        if key not in meta:
            raise CheckpointError(f"{path}: meta.json lacks {key!r}")
    _validate_population(path, arrays)
    corner = meta.get("corner")
    if corner is not None or any(n.startswith(CORNER) for n in arrays):
        if not isinstance(corner, dict):
            raise CheckpointError(f"{path}: corner phase arrays without its meta.json 'corner' object")
        _validate_population(path, arrays, CORNER)
        if arrays[CORNER + "population"].shape[1] != arrays["population"].shape[1] \
                or arrays[CORNER + "objectives"].shape[1] != 1:
            raise CheckpointError(f"{path}: the corner phase's arrays do not fit the run's genomes or one objective")
        try:
            Counters.from_record(corner.get("counters") or {})
        except ValueError as exc:
            raise CheckpointError(f"{path}: bad corner phase counters in meta.json ({exc})") from None
    rng = meta["rng"]
    if not isinstance(rng, dict) or rng.get("bit_generator") not in ALLOWED_BIT_GENERATORS:
        raise CheckpointError(f"{path}: unsupported RNG state")
    if not isinstance(meta["logbook"], list) or len(meta["logbook"]) != meta["generation"] + 1:
        raise CheckpointError(f"{path}: logbook length does not match generation {meta['generation']}")
    try:
        Counters.from_record(meta.get("extra") or {})
    except ValueError as exc:
        raise CheckpointError(f"{path}: bad loop counters in meta.json 'extra' ({exc})") from None


def _population_state(arrays: dict[str, np.ndarray], prefix: str, *, counters: Counters, rng, generation: int = 0,
                      evaluations: int = 0, elapsed_s: float = 0.0, logbook: list | None = None,
                      corner: State | None = None) -> State:
    hv_ref = arrays.get(prefix + "hv_ref")
    return State(
        generation=generation,
        population=arrays[prefix + "population"],
        objectives=arrays[prefix + "objectives"],
        violation=arrays[prefix + "violation"],
        archive=Archive(arrays[prefix + "archive_genomes"], arrays[prefix + "archive_objectives"]),
        logbook=logbook if logbook is not None else [],
        rng=rng,
        evaluations=evaluations,
        elapsed_s=elapsed_s,
        hv_ref=hv_ref,
        hv_scale=arrays.get(prefix + "hv_scale") if hv_ref is not None else None,
        counters=counters,
        verified=arrays.get(prefix + "verified"),
        search_values=arrays.get(prefix + "search_values"),
        corner=corner,
    )


def to_state(arrays: dict[str, np.ndarray], meta: dict) -> State:
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = meta["rng"]
    corner = None
    if isinstance(meta.get("corner"), dict):
        # the phase's generation, evaluations, time, logbook and random stream are the run's
        corner = _population_state(arrays, CORNER, counters=Counters.from_record(meta["corner"].get("counters") or {}),
                                   rng=rng)
    return _population_state(arrays, "", counters=Counters.from_record(meta.get("extra") or {}), rng=rng,
                             generation=int(meta["generation"]), evaluations=int(meta["evaluations"]),
                             elapsed_s=float(meta["elapsed_s"]), logbook=_nan_rows(meta["logbook"]), corner=corner)


def load(directory: str | Path) -> Loaded:
    """The latest usable checkpoint of a run folder's checkpoint directory."""
    directory = Path(directory)
    problems = []
    for name in (LATEST, PREVIOUS):
        path = directory / name
        try:
            arrays, meta = read(path)
            state = to_state(arrays, meta)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"{path}: bad RNG state ({exc})")
            continue
        if problems:
            warnings.warn(f"{problems[0]}; falling back to the previous checkpoint {path}", CheckpointWarning,
                          stacklevel=2)
        return Loaded(state, meta, path)
    raise InputError(f"{directory}: no usable checkpoint ({'; '.join(problems)})")
