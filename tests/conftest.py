"""Shared fixtures: paths to the reference data shipped beside the checkout."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO.parent / "shared" / "reference"


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
