"""``--backend dask``: a real scheduler and two worker processes on 127.0.0.1 (started with
the ``dask scheduler`` / ``dask worker`` CLIs), a short GA on PIMSYN's AlexNet through them,
compared byte for byte with the local run; a LocalCluster run; bad backend options."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import engine_helpers as h
from tests.conftest import REFERENCE, optional_extra

pytestmark = pytest.mark.e2e

distributed = optional_extra("distributed", "dask")

ALEXNET = REFERENCE / "networks" / "alexnet.json"
COMMON = ("--power", "49", "--population", "16", "--seed", "5", "--fidelity", "cycle", "--generations", "3",
          "--quiet")
DASK = str(Path(sys.executable).with_name("dask"))

# a toy-problem run with a chosen backend (the CLI has no toy problem)
TOY_RUN = (
    "import sys\n"
    "from evo_pimsyn.engine.session import RunOptions, start\n"
    "out, backend, sched, workers, gens, model = sys.argv[1:7]\n"
    "sys.exit(start(RunOptions(model=model, power_w=49.0, problem='toy', population=16, generations=int(gens),\n"
    "    workers=int(workers), seed=3, out=out, quiet=True, backend=backend, scheduler=sched or None)))\n"
)


def toy_cmd(out, *, backend="local", scheduler="", workers=1, generations=8, model="toy") -> list[str]:
    return [sys.executable, "-c", TOY_RUN, str(out), backend, scheduler, str(workers), str(generations), model]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A dask scheduler and ``n`` single-threaded workers (no nanny) on loopback."""

    def __init__(self, n_workers: int = 2, log_dir: Path | None = None) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        env = h.env()
        env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"
        self._env = env
        self.scheduler = self._spawn("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                                   str(self.port), "--no-dashboard"])
        self.workers = [self._spawn(f"worker{i}", [DASK, "worker", self.address, "--nthreads", "1", "--no-nanny",
                                                   "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{i}"])
                        for i in range(n_workers)]
        self.wait_for_workers(n_workers)

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w") if self.log_dir else subprocess.DEVNULL
        return subprocess.Popen(cmd, cwd=h.REPO, env=self._env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while True:
            try:
                with distributed.Client(self.address, timeout=5) as client:
                    client.wait_for_workers(n, timeout=max(1.0, end - time.monotonic()))
                    return
            except (OSError, TimeoutError):
                if time.monotonic() > end or self.scheduler.poll() is not None:
                    self.close()
                    raise
                time.sleep(0.3)

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(2, tmp_path_factory.mktemp("dask-logs"))
    yield c
    c.close()


@pytest.mark.slow
def test_dask_cluster_matches_local(cluster, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "dask"
    res = h.run(h.cli_cmd("run", "--model", str(ALEXNET), *COMMON, "--out", str(local)))
    assert res.returncode == 0, res.stderr
    res = h.run(h.cli_cmd("run", "--model", str(ALEXNET), *COMMON, "--out", str(remote), "--backend", "dask",
                          "--scheduler", cluster.address))
    assert res.returncode == 0, res.stderr
    h.assert_same_results(local, remote)
    with distributed.Client(cluster.address, timeout=5) as client:  # the cluster outlives the run
        assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.slow
def test_local_cluster_matches_local(tmp_path):
    res = h.run(toy_cmd(tmp_path / "ref"))
    assert res.returncode == 0, res.stderr
    res = h.run(toy_cmd(tmp_path / "lc", backend="dask", workers=2))
    assert res.returncode == 0, res.stderr
    h.assert_same_results(tmp_path / "ref", tmp_path / "lc")


def test_scatter_once_per_worker(cluster):
    """Non-scalar scoring arguments are broadcast to every worker when the evaluator opens
    and reused by every task and batch (not sent per task)."""
    import numpy as np

    from evo_pimsyn.engine import backends
    from evo_pimsyn.engine.evaluation import Evaluator
    from evo_pimsyn.engine.toy import ToyProblem, score_toy

    problem = ToyProblem()
    G = problem.initial(40, np.random.default_rng(0))
    with backends.open_backend("dask", cluster.address) as backend:
        fn, args = problem.scorer("cycle")
        with Evaluator(fn, args, workers=1) as evaluate:
            assert backends.scatterable(args) == []  # the toy's arguments are all scalars
            for _ in range(3):
                frame = evaluate(G)
            assert backend.n_slices(1) == 2
        assert frame.equals(score_toy(*args, G))
        big = (np.arange(100_000), "cycle")
        with Evaluator(_sum_rows, big, workers=1) as evaluate:
            held = backend.client.who_has()
            copies = [len(where) for where in held.values()]
            assert copies and max(copies) == 2, held  # broadcast: on both workers before any task
            out = evaluate(G)
            assert set(backend.client.who_has()) >= set(held)  # the same scattered data, reused
        assert out["s"].tolist() == [int(big[0].sum()) + int(g.sum()) for g in G]


def _sum_rows(array, fidelity, G):
    import pandas as pd

    return pd.DataFrame({"s": [int(array.sum()) + int(g.sum()) for g in G]})


@pytest.mark.parametrize("argv, message", [
    (("--backend", "spark"), "invalid choice: 'spark'"),
    (("--scheduler", "tcp://127.0.0.1:8786"), "needs --backend dask"),
    (("--backend", "dask", "--scheduler", "not an address"), "must be an address such as"),
])
def test_bad_backend_options(tmp_path, argv, message):
    out = tmp_path / "run"
    res = h.run(h.cli_cmd("run", "--model", "zoo:lenet5", "--power", "49", "--generations", "1", "--out", str(out),
                          *argv))
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


@pytest.mark.slow
def test_unreachable_scheduler(tmp_path):
    out = tmp_path / "run"
    res = h.run(h.cli_cmd("run", "--model", "zoo:lenet5", "--power", "49", "--generations", "1", "--out", str(out),
                          "--backend", "dask", "--scheduler", f"tcp://127.0.0.1:{free_port()}"))
    assert res.returncode == 2, res.stderr
    assert "cannot reach the dask scheduler" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not out.exists()

