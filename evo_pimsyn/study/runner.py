"""Running a study: plan every cell, skip the finished ones, run the others over the
workers, then write study.csv and report.html.

Scheduling. ``--backend local``: each cell is a process of its own
(``python -m evo_pimsyn.study.cell``), at most ``workers`` at a time, output in
``logs/<cell>.log``. The cells run in their own session so that a Ctrl-C reaches the
scheduler alone, which then asks each running cell once (SIGINT) to checkpoint and stop;
and each cell gets SIGTERM (the same) if the scheduler dies. ``--backend dask``: each cell
is a task on a dask worker (one cell per single-threaded worker). A cell evaluates its
batches in-process, unless the study has fewer cells to run than workers: then the
workers are shared out (local: ``workers // cells`` processes per cell; dask: the cell
scores its batches on the cluster). Results do not depend on any of this: every cell is
a seeded run whose output does not depend on its worker count.

Resuming. Planning compares each cell's config hash (``session.plan``) with the run.json
already in its folder, and refuses a mismatch. Cells listed as done in study.json are
skipped; the others start, or resume from their last checkpoint. A cell killed by a
signal (or by a lost cluster) is resumed again, at most ``MAX_RETRIES`` times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from evo_pimsyn.engine import outputs, session
from evo_pimsyn.study import journal
from evo_pimsyn.study.spec import Cell, StudySpec
from fitness.errors import InputError
from genomes.layout import NoLegalDesign

EXIT_FAILED = 1
MAX_RETRIES = 2
POLL_S = 0.1
STOP_WAIT_S = 120.0  # how long interrupted cells get to write their checkpoints


@dataclass
class CellPlan:
    cell: Cell
    config_hash: str | None  # None: no legal design
    no_legal_design: str | None = None  # the refusal, one line


def plan_cells(cells: list[Cell]) -> list[CellPlan]:
    """Each cell's config hash, or why it has no legal design. Bad options raise InputError."""
    out = []
    for cell in cells:
        try:
            _, run = session.plan(replace(cell.options, quiet=True))
        except NoLegalDesign as exc:
            out.append(CellPlan(cell, None, str(exc)))
            continue
        out.append(CellPlan(cell, run["config_hash"]))
    return out


def check_run_folders(study_dir: Path, plans: list[CellPlan]) -> None:
    """Refuse a cell whose folder holds a run of other options (the study's options changed
    under an existing folder, or a folder was copied in by hand)."""
    for p in plans:
        run_json = study_dir / p.cell.run_dir / "run.json"
        if p.config_hash is None or not run_json.exists():
            continue
        run = outputs.read_run(run_json.parent)
        if run.get("config_hash") != p.config_hash:
            raise InputError(f"cell {p.cell.id}: {run_json.parent} holds a run made with other options (config hash "
                             f"{str(run.get('config_hash'))[:12]} != {p.config_hash[:12]}); move it away or use another "
                             f"study folder")


