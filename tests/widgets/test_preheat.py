"""serve_app / app_query: in a pre-heated Voila kernel the app is built before the page's request
and again from its query; anywhere else once, from QUERY_STRING (no waiting)."""
from __future__ import annotations

import json
import os
import re

import nbformat
import pytest

from workbench.widgets import preheat
from workbench.widgets.app_index import APPS_DIR

REQUEST = {"QUERY_STRING": "requests_per_day=12345", "SCRIPT_NAME": "/voila/render/cost_preview.ipynb",
           "SERVER_NAME": "localhost", "SERVER_PORT": "8866", "PATH_INFO": ""}


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("VOILA_PREHEAT", "QUERY_STRING", "VOILA_REQUEST_URL", *REQUEST):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def pooled(clean_env):
    """A pooled kernel: VOILA_PREHEAT=True, a stale request URL inherited from an earlier page,
    and a fake ``wait_for_request`` that records when it ran and sets REQUEST as Voila's does."""
    clean_env.setenv("VOILA_PREHEAT", "True")
    clean_env.setenv("VOILA_REQUEST_URL", "http://127.0.0.1:8866/voila/render/cost_preview.ipynb?old=1")
    events: list[str] = []

    def wait_for_request(url=None):
        events.append("request")
        for k, v in REQUEST.items():
            clean_env.setenv(k, v)

    import voila.utils

    clean_env.setattr(voila.utils, "wait_for_request", wait_for_request)
    return events


def test_outside_a_pooled_kernel_the_query_is_read_at_once(clean_env):
    assert preheat.app_query() == ""
    clean_env.setenv("QUERY_STRING", "models=gpt-4o")
    clean_env.setenv("VOILA_PREHEAT", "False")  # a kernel Voila started for its page
    assert preheat.app_query() == "models=gpt-4o" and not preheat.pooled()
    calls = []
    app = preheat.serve_app(lambda query: calls.append(query) or f"app({query})")
    assert calls == ["models=gpt-4o"] and app == "app(models=gpt-4o)"  # built once


def test_a_pooled_kernel_builds_first_then_waits_for_the_page(pooled):
    import ipywidgets as w

    calls = []

    def make(query, day=None):
        calls.append((query, day, list(pooled)))
        return w.HTML(f"app({query})")

    early_widgets = []
    app = preheat.serve_app(lambda query, day=None: early_widgets.append(make(query, day)) or early_widgets[-1],
                            day="d")
    assert calls == [("", "d", []),                                 # before the request: warms the kernel
                     ("requests_per_day=12345", "d", ["request"])]  # the page's own, from its link
    assert app.value == "app(requests_per_day=12345)" and app.comm is not None
    assert early_widgets[0].comm is None  # the unseen app is closed: its widgets never reach the page
    assert not preheat.pooled()
    assert preheat.app_query() == "requests_per_day=12345" and pooled == ["request"]  # never waits twice


def test_a_page_without_a_query_gets_the_app_built_before_it_asked(pooled, clean_env):
    REQUEST_NO_QUERY = {**REQUEST, "QUERY_STRING": ""}
    import voila.utils

    clean_env.setattr(voila.utils, "wait_for_request",
                      lambda url=None: [clean_env.setenv(k, v) for k, v in REQUEST_NO_QUERY.items()])
    calls = []
    app = preheat.serve_app(lambda query: calls.append(query) or object())
    assert calls == [""] and app is not None  # built once, before the request: nothing left to do

    clean_env.setenv("VOILA_PREHEAT", "True")
    calls.clear()
    preheat.serve_app(lambda query: calls.append(query), prebuilt=False)
    assert calls == ["", ""]  # an app whose build reads the request's URL is built again for the page


def test_the_request_url_is_the_pages_not_an_earlier_one(pooled):
    preheat.app_query()
    assert os.environ["VOILA_REQUEST_URL"] == \
        "http://localhost:8866/voila/render/cost_preview.ipynb?requests_per_day=12345"
    from workbench.widgets.cost_preview import _app_url

    assert _app_url() == "http://localhost:8866/voila/render/cost_preview.ipynb"  # the share link's base


def test_every_app_notebook_reads_its_query_through_serve_app():
    """A notebook that read QUERY_STRING itself would, in a pooled kernel, run before the page's
    request and ignore every link."""
    for path in sorted(APPS_DIR.glob("*.ipynb")):
        src = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        if path.stem == "index":  # takes no query: run to the end before any page asks
            assert "serve_app" not in src and "QUERY_STRING" not in src
            continue
        assert "serve_app(make_" in src, path.name
        assert not re.search(r"make_\w+\(", src), path.name  # never called directly


def test_an_app_built_the_day_before_its_page_is_built_again(pooled, clean_env):
    """Apps show today's prices: a kernel pre-heated before midnight rebuilds for a page after it."""
    import datetime as dt
    from types import SimpleNamespace

    import voila.utils

    days = iter([dt.date(2025, 6, 1), dt.date(2025, 6, 2)])
    clean_env.setattr(preheat, "dt", SimpleNamespace(date=SimpleNamespace(today=lambda: next(days))))
    clean_env.setattr(voila.utils, "wait_for_request", lambda url=None: clean_env.setenv("QUERY_STRING", ""))
    calls = []
    preheat.serve_app(lambda query: calls.append(query))
    assert calls == ["", ""]
