"""``evo-pimsyn report RUN``: the front as a terminal table, PNG plots and report.html.

Reads whatever the run folder holds now, so it works on a run that is still going (the
front then comes from the latest checkpoint or re-scored archive) as on a finished one.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from evo_pimsyn.analysis.load import load_run, ranked_front
from evo_pimsyn.analysis.report import build, terminal_text
from fitness.errors import InputError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="summarize a run: front table, plots, report.html",
        description="Print the front's top designs by each objective and write pareto.png, convergence.png, "
                    "layers_rankK.png, energy_rankK.png and a self-contained report.html.",
    )
    p.add_argument("run_dir", metavar="RUN", help="run folder (runs/NAME)")
    p.add_argument("-o", "--out", metavar="DIR", help="where to write the plots and report.html (default RUN/report)")
    p.add_argument("--rank", type=_positive_int, default=1, metavar="K",
                   help="design whose per-layer and energy breakdowns are plotted: rank K by the run's first "
                        "objective, as the table's rank column shows (default 1, the best)")
    p.add_argument("--top", type=_positive_int, default=3, metavar="N", help="designs listed per objective (default 3)")
    p.add_argument("--no-plots", action="store_true", help="print the table only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    data = load_run(args.run_dir)
    if args.no_plots:
        print(terminal_text(data, args.top))
        return 0
    n = len(ranked_front(data))
    if n and args.rank > n:
        raise InputError(f"rank {args.rank} is out of range: the front of {data.path} has {n} design(s)")
    if importlib.util.find_spec("matplotlib") is None:
        raise InputError("report's plots need matplotlib: pip install 'evo-pimsyn[plot]' (or use --no-plots)")
    out = Path(args.out) if args.out else data.path / "report"
    try:
        result = build(data, out, rank=args.rank, top=args.top)
    except OSError as exc:
        raise InputError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    print(result.text)
    print(f"\nwrote {result.html} and {', '.join(p.name for p in result.images.values())}", file=sys.stderr)
    return 0
