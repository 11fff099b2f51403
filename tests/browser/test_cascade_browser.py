"""The cascade simulator in headless Chromium: the frontier chart renders offline and the slider
moves the point (served by its own `workbench app cascade_simulator` with the data mirror)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.voila_harness import NetworkRecorder, VoilaServer, running, wait_rendered
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def cascade_server(shared_data):
    yield from running(VoilaServer("cascade_simulator", env={"WORKBENCH_DATA_MIRROR": str(SHARED_DATA)}))


def test_frontier_renders_and_the_slider_moves_the_point(cascade_server, browser_context, screenshot):
    page = browser_context.new_page()
    net = NetworkRecorder(page)
    page.goto(cascade_server.app_url("cascade_simulator", "dataset=routellm-gsm8k&signal=rules&index=0"))
    wait_rendered(page, ".wb-frontier", 120_000)
    chart = page.locator(".wb-frontier svg").first
    expect(chart).to_be_visible()
    expect(chart).to_contain_text("Mean quality")                 # the axis title: vega drew the chart
    expect(chart).to_contain_text("all gpt-4-1106-preview")       # the baseline labels
    expect(page.locator("[data-testid='quality']")).to_have_text("63.8%")   # index 0: nobody escalates
    red = page.locator(".wb-frontier svg path[fill='#cf222e'], .wb-frontier svg path[style*='#cf222e']").first
    expect(red).to_be_visible()
    before = red.bounding_box()
    screenshot(page, "cascade-start")
    handle = page.locator(".wb-cascade-slider .noUi-handle").first
    handle.click()
    for _ in range(3):                                            # rules: 3 thresholds; the last escalates all
        page.keyboard.press("ArrowRight")
    expect(page.locator("[data-testid='quality']")).to_have_text("85.7%")
    expect(page.locator("[data-testid='escalation']")).to_have_text("100.0%")
    page.wait_for_function("b => { const e = document.querySelector(\".wb-frontier svg path[fill='#cf222e']\");"
                           " return e && Math.abs(e.getBoundingClientRect().x - b) > 20; }", arg=before["x"],
                           timeout=20_000)
    expect(page.locator("[data-testid='monthly']")).to_be_visible()
    screenshot(page, "cascade-end")
    net.assert_offline()
    page.close()
