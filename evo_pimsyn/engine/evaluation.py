"""Batch evaluation over joblib workers.

The population is cut into one contiguous slice per worker (``numpy.array_split``: sizes
differ by at most one, as scikit-learn's ``gen_even_slices``); each task receives a plain int64 array and returns
the evaluator's DataFrame for its rows, and the frames are concatenated in slice order.
With ``workers=1`` everything runs in-process. The model scores each row independently,
so results do not depend on the worker count or backend (``backends``: local loky
processes, i.e. joblib's reusable pool waited on through its futures; or a dask cluster
through ``joblib.Parallel``).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, cpu_count, delayed, parallel_config
from joblib.externals.loky import get_reusable_executor

from evo_pimsyn.engine import backends
from evo_pimsyn.engine.objectives import Objective, feasibility, objective_matrix, violation

ScoreFn = Callable[..., pd.DataFrame]

try:  # one-line "evo-pimsyn: warning: ..." in the CLI
    from evo_pimsyn.messages import InputWarning as _WarningBase
except ImportError:  # pragma: no cover
    _WarningBase = UserWarning


class WorkerRetryWarning(_WarningBase):
    """A worker died under a batch and the batch is being run again."""


class Evaluator:
    """Callable ``G -> DataFrame`` (one row per genome, in order).

    Use as a context manager so that the worker pool (and, on dask, the scattered
    arguments) stays open for the whole run. ``fn(*args, G)`` must be a module-level
    function (it is pickled by reference). ``backend`` defaults to the one opened by
    :func:`evo_pimsyn.engine.backends.open_backend` (else local loky processes).

    A worker that dies under a batch (loky ``TerminatedWorkerError``, dask
    ``KilledWorker``) makes the whole batch run again, at most ``backend.retries`` times:
    slices are pure functions of their genomes, so the result is the same. A lost dask
    scheduler raises :class:`~evo_pimsyn.engine.backends.BackendLost`.
    """

    def __init__(self, fn: ScoreFn, args: Sequence[Any] = (), *, workers: int = 1, backend=None,
                 slices_per_worker: int = 1, min_slice: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ValueError(f"The 'workers' parameter of Evaluator must be an int >= 1. Got {workers!r} instead.")
        self.fn = fn
        self.args = tuple(args)
        self.workers = int(workers)
        self.slices_per_worker = max(1, int(slices_per_worker))  # > 1 evens out uneven design costs
        # Fewest rows worth a task of their own: below it a worker's round trip (pickling the
        # genomes and the frame back) costs more than scoring the rows, so a batch is cut into
        # fewer slices, and on local workers a batch of one slice is scored in-process.
        self.min_slice = max(1, int(min_slice))
        self.backend = backend if backend is not None else backends.current()
        self.retries_used = 0  # batches re-run after a worker died (for tests and logs)
        self._parallel = None
        self._executor = None
        self._payload = None
        self._config = None

    @property
    def _remote(self) -> bool:
        return self.backend.name == "dask" or self.workers > 1

    def _open(self) -> None:
        if self.backend.name == "dask":
            self._config = parallel_config(backend="dask", client=self.backend.client,
                                           scatter=backends.scatterable(self.args) or None)
            try:
                self._config.__enter__()
            except Exception as exc:  # noqa: BLE001
                self._config = None
                if backends.scheduler_lost(exc, self.backend):
                    raise backends.BackendLost(backends.lost_message(self.backend, exc)) from exc
                raise
            self._parallel = Parallel(n_jobs=-1, batch_size=1)
            self._parallel.__enter__()
        else:
            if self._payload is None:
                self._payload = backends.Payload(self.args)
            self._executor = _local_executor(self.workers)

    def _shut(self, *exc) -> None:
        self._executor = None  # the reusable pool stays up for the next evaluator (as joblib's does)
        if self._parallel is not None:
            with contextlib.suppress(Exception):
                self._parallel.__exit__(*(exc or (None, None, None)))
            self._parallel = None
        if self._config is not None:
            with contextlib.suppress(Exception):
                self._config.__exit__(None, None, None)
            self._config = None

    def __enter__(self) -> "Evaluator":
        if self._remote:
            self._open()
        return self

    def __exit__(self, *exc) -> None:
        self._shut(*exc)
        if self._payload is not None:
            self._payload.close()
            self._payload = None

    def _dispatch(self, G: np.ndarray) -> list[pd.DataFrame]:
        parts = np.array_split(G, self.n_slices(len(G)))
        if self._executor is None:  # dask
            return self._parallel([delayed(self.fn)(*self.args, part) for part in parts])
        # The pool is shared with every other local evaluator of the process (a run's search
        # and verify evaluators): one whose batch broke it has already replaced it, so ask
        # for the current one instead of submitting to the broken pool this one opened with.
        self._executor = _local_executor(self.workers)
        p = self._payload
        futures = [self._executor.submit(backends.call_with_payload, p.key, p.path, self.fn, part) for part in parts]
        try:
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            # the batch is abandoned: its running tasks are stopped, as joblib does
            with contextlib.suppress(Exception):
                self._executor.shutdown(wait=False, kill_workers=True)
            self._executor = None
            raise

    def n_slices(self, n: int) -> int:
        """How many slices (worker tasks) a batch of ``n`` designs is cut into."""
        return max(1, min(self.backend.n_slices(self.workers) * self.slices_per_worker, n // self.min_slice))

    def __call__(self, G: np.ndarray) -> pd.DataFrame:
        G = np.ascontiguousarray(G, dtype=np.int64)
        if not self._remote or (self.backend.name == "local" and self.n_slices(len(G)) <= 1):
            return _checked(self.fn(*self.args, G), len(G))
        opened_here = self._parallel is None and self._executor is None
        attempt = 0
        try:
            while True:
                if self._parallel is None and self._executor is None:
                    self._open()
                try:
                    frames = self._dispatch(G)
                    break
                except Exception as exc:  # noqa: BLE001 - classified below
                    if backends.scheduler_lost(exc, self.backend):
                        raise backends.BackendLost(backends.lost_message(self.backend, exc)) from exc
                    if not backends.worker_died(exc):
                        raise
                    if attempt >= self.backend.retries:
                        raise backends.BackendLost(
                            f"workers kept dying: the batch failed {attempt + 1} times "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
                    attempt += 1
                    self.retries_used += 1
                    warnings.warn(f"a worker died during a batch ({type(exc).__name__}); "
                                  f"re-running it (retry {attempt} of {self.backend.retries})",
                                  WorkerRetryWarning, stacklevel=2)
                    self._shut()  # a broken pool: start a fresh one
        finally:
            if opened_here:
                self._shut()
        return _checked(_joined(frames), len(G))


# Local workers idle this long exit (and start again, imports and kernel loads, on the next
# batch); a pool used less than POOL_IDLE_S ago is certainly still up.
POOL_TIMEOUT_S = 300
POOL_IDLE_S = POOL_TIMEOUT_S - 50

# Thread pools inside a worker: the host's cores shared among the workers, as joblib's loky
# backend sets them (unless the parent process set them itself).
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def _local_executor(workers: int):
    """joblib's reusable loky process pool with ``workers`` processes. Its futures wake the
    caller as soon as a slice is done, where ``joblib.Parallel`` polls every 10 ms: a
    single-objective run dispatches a few small verification batches every generation."""
    threads = str(max(cpu_count() // workers, 1))
    env = {var: os.environ.get(var, threads) for var in _THREAD_VARS}
    return get_reusable_executor(max_workers=workers, env=env, timeout=POOL_TIMEOUT_S)


def _joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The slices' frames in order; positional row ids (``"0"``, ``"1"``, ... per slice)
    renumbered over the whole batch, as an in-process call would number them."""
    frame = pd.concat(frames, ignore_index=True)
    if "id" in frame.columns and all(
            f["id"].astype(str).tolist() == [str(i) for i in range(len(f))] for f in frames if "id" in f.columns):
        frame["id"] = np.arange(len(frame)).astype(str)
    return frame


def _checked(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    if len(frame) != n:
        raise RuntimeError(f"evaluator returned {len(frame)} rows for {n} designs")
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Scores:
    frame: pd.DataFrame
    objectives: np.ndarray  # [B, m] minimization form, inf when infeasible
    violation: np.ndarray  # [B], 0 when feasible
    feasible: np.ndarray  # [B] bool


def score(frame: pd.DataFrame, objectives: Sequence[Objective], power_w: float) -> Scores:
    """Objectives and constraint violation of an evaluated batch (the evaluator has already
    applied the run's power check: over-budget rows come back infeasible, with their peak)."""
    feas = feasibility(frame)
    F = objective_matrix(frame, objectives, feas)
    viol = violation(frame, power_w)
    # a "feasible" row whose objectives are not finite cannot be compared: treat as infeasible
    bad = feas & ~np.isfinite(F).all(axis=1)
    feas = feas & ~bad
    viol = np.where(bad, 1.0, viol)
    return Scores(frame, F, viol, feas)
