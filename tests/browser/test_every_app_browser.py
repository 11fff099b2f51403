"""Issue 13 items 11 and 12, for every notebook in ``notebooks/apps``, on one page load per app.

Item 12, layout: at 1440 and at 1024 px wide nothing is cut off without a way to scroll to it. An
element of the page that ends right of the viewport must sit inside a container that scrolls
horizontally (``overflow-x: auto|scroll``) and is itself within the viewport; the page as a whole
never scrolls sideways. The whole page is checked, not only ``.wb-app``, so an app without the
shared class is checked too. The app is opened at 1440 px and checked, then narrowed to 1024 px and
checked again: whatever the page sized when it was drawn at 1440 px has to fit at 1024 px too.

Item 11, address: change one control in the page as a user would, wait until
``window.location.search`` carries the new value, then open that URL afresh and check the control
shows the same value. A new app fails here until it has a probe.

Both tests of an app share its page (fixture ``screen``, one per app): the layout test reads the page
as it opened, then the address test changes it (pytest runs an app's tests together, in file order).
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.voila_harness import VoilaServer, app_names, running, wait_rendered
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

WIDTHS = (1440, 1024)   # widest first: the narrow check then also sees what was sized for the wide page
HEIGHT = 900

#: App -> what is on the page once it has drawn (its last or slowest part).
READY = {"token_counter": ".wb-token-counter", "cost_preview": ".wb-cost-preview",
         "local_vs_hosted": ".wb-local-vs-hosted", "spend_explorer": ".wb-spend-explorer [data-testid='kpis']",
         "index": ".wb-index", "cascade_simulator": ".wb-frontier svg", "cache_replay": ".wb-cache-replay svg"}

#: App -> the query it is opened with. The cascade simulator's default signal embeds 1,319 prompts
#: the first time (minutes on two cores, cached on disk after); its page is laid out the same with
#: the rules signal (the data set named is the default one).
QUERY = {"cascade_simulator": "dataset=routellm-gsm8k&signal=rules"}


@dataclass(frozen=True)
class Probe:
    control: str   # the <input>, <textarea> or <select> to change
    key: str       # the query key that must carry the new value
    value: str     # typed into an input; for a <select>, the option's index
    ready: str     # on the page once the app has drawn

    @property
    def is_select(self) -> bool:
        return self.control.endswith("select")


#: App -> how to change one of its settings; ``None``: the app has no settings (its URL stays bare).
PROBES: dict[str, Probe | None] = {
    "index": None,
    "token_counter": Probe(".wb-text textarea", "text", "a link shares what is on the screen",
                           ".wb-token-counter"),
    "cost_preview": Probe(".wb-in-requests_per_day input", "requests_per_day", "23456", ".wb-cost-preview"),
    "local_vs_hosted": Probe(".wb-in-usd_per_hour input", "usd_per_hour", "2.75", ".wb-local-vs-hosted"),
    "spend_explorer": Probe(".wb-feature select", "feature", "2", ".wb-spend-explorer [data-testid='kpis']"),
    "cascade_simulator": Probe(".wb-cascade-rpd input", "rpd", "23456", ".wb-frontier svg"),
    # the keys of the cache app's docstring: ?kind=...&threshold=...&ttl=...
    "cache_replay": Probe(".wb-in-ttl input", "ttl", "1800", ".wb-cache-replay"),
}

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
  return {cut: out.slice(0, 8), count: out.length, width: vw,
          pageScrollsSideways: document.documentElement.scrollWidth > vw + 1};
}"""

_SET_JS = """([selector, value, isSelect]) => {
  const el = document.querySelector(selector);
  if (isSelect) { el.selectedIndex = Number(value); } else { el.value = value; }
  el.dispatchEvent(new Event('input', {bubbles: true}));
  el.dispatchEvent(new Event('change', {bubbles: true}));
  return isSelect ? el.options[el.selectedIndex].textContent : el.value;
}"""