def run_study(spec: StudySpec, study_dir: str | Path, *, name: str | None = None, workers: int = 1,
              backend: str = "local", scheduler: str | None = None, quiet: bool = False,
              argv: list[str] | None = None) -> int:
    """Run (or continue) the study ``spec`` in ``study_dir``; exit code 0, 1 (a cell failed)
    or 130 (interrupted; rerun to continue)."""
    from evo_pimsyn.engine import backends

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"The 'workers' parameter must be an int >= 1. Got {workers!r} instead.")
    backends.validate(backend, scheduler)
    study_dir = Path(study_dir)
    try:
        study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the study folder {study_dir}: {exc.strerror or exc}") from None
    with journal.study_lock(study_dir):
        record = _record(study_dir, spec, name, argv)
        plans = plan_cells(spec.cells())
        check_run_folders(study_dir, plans)
        done = _done(study_dir, record)
        record["cells"] = [{"id": p.cell.id, "model": p.cell.model, "power_w": p.cell.power_w, "seed": p.cell.seed,
                            "values": p.cell.values, "run_dir": p.cell.run_dir, "config_hash": p.config_hash,
                            "no_legal_design": p.no_legal_design} for p in plans]
        record["done"] = [p.cell.id for p in plans if p.cell.id in done]
        record["workers"] = workers
        journal.write_study(study_dir, record)
        pending = [p.cell for p in plans if p.config_hash is not None and p.cell.id not in done]
        say = (lambda text: None) if quiet else (lambda text: print(f"evo-pimsyn: {text}", file=sys.stderr, flush=True))
        for p in plans:
            if p.no_legal_design is not None:
                say(f"cell {p.cell.id}: no legal design, reported as such ({p.no_legal_design})")
        per_cell = max(1, workers // len(pending)) if 0 < len(pending) < workers else 1
        say(f"study {study_dir}: {len(plans)} cell(s), {len(record['done'])} done, {len(pending)} to run on "
            f"{workers} worker(s), {per_cell} process(es) per cell"
            + (f"; logs in {study_dir / 'logs'}" if pending and backend == "local" else ""))
        progress = _Progress(study_dir, record, len(plans), say)
        if pending and backend == "local":
            _warm_up(pending[0])
        try:
            with session._sigterm_as_interrupt():
                if backend == "dask":
                    failed = _run_dask(study_dir, pending, workers, per_cell, scheduler, progress)
                else:
                    failed = _run_local(study_dir, pending, workers, per_cell, progress)
        except KeyboardInterrupt:
            _write_outputs(study_dir, say)
            print(f"evo-pimsyn: study interrupted; {len(record['done'])} of {len(plans)} cells done, running cells "
                  f"checkpointed. Continue with: evo-pimsyn study --resume {study_dir}", file=sys.stderr)
            return session.EXIT_INTERRUPTED
        _write_outputs(study_dir, say)
        if failed:
            print(f"evo-pimsyn: {len(failed)} cell(s) failed: "
                  + "; ".join(f"{cid} ({why})" for cid, why in failed.items())
                  + f". Rerun to retry them: evo-pimsyn study --resume {study_dir}", file=sys.stderr)
            return EXIT_FAILED
        return 0


def resume_study(study_dir: str | Path, *, workers: int | None = None, backend: str = "local",
                 scheduler: str | None = None, quiet: bool = False) -> int:
    """Continue the study in ``study_dir`` with its recorded spec."""
    study_dir = Path(study_dir)
    record = journal.read_study(study_dir)
    spec = StudySpec.from_dict(record["spec"])
    return run_study(spec, study_dir, name=record.get("name"), workers=workers or int(record.get("workers", 1)),
                     backend=backend, scheduler=scheduler, quiet=quiet, argv=record.get("command"))


def _record(study_dir: Path, spec: StudySpec, name: str | None, argv: list[str] | None) -> dict:
    if (study_dir / journal.STUDY_FILE).exists():
        record = journal.read_study(study_dir)
        diffs = journal.spec_differences(record["spec"], spec.to_dict())
        if diffs:
            raise InputError(f"{study_dir} holds another study (it differs in {', '.join(diffs)}); continue it with "
                             f"`evo-pimsyn study --resume {study_dir}` or choose another --name / --out")
        return record
    return journal.new_record(name or study_dir.name, spec.to_dict(), argv)


def _done(study_dir: Path, record: dict) -> set[str]:
    """Cells the journal lists as done whose pareto.csv is still there."""
    cells = {c["id"]: c for c in record.get("cells", [])}
    return {cid for cid in record.get("done", []) if cid in cells
            and (study_dir / cells[cid]["run_dir"] / "pareto.csv").exists()}


def _warm_up(cell: Cell) -> None:
    """Compile (or load from the on-disk cache) the model's numba kernels once, before the
    cells start: a cell's time budget counts its first generation, which on a fresh install
    would otherwise spend ~35 s compiling, and cells started together would each compile
    them. The kernels do not depend on the network, so one cell's two designs do."""
    if cell.options.problem != "pim":
        return
    import numpy as np

    setup, _ = session.plan(replace(cell.options, quiet=True))
    G = setup.problem.initial(1, np.random.default_rng(0))
    for fidelity in ("analytic", "cycle"):
        fn, args = setup.problem.scorer(fidelity)
        fn(*args, G)


class _Progress:
    """Marks cells done in study.json (the scheduler is its only writer) and says so."""

    def __init__(self, study_dir: Path, record: dict, total: int, say) -> None:
        self.study_dir, self.record, self.total, self.say = study_dir, record, total, say

    def finished(self, cell: Cell, seconds: float) -> None:
        """``seconds``: since the cell started (local) or since the cells were submitted (dask)."""
        if cell.id not in self.record["done"]:
            self.record["done"].append(cell.id)
        journal.write_study(self.study_dir, self.record)
        self.say(f"[{len(self.record['done'])}/{self.total}] {cell.id}: finished after {seconds:.0f} s, "
                 f"{_best_text(self.study_dir / cell.run_dir)}")

    def failed(self, cell: Cell, why: str, retry: bool) -> None:
        self.say(f"cell {cell.id}: {why}" + ("; resuming it" if retry else ""))


def _best_text(run_dir: Path) -> str:
    import pandas as pd

    try:
        front = pd.read_csv(run_dir / "pareto.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return "no front"
    if "feasible" in front:
        front = front[front["feasible"].astype(str).str.lower().isin(("true", "1"))]
    if not len(front) or "efficiency_gops_w" not in front:
        return "no feasible design"
    return f"best efficiency {float(front['efficiency_gops_w'].max()):.1f} GOPS/W"


# ---- local processes ---------------------------------------------------------------------
def _cell_env() -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent.parent)  # the checkout or site-packages holding evo_pimsyn
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _cell_preexec() -> None:
    # a cell must see the SIGINT the scheduler forwards (a shell without job control starts
    # background jobs with SIGINT ignored, and children inherit that); and it gets SIGTERM,
    # which checkpoints like Ctrl-C, when the scheduler dies (Linux PR_SET_PDEATHSIG)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _launch(study_dir: Path, cell: Cell, workers: int) -> tuple[subprocess.Popen, float]:
    logs = study_dir / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / f"{cell.id}.log", "a") as log:
        log.write(f"--- evo-pimsyn study: cell {cell.id}, {workers} worker(s), "
                  f"{'resume' if (study_dir / cell.run_dir / 'run.json').exists() else 'start'}\n")
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", "evo_pimsyn.study.cell", str(study_dir), cell.id, str(workers)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_cell_env(),
                                start_new_session=True, preexec_fn=_cell_preexec)
    return proc, time.monotonic()


