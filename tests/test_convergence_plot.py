"""The report's convergence plot: wall time on a log axis, restarts marked, and PIMSYN's
figure as a reference line when the run's network is one of PIMSYN's five at a power PIMSYN
reported (analysis/pimsyn_reference.py, identified by the shapes of its conv/fc layers)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from evo_pimsyn.analysis import load_run
from evo_pimsyn.analysis.pimsyn_reference import SIGNATURES, mvm_signature, pimsyn_figure, pimsyn_network
from evo_pimsyn.analysis.report import reference_lines
from evo_pimsyn.engine.objectives import parse_objectives
from evo_pimsyn.models import load_model
from tests.conftest import REFERENCE, optional_extra
from tests.test_analysis import make_run

optional_extra("matplotlib", "plot")
from evo_pimsyn.analysis import plots  # noqa: E402 - needs matplotlib


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signatures_are_those_of_pimsyn_networks_and_the_zoo(name):
    assert mvm_signature(load_model(str(REFERENCE / "networks" / f"{name}.json"))) == SIGNATURES[name]
    if name != "msra_A":  # the zoo has no MSRA-A
        assert pimsyn_network(load_model(f"zoo:{name}")) == name


@pytest.mark.unit
def test_other_networks_are_none_of_pimsyn_s():
    alexnet = load_model("zoo:alexnet")
    layers = list(alexnet.layers)
    k = next(i for i, l in enumerate(layers) if l.kind == "conv")
    layers[k] = dataclasses.replace(layers[k], out_channels=layers[k].out_channels + 1)
    assert pimsyn_network(dataclasses.replace(alexnet, layers=tuple(layers))) is None
    assert pimsyn_network(load_model("zoo:vgg11")) is None and pimsyn_network(load_model("zoo:resnet34")) is None


@pytest.mark.unit
def test_figures_only_at_a_power_pimsyn_reported():
    alexnet, resnet18, vgg16 = (load_model(f"zoo:{n}") for n in ("alexnet", "resnet18", "vgg16"))
    assert pimsyn_figure(alexnet, 49.0).efficiency_gops_w == 658.4
    assert pimsyn_figure(resnet18, 49).efficiency_gops_w == 349.0
    assert pimsyn_figure(alexnet, 50.0) is None and pimsyn_figure(vgg16, 49.0) is None


def _generations():
    return pd.DataFrame({
        "generation": np.arange(6),
        "best_efficiency_gops_w": [500.0, 560.0, 600.0, 610.0, 640.0, 650.0],
        "hypervolume": [1.0, 1.1, 1.2, 1.2, 1.3, 1.35],
        "restarts": [0, 0, 1, 1, 1, 2],
        "wall_time_s": [0.05, 0.2, 1.0, 5.0, 30.0, 300.0],
    })


@pytest.mark.unit
def test_wall_time_on_a_log_axis_restarts_and_reference_line():
    fig = plots.convergence(_generations(), parse_objectives("efficiency"),
                            references={"efficiency_gops_w": (658.4, "PIMSYN")})
    eff, hv = fig.axes
    assert eff.get_xscale() == "log" and hv.get_xscale() == "log"
    assert hv.get_xlabel() == "search wall time [s] (log scale)"
    vertical = [ln for ln in eff.get_lines() if ln.get_linestyle() == ":"]
    assert sorted(ln.get_xdata()[0] for ln in vertical) == [1.0, 300.0]  # where restarts went 0->1, 1->2
    horizontal = [ln for ln in eff.get_lines() if ln.get_linestyle() == "--"]
    assert len(horizontal) == 1 and horizontal[0].get_ydata()[0] == 658.4
    assert "PIMSYN: 658.4 GOPS/W" in [t.get_text() for t in eff.get_legend().get_texts()]
    assert not [ln for ln in hv.get_lines() if ln.get_linestyle() == "--"]


@pytest.mark.unit
def test_without_wall_times_the_axis_is_the_generation():
    fig = plots.convergence(_generations().drop(columns="wall_time_s"), parse_objectives("efficiency"))
    assert fig.axes[0].get_xscale() == "linear" and fig.axes[-1].get_xlabel() == "generation"


@pytest.mark.e2e
def test_report_draws_pimsyn_s_figure_for_alexnet_at_49_w(tmp_path_factory):
    run = load_run(make_run(tmp_path_factory))  # zoo:alexnet at 49 W, three objectives
    assert reference_lines(run) == {"efficiency_gops_w": (658.4, "PIMSYN, its best single setting (0.3, 2, 256)")}
    run.run = {**run.run, "power_w": 20.0}
    assert reference_lines(run) == {}
