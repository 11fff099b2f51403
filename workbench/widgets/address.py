"""Keep the browser's address bar in step with what an app shows, so the page can be shared.

:class:`AddressBar` is an invisible widget: set ``query`` (a URL query string without ``?``) and the
page's URL becomes ``?query`` through ``history.replaceState`` (no reload, no request). Each app
computes its query from its state (``state.query()``) and :func:`follow` keeps it current.
"""
from __future__ import annotations

from typing import Callable, Iterable

import anywidget
from traitlets import HasTraits, Unicode


class AddressBar(anywidget.AnyWidget):
    """Keeps the browser's address bar on the current settings (no reload, no request)."""

    _esm = """
    function render({ model, el }) {
      el.style.display = "none";
      const apply = () => {
        const q = model.get("query");
        try { window.history.replaceState(null, "", q ? "?" + q : window.location.pathname); } catch (e) {}
      };
      model.on("change:query", apply);
      apply();
    }
    export default { render };
    """
    query = Unicode("").tag(sync=True)


def follow(state: HasTraits, names: Iterable[str], query: Callable[[], str]) -> AddressBar:
    """An :class:`AddressBar` that shows ``query()`` now and after every change of ``names``."""
    bar = AddressBar(query=_safe(query))

    def update(_change=None) -> None:
        bar.query = _safe(query)

    state.observe(update, list(names))
    return bar


def _safe(query: Callable[[], str]) -> str:
    try:
        return query() or ""
    except Exception:  # a half-set state: keep the address as it was rather than fail the app
        return ""


def url_number(x: float) -> str:
    """A number for a URL query, as short as reads back exactly: ``3600`` not ``3600.0``, ``0.8``."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))
