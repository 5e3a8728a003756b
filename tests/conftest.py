"""Shared fixtures (paths to the reference data shipped beside the checkout) and the test
tiers: every test carries exactly one of the markers in TIERS (README, "Tests")."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO.parent / "shared" / "reference"
TIERS = ("unit", "property", "golden", "e2e")


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


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.exists():
        pytest.skip("shared/reference is not beside the checkout")
    return REFERENCE


@pytest.fixture(scope="session")
def hw():
    from fitness.hardware import load_hardware

    return load_hardware()


@pytest.fixture(scope="session")
def alexnet(reference_dir):
    from fitness.pimcomp import load_pimcomp

    return load_pimcomp(reference_dir / "networks" / "alexnet.json")
