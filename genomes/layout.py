"""Integer genome layout of one search problem: (network, hardware config, power, setting).

A genome is one row of an ``int64`` matrix ``G[B, n_genes]``; the layout says what every
column means, its bounds, and holds the per-(ratio, X, r, d) tables that decoding, repair
and the operators look up instead of recomputing them for every individual.

Columns, in order (MODEL.md §2):

* ``xbar_size``, ``rram_res``, ``dac_res``: indices into :attr:`GenomeLayout.xbar_sizes`,
  :attr:`~GenomeLayout.rram_resolutions`, :attr:`~GenomeLayout.dac_resolutions`
  (taken from the hardware config's ``RRAM`` and ``DAC`` tables);
* ``rram_ratio``: index into the ratio grid 0.10, 0.11, ..., 0.40;
* ``macro_size``: unified setting only, index into PIMSYN's macro-size list of the
  (X, r) point, {s_min, s_min + stride, ..., max} with s_min = max(min size,
  max_i ceil(mu_i / stride) * stride) and min/max/stride from the config's ``EA`` block
  (32..512 step 32 in PIMSYN's); fixed at 0 in the specified setting;
* ``dup_<j>``: weight duplication of the j-th conv layer (network order);
* ``macros_<i>``: own macro count of the i-th MVM layer in gene order (all convs, then
  all fcs = ``network.mvm_indices``). Stored as the count itself, not as an index into
  the candidate list, so that it keeps its meaning when dup or X change. In the unified
  setting it is derived from the macro size and rewritten by repair;
* ``share_<i>``: sharing partner of MVM layer i, as a gene position ``p < i``, or -1.

Part of the space can be fixed when the layout is built:

* **pins** (``pins={"xbar_size": 128, ...}``, values in the genes' own units): a pinned
  global gene has lower = upper bound and the ``legal`` table holds only points with the
  pinned values, so clipping, the nearest-legal-point table, sampling and every operator
  stay on the pin. A pinned ``macro_size`` (unified only, crossbars per macro) leaves only
  that size on every (X, r) list;
* **dup mode** (``dup_mode``): ``searched`` (default), ``proportional`` (PIMSYN's seed
  rule, MODEL.md §10.2: dup_l proportional to the output pixels W_l*H_l, filling the
  crossbar budget of the global point) or ``one`` (no duplication). Outside ``searched``
  repair writes the mode's dup, so no genome can carry another.

A pin that no legal design can have raises :class:`NoLegalDesign` naming the rule it
breaks (crossbar capacity, ADC table, macro size).

Layer names are not used in column names on purpose: names can contain any character,
positions are stable CSV headers; :meth:`GenomeLayout.describe` maps both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from fitness.crossbars import adc_resolution, total_crossbars
from fitness.errors import InputError
from fitness.hardware import Hardware
from fitness.network import FC, Network

# ReRAM power ratio grid: 0.10 .. 0.40 step 0.01 (the paper's range; contains PIMSYN's
# 0.15/0.2/0.25/0.3). Built as k/100 so that each value is the double nearest to its
# decimal literal and matches ratios written in design files (0.15 == 15/100).
RATIO_GRID = np.arange(10, 41, dtype=np.int64) / 100.0

# Own macro counts are encoded below 1000 in PIMSYN's gene (g = A*1000 + m).
MAX_MACROS = 999

N_GLOBAL = 5
XBAR, RRAM_RES, DAC_RES, RATIO, MACRO_SIZE = range(N_GLOBAL)
GLOBAL_NAMES = ("xbar_size", "rram_res", "dac_res", "rram_ratio", "macro_size")
SETTINGS = ("specified", "unified")
DUP_MODES = ("searched", "proportional", "one")
PIN_UNITS = {"xbar_size": "rows = columns", "rram_res": "bits per cell", "dac_res": "bits",
             "rram_ratio": "share of the power budget", "macro_size": "crossbars per macro"}


class NoLegalDesign(InputError):
    """The problem (network, power, config, setting, pins) has no legal design at all."""


def parse_pins(spec) -> dict[str, int | float]:
    """``"xbar_size=128,rram_res=2"`` (or a mapping, or None) -> ``{name: value}`` in
    :data:`GLOBAL_NAMES` order; ``rram_ratio`` a float, the others ints. Whether a value
    exists in the hardware config is :meth:`GenomeLayout.build`'s check."""
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return {}
    if isinstance(spec, str):
        items = []
        for part in spec.split(","):
            name, eq, value = part.partition("=")
            if not eq or not name.strip() or not value.strip():
                raise InputError(f"The 'pin' parameter must be NAME=VALUE[,NAME=VALUE...] with NAME from "
                                 f"{', '.join(GLOBAL_NAMES)}. Got {spec!r} instead.")
            items.append((name.strip(), value.strip()))
    else:
        try:
            items = list(dict(spec).items())
        except (TypeError, ValueError):
            raise InputError(f"The 'pin' parameter must be a mapping or NAME=VALUE[,...]. Got {spec!r} instead.") from None
    out: dict[str, int | float] = {}
    for name, value in items:
        if name not in GLOBAL_NAMES:
            raise InputError(f"cannot pin {name!r}: pins are for the global genes {', '.join(GLOBAL_NAMES)}")
        if name in out:
            raise InputError(f"{name} is pinned twice")
        out[name] = _pin_value(name, value)
    return {n: out[n] for n in GLOBAL_NAMES if n in out}


