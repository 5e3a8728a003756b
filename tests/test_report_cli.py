"""``evo-pimsyn report``: table, non-empty PNGs, self-contained HTML; finished and
in-progress runs; one-line errors with exit 2."""

from __future__ import annotations

import base64
import re

import pytest

from evo_pimsyn.cli import main
from tests.test_analysis import in_progress_copy, make_run

pytestmark = pytest.mark.e2e

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory)


def _check_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC), path
    assert len(data) > 10_000, f"{path} looks empty ({len(data)} bytes)"


def test_report_finished_run(run_dir, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(run_dir), "-o", str(out), "--rank", "2"]) == 0
    text = capsys.readouterr().out
    assert "status: finished" in text
    for name in ("efficiency", "throughput", "area"):
        assert f"Top 3 by {name}" in text
    assert "xbar_size" in text and "rank" in text
    names = {"pareto.png", "convergence.png", "layers_rank2.png", "energy_rank2.png", "report.html"}
    assert {p.name for p in out.iterdir()} == names
    for png in out.glob("*.png"):
        _check_png(png)
    html = (out / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(embedded) == 4
    assert all(base64.b64decode(e).startswith(PNG_MAGIC) for e in embedded)
    assert "Per-layer resources" in html and "Energy and power" in html and "total_power_W" in html


def test_report_default_folder_and_in_progress(run_dir, tmp_path, capsys):
    going = in_progress_copy(run_dir, tmp_path / "going")
    assert main(["report", str(going)]) == 0
    text = capsys.readouterr().out
    assert "status: in progress" in text and "from checkpoint (generation 3" in text
    for png in (going / "report").glob("*.png"):
        _check_png(png)
    assert (going / "report" / "report.html").exists()


def test_report_table_only(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--no-plots", "--top", "1"]) == 0
    text = capsys.readouterr().out
    assert "Top 1 by area" in text


@pytest.mark.parametrize("args, message", [
    (["{tmp}/nothing"], "no such folder"),
    (["{tmp}"], "not a run folder (no run.json)"),
    (["{run}", "--rank", "999"], "rank 999 is out of range"),
])
def test_report_errors_one_line_exit_2(run_dir, tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    assert main(["report", *args, "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("evo-pimsyn: error:")


@pytest.mark.slow
def test_report_on_a_run_that_is_still_going(tmp_path, capsys):
    """A real run in a child process: report reads its latest files while it writes them."""
    import subprocess
    import sys
    import time

    run = tmp_path / "live"
    proc = subprocess.Popen([sys.executable, "-m", "evo_pimsyn", "run", "--model", "zoo:alexnet", "--power", "49",
                             "--time-budget", "120s", "--population", "8", "--quiet", "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            gens = run / "generations.csv"
            if (run / "checkpoints" / "checkpoint.npz").exists() and gens.exists() \
                    and len(gens.read_text().splitlines()) > 4:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the run wrote no checkpoint within 60 s")
        assert main(["report", str(run), "-o", str(tmp_path / "rep")]) == 0
    finally:
        proc.terminate()  # SIGTERM: the run checkpoints and exits
        proc.wait(timeout=60)
    text = capsys.readouterr().out
    assert "status: in progress" in text and "from checkpoint (generation" in text
    assert not (run / "pareto.csv").exists() or "pareto.csv" not in text
    for png in (tmp_path / "rep").glob("*.png"):
        _check_png(png)


def test_report_and_export_with_an_empty_front(run_dir, tmp_path, capsys):
    import shutil

    empty = tmp_path / "empty"
    shutil.copytree(run_dir, empty)
    header = (run_dir / "pareto.csv").read_text().splitlines()[0]
    (empty / "pareto.csv").write_text(header + "\n")  # a run that found no feasible design
    assert main(["report", str(empty)]) == 0
    assert "no feasible design on the front yet" in capsys.readouterr().out
    assert {p.name for p in (empty / "report").iterdir()} == {"pareto.png", "convergence.png", "report.html"}
    assert main(["export", str(empty)]) == 2
    assert "no feasible design on the front yet" in capsys.readouterr().err


def test_report_without_matplotlib_says_how_to_get_it(run_dir, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert main(["report", str(run_dir), "-o", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'evo-pimsyn[plot]'" in err and "--no-plots" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "rep").exists()
