import json
import math

import numpy as np
import pytest

from fitness.design import DesignBatch, legality_mask, specified_candidates, validate_records
from fitness.errors import InputError

pytestmark = pytest.mark.unit

DESIGN_KEYS = ("total_power_W", "rram_ratio", "rram_res", "xbar_size", "dac_res", "macro_setting", "dup",
               "macro_num", "macro_share")
EX11 = dict(id="ex11", total_power_W=49, rram_ratio=0.3, rram_res=2, xbar_size=256, dac_res=1,
            macro_setting="specified", dup=[117, 26, 6, 6, 6], macro_num=[13, 13, 6, 6, 6, 4, 4, 2],
            macro_share=[None] * 8)


@pytest.fixture(scope="module")
def alexnet_points(reference_dir):
    lines = (reference_dir / "points.jsonl").read_text().splitlines()
    return [p for p in map(json.loads, lines) if p["network"] == "alexnet"]


def test_records_round_trip(alexnet, alexnet_points):
    batch = DesignBatch.from_records(alexnet, alexnet_points)
    assert len(batch) == len(alexnet_points)
    assert batch.dup.shape == (len(batch), 5) and batch.macro_num.shape == (len(batch), 8)
    for rec, back in zip(alexnet_points, batch.to_records()):
        assert back["id"] == rec["id"]
        for key in DESIGN_KEYS:
            assert back[key] == rec[key], key
    assert batch.macro_share.dtype == np.int64 and (batch.macro_share >= -1).all()


def test_take_concat_and_derived_adc(alexnet, alexnet_points):
    batch = DesignBatch.from_records(alexnet, alexnet_points[:10])
    part = batch.take([3, 1])
    assert part.ids.tolist() == [alexnet_points[3]["id"], alexnet_points[1]["id"]]
    both = DesignBatch.concat([part, batch.take([0])])
    assert len(both) == 3 and both.dup[2].tolist() == alexnet_points[0]["dup"]
    d = DesignBatch.from_records(alexnet, [dict(EX11, dac_res=dr, rram_res=rr) for dr, rr in ((1, 2), (2, 2), (4, 1))])
    assert d.adc_res.tolist() == [9, 11, 11]


def test_default_power_and_unified(alexnet):
    rec = {k: v for k, v in EX11.items() if k != "total_power_W"}
    batch = DesignBatch.from_records(alexnet, [rec, dict(rec, macro_setting="unified")], default_power_w=20)
    assert batch.total_power_w.tolist() == [20, 20]
    assert batch.unified.tolist() == [False, True]


@pytest.mark.parametrize("change, match", [
    (dict(dup=[1, 2, 3]), "design 1.*dup has 3 entries, expected 5"),
    (dict(macro_num=[1] * 7), "design 1.*macro_num has 7 entries, expected 8"),
    (dict(macro_share=[None] * 3), "design 1.*macro_share must be a list of 8"),
    (dict(xbar_size="256"), "design 1.*xbar_size must be an integer"),
    (dict(rram_ratio=None), "design 1.*rram_ratio must be a number"),
    (dict(macro_setting="mixed"), "design 1.*macro_setting"),
    (dict(dup=[1, 2, 3, 4, 5.5]), "design 1.*dup must be an integer"),
])
def test_malformed_records_raise(alexnet, change, match):
    with pytest.raises(InputError, match=match):
        DesignBatch.from_records(alexnet, [EX11, dict(EX11, **change)])


def test_missing_field_and_power(alexnet):
    with pytest.raises(InputError, match="missing field 'dup'"):
        DesignBatch.from_records(alexnet, [{k: v for k, v in EX11.items() if k != "dup"}])
    with pytest.raises(InputError, match="total_power_W"):
        DesignBatch.from_records(alexnet, [{k: v for k, v in EX11.items() if k != "total_power_W"}])


