"""Shared fixtures (paths to the reference data shipped with the tests), the test tiers
and the skip rule.

Every test carries exactly one of the markers in TIERS (README, "Tests").

The reference data (PIMSYN's networks, config and outputs, the reference points, public
ONNX files) lives in ``tests/data/reference`` (its SOURCES.md gives sources and licences),
so every clone runs every test. A test may skip only for a missing optional extra, through
:func:`optional_extra`, whose reason names the extra; any other skip (a missing file, say)
fails the session, so that a suite that silently stopped checking something cannot pass.
"""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "tests" / "data" / "reference"
TIERS = ("unit", "property", "golden", "e2e")
EXTRA_SKIP_PREFIX = "optional extra "


def pytest_collection_modifyitems(config, items) -> None:
    """Refuse a test without a tier, or with two: ``-m unit`` and friends must select
    every test exactly once."""
    wrong = []
    for item in items:
        tiers = {m.name for m in item.iter_markers() if m.name in TIERS}
        if len(tiers) != 1:
            wrong.append(f"{item.nodeid} ({', '.join(sorted(tiers)) or 'none'})")
    if wrong:
        raise pytest.UsageError(f"every test needs exactly one tier marker of {', '.join(TIERS)} "
                                f"(module-level pytestmark or a decorator); these do not: {'; '.join(wrong[:10])}"
                                + (f" and {len(wrong) - 10} more" if len(wrong) > 10 else ""))


def optional_extra(module: str, extra: str):
    """``pytest.importorskip`` whose skip reason names the extra that provides ``module``."""
    return pytest.importorskip(module, reason=f"{EXTRA_SKIP_PREFIX}[{extra}] is not installed "
                                              f"(no module {module!r}): pip install -e \".[{extra}]\"")


def skip_reason(report) -> str:
    """The reason of a skipped test or module report (pytest stores it as 'Skipped: ...')."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


_forbidden_skips: list[tuple[str, str]] = []


def _note_skip(report) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = skip_reason(report)
        if not reason.startswith(EXTRA_SKIP_PREFIX):
            _forbidden_skips.append((report.nodeid, reason))


def pytest_collectreport(report):
    _note_skip(report)


def pytest_runtest_logreport(report):
    _note_skip(report)


def pytest_sessionfinish(session, exitstatus):
    if not _forbidden_skips:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", f"{len(_forbidden_skips)} skip(s) not for a missing optional extra: failing",
                           red=True)
        for nodeid, reason in _forbidden_skips:
            reporter.write_line(f"{nodeid}: {reason}")
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE


@pytest.fixture(scope="session")
def hw():
    from fitness.hardware import load_hardware

    return load_hardware()


@pytest.fixture(scope="session")
def alexnet(reference_dir):
    from fitness.pimcomp import load_pimcomp

    return load_pimcomp(reference_dir / "networks" / "alexnet.json")
