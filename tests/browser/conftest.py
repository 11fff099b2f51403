"""Browser fixtures for the Voila apps: one server for the session, one headless Chromium.

Use them from any ``tests/browser/test_*.py``::

    @pytest.mark.browser
    def test_my_app(open_app, screenshot, assert_offline):
        page = open_app("my_app", query="models=gpt-4o", wait_for=".wb-my-app")
        ...
        screenshot(page, "my_app-default")
        assert_offline(page)

Fixtures
--------
``voila_server`` (session)  the :class:`VoilaServer` serving all of ``notebooks/apps``
``voila_url`` (session)     its base URL, ``http://127.0.0.1:<port>``
``browser_context`` (session)  Playwright persistent context on ``/usr/bin/chromium``
``page``                    a fresh page, its requests recorded
``open_app(name, query="", wait_for=".jupyter-widgets", timeout_ms=60000)``  -> a rendered Page
``assert_offline(page)``    fail if the page requested anything off 127.0.0.1 (or hit the CSP)
``network(page)``           the page's :class:`NetworkRecorder` (``.requests``, ``.external()``)
``screenshot(page, name)``  save ``test-artifacts/screenshots/<name>.png``, return the path
``upload(page, selector, files)``  upload through a FileUpload widget (e.g. ``".wb-upload"``):
                            click it and answer the file chooser (there is no <input> before)

A missing Chromium is a failure, not a skip: the browser tests are part of the suite.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

# ROOT is re-exported: tests that do `from conftest import ROOT` may get this module under
# pytest's default "prepend" import mode (two files named conftest.py); it is the same path.
from voila_harness import (
    ROOT,  # noqa: F401
    running,
    VoilaServer,
    NetworkRecorder,
    chromium_missing_message,
    launch_chromium,
    screenshot as _screenshot,
    upload as _upload,
    wait_rendered,
)


#: Two cores run Voila, its kernels and Chromium: give assertions time to settle.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def voila_server():
    yield from running(VoilaServer())


@pytest.fixture(scope="session")
def voila_url(voila_server) -> str:
    return voila_server.url


@pytest.fixture(scope="session")
def playwright_session():
    """One Playwright driver per test session (a second sync_playwright() inside it is refused)."""
    missing = chromium_missing_message()
    if missing:
        pytest.fail(missing, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser_context(playwright_session, tmp_path_factory):
    context = launch_chromium(playwright_session, tmp_path_factory.mktemp("chromium-profile"))
    context.set_default_timeout(30_000)
    yield context
    context.close()


_RECORDERS: dict[int, NetworkRecorder] = {}


@pytest.fixture
def page(browser_context):
    pg = browser_context.new_page()
    _RECORDERS[id(pg)] = NetworkRecorder(pg)
    yield pg
    _RECORDERS.pop(id(pg), None)
    pg.close()


@pytest.fixture
def network():
    def get(pg) -> NetworkRecorder:
        return _RECORDERS[id(pg)]
    return get


@pytest.fixture
def open_app(page, voila_server):
    """Open an app by name (file stem in notebooks/apps) and wait until its widgets render."""

    def open_(name: str, query: str = "", wait_for: str = ".jupyter-widgets",
              timeout_ms: float = 60_000):
        page.goto(voila_server.app_url(name, query), wait_until="domcontentloaded")
        wait_rendered(page, wait_for, timeout_ms)
        return page

    return open_


@pytest.fixture
def assert_offline(network):
    def check(pg) -> None:
        network(pg).assert_offline()
    return check


@pytest.fixture
def screenshot():
    return _screenshot


@pytest.fixture
def upload():
    return _upload