def _pin_value(name: str, value) -> int | float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise InputError(f"pin {name}={value!r}: the value must be a number ({PIN_UNITS[name]})")
    if name == "rram_ratio":
        return number
    if number != int(number) or number < 1:
        raise InputError(f"pin {name}={value!r}: the value must be a positive integer ({PIN_UNITS[name]})")
    return int(number)


def pins_label(pins) -> str:
    """``xbar_size=128,rram_res=2`` (empty string for no pins): the canonical text form."""
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in parse_pins(pins).items())


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False, kw_only=True)
class GenomeLayout:
    """Gene positions, bounds and lookup tables; build it with :meth:`build`.

    Table axes: ``q`` ratio index, ``x`` crossbar-size index, ``r`` resolution index,
    ``d`` DAC index, ``i`` MVM layer in gene order, ``j`` conv layer (= the first
    ``n_conv`` gene positions).
    """

    network: Network
    hardware: Hardware
    total_power_w: float
    macro_setting: str
    allow_sharing: bool
    pin_items: tuple[tuple[str, int | float], ...]  # pinned global genes, in their own units (see pins)
    dup_mode: str  # one of DUP_MODES
    # value lists the index genes point into
    xbar_sizes: np.ndarray  # [nx]
    rram_resolutions: np.ndarray  # [nr]
    dac_resolutions: np.ndarray  # [nd]
    ratios: np.ndarray  # [nq]
    macro_sizes: np.ndarray  # [nx, nr, nk] unified macro sizes (crossbars per macro) of each (X, r)
    size_ok: np.ndarray  # [nx, nr, nk] the size is on that (X, r)'s list (<= max size)
    # per-layer constants
    n_conv: int
    n_mvm: int
    pixels: np.ndarray  # [n_conv] W*H: the most duplicates that still have work
    # per-(x, r) tables
    xr_present: np.ndarray  # [nx, nr] the config has an RRAM entry
    slices: np.ndarray  # [nr] S = ceil(weight_res / r)
    row_blocks: np.ndarray  # [nx, n_mvm] iota = ceil(R / X)
    sets: np.ndarray  # [nx, nr, n_mvm] crossbars per weight copy
    min_macro: np.ndarray  # [nx, nr, n_mvm] mu = ceil(C / X) * S
    conv_set_sum: np.ndarray  # [nx, nr]
    conv_set_mean: np.ndarray  # [nx, nr] float: PIMSYN's dup tolerance
    fc_set_sum: np.ndarray  # [nx, nr]
    dup_max: np.ndarray  # [nx, nr, n_conv] largest legal dup (pixels, unified: also m <= 999; 1 in dup mode one)
    limit_max: np.ndarray  # [nx, nr, n_mvm] largest lim_i = dup_i * iota_i (fc: iota_i)
    # per-(q, x, r) and per-(x, r, d) tables
    n_conv_budget: np.ndarray  # [nq, nx, nr] N_conv = N_xb - sum of FC sets
    capacity_ok: np.ndarray  # [nq, nx, nr] N_conv > sum of conv sets
    proportional_dup: np.ndarray  # [nq, nx, nr, n_conv] PIMSYN's W*H-proportional dup of the point (§10.2)
    adc_res: np.ndarray  # [nx, nr, nd]
    adc_ok: np.ndarray  # [nx, nr, nd] the ADC table has that resolution
    legal: np.ndarray  # [nq, nx, nr, nd] usable global point (on the pins)
    nearest: np.ndarray  # [nq, nx, nr, nd, 4] nearest legal (q, x, r, d) of any point
    # gene bounds
    lower: np.ndarray  # [n_genes]
    upper: np.ndarray  # [n_genes]
    _names: tuple[str, ...] = field(repr=False)

    # ---- construction ----------------------------------------------------------------
    @classmethod
    def build(
        cls,
        network: Network,
        hardware: Hardware,
        total_power_w: float,
        macro_setting: str = "specified",
        allow_sharing: bool = True,
        pins=None,
        dup_mode: str = "searched",
    ) -> "GenomeLayout":
        """Tables for one problem. Raises :class:`NoLegalDesign` if no (ratio, X, r, d)
        point on the pins can hold the weights (the message names the least power that
        would, or the rule a pin breaks) and :class:`InputError` for a pin value that is
        not in the config's tables."""
        if macro_setting not in SETTINGS:
            raise InputError(f"macro setting must be one of {', '.join(SETTINGS)}, got {macro_setting!r}")
        if dup_mode not in DUP_MODES:
            raise InputError(f"The 'dup' parameter must be one of {', '.join(DUP_MODES)}. Got {dup_mode!r} instead.")
        pins = parse_pins(pins)
        total_power_w = float(total_power_w)
        if not math.isfinite(total_power_w) or total_power_w <= 0:
            raise InputError(f"total power must be a positive number of W, got {total_power_w!r}")
        unified = macro_setting == "unified"
        arr = network.arrays
        mvm = np.asarray(network.mvm_indices)
        n_conv = len(network.conv_indices)
        n_mvm = len(mvm)
        is_fc = arr.kind[mvm] == FC
        rows = arr.rows[mvm]
        chans = arr.out_channels[mvm]
        pixels = (arr.out_h * arr.out_w)[np.asarray(network.conv_indices)]

        xs = np.array(sorted({x for x, _ in hardware.rram}), dtype=np.int64)
        rs = np.array(sorted({r for _, r in hardware.rram}), dtype=np.int64)
        ds = np.array(sorted(hardware.dac), dtype=np.int64)
        nx, nr, nd, nq = len(xs), len(rs), len(ds), len(RATIO_GRID)

        ea = hardware.ea or {}
        k_lo = int(ea.get("default_min_macro_size", 32))
        k_hi = int(ea.get("default_max_macro_size", 512))
        k_step = int(ea.get("default_macro_size_stride", 32))
        if k_lo < 1 or k_step < 1 or k_hi < k_lo:
            raise InputError(
                f"{hardware.source}: EA macro-size grid must have 1 <= default_min_macro_size <= "
                f"default_max_macro_size and stride >= 1, got {k_lo}, {k_hi}, {k_step}"
            )
        nk = len(range(k_lo, k_hi + 1, k_step))  # the longest list: s_min = min size
        on_pin, pin_index = _pin_masks(pins, hardware, xs, rs, ds, unified, (k_lo, k_hi, k_step))

        present = np.array([[(int(x), int(r)) in hardware.rram for r in rs] for x in xs])
        peak = np.array(
            [[hardware.rram[(int(x), int(r))].peak_power_w if p else np.inf for r, p in zip(rs, prow)]
             for x, prow in zip(xs, present)]
        )
        slices = -(-hardware.weight_res // rs)
        iota = -(-rows[None, :] // xs[:, None])  # [nx, n_mvm]
        colx = -(-chans[None, :] // xs[:, None])
        mu = colx[:, None, :] * slices[None, :, None]  # [nx, nr, n_mvm]
        sets = iota[:, None, :] * mu
        conv_sum = sets[:, :, :n_conv].sum(axis=2)
        conv_mean = sets[:, :, :n_conv].mean(axis=2) if n_conv else np.zeros((nx, nr))
        fc_sum = sets[:, :, is_fc].sum(axis=2)

        # Unified macro sizes (MODEL.md §2.3): {s_min, s_min + stride, ..., max} with
        # s_min = max(min size, max_i ceil(mu_i / stride) * stride); empty when s_min > max
        # (PIMSYN crashes there, Q9; here that (X, r) is simply not legal).
        s_min = np.maximum(k_lo, (-(-mu // k_step) * k_step).max(axis=2))  # [nx, nr]
        sizes = s_min[:, :, None] + k_step * np.arange(nk)[None, None, :]
        size_ok = (sizes <= k_hi) & present[:, :, None]
        if "macro_size" in pins:
            size_ok &= sizes == pins["macro_size"]
        sizes = np.where(size_ok, sizes, 0)
        s_last = np.where(size_ok.any(axis=2), sizes.max(axis=2), k_hi)  # largest size of each list

        # dup range: 1 .. W*H (more duplicates than output pixels have nothing to do). In
        # the unified setting, m_i = ceil(lim_i / ceil(s / mu_i)) must also stay <= 999 at
        # the largest size, which caps dup_i <= 999 * ceil(s_max / mu_i) / iota_i.
        dup_max = np.broadcast_to(pixels, (nx, nr, n_conv)).copy()
        if unified and n_conv:
            per_macro = -(-s_last[:, :, None] // mu[:, :, :n_conv])
            cap = (MAX_MACROS * per_macro) // iota[:, None, :n_conv]
            dup_max = np.maximum(1, np.minimum(dup_max, cap))
        if dup_mode == "one":
            dup_max = np.ones_like(dup_max)

        n_xb = total_crossbars(total_power_w, RATIO_GRID[:, None, None], np.broadcast_to(peak, (nq, nx, nr)))
        n_xb = np.where(present[None], n_xb, 0)
        n_conv_budget = n_xb - fc_sum[None]
        capacity_ok = present[None] & (n_conv_budget > conv_sum[None])
        if unified:
            capacity_ok &= size_ok.any(axis=2)[None]

        adc = np.zeros((nx, nr, nd), dtype=np.int64)
        for ix, x in enumerate(xs):
            for ir, r in enumerate(rs):
                adc[ix, ir] = adc_resolution(np.full(nd, x), ds, np.full(nd, r))
        adc_ok = np.isin(adc, np.array(sorted(hardware.adc), dtype=np.int64)) & present[:, :, None]
        legal = capacity_ok[:, :, :, None] & adc_ok[None] & on_pin
        if not legal.any():
            if pins:
                raise NoLegalDesign(_pinned_message(network, hardware, total_power_w, pins, xs, rs, peak, present,
                                                    conv_sum, fc_sum, adc, adc_ok, on_pin, unified, size_ok,
                                                    s_min, k_hi))
            raise NoLegalDesign(_too_little_power_message(network, hardware, total_power_w, xs, rs, peak, present,
                                                          conv_sum, fc_sum, adc_ok, unified, size_ok.any(axis=2)))
        nearest = _nearest_legal(legal)
        proportional = _proportional_dup(n_conv_budget, capacity_ok, sets[:, :, :n_conv], pixels, dup_max)

        names = list(GLOBAL_NAMES)
        names += [f"dup_{j}" for j in range(n_conv)]
        names += [f"macros_{i}" for i in range(n_mvm)]
        names += [f"share_{i}" for i in range(n_mvm)]
        lower = np.zeros(len(names), dtype=np.int64)
        upper = np.zeros(len(names), dtype=np.int64)
        upper[:N_GLOBAL] = [nx - 1, nr - 1, nd - 1, nq - 1, nk - 1 if unified else 0]
        d0, m0, s0 = N_GLOBAL, N_GLOBAL + n_conv, N_GLOBAL + n_conv + n_mvm
        lower[d0:m0] = 1
        upper[d0:m0] = dup_max.max(axis=(0, 1)) if n_conv else 1
        for name, index in pin_index.items():  # a pinned gene has one value
            lower[GLOBAL_NAMES.index(name)] = upper[GLOBAL_NAMES.index(name)] = index
        lower[m0:s0] = 1
        upper[m0:s0] = MAX_MACROS
        lower[s0:] = -1
        upper[s0:] = np.arange(n_mvm) - 1 if allow_sharing else -1
        upper[s0] = -1  # the first layer has no earlier partner

        return cls(
            network=network,
            hardware=hardware,
            total_power_w=total_power_w,
            macro_setting=macro_setting,
            allow_sharing=bool(allow_sharing),
            pin_items=tuple(pins.items()),
            dup_mode=dup_mode,
            xbar_sizes=_ro(xs),
            rram_resolutions=_ro(rs),
            dac_resolutions=_ro(ds),
            ratios=_ro(RATIO_GRID.copy()),
            macro_sizes=_ro(sizes),
            size_ok=_ro(size_ok),
            n_conv=n_conv,
            n_mvm=n_mvm,
            pixels=_ro(pixels.astype(np.int64)),
            xr_present=_ro(present),
            slices=_ro(slices),
            row_blocks=_ro(iota),
            sets=_ro(sets),
            min_macro=_ro(mu),
            conv_set_sum=_ro(conv_sum),
            conv_set_mean=_ro(conv_mean.astype(np.float64)),
            fc_set_sum=_ro(fc_sum),
            dup_max=_ro(dup_max.astype(np.int64)),
            limit_max=_ro(np.concatenate([dup_max, np.ones((nx, nr, n_mvm - n_conv), dtype=np.int64)], axis=2)
                          * iota[:, None, :]),
            n_conv_budget=_ro(n_conv_budget.astype(np.int64)),
            capacity_ok=_ro(capacity_ok),
            proportional_dup=_ro(proportional),
            adc_res=_ro(adc),
            adc_ok=_ro(adc_ok),
            legal=_ro(legal),
            nearest=_ro(nearest),
            lower=_ro(lower),
            upper=_ro(upper),
            _names=tuple(names),
        )

    # ---- positions -------------------------------------------------------------------
    @property
    def pins(self) -> dict[str, int | float]:
        """Pinned global genes ``{name: value}`` (a copy; the layout is immutable and pickled
        to workers, which a mapping proxy cannot be)."""
        return dict(self.pin_items)

    @property
    def unified(self) -> bool:
        return self.macro_setting == "unified"

    @property
    def n_genes(self) -> int:
        return N_GLOBAL + self.n_conv + 2 * self.n_mvm

    @property
    def dup_slice(self) -> slice:
        return slice(N_GLOBAL, N_GLOBAL + self.n_conv)

    @property
    def macro_slice(self) -> slice:
        return slice(N_GLOBAL + self.n_conv, N_GLOBAL + self.n_conv + self.n_mvm)

    @property
    def share_slice(self) -> slice:
        return slice(N_GLOBAL + self.n_conv + self.n_mvm, self.n_genes)

    @cached_property
    def layer_blocks(self) -> tuple[np.ndarray, ...]:
        """Gene columns of each MVM layer (dup if conv, macros, share): the unit crossover keeps together."""
        out = []
        for i in range(self.n_mvm):
            cols = [self.macro_slice.start + i, self.share_slice.start + i]
            if i < self.n_conv:
                cols.insert(0, self.dup_slice.start + i)
            out.append(_ro(np.array(cols, dtype=np.int64)))
        return tuple(out)

    @cached_property
    def n_sizes(self) -> np.ndarray:
        """[nx, nr] length of each (X, r) point's unified macro-size list (0: unified impossible)."""
        return _ro(self.size_ok.sum(axis=2).astype(np.int64))

    @cached_property
    def legal_globals(self) -> np.ndarray:
        """[L, 4] every legal (ratio, x, r, d) index tuple, for uniform sampling."""
        return _ro(np.argwhere(self.legal).astype(np.int64))

    @cached_property
    def layer_names(self) -> tuple[str, ...]:
        """Layer names in gene order (MVM layers)."""
        return tuple(self.network.layers[int(l)].name for l in self.network.mvm_indices)

    def describe(self) -> list[dict]:
        """One entry per gene column: ``name`` (stable CSV header), ``layer`` (network layer
        name or None), ``lower``, ``upper`` and ``meaning``."""
        out = []
        meanings = {
            "xbar_size": f"index into crossbar sizes {self.xbar_sizes.tolist()}",
            "rram_res": f"index into cell resolutions {self.rram_resolutions.tolist()}",
            "dac_res": f"index into DAC resolutions {self.dac_resolutions.tolist()}",
            "rram_ratio": "index into ratios 0.10..0.40 step 0.01",
            "macro_size": ("index into the unified macro sizes s_min, s_min + stride, ..., max of the (X, r) point"
                           if self.unified else "unused (specified setting)"),
        }
        for name, value in self.pins.items():
            meanings[name] += f"; pinned to {value:g}" if isinstance(value, float) else f"; pinned to {value}"
        for c, name in enumerate(self._names):
            layer = None
            if c >= N_GLOBAL:
                kind, pos = name.rsplit("_", 1)
                layer = self.layer_names[int(pos)]
                meaning = {"dup": f"weight duplication ({self.dup_mode})", "macros": "own macro count",
                           "share": "sharing partner gene position, -1 none"}[kind]
            else:
                meaning = meanings[name]
            out.append({"name": name, "layer": layer, "lower": int(self.lower[c]), "upper": int(self.upper[c]),
                        "meaning": meaning})
        return out

    @property
    def gene_names(self) -> tuple[str, ...]:
        return self._names

    def clip(self, G: np.ndarray) -> np.ndarray:
        """Every gene into its static bounds (a copy, int64)."""
        G = np.asarray(G, dtype=np.int64)
        if G.ndim != 2 or G.shape[1] != self.n_genes:
            raise ValueError(f"genomes must be an int matrix [B, {self.n_genes}], got shape {G.shape}")
        return np.clip(G, self.lower, self.upper)


def _pin_masks(pins: dict, hardware: Hardware, xs, rs, ds, unified: bool,
               size_grid: tuple[int, int, int]) -> tuple[np.ndarray, dict[str, int]]:
    """([nq, nx, nr, nd] bool: the point is on the pins, {gene name: pinned index}).
    A value missing from the config's tables (or off the ratio / macro-size grid) is an
    input error, not an empty design space."""
    lists = {"xbar_size": xs, "rram_res": rs, "dac_res": ds}
    where = {"xbar_size": "RRAM", "rram_res": "RRAM", "dac_res": "DAC"}
    masks = [np.ones(len(RATIO_GRID), bool), np.ones(len(xs), bool), np.ones(len(rs), bool), np.ones(len(ds), bool)]
    index: dict[str, int] = {}
    for name, value in pins.items():
        if name == "rram_ratio":
            hit = np.flatnonzero(np.abs(RATIO_GRID - value) < 1e-9)
            if not len(hit):
                raise InputError(f"pin rram_ratio={value:g}: the ratio must be on the grid 0.10, 0.11, ..., 0.40")
            index[name] = int(hit[0])
            masks[0] = np.arange(len(RATIO_GRID)) == hit[0]
        elif name == "macro_size":
            lo, hi, step = size_grid
            if not unified:
                raise InputError(f"pin macro_size={value}: a macro size is a gene of the unified macro setting only "
                                 f"(--macro-setting unified)")
            if value not in range(lo, hi + 1, step):
                raise InputError(f"pin macro_size={value}: the size must be on the config's grid {lo}, {lo + step}, "
                                 f"..., {hi} crossbars per macro (EA block of {hardware.source})")
        else:
            values = lists[name]
            if value not in values:
                raise InputError(f"pin {name}={value}: {hardware.source} has no {where[name]} entry for it (it has "
                                 f"{', '.join(str(int(v)) for v in values)})")
            index[name] = int(np.flatnonzero(values == value)[0])
            masks[("xbar_size", "rram_res", "dac_res").index(name) + 1] = values == value
    q, x, r, d = masks
    return q[:, None, None, None] & x[None, :, None, None] & r[None, None, :, None] & d[None, None, None, :], index


def _proportional_dup(budget: np.ndarray, capacity_ok: np.ndarray, sets: np.ndarray, pixels: np.ndarray,
                      dup_max: np.ndarray) -> np.ndarray:
    """[nq, nx, nr, n_conv] PIMSYN's W*H-proportional duplication of every global point
    (MODEL.md §10.2, its SA seed): with shares s_l = W_l*H_l*set_l,
    dup_l = ceil(N_conv * s_l / sum(s) / set_l); then, cycling over the layers from the
    first, a layer with dup > 1 gives up one copy while the crossbars used exceed N_conv
    by more than the mean set. Clipped to 1..dup_max. Points that cannot hold one copy
    of the weights get 1 (they are never legal)."""
    nq, nx, nr = budget.shape
    n_conv = sets.shape[-1]
    out = np.ones((nq, nx, nr, n_conv), dtype=np.int64)
    if n_conv == 0:
        return out
    for q, x, r in zip(*np.nonzero(capacity_ok)):
        n = float(budget[q, x, r])
        set_ = sets[x, r].astype(np.float64)
        share = pixels * set_
        dup = np.ceil(n * share / share.sum() / set_).astype(np.int64)
        over = float((dup * set_).sum()) - n
        mean = float(set_.mean())
        # ends: at dup = 1 everywhere the overshoot is sum(set) - N_conv < 0 on a capacity-ok point
        layer = 0
        while over > mean:
            if dup[layer] > 1:
                dup[layer] -= 1
                over -= set_[layer]
            layer = (layer + 1) % n_conv
        out[q, x, r] = np.clip(dup, 1, dup_max[x, r])
    return out


def _pinned_message(network, hardware, power, pins, xs, rs, peak, present, conv_sum, fc_sum, adc, adc_ok, on_pin,
                    unified, size_ok, s_min, k_hi) -> str:
    """Why no design on the pins is legal, checked in the order the rules apply: RRAM and
    ADC tables, the unified macro size, then crossbar capacity (with what would fix it)."""
    label = pins_label(pins)
    on_xrd = on_pin.any(axis=0)  # [nx, nr, nd]
    pinned_xr = on_xrd.any(axis=2) & present
    if not pinned_xr.any():
        return f"pin {label}: {hardware.source} has no RRAM entry for these crossbar sizes and cell resolutions"
    with_adc = on_xrd & adc_ok
    if not with_adc.any():
        wanted = sorted({int(a) for a in adc[on_xrd & present[:, :, None]]})
        return (f"pin {label}: no legal design: the ADC resolutions these give ({', '.join(map(str, wanted))} bits) "
                f"are not in {hardware.source}'s ADC table ({', '.join(str(a) for a in sorted(hardware.adc))})")
    usable_xr = with_adc.any(axis=2)
    if unified:
        sized = usable_xr & size_ok.any(axis=2)
        if not sized.any():
            ix, ir = np.argwhere(usable_xr)[np.argmin(s_min[usable_xr])]
            need = int(s_min[ix, ir])
            if "macro_size" in pins:
                return (f"pin {label}: no legal design: unified macros of {pins['macro_size']} crossbars cannot hold "
                        f"a row block of the widest layer, which needs at least {need} ({int(xs[ix])}x{int(xs[ix])} "
                        f"crossbars, {int(rs[ir])}-bit cells)")
            return (f"pin {label}: no legal design: the widest layer needs unified macros of {need} crossbars, above "
                    f"the largest size {k_hi}")
        usable_xr = sized
    # crossbar capacity: the pinned point that comes closest, and the least power that holds the weights there
    ratios = RATIO_GRID[on_pin.any(axis=(1, 2, 3))]
    best_ratio = float(ratios.max())
    ix, ir = min(np.argwhere(usable_xr), key=lambda p: (conv_sum[p[0], p[1]] + fc_sum[p[0], p[1]]) * peak[p[0], p[1]])
    xbars = int(conv_sum[ix, ir] + fc_sum[ix, ir] + 1)
    have = int(total_crossbars(power, best_ratio, peak[ix, ir]))
    need_w = xbars * float(peak[ix, ir]) / best_ratio
    while int(total_crossbars(need_w, best_ratio, peak[ix, ir])) < xbars:
        need_w = np.nextafter(need_w, math.inf)
    need_ratio = xbars * float(peak[ix, ir]) / power
    fix = f"a power of at least {math.ceil(need_w * 1000) / 1000:g} W"
    if "rram_ratio" in pins and need_ratio <= RATIO_GRID[-1]:
        fix += f" or a ratio of at least {math.ceil(need_ratio * 100) / 100:.2f}"
    return (f"pin {label}: no legal design: the crossbars cannot hold the weights of {network.name} at {power:g} W: "
            f"ratio {best_ratio:.2f} buys {have} crossbars of {int(xs[ix])}x{int(xs[ix])} with {int(rs[ir])}-bit "
            f"cells, one copy of the weights needs {xbars} (needs {fix})")


def _nearest_legal(legal: np.ndarray) -> np.ndarray:
    """For every (q, x, r, d) the legal point repair moves it to; legal points map to themselves.

    Cost of a move: DAC steps first (1 down, 1.5 up: a lower DAC resolution lowers the ADC
    resolution, which is what an ADC-table miss needs), then the ratio (0.25 per 0.01:
    more ratio buys crossbars), then cell resolution (4 per step) and crossbar size
    (6 per step), which change the meaning of every dup. Ties go to the lowest index tuple.
    """
    shape = legal.shape
    pts = np.argwhere(legal)  # [L, 4]
    grid = np.indices(shape).reshape(4, -1).T  # [N, 4]
    delta = pts[None, :, :] - grid[:, None, :]  # [N, L, 4]
    ddac = delta[..., 3]
    cost = (np.abs(delta[..., 0]) * 0.25 + np.abs(delta[..., 1]) * 6.0 + np.abs(delta[..., 2]) * 4.0
            + np.where(ddac < 0, -ddac * 1.0, ddac * 1.5))
    best = np.argmin(cost, axis=1)  # first minimum = lowest index tuple (argwhere is sorted)
    return pts[best].reshape(*shape, 4).astype(np.int64)


def _too_little_power_message(network, hardware, power, xs, rs, peak, present, conv_sum, fc_sum, adc_ok,
                              unified, size_ok) -> str:
    """Name the least total power that holds one copy of the weights at the best ratio."""
    best_ratio = float(RATIO_GRID[-1])
    need = math.inf
    where = None
    for ix, x in enumerate(xs):
        for ir, r in enumerate(rs):
            if not present[ix, ir] or not adc_ok[ix, ir].any() or (unified and not size_ok[ix, ir]):
                continue
            # N_conv > conv_sum  <=>  int(P * rho / peak) >= conv_sum + fc_sum + 1
            xbars = int(conv_sum[ix, ir] + fc_sum[ix, ir] + 1)
            p = xbars * float(peak[ix, ir]) / best_ratio
            # float truncation in int(P*rho/peak) can be one short: step up until it holds
            while int(total_crossbars(p, best_ratio, peak[ix, ir])) < xbars:
                p = np.nextafter(p, math.inf)
            if p < need:
                need, where = p, (int(x), int(r), xbars)
    if where is None:
        return (f"{network.name}: no crossbar size / cell resolution in {hardware.source} has a usable ADC"
                + (" and unified macro size" if unified else ""))
    shown = math.ceil(need * 1000) / 1000
    return (f"{network.name}: a total power of {power:g} W cannot hold the weights at any (ratio, cell resolution, "
            f"crossbar size): it needs at least {shown:g} W (ratio {best_ratio:g}, {where[0]}x{where[0]} crossbars, "
            f"{where[1]}-bit cells, {where[2]} crossbars)")
