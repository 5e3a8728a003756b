"""notebooks/analyze_pareto.ipynb runs top to bottom (nbclient) on runs made in the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import optional_extra
from tests.test_analysis import make_run

pytestmark = pytest.mark.e2e

nbformat = optional_extra("nbformat", "test")
nbclient = optional_extra("nbclient", "test")
optional_extra("ipykernel", "test")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "analyze_pareto.ipynb"


def test_notebook_executes(tmp_path_factory, monkeypatch):
    run_a, run_b = make_run(tmp_path_factory, 0), make_run(tmp_path_factory, 1)
    # the kernel inherits the environment: the parameter cell reads these
    monkeypatch.setenv("EVO_PIMSYN_RUN", str(run_a))
    monkeypatch.setenv("EVO_PIMSYN_RUN2", str(run_b))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # the front and the convergence plot
    tables = [o["data"]["text/plain"] for o in outputs if o.output_type == "execute_result"]
    assert any(run_a.name in t and run_b.name in t and "hypervolume" in t for t in tables)


STUDY_NOTEBOOK = NOTEBOOK.parent / "analyze_study.ipynb"


def test_study_notebook_executes(tmp_path, monkeypatch):
    """notebooks/analyze_study.ipynb on a small real study (PIMSYN's AlexNet, dup searched
    against none, two seeds)."""
    from evo_pimsyn.cli import main

    study = tmp_path / "study"
    assert main(["study", "--out", str(study), "--models", "pimsyn:alexnet", "--powers", "49", "--seeds", "0,1",
                 "--vary", "dup=searched,one", "--generations", "2", "--population", "8", "--objectives",
                 "efficiency,throughput", "--workers", "2", "--quiet"]) == 0
    monkeypatch.setenv("EVO_PIMSYN_STUDY", str(study))
    nb = nbformat.read(STUDY_NOTEBOOK, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(STUDY_NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "alexnet-49W-dup=one-seed1" in text and "best_efficiency_gops_w" in text
