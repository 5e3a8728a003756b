"""Model inputs shared by test modules, loaded once per session: PIMSYN's hardware config
and its reference networks (tests/data/reference)."""

from __future__ import annotations

from functools import lru_cache

from fitness.hardware import Hardware, load_hardware
from fitness.network import Network
from fitness.pimcomp import load_pimcomp
from tests.conftest import REFERENCE


@lru_cache(maxsize=None)
def hardware() -> Hardware:
    return load_hardware()


@lru_cache(maxsize=None)
def reference_network(name: str) -> Network:
    return load_pimcomp(REFERENCE / "networks" / f"{name}.json")
