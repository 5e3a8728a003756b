"""``evo-pimsyn pimsyn``: PIMSYN's command line, run by our GA.

Takes PIMSYN's ``main.py`` flags as its README uses them, so its examples run with
``evo-pimsyn pimsyn`` in place of ``python main.py``::

    evo-pimsyn pimsyn --onnx_path ./model/alexnet.onnx --network ./network/alexnet.json \
        --total_power 49 --macro_setting specified --config ./config.json --macro_reuse True \
        --output ./output/alexnet.json --pimcomp ./output/alexnet_pimcomp.json

As in PIMSYN, ``--network`` is the network JSON to read when there is no ``--onnx_path``
and the file the converted network is written to when there is (PIMCOMP's node-list
format, :mod:`fitness.pimcomp_export`). Under the hood: ``evo-pimsyn run`` with the single
objective ``efficiency`` (PIMSYN's), stopped by ``--time-budget``; the best design is
written to ``--output`` (PIMSYN's output format) and ``--pimcomp`` (its PIMCOMP config)
with the engine's writers. Two deliberate differences: ``--macro_reuse False`` turns
sharing off (PIMSYN parses it with ``type=bool``, so there any value, "False" included,
turns it on; MODEL.md Q6), and ``--pimcomp`` is written in both macro settings (PIMSYN
writes it only for unified macros).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from evo_pimsyn.commands.run import TIME_BUDGET_HELP, _duration, _int_at_least, _positive_float
from evo_pimsyn.engine import outputs
from evo_pimsyn.engine.session import RunOptions, start
from evo_pimsyn.engine.timebudget import process_started_at
from evo_pimsyn.models import load_model
from fitness.errors import InputError
from fitness.jsonio import read_json
from fitness.pimcomp_export import network_to_pimcomp

DEFAULT_BUDGET = "3m"
TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"must be True or False, got {text!r}")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "pimsyn", help="PIMSYN-compatible entry point (its main.py flags and output files)",
        description="Run PIMSYN's command line with evo-pimsyn's GA (single objective: power efficiency). "
                    "PIMSYN's README examples run unchanged apart from the program name.",
    )
    g = p.add_argument_group("PIMSYN's flags")
    g.add_argument("--onnx_path", metavar="FILE", help="ONNX model to convert (its network JSON goes to --network)")
    g.add_argument("--network", metavar="FILE",
                   help="network JSON (PIMCOMP format): read when there is no --onnx_path, written when there is")
    g.add_argument("--total_power", type=_positive_float, required=True, metavar="W", help="total power budget, W")
    g.add_argument("--macro_setting", choices=("unified", "specified"), default="specified",
                   help="identical (unified) or per-layer (specified) macros (default specified)")
    g.add_argument("--config", metavar="FILE", help="PIMSYN config.json (default configs/pimsyn_date24.json, PIMSYN's)")
    g.add_argument("--macro_reuse", type=_bool, default=True, metavar="True|False",
                   help="allow layers to share macros (default True). Unlike PIMSYN, which parses this flag with "
                        "type=bool so that 'False' also means True, False here turns sharing off")
    g.add_argument("--output", metavar="FILE", help="best design in PIMSYN's output format (default: standard output)")
    g.add_argument("--pimcomp", metavar="FILE", help="PIMCOMP config of the best design (PIMSYN writes it only "
                                                     "for unified macros; evo-pimsyn in both settings)")
    e = p.add_argument_group("evo-pimsyn's additions")
    e.add_argument("--time-budget", type=_duration, default=_duration(DEFAULT_BUDGET), metavar="DURATION",
                   help=f"{TIME_BUDGET_HELP} (default {DEFAULT_BUDGET})")
    e.add_argument("--generations", type=_int_at_least(0), metavar="N",
                   help="also stop after generation N (when this stops the run before --time-budget does, the "
                        "result depends on the seed only)")
    e.add_argument("--population", type=_int_at_least(4), default=None, metavar="N",
                   help="population size (default 256: the single efficiency objective's generations cost mostly "
                        "their cycle-model checks)")
    e.add_argument("--seed", type=_int_at_least(0), default=0, metavar="S", help="random seed (default 0)")
    e.add_argument("--workers", type=_int_at_least(1), default=1, metavar="N", help="evaluation processes (default 1)")
    e.add_argument("--run-dir", metavar="DIR", help="keep the run folder here (for report / export); default: a "
                                                    "temporary folder, removed afterwards")
    e.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    e.add_argument("--log-every", type=_duration, default=30.0, metavar="DURATION",
                   help="when stderr is not a terminal: one progress line this often instead of a bar (default 30s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.onnx_path:
        model = args.onnx_path
        network = load_model(model)  # refuse a bad model before anything is written
        if args.network:
            _write(Path(args.network), json.dumps(network_to_pimcomp(network), indent=4) + "\n")
    elif args.network:
        model = args.network
    else:
        raise InputError("give --network (a network JSON) or --onnx_path (an ONNX model)")

    keep = args.run_dir is not None
    run_dir = Path(args.run_dir) if keep else Path(tempfile.mkdtemp(prefix="evo-pimsyn-pimsyn-")) / "run"
    try:
        options = RunOptions(model=model, power_w=args.total_power, config=args.config, generations=args.generations,
                             time_budget_s=args.time_budget, population=args.population, workers=args.workers,
                             seed=args.seed, objectives="efficiency", macro_setting=args.macro_setting,
                             macro_reuse=args.macro_reuse, out=str(run_dir), quiet=args.quiet,
                             log_every_s=args.log_every,
                             power_check="pimsyn")  # PIMSYN's own feasibility, as its command would give
        code = start(options, argv=["evo-pimsyn", *sys.argv[1:]], started_at=process_started_at())
        if code:
            return code
        best = run_dir / "best.json"
        if not best.exists():
            print("evo-pimsyn: no feasible design found within the budget; nothing written", file=sys.stderr)
            return 1
        arch = read_json(best, "a design in PIMSYN's output format")
        if args.output:
            _ensure_parent(Path(args.output))
            outputs.write_best(args.output, arch)
        else:
            sys.stdout.write(json.dumps(arch, indent=4) + "\n")
        if args.pimcomp:
            _ensure_parent(Path(args.pimcomp))
            outputs.write_pimcomp(args.pimcomp, arch)
        if not args.quiet:
            print(f"power efficiency {arch['power_efficiency']:.2f} GOPS/W", file=sys.stderr)
    finally:
        if not keep:
            shutil.rmtree(run_dir.parent, ignore_errors=True)
    return 0


def _ensure_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create its folder ({exc.strerror or exc})") from None


def _write(path: Path, text: str) -> None:
    _ensure_parent(path)
    try:
        outputs.atomic_write_text(path, text)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
