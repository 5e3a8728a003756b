"""A run folder from start to finish: options -> run.json -> search loop with checkpoints
-> pareto.csv / best.json / pimcomp.json; and resuming it from its last checkpoint.

The command modules (``evo_pimsyn/commands/run.py``, ``resume.py``) only parse arguments
into :class:`RunOptions` and call :func:`start` / :func:`resume`.
"""

from __future__ import annotations

import contextlib
import errno
import math
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from evo_pimsyn.engine import backends
from evo_pimsyn.engine import checkpoint as ckpt
from evo_pimsyn.engine import loop, outputs
from evo_pimsyn.engine.cadence import AUTO, Cadence
from evo_pimsyn.engine.evaluation import POOL_IDLE_S, Evaluator
from evo_pimsyn.engine.objectives import objective_names, parse_objectives
from evo_pimsyn.engine.problem import FIDELITIES
from evo_pimsyn.engine.progress import DEFAULT_LOG_EVERY_S, Progress, VerifiedBests
from evo_pimsyn.engine.setup import (LEGACY_MODEL, PREPARERS, Setup, model_name, prepare, run_model_settings,
                                     run_search_space)
from evo_pimsyn.engine.timebudget import (FinishCost, SearchDeadline, TimeBudget, plan_rescoring, rescore_order,
                                          spent)
from fitness.budget import DEFAULT_POWER_CHECK, POWER_CHECKS
from fitness.errors import InputError
from fitness.fixes import fixes_label, parse_fixes
from genomes.layout import DUP_MODES, parse_pins

EXIT_INTERRUPTED = 130
EXIT_BACKEND_LOST = 75  # EX_TEMPFAIL: the cluster went away; resume later
DEFAULT_GENERATIONS = 100
MACRO_SETTINGS = ("specified", "unified")
CHECKPOINT_DIR = "checkpoints"
REFUSED_CSV = "refused.csv"  # archive designs the final cycle-model re-scoring refused
# run.json settings that define the search; anything else (stop rule, workers,
# checkpoint cadence, output) may differ between sessions without changing results.
SEARCH_KEYS = ("model_hash", "power_w", "hardware_hash", "population", "algorithm", "objectives",
               "macro_setting", "macro_reuse", "fidelity", "seed", "problem", "power_check", "fixes", "pins", "dup",
               "corner_fraction", "corner_objective")
# search keys that runs recorded before they existed lack (their hash was made without them);
# such a run resumes without the corner phase, or with the phase climbing the first
# objective, as it was run
LEGACY_KEYS = (*LEGACY_MODEL, "pins", "dup", "corner_fraction", "corner_objective")
# search keys left out of the hash at these values (the phase off, or as it was first): a
# run that does not use them hashes as it did before they existed (a study's cell folders
# stay its own)
UNHASHED_AT = {"corner_fraction": 0.0, "corner_objective": "first"}
# The corner phase of a multi-objective run when --corner is not given (engine/corner.py):
# the run's last fifth climbs the efficiency extreme, verified. bench/peers.py, three
# objectives, 2 workers, seed 0, hypervolume of the cycle-scored front without -> with it:
# 120 s, AlexNet 3.169e9 -> 3.319e9, SqueezeNet 1.791e8 -> 1.806e8, ResNet18 3.867e8 ->
# 3.957e8, MobileNetV2 9.041e7 -> 9.103e7, VGG16 5.991e7 -> 6.239e7, ResNet50 1.965e8 ->
# 1.987e8; 10 minutes, AlexNet 3.261e9 -> 3.380e9, SqueezeNet 1.852e8 -> 1.848e8 (README,
# corner phase).
DEFAULT_CORNER = 0.2
# What the corner phase climbs when --corner-objective is not given: "box", each design's
# own hypervolume box in all the run's objectives (engine/corner.py), or "first", the first
# objective's extreme. A replay of the phase (24 s after 90 s of a three-objective search,
# 2 workers, from the same saved state for both; cycle-scored front, power-bound reference):
# AlexNet 3.167e9 -> 3.379e9, VGG16 5.810e7 -> 5.979e7, ResNet18 3.886e8 -> 3.937e8 and
# 3.914e8 -> 3.934e8, SqueezeNet 1.707e8 -> 1.701e8 and 1.679e8 -> 1.682e8. End to end,
# bench/peers.py at 120 s, mean of seeds 0-2: AlexNet 3.129e9 -> 3.222e9, VGG16 5.994e7 ->
# 6.046e7, SqueezeNet 1.701e8 -> 1.708e8; AlexNet at 10 minutes 3.380e9 -> 3.467e9
# (bench/PEERS.md, the corner phase climbs each design's own box).
DEFAULT_CORNER_OBJECTIVE = "box"
CORNER_OBJECTIVES = ("box", "first")
# The population when --population is not given. With the single objective efficiency a
# generation's cost is mostly its few cycle-model checks of would-be bests, not the analytic
# estimates of its children, so a larger population searches more per second (README:
# population size; bench/peers.py at 60 s, 1 worker: ResNet18 313.2 -> 354.6 GOPS/W,
# AlexNet 698.7 -> 707.6 from 64 to 256). Several objectives get 128: a front of three
# objectives needs more designs alive than 64 hold (bench/peers.py, 120 s, 2 workers, seeds
# 0-2, hypervolume of the cycle-scored front: README, population size). Any other single
# objective keeps 64 (not measured).
DEFAULT_POPULATION = 64
SINGLE_OBJECTIVE_POPULATION = 256
MULTI_OBJECTIVE_POPULATION = 128


