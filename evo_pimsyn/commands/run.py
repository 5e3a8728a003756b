"""``evo-pimsyn run``: start a GA run in a new run folder."""

from __future__ import annotations

import argparse
import sys

from evo_pimsyn.engine.objectives import DEFAULT_OBJECTIVES, OBJECTIVES
from evo_pimsyn.engine.session import (CORNER_OBJECTIVES, DEFAULT_CORNER, DEFAULT_CORNER_OBJECTIVE, RunOptions,
                                      parse_duration, start)
from evo_pimsyn.engine.timebudget import process_started_at
from evo_pimsyn.messages import use_cli_format
from fitness.budget import DEFAULT_POWER_CHECK, POWER_CHECKS
from fitness.errors import InputError
from fitness.fixes import FIXES


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}")
    return value


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"must be a duration such as 90s, 10m or 1h30m, got {text!r}") from exc


def _cadence(text: str) -> float | str:
    word = text.strip().lower()
    if word == "auto":
        return "auto"
    return 0.0 if word == "0" else _duration(text)


TIME_BUDGET_HELP = ("bound on the command's wall time, e.g. 90s, 10m, 1h30m: from its start to the last file "
                    "written, including start-up (compiling the model's kernels on the first run after an install, "
                    "or loading them), the search and its checkpoints, and the final re-scoring of the front with "
                    "the cycle model and pareto.csv/best.json; the search stops early enough to leave the "
                    "re-scoring its time (if the front is too large for it, the designs not re-scored keep the "
                    "analytic model's values, column fidelity of pareto.csv). Met within 5%% or 5 s, whichever "
                    "is larger")


def add_stop_arguments(p: argparse.ArgumentParser, *, resume: bool = False) -> None:
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--generations", type=_int_at_least(0), metavar="N",
                      help="stop after generation N (generation 0 is the initial population; default 100)")
    stop.add_argument("--time-budget", type=_duration, metavar="DURATION",
                      help=TIME_BUDGET_HELP + (". The run's total: its earlier commands' time (up to their last "
                                               "checkpoint) counts" if resume else ""))


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--log-every", type=_duration, default=30.0, metavar="DURATION",
                   help="when stderr is not a terminal (a log file, a batch job): one progress line this often "
                        "(generation, evaluations/s, best values verified with the cycle model, time left) "
                        "instead of a progress bar (default 30s)")


POPULATION_HELP = ("population size (default: 256 when the objectives are efficiency alone, whose generations cost "
                   "mostly their cycle-model checks; 128 with several objectives; 64 for another single one)")
CORNER_HELP = ("several objectives: spend the last FRACTION of the generations or time budget climbing one "
               "corner of the front (--corner-objective) with a single-objective population of 256 seeded from "
               "the front, its would-be bests checked with the cycle evaluator; the designs it finds join the "
               "front; 0 turns it off (default %(default)s)")
POWER_CHECK_HELP = ("strict (default): a design whose peak power (crossbars used, allocated components, scratchpad "
                    "leakage, NoC) exceeds the budget is infeasible; pimsyn: PIMSYN's verdict (its ceilinged "
                    "allocation can put peak power a few %% above the budget, see power_margin_w)")
FIXES_HELP = ("model fixes of PIMSYN's shortcuts (docs/model-fixes.md): none (default: PIMSYN's model), all, or a "
              "comma list of " + ", ".join(FIXES))


