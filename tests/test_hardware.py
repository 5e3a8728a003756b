import json
import math

import pytest

from fitness.errors import InputError
from fitness.hardware import default_config_path, hardware_from_dict, load_hardware

pytestmark = pytest.mark.unit


@pytest.fixture()
def raw():
    return json.loads(default_config_path().read_text())


def test_shipped_config_equals_pimsyn_values(reference_dir):
    ours = load_hardware()
    pimsyn = load_hardware(reference_dir / "pimsyn_config.json")
    # Same model numbers; ours only spells out the area defaults.
    assert ours.adc == pimsyn.adc and ours.dac == pimsyn.dac and ours.alu == pimsyn.alu
    assert ours.rram == pimsyn.rram and ours.memory == pimsyn.memory
    assert ours.noc_power_w == pytest.approx(0.104)
    assert ours.adc[7].frequency_ghz == 2 and ours.dac[4].latency_ns == 6
    assert ours.rram[(256, 2)].peak_power_w == pytest.approx(1.2e-3)
    assert ours.memory[128].leak_power_w == pytest.approx(0.026961)


def test_areas_follow_documented_scaling():
    hw = load_hardware()
    assert hw.adc[9].area_mm2 == pytest.approx(2 * hw.adc[8].area_mm2)
    assert hw.rram[(256, 1)].area_mm2 == pytest.approx(4 * hw.rram[(128, 1)].area_mm2)
    assert hw.memory[128].area_mm2 == pytest.approx(2 * hw.memory[64].area_mm2)
    assert hw.noc_router_area_mm2 > 0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["ADC"]["7"].__setitem__("frequency", 0), 'ADC."7".frequency must be > 0, got 0'),
        (lambda d: d["ADC"]["7"].__setitem__("frequency", -1), 'ADC."7".frequency must be > 0, got -1'),
        (lambda d: d["DAC"]["2"].__setitem__("static_power", "1e-6"), 'DAC."2".static_power must be a number'),
        (lambda d: d["memory"]["64"].__setitem__("leak_power", math.nan), "must be finite"),
        (lambda d: d.__setitem__("noc_bw", 0), "noc_bw must be > 0"),
        (lambda d: d.__setitem__("data_res", 16.5), "data_res must be an integer"),
        (lambda d: d.__setitem__("vfu_width", 10**30), "vfu_width must be <= 1048576"),
        (lambda d: d.pop("POOL"), "POOL is missing"),
        (lambda d: d["RELU"].pop("latency"), "RELU.latency is missing"),
        (lambda d: d.__setitem__("ADCC", {}), "ADCC is not a known key (did you mean 'ADC'?)"),
        (lambda d: d["SHIFTADD"].__setitem__("frequncy", 1), "did you mean 'frequency'?"),
        (lambda d: d["RRAM"].__setitem__("256x2", {}), 'RRAM.256x2 key must be "XBARSIZE_RES"'),
        (lambda d: d["memory"].__setitem__("100", d["memory"]["64"]), "capacity must be a power of two"),
        (lambda d: d["RRAM"]["256_2"].__setitem__("peak_power", 0), 'RRAM."256_2".peak_power must be > 0'),
    ],
)
def test_bad_values_name_path_and_rule(raw, mutate, message):
    mutate(raw)
    with pytest.raises(InputError) as info:
        hardware_from_dict(raw, source="cfg.json")
    text = str(info.value)
    assert text.startswith("cfg.json: ")
    assert message in text
    assert "\n" not in text


def test_all_problems_reported_at_once(raw):
    raw["noc_bw"] = -1
    raw["ADC"]["9"]["latency"] = -2
    with pytest.raises(InputError, match=r"and 1 more") as info:
        hardware_from_dict(raw, source="cfg.json")
    assert 'ADC."9".latency' in str(info.value)


def test_missing_table_entry_is_named():
    hw = load_hardware()
    with pytest.raises(InputError, match="RRAM: no entry for crossbar 256 at resolution 3"):
        hw.crossbar(256, 3)
    with pytest.raises(InputError, match="ADC: no entry for resolution 15"):
        hw.adc_unit(15)


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_hardware(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_hardware(bad)
    arr = tmp_path / "arr.json"
    arr.write_text("[1, 2]")
    with pytest.raises(InputError, match="must be a JSON object"):
        load_hardware(arr)


def test_round_trip(raw):
    hw = hardware_from_dict(raw)
    again = hardware_from_dict(hw.to_dict())
    assert again.adc == hw.adc and again.rram == hw.rram and again.memory == hw.memory