@dataclass(kw_only=True)
class RunOptions:
    model: str
    power_w: float
    config: str | None = None
    generations: int | None = None
    time_budget_s: float | None = None
    population: int | None = None  # None: default_population(objectives)
    workers: int = 1
    seed: int = 0
    objectives: Any = "efficiency,throughput,area"
    algorithm: str = "nsga2"
    macro_setting: str = "specified"
    macro_reuse: bool = True
    fidelity: str = "analytic"
    power_check: str = DEFAULT_POWER_CHECK  # "strict": peak power above the budget is infeasible
    fixes: Any = "none"  # model fixes (fitness.fixes): "none", "all" or a comma list of names
    pins: Any = None  # pinned global genes: {"xbar_size": 128} or "xbar_size=128,..." (genomes.layout.parse_pins)
    dup: str = "searched"  # weight duplication: searched, proportional (PIMSYN's W*H rule) or one (none)
    checkpoint_every_s: float | str = AUTO  # seconds between checkpoints (0: every generation) or "auto"
    rescore_every: int = 0
    polish: float = loop.Settings.polish_fraction  # last fraction of a single-objective run that polishes its best
    # last fraction of a multi-objective run that climbs a corner of its front (engine/corner.py)
    corner: float = DEFAULT_CORNER
    corner_objective: str = DEFAULT_CORNER_OBJECTIVE  # what the corner phase climbs: "box" or "first"
    out: str | None = None
    quiet: bool = False
    log_every_s: float = DEFAULT_LOG_EVERY_S  # stderr not a terminal: seconds between progress lines
    problem: str = "pim"  # "toy": the synthetic problem of engine/toy.py (tests)
    backend: str = "local"  # "dask": evaluate on a dask.distributed cluster (engine/backends.py)
    scheduler: str | None = None  # dask scheduler address; None: a LocalCluster of `workers` processes


def default_population(objectives: Any) -> int:
    """The population of a run that does not set one: ``SINGLE_OBJECTIVE_POPULATION`` when
    its objectives are efficiency alone, ``MULTI_OBJECTIVE_POPULATION`` with several,
    else ``DEFAULT_POPULATION``."""
    names = objective_names(parse_objectives(objectives))
    if names == ["efficiency"]:
        return SINGLE_OBJECTIVE_POPULATION
    return MULTI_OBJECTIVE_POPULATION if len(names) > 1 else DEFAULT_POPULATION


def resolved_population(o: "RunOptions") -> int:
    """The population run ``o`` searches with: its own, or the default for its objectives."""
    return int(o.population) if o.population is not None else default_population(o.objectives)


def _param_error(name: str, rule: str, value: Any) -> InputError:
    return InputError(f"The '{name}' parameter must be {rule}. Got {value!r} instead.")


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def validate(o: RunOptions) -> None:
    if not isinstance(o.power_w, (int, float)) or isinstance(o.power_w, bool) or not math.isfinite(o.power_w) \
            or o.power_w <= 0:
        raise _param_error("power", "a positive number of W", o.power_w)
    if o.generations is not None and (not _is_int(o.generations) or o.generations < 0):
        raise _param_error("generations", "an int >= 0", o.generations)
    if o.time_budget_s is not None and (not isinstance(o.time_budget_s, (int, float)) or o.time_budget_s <= 0):
        raise _param_error("time-budget", "a positive duration", o.time_budget_s)
    if o.population is not None and (not _is_int(o.population) or o.population < 4):
        raise _param_error("population", "an int >= 4", o.population)
    if not _is_int(o.workers) or o.workers < 1:
        raise _param_error("workers", "an int >= 1", o.workers)
    if not _is_int(o.seed) or o.seed < 0:
        raise _param_error("seed", "an int >= 0", o.seed)
    if o.algorithm not in loop.ALGORITHMS:
        raise _param_error("algorithm", f"one of {', '.join(loop.ALGORITHMS)}", o.algorithm)
    if o.macro_setting not in MACRO_SETTINGS:
        raise _param_error("macro-setting", f"one of {', '.join(MACRO_SETTINGS)}", o.macro_setting)
    if o.power_check not in POWER_CHECKS:
        raise _param_error("power-check", f"one of {', '.join(POWER_CHECKS)}", o.power_check)
    parse_fixes(o.fixes)
    parse_pins(o.pins)
    if o.dup not in DUP_MODES:
        raise _param_error("dup", f"one of {', '.join(DUP_MODES)}", o.dup)
    if o.fidelity not in FIDELITIES:
        raise _param_error("fidelity", f"one of {', '.join(FIDELITIES)}", o.fidelity)
    if o.checkpoint_every_s != AUTO and (not isinstance(o.checkpoint_every_s, (int, float))
                                        or isinstance(o.checkpoint_every_s, bool) or o.checkpoint_every_s < 0):
        raise _param_error("checkpoint-every", f"a duration >= 0 or {AUTO!r}", o.checkpoint_every_s)
    if not isinstance(o.polish, (int, float)) or isinstance(o.polish, bool) or not 0.0 <= o.polish <= 1.0:
        raise _param_error("polish", "a fraction in [0, 1]", o.polish)
    if not isinstance(o.corner, (int, float)) or isinstance(o.corner, bool) or not 0.0 <= o.corner <= 1.0:
        raise _param_error("corner", "a fraction in [0, 1]", o.corner)
    if o.corner_objective not in CORNER_OBJECTIVES:
        raise _param_error("corner-objective", f"one of {', '.join(CORNER_OBJECTIVES)}", o.corner_objective)
    if not _is_int(o.rescore_every) or o.rescore_every < 0:
        raise _param_error("rescore-every", "an int >= 0", o.rescore_every)
    _validate_log_every(o.log_every_s)
    parse_objectives(o.objectives)
    backends.validate(o.backend, o.scheduler)


