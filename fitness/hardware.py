"""Hardware parameter file: PIMSYN's ``config.json`` format, validated into typed objects.

Units (as in PIMSYN): power W, latency ns, energy nJ, frequency GHz (operations per ns
per unit), ``memory_bw``/``noc_bw`` bits, memory sizes KB. We add ``area_mm2`` to every
component entry and a top-level ``noc_router_area_mm2``; both are optional, and when
absent the defaults of :mod:`fitness.area_defaults` apply, so PIMSYN's own config loads
unchanged.

Validation collects every problem, each naming its JSON path, the rule and the value
received, and raises one :class:`InputError`.
"""

from __future__ import annotations

import difflib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from fitness import area_defaults
from fitness.errors import InputError
from fitness.jsonio import read_json

ALU_NAMES = ("POOL", "RELU", "SHIFTADD", "ADDITION", "SIGMOID", "ELTWISE")
COMPONENT_FIELDS = ("static_power", "dynamic_power", "peak_power", "frequency", "latency", "area_mm2")
RRAM_FIELDS = ("static_power", "dynamic_power", "peak_power", "latency", "area_mm2")
MEMORY_FIELDS = ("leak_power", "read_latency", "write_latency", "read_energy", "write_energy", "area_mm2")
# config key -> attribute of Component / Crossbar / Memory (the unit goes into the name)
ATTRIBUTES = {"static_power": "static_power_w", "dynamic_power": "dynamic_power_w", "peak_power": "peak_power_w",
              "frequency": "frequency_ghz", "latency": "latency_ns", "leak_power": "leak_power_w",
              "read_latency": "read_latency_ns", "write_latency": "write_latency_ns",
              "read_energy": "read_energy_nj", "write_energy": "write_energy_nj", "area_mm2": "area_mm2"}
SCALARS = ("weight_res", "data_res", "memory_bw", "vfu_width", "noc_bw")
# Upper bounds that keep the model's integer arithmetic meaningful: precisions beyond 64
# bits and widths beyond 2**31 bits are typos, not hardware.
SCALAR_MAX = {"weight_res": 64, "data_res": 64, "memory_bw": 2**31 - 1, "vfu_width": 2**20, "noc_bw": 2**31 - 1}
SA_KEYS = ("iter", "T0", "Tf", "sigma", "alpha", "length", "func_name")
EA_KEYS = (
    "gene_num",
    "elite_ratio",
    "max_iter",
    "macro_num_mutate_prob",
    "macro_sharing_mutate_prob",
    "default_max_macro_size",
    "default_min_macro_size",
    "default_macro_size_stride",
)
TOP_KEYS = (*SCALARS, "noc_power", "noc_router_area_mm2", "SA", "EA", "RRAM", "memory", "ADC", "DAC", *ALU_NAMES)


@dataclass(frozen=True, kw_only=True)
class Component:
    """A peripheral unit type (ADC, DAC or a vector ALU); powers per instance."""

    static_power_w: float
    dynamic_power_w: float
    peak_power_w: float
    frequency_ghz: float
    latency_ns: float
    area_mm2: float


@dataclass(frozen=True)
class Crossbar:
    """One ReRAM crossbar of a given size and cell resolution."""

    static_power_w: float
    dynamic_power_w: float
    peak_power_w: float
    latency_ns: float
    area_mm2: float


@dataclass(frozen=True, kw_only=True)
class Memory:
    """One macro's scratchpad of a given capacity; latencies/energies per access of memory_bw bits."""

    leak_power_w: float
    read_latency_ns: float
    write_latency_ns: float
    read_energy_nj: float
    write_energy_nj: float
    area_mm2: float


