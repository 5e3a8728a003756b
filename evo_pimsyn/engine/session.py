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
from typing import Any

import numpy as np
import pandas as pd

from evo_pimsyn.engine import backends
from evo_pimsyn.engine import checkpoint as ckpt
from evo_pimsyn.engine import loop, outputs
from evo_pimsyn.engine.cadence import AUTO, Cadence
from evo_pimsyn.engine.evaluation import Evaluator
from evo_pimsyn.engine.objectives import objective_names, parse_objectives
from evo_pimsyn.engine.problem import FIDELITIES
from evo_pimsyn.engine.progress import Progress
from evo_pimsyn.engine.setup import Setup, model_name, prepare, run_model_settings, run_search_space
from fitness.budget import DEFAULT_POWER_CHECK, POWER_CHECKS
from fitness.errors import InputError
from fitness.fixes import fixes_label, parse_fixes
from genomes.layout import DUP_MODES, parse_pins

EXIT_INTERRUPTED = 130
EXIT_BACKEND_LOST = 75  # EX_TEMPFAIL: the cluster went away; resume later
DEFAULT_GENERATIONS = 100
MACRO_SETTINGS = ("specified", "unified")
CHECKPOINT_DIR = "checkpoints"
# run.json settings that define the search; anything else (stop rule, workers,
# checkpoint cadence, output) may differ between sessions without changing results.
SEARCH_KEYS = ("model_hash", "power_w", "hardware_hash", "population", "algorithm", "objectives",
               "macro_setting", "macro_reuse", "fidelity", "seed", "problem", "power_check", "fixes", "pins", "dup")



@dataclass(kw_only=True)
class RunOptions:
    model: str
    power_w: float
    config: str | None = None
    generations: int | None = None
    time_budget_s: float | None = None
    population: int = 64
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
    out: str | None = None
    quiet: bool = False
    problem: str = "pim"  # "toy": the synthetic problem of engine/toy.py (tests)
    backend: str = "local"  # "dask": evaluate on a dask.distributed cluster (engine/backends.py)
    scheduler: str | None = None  # dask scheduler address; None: a LocalCluster of `workers` processes


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
    if not _is_int(o.population) or o.population < 4:
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
    if not _is_int(o.rescore_every) or o.rescore_every < 0:
        raise _param_error("rescore-every", "an int >= 0", o.rescore_every)
    parse_objectives(o.objectives)
    backends.validate(o.backend, o.scheduler)


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


