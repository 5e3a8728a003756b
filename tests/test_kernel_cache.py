"""Cached numba kernels are dropped when any source of the model changed since they were
cached (numba itself checks a kernel's own file only)."""

from __future__ import annotations

import os

import pytest

from fitness import kernel_cache

pytestmark = pytest.mark.unit


@pytest.fixture
def package(tmp_path, monkeypatch):
    pkg = tmp_path / "fitness"
    (pkg / "analytic" / "__pycache__").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "depcb.py").write_text("def pixel_range(): pass\n")
    (pkg / "analytic" / "recurrence.py").write_text("def run(): pass\n")
    monkeypatch.setattr(kernel_cache, "PACKAGE", pkg)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    return pkg


def _kernels(pkg):
    return sorted(p.name for p in pkg.rglob("*.nb[ic]"))


def _cache_recurrence(pkg):
    for name in ("recurrence._run-10.py311.nbi", "recurrence._run-10.py311.1.nbc"):
        (pkg / "analytic" / "__pycache__" / name).write_text("compiled")


def test_a_change_in_another_module_drops_the_cached_kernels(package):
    kernel_cache.drop_stale_kernels()  # first stamp
    _cache_recurrence(package)
    assert not kernel_cache.drop_stale_kernels()  # sources unchanged: the cache stays
    assert len(_kernels(package)) == 2
    # only the inlined helper's module changes; recurrence.py itself does not
    helper = package / "depcb.py"
    helper.write_text("def pixel_range(): return 1\n")
    os.utime(helper, ns=(helper.stat().st_atime_ns, helper.stat().st_mtime_ns + 10**9))
    assert kernel_cache.drop_stale_kernels()
    assert _kernels(package) == []
    assert not kernel_cache.drop_stale_kernels()  # restamped


def test_numba_cache_dir_is_cleaned_where_numba_writes(package, tmp_path, monkeypatch):
    cache = tmp_path / "numba-cache"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    mirror = cache / str(package).lstrip(os.sep)
    (mirror / "analytic").mkdir(parents=True)
    (mirror / "analytic" / "recurrence._run-10.py311.nbi").write_text("compiled")
    assert kernel_cache.drop_stale_kernels()
    assert not list(mirror.rglob("*.nbi")) and (mirror / "__pycache__" / kernel_cache.STAMP).exists()
