"""Worker faults: a loky worker and a dask worker killed in the middle of a batch (the batch
runs again and the run ends with the same results), and a lost dask scheduler (checkpoint,
one clear line with a resume hint, exit 75; the resumed run ends with the same results)."""

from __future__ import annotations

import contextlib
import signal
import time

import numpy as np
import pytest

from tests import engine_helpers as h
from tests.conftest import optional_extra
from tests.test_dask_backend import Cluster, toy_cmd

psutil = optional_extra("psutil", "test")

SLOW = "toy:0.4"  # each batch sleeps 0.4 s in the worker: kills land mid-batch
GENS = 6


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "ref"
    res = h.run(toy_cmd(out, generations=GENS))
    assert res.returncode == 0, res.stderr
    return out


def _loky_workers(pid: int) -> list:
    return [p for p in psutil.Process(pid).children(recursive=True) if "popen_loky_posix" in " ".join(p.cmdline())]


@pytest.mark.slow
@pytest.mark.e2e
def test_loky_worker_killed_mid_batch(reference, tmp_path):
    out = tmp_path / "loky"
    proc = h.popen(toy_cmd(out, workers=2, generations=GENS, model=SLOW))
    h.wait_for_generation(out, 1, proc)
    time.sleep(0.15)  # inside the next batch's 0.4 s
    victims = _loky_workers(proc.pid)
    assert victims, "no loky worker found"
    victims[0].send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "re-running it (retry 1 of 2)" in err
    h.assert_same_results(reference, out)


@pytest.mark.unit
def test_evaluator_retries_are_bounded():
    """A worker that dies on every try: BackendLost after the retries, not an endless loop."""
    from evo_pimsyn.engine.backends import BackendLost
    from evo_pimsyn.engine.evaluation import Evaluator, WorkerRetryWarning

    with pytest.warns(WorkerRetryWarning), pytest.raises(BackendLost, match="workers kept dying"):
        with Evaluator(_die, (), workers=2) as evaluate:
            evaluate(np.zeros((4, 2), dtype=np.int64))


def _die(G):
    import os

    os._exit(1)


@pytest.mark.e2e
def test_a_pool_broken_under_one_evaluator_is_not_a_retry_for_another(tmp_path):
    """The local evaluators of a process share one worker pool (a run's search and verify
    evaluators). A worker dying under one of them costs that one a retry; the other's next
    batch runs on the pool that replaced the broken one, without a retry or a warning."""
    import warnings

    from evo_pimsyn.engine.evaluation import Evaluator, WorkerRetryWarning

    marker = str(tmp_path / "died")
    G = np.arange(8, dtype=np.int64).reshape(4, 2)
    with Evaluator(_die_once, (marker,), workers=2) as first, Evaluator(_die_once, (marker,), workers=2) as second:
        assert second(G)["v"].tolist() == [0, 2, 4, 6]
        with pytest.warns(WorkerRetryWarning):
            assert first(-G)["v"].tolist() == [0, -2, -4, -6]
        assert first.retries_used == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error", WorkerRetryWarning)
            assert second(G)["v"].tolist() == [0, 2, 4, 6]
        assert second.retries_used == 0


def _die_once(marker, G):
    """Rows' first gene; the first call on a batch with a negative gene kills its worker."""
    import os

    import pandas as pd

    if (G[:, 0] < 0).any() and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return pd.DataFrame({"v": G[:, 0]})


@pytest.mark.slow
@pytest.mark.e2e
def test_dask_worker_killed_mid_batch(reference, tmp_path):
    cluster = Cluster(2, tmp_path)
    try:
        out = tmp_path / "dask"
        proc = h.popen(toy_cmd(out, backend="dask", scheduler=cluster.address, generations=GENS, model=SLOW))
        h.wait_for_generation(out, 1, proc)
        time.sleep(0.15)
        cluster.workers[0].send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        h.assert_same_results(reference, out)
    finally:
        cluster.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_lost_scheduler_checkpoints_and_hints(reference, tmp_path):
    cluster = Cluster(1, tmp_path)
    try:
        out = tmp_path / "lost"
        proc = h.popen(toy_cmd(out, backend="dask", scheduler=cluster.address, generations=GENS + 20, model=SLOW))
        h.wait_for_generation(out, 2, proc)
        cluster.scheduler.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        cluster.close()
    assert proc.returncode == 75, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "lost the dask scheduler at tcp://127.0.0.1" in err
    assert f"Resume with: evo-pimsyn resume {out}" in err
    assert (out / "checkpoints" / "checkpoint.npz").exists()
    # resume on the local backend with the original target: same results as the reference
    res = h.run(h.cli_cmd("resume", str(out), "--generations", str(GENS), "--quiet"))
    assert res.returncode == 0, res.stderr
    h.assert_same_results(reference, out)


@pytest.mark.unit
@pytest.mark.parametrize("exc", [
    OSError("Timed out trying to connect to tcp://127.0.0.1:1 after 5 s"),  # joblib's ncores() on a dead scheduler
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError("no answer"),
])
def test_connection_failures_mean_a_lost_scheduler(exc):
    from evo_pimsyn.engine.backends import Backend, scheduler_lost

    assert scheduler_lost(exc, Backend("dask", "tcp://127.0.0.1:1", client=_RunningClient()))
    assert not scheduler_lost(exc, Backend("local"))  # a local pool has no scheduler to lose


@pytest.mark.unit
def test_a_task_error_is_not_a_lost_scheduler():
    from evo_pimsyn.engine.backends import Backend, scheduler_lost

    assert not scheduler_lost(ValueError("bad genome"), Backend("dask", "tcp://127.0.0.1:1", client=_RunningClient()))


class _DeadSchedulerParallel:
    """joblib.Parallel on a dask client whose scheduler has gone: the first batch fails
    the way the client does when joblib asks the dead scheduler for its cores."""

    def __init__(self, **kwargs) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __call__(self, tasks):
        raise OSError("Timed out trying to connect to tcp://127.0.0.1:1 after 5 s")


@pytest.mark.unit
def test_scheduler_lost_between_batches_is_backend_lost(monkeypatch):
    """The scheduler answers the slice count, then dies before joblib asks it for its cores
    (the race CI hit): the batch ends in BackendLost, which the session turns into a
    checkpoint, the resume hint and exit 75, not a traceback."""
    from evo_pimsyn.engine import evaluation
    from evo_pimsyn.engine.backends import Backend, BackendLost

    monkeypatch.setattr(evaluation, "parallel_config", lambda **kwargs: contextlib.nullcontext())
    monkeypatch.setattr(evaluation, "Parallel", _DeadSchedulerParallel)
    evaluate = evaluation.Evaluator(_die, (), workers=2,
                                    backend=Backend("dask", "tcp://127.0.0.1:1", client=_RunningClient()))
    with pytest.raises(BackendLost, match="lost the dask scheduler at tcp://127.0.0.1:1 .*OSError: Timed out"):
        evaluate(np.zeros((4, 2), dtype=np.int64))


class _RunningClient:
    status = "running"

    def nthreads(self):
        return {"tcp://127.0.0.1:2": 1, "tcp://127.0.0.1:3": 1}
