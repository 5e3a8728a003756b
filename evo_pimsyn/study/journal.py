"""study.json: the study's spec, its cells and which of them are done.

Only the scheduler writes it (atomically: temp file, fsync, rename), after each cell that
finishes; a cell is "done" once its run ended with exit code 0 and wrote pareto.csv. A
study killed at any point therefore knows every cell that finished, and the engine's own
checkpoints know how far the others got.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path
from typing import Iterator

from evo_pimsyn.engine import outputs
from evo_pimsyn.study.spec import STUDY_FORMAT, STUDY_VERSION
from fitness.errors import InputError

STUDY_FILE = "study.json"


def read_study(study_dir: Path) -> dict:
    path = Path(study_dir) / STUDY_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{study_dir}: not a study folder (no {STUDY_FILE})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != STUDY_FORMAT:
        raise InputError(f"{path}: not an evo-pimsyn study record")
    if record.get("version") != STUDY_VERSION:
        raise InputError(f"{path}: study record version {record.get('version')!r}, this version reads {STUDY_VERSION}")
    return record


def write_study(study_dir: Path, record: dict) -> None:
    outputs.write_json(Path(study_dir) / STUDY_FILE, record)


def new_record(name: str, spec_dict: dict, command: list[str] | None) -> dict:
    return {"format": STUDY_FORMAT, "version": STUDY_VERSION, "name": name, "command": command,
            "spec": spec_dict, "cells": [], "done": []}


def spec_differences(old: dict, new: dict) -> list[str]:
    """The spec keys whose values differ (for a one-line refusal)."""
    keys = sorted(set(old) | set(new))
    out = []
    for k in keys:
        if k == "base":
            base_old, base_new = old.get(k) or {}, new.get(k) or {}
            out += [f"base.{b}" for b in sorted(set(base_old) | set(base_new)) if base_old.get(b) != base_new.get(b)]
        elif old.get(k) != new.get(k):
            out.append(k)
    return out


@contextlib.contextmanager
def study_lock(study_dir: Path) -> Iterator[None]:
    """One scheduler per study folder at a time (flock, released when the holder dies)."""
    locks = Path(study_dir) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / "study.lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{study_dir}: another evo-pimsyn study process is running this study; wait for it "
                             f"or stop it first") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
