"""Issue 13 item 12: every app at 1024 and 1440 px wide: nothing cut off without a way to scroll to it.

Every notebook in ``notebooks/apps`` is checked (a new app is covered without touching this file;
:data:`READY` only says when a known app has finished drawing, default: any widget). An element of
the page that ends right of the viewport must sit inside a container that scrolls horizontally
(``overflow-x: auto|scroll``) and is itself within the viewport; the page as a whole never scrolls
sideways. The whole page is checked, not only ``.wb-app``, so an app without the shared class is
checked too.
"""
from __future__ import annotations

import pytest

from tests.browser.voila_harness import VoilaServer, app_names, running, wait_rendered
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

#: App -> what is on the page once it has drawn (its last or slowest part).
READY = {"token_counter": ".wb-token-counter", "cost_preview": ".wb-cost-preview",
         "local_vs_hosted": ".wb-local-vs-hosted", "spend_explorer": ".wb-spend-explorer [data-testid='kpis']",
         "index": ".wb-index", "cascade_simulator": ".wb-frontier svg", "cache_replay": ".wb-cache-replay svg"}

#: App -> the query it is opened with. The cascade simulator's default signal embeds 1,319 prompts
#: the first time (minutes on two cores, cached on disk after); its page is laid out the same with
#: the rules signal.
QUERY = {"cascade_simulator": "signal=rules"}

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


@pytest.fixture(scope="module")
def apps_server(shared_data):
    """All apps, with the public-data mirror (the cascade simulator's labelled sets) as a user has it
    after the first download."""
    yield from running(VoilaServer(env={"WORKBENCH_DATA_MIRROR": str(SHARED_DATA)}))


def test_every_app_is_checked():
    assert set(app_names()) >= set(READY), "an app in READY left notebooks/apps: drop it here"
    assert len(app_names()) >= 7


@pytest.mark.parametrize("width", [1024, 1440])
@pytest.mark.parametrize("app", app_names())
def test_nothing_is_cut_off(page, apps_server, screenshot, app, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(apps_server.app_url(app, QUERY.get(app, "")), wait_until="commit", timeout=180_000)
    wait_rendered(page, READY.get(app, ".jupyter-widgets"), 180_000)
    page.wait_for_timeout(1500)  # charts lay out after the widgets appear
    got = page.evaluate(_CUT_OFF_JS, "body")
    screenshot(page, f"layout-{app}-{width}")
    assert got["count"] == 0 and not got["pageScrollsSideways"], got
