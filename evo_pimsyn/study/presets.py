"""Named studies. ``pimsyn-ablations``: the three ablations of PIMSYN's paper (Li et al.,
DATE 2024, §V.C) on its five networks at 49 W with its hardware config.

Each ablation compares the full design space (the baseline: searched duplication,
specified macros, macro sharing on) with the space missing one feature, everything else
equal, so the preset varies one option at a time:

* weight duplication searched vs PIMSYN's W_O*H_O-proportional heuristic (``dup=proportional``)
  and vs no duplication (``dup=one``);
* specified (per-layer) vs unified (identical) macros;
* inter-layer macro sharing on vs off.

The search is single-objective efficiency, as PIMSYN's, with the population size that
suits it (README: population size). The paper reports each ablation as the baseline's
gain over the reduced space, in efficiency and throughput of the synthesized design;
:data:`PAPER` holds those figures for the report to put beside the measured ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from evo_pimsyn.models import PIMSYN_NAMES, PIMSYN_PREFIX


@dataclass(frozen=True)
class Comparison:
    """One ablation: the baseline (every axis at its first value) against ``axis=variant``."""

    title: str
    axis: str
    variant: str
    efficiency: str  # the paper's figure, as it states it
    throughput: str
    efficiency_gain: float | None  # the same as a fraction (0.19 = +19 %); None where it gives no number
    throughput_gain: float | None


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    models: tuple[str, ...]
    powers: tuple[float, ...]
    seeds: tuple[int, ...]
    vary: tuple[tuple[str, tuple[str, ...]], ...]
    vary_mode: str
    base: dict
    comparisons: tuple[Comparison, ...] = ()


PAPER = (
    Comparison("searched duplication vs W_O*H_O-proportional", "dup", "proportional", "+19 %", "+27 %", 0.19, 0.27),
    # the paper gives one phrase for this one ("tens of times lower"), not a figure per metric
    Comparison("searched duplication vs none", "dup", "one", "tens of times", "tens of times", None, None),
    Comparison("specified vs unified macros", "macro_setting", "unified", "+13 %", "+31 %", 0.13, 0.31),
    Comparison("macro sharing on vs off", "macro_reuse", "off", "+8 %", "+15 %", 0.08, 0.15),
)

PRESETS = {
    "pimsyn-ablations": Preset(
        name="pimsyn-ablations",
        description="PIMSYN's three ablations (DATE'24 §V.C) on its five networks at 49 W",
        models=tuple(f"{PIMSYN_PREFIX}{n}" for n in PIMSYN_NAMES),
        powers=(49.0,),
        seeds=(0, 1),
        vary=(("dup", ("searched", "proportional", "one")), ("macro_setting", ("specified", "unified")),
              ("macro_reuse", ("on", "off"))),
        vary_mode="one-at-a-time",
        base={"objectives": "efficiency", "population": 256},
        comparisons=PAPER,
    ),
}


def get_preset(name: str) -> Preset:
    from fitness.errors import InputError

    if name not in PRESETS:
        raise InputError(f"unknown study preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]