@dataclass(frozen=True, kw_only=True)
class Hardware:
    weight_res: int
    data_res: int
    memory_bw: int
    vfu_width: int
    noc_bw: int
    noc_power_w: float
    noc_router_area_mm2: float
    adc: dict[int, Component]
    dac: dict[int, Component]
    alu: dict[str, Component]
    rram: dict[tuple[int, int], Crossbar]
    memory: dict[int, Memory]
    sa: dict[str, Any] = field(default_factory=dict)
    ea: dict[str, Any] = field(default_factory=dict)
    source: str = "<config>"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def crossbar(self, xbar_size: int, rram_res: int) -> Crossbar:
        try:
            return self.rram[(int(xbar_size), int(rram_res))]
        except KeyError:
            raise InputError(f"{self.source}: RRAM: no entry for crossbar {xbar_size} at resolution {rram_res}") from None

    def adc_unit(self, resolution: int) -> Component:
        try:
            return self.adc[int(resolution)]
        except KeyError:
            raise InputError(f"{self.source}: ADC: no entry for resolution {resolution}") from None

    def dac_unit(self, resolution: int) -> Component:
        try:
            return self.dac[int(resolution)]
        except KeyError:
            raise InputError(f"{self.source}: DAC: no entry for resolution {resolution}") from None

    @property
    def memory_sizes_kb(self) -> tuple[int, ...]:
        return tuple(sorted(self.memory))

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (areas filled in), in the file's own format."""

        def comp(c: Component) -> dict[str, float]:
            return {
                "static_power": c.static_power_w,
                "dynamic_power": c.dynamic_power_w,
                "peak_power": c.peak_power_w,
                "frequency": c.frequency_ghz,
                "latency": c.latency_ns,
                "area_mm2": c.area_mm2,
            }

        out: dict[str, Any] = {k: getattr(self, k) for k in SCALARS}
        out["noc_power"] = self.noc_power_w
        out["noc_router_area_mm2"] = self.noc_router_area_mm2
        out["SA"] = dict(self.sa)
        out["EA"] = dict(self.ea)
        out["RRAM"] = {
            f"{x}_{r}": {
                "static_power": c.static_power_w,
                "dynamic_power": c.dynamic_power_w,
                "peak_power": c.peak_power_w,
                "latency": c.latency_ns,
                "area_mm2": c.area_mm2,
            }
            for (x, r), c in sorted(self.rram.items())
        }
        out["memory"] = {
            str(k): {
                "leak_power": m.leak_power_w,
                "read_latency": m.read_latency_ns,
                "write_latency": m.write_latency_ns,
                "read_energy": m.read_energy_nj,
                "write_energy": m.write_energy_nj,
                "area_mm2": m.area_mm2,
            }
            for k, m in sorted(self.memory.items())
        }
        out["ADC"] = {str(k): comp(c) for k, c in sorted(self.adc.items())}
        out["DAC"] = {str(k): comp(c) for k, c in sorted(self.dac.items())}
        for name in ALU_NAMES:
            out[name] = comp(self.alu[name])
        return out


class _Problems:
    """Collects validation problems; each one names its JSON path, rule and value."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path} {message}")

    def raise_if_any(self) -> None:
        if self.items:
            more = f" (and {len(self.items) - 1} more: {'; '.join(self.items[1:])})" if len(self.items) > 1 else ""
            raise InputError(f"{self.source}: {self.items[0]}{more}")


def _path(*parts: str) -> str:
    out = parts[0]
    for p in parts[1:]:
        out += f'."{p}"' if p[:1].isdigit() else f".{p}"
    return out


def _unknown_keys(obj: Mapping, allowed: tuple[str, ...], path: str, problems: _Problems) -> None:
    for key in obj:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
            problems.add(f"{path}.{key}" if path else str(key), f"is not a known key{hint}")


def _number(obj: Mapping, key: str, path: str, problems: _Problems, *, positive: bool, integer: bool = False,
            default: float | None = None) -> float:
    where = _path(path, key) if path else key
    if key not in obj:
        if default is not None:
            return default
        problems.add(where, "is missing")
        return math.nan
    value = obj[key]
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(where, f"must be {kind}, got {value!r}")
        return math.nan
    if integer and not float(value).is_integer():
        problems.add(where, f"must be an integer, got {value!r}")
        return math.nan
    if not math.isfinite(value):
        problems.add(where, f"must be finite, got {value!r}")
        return math.nan
    if positive and value <= 0:
        problems.add(where, f"must be > 0, got {value!r}")
    elif not positive and value < 0:
        problems.add(where, f"must be >= 0, got {value!r}")
    return int(value) if integer else float(value)


def _entry(obj: Any, path: str, fields: tuple[str, ...], positive: tuple[str, ...], default_area: float,
           problems: _Problems) -> dict[str, float] | None:
    """The entry's numbers by attribute name (``ATTRIBUTES``), or None if it is not an object."""
    if not isinstance(obj, Mapping):
        problems.add(path, f"must be an object, got {obj!r}")
        return None
    _unknown_keys(obj, fields, path, problems)
    return {
        ATTRIBUTES[f]: _number(obj, f, path, problems, positive=f in positive,
                               default=default_area if f == "area_mm2" else None)
        for f in fields
    }


def _component(obj: Any, path: str, default_area: float, problems: _Problems) -> Component | None:
    values = _entry(obj, path, COMPONENT_FIELDS, ("frequency", "area_mm2"), default_area, problems)
    if values is None:
        return None
    comp = Component(**values)
    if comp.peak_power_w == 0 and comp.frequency_ghz > 0:
        problems.add(_path(path, "peak_power"), "must be > 0, got 0")
    return comp


