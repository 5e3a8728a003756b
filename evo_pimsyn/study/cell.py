"""One study cell as a process of its own: ``python -m evo_pimsyn.study.cell DIR ID WORKERS``.

The cell's run options come from the study's spec (study.json), so the scheduler and the
cell agree on them without passing them around. A cell whose run folder already holds a
run resumes it from its last checkpoint (the engine's own resume: same results as an
uninterrupted run); otherwise it starts it. A lock file per cell keeps two processes off
one run folder (a cell left running by a killed study, and the resumed study's).
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator

# Nothing heavy at module level: a Ctrl-C forwarded while the cell is still importing must
# land in main()'s handler (exit 130), not in a traceback.


@contextlib.contextmanager
def cell_lock(study_dir: Path, cell_id: str) -> Iterator[None]:
    """Hold ``locks/<id>.lock`` (flock: released by the kernel when the holder dies)."""
    locks = study_dir / "locks"
    locks.mkdir(exist_ok=True)
    with open(locks / f"{cell_id}.lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"evo-pimsyn: cell {cell_id}: waiting for another process that runs it", file=sys.stderr)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_cell(study_dir: str | Path, cell_id: str, workers: int = 1, backend: str = "local",
             scheduler: str | None = None) -> int:
    """Start or resume cell ``cell_id`` of the study in ``study_dir``; the run's exit code."""
    from evo_pimsyn.engine import session
    from evo_pimsyn.study.journal import read_study
    from evo_pimsyn.study.spec import StudySpec
    from fitness.errors import InputError

    study_dir = Path(study_dir)
    record = read_study(study_dir)
    cells = {c.id: c for c in StudySpec.from_dict(record["spec"]).cells()}
    if cell_id not in cells:
        raise InputError(f"{study_dir}: the study has no cell {cell_id!r}")
    cell = cells[cell_id]
    run_dir = study_dir / cell.run_dir
    with cell_lock(study_dir, cell_id):
        if (run_dir / "run.json").exists():
            return session.resume(run_dir, workers=workers, quiet=True, backend=backend, scheduler=scheduler)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        options = replace(cell.options, out=str(run_dir), workers=workers, backend=backend, scheduler=scheduler,
                          quiet=True)
        return session.start(options, argv=record.get("command"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m evo_pimsyn.study.cell STUDY_DIR CELL_ID WORKERS", file=sys.stderr)
        return 2
    try:
        from evo_pimsyn.messages import use_cli_format
        from fitness.errors import InputError

        use_cli_format()
        try:
            return run_cell(args[0], args[1], int(args[2]))
        except InputError as exc:
            print(f"evo-pimsyn: error: {exc}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        print(f"evo-pimsyn: cell {args[1]} interrupted before its run began", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover - run as a subprocess by the study scheduler
    sys.exit(main())
