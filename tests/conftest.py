from __future__ import annotations

import os
import sys
from contextlib import contextmanager
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


#: A directory that holds no Gemini vocabulary: Gemini counts take the estimate path there.
NO_GEMINI_VOCAB = ROOT / "tests" / "fixtures" / "no_gemini_vocab"


@contextmanager
def gemini_vocab_at(path: Path):
    """Point the Gemini vocabulary lookup at ``path`` for the duration (not thread-safe: tests only)."""
    from workbench.core import _gemini_vocab

    old = os.environ.get(_gemini_vocab.ENV)
    os.environ[_gemini_vocab.ENV] = str(path)  # loaded vocabularies are kept per path: no reload
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(_gemini_vocab.ENV, None)
        else:
            os.environ[_gemini_vocab.ENV] = old


@pytest.fixture
def gemini_estimate():
    """Gemini counts fall back to the calibrated estimate (vocabulary directory empty)."""
    with gemini_vocab_at(NO_GEMINI_VOCAB):
        yield


@pytest.fixture(scope="session")
def gemini_vocab() -> Path:
    """Gemini's installed vocabulary; fails (never skips) when set-up did not install it."""
    from workbench.core import _gemini_vocab

    if _gemini_vocab.load() is None:
        pytest.fail(f"Gemini vocabulary missing or corrupt at {_gemini_vocab.vocab_path()}: "
                    f"{_gemini_vocab.INSTALL_HINT}")
    return _gemini_vocab.vocab_path()


@pytest.fixture
def run_async():
    """``run_async(make_coroutine)``: run it to the end on a new event loop in a fresh thread and
    re-raise what it raised. A session-scoped Playwright (sync API) keeps a loop running in the main
    thread, where ``asyncio.run`` refuses to start, so a test that needs its own loop uses this."""
    import asyncio
    import threading

    def run(make_coroutine, timeout_s: float = 120.0) -> None:
        errors: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(make_coroutine())
            except BaseException as e:  # re-raised in the test's thread
                errors.append(e)

        runner = threading.Thread(target=target, name="test-own-loop")
        runner.start()
        runner.join(timeout_s)
        assert not runner.is_alive(), f"the scenario did not finish in {timeout_s:.0f} s"
        if errors:
            raise errors[0]
    return run
