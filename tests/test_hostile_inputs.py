"""Hostile inputs (corpus in tests/data/bad/): malformed ONNX, bad hardware configs, a power
budget too small for the weights, unknown CLI values, resume on folders that are not runs /
runs of another model or config / truncated runs, unwritable and full output folders.

Each must end with one error line, exit code 2 and no traceback; a run that never started
leaves no run folder; a run that stops on a write error keeps its earlier checkpoints."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests import engine_helpers as h

pytestmark = pytest.mark.e2e

BAD = Path(__file__).resolve().parent / "data" / "bad"
ONNX = sorted((BAD / "onnx").glob("*.onnx"))
CONFIGS = sorted((BAD / "config").glob("*.json"))
# values the config loader does not bound yet (fitness/hardware.py has no upper limits)
QUICK = ("--power", "49", "--population", "8", "--generations", "1", "--quiet")


class _Result:
    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode, self.stderr = returncode, stderr


def cli(capsys, *argv: str) -> _Result:
    """``evo-pimsyn ARGV`` in-process (no interpreter start-up per case)."""
    from evo_pimsyn.cli import main

    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    return _Result(code, capsys.readouterr().err)


def assert_one_line_error(res, *fragments: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if "error:" in ln]
    assert len(lines) == 1, res.stderr
    # argparse prints its usage line above the error; everything else is the error alone
    others = [ln for ln in res.stderr.strip().splitlines() if "error:" not in ln and not ln.startswith("usage:")
              and not ln.startswith(" ")]
    assert not others, res.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("path", ONNX, ids=[p.name for p in ONNX])
def test_malformed_onnx(path, tmp_path, capsys):
    out = tmp_path / "run"
    res = cli(capsys, "run", "--model", str(path), *QUICK, "--out", str(out))
    assert_one_line_error(res, path.name)
    assert not out.exists()


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_bad_config(path, tmp_path, capsys):
    out = tmp_path / "run"
    res = cli(capsys, "run", "--model", "zoo:lenet5", "--config", str(path), *QUICK, "--out", str(out))
    assert_one_line_error(res, path.name)
    assert not out.exists()


def test_power_too_small_names_least_power(tmp_path, capsys):
    out = tmp_path / "run"
    res = cli(capsys, "run", "--model", "zoo:alexnet", "--power", "0.5", "--generations", "1", "--out", str(out))
    line = assert_one_line_error(res, "cannot hold the weights", "needs at least")
    assert "ratio" in line and " W " in line
    assert not out.exists()


@pytest.mark.parametrize("argv, fragment", [
    (("run", "--model", "zoo:lenet5", "--power", "49", "--fidelity", "exact"), "invalid choice: 'exact'"),
    (("run", "--model", "zoo:lenet5", "--power", "nan"), "--power"),
    (("run", "--model", "zoo:lenet5", "--power", "-3"), "--power"),
    (("run", "--model", "zoo:lenet5", "--power", "49", "--population", "2"), "--population"),
    (("run", "--model", "zoo:lenet5", "--power", "49", "--workers", "zero"), "--workers"),
    (("run", "--model", "zoo:lenet5", "--power", "49", "--time-budget", "soon"), "--time-budget"),
    (("run", "--model", "zoo:lenet5", "--power", "49", "--objectives", "speed"), "unknown objective 'speed'"),
    (("run", "--model", "zoo:nosuch", "--power", "49"), "unknown zoo model 'nosuch'"),
    (("run", "--model", "zoo:lenet5", "--power", "49", "--algorithm", "spea2"), "invalid choice: 'spea2'"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
    (("resume", "RUN", "--generations", "-1"), "--generations"),
])
def test_unknown_cli_values(argv, fragment, tmp_path, capsys):
    argv = tuple(str(tmp_path / "x") if a == "RUN" else a for a in argv)
    out = tmp_path / "run"
    extra = ("--out", str(out)) if argv[0] == "run" else ()
    res = cli(capsys, *argv, *extra)
    assert_one_line_error(res, fragment)
    assert not out.exists()


# ---- resume -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    """A finished one-generation lenet5 run on an ONNX copy of the model."""
    base = tmp_path_factory.mktemp("hostile")
    out = base / "lenet"
    res = h.run(h.cli_cmd("run", "--model", "zoo:lenet5", *QUICK, "--out", str(out)))
    assert res.returncode == 0, res.stderr
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / run.name
    shutil.copytree(run, dst)
    return dst


def test_resume_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    res = h.run(h.cli_cmd("resume", str(tmp_path)))
    assert_one_line_error(res, "not a run folder")
    res = h.run(h.cli_cmd("resume", str(tmp_path / "missing")))
    assert_one_line_error(res, "not a run folder")
    assert not (tmp_path / "missing").exists()


def test_json_inputs_answer_in_one_style(tmp_path, capsys):
    """A network JSON, a run record and a designs file with the same damage (a bad second
    line) get the same one-line message: path, line, 'not valid JSON', the reason, column;
    an empty file says what it should have been."""
    from evo_pimsyn.commands.evaluate import read_design_lines

    why = "not valid JSON (Expecting property name enclosed in double quotes, column 3)"
    net = tmp_path / "net.json"
    net.write_text('{"layers": [],\n  oops}\n')
    assert_one_line_error(cli(capsys, "network", str(net)), f"{net}:2: {why}")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(net.read_text())
    for command in ("resume", "report"):
        assert_one_line_error(cli(capsys, command, str(run)), f"{run / 'run.json'}:2: {why}")
    designs = tmp_path / "d.jsonl"
    designs.write_text('{"dup": [1]}\n {oops}\n')
    assert str(read_design_lines(designs)[1]) == f"{designs}:2: {why}"
    net.write_text("")
    (run / "run.json").write_text("")
    assert_one_line_error(cli(capsys, "network", str(net)), f"{net}: empty file, expected a network JSON")
    assert_one_line_error(cli(capsys, "resume", str(run)),
                          f"{run / 'run.json'}: empty file, expected an evo-pimsyn run record")


def test_resume_other_model_or_config(lenet_run, tmp_path):
    run = _copy(lenet_run, tmp_path)
    before = (run / "checkpoints" / "checkpoint.npz").read_bytes()
    res = h.run(h.cli_cmd("resume", str(run), "--model", "zoo:alexnet"))
    assert_one_line_error(res, "differs from the run's")
    other = tmp_path / "other.json"
    config = json.loads((h.REPO / "configs" / "pimsyn_date24.json").read_text())
    config["noc_power"] = 0.2
    other.write_text(json.dumps(config))
    res = h.run(h.cli_cmd("resume", str(run), "--config", str(other)))
    assert_one_line_error(res, "hardware config", "differs")
    assert (run / "checkpoints" / "checkpoint.npz").read_bytes() == before


@pytest.mark.slow
def test_resume_model_changed_on_disk(tmp_path):
    model = tmp_path / "net.onnx"
    import onnx

    from tests.data.bad.make_corpus import good_model

    onnx.save(good_model(), model)
    out = tmp_path / "run"
    res = h.run(h.cli_cmd("run", "--model", str(model), *QUICK, "--out", str(out)))
    assert res.returncode == 0, res.stderr
    shutil.copy(BAD / "onnx" / "kernel_larger_than_input.onnx", model)  # now another (broken) model
    res = h.run(h.cli_cmd("resume", str(out)))
    assert_one_line_error(res)
    onnx.save(_conv(), model)  # a valid but different model
    res = h.run(h.cli_cmd("resume", str(out)))
    assert_one_line_error(res, "differs from the run's")


def _conv():
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.zeros([16, 3, 3, 3], np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], "conv", [x], [y],
                              initializer=[w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("victim", ["run.json", "both-checkpoints"])
def test_resume_truncated_files(lenet_run, tmp_path, victim):
    run = _copy(lenet_run, tmp_path)
    paths = [run / "run.json"] if victim == "run.json" else \
        [run / "checkpoints" / "checkpoint.npz", run / "checkpoints" / "checkpoint.prev.npz"]
    for p in paths:
        if p.exists():
            data = p.read_bytes()
            p.write_bytes(data[: len(data) // 3])
    res = h.run(h.cli_cmd("resume", str(run), "--generations", "2", "--quiet"))
    assert_one_line_error(res, "run.json" if victim == "run.json" else "no usable checkpoint")


def test_resume_truncated_latest_falls_back(lenet_run, tmp_path):
    run = _copy(lenet_run, tmp_path)
    latest = run / "checkpoints" / "checkpoint.npz"
    assert (run / "checkpoints" / "checkpoint.prev.npz").exists()
    latest.write_bytes(latest.read_bytes()[:100])
    res = h.run(h.cli_cmd("resume", str(run), "--generations", "2", "--quiet"))
    assert res.returncode == 0, res.stderr
    assert "falling back to the previous checkpoint" in res.stderr and "Traceback" not in res.stderr


# ---- output folder ------------------------------------------------------------------------
def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    res = h.run(h.cli_cmd("run", "--model", "zoo:lenet5", *QUICK, "--out", str(blocker / "run")))
    assert_one_line_error(res, "cannot create the run folder")
    assert blocker.read_text() == "a file, not a folder"


FULL_DISK = (
    "import errno, sys\n"
    "from pathlib import Path\n"
    "from evo_pimsyn.engine import checkpoint as ckpt\n"
    "from evo_pimsyn.engine.session import RunOptions, start\n"
    "from fitness.errors import InputError\n"
    "real = ckpt.save\n"
    "def save(directory, state, **meta):\n"
    "    if state.generation >= 3:  # the disk fills up while writing this checkpoint\n"
    "        tmp = Path(directory) / '.checkpoint.npz.tmp'\n"
    "        tmp.write_bytes(b'PK partial')\n"
    "        raise OSError(errno.ENOSPC, 'No space left on device', str(tmp))\n"
    "    return real(directory, state, **meta)\n"
    "ckpt.save = save\n"
    "try:\n"
    "    sys.exit(start(RunOptions(model='toy', power_w=49.0, problem='toy', population=16, generations=6,\n"
    "                              seed=3, out=sys.argv[1], quiet=True, checkpoint_every_s=0)))\n"
    "except InputError as exc:\n"
    "    print(f'evo-pimsyn: error: {exc}', file=sys.stderr)\n"
    "    sys.exit(2)\n"
)


def test_full_output_folder_keeps_checkpoints(tmp_path):
    out = tmp_path / "run"
    res = h.run([sys.executable, "-c", FULL_DISK, str(out)])
    line = assert_one_line_error(res, "No space left on device", "earlier checkpoints are intact",
                                 f"evo-pimsyn resume {out}")
    assert "cannot write to" in line
    from evo_pimsyn.engine import checkpoint as ckpt

    loaded = ckpt.load(out / "checkpoints")
    assert loaded.state.generation == 2 and loaded.path.name == "checkpoint.npz"
    # with space again, the run resumes from generation 2 and ends like an uninterrupted run
    res = h.run(h.cli_cmd("resume", str(out), "--quiet"))
    assert res.returncode == 0, res.stderr
    ref = tmp_path / "ref"
    from tests.test_dask_backend import toy_cmd

    assert h.run(toy_cmd(ref, generations=6)).returncode == 0
    h.assert_same_results(ref, out)
