"""Apps in Voila's pre-heated kernels: the slow start happens before anyone asks for the page.

``workbench app`` keeps one kernel per app started and its notebook executed up to the point where
it needs the page's request (Voila's ``preheat_kernel``). Such a kernel runs with
``VOILA_PREHEAT=True`` and learns the request - the URL query of a shared link - only once a page
takes it from the pool (:func:`voila.utils.wait_for_request`). So an app notebook does::

    app = serve_app(make_cascade_simulator)  # built unseen, then the page's request

:func:`serve_app` builds the app with no query while the kernel is pooled (imports, price sheets,
sample data, first computations: off the page's clock) and waits for the request. A page with no
query gets that app; a link's page gets one built from its query with everything loaded. Anywhere
else (JupyterLab, ``voila`` without pre-heating, a test executing the notebook) it builds once from
``QUERY_STRING`` (or no query), as before.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Any, Callable
from urllib.parse import urlunsplit

#: Set by Voila in a pooled kernel's environment: "True" until the page's request arrives.
PREHEAT_ENV = "VOILA_PREHEAT"


def pooled() -> bool:
    """True in a pre-heated Voila kernel that has not yet been given its page."""
    return os.environ.get(PREHEAT_ENV) == "True"


def app_query() -> str:
    """The page's URL query (``models=gpt-4o&...``; "" for none). In a pooled kernel, this waits
    until a page takes the kernel and Voila sends its request; elsewhere it returns at once."""
    if pooled():
        from voila.utils import wait_for_request

        wait_for_request()  # sets QUERY_STRING, SCRIPT_NAME, SERVER_NAME, SERVER_PORT from the request
        os.environ[PREHEAT_ENV] = "False"  # served: a second call must not wait for another page
        _set_request_url()
    return os.environ.get("QUERY_STRING", "")


def _set_request_url() -> None:
    """``VOILA_REQUEST_URL`` as Voila sets it for a kernel started for its page (a pooled kernel
    inherits the URL of the request that emptied the pool before it, or none)."""
    name, port, path = (os.environ.get(k, "") for k in ("SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME"))
    if not (name and path):
        os.environ.pop("VOILA_REQUEST_URL", None)
        return
    netloc = f"{name}:{port}" if port else name
    os.environ["VOILA_REQUEST_URL"] = urlunsplit(("http", netloc, path, os.environ.get("QUERY_STRING", ""), ""))


def serve_app(make: Callable[..., Any], *, prebuilt: bool = True, **kwargs: Any) -> Any:
    """The app for this page: ``make(query=<the page's query>, **kwargs)``.

    In a pooled kernel, ``make(query="", **kwargs)`` runs first, unseen, before the wait for the
    page's request: it loads what every page needs. A page without a query (and on the same day:
    apps show today's prices) then gets that app as it is when ``prebuilt``; otherwise it is
    closed (its widgets never reach the page) and the page's app is built from its query. Pass
    ``prebuilt=False`` for an app whose build reads more of the request than its query."""
    if not pooled():
        return make(query=app_query(), **kwargs)
    day = dt.date.today()
    early = make(query="", **kwargs)
    query = app_query()
    if prebuilt and not query and dt.date.today() == day:
        return early
    import ipywidgets

    ipywidgets.Widget.close_all()  # a fresh kernel: every widget so far is the unseen app's
    return make(query=query, **kwargs)
