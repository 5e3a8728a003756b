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