def _int_keyed(table: Any, path: str, problems: _Problems) -> dict[int, Any]:
    if not isinstance(table, Mapping) or not table:
        problems.add(path, f"must be a non-empty object, got {table!r}")
        return {}
    out = {}
    for key, value in table.items():
        try:
            ikey = int(key)
        except (TypeError, ValueError):
            problems.add(f"{path}.{key}", "is not an integer key")
            continue
        if ikey <= 0:
            problems.add(f'{path}."{key}"', "key must be > 0")
            continue
        out[ikey] = value
    return out


def hardware_from_dict(data: Any, source: str = "<config>") -> Hardware:
    problems = _Problems(source)
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: the config must be a JSON object")
    _unknown_keys(data, TOP_KEYS, "", problems)
    scalars = {k: _number(data, k, "", problems, positive=True, integer=True) for k in SCALARS}
    for key, value in scalars.items():
        if math.isfinite(value) and value > SCALAR_MAX[key]:
            problems.add(key, f"must be <= {SCALAR_MAX[key]}, got {value!r}")
    noc_power = _number(data, "noc_power", "", problems, positive=False)
    router_area = _number(data, "noc_router_area_mm2", "", problems, positive=True,
                          default=area_defaults.NOC_ROUTER_MM2)

    adc = {}
    for res, entry in _int_keyed(data.get("ADC"), "ADC", problems).items():
        comp = _component(entry, _path("ADC", str(res)), area_defaults.adc_mm2(res), problems)
        if comp:
            adc[res] = comp
    dac = {}
    for res, entry in _int_keyed(data.get("DAC"), "DAC", problems).items():
        comp = _component(entry, _path("DAC", str(res)), area_defaults.dac_mm2(res), problems)
        if comp:
            dac[res] = comp
    alu = {}
    for name in ALU_NAMES:
        if name not in data:
            problems.add(name, "is missing")
            continue
        comp = _component(data[name], name, area_defaults.ALU_MM2[name], problems)
        if comp:
            alu[name] = comp

    rram = {}
    table = data.get("RRAM")
    if not isinstance(table, Mapping) or not table:
        problems.add("RRAM", f"must be a non-empty object, got {table!r}")
        table = {}
    for key, entry in table.items():
        parts = str(key).split("_")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            problems.add(f"RRAM.{key}", 'key must be "XBARSIZE_RES", e.g. "256_2"')
            continue
        xbar, res = int(parts[0]), int(parts[1])
        if xbar <= 0 or xbar & (xbar - 1):
            problems.add(f'RRAM."{key}"', f"crossbar size must be a power of two, got {xbar}")
            continue
        if res <= 0:
            problems.add(f'RRAM."{key}"', f"resolution must be > 0, got {res}")
            continue
        values = _entry(entry, f'RRAM."{key}"', RRAM_FIELDS, ("peak_power", "latency", "area_mm2"),
                        area_defaults.crossbar_mm2(xbar), problems)
        if values:
            rram[(xbar, res)] = Crossbar(**values)

    memory = {}
    for kb, entry in _int_keyed(data.get("memory"), "memory", problems).items():
        if kb & (kb - 1):
            problems.add(f'memory."{kb}"', f"capacity must be a power of two KB, got {kb}")
            continue
        values = _entry(entry, _path("memory", str(kb)), MEMORY_FIELDS,
                        ("read_latency", "write_latency", "area_mm2"), area_defaults.memory_mm2(kb), problems)
        if values:
            memory[kb] = Memory(**values)

    sa = data.get("SA", {})
    ea = data.get("EA", {})
    for name, block, keys in (("SA", sa, SA_KEYS), ("EA", ea, EA_KEYS)):
        if not isinstance(block, Mapping):
            problems.add(name, f"must be an object, got {block!r}")
        else:
            _unknown_keys(block, keys, name, problems)
    problems.raise_if_any()
    return Hardware(
        **{k: int(v) for k, v in scalars.items()},
        noc_power_w=noc_power,
        noc_router_area_mm2=router_area,
        adc=adc,
        dac=dac,
        alu=alu,
        rram=rram,
        memory=memory,
        sa=dict(sa),
        ea=dict(ea),
        source=source,
        raw=dict(data),
    )


def default_config_path() -> Path:
    """configs/pimsyn_date24.json of the checkout, or of the installed data files."""
    here = Path(__file__).resolve().parent.parent / "configs" / "pimsyn_date24.json"
    if here.exists():
        return here
    return Path(sys.prefix) / "share" / "evo-pimsyn" / "configs" / "pimsyn_date24.json"


def load_hardware(path: str | Path | None = None) -> Hardware:
    path = Path(path) if path is not None else default_config_path()
    return hardware_from_dict(read_json(path, "a JSON config file"), source=str(path))
