"""Helpers of the engine run tests: launch runs as subprocesses, compare run folders."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WALL_COLUMNS = ("generation_wall_s", "wall_time_s")

TOY_START = (
    "import sys\n"
    "from evo_pimsyn.engine.session import RunOptions, start\n"
    "out, seed, workers, gens, model, pop = sys.argv[1:7]\n"
    "extra = {'corner': float(sys.argv[7])} if len(sys.argv) > 7 else {}\n"
    "sys.exit(start(RunOptions(model=model, power_w=49.0, problem='toy', population=int(pop),\n"
    "    generations=int(gens), workers=int(workers), seed=int(seed), out=out, quiet=True, **extra)))\n"
)


class FakeClock:
    """A stand-in for ``loop.clock`` that moves only when told to: time-budget tests set
    what each step costs and assert on exact times instead of sleeping and measuring."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("PYTHONHASHSEED", "0")
    return e


def toy_start_cmd(out: Path, *, seed=0, workers=1, generations=10, model="toy", population=16,
                  corner: float | None = None) -> list[str]:
    """A toy run (three objectives) in a subprocess; ``corner``: its --corner (default the run's)."""
    return [sys.executable, "-c", TOY_START, str(out), str(seed), str(workers), str(generations), model,
            str(population), *([] if corner is None else [str(corner)])]


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "evo_pimsyn", *args]


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=timeout)


def _default_sigint() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and
    # children inherit that: pytest launched with `&` from a script would then run the
    # Ctrl-C tests against a process that cannot see the signal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> bool:
    """True once ``path`` exists; False if the process ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            return True
        if proc.poll() is not None:
            return path.exists()
        time.sleep(0.01)
    raise TimeoutError(f"{path} did not appear")


def wait_for_generation(run_dir: Path, generation: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Return once generations.csv lists ``generation`` (or the process ended)."""
    path = run_dir / "generations.csv"
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            if len(path.read_text().splitlines()) >= generation + 2:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.005)


def wait_for_checkpoint(run_dir: Path, generation: int, proc: subprocess.Popen, timeout: float = 120) -> dict:
    """Return the checkpoint's meta once it is of ``generation`` or later (or {} if the
    process ended first). generations.csv is written before the checkpoint, so a kill timed
    on it can land between the two."""
    path = run_dir / "checkpoints" / "checkpoint.npz"
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            with zipfile.ZipFile(path) as zf:
                meta = json.loads(zf.read("meta.json"))
            if meta["generation"] >= generation:
                return meta
        except (FileNotFoundError, zipfile.BadZipFile, KeyError, ValueError):
            pass  # not written yet, or replaced while being read
        time.sleep(0.005)
    return {}


def kill(proc: subprocess.Popen, sig=signal.SIGKILL) -> bool:
    """Send ``sig``; True if the process was still running (so the kill interrupted it)."""
    alive = proc.poll() is None
    if alive:
        proc.send_signal(sig)
    proc.communicate(timeout=120)
    return alive


def generations_without_wall(path: Path) -> str:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    keep = [i for i, name in enumerate(rows[0]) if name not in WALL_COLUMNS]
    assert len(keep) == len(rows[0]) - len(WALL_COLUMNS), rows[0]
    return "\n".join(",".join(r[i] for i in keep) for r in rows)


def assert_same_results(a: Path, b: Path) -> None:
    assert generations_without_wall(a / "generations.csv") == generations_without_wall(b / "generations.csv")
    assert (a / "pareto.csv").read_bytes() == (b / "pareto.csv").read_bytes()
    for name in ("best.json", "pimcomp.json"):
        assert (a / name).exists() == (b / name).exists()
        if (a / name).exists():
            assert (a / name).read_bytes() == (b / name).read_bytes()


def start_toy(tmp_path: Path, name: str, **kw) -> Path:
    """An in-process toy run (three objectives, population 12, seed 3) in ``tmp_path/name``;
    ``kw`` override any RunOptions field. Returns the run folder."""
    from evo_pimsyn.engine.session import RunOptions, start  # the session imports numba kernels

    out = tmp_path / name
    opts = dict(model="toy", power_w=49.0, problem="toy", population=12, out=str(out), quiet=True, seed=3)
    opts.update(kw)
    assert start(RunOptions(**opts)) == 0
    return out