def _validate_log_every(value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise _param_error("log-every", "a positive duration", value)


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1h30m``, ``2h`` -> seconds."""
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        value = float(s)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", s)
        if not parts or "".join(n + u for n, u in parts) != s:
            raise _param_error("time-budget", "a duration such as 90s, 10m, 1h30m", text)
        value = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if value <= 0:
        raise _param_error("time-budget", "a positive duration", text)
    return value


# ---- start / resume ------------------------------------------------------------------
def default_out(o: RunOptions) -> Path:
    return Path("runs") / f"{model_name(o.model)}-{o.power_w:g}W-seed{o.seed}"


@dataclass
class Timing:
    """This session's clock: when it started (a ``clock`` time; the CLI passes the process's
    start, engine/timebudget.py) and the budget the run spent in earlier sessions."""

    started_at: float
    spent_before_s: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def spent(self) -> float:
        return spent(self.started_at, self.spent_before_s, self.clock)


def start(o: RunOptions, *, argv: list[str] | None = None, started_at: float | None = None,
          clock: Callable[[], float] = time.monotonic) -> int:
    """Start the run of ``o``. ``started_at`` (a ``clock`` time, default now) is when the
    command started: a time budget counts from it."""
    timing = Timing(clock() if started_at is None else float(started_at), 0.0, clock)
    validate(o)
    run_dir = Path(o.out) if o.out else default_out(o)
    if (run_dir / "run.json").exists():
        raise InputError(f"{run_dir} already holds a run; continue it with `evo-pimsyn resume {run_dir}` "
                         f"or choose another --out")
    setup, run = plan(o, argv=argv)
    with backends.open_backend(o.backend, o.scheduler, workers=o.workers):
        _make_run_folder(run_dir, run)
        return _search(run_dir, setup, run, None, workers=o.workers, quiet=o.quiet, timing=timing,
                       log_every_s=o.log_every_s)


def plan(o: RunOptions, *, argv: list[str] | None = None) -> tuple[Setup, dict]:
    """The problem setup and the run.json record of options ``o``, without touching the
    run folder (``study`` compares a record's ``config_hash`` with a folder's run.json).
    Raises InputError for bad options, genomes.layout.NoLegalDesign for a problem (pins
    included) that has no legal design."""
    validate(o)
    objectives = parse_objectives(o.objectives)
    generations = o.generations
    if generations is None and o.time_budget_s is None:
        generations = DEFAULT_GENERATIONS
    fixes = parse_fixes(o.fixes)
    pins = parse_pins(o.pins)
    setup = prepare(o.problem, o.model, o.config, o.power_w, o.macro_setting, o.macro_reuse, o.power_check, fixes,
                    pins=pins, dup=o.dup)
    fidelity = o.fidelity
    search = {
        **setup.identity,
        "problem": o.problem,
        "power_w": float(o.power_w),
        "population": resolved_population(o),
        "algorithm": o.algorithm,
        "objectives": objective_names(objectives),
        "macro_setting": o.macro_setting,
        "macro_reuse": bool(o.macro_reuse),
        "fidelity": fidelity,
        "power_check": o.power_check,
        "fixes": fixes_label(fixes),
        "pins": pins,
        "dup": o.dup,
        "seed": int(o.seed),
        # one objective has no corner phase: its runs hash as they did before the phase
        "corner_fraction": float(o.corner) if len(objectives) > 1 else 0.0,
        "corner_objective": o.corner_objective if len(objectives) > 1 and o.corner > 0 else "first",
    }
    run = {
        "format": outputs.RUN_FORMAT,
        "version": outputs.RUN_VERSION,
        "command": list(argv) if argv is not None else None,
        **search,
        "config_hash": outputs.canonical_hash(_hashed({k: search[k] for k in SEARCH_KEYS})),
        "stop": {"generations": generations, "time_budget_s": o.time_budget_s},
        "workers": int(o.workers),
        "checkpoint_every_s": AUTO if o.checkpoint_every_s == AUTO else float(o.checkpoint_every_s),
        "rescore_every": int(o.rescore_every),
        "polish_fraction": float(o.polish),
        "gene_names": list(setup.problem.gene_names),
        "versions": outputs.versions(),
        **setup.records,
    }
    return setup, run


def _make_run_folder(run_dir: Path, run: dict) -> None:
    """Create the folder and run.json; on an OS error leave no half-made folder behind."""
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        outputs.write_json(run_dir / "run.json", run)
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                (run_dir / "run.json").unlink(missing_ok=True)
                run_dir.rmdir()
        raise InputError(f"cannot create the run folder {run_dir}: {exc.strerror or exc}") from None


def resume(run_dir: str | Path, *, generations: int | None = None, time_budget_s: float | None = None,
           workers: int | None = None, quiet: bool = False, model: str | None = None,
           config: str | None = None, backend: str = "local", scheduler: str | None = None,
           power_check: str | None = None, fixes: Any = None, log_every_s: float = DEFAULT_LOG_EVERY_S,
           started_at: float | None = None, clock: Callable[[], float] = time.monotonic) -> int:
    """Continue ``run_dir`` from its last checkpoint; ``started_at`` as in :func:`start`. A
    time budget is the run's total: this session has what earlier sessions left of it."""
    timing = Timing(clock() if started_at is None else float(started_at), 0.0, clock)
    run_dir = Path(run_dir)
    run = outputs.read_run(run_dir)
    # run.json must hold the settings its checkpoint was made with, before anything is built from them
    settings = check_run_record(run, f"{run_dir / 'run.json'}")
    recomputed = outputs.canonical_hash(settings)
    state = None
    cdir = run_dir / CHECKPOINT_DIR
    if any((cdir / n).exists() for n in (ckpt.LATEST, ckpt.PREVIOUS)):
        loaded = ckpt.load(cdir)
        _refuse_if_not_the_checkpoints(run_dir, run, settings, recomputed, loaded)
        state = loaded.state
        timing.spent_before_s = _spent_before(run, loaded)
    elif recomputed != run["config_hash"]:
        raise InputError(f"cannot resume {run_dir}: run.json's settings ({', '.join(settings)}) do not give its "
                         f"config_hash ({recomputed[:12]} != {run['config_hash'][:12]}): a setting or the hash "
                         f"was edited, and without a checkpoint to compare with the field cannot be named; "
                         f"start a new run")
    model_settings = run_model_settings(run)
    # a power check / set of fixes given on the command line must be the run's: the archive
    # and checkpoints were scored under the run's model
    asked = {"power_check": power_check, "fixes": None if fixes is None else fixes_label(parse_fixes(fixes))}
    recorded = {"power_check": model_settings[0], "fixes": fixes_label(model_settings[1])}
    for key, value in asked.items():
        if value is not None and value != recorded[key]:
            raise InputError(f"cannot resume {run_dir}: it was run with {key.replace('_', '-')} {recorded[key]}, "
                             f"not {value}; start a new run instead")
    if generations is not None and (not _is_int(generations) or generations < 0):
        raise _param_error("generations", "an int >= 0", generations)
    if workers is not None and (not _is_int(workers) or workers < 1):
        raise _param_error("workers", "an int >= 1", workers)
    if time_budget_s is not None and (not isinstance(time_budget_s, (int, float)) or time_budget_s <= 0):
        raise _param_error("time-budget", "a positive duration", time_budget_s)
    _validate_log_every(log_every_s)
    backends.validate(backend, scheduler)
    # a model / config given on the command line must be the run's
    space = run_search_space(run)
    if model is not None or config is not None:
        given = prepare(run["problem"], model or run["model"], config or run.get("hardware_config"),
                        run["power_w"], run["macro_setting"], run["macro_reuse"], *model_settings, **space)
        _refuse_if_changed(run_dir, run, given.identity, "given")
    setup = prepare(run["problem"], run["model"], run.get("hardware_config"), run["power_w"],
                    run["macro_setting"], run["macro_reuse"], *model_settings, **space)
    _refuse_if_changed(run_dir, run, setup.identity, "on disk")
    if state is None and not quiet:
        print(f"evo-pimsyn: no checkpoint in {cdir}; starting the run over from generation 0", file=sys.stderr)
    if generations is not None or time_budget_s is not None:
        run["stop"] = {"generations": generations, "time_budget_s": time_budget_s}
        outputs.write_json(run_dir / "run.json", run)
    workers = workers or int(run.get("workers", 1))
    with backends.open_backend(backend, scheduler, workers=workers):
        return _search(run_dir, setup, run, state, workers=workers, quiet=quiet, timing=timing,
                       log_every_s=log_every_s)