def start(o: RunOptions, *, argv: list[str] | None = None) -> int:
    validate(o)
    run_dir = Path(o.out) if o.out else default_out(o)
    if (run_dir / "run.json").exists():
        raise InputError(f"{run_dir} already holds a run; continue it with `evo-pimsyn resume {run_dir}` "
                         f"or choose another --out")
    setup, run = plan(o, argv=argv)
    with backends.open_backend(o.backend, o.scheduler, workers=o.workers):
        _make_run_folder(run_dir, run)
        return _search(run_dir, setup, run, None, workers=o.workers, quiet=o.quiet)


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
        "population": int(o.population),
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
    }
    run = {
        "format": outputs.RUN_FORMAT,
        "version": outputs.RUN_VERSION,
        "command": list(argv) if argv is not None else None,
        **search,
        "config_hash": outputs.canonical_hash({k: search[k] for k in SEARCH_KEYS}),
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
           power_check: str | None = None, fixes: Any = None) -> int:
    run_dir = Path(run_dir)
    run = outputs.read_run(run_dir)
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
    state = None
    cdir = run_dir / CHECKPOINT_DIR
    if any((cdir / n).exists() for n in (ckpt.LATEST, ckpt.PREVIOUS)):
        loaded = ckpt.load(cdir)
        if loaded.meta.get("config_hash") != run["config_hash"]:
            raise InputError(f"cannot resume {run_dir}: checkpoint {loaded.path} belongs to another configuration "
                             f"(config hash {str(loaded.meta.get('config_hash'))[:12]} != {run['config_hash'][:12]})")
        state = loaded.state
    elif not quiet:
        print(f"evo-pimsyn: no checkpoint in {cdir}; starting the run over from generation 0", file=sys.stderr)
    if generations is not None or time_budget_s is not None:
        run["stop"] = {"generations": generations, "time_budget_s": time_budget_s}
        outputs.write_json(run_dir / "run.json", run)
    workers = workers or int(run.get("workers", 1))
    with backends.open_backend(backend, scheduler, workers=workers):
        return _search(run_dir, setup, run, state, workers=workers, quiet=quiet)


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
def _search(run_dir: Path, setup: Setup, run: dict, state: loop.State | None, *, workers: int, quiet: bool) -> int:
    objectives = parse_objectives(run["objectives"])
    # runs recorded before the polish phase existed resume without it
    settings = loop.Settings(objectives=objectives, power_w=float(run["power_w"]), population=int(run["population"]),
                             algorithm=run["algorithm"], fidelity=run["fidelity"],
                             polish_fraction=float(run.get("polish_fraction", 0.0)))
    stop = loop.Stop(run["stop"].get("generations"), run["stop"].get("time_budget_s"))
    cadence = Cadence.from_setting(run.get("checkpoint_every_s", 0.0), time.monotonic())
    rescore_k = int(run.get("rescore_every", 0))
    cdir = run_dir / CHECKPOINT_DIR
    meta = {"config_hash": run["config_hash"], "model_hash": run["model_hash"]}
    saved = {"generation": state.generation if state is not None else -1}
    eff_col = "best_efficiency_gops_w" if "efficiency" in run["objectives"] else None
    progress = Progress(generations=stop.generations, time_budget_s=stop.time_budget_s,
                        start_generation=state.generation if state is not None else 0, quiet=quiet,
                        efficiency_column=eff_col)
    fn, args = setup.problem.scorer(settings.fidelity)
    # the exact model checks the designs that would become the best (engine/verification.py)
    verify_fidelity = setup.problem.verify_fidelity
    verifier = None
    if verify_fidelity is not None and verify_fidelity != settings.fidelity:
        # on the run's workers: a generation verifies a few designs at milliseconds each,
        # about as long as its whole fast-fidelity batch, which runs in-process when small
        verifier = Evaluator(*setup.problem.scorer(verify_fidelity), workers=workers,
                             min_slice=setup.problem.min_slice(verify_fidelity))
    holder: list = []

    def save(st: loop.State) -> None:
        ckpt.save(cdir, st, **meta)
        saved.update(generation=st.generation)

    def on_generation(st: loop.State, batch) -> None:
        # generations.csv is rewritten with the checkpoint only (engine/cadence.py)
        t0 = time.monotonic()
        if cadence.due(t0):
            outputs.write_csv(run_dir / "generations.csv", outputs.generations_frame(st.logbook))
            save(st)
            cadence.wrote(t0, time.monotonic())
        if rescore_k and st.generation % rescore_k == 0:
            (run_dir / "archive").mkdir(exist_ok=True)
            front = _front_frame(setup, st, settings, workers)
            outputs.write_csv(run_dir / "archive" / f"gen-{st.generation:06d}.csv", front)
        progress.update(st)

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
            if saved["generation"] != final.generation:
                outputs.write_csv(run_dir / "generations.csv", outputs.generations_frame(final.logbook))
                save(final)
            _finish(run_dir, setup, final, settings, workers, quiet)
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


def _front_frame(setup: Setup, st: loop.State, settings: loop.Settings, workers: int) -> pd.DataFrame:
    """The archive re-scored with the cycle evaluator, as pareto.csv rows."""
    G = st.archive.genomes
    fn, args = setup.problem.scorer("cycle")
    if len(G):
        with Evaluator(fn, args, workers=workers) as evaluate:
            frame = evaluate(G)
    else:
        frame = pd.DataFrame({o.column: [] for o in settings.objectives} | {"feasible": []})
    designs = setup.design_table(G) if len(G) else pd.DataFrame(index=pd.RangeIndex(0))
    return outputs.pareto_frame(G, st.archive.objectives, frame, designs, setup.problem.gene_names,
                                settings.objectives, fidelity="cycle", search_fidelity=settings.fidelity,
                                model=setup.model)


def _finish(run_dir: Path, setup: Setup, st: loop.State, settings: loop.Settings, workers: int, quiet: bool) -> None:
    front = _front_frame(setup, st, settings, workers)
    outputs.write_csv(run_dir / "pareto.csv", front)
    best_line = "no feasible design found"
    if len(front) and "efficiency_gops_w" in front:
        eff = front["efficiency_gops_w"].to_numpy(dtype=np.float64)
        ok = front["feasible"].to_numpy(dtype=bool) & np.isfinite(eff)
        if ok.any():
            i = int(np.flatnonzero(ok)[np.argmax(eff[ok])])
            best_line = f"best efficiency {eff[i]:.1f} GOPS/W (cycle-evaluated)"
            arch = setup.architecture(st.archive.genomes[i])
            if arch is not None:
                outputs.write_best(run_dir / "best.json", arch)
                outputs.write_pimcomp(run_dir / "pimcomp.json", arch)
    if not quiet:
        print(f"{run_dir}: {st.generation} generations, {st.evaluations} evaluations, "
              f"{len(front)} designs on the front; {best_line}", file=sys.stderr)
