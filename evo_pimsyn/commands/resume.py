"""``evo-pimsyn resume``: continue a run from its last checkpoint."""

from __future__ import annotations

import argparse

from evo_pimsyn.commands.run import (_cli_warnings, _int_at_least, add_backend_arguments, add_model_arguments,
                                     add_output_arguments, add_stop_arguments)
from evo_pimsyn.engine.session import resume
from evo_pimsyn.engine.timebudget import process_started_at


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "resume", help="continue a run from its last checkpoint",
        description="Continue runs/NAME from its last checkpoint (the previous one if the last is damaged). "
                    "--generations / --time-budget set a new total target; without them the run's own target "
                    "applies. The model, hardware config, power check and model fixes must be unchanged.",
    )
    p.add_argument("run_dir", metavar="RUN", help="the run folder (runs/NAME)")
    add_stop_arguments(p, resume=True)
    p.add_argument("--workers", type=_int_at_least(1), metavar="N", help="evaluation processes (default: the run's)")
    add_backend_arguments(p)
    p.add_argument("--model", help="refuse to resume unless the run's model is this one")
    p.add_argument("--config", metavar="FILE", help="refuse to resume unless the run's hardware config is this one")
    add_model_arguments(p, defaults=False)
    add_output_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started_at = process_started_at()
    _cli_warnings()
    return resume(args.run_dir, generations=args.generations, time_budget_s=args.time_budget, workers=args.workers,
                  quiet=args.quiet, model=args.model, config=args.config, backend=args.backend,
                  scheduler=args.scheduler, power_check=args.power_check, fixes=args.fixes,
                  log_every_s=args.log_every, started_at=started_at)
