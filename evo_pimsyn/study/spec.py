"""What a study is: a grid of run cells over models, powers, seeds and ``--vary`` axes.

A :class:`StudySpec` is plain data (it round-trips through study.json); :meth:`StudySpec.cells`
expands it into :class:`Cell` s, each an ordinary run (``session.RunOptions``) with a stable
id that names its run folder ``runs/<id>``. The id is the model, the power, the values of
the axes that differ from each axis's first value, and the seed, e.g.
``alexnet-49W-dup=proportional-seed1``; a cell with every axis at its first value (the
baseline) is ``alexnet-49W-seed1``.

Axes (``--vary OPTION=V1,V2,...``): the run options below, or a global gene name
(``xbar_size``, ``rram_res``, ``dac_res``, ``rram_ratio``, ``macro_size``), which pins that
gene to each value in turn. Values of ``objectives`` and ``fixes`` are comma lists
themselves: inside one value, write ``+`` for the comma (``objectives=efficiency,efficiency+area``).

``grid`` crosses every axis with every other; ``one-at-a-time`` runs the baseline and,
for each axis, each of its other values with every other axis at its first value (what
an ablation needs: one change against one baseline).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Callable

from evo_pimsyn.engine.session import RunOptions, resolved_population
from evo_pimsyn.engine.setup import model_name
from fitness.errors import InputError
from genomes.layout import GLOBAL_NAMES, parse_pins, pins_label

VARY_MODES = ("grid", "one-at-a-time")
STUDY_FORMAT = "evo-pimsyn-study"
STUDY_VERSION = 1
# RunOptions fields a study sets for all its cells (the rest: model, power, seed, out,
# workers, backend, quiet are the study's to set per cell)
BASE_FIELDS = ("config", "generations", "time_budget_s", "population", "objectives", "algorithm", "macro_setting",
               "macro_reuse", "fidelity", "power_check", "fixes", "pins", "dup", "checkpoint_every_s", "polish",
               "corner", "corner_objective", "problem")


def _words(*allowed: str) -> Callable[[str], tuple[Any, str]]:
    def parse(text: str) -> tuple[Any, str]:
        if text not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}")
        return text, text

    return parse


def _on_off(text: str) -> tuple[bool, str]:
    word = text.lower()
    if word in ("on", "true", "yes", "1"):
        return True, "on"
    if word in ("off", "false", "no", "0"):
        return False, "off"
    raise ValueError("on or off")


def _plus_list(check: Callable[[str], Any]) -> Callable[[str], tuple[str, str]]:
    def parse(text: str) -> tuple[str, str]:
        value = text.replace("+", ",")
        check(value)
        return value, text

    return parse


def _int_value(minimum: int) -> Callable[[str], tuple[int, str]]:
    def parse(text: str) -> tuple[int, str]:
        if not re.fullmatch(r"\d+", text) or int(text) < minimum:
            raise ValueError(f"an integer >= {minimum}")
        return int(text), text

    return parse


def _fraction(text: str) -> tuple[float, str]:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise ValueError("a fraction in [0, 1]")
    return value, text


def _config(text: str) -> tuple[str, str]:
    from pathlib import Path

    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError("an existing hardware config file")
    return str(path.resolve()), path.stem


def _checked_objectives(value: str) -> None:
    from evo_pimsyn.engine.objectives import parse_objectives

    parse_objectives(value)


def _checked_fixes(value: str) -> None:
    from fitness.fixes import parse_fixes

    parse_fixes(value)


def _vary_parsers() -> dict[str, Callable[[str], tuple[Any, str]]]:
    from evo_pimsyn.engine.loop import ALGORITHMS
    from evo_pimsyn.engine.problem import FIDELITIES
    from evo_pimsyn.engine.session import CORNER_OBJECTIVES
    from fitness.budget import POWER_CHECKS
    from genomes.layout import DUP_MODES, SETTINGS

    return {
        "macro_setting": _words(*SETTINGS),
        "macro_reuse": _on_off,
        "dup": _words(*DUP_MODES),
        "objectives": _plus_list(_checked_objectives),
        "fixes": _plus_list(_checked_fixes),
        "power_check": _words(*POWER_CHECKS),
        "algorithm": _words(*ALGORITHMS),
        "fidelity": _words(*FIDELITIES),
        "population": _int_value(4),
        "polish": _fraction,
        "corner": _fraction,
        "corner_objective": _words(*CORNER_OBJECTIVES),
        "config": _config,
    }


def vary_options() -> tuple[str, ...]:
    """Every OPTION ``--vary`` takes (run options, then the global genes it pins)."""
    return tuple(_vary_parsers()) + GLOBAL_NAMES


def vary_option_text() -> str:
    """The OPTIONs as the command line spells them (run options with dashes, genes as named)."""
    return ", ".join(o if o in GLOBAL_NAMES else o.replace("_", "-") for o in vary_options())


def axis_name(option: str) -> str:
    """``macro-setting`` and ``macro_setting`` are the same axis; the canonical spelling has
    underscores (the RunOptions field, the study.csv column)."""
    name = option.strip().replace("-", "_")
    if name not in vary_options():
        raise InputError(f"cannot vary {option!r}: --vary takes one of {vary_option_text()}")
    return name


def parse_vary(text: str) -> tuple[str, list[str]]:
    """``OPTION=V1,V2,...`` -> (axis, [value texts]); each value checked."""
    option, eq, values = text.partition("=")
    if not eq or not option.strip() or not values.strip():
        raise InputError(f"The 'vary' parameter must be OPTION=V1,V2,... Got {text!r} instead.")
    axis = axis_name(option)
    items = [v.strip() for v in values.split(",")]
    if any(not v for v in items):
        raise InputError(f"--vary {text}: empty value")
    if len(set(items)) != len(items):
        raise InputError(f"--vary {text}: a value is listed twice")
    for item in items:
        axis_value(axis, item)
    return axis, items


def axis_value(axis: str, text: str) -> tuple[Any, str]:
    """(RunOptions value, label) of one axis value; InputError naming the axis if bad."""
    if axis in GLOBAL_NAMES:
        value = parse_pins({axis: text})[axis]
        return value, f"{value:g}" if isinstance(value, float) else str(value)
    try:
        return _vary_parsers()[axis](text)
    except (ValueError, InputError) as exc:
        raise InputError(f"--vary {axis.replace('_', '-')}={text}: the value must be {exc}") from None


@dataclass(frozen=True)
class Cell:
    id: str
    model: str
    power_w: float
    seed: int
    values: dict  # axis -> value label (every axis of the study)
    options: RunOptions = field(repr=False)

    @property
    def run_dir(self) -> str:
        """The run folder, relative to the study folder."""
        return f"runs/{self.id}"


@dataclass
class StudySpec:
    models: list[str]
    powers: list[float]
    seeds: list[int] = field(default_factory=lambda: [0])
    vary: list[tuple[str, list[str]]] = field(default_factory=list)
    vary_mode: str = "grid"
    base: dict = field(default_factory=dict)  # RunOptions values shared by the cells (BASE_FIELDS)
    preset: str | None = None

    def __post_init__(self) -> None:
        self.models = [str(m) for m in self.models]
        self.powers = [float(p) for p in self.powers]
        self.seeds = [int(s) for s in self.seeds]
        self.vary = [(axis_name(a), [str(v) for v in vs]) for a, vs in self.vary]
        self.base = _canonical_base(self.base)
        self.validate()

    def validate(self) -> None:
        for what, items in (("models", self.models), ("powers", self.powers), ("seeds", self.seeds)):
            if not items:
                raise InputError(f"The '{what}' parameter must list at least one value. Got nothing instead.")
            if len(set(items)) != len(items):
                raise InputError(f"The '{what}' parameter lists a value twice: {items!r}")
        for p in self.powers:
            if not math.isfinite(p) or p <= 0:
                raise InputError(f"The 'powers' parameter must be positive numbers of W. Got {p!r} instead.")
        for s in self.seeds:
            if s < 0:
                raise InputError(f"The 'seeds' parameter must be ints >= 0. Got {s!r} instead.")
        if self.vary_mode not in VARY_MODES:
            raise InputError(f"The 'vary-mode' parameter must be one of {', '.join(VARY_MODES)}. "
                             f"Got {self.vary_mode!r} instead.")
        unknown = set(self.base) - set(BASE_FIELDS)
        if unknown:
            raise InputError(f"study options {sorted(unknown)} are not run options a study sets")
        axes = [a for a, _ in self.vary]
        if len(set(axes)) != len(axes):
            raise InputError(f"an option is varied twice: {', '.join(axes)}")
        pinned = parse_pins(self.base.get("pins"))
        both = [a for a in axes if a in pinned]
        if both:
            raise InputError(f"{', '.join(both)} is both pinned (--pin) and varied (--vary); drop one")
        for axis, values in self.vary:
            for v in values:
                axis_value(axis, v)
        names = {}
        for m in self.models:
            name = _safe(model_name(m))
            if name in names:
                raise InputError(f"models {names[name]} and {m} have the same name {name!r}; a study names its "
                                 f"cells by model name (rename one file)")
            names[name] = m

    # ---- persistence --------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["vary"] = [[a, list(vs)] for a, vs in self.vary]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "StudySpec":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    # ---- expansion ----------------------------------------------------------------------
    def variants(self) -> list[dict[str, str]]:
        """Axis assignments {axis: value text}, in order (grid or one-at-a-time)."""
        if not self.vary:
            return [{}]
        first = {a: vs[0] for a, vs in self.vary}
        if self.vary_mode == "one-at-a-time":
            out = [dict(first)]
            for axis, values in self.vary:
                out += [{**first, axis: v} for v in values[1:]]
            return out
        out = [{}]
        for axis, values in self.vary:
            out = [{**o, axis: v} for o in out for v in values]
        return out

    def cells(self) -> list[Cell]:
        """Every cell, in order: models, powers, variants, seeds."""
        first = {a: vs[0] for a, vs in self.vary}
        out = []
        for model in self.models:
            for power in self.powers:
                for variant in self.variants():
                    for seed in self.seeds:
                        out.append(self._cell(model, power, variant, seed, first))
        return out

    def _cell(self, model: str, power: float, variant: dict[str, str], seed: int, first: dict[str, str]) -> Cell:
        base = {k: v for k, v in self.base.items() if k in BASE_FIELDS}
        options = RunOptions(model=model, power_w=power, seed=seed, **base)
        pins = parse_pins(options.pins)
        labels = {}
        for axis, text in variant.items():
            value, label = axis_value(axis, text)
            labels[axis] = label
            if axis in GLOBAL_NAMES:
                pins[axis] = value
            else:
                options = replace(options, **{axis: value})
        options = replace(options, pins=parse_pins(pins) or None)
        parts = [_safe(model_name(model)), f"{power:g}W"]
        parts += [f"{axis}={_safe(labels[axis])}" for axis in variant if variant[axis] != first[axis]]
        parts.append(f"seed{seed}")
        return Cell("-".join(parts), model, power, seed, labels, options)


def _canonical_base(base: dict) -> dict:
    """The shared options as one spelling each, without those equal to the run default, so
    that the same study given twice (``--population 64`` or nothing) compares equal."""
    from evo_pimsyn.engine.objectives import objective_names, parse_objectives
    from fitness.fixes import fixes_label, parse_fixes

    defaults = {f.name: f.default for f in fields(RunOptions)}
    out = {}
    for key, value in dict(base).items():
        if key == "pins":
            value = parse_pins(value) or None
        elif key == "fixes":
            value = fixes_label(parse_fixes(value))
        elif key == "objectives":
            value = ",".join(objective_names(parse_objectives(value)))
        elif key in ("time_budget_s", "polish", "corner") and value is not None:
            value = float(value)
        default = defaults.get(key)
        if key in defaults and _same(value, default):
            continue
        out[key] = value
    return out


def _same(value, default) -> bool:
    from evo_pimsyn.engine.objectives import objective_names, parse_objectives

    if isinstance(default, str) and "," in default and isinstance(value, str):  # the objectives default
        return objective_names(parse_objectives(value)) == objective_names(parse_objectives(default))
    return value == default


def _safe(text: str) -> str:
    """A folder-name-safe version of ``text`` (letters, digits and ``._+=-``)."""
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", str(text))


def options_record(o: RunOptions) -> dict:
    """The options of a cell as study.csv shows them (labels, not objects)."""
    from evo_pimsyn.engine.objectives import objective_names, parse_objectives
    from fitness.fixes import fixes_label, parse_fixes

    return {
        "objectives": "+".join(objective_names(parse_objectives(o.objectives))),
        "algorithm": o.algorithm,
        "population": resolved_population(o),
        "fidelity": o.fidelity,
        "macro_setting": o.macro_setting,
        "macro_reuse": "on" if o.macro_reuse else "off",
        "dup": o.dup,
        "pins": pins_label(o.pins),
        "power_check": o.power_check,
        "fixes": fixes_label(parse_fixes(o.fixes)).replace(",", "+"),
        "config": "default" if o.config is None else _config_label(o.config),
    }


def _config_label(path: str) -> str:
    from pathlib import Path

    return Path(path).stem
