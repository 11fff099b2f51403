"""The apps' index page and single-app mode of `workbench app`."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from voila_harness import NetworkRecorder, VoilaServer, wait_rendered
from workbench.widgets.app_index import discover_apps

pytestmark = pytest.mark.browser


def test_index_lists_the_apps_and_a_link_opens_one(page, voila_url, screenshot, assert_offline):
    page.goto(f"{voila_url}/")  # redirects to the index app
    wait_rendered(page, ".wb-index")
    assert page.url.endswith("/voila/render/index.ipynb")
    apps = discover_apps()
    cards = page.locator(".wb-card")
    expect(cards).to_have_count(len(apps))
    for app in apps:
        card = page.locator(f'[data-testid="app-{app.name}"]')
        expect(card.locator("a")).to_have_text(app.title)
        expect(card.locator("p")).to_have_text(app.description)
    screenshot(page, "index")
    assert_offline(page)
    page.locator('[data-testid="app-token_counter"] a').click()
    wait_rendered(page, ".wb-token-counter")
    assert page.url.split("?")[0].endswith("/voila/render/token_counter.ipynb")  # the app keeps its settings in the query
    assert_offline(page)


def test_the_tree_view_lists_the_notebooks(page, voila_url, assert_offline):
    page.goto(f"{voila_url}/voila/tree")
    for app in discover_apps():
        expect(page.get_by_text(app.filename)).to_be_visible()
    assert_offline(page)


def test_single_app_mode_serves_that_app_at_the_root(browser_context, screenshot):
    server = VoilaServer("token_counter").start(timeout=90)
    try:
        page = browser_context.new_page()
        net = NetworkRecorder(page)
        page.goto(server.app_url("token_counter", "text=single"))
        wait_rendered(page, ".wb-token-counter")
        expect(page.locator('[data-testid="characters"]')).to_have_text("6")
        net.assert_offline()
        page.close()
    finally:
        server.stop()
