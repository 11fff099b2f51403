from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
FROZEN_PRICES = ROOT / "tests" / "fixtures" / "prices"


@pytest.fixture(scope="session")
def frozen_book():
    """The frozen test price sheet: golden numbers are computed against it, never against pricing/."""
    from workbench.io.pricesheets import load_prices

    return load_prices(FROZEN_PRICES)


@pytest.fixture(scope="session")
def real_book():
    from workbench.io.pricesheets import load_prices

    return load_prices()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"public test data missing: {SHARED_DATA} (see DEVELOPERS.md / shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture
def run_cli():
    """Run ``python -m workbench.cli`` as a user would; returns CompletedProcess."""
    import subprocess

    def run(*args: str, stdin: str | None = None, env: dict | None = None):
        return subprocess.run([sys.executable, "-m", "workbench.cli", *args], input=stdin,
                              capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, **(env or {})}, timeout=120)
    return run
