"""Problem setup of a run: load the model and hardware config, build the problem, and the
identity (model spec, hashes) that run.json records and resume checks.

``problem`` kinds: ``pim`` (the real one: ``genomes`` + ``fitness``) and ``toy``
(engine/toy.py, for engine tests; model ``toy`` or ``toy:DELAY_S``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from evo_pimsyn.engine import outputs
from evo_pimsyn.engine.problem import PimProblem, Problem
from evo_pimsyn.engine.toy import ToyProblem
from evo_pimsyn.models import PIMSYN_PREFIX, ZOO_PREFIX, load_model
from fitness.budget import DEFAULT_POWER_CHECK
from fitness.errors import InputError
from fitness.fixes import NONE, fixes_label, parse_fixes
from fitness.hardware import default_config_path, load_hardware


@dataclass(kw_only=True)
class Setup:
    problem: Problem
    identity: dict  # model, model_name, model_hash, hardware_config, hardware_hash
    network: Any = None
    hardware: Any = None
    records: dict = field(default_factory=dict)  # extra run.json content (network, hardware dicts)
    model: dict = field(default_factory=dict)  # how designs are scored: power check and fixes (pareto.csv columns)

    def design_table(self, G: np.ndarray) -> pd.DataFrame:
        return self.problem.design_table(G)

    def architecture(self, g: np.ndarray) -> dict | None:
        return self.problem.architecture(g)


# model specs that name a network shipped with the package, kept as given in run.json
_NAMED_MODELS = (ZOO_PREFIX, PIMSYN_PREFIX)


def model_spec(spec: str) -> str:
    """``zoo:NAME`` / ``pimsyn:NAME`` as given; a file path made absolute, so that resume
    finds it again."""
    return spec if spec.startswith(_NAMED_MODELS) else str(Path(spec).expanduser().resolve())


def model_name(spec: str) -> str:
    for prefix in _NAMED_MODELS:
        if spec.startswith(prefix):
            return spec[len(prefix):]
    return Path(spec).stem


def network_hash(network) -> str:
    """sha256 of the network's canonical JSON (``to_dict``, sorted keys)."""
    return hashlib.sha256(json.dumps(network.to_dict(), sort_keys=True).encode()).hexdigest()


def prepare_pim(model: str, config: str | None, power_w: float, macro_setting: str, macro_reuse: bool,
                power_check: str = DEFAULT_POWER_CHECK, fixes: frozenset = NONE, *, pins=None,
                dup: str = "searched") -> Setup:
    network = load_model(model)
    hardware = load_hardware(config)
    problem = PimProblem(network=network, hardware=hardware, power_w=float(power_w), macro_setting=macro_setting,
                         macro_reuse=macro_reuse, power_check=power_check, fixes=fixes, pins=pins, dup=dup)
    hw = hardware.to_dict()
    identity = {
        "model": model_spec(model),
        "model_name": network.name,
        "model_hash": network_hash(network),
        "hardware_config": str(Path(config).expanduser().resolve()) if config else str(default_config_path()),
        "hardware_hash": outputs.canonical_hash(hw),
    }
    return Setup(problem=problem, identity=identity, network=network, hardware=hardware,
                 records={"network": network.to_dict(), "hardware": hw}, model=model_columns(power_check, fixes))


def prepare_toy(model: str, config: str | None, power_w: float, macro_setting: str, macro_reuse: bool,
                power_check: str = DEFAULT_POWER_CHECK, fixes: frozenset = NONE, *, pins=None,
                dup: str = "searched") -> Setup:
    # the toy problem has a budget of its own and no hardware model: both are ignored, and
    # so are the pins and dup mode (it has no such genes; run.json still records them)
    # model "toy" or "toy:DELAY_S" (seconds slept per evaluated batch)
    delay = float(model.split(":", 1)[1]) if ":" in model else 0.0
    problem = ToyProblem(power_w=float(power_w), delay_s=delay)
    identity = {"model": model, "model_name": "toy", "model_hash": outputs.canonical_hash(asdict(problem)),
                "hardware_config": None, "hardware_hash": "none"}
    return Setup(problem=problem, identity=identity, model=model_columns(power_check, fixes))


# what runs recorded before these settings existed were made with
LEGACY_MODEL = {"power_check": "pimsyn", "fixes": "none"}


def run_model_settings(run: dict) -> tuple[str, frozenset]:
    """(power check, fixes) a run.json records (``LEGACY_MODEL`` for older runs)."""
    return (run.get("power_check", LEGACY_MODEL["power_check"]),
            parse_fixes(run.get("fixes", LEGACY_MODEL["fixes"])))


def run_search_space(run: dict) -> dict:
    """The ``pins`` and ``dup`` keywords of :func:`prepare` that a run.json records (none
    and ``searched`` for runs made before they existed)."""
    return {"pins": dict(run.get("pins") or {}), "dup": run.get("dup", "searched")}


def model_columns(power_check: str, fixes: frozenset) -> dict:
    return {"power_check": power_check, "fixes": fixes_label(fixes)}


PREPARERS: dict[str, Callable[..., Setup]] = {"pim": prepare_pim, "toy": prepare_toy}


def prepare(problem: str, model, config, power_w, macro_setting, macro_reuse,
            power_check: str = DEFAULT_POWER_CHECK, fixes: frozenset = NONE, *, pins=None,
            dup: str = "searched") -> Setup:
    if problem not in PREPARERS:
        raise InputError(f"run.json: unknown problem kind {problem!r}")
    return PREPARERS[problem](model, config, power_w, macro_setting, macro_reuse, power_check, fixes,
                              pins=pins, dup=dup)
