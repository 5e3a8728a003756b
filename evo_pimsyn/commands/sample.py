"""``evo-pimsyn sample``: random legal designs in the reference design schema.

For sensitivity studies and for checking the model on designs nobody hand-picked: each
line is one design (``total_power_W, rram_ratio, rram_res, xbar_size, dac_res,
macro_setting, dup, macro_num, macro_share``) plus ``id`` and ``network``, readable by
``evaluate --designs``. The designs are drawn by :func:`genomes.init.random_genomes`
(uniform over the legal global points, a random split of the crossbar budget, random
macro counts and partners) and repaired, so every one obeys the search's legality rules.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from evo_pimsyn.models import load_model
from fitness.errors import InputError
from fitness.hardware import load_hardware
from genomes import GenomeLayout, decode, random_genomes
from genomes.layout import SETTINGS


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sample",
        help="write N random legal designs (reference design schema, JSON lines)",
        description="Write N random legal designs of model M at total power P, one JSON object a line, in the "
                    "reference design schema plus id and network.",
    )
    p.add_argument("--model", required=True, metavar="M", help=".onnx, network .json or zoo:NAME")
    p.add_argument("--power", required=True, type=float, metavar="P", help="total power budget, W")
    p.add_argument("-n", type=int, default=10, metavar="N", help="number of designs (default 10)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--config", metavar="C", help="hardware config JSON (default: PIMSYN's config)")
    p.add_argument("--macro-setting", choices=SETTINGS, default="specified",
                   help="per-layer macros (specified, default) or one macro size (unified)")
    p.add_argument("--no-macro-reuse", action="store_true", help="no macro sharing between layers")
    p.add_argument("-o", "--output", metavar="designs.jsonl", help="output file (default: stdout)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    if args.n < 0:
        raise InputError(f"-n must be >= 0, got {args.n}")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    network = load_model(args.model)
    hardware = load_hardware(args.config)
    layout = GenomeLayout.build(network, hardware, args.power, macro_setting=args.macro_setting,
                                allow_sharing=not args.no_macro_reuse)
    genomes = random_genomes(layout, args.n, np.random.default_rng(args.seed))
    lines = []
    for i, rec in enumerate(decode(layout, genomes).to_records()):
        rec.pop("id", None)
        lines.append(json.dumps({"id": f"sample-{args.seed}-{i}", "network": args.model, **rec}))
    text = "".join(line + "\n" for line in lines)
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise InputError(f"{args.output}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text)
    return 0
