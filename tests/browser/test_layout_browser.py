"""Issue 13 item 12: every app at 1024 and 1440 px wide: nothing cut off without a way to scroll to it.

An element of the app that ends right of the viewport must sit inside a container that scrolls
horizontally (``overflow-x: auto|scroll``) and is itself within the viewport; the page as a whole
never scrolls sideways.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

APPS = {"token_counter": ".wb-token-counter", "cost_preview": ".wb-cost-preview",
        "local_vs_hosted": ".wb-local-vs-hosted", "spend_explorer": ".wb-spend-explorer [data-testid='kpis']",
        "index": ".wb-index"}

_CUT_OFF_JS = """
(root) => {
  const vw = document.documentElement.clientWidth;
  const scrolls = (el) => { const s = getComputedStyle(el).overflowX; return s === 'auto' || s === 'scroll'; };
  const out = [];
  for (const el of document.querySelectorAll(root + ' *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= vw + 1) continue;
    let p = el.parentElement, ok = false;
    while (p && p !== document.body) {
      const s = getComputedStyle(p).overflowX;
      if ((s === 'hidden' || s === 'clip') && p.getBoundingClientRect().right > r.left) break;  // clipped
      if (scrolls(p) && p.getBoundingClientRect().right <= vw + 1) { ok = true; break; }
      p = p.parentElement;
    }
    if (!ok) out.push((el.className && el.className.baseVal === undefined ? el.className : el.tagName) +
                      ' right=' + Math.round(r.right));
  }
  return {cut: out.slice(0, 8), count: out.length,
          pageScrollsSideways: document.documentElement.scrollWidth > vw + 1};
}"""


@pytest.mark.parametrize("width", [1024, 1440])
@pytest.mark.parametrize("app", list(APPS))
def test_nothing_is_cut_off(page, voila_server, screenshot, app, width):
    from voila_harness import wait_rendered

    page.set_viewport_size({"width": width, "height": 900})
    page.goto(voila_server.app_url(app), wait_until="domcontentloaded")
    wait_rendered(page, APPS[app], 90_000)
    page.wait_for_timeout(1500)  # charts lay out after the widgets appear
    got = page.evaluate(_CUT_OFF_JS, ".wb-app")
    screenshot(page, f"layout-{app}-{width}")
    assert got["count"] == 0 and not got["pageScrollsSideways"], got
