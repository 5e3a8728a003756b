"""``evo-pimsyn study``: a campaign of runs over models, powers, seeds and varied options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evo_pimsyn.commands.run import (FIXES_HELP, POWER_CHECK_HELP, _cadence, _cli_warnings, _fraction, _int_at_least,
                                     add_backend_arguments, add_stop_arguments)
from fitness.errors import InputError

# study options that define the cells; --resume takes them from study.json instead
DEFINING = ("preset", "name", "models", "powers", "seeds", "vary", "vary_mode", "generations", "time_budget",
            "config", "population", "objectives", "algorithm", "macro_setting", "macro_reuse", "fidelity",
            "power_check", "fixes", "pin", "dup", "polish", "corner", "corner_objective", "checkpoint_every")


def add_parser(subparsers) -> None:
    from evo_pimsyn.engine.session import CORNER_OBJECTIVES
    from evo_pimsyn.study.presets import PRESETS
    from evo_pimsyn.study.spec import VARY_MODES, vary_option_text

    options = vary_option_text()
    p = subparsers.add_parser(
        "study", help="run a grid of runs (models x powers x seeds x varied options) and compare them",
        description="Run every cell of a grid as an ordinary run folder under studies/NAME/runs/, over --workers "
                    "processes (or a dask cluster), then write studies/NAME/study.csv (one row per cell) and "
                    "report.html. Rerunning the same command, or `study --resume DIR`, skips finished cells and "
                    "resumes unfinished ones from their checkpoints.",
    )
    p.add_argument("--resume", metavar="DIR", help="continue the study in DIR with its recorded options")
    p.add_argument("--preset", choices=tuple(PRESETS), help="a named study; options given here override its own "
                   "(pimsyn-ablations: PIMSYN's three ablations on its five networks at 49 W, 2 seeds)")
    p.add_argument("--name", help="study name: its folder is studies/NAME (default: the preset's name)")
    p.add_argument("--out", metavar="DIR", help="study folder (default studies/NAME)")
    p.add_argument("--models", metavar="LIST", help="comma list of models (zoo:NAME, pimsyn:NAME, .onnx or .json)")
    p.add_argument("--powers", metavar="LIST", help="comma list of total power budgets, W")
    p.add_argument("--seeds", metavar="LIST", help="comma list of seeds (default 0)")
    p.add_argument("--vary", action="append", metavar="OPTION=V1,V2,...",
                   help=f"an option to vary (repeatable), OPTION one of {options}; inside one value of objectives "
                        "or fixes write + for the comma")
    p.add_argument("--vary-mode", choices=VARY_MODES,
                   help="grid (default): every combination of the varied values; one-at-a-time: the first values "
                        "and each other value of one option at a time (an ablation)")
    add_stop_arguments(p)
    p.add_argument("--config", metavar="FILE", help="hardware config of every cell (default configs/pimsyn_date24.json)")
    p.add_argument("--population", type=_int_at_least(4), metavar="N",
                   help="population size (run's default: 256 for efficiency alone, 128 for several objectives, "
                        "64 for another single one)")
    p.add_argument("--objectives", metavar="LIST", help="comma list of objectives (run's default)")
    p.add_argument("--algorithm", choices=("nsga2", "nsga3"))
    p.add_argument("--macro-setting", choices=("specified", "unified"))
    p.add_argument("--macro-reuse", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--fidelity", choices=("analytic", "cycle"))
    p.add_argument("--power-check", choices=("strict", "pimsyn"), help=POWER_CHECK_HELP)
    p.add_argument("--fixes", metavar="none|all|NAME,...", help=FIXES_HELP)
    p.add_argument("--pin", metavar="NAME=VALUE,...", help="pinned global genes of every cell (see run --pin)")
    p.add_argument("--dup", choices=("searched", "proportional", "one"), help="weight duplication of every cell")
    p.add_argument("--polish", type=_fraction, metavar="FRACTION")
    p.add_argument("--corner", type=_fraction, metavar="FRACTION",
                   help="the corner phase of every cell (see run --corner)")
    p.add_argument("--corner-objective", choices=CORNER_OBJECTIVES,
                   help="what every cell's corner phase climbs (see run --corner-objective)")
    p.add_argument("--checkpoint-every", type=_cadence, metavar="DURATION")
    p.add_argument("--workers", type=_int_at_least(1), metavar="N",
                   help="cells run at once (default 1; on resume, the study's); with fewer cells than workers each "
                        "cell gets workers // cells processes")
    add_backend_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def _list(text: str | None, what: str, parse) -> list | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    if any(not t for t in items):
        raise InputError(f"The '{what}' parameter must be a comma list without empty items. Got {text!r} instead.")
    try:
        return [parse(t) for t in items]
    except ValueError:
        raise InputError(f"The '{what}' parameter must be a comma list of {parse.__name__}s. Got {text!r} instead.") \
            from None


def spec_from_args(args: argparse.Namespace):
    from evo_pimsyn.study.presets import get_preset
    from evo_pimsyn.study.spec import StudySpec, parse_vary

    preset = get_preset(args.preset) if args.preset else None
    models = _list(args.models, "models", str) or (list(preset.models) if preset else None)
    powers = _list(args.powers, "powers", float) or (list(preset.powers) if preset else None)
    if not models:
        raise InputError("a study needs --models (or a --preset)")
    if not powers:
        raise InputError("a study needs --powers (or a --preset)")
    seeds = _list(args.seeds, "seeds", int) or (list(preset.seeds) if preset else [0])
    vary = [parse_vary(v) for v in args.vary] if args.vary else \
        ([(a, list(v)) for a, v in preset.vary] if preset else [])
    base = dict(preset.base) if preset else {}
    given = {"config": args.config, "population": args.population, "objectives": args.objectives,
             "algorithm": args.algorithm, "macro_setting": args.macro_setting, "macro_reuse": args.macro_reuse,
             "fidelity": args.fidelity, "power_check": args.power_check, "fixes": args.fixes, "pins": args.pin,
             "dup": args.dup, "polish": args.polish, "corner": args.corner,
             "corner_objective": args.corner_objective, "checkpoint_every_s": args.checkpoint_every,
             "generations": args.generations, "time_budget_s": args.time_budget}
    if args.generations is not None or args.time_budget is not None:  # one stop rule: the one given
        base.pop("generations", None)
        base.pop("time_budget_s", None)
    base.update({k: v for k, v in given.items() if v is not None})
    if base.get("config") is not None:
        base["config"] = str(Path(base["config"]).expanduser().resolve())
    return StudySpec(models=models, powers=powers, seeds=seeds, vary=vary,
                     vary_mode=args.vary_mode or (preset.vary_mode if preset else "grid"), base=base,
                     preset=preset.name if preset else None)


def run(args: argparse.Namespace) -> int:
    from evo_pimsyn.study.runner import resume_study, run_study

    _cli_warnings()
    argv = ["evo-pimsyn", *sys.argv[1:]]
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in DEFINING if getattr(args, k) not in (None, False, [])]
        if given or args.out:
            raise InputError(f"--resume continues the study with its recorded options; drop {', '.join(given or ['--out'])}")
        return resume_study(args.resume, workers=args.workers, backend=args.backend, scheduler=args.scheduler,
                            quiet=args.quiet)
    spec = spec_from_args(args)
    name = args.name or spec.preset
    if not name and not args.out:
        raise InputError("give the study a --name (its folder is studies/NAME) or an --out folder")
    out = Path(args.out) if args.out else Path("studies") / name
    return run_study(spec, out, name=name or out.name, workers=args.workers or 1, backend=args.backend,
                     scheduler=args.scheduler, quiet=args.quiet, argv=argv)
