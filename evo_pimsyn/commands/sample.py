"""``evo-pimsyn sample``: random legal designs in the reference design schema.

For sensitivity studies and for checking the model on designs nobody hand-picked: each
line is one design (``total_power_W, rram_ratio, rram_res, xbar_size, dac_res,
macro_setting, dup, macro_num, macro_share``) plus ``id`` and ``network``, readable by
``evaluate --designs``. The designs are drawn by :func:`genomes.init.random_genomes`
(uniform over the legal global points, a random split of the crossbar budget, random
macro counts and partners) and repaired, so every one obeys the search's legality rules
(and ``--pin`` / ``--dup``, as in ``run``).

Legal is not feasible: the model may still refuse a legal design (minimum power, memory,
peak power over the budget under the strict power check). ``--feasible-only`` keeps
drawing until N designs are feasible under ``--power-check`` and ``--fixes`` (cycle model)
and writes those, each line with the ``power_check`` and ``fixes`` it was checked under.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from evo_pimsyn.commands.run import add_model_arguments, add_space_arguments
from evo_pimsyn.models import load_model
from fitness.errors import InputError
from fitness.evaluate import evaluate
from fitness.fixes import fixes_label, parse_fixes
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
    p.add_argument("--feasible-only", action="store_true",
                   help="write only designs the cycle model finds feasible under --power-check and --fixes")
    add_model_arguments(p)
    add_space_arguments(p)
    p.add_argument("-o", "--output", metavar="designs.jsonl", help="output file (default: stdout)")
    p.set_defaults(func=run)


# --feasible-only draws rounds of this many times N designs, at most MAX_ROUNDS rounds
ROUND_FACTOR, MAX_ROUNDS = 2, 50


def feasible_genomes(layout, network, hardware, n: int, rng: np.random.Generator, model: dict) -> np.ndarray:
    """The first ``n`` feasible designs of a stream of random legal genomes."""
    kept: list[np.ndarray] = []
    found = 0
    for _ in range(MAX_ROUNDS):
        if found >= n:
            break
        G = random_genomes(layout, max(8, ROUND_FACTOR * n), rng)
        ok = evaluate(network, hardware, decode(layout, G), "cycle", **model)["feasible"].to_numpy(dtype=bool)
        kept.append(G[ok])
        found += int(ok.sum())
    if found < n:
        raise InputError(f"only {found} of {n} random legal designs were feasible after {MAX_ROUNDS} rounds "
                         f"(power check {model['power_check']}, fixes {fixes_label(model['fixes'])}); ask for "
                         f"fewer or drop --feasible-only")
    return np.concatenate(kept)[:n]
    return p


def run(args: argparse.Namespace) -> int:
    if args.n < 0:
        raise InputError(f"-n must be >= 0, got {args.n}")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    network = load_model(args.model)
    hardware = load_hardware(args.config)
    layout = GenomeLayout.build(network, hardware, args.power, macro_setting=args.macro_setting,
                                allow_sharing=not args.no_macro_reuse, pins=args.pin, dup_mode=args.dup)
    rng = np.random.default_rng(args.seed)
    model = {"power_check": args.power_check, "fixes": parse_fixes(args.fixes)}
    if args.feasible_only and args.n:
        genomes = feasible_genomes(layout, network, hardware, args.n, rng, model)
        checked = {"power_check": args.power_check, "fixes": fixes_label(model["fixes"])}
    else:
        genomes = random_genomes(layout, args.n, rng)
        checked = {}
    lines = []
    for i, rec in enumerate(decode(layout, genomes).to_records()):
        rec.pop("id", None)
        lines.append(json.dumps({"id": f"sample-{args.seed}-{i}", "network": args.model, **rec, **checked}))
    text = "".join(line + "\n" for line in lines)
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise InputError(f"{args.output}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text)
    return 0
