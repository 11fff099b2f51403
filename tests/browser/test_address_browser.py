"""Issue 13 item 11: every app keeps its URL in step with what it shows, so the screen can be shared.

For every notebook in ``notebooks/apps`` (a new app fails here until it has a probe): change one
control in the page as a user would, wait until ``window.location.search`` carries the new value,
then open that URL afresh and check the control shows the same value.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.voila_harness import VoilaServer, app_names, running, wait_rendered
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Probe:
    control: str   # the <input>, <textarea> or <select> to change
    key: str       # the query key that must carry the new value
    value: str     # typed into an input; for a <select>, the option's index
    ready: str     # on the page once the app has drawn
    query: str = ""  # the app opened with this query (a quick setting where the default is slow)

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
    "cascade_simulator": Probe(".wb-cascade-rpd input", "rpd", "23456", ".wb-frontier svg",
                               "dataset=routellm-gsm8k&signal=rules"),
    # the keys of the cache app's docstring: ?kind=...&threshold=...&ttl=...
    "cache_replay": Probe(".wb-in-ttl input", "ttl", "1800", ".wb-cache-replay"),
}

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


@pytest.fixture(scope="module")
def apps_server(shared_data):
    yield from running(VoilaServer(env={"WORKBENCH_DATA_MIRROR": str(SHARED_DATA)}))


def test_every_app_has_a_probe():
    assert set(PROBES) == set(app_names()), "add a probe for each app in notebooks/apps (None: no settings)"


@pytest.mark.parametrize("app", app_names())
def test_the_url_follows_a_control_and_reopens_it(page, apps_server, screenshot, app):
    probe = PROBES[app]
    if probe is None:                      # nothing to set: the page keeps a bare address
        page.goto(apps_server.app_url(app), wait_until="commit", timeout=180_000)
        wait_rendered(page, ".wb-app", 120_000)
        assert page.evaluate("window.location.search") == ""
        return
    page.goto(apps_server.app_url(app, probe.query), wait_until="commit", timeout=180_000)
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
