"""Keep numba's on-disk kernel cache in step with the model's sources.

numba checks a cached kernel against its own source file only. A kernel that inlines a
helper from another module (``depcb.pixel_range`` in the DAG builders and the input-load
fix, ``analytic.sampled`` in the recurrence) keeps running its old compiled code after
only that other module changed: a ``git pull`` or an edit could leave the model silently
computing with stale code. So the package keeps a stamp of every source file of
``fitness`` (path, size and modification time) beside the cache, and when the stamp
differs it drops every cached kernel of the package before anything is compiled or
loaded; the next call compiles afresh (about 30 s) and the stamp is rewritten.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STAMP = "kernel-sources.stamp"


def _cache_roots() -> list[Path]:
    """Where numba writes this package's cache: ``__pycache__`` beside each source folder,
    or the mirror of the source path under ``NUMBA_CACHE_DIR`` when that is set."""
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:
        return [Path(custom) / str(PACKAGE).lstrip(os.sep)]
    return [PACKAGE]


def sources_stamp() -> str:
    """A digest of the package's source files: their paths, sizes and modification times."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(PACKAGE)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def drop_stale_kernels() -> bool:
    """Delete the package's cached kernels if its sources changed since they were cached;
    True when it did. Never raises: a cache that cannot be cleaned is numba's to handle."""
    try:
        stamp = sources_stamp()
        removed = False
        for root in _cache_roots():
            stamp_file = root / "__pycache__" / STAMP
            if stamp_file.exists() and stamp_file.read_text() == stamp:
                continue
            for cached in [*root.rglob("*.nbi"), *root.rglob("*.nbc")]:
                cached.unlink(missing_ok=True)
                removed = True
            stamp_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = stamp_file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(stamp)
            os.replace(tmp, stamp_file)
        return removed
    except OSError:
        return False