def test_validate_records(alexnet):
    out = validate_records(alexnet, [EX11, dict(EX11, dup=[1]), "nope"])
    assert out[0] == "ok"
    assert "dup has 1 entries" in out[1] and "design" in out[1]
    assert "expected a JSON object" in out[2]


def test_specified_candidates():
    assert specified_candidates(2, 117).tolist() == sorted({u * v for u in (1, 2) for v in (1, 3, 9, 13, 39, 117)})
    lim = 7 * 26
    assert specified_candidates(7, 26).tolist() == [d for d in range(1, 1000) if lim % d == 0]


def _mask(alexnet, hw, recs):
    return legality_mask(alexnet, hw, DesignBatch.from_records(alexnet, recs))


def test_legality_rules(alexnet, hw):
    lim, mu = [234, 182, 42, 84, 54, 36, 16, 16], [8, 8, 16, 8, 8, 128, 128, 32]
    unified_ok = [math.ceil(l / math.ceil(128 / u)) for l, u in zip(lim, mu)]
    cases = [
        (EX11, "ok"),
        (dict(EX11, xbar_size=64), "xbar_size_not_in_128_256_512"),
        (dict(EX11, rram_res=3), "rram_res_not_in_1_2_4"),
        (dict(EX11, dac_res=4, rram_res=4), "adc_resolution_without_table_entry"),
        (dict(EX11, rram_ratio=1.0), "rram_ratio_not_in_0_1"),
        (dict(EX11, dup=[0, 26, 6, 6, 6]), "dup_below_1"),
        (dict(EX11, macro_num=[13, 13, 6, 6, 6, 4, 4, 1000]), "macro_num_not_in_1_999"),
        (dict(EX11, macro_num=[13, 13, 6, 6, 6, 37, 4, 2]), "macro_num_above_limit"),
        (dict(EX11, macro_num=[5, 13, 6, 6, 6, 4, 4, 2]), "macro_num_not_even_split"),
        (dict(EX11, macro_share=[None, 1, None, None, None, None, None, None]), "share_partner_not_earlier"),
        (dict(EX11, macro_share=[None, 2, None, None, None, None, None, None]), "share_partner_not_earlier"),
        (dict(EX11, macro_share=[None, 0, 1, None, None, None, None, None]), "share_partner_is_shared"),
        (dict(EX11, macro_share=[None, 0, 0, None, None, None, None, None]), "share_group_above_two"),
        (dict(EX11, macro_num=[13, 13, 6, 6, 6, 4, 16, 2], macro_share=[None] * 6 + [5, None]),
         "shared_macro_num_above_limit"),
        (dict(EX11, macro_num=[13, 13, 6, 6, 6, 4, 4, 2], macro_share=[None, None, None, None, 2, None, None, None]), "ok"),
        (dict(EX11, macro_setting="unified", macro_num=unified_ok), "ok"),
        (dict(EX11, macro_setting="unified"), "macro_num_not_unified"),
        (dict(EX11, total_power_W=10), "crossbar_capacity_insufficient"),
        (dict(EX11, dup=[200, 26, 6, 6, 6], macro_num=[1] * 8), "crossbar_budget_exceeded"),
        (dict(EX11, macro_share=[None, 8, None, None, None, None, None, None]), "macro_share_out_of_range"),
    ]
    ok, why = _mask(alexnet, hw, [c for c, _ in cases])
    assert why.tolist() == [w for _, w in cases]
    assert ok.tolist() == [w == "ok" for _, w in cases]


def test_reference_crash_points_are_illegal(alexnet, hw, alexnet_points):
    crash = [p for p in alexnet_points if p["pimsyn_status"] == "crash"]
    ok, why = _mask(alexnet, hw, crash)
    assert not ok.any()
    assert set(why) == {"share_partner_not_earlier"}


def test_legality_vectorized_shapes(alexnet, hw, alexnet_points):
    ok, why = _mask(alexnet, hw, alexnet_points)
    assert ok.shape == why.shape == (len(alexnet_points),)
    assert ok.dtype == bool and all(isinstance(w, str) for w in why)