def _run_local(study_dir: Path, pending: list[Cell], workers: int, per_cell: int, progress: _Progress) -> dict:
    queue = list(pending)
    running: dict[str, tuple[Cell, subprocess.Popen, float]] = {}
    retries: dict[str, int] = {}
    failed: dict[str, str] = {}
    slots = min(workers, max(1, len(pending)))
    try:
        while queue or running:
            while queue and len(running) < slots:
                cell = queue.pop(0)
                proc, t0 = _launch(study_dir, cell, per_cell)
                running[cell.id] = (cell, proc, t0)
            time.sleep(POLL_S)
            for cid, (cell, proc, t0) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                del running[cid]
                if rc == 0:
                    progress.finished(cell, time.monotonic() - t0)
                    continue
                why = f"exit code {rc}" if rc > 0 else f"killed by signal {-rc}"
                # killed from outside (signal, lost cluster, Ctrl-C of the cell alone): its
                # checkpoint is intact, so resume it; any other exit is an error to report
                again = (rc < 0 or rc in (session.EXIT_INTERRUPTED, session.EXIT_BACKEND_LOST)) \
                    and retries.get(cid, 0) < MAX_RETRIES
                progress.failed(cell, f"{why}, see {study_dir / 'logs' / (cid + '.log')}", again)
                if again:
                    retries[cid] = retries.get(cid, 0) + 1
                    queue.insert(0, cell)
                else:
                    failed[cid] = why
    except KeyboardInterrupt:
        _stop([proc for _, proc, _ in running.values()])
        raise
    return failed


def _stop(procs: list[subprocess.Popen]) -> None:
    """Ask each running cell once to checkpoint and stop (SIGINT), wait, then kill stragglers."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_WAIT_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- dask -------------------------------------------------------------------------------
def _dask_cell(study_dir: str, cell_id: str, workers: int, backend: str, scheduler: str | None) -> int:
    """Task body: one cell on a dask worker (its batches on the cluster when ``backend`` is dask)."""
    from evo_pimsyn.study.cell import run_cell

    if backend != "dask":
        return run_cell(study_dir, cell_id, 1)
    # joblib's dask backend secedes this task's thread while it waits for the batches, so
    # this worker scores some of them too
    return run_cell(study_dir, cell_id, workers, backend="dask", scheduler=scheduler)


def _run_dask(study_dir: Path, pending: list[Cell], workers: int, per_cell: int, scheduler: str | None,
              progress: _Progress) -> dict:
    from evo_pimsyn.engine import backends

    failed: dict[str, str] = {}
    if not pending:
        return failed
    with backends.open_backend("dask", scheduler, workers=workers) as backend:
        import distributed

        client = backend.client
        share = per_cell > 1
        started = time.monotonic()
        futures = {client.submit(_dask_cell, str(study_dir.resolve()), c.id, per_cell if share else 1,
                                 "dask" if share else "local", backend.scheduler if share else None,
                                 pure=False, key=f"evo-pimsyn-cell-{c.id}-{os.getpid()}-{time.time_ns()}"): c
                   for c in pending}
        try:
            for future in distributed.as_completed(list(futures), loop=client.loop):
                cell = futures[future]
                try:
                    rc = future.result()
                except InputError as exc:
                    rc, why = None, str(exc)
                except Exception as exc:  # noqa: BLE001 - a task that died: report it, keep the others
                    rc, why = None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                if rc == 0:
                    progress.finished(cell, time.monotonic() - started)
                    continue
                why = f"exit code {rc}" if rc is not None else why
                progress.failed(cell, why, False)
                failed[cell.id] = why
        except KeyboardInterrupt:
            client.cancel(list(futures))
            raise
    return failed


def _write_outputs(study_dir: Path, say) -> None:
    from evo_pimsyn.analysis.study import write_study_outputs

    paths = write_study_outputs(study_dir)
    say("wrote " + ", ".join(str(p) for p in paths))