_READ_JS = """([selector, isSelect]) => {
  const el = document.querySelector(selector);
  return isSelect ? el.options[el.selectedIndex].textContent : el.value;
}"""


def same(shown: str, want: str) -> bool:
    """Equal as text, or as numbers (an input may show 23,456 or 1800.0 for 23456 or 1800)."""
    if shown.strip() == want.strip():
        return True
    try:
        return float(shown.replace(",", "")) == float(want.replace(",", ""))
    except ValueError:
        return False


@dataclass
class Screen:
    """One app opened in its own page; ``changed`` once the address test has set a control."""
    app: str
    page: object
    changed: bool = False


@pytest.fixture(scope="module")
def apps_server(shared_data):
    """All apps, with the public-data mirror (the cascade simulator's labelled sets) as a user has it
    after the first download."""
    yield from running(VoilaServer(env={"WORKBENCH_DATA_MIRROR": str(SHARED_DATA)}))


@pytest.fixture(scope="module", params=app_names())
def screen(request, apps_server, browser_context):
    """The app opened once at the widest width and drawn; closed after the app's last test."""
    app = request.param
    page = browser_context.new_page()
    try:
        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
        page.goto(apps_server.app_url(app, QUERY.get(app, "")), wait_until="commit", timeout=180_000)
        wait_rendered(page, READY.get(app, ".jupyter-widgets"), 180_000)
        page.wait_for_timeout(1500)  # charts lay out after the widgets appear
        yield Screen(app, page)
    finally:
        page.close()


def test_every_app_is_checked():
    assert set(app_names()) >= set(READY), "an app in READY left notebooks/apps: drop it here"
    assert set(app_names()) >= set(QUERY), "an app in QUERY left notebooks/apps: drop it here"
    assert len(app_names()) >= 7


def test_every_app_has_a_probe():
    assert set(PROBES) == set(app_names()), "add a probe for each app in notebooks/apps (None: no settings)"


def test_nothing_is_cut_off(screen, screenshot):
    app, page = screen.app, screen.page
    assert not screen.changed, "the layout is checked on the page as it opened, before the address test"
    try:
        for width in WIDTHS:
            if page.viewport_size["width"] != width:
                page.set_viewport_size({"width": width, "height": HEIGHT})
                page.wait_for_timeout(750)  # widgets and charts follow the new width
            got = page.evaluate(_CUT_OFF_JS, "body")
            screenshot(page, f"layout-{app}-{width}")
            assert got["width"] <= width, got
            assert got["count"] == 0 and not got["pageScrollsSideways"], got
    finally:
        page.set_viewport_size({"width": 1280, "height": HEIGHT})  # the address test: the usual size


def test_the_url_follows_a_control_and_reopens_it(screen, apps_server, screenshot):
    app, page = screen.app, screen.page
    probe = PROBES[app]
    if probe is None:                      # nothing to set: the page keeps a bare address
        wait_rendered(page, ".wb-app", 120_000)
        assert page.evaluate("window.location.search") == ""
        return
    screen.changed = True
    wait_rendered(page, probe.ready, 180_000)
    page.wait_for_selector(probe.control, state="visible")
    shown = page.evaluate(_SET_JS, [probe.control, probe.value, probe.is_select])
    page.wait_for_function(
        "([key, want]) => { const v = new URLSearchParams(window.location.search).get(key);"
        " return v !== null && (v === want || Number(v) === Number(want.replace(/,/g, ''))); }",
        arg=[probe.key, shown], timeout=30_000)
    url = page.url
    assert same(parse_qs(urlsplit(url).query)[probe.key][-1], shown)

    page.goto(url, wait_until="commit", timeout=180_000)           # the shared link, opened afresh
    wait_rendered(page, probe.ready, 180_000)
    page.wait_for_selector(probe.control, state="visible")
    again = page.evaluate(_READ_JS, [probe.control, probe.is_select])
    screenshot(page, f"address-{app}")
    assert same(again, shown), (app, url, again, shown)
    assert same(parse_qs(page.evaluate("window.location.search").lstrip("?"))[probe.key][-1], shown)
