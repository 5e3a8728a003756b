"""``evo-pimsyn export RUN --rank K --format F``: one front design, in one of four forms.

* ``pimsyn``: PIMSYN's output file (its ``--output``; ``tests/data/reference/outputs/alexnet.json``);
* ``pimcomp``: the PIMCOMP hardware config PIMSYN hands over (its ``--pimcomp``);
* ``design``: the reference design schema as one JSON line, which
  ``evo-pimsyn evaluate --model M --designs FILE`` re-evaluates;
* ``schedule``: the design's dataflow schedule, CSV (one row per layer, block and op).

The design is re-evaluated with the run's own network and config (from run.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evo_pimsyn.analysis import designs
from evo_pimsyn.analysis.load import load_run
from evo_pimsyn.commands.report import _positive_int
from evo_pimsyn.engine.outputs import pimcomp_config
from fitness.errors import InputError

FORMATS = ("pimsyn", "pimcomp", "design", "schedule")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="write a front design as PIMSYN output, PIMCOMP config, design JSON or schedule CSV",
        description="Export the front design of rank K (by the run's first objective unless --by; the rank "
                    "column of `evo-pimsyn report`).",
    )
    p.add_argument("run_dir", metavar="RUN", help="run folder (runs/NAME)")
    p.add_argument("--rank", type=_positive_int, default=1, metavar="K", help="1-based rank on the front (default 1)")
    p.add_argument("--by", metavar="OBJECTIVE", help="objective that orders the ranks (default the run's first)")
    # not argparse choices: an unknown format is bad input like any other (one line, exit 2)
    p.add_argument("--format", default="pimsyn", metavar="FORMAT", help=f"one of {', '.join(FORMATS)} (default pimsyn)")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format not in FORMATS:
        raise InputError(f"unknown export format {args.format!r}; choose one of {', '.join(FORMATS)}")
    data = load_run(args.run_dir)
    row = designs.pick(data, args.rank, args.by)
    rec = designs.record(data, row)
    if args.format == "design":
        text = json.dumps(rec) + "\n"
    elif args.format == "schedule":
        text = designs.schedule(data, rec).to_csv(index=False, lineterminator="\n")
    else:
        arch = designs.architecture(data, rec)
        # the engine's writers' formatting: PIMSYN indents its JSON by 4
        text = json.dumps(arch if args.format == "pimsyn" else pimcomp_config(arch), indent=4) + "\n"
    if not args.output:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return 0
