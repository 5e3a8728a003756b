"""Design points as a structure of arrays (batch axis first), their schema and legality.

A design is the global choice (power budget, crossbar share, crossbar size, cell and DAC
resolution, macro setting) plus three per-layer vectors: ``dup`` over conv layers in
network order, ``macro_num`` and ``macro_share`` over MVM layers in PIMSYN's gene order
(convs, then fcs). ``macro_share`` holds the partner *as applied* by PIMSYN (a gene
position, -1 for none; MODEL.md Q7): the reference points carry it in that form.

The evaluator refuses a design only where PIMSYN itself returns 0 or crashes;
:func:`legality_mask` encodes the stricter rules PIMSYN's search respects (for the GA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from fitness.crossbars import (adc_resolution, ceil_div, conv_budget, crossbar_sets, min_macro_size, row_blocks,
                               total_crossbars)
from fitness.errors import InputError
from fitness.hardware import Hardware
from fitness.network import Network

XBAR_SIZES = (128, 256, 512)
RRAM_RESOLUTIONS = (1, 2, 4)
DAC_RESOLUTIONS = (1, 2, 4)
MAX_MACROS_PER_LAYER = 999  # the gene stores m_i in its last three digits
SETTINGS = ("specified", "unified")


@dataclass(frozen=True, kw_only=True)
class DesignBatch:
    xbar_size: np.ndarray  # int[B]
    rram_res: np.ndarray  # int[B]
    dac_res: np.ndarray  # int[B]
    rram_ratio: np.ndarray  # float[B]
    total_power_w: np.ndarray  # float[B]
    unified: np.ndarray  # bool[B]
    dup: np.ndarray  # int[B, n_conv]
    macro_num: np.ndarray  # int[B, n_mvm], gene order
    macro_share: np.ndarray  # int[B, n_mvm], gene position of the partner, -1 = none
    ids: np.ndarray = field(default=None)  # object[B], free text

    def __post_init__(self) -> None:
        n = len(self.xbar_size)
        if self.ids is None:
            object.__setattr__(self, "ids", np.array([str(i) for i in range(n)], dtype=object))
        for f in fields(self):
            value = getattr(self, f.name)
            if len(value) != n:
                raise InputError(f"design batch: field {f.name} has {len(value)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.xbar_size)

    @property
    def adc_res(self) -> np.ndarray:
        """ADC bits derived from (X, d, r) (MODEL.md §2.1)."""
        return adc_resolution(self.xbar_size, self.dac_res, self.rram_res)

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def from_records(cls, network: Network, records: Iterable[Mapping[str, Any]],
                     default_power_w: float | None = None) -> "DesignBatch":
        """Read the reference design schema; raises InputError naming the design and field."""
        records = list(records)
        n_conv, n_mvm = len(network.conv_indices), len(network.mvm_indices)
        cols: dict[str, list] = {k: [] for k in ("xbar_size", "rram_res", "dac_res", "rram_ratio", "total_power_w",
                                                  "unified", "dup", "macro_num", "macro_share", "ids")}
        for i, rec in enumerate(records):
            where = f"design {i}" + (f" ({rec.get('id')!r})" if isinstance(rec, Mapping) and "id" in rec else "")
            if not isinstance(rec, Mapping):
                raise InputError(f"{where}: expected a JSON object, got {type(rec).__name__}")
            power = rec.get("total_power_W", default_power_w)
            if power is None:
                raise InputError(f"{where}: missing field 'total_power_W' (and no default power given)")
            cols["total_power_w"].append(_number(power, where, "total_power_W"))
            cols["rram_ratio"].append(_number(_field(rec, "rram_ratio", where), where, "rram_ratio"))
            for key in ("xbar_size", "rram_res", "dac_res"):
                cols[key].append(_integer(_field(rec, key, where), where, key))
            setting = rec.get("macro_setting", "specified")
            if setting not in SETTINGS:
                raise InputError(f"{where}: macro_setting must be 'specified' or 'unified', got {setting!r}")
            cols["unified"].append(setting == "unified")
            cols["dup"].append(_int_list(_field(rec, "dup", where), n_conv, where, "dup", "conv layers"))
            cols["macro_num"].append(_int_list(_field(rec, "macro_num", where), n_mvm, where, "macro_num", "conv/fc layers"))
            share = rec.get("macro_share")
            if share is None:
                share = [None] * n_mvm
            if not isinstance(share, (list, tuple)) or len(share) != n_mvm:
                raise InputError(f"{where}: macro_share must be a list of {n_mvm} entries (index or null), got {share!r}")
            cols["macro_share"].append([-1 if s is None else _integer(s, where, "macro_share") for s in share])
            cols["ids"].append(str(rec.get("id", i)))
        return cls(
            xbar_size=np.array(cols["xbar_size"], dtype=np.int64),
            rram_res=np.array(cols["rram_res"], dtype=np.int64),
            dac_res=np.array(cols["dac_res"], dtype=np.int64),
            rram_ratio=np.array(cols["rram_ratio"], dtype=np.float64),
            total_power_w=np.array(cols["total_power_w"], dtype=np.float64),
            unified=np.array(cols["unified"], dtype=bool),
            dup=np.array(cols["dup"], dtype=np.int64).reshape(len(records), n_conv),
            macro_num=np.array(cols["macro_num"], dtype=np.int64).reshape(len(records), n_mvm),
            macro_share=np.array(cols["macro_share"], dtype=np.int64).reshape(len(records), n_mvm),
            ids=np.array(cols["ids"], dtype=object),
        )

    def to_records(self) -> list[dict]:
        out = []
        for i in range(len(self)):
            total = float(self.total_power_w[i])
            out.append({
                "id": str(self.ids[i]),
                "total_power_W": int(total) if total.is_integer() else total,
                "rram_ratio": float(self.rram_ratio[i]),
                "rram_res": int(self.rram_res[i]),
                "xbar_size": int(self.xbar_size[i]),
                "dac_res": int(self.dac_res[i]),
                "macro_setting": "unified" if self.unified[i] else "specified",
                "dup": [int(x) for x in self.dup[i]],
                "macro_num": [int(x) for x in self.macro_num[i]],
                "macro_share": [None if s < 0 else int(s) for s in self.macro_share[i]],
            })
        return out

    def take(self, idx) -> "DesignBatch":
        idx = np.asarray(idx)
        return DesignBatch(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def concat(cls, batches: Sequence["DesignBatch"]) -> "DesignBatch":
        if not batches:
            raise InputError("design batch: nothing to concatenate")
        return cls(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)})


def _field(rec: Mapping, key: str, where: str):
    if key not in rec:
        raise InputError(f"{where}: missing field {key!r}")
    return rec[key]


def _number(value, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{where}: {key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{where}: {key} must be finite, got {value!r}")
    return float(value)


def _integer(value, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise InputError(f"{where}: {key} must be an integer, got {value!r}")
    return int(value)


def _int_list(value, n: int, where: str, key: str, what: str) -> list[int]:
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{where}: {key} must be a list of {n} integers (one per {what}), got {value!r}")
    if len(value) != n:
        raise InputError(f"{where}: {key} has {len(value)} entries, expected {n} (one per {what})")
    return [_integer(v, where, key) for v in value]


def validate_records(network: Network, records: Iterable[Mapping[str, Any]],
                     default_power_w: float | None = None) -> list[str]:
    """Per-record "ok" or the reason it cannot be read (without raising)."""
    out = []
    for rec in records:
        try:
            DesignBatch.from_records(network, [rec], default_power_w)
            out.append("ok")
        except InputError as exc:
            out.append(str(exc).replace("design 0", "design", 1))
    return out


# ---- legality (the rules PIMSYN's search respects; MODEL.md §2, §4) ------------------------
def specified_candidates(row_block_count: int, dup: int) -> np.ndarray:
    """Counts that split rows and duplicates evenly: {u x v : u | rows, v | dup, u x v < 1000}."""
    us = [u for u in range(1, row_block_count + 1) if row_block_count % u == 0]
    vs = [v for v in range(1, dup + 1) if dup % v == 0]
    return np.array(sorted({u * v for u in us for v in vs if u * v <= MAX_MACROS_PER_LAYER}), dtype=np.int64)


def unified_sizes(min_macro_sizes: np.ndarray, hardware: Hardware) -> np.ndarray:
    """The unified macro-size grid {s_min, s_min + stride, ..., max} (empty: PIMSYN Q9)."""
    ea = hardware.ea
    lo, hi, step = int(ea.get("default_min_macro_size", 32)), int(ea.get("default_max_macro_size", 512)), \
        int(ea.get("default_macro_size_stride", 32))
    s_min = max(lo, int(max(-(-int(m) // step) * step for m in min_macro_sizes)))
    return np.arange(s_min, hi + 1, step, dtype=np.int64)


def legality_mask(network: Network, hardware: Hardware, batch: DesignBatch) -> tuple[np.ndarray, np.ndarray]:
    """(ok bool[B], reason str[B]): the first rule each design breaks, "ok" otherwise."""
    n = len(batch)
    reason = np.full(n, "ok", dtype=object)

    def fail(mask, text):
        mask = np.asarray(mask, dtype=bool) & (reason == "ok")
        reason[mask] = text

    fail(~np.isin(batch.xbar_size, XBAR_SIZES), "xbar_size_not_in_128_256_512")
    fail(~np.isin(batch.rram_res, RRAM_RESOLUTIONS), "rram_res_not_in_1_2_4")
    fail(~np.isin(batch.dac_res, DAC_RESOLUTIONS), "dac_res_not_in_1_2_4")
    fail(~np.isin(batch.adc_res, list(hardware.adc)), "adc_resolution_without_table_entry")
    fail(~np.isin(batch.dac_res, list(hardware.dac)), "dac_resolution_without_table_entry")
    fail(~((batch.rram_ratio > 0) & (batch.rram_ratio < 1)), "rram_ratio_not_in_0_1")
    fail(~(batch.total_power_w > 0), "total_power_not_positive")
    fail((batch.dup < 1).any(axis=1), "dup_below_1")
    fail(((batch.macro_num < 1) | (batch.macro_num > MAX_MACROS_PER_LAYER)).any(axis=1), "macro_num_not_in_1_999")
    n_mvm = len(network.mvm_indices)
    fail(((batch.macro_share < -1) | (batch.macro_share >= n_mvm)).any(axis=1), "macro_share_out_of_range")
    bad = reason != "ok"
    if bad.all():
        return reason == "ok", reason.astype(str)

    x = np.where(bad, 256, batch.xbar_size)
    r = np.where(bad, 2, batch.rram_res)
    s = ceil_div(hardware.weight_res, r)
    sets = crossbar_sets(network, x, s)
    rows_x = row_blocks(network, x)
    mu = min_macro_size(network, x, s)
    mvm = network.mvm_indices
    conv_pos = {int(l): i for i, l in enumerate(network.conv_indices)}
    dup_mvm = np.ones((n, n_mvm), dtype=np.int64)
    for i, l in enumerate(mvm):
        if int(l) in conv_pos:
            dup_mvm[:, i] = np.maximum(batch.dup[:, conv_pos[int(l)]], 1)
    limit = dup_mvm * rows_x[:, mvm]
    fail((batch.macro_num > limit).any(axis=1), "macro_num_above_limit")

    for b in np.flatnonzero(reason == "ok"):
        why = _gene_rule(network, hardware, batch, b, rows_x[b, mvm], dup_mvm[b], limit[b], mu[b, mvm])
        if why:
            reason[b] = why

    peak = np.array([hardware.rram[(int(xi), int(ri))].peak_power_w if (int(xi), int(ri)) in hardware.rram else np.nan
                     for xi, ri in zip(x, r)])
    n_xb = total_crossbars(batch.total_power_w, batch.rram_ratio, np.nan_to_num(peak, nan=np.inf))
    n_conv, cap_ok = conv_budget(network, n_xb, sets)
    fail(~cap_ok, "crossbar_capacity_insufficient")
    conv_sets = sets[:, network.conv_indices]
    used = (batch.dup * conv_sets).sum(axis=1)
    fail(used > n_conv + conv_sets.mean(axis=1), "crossbar_budget_exceeded")
    return reason == "ok", reason.astype(str)


def _gene_rule(network, hardware, batch, b, rows_x, dup, limit, mu) -> str:
    m = batch.macro_num[b]
    share = batch.macro_share[b]
    group_size: dict[int, int] = {}
    for i, p in enumerate(share):
        if p < 0:
            continue
        if p >= i:
            return "share_partner_not_earlier"
        if share[p] >= 0:
            return "share_partner_is_shared"
        group_size[p] = group_size.get(p, 1) + 1
        if group_size[p] > 2:
            return "share_group_above_two"
        if m[i] + m[p] > min(limit[i], limit[p]):
            return "shared_macro_num_above_limit"
    if batch.unified[b]:
        sizes = unified_sizes(mu, hardware)
        if sizes.size == 0:
            return "unified_min_macro_size_above_max (Q9)"
        lim, mu_ = limit[None, :], mu[None, :]
        s = sizes[:, None]
        by_rows = -(-lim // -(-s // mu_))
        by_xbars = -(-(lim * mu_) // s)
        match = ((m[None, :] == by_rows) | (m[None, :] == by_xbars) | (share[None, :] >= 0)).all(axis=1)
        if not match.any():
            return "macro_num_not_unified"
        return ""
    for i in range(len(m)):
        if m[i] not in specified_candidates(int(rows_x[i]), int(dup[i])):
            return "macro_num_not_even_split"
    return ""


def as_batch(network: Network, designs: DesignBatch | Iterable[Mapping[str, Any]]) -> DesignBatch:
    """A :class:`DesignBatch` of ``designs`` (a batch, checked against the network, or
    reference-schema records; one mapping is a batch of one)."""
    if isinstance(designs, DesignBatch):
        if designs.dup.shape[1] != len(network.conv_indices) or designs.macro_num.shape[1] != len(network.mvm_indices):
            raise InputError(f"design batch does not fit network {network.name!r}: expected dup over "
                             f"{len(network.conv_indices)} conv layers and macro_num over {len(network.mvm_indices)} conv/fc layers")
        return designs
    if isinstance(designs, Mapping):
        designs = [designs]
    return DesignBatch.from_records(network, designs)
