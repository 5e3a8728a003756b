"""``evo-pimsyn evaluate``: score designs from a JSON-lines file with the hardware model.

Each line is a design in the reference schema (``tests/data/reference/README.md``); a
line's own ``total_power_W`` overrides ``--power``. Rows keep the input order. Fields the
model does not read (``id``, ``network``, ...) are copied to the output row, prefixed with
``input_`` where they would collide with a result column. A line that cannot be read as a
design becomes a row with ``feasible`` false and the reason, never a crash.

Designs are scored under ``--power-check`` and ``--fixes``. A line may carry its own
``power_check`` / ``fixes`` keys (``export --format design`` writes them, so that a design
is re-scored under the model that found it): without the option the lines' common value
applies; lines that disagree, or an option that contradicts them, are refused with the
line named.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from evo_pimsyn.commands.run import add_model_arguments
from evo_pimsyn.models import MODEL_HELP, load_model
from fitness.budget import DEFAULT_POWER_CHECK, check_mode
from fitness.design import DesignBatch, validate_records
from fitness.errors import InputError
from fitness.evaluate import FIDELITIES, evaluate_full
from fitness.export import schedule
from fitness.fixes import fixes_label, parse_fixes
from fitness.hardware import load_hardware
from fitness.jsonio import parse_json, read_text

DESIGN_FIELDS = ("total_power_W", "rram_ratio", "rram_res", "xbar_size", "dac_res", "macro_setting", "dup",
                 "macro_num", "macro_share", "power_check", "fixes")
MODEL_DEFAULTS = {"power_check": DEFAULT_POWER_CHECK, "fixes": "none"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="score designs (JSON lines) with the cycle-level or analytic model",
        description="Evaluate each design of a JSON-lines file and write one CSV row per design, in input order.",
    )
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--power", type=float, metavar="W", help="total power budget in W for lines without total_power_W")
    p.add_argument("--config", metavar="FILE", help="hardware config JSON (default configs/pimsyn_date24.json)")
    p.add_argument("--designs", required=True, metavar="designs.jsonl", help="one design per line (reference schema)")
    p.add_argument("--fidelity", choices=FIDELITIES, default="cycle", help="model fidelity (default cycle)")
    add_model_arguments(p, defaults=False)
    p.add_argument("-o", "--output", metavar="out.csv", help="CSV output (default: standard output)")
    p.add_argument("--schedule", metavar="sched.csv", help="write the dataflow schedule of one design as CSV")
    p.add_argument("--schedule-row", type=int, default=0, metavar="N",
                   help="which design (0-based line among the designs) --schedule exports (default 0)")
    p.set_defaults(func=run)
    return p


def read_design_lines(path: Path) -> list[object]:
    """Parsed lines (blank lines skipped); an unreadable line is kept as an InputError."""
    text = read_text(path, "a JSON-lines file")
    out: list[object] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(parse_json(line, path, first_line=number))
        except InputError as exc:
            out.append(exc)
    if not out:
        raise InputError(f"{path}: no designs in the file")
    return out


def _passthrough(record: object, result_columns: set[str]) -> dict:
    if not isinstance(record, dict):
        return {}
    extra = {}
    for key, value in record.items():
        if key in DESIGN_FIELDS:
            continue
        name = f"input_{key}" if key in result_columns else key
        extra[name] = json.dumps(value) if isinstance(value, (list, dict)) else value
    return extra


def model_settings(path: Path, records: list[object], given: dict) -> dict:
    """The power check and fixes to score the file under (see the module docstring)."""
    canon = {"power_check": check_mode, "fixes": lambda v: fixes_label(parse_fixes(v))}
    out = {}
    for key, norm in canon.items():
        value = None if given[key] is None else norm(given[key])
        source = f"--{key.replace('_', '-')}"
        for number, rec in enumerate(records, start=1):
            if not isinstance(rec, dict) or key not in rec:
                continue
            try:
                line_value = norm(rec[key])
            except InputError as exc:
                raise InputError(f"{path}: design {number}: {exc}") from None
            if value is None:
                value, source = line_value, f"design {number}"
            elif line_value != value:
                raise InputError(f"{path}: design {number} was scored with {key} {line_value}, but {source} says "
                                 f"{value}; score the file under one model")
        out[key] = norm(MODEL_DEFAULTS[key]) if value is None else value
    return out


def run(args: argparse.Namespace) -> int:
    network = load_model(args.model)
    hardware = load_hardware(args.config)
    if args.power is not None and not args.power > 0:
        raise InputError(f"--power must be > 0 W, got {args.power}")
    path = Path(args.designs)
    records = read_design_lines(path)
    model = model_settings(path, records, {"power_check": args.power_check, "fixes": args.fixes})
    readable = [r for r in records if not isinstance(r, InputError)]
    reasons = iter(validate_records(network, readable, args.power))
    status = [str(r) if isinstance(r, InputError) else next(reasons) for r in records]
    good = [i for i, s in enumerate(status) if s == "ok"]

    frame = None
    evaluation = None
    if good:
        batch = DesignBatch.from_records(network, [records[i] for i in good], args.power)
        evaluation = evaluate_full(network, hardware, batch, fidelity=args.fidelity, **model)
        frame = evaluation.frame.reset_index(drop=True)
    columns = set(frame.columns) if frame is not None else {"feasible", "reason"}
    rows = []
    position = {line: k for k, line in enumerate(good)}
    for i, record in enumerate(records):
        if i in position:
            row = frame.iloc[position[i]].to_dict()
        else:
            row = {"feasible": False, "reason": f"unreadable design: {status[i]}"}
        row = {"row": i, **_passthrough(record, columns), **row}
        rows.append(row)
    out = pd.DataFrame(rows)
    out.insert(1, "fidelity", args.fidelity)
    out.insert(2, "power_check", model["power_check"])
    out.insert(3, "fixes", model["fixes"])
    if args.output:
        _write_csv(out, Path(args.output))
    else:
        out.to_csv(sys.stdout, index=False)
    if args.schedule:
        _export_schedule(args, network, hardware, records, good, model)
    return 0


def _export_schedule(args, network, hardware, records, good, model) -> None:
    if args.schedule_row not in good:
        raise InputError(f"--schedule-row {args.schedule_row}: no readable design on that row")
    sched = schedule(network, hardware, records[args.schedule_row], **model)
    _write_csv(sched, Path(args.schedule))


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