def add_model_arguments(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """--power-check and --fixes: how designs are scored (``defaults`` False: no default,
    for commands that take them from a run and only check a given value against it)."""
    p.add_argument("--power-check", choices=POWER_CHECKS, default=DEFAULT_POWER_CHECK if defaults else None,
                   help=POWER_CHECK_HELP if defaults else "refuse unless the run was made with this power check")
    # not argparse choices: a comma list, checked by fitness.fixes.parse_fixes (one-line error)
    p.add_argument("--fixes", default="none" if defaults else None, metavar="none|all|NAME,...",
                   help=FIXES_HELP if defaults else "refuse unless the run was made with these fixes")


PIN_HELP = ("fix global genes of the search, NAME=VALUE[,NAME=VALUE...] with NAME from xbar_size (rows), rram_res "
            "(bits per cell), dac_res (bits), rram_ratio (share of the power for crossbars, 0.10..0.40 step 0.01), "
            "macro_size (crossbars per macro, unified setting); a value no legal design can have is refused")
DUP_HELP = ("weight duplication: searched (default), proportional (PIMSYN's rule: each conv layer's copies "
            "proportional to its output pixels W*H, filling the crossbar budget) or one (no duplication)")


def add_space_arguments(p: argparse.ArgumentParser) -> None:
    """--pin and --dup: the part of the design space a run fixes."""
    p.add_argument("--pin", metavar="NAME=VALUE,...", help=PIN_HELP)
    p.add_argument("--dup", choices=("searched", "proportional", "one"), default="searched", help=DUP_HELP)


def add_backend_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="where batches are scored: local processes (default) or a dask.distributed cluster; "
                        "results do not depend on it")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="dask scheduler, e.g. tcp://HOST:8786 (with --backend dask; default: a local cluster "
                        "of --workers processes)")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="search the design space with a multi-objective GA",
        description="Start a GA run. Writes runs/NAME/ with run.json, generations.csv, pareto.csv, "
                    "best.json, pimcomp.json and checkpoints (resume with `evo-pimsyn resume runs/NAME`).",
    )
    p.add_argument("--model", required=True, help="zoo:NAME, an .onnx file or a network .json")
    p.add_argument("--power", type=_positive_float, required=True, metavar="W", help="total power budget, W")
    p.add_argument("--config", metavar="FILE", help="hardware config (PIMSYN config.json format; default "
                                                    "configs/pimsyn_date24.json)")
    add_stop_arguments(p)
    p.add_argument("--population", type=_int_at_least(4), default=None, metavar="N", help=POPULATION_HELP)
    p.add_argument("--workers", type=_int_at_least(1), default=1, metavar="N",
                   help="evaluation processes (default 1: in-process); results do not depend on it")
    add_backend_arguments(p)
    p.add_argument("--seed", type=_int_at_least(0), default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--objectives", default=",".join(DEFAULT_OBJECTIVES), metavar="LIST",
                   help=f"comma list from {{{','.join(OBJECTIVES)}}} (default {','.join(DEFAULT_OBJECTIVES)}); "
                        "'efficiency' alone searches like PIMSYN")
    p.add_argument("--algorithm", choices=("nsga2", "nsga3"), default="nsga2", help="survival selection (default nsga2)")
    p.add_argument("--macro-setting", choices=("specified", "unified"), default="specified",
                   help="per-layer (specified) or identical (unified) macros (default specified)")
    p.add_argument("--macro-reuse", action=argparse.BooleanOptionalAction, default=True,
                   help="allow two layers to share macros (default on)")
    p.add_argument("--fidelity", choices=("analytic", "cycle"), default="analytic",
                   help="evaluator used during the search (default analytic; the final front is always "
                        "re-scored with the cycle evaluator)")
    add_model_arguments(p)
    add_space_arguments(p)
    p.add_argument("--polish", type=_fraction, default=0.1, metavar="FRACTION",
                   help="single objective: spend the last FRACTION of the generations or time budget polishing "
                        "the best design (its neighbours ranked by the search fidelity, the best of them "
                        "checked with the cycle evaluator); with several objectives, the last FRACTION of the "
                        "corner phase (--corner); 0 turns it off (default 0.1)")
    p.add_argument("--corner", type=_fraction, default=DEFAULT_CORNER, metavar="FRACTION",
                   help=CORNER_HELP)
    p.add_argument("--corner-objective", choices=CORNER_OBJECTIVES, default=DEFAULT_CORNER_OBJECTIVE,
                   help="what the corner phase climbs: box (default), each design's own hypervolume box in all "
                        "objectives (its product of gains over the run's hypervolume reference); first, the "
                        "first objective alone")
    p.add_argument("--checkpoint-every", type=_cadence, default="auto", metavar="DURATION",
                   help="checkpoint (and rewrite generations.csv) at most this often; 0: every generation; "
                        "auto (default): every generation while that is cheap, then as often as keeps "
                        "checkpoints under 5%% of the run's time")
    p.add_argument("--rescore-every", type=_int_at_least(0), default=0, metavar="K",
                   help="every K generations also write archive/gen-NNNNNN.csv re-scored with the cycle evaluator")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/MODEL-POWERW-seedS)")
    add_output_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started_at = process_started_at()  # a time budget counts the interpreter's start too
    _cli_warnings()
    options = RunOptions(
        model=args.model, power_w=args.power, config=args.config, generations=args.generations,
        time_budget_s=args.time_budget, population=args.population, workers=args.workers, seed=args.seed,
        objectives=args.objectives, algorithm=args.algorithm, macro_setting=args.macro_setting,
        macro_reuse=args.macro_reuse, fidelity=args.fidelity, power_check=args.power_check, fixes=args.fixes,
        pins=args.pin, dup=args.dup,
        checkpoint_every_s=args.checkpoint_every, polish=args.polish, corner=args.corner,
        corner_objective=args.corner_objective,
        rescore_every=args.rescore_every, out=args.out, quiet=args.quiet, log_every_s=args.log_every,
        backend=args.backend, scheduler=args.scheduler,
    )
    return start(options, argv=["evo-pimsyn", *sys.argv[1:]], started_at=started_at)


def _cli_warnings() -> None:
    use_cli_format()
