"""Where batches are evaluated: in-process, local loky processes, or a dask cluster.

``--backend local`` (default) runs ``--workers`` loky processes on this machine;
``--backend dask`` runs the tasks through joblib's dask backend on a ``distributed``
cluster: the scheduler at ``--scheduler tcp://HOST:PORT``, or a ``LocalCluster`` of
``--workers`` single-threaded processes when no address is given.

What travels to workers: the scoring arguments (network, hardware, genome layout) go
once per worker, not once per task. On dask they are scattered to every worker
(``client.scatter(..., broadcast=True)`` via joblib's ``scatter=``) when the evaluator
opens; on loky they are pickled once to a temp file that each worker process reads on its
first task and keeps in a cache keyed by the payload's sha256. Tasks themselves carry
only the genome slice (a plain int64 array).

:func:`open_backend` is a context manager that holds the cluster connection for a run;
an :class:`~evo_pimsyn.engine.evaluation.Evaluator` created inside it uses that backend.
A scheduler that cannot be reached raises :class:`fitness.errors.InputError`; one lost
mid-run raises :class:`BackendLost` (the session checkpoints and exits with a resume hint).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import logging
import os
import pickle
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from typing import Any, Iterator

from joblib.externals.loky.process_executor import BrokenProcessPool

from fitness.errors import InputError

BACKENDS = ("local", "dask")
DEFAULT_RETRIES = 2  # re-runs of a batch after a worker died in it
CONNECT_TIMEOUT_S = 5.0  # also how long a lost scheduler is waited for before giving up


class BackendLost(RuntimeError):
    """The scheduler (or the worker pool, beyond the retries) went away mid-batch."""


@dataclass
class Backend:
    """The active evaluation backend. ``client`` is a ``distributed.Client`` for dask."""

    name: str = "local"
    scheduler: str | None = None
    client: Any = None
    retries: int = DEFAULT_RETRIES

    def n_slices(self, workers: int) -> int:
        """How many slices to cut a batch into: one per worker (per worker thread on dask)."""
        if self.client is not None:
            try:
                total = sum(self.client.nthreads().values())
            except Exception as exc:  # noqa: BLE001 - any failure here means the scheduler is gone
                raise BackendLost(lost_message(self, exc)) from exc
            return max(1, total, int(workers))
        return max(1, int(workers))


_LOCAL = Backend()
_stack: list[Backend] = []


def current() -> Backend:
    return _stack[-1] if _stack else _LOCAL


def validate(name: str, scheduler: str | None) -> None:
    if name not in BACKENDS:
        raise InputError(f"The 'backend' parameter must be one of {', '.join(BACKENDS)}. Got {name!r} instead.")
    if scheduler is not None:
        if name != "dask":
            raise InputError(f"The 'scheduler' parameter needs --backend dask. Got {scheduler!r} with "
                             f"backend {name!r} instead.")
        if not re.fullmatch(r"(tcp|tls|ucx|inproc|ws|wss)://[^\s/]+(:\d+)?/?", str(scheduler)):
            raise InputError(f"The 'scheduler' parameter must be an address such as tcp://HOST:8786. "
                             f"Got {scheduler!r} instead.")


@contextlib.contextmanager
def _current(backend: Backend) -> Iterator[Backend]:
    """``backend`` is :func:`current` while the block runs."""
    _stack.append(backend)
    try:
        yield backend
    finally:
        _stack.remove(backend)


@contextlib.contextmanager
def open_backend(name: str = "local", scheduler: str | None = None, *, workers: int = 1,
                 retries: int = DEFAULT_RETRIES) -> Iterator[Backend]:
    """Hold a backend for the duration of a run (connect / start a LocalCluster, then close)."""
    validate(name, scheduler)
    if name == "local":
        with _current(Backend("local", None, None, retries)) as backend:
            yield backend
        return
    try:  # the dask extra, imported only by a run that asks for it
        import distributed
    except ImportError:
        raise InputError("the dask backend needs dask.distributed: pip install 'evo-pimsyn[dask]' "
                         "(or 'dask[distributed]')") from None
    cluster = None
    with contextlib.ExitStack() as stack:
        # the client logs its reconnect failure at ERROR; BackendLost already says it in one line
        client_log = logging.getLogger("distributed.client")
        stack.callback(client_log.setLevel, client_log.level)
        client_log.setLevel(logging.CRITICAL)
        if scheduler is None:
            cluster = distributed.LocalCluster(n_workers=max(1, int(workers)), threads_per_worker=1,
                                               processes=True, dashboard_address=None)
            stack.callback(cluster.close)
            address = cluster.scheduler_address
        else:
            address = scheduler
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the dask scheduler at {address} ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'no answer'})") from None
        stack.callback(_close_quietly, client)
        with _current(Backend("dask", address, client, retries)) as backend:
            yield backend


def _close_quietly(client) -> None:
    with contextlib.suppress(Exception):
        client.close(timeout=5)


# ---- failure classification ------------------------------------------------------------
def worker_died(exc: BaseException) -> bool:
    """A worker process died under the batch: re-running it may succeed."""
    if isinstance(exc, BrokenProcessPool):
        return True
    try:  # the dask extra (absent on most installs)
        from distributed import KilledWorker
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, KilledWorker)


def scheduler_lost(exc: BaseException, backend: Backend) -> bool:
    """The connection to the dask scheduler is gone (or the client was closed)."""
    if backend.client is None:
        return False
    try:  # the dask extra (a client exists, so it is installed)
        from distributed.comm.core import CommClosedError
    except ImportError:  # pragma: no cover
        return False
    # OSError covers the client's own "Timed out trying to connect" (a plain OSError) raised
    # when joblib asks the dead scheduler how many threads it has, before any task is sent
    if isinstance(exc, (CommClosedError, concurrent.futures.CancelledError, OSError)):
        return True
    status = getattr(backend.client, "status", "running")
    return status not in ("running", "connecting")


def lost_message(backend: Backend, exc: BaseException) -> str:
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return (f"lost the dask scheduler at {backend.scheduler} ({type(exc).__name__}"
            f"{': ' + detail if detail else ''})")


# ---- payload: the scoring arguments, once per worker -----------------------------------
_WORKER_CACHE: dict[str, tuple] = {}


class Payload:
    """The scoring arguments pickled once to a temp file; tasks carry (key, path)."""

    def __init__(self, args: tuple) -> None:
        blob = pickle.dumps(tuple(args), protocol=pickle.HIGHEST_PROTOCOL)
        self.key = hashlib.sha256(blob).hexdigest()
        self._dir = tempfile.mkdtemp(prefix="evo-pimsyn-payload-")
        self.path = os.path.join(self._dir, f"{self.key}.pkl")
        with open(self.path, "wb") as fh:
            fh.write(blob)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)

    def close(self) -> None:
        self._finalizer()


def call_with_payload(key: str, path: str, fn, G):
    """Worker task: ``fn(*args, G)`` with ``args`` read once per worker process."""
    args = _WORKER_CACHE.get(key)
    if args is None:
        with open(path, "rb") as fh:  # our own temp file, written by the parent process
            args = pickle.load(fh)
        _WORKER_CACHE.clear()
        _WORKER_CACHE[key] = args
    return fn(*args, G)


def scatterable(args: tuple) -> list:
    """The arguments worth scattering once to every dask worker (not small scalars)."""
    return [a for a in args if not isinstance(a, (str, bytes, int, float, bool, type(None)))]
