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
from voila_harness import VoilaServer, running, wait_rendered

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


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_two_tabs_of_one_app_have_their_own_kernel_and_state(browser_context, voila_server):
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
    yield from running(VoilaServer("cost_preview", args=("--cull-idle", "2")))


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


def test_closing_a_tab_stops_its_kernel(browser_context, voila_server):
    """The tab-close beacon (not the culler: 60 s) ends the page's kernel, pooled or not."""
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