def _check(ok: bool, where: str, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise InputError(f"{where}: field {key!r} must be {rule}, got {value!r}")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive_number(v: Any) -> bool:
    return _number(v) and math.isfinite(v) and v > 0


def _hashed(settings: dict) -> dict:
    """The settings a config hash covers: ``UNHASHED_AT`` keys at their value left out."""
    return {k: v for k, v in settings.items() if not (k in UNHASHED_AT and v == UNHASHED_AT[k])}


def check_run_record(run: dict, where: str = "run.json") -> dict:
    """Check the fields of a run record that resume reads (one-line InputError naming the
    field) and return the settings its config hash covers, as :func:`start` records them.

    The hash covers the ``SEARCH_KEYS`` the run was recorded with: a run from before a
    key existed (``LEGACY_KEYS``: power check, fixes, pins, dup mode, corner phase) was
    hashed without it, and so is a key at its ``UNHASHED_AT`` value."""
    settings: dict = {}
    for key in SEARCH_KEYS:
        if key not in run:
            if key in LEGACY_KEYS:
                continue
            raise InputError(f"{where}: field {key!r} is missing")
        v = run[key]
        if key in ("model_hash", "hardware_hash"):
            _check(isinstance(v, str) and bool(v), where, key, "a hash string", v)
        elif key == "power_w":
            _check(_positive_number(v), where, key, "a positive number of W", v)
            v = float(v)
        elif key in ("population", "seed"):
            low = 4 if key == "population" else 0
            _check(_is_int(v) and v >= low, where, key, f"an int >= {low}", v)
            v = int(v)
        elif key == "macro_reuse":
            _check(isinstance(v, bool), where, key, "true or false", v)
        elif key == "objectives":
            _check(isinstance(v, list) and all(isinstance(n, str) for n in v), where, key, "a list of names", v)
            try:
                v = objective_names(parse_objectives(v))
            except InputError:
                _check(False, where, key, "a list of objective names", v)
        elif key == "fixes":
            try:
                v = fixes_label(parse_fixes(v))
            except InputError:
                _check(False, where, key, "none, all or a comma list of model fixes", v)
        elif key == "pins":
            try:
                v = parse_pins(v)
            except InputError:
                _check(False, where, key, "an object of global gene values", v)
        elif key == "corner_fraction":
            _check(_number(v) and 0.0 <= v <= 1.0, where, key, "a fraction in [0, 1]", v)
            v = float(v)
        elif key == "corner_objective":
            _check(v in CORNER_OBJECTIVES, where, key, f"one of {', '.join(CORNER_OBJECTIVES)}", v)
        else:
            allowed = {"algorithm": loop.ALGORITHMS, "macro_setting": MACRO_SETTINGS, "fidelity": FIDELITIES,
                       "problem": tuple(PREPARERS), "power_check": POWER_CHECKS, "dup": DUP_MODES}[key]
            _check(v in allowed, where, key, f"one of {', '.join(allowed)}", v)
        settings[key] = v
    settings = _hashed(settings)
    _check(isinstance(run.get("config_hash"), str), where, "config_hash", "a hash string", run.get("config_hash"))
    _check(isinstance(run.get("model"), str) and bool(run.get("model")), where, "model", "a model spec",
           run.get("model"))
    _check(run.get("hardware_config") is None or isinstance(run.get("hardware_config"), str), where,
           "hardware_config", "a file path or null", run.get("hardware_config"))
    stop = run.get("stop")
    _check(isinstance(stop, dict), where, "stop", "an object with generations and time_budget_s", stop)
    gens, budget = stop.get("generations"), stop.get("time_budget_s")
    _check(gens is None or (_is_int(gens) and gens >= 0), where, "stop.generations", "an int >= 0 or null", gens)
    _check(budget is None or _positive_number(budget), where, "stop.time_budget_s", "a positive number or null",
           budget)
    optional = {"workers": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
                "checkpoint_every_s": (lambda v: v == AUTO or (_number(v) and math.isfinite(v) and v >= 0),
                                       "seconds >= 0 or auto"),
                "rescore_every": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
                "polish_fraction": (lambda v: _number(v) and 0.0 <= v <= 1.0, "a fraction in [0, 1]")}
    for key, (ok, rule) in optional.items():
        if key in run:
            _check(ok(run[key]), where, key, rule, run[key])
    return settings


def _refuse_if_not_the_checkpoints(run_dir: Path, run: dict, settings: dict, recomputed: str,
                                   loaded: ckpt.Loaded) -> None:
    """The settings run.json holds must be those the checkpoint was made with: the hash
    recomputed from them against the checkpoint's; a field that differs is named from the
    settings the checkpoint records (checkpoints from before they did: the hashes only)."""
    stored = loaded.meta.get("config_hash")
    if recomputed == stored:
        if run["config_hash"] != recomputed:
            raise InputError(f"cannot resume {run_dir}: run.json's config_hash {run['config_hash'][:12]} is not the "
                             f"hash of its settings ({recomputed[:12]}, as its checkpoint's): the field was edited or "
                             f"is damaged; put it back or start a new run")
        return
    recorded = loaded.meta.get("settings")
    if isinstance(recorded, dict):
        missing = object()
        for key in [k for k in SEARCH_KEYS if k in settings or k in recorded]:
            ours, theirs = settings.get(key, missing), recorded.get(key, missing)
            if ours != theirs:
                ours_text = "missing" if ours is missing else f"{ours!r}"
                theirs_text = "without it" if theirs is missing else f"with {theirs!r}"
                raise InputError(f"cannot resume {run_dir}: run.json's {key} is {ours_text} but its checkpoint "
                                 f"{loaded.path.name} was made {theirs_text}: run.json was edited or is damaged; "
                                 f"put {key} back or start a new run")
    if run["config_hash"] == stored:
        raise InputError(f"cannot resume {run_dir}: run.json's settings no longer give its config_hash "
                         f"({recomputed[:12]} != {stored[:12]}): one of {', '.join(settings)} was edited (the "
                         f"checkpoint predates the record that would name it); put it back or start a new run")
    raise InputError(f"cannot resume {run_dir}: checkpoint {loaded.path} belongs to another configuration "
                     f"(config hash {str(stored)[:12]} != {recomputed[:12]})")


def _refuse_if_changed(run_dir: Path, run: dict, identity: dict, what: str) -> None:
    if identity["model_hash"] != run["model_hash"]:
        raise InputError(f"cannot resume {run_dir}: the model {what} ({identity['model']}) differs from the run's "
                         f"{run['model']} (hash {identity['model_hash'][:12]} != {run['model_hash'][:12]}); "
                         f"start a new run instead")
    if identity["hardware_hash"] != run["hardware_hash"]:
        raise InputError(f"cannot resume {run_dir}: the hardware config {what} ({identity['hardware_config']}) "
                         f"differs from the run's (hash {identity['hardware_hash'][:12]} != "
                         f"{run['hardware_hash'][:12]}); start a new run instead")


# ---- the search ----------------------------------------------------------------------
def _search(run_dir: Path, setup: Setup, run: dict, state: loop.State | None, *, workers: int, quiet: bool,
            timing: Timing, log_every_s: float = DEFAULT_LOG_EVERY_S) -> int:
    clock = timing.clock
    objectives = parse_objectives(run["objectives"])
    # runs recorded before the polish phase or the corner phase existed resume without it
    settings = loop.Settings(objectives=objectives, power_w=float(run["power_w"]), population=int(run["population"]),
                             algorithm=run["algorithm"], fidelity=run["fidelity"],
                             polish_fraction=float(run.get("polish_fraction", 0.0)),
                             corner_fraction=float(run.get("corner_fraction", 0.0)),
                             corner_box=run.get("corner_objective", "first") == "box")
    time_budget_s = run["stop"].get("time_budget_s")
    budget = TimeBudget(float(time_budget_s), timing.started_at, timing.spent_before_s, clock) \
        if time_budget_s is not None else None
    finish = FinishCost(workers=workers, clock=clock)
    fn, args = setup.problem.scorer(settings.fidelity)
    _warm_up(setup.problem, settings.fidelity, finish, workers, clock)
    if budget is not None and budget.left() <= 0 and not quiet:
        print(f"evo-pimsyn: start-up (loading or compiling the model's kernels) took "
              f"{clock() - timing.started_at:.1f} s, all of the {budget.total_s - budget.spent_before_s:.1f} s "
              f"budget left; the run scores one generation and finishes", file=sys.stderr)
    stop = loop.Stop(run["stop"].get("generations"), None,
                     SearchDeadline(budget, finish) if budget is not None else None)
    cadence = Cadence.from_setting(run.get("checkpoint_every_s", 0.0), time.monotonic())
    rescore_k = int(run.get("rescore_every", 0))
    cdir = run_dir / CHECKPOINT_DIR
    # the settings too, so that a resume of an edited run.json can name the field that changed
    meta = {"config_hash": run["config_hash"], "model_hash": run["model_hash"], "settings": check_run_record(run)}
    saved = {"generation": state.generation if state is not None else -1}
    # the exact model checks the designs that would become the best (engine/verification.py)
    verify_fidelity = setup.problem.verify_fidelity
    verifier = None
    if verify_fidelity is not None and verify_fidelity != settings.fidelity:
        # on the run's workers: a generation verifies a few designs at milliseconds each,
        # about as long as its whole fast-fidelity batch, which runs in-process when small
        verifier = Evaluator(*setup.problem.scorer(verify_fidelity), workers=workers,
                             min_slice=setup.problem.min_slice(verify_fidelity))
    exact = settings.fidelity == "cycle" or (verifier is not None and len(objectives) == 1)
    # the display's checks and the finish estimate's samples: a design or three at a time,
    # cheaper in this process than a round trip to a worker (a dask one too)
    cycle_in_process = Evaluator(*setup.problem.scorer("cycle"), workers=1, backend=backends.Backend())
    bests = None if quiet else VerifiedBests(objectives, settings.power_w, exact=exact, clock=clock,
                                             observe=finish.observe, verify=None if exact else cycle_in_process)
    progress = Progress(generations=stop.generations, start_generation=state.generation if state is not None else 0,
                        bests=bests, budget=budget, quiet=quiet, log_every_s=log_every_s, clock=clock,
                        started_at=timing.started_at)
    holder: list = []

    def save(st: loop.State) -> None:
        ckpt.save(cdir, st, **meta, budget_spent_s=timing.spent())
        saved.update(generation=st.generation)

    def on_generation(st: loop.State, batch) -> None:
        # generations.csv is rewritten with the checkpoint only (engine/cadence.py)
        t0 = time.monotonic()
        if cadence.due(t0):
            outputs.write_csv(run_dir / "generations.csv", outputs.generations_frame(st.logbook))
            save(st)
            cadence.wrote(t0, time.monotonic())
            finish.save_s = cadence.last_cost  # the finish writes both once more (they grow with the run)
        if rescore_k and st.generation % rescore_k == 0:
            (run_dir / "archive").mkdir(exist_ok=True)
            front, _ = _front_frame(setup, st, settings, workers)
            outputs.write_csv(run_dir / "archive" / f"gen-{st.generation:06d}.csv", front)
        progress.update(st)
        if budget is not None:
            finish.sample(st.archive.genomes, cycle_in_process, clock)

    try:
        with _sigterm_as_interrupt(), Evaluator(fn, args, workers=workers,
                                                min_slice=setup.problem.min_slice(settings.fidelity)) as evaluate, \
                verifier if verifier is not None else contextlib.nullcontext():
            if state is not None:
                outputs.write_csv(run_dir / "generations.csv", outputs.generations_frame(state.logbook))
                progress.update(state)
            final = loop.evolve(setup.problem, evaluate, settings, stop, state=state, seed=int(run["seed"]),
                                on_generation=on_generation, holder=holder, verify=verifier)
            progress.close()
            if state is not None and final.generation == state.generation and _finished(run_dir):
                # nothing was searched: re-scoring would only rewrite the same front, or a
                # worse one when the budget left no time for it
                if not quiet:
                    print(f"{run_dir}: the run had already reached its stop at generation {final.generation}; "
                          f"pareto.csv is unchanged", file=sys.stderr)
                return 0
            if saved["generation"] != final.generation:
                outputs.write_csv(run_dir / "generations.csv", outputs.generations_frame(final.logbook))
                save(final)
            _finish(run_dir, setup, final, settings, workers, quiet, budget=budget, finish=finish)
            # the finish came after the last checkpoint: run.json records the whole session
            run["spent"] = {"generation": final.generation, "budget_s": round(timing.spent(), 3)}
            outputs.write_json(run_dir / "run.json", run)
    except backends.BackendLost as exc:
        return _interrupted(run_dir, holder, state, saved, save, progress, reason=str(exc),
                            code=EXIT_BACKEND_LOST)
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        raise InputError(f"cannot write to {exc.filename or run_dir}: {exc.strerror or exc}; the run stopped "
                         f"(earlier checkpoints are intact: evo-pimsyn resume {run_dir})") from None
    except Exception as exc:
        if not _from_interrupt(exc):
            raise
        return _interrupted(run_dir, holder, state, saved, save, progress)
    except KeyboardInterrupt:
        return _interrupted(run_dir, holder, state, saved, save, progress)
    return 0


# designs of the start-up sample: the first compiles (or loads) the kernels, the others time the cycle model
WARM_UP_DESIGNS = 5
WARM_UP_SEED = 0x5EED  # the sample's own generator: the run's random stream is not touched


def _warm_up(problem, fidelity: str, finish: FinishCost, workers: int, clock: Callable[[], float]) -> None:
    """Compile the model's kernels (the first run after an install) or load them from
    numba's cache before the search, so that the time budget sees their cost up front
    rather than in the first generation or in the final re-scoring; then time the cycle
    model on a few designs for the finish estimate and, with workers, start them."""
    G = np.asarray(problem.initial(WARM_UP_DESIGNS, np.random.default_rng(WARM_UP_SEED)), dtype=np.int64)
    fn, args = problem.scorer(fidelity)
    fn(*args, G[:1])
    cycle_fn, cycle_args = problem.scorer("cycle")
    if fidelity != "cycle":
        cycle_fn(*cycle_args, G[:1])
    t0 = clock()
    cycle_fn(*cycle_args, G[1:])
    finish.observe_prior(len(G) - 1, clock() - t0)
    if workers > 1 and backends.current().name == "local":
        # local workers start (imports, kernel loads) on their first batch: time it as the
        # finish's cost of starting them, which it pays again if they were idle too long.
        # Not on dask: its workers outlive the run, and an evaluator opened and closed here
        # would release the arguments it scattered just as the run's evaluators scatter
        # them again (same key), which dask answers with "lost dependencies"
        with Evaluator(cycle_fn, cycle_args, workers=workers) as evaluate:
            t0 = clock()
            evaluate(np.resize(G, (max(workers, 2), G.shape[1])))
            finish.pool_start_s = clock() - t0
            finish.pool_up_until = clock() + POOL_IDLE_S


def _spent_before(run: dict, loaded: ckpt.Loaded) -> float:
    """Budget the run's earlier sessions spent: up to the checkpoint, or up to the end of the
    session that finished from it (run.json's ``spent``, which counts its final re-scoring)."""
    # checkpoints from before budgets counted whole commands hold the search time only
    at_checkpoint = float(loaded.meta.get("budget_spent_s", loaded.state.elapsed_s))
    record = run.get("spent")
    if isinstance(record, dict) and record.get("generation") == loaded.state.generation:
        try:
            return max(at_checkpoint, float(record.get("budget_s")))
        except (TypeError, ValueError):
            pass
    return at_checkpoint


def _finished(run_dir: Path) -> bool:
    """pareto.csv exists and is at least as new as the last checkpoint."""
    pareto, latest = run_dir / "pareto.csv", run_dir / CHECKPOINT_DIR / ckpt.LATEST
    try:
        return pareto.stat().st_mtime >= latest.stat().st_mtime
    except FileNotFoundError:
        return False


def _from_interrupt(exc: BaseException) -> bool:
    """True when ``exc`` wraps a Ctrl-C: compiled code (numba) that sees the interrupt
    raises e.g. ``SystemError: ... returned a result with an exception set`` on top of it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG, errno.ENOTDIR)


def _interrupted(run_dir: Path, holder: list, state, saved: dict, save, progress, *,
                 reason: str = "interrupted", code: int = EXIT_INTERRUPTED) -> int:
    progress.close()
    last = holder[0] if holder else state
    if last is not None:
        if saved["generation"] != last.generation:
            save(last)
        outputs.write_csv(run_dir / "generations.csv", outputs.generations_frame(last.logbook))
        where = f"checkpoint at generation {last.generation} written"
    else:
        where = "no generation finished, nothing to checkpoint"
    print(f"evo-pimsyn: {reason}; {where}. Resume with: evo-pimsyn resume {run_dir}", file=sys.stderr)
    return code


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM ends the run like Ctrl-C (checkpoint + resume hint); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _front_frame(setup: Setup, st: loop.State, settings: loop.Settings, workers: int, *,
                 until: float | None = None, finish: FinishCost | None = None,
                 clock: Callable[[], float] = time.monotonic) -> tuple[pd.DataFrame, int]:
    """The archive re-scored with the cycle evaluator, as pareto.csv rows, and how many
    rows were. With ``until`` (a ``clock`` time: the time budget's end) the archive is
    re-scored in chunks, the designs that matter most first (timebudget.rescore_order),
    while they fit; the other rows are scored with the analytic model (milliseconds for
    the lot) and say so in column ``fidelity``."""
    G = st.archive.genomes
    n = len(G)
    if not n:
        frame = pd.DataFrame({o.column: [] for o in settings.objectives} | {"feasible": []})
        designs = pd.DataFrame(index=pd.RangeIndex(0))
        return outputs.pareto_frame(G, st.archive.objectives, frame, designs, setup.problem.gene_names,
                                    settings.objectives, fidelity="cycle", search_fidelity=settings.fidelity,
                                    model=setup.model), 0
    fn, args = setup.problem.scorer("cycle")
    parts: list[pd.DataFrame] = []
    done = np.zeros(n, dtype=bool)
    with Evaluator(fn, args, workers=workers) as evaluate:
        if until is None:
            parts.append(evaluate(G).set_axis(pd.RangeIndex(n)))
            done[:] = True
        else:
            finish = finish if finish is not None else FinishCost(workers=workers)
            for k, rows in enumerate(plan_rescoring(rescore_order(st.archive.objectives), finish, until, clock)):
                t0 = clock()
                parts.append(evaluate(G[rows]).set_axis(pd.Index(rows)))
                if k or workers == 1:  # the first remote chunk may have started the workers
                    finish.observe(len(rows), (clock() - t0) * finish.speedup(len(rows)))
                done[rows] = True
    fidelity = np.where(done, "cycle", "analytic")
    if not done.all():
        rest = np.flatnonzero(~done)
        afn, aargs = setup.problem.scorer("analytic")
        parts.append(afn(*aargs, G[rest]).reset_index(drop=True).set_axis(pd.Index(rest)))
    # back in archive order, even from a single chunk (it comes in rescore_order's order):
    # pareto_frame pairs the frame's rows with the genomes by position
    frame = pd.concat(parts).sort_index()
    return outputs.pareto_frame(G, st.archive.objectives, frame, setup.design_table(G), setup.problem.gene_names,
                                settings.objectives, fidelity=fidelity.tolist(), search_fidelity=settings.fidelity,
                                model=setup.model), int(done.sum())


def _finish(run_dir: Path, setup: Setup, st: loop.State, settings: loop.Settings, workers: int, quiet: bool, *,
            budget: TimeBudget | None = None, finish: FinishCost | None = None) -> None:
    clock = budget.clock if budget is not None else time.monotonic
    front, rescored = _front_frame(setup, st, settings, workers, until=budget.end if budget is not None else None,
                                   finish=finish, clock=clock)
    if rescored < len(front) and not quiet:
        print(f"evo-pimsyn: the time budget left time to re-score {rescored} of the {len(front)} front designs "
              f"with the cycle model; the other {len(front) - rescored} rows of pareto.csv keep the analytic "
              f"model's values (column fidelity)", file=sys.stderr)
    # a design the exact model refuses (over the budget, say, where the estimate was not) is
    # no front design: it goes to refused.csv, with its reason, instead of pareto.csv
    refused = (front["fidelity"].to_numpy() == "cycle") & ~front["feasible"].to_numpy(dtype=bool) \
        if len(front) else np.zeros(0, dtype=bool)
    front, rejected = front[~refused].reset_index(drop=True), front[refused].reset_index(drop=True)
    outputs.write_csv(run_dir / "pareto.csv", front)
    (run_dir / REFUSED_CSV).unlink(missing_ok=True)
    if len(rejected):
        outputs.write_csv(run_dir / REFUSED_CSV, rejected)
        if not quiet:
            reasons = ", ".join(f"{n} {r}" for r, n in rejected["reason"].value_counts().items())
            print(f"evo-pimsyn: the cycle model refused {len(rejected)} of the search's {len(front) + len(rejected)} "
                  f"front designs ({reasons}); they are in {REFUSED_CSV}, not in pareto.csv", file=sys.stderr)
    best_line = "no feasible design found"
    if len(front) and "efficiency_gops_w" in front:
        eff = front["efficiency_gops_w"].to_numpy(dtype=np.float64)
        ok = front["feasible"].to_numpy(dtype=bool) & np.isfinite(eff)
        exact = ok & (front["fidelity"].to_numpy() == "cycle")
        pick = exact if exact.any() else ok
        if pick.any():
            i = int(np.flatnonzero(pick)[np.argmax(eff[pick])])
            how = "cycle-evaluated" if exact.any() else "analytic estimate: no time was left to re-score it"
            best_line = f"best efficiency {eff[i]:.1f} GOPS/W ({how})"
            arch = setup.architecture(st.archive.genomes[int(front["design"].iloc[i])])
            if arch is not None:
                outputs.write_best(run_dir / "best.json", arch)
                outputs.write_pimcomp(run_dir / "pimcomp.json", arch)
    if not quiet:
        took = f" in {clock() - budget.started_at:.1f} s (budget {budget.total_s - budget.spent_before_s:.1f} s)" \
            if budget is not None else ""
        print(f"{run_dir}: {st.generation} generations, {st.evaluations} evaluations, "
              f"{len(front)} designs on the front; {best_line}{took}", file=sys.stderr)
