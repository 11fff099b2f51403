"""Pre-heated kernels (``workbench app`` keeps one per app, run up to the page's request): each page
still gets a kernel of its own, a link still sets the controls, and the kernel kept ready survives
the culler of abandoned kernels and serves the next page."""
from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import psutil
import pytest
from playwright.sync_api import expect
from voila_harness import VoilaServer, app_names, running, wait_rendered

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

APP = ".wb-cost-preview"
RPD = ".wb-in-requests_per_day input"
USD_PER_DAY = "[data-testid='row-gpt-4o-mini'] [data-testid='usd-per-day']"


def kernel_id(page) -> str:
    found = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', page.content())
    assert found, "no kernel id in the app page"
    return found.group(1)


def kernels(server: VoilaServer) -> set[int]:
    """PIDs of the server's kernel processes."""
    out = set()
    for p in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            if "ipykernel" in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def kernel_ids(server: VoilaServer) -> set[str]:
    """Ids of the server's kernel processes (pooled ones included), from their connection files."""
    out = set()
    for p in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            out.update(re.findall(r"kernel-([0-9a-f-]{36})\.json", " ".join(p.cmdline())))
        except psutil.NoSuchProcess:
            pass
    return out


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_two_tabs_of_one_app_have_their_own_kernel_and_state(browser_context, pooled_server):
    voila_server = pooled_server
    a, b = browser_context.new_page(), browser_context.new_page()
    try:
        a.goto(voila_server.app_url("cost_preview", "requests_per_day=1111"), wait_until="domcontentloaded")
        b.goto(voila_server.app_url("cost_preview", "requests_per_day=2222"), wait_until="domcontentloaded")
        wait_rendered(a, APP)
        wait_rendered(b, APP)
        assert kernel_id(a) != kernel_id(b)
        expect(a.locator(RPD)).to_have_value("1,111")  # each page its own link's settings
        expect(b.locator(RPD)).to_have_value("2,222")
        usd_b = b.locator(USD_PER_DAY).text_content()
        a.locator(RPD).fill("3333")
        a.locator(RPD).press("Tab")
        a.wait_for_function("q => window.location.search.includes(q)", arg="requests_per_day=3333")
        expect(a.locator(USD_PER_DAY)).not_to_have_text(usd_b)
        b.wait_for_timeout(500)
        expect(b.locator(RPD)).to_have_value("2,222")  # the other tab's state is untouched
        expect(b.locator(USD_PER_DAY)).to_have_text(usd_b)
        assert "requests_per_day=2222" in b.evaluate("window.location.search")
    finally:
        a.close()
        b.close()


@pytest.fixture(scope="module")
def culling_server():
    """One app alone (``workbench app NAME`` pre-heats too), abandoned kernels culled after 2 s."""
    yield from running(VoilaServer("cost_preview", args=("--cull-idle", "2"), preheat=True))


@pytest.fixture(scope="module")
def pooled_server(shared_data):
    """All apps, one pre-heated kernel each (as ``workbench app`` serves them), all warmed."""
    server = VoilaServer(env={"WORKBENCH_DATA_MIRROR": str(SHARED_DATA)}, preheat=True)
    for ready in running(server):
        wait_for(lambda: len(kernels(server)) >= len(app_names()), 120, "one pre-heated kernel per app")
        yield ready


#: App -> (a link's query, a control, what that control must show). Each link sets a setting away
#: from its default, so the page shows it only if the pre-heated kernel read the page's query.
LINKS = {
    "token_counter": ("text=read+from+the+link", ".wb-text textarea", "read from the link"),
    "cost_preview": ("requests_per_day=1234", RPD, "1,234"),
    "local_vs_hosted": ("usd_per_hour=2.75", ".wb-in-usd_per_hour input", "2.75"),
    "spend_explorer": ("feature=rag_answer", ".wb-feature select", "rag_answer"),
    "cascade_simulator": ("dataset=routellm-gsm8k&signal=rules&rpd=23456", ".wb-cascade-rpd input", "23,456"),
    "cache_replay": ("ttl=1800", ".wb-in-ttl input", "1800"),
}


def test_every_app_has_a_link_check():
    assert set(LINKS) == set(app_names()) - {"index"}


@pytest.mark.parametrize("app", sorted(LINKS))
def test_a_link_reaches_the_pre_heated_kernel(app, pooled_server, browser_context):
    query, control, want = LINKS[app]
    wait_for(lambda: len(kernels(pooled_server)) >= len(app_names()), 120, "the pool refilled")
    pooled = kernel_ids(pooled_server)
    page = browser_context.new_page()
    try:
        page.goto(pooled_server.app_url(app, query), wait_until="commit", timeout=180_000)
        page.wait_for_selector(control, state="visible", timeout=180_000)
        assert kernel_id(page) in pooled, "the page started a kernel instead of taking the pooled one"
        shown = page.evaluate("""(sel) => { const el = document.querySelector(sel);
            return el.tagName === 'SELECT' ? el.options[el.selectedIndex].textContent : el.value; }""", control)
        assert shown.replace(",", "") == want.replace(",", "") or shown == want, (app, shown, want)
    finally:
        page.close(run_before_unload=True)


def test_the_kept_kernel_outlives_the_culler_and_serves_a_link(culling_server, browser_context):
    pooled = wait_for(lambda: kernels(culling_server), 60, "the pre-heated kernel")
    assert len(pooled) == 1
    time.sleep(8)  # four times the cull time, checked every second
    assert kernels(culling_server) == pooled, "the kernel kept for the next page was culled"

    page = browser_context.new_page()
    page.goto(culling_server.app_url("cost_preview", "requests_per_day=4321"), wait_until="domcontentloaded")
    wait_rendered(page, APP)
    expect(page.locator(RPD)).to_have_value("4,321")  # the link reached the pre-heated kernel
    refill = wait_for(lambda: kernels(culling_server) - pooled, 30, "the pool's refill")
    page.close()  # abandoned: no tab-close beacon, the websocket just drops
    # the page ran in the kernel kept ready: abandoned, the culler stops it; the refill stays
    wait_for(lambda: not (kernels(culling_server) & pooled), 30, "the abandoned page's kernel to be culled")
    time.sleep(4)
    assert kernels(culling_server) == refill


def test_closing_a_tab_stops_its_kernel(browser_context, pooled_server):
    """The tab-close beacon (not the culler: 60 s) ends the page's kernel, pooled or not."""
    voila_server = pooled_server
    page = browser_context.new_page()
    page.goto(voila_server.app_url("token_counter"), wait_until="domcontentloaded")
    wait_rendered(page, ".wb-token-counter")
    url = f"{voila_server.url}/api/kernels/{kernel_id(page)}"

    def status() -> int:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert status() == 200
    page.close(run_before_unload=True)
    wait_for(lambda: status() == 404, 20, "the closed tab's kernel to stop")
