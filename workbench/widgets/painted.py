"""Run slow, secondary work once the page has drawn the app, so it does not delay the first screen.

:func:`after_paint` returns an invisible widget: put it last in the app. When the browser has drawn
it (the first frame in which the app is visible), it tells the kernel, which then calls ``fn`` once on the
kernel's event loop. Should the page never report (no browser showing the output), ``fn`` runs
after ``fallback_s`` anyway.
"""
from __future__ import annotations

from typing import Callable

import anywidget
from traitlets import Bool


class PaintSignal(anywidget.AnyWidget):
    """Sets ``painted`` once the browser has drawn a frame with this (hidden) widget in the page."""

    _esm = """
    function render({ model, el }) {
      el.style.display = "none";
      // Voila reveals the page once every output is rendered: wait until the app is visible
      const shown = () => { const p = el.parentElement; return !!p && (p.checkVisibility
        ? p.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true }) : p.getClientRects().length > 0); };
      const report = () => {
        if (!model.get("painted")) { model.set("painted", true); model.save_changes(); }
      };
      const poll = () => shown() ? requestAnimationFrame(() => setTimeout(report, 0)) : setTimeout(poll, 50);
      poll();
    }
    export default { render };
    """
    painted = Bool(False).tag(sync=True)


def after_paint(fn: Callable[[], None], loop, fallback_s: float = 20.0) -> PaintSignal:
    """A :class:`PaintSignal` that calls ``fn()`` once: when the page is drawn, or after
    ``fallback_s`` on ``loop`` (the kernel's event loop), whichever comes first."""
    signal = PaintSignal()
    done = []

    def once(_change=None) -> None:
        if not done:
            done.append(True)
            fn()

    signal.observe(once, "painted")
    loop.call_later(fallback_s, once)
    return signal
