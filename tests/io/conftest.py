"""Fixtures for the ingestion tests: the hand-written logs, the public-data mirror, a price book."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "tests" / "fixtures" / "logs"
MIRROR = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def logs() -> Path:
    return LOGS


@pytest.fixture
def data_mirror(monkeypatch) -> Path:
    """Point the data-set loader at the read-only copies in ../shared/data (never the network)."""
    if not MIRROR.is_dir():
        pytest.fail(f"public test data missing: {MIRROR}")
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(MIRROR))
    return MIRROR


@pytest.fixture(scope="session")
def book():
    """The project's price sheets (the fixture logs use long-lived model ids and aliases)."""
    from workbench.io.pricesheets import load_prices

    return load_prices()
