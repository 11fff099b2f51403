"""The cost preview app end to end: Voila + headless Chromium, offline.

Every dollar figure the page shows is recomputed here from the price sheet the server uses.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest

from workbench.core.preview import usd

pytestmark = pytest.mark.browser

APP = "cost_preview"
DAY = "2025-06-01"
READY = ".wb-cost-preview"


@pytest.fixture(scope="module")
def book():
    from workbench.io.pricesheets import load_prices

    return load_prices()


def per_day(book, model, tokens_in, tokens_out, volume, day=DAY):
    rec = book.price_on(model, day)
    return (tokens_in * rec.rate("input", tokens_in) + tokens_out * rec.rate("output", tokens_in)) / 1e6 * volume


def fill(page, name, value):
    """Type into a text field and leave it (the app updates on change, like a spreadsheet)."""
    box = page.locator(f".wb-in-{name} input")
    box.fill(value)
    box.press("Tab")


def day_cell(page, model):
    return page.locator(f"[data-testid='row-{model}'] [data-testid='usd-per-day']")


def wait_text(page, locator, text, timeout=30_000):
    from playwright.sync_api import expect

    expect(locator).to_have_text(text, timeout=timeout)


def wait_charts(page, *names, timeout=60_000):
    for name in names:
        page.wait_for_selector(f".wb-chart-{name} svg, .wb-chart-{name} canvas", state="attached",
                               timeout=timeout)


def shoot(page, screenshot, name):
    """A screenshot of the whole app (Voila scrolls inside the page, so grow the viewport first)."""
    height = page.evaluate(f"Math.ceil(document.querySelector('{READY}').getBoundingClientRect().bottom) + 40")
    page.set_viewport_size({"width": 1280, "height": max(900, min(int(height), 6000))})
    page.wait_for_timeout(500)
    path = screenshot(page, name)
    page.set_viewport_size({"width": 1280, "height": 900})
    return path


def test_inputs_to_figures_threshold_charts_and_share(open_app, screenshot, assert_offline, book, voila_url):
    page = open_app(APP, query=f"price_date={DAY}", wait_for=READY, timeout_ms=90_000)
    wait_charts(page, "daily", "projection")
    mini = per_day(book, "gpt-4o-mini", 3500, 350, 20_000)
    wait_text(page, day_cell(page, "gpt-4o-mini"), usd(mini))
    assert float(day_cell(page, "gpt-4o-mini").get_attribute("data-value")) == pytest.approx(mini)
    shoot(page, screenshot, "cost_preview-default")

    fill(page, "input_tokens", "1,200")
    fill(page, "output_tokens", "300")
    fill(page, "requests_per_day", "50000")
    fill(page, "models", "gpt-4o, gpt-4o-mini")
    expected = per_day(book, "gpt-4o", 1200, 300, 50_000)
    wait_text(page, day_cell(page, "gpt-4o"), usd(expected))
    assert float(day_cell(page, "gpt-4o").get_attribute("data-value")) == pytest.approx(expected)
    assert expected < 500
    assert page.locator("[data-testid='verdict']").get_attribute("data-over") == "false"

    # crossing $500/day raises the flag
    fill(page, "requests_per_day", "100000")
    expected = per_day(book, "gpt-4o", 1200, 300, 100_000)
    assert expected > 500
    wait_text(page, day_cell(page, "gpt-4o"), usd(expected))
    verdict = page.locator("[data-testid='verdict']")
    assert verdict.get_attribute("data-over") == "true"
    assert "routing or caching plan" in verdict.inner_text()
    wait_charts(page, "daily", "projection")
    shoot(page, screenshot, "cost_preview-over-threshold")

    # bad input: an inline message, the last good figures stay, no traceback
    fill(page, "requests_per_day", "lots")
    msg = page.locator("[data-testid='error-requests_per_day']")
    msg.wait_for(state="visible")
    assert "not a number" in msg.inner_text()
    assert day_cell(page, "gpt-4o").inner_text() == usd(expected)
    fill(page, "models", "gpt-4o, gpt-4o-mni")
    page.locator("[data-testid='error-models']").wait_for(state="visible")
    assert "unknown model" in page.locator("[data-testid='error-models']").inner_text()
    assert "Traceback" not in page.content()
    shoot(page, screenshot, "cost_preview-bad-input")
    fill(page, "requests_per_day", "100,000")
    fill(page, "models", "gpt-4o, gpt-4o-mini")
    page.locator("[data-testid='error-models']").wait_for(state="detached")

    # the share link carries the scenario; the address bar follows it
    share = page.locator("[data-testid='share-url']").input_value()
    assert urlsplit(share).netloc == urlsplit(voila_url).netloc
    assert "requests_per_day=100000" in share and "models=gpt-4o,gpt-4o-mini" in share
    page.wait_for_function("q => window.location.search.includes(q)", arg="requests_per_day=100000")
    assert_offline(page)

    page.goto(share, wait_until="domcontentloaded")
    page.wait_for_selector(READY, state="visible", timeout=90_000)
    wait_text(page, day_cell(page, "gpt-4o"), usd(expected))
    assert page.locator(".wb-in-input_tokens input").input_value() == "1,200"
    assert page.locator(".wb-in-models input").input_value() == "gpt-4o, gpt-4o-mini"
    assert_offline(page)


def test_url_query_restores_a_chat_scenario(open_app, screenshot, assert_offline, book):
    query = ("feature=Checkout%20assistant&requests_per_day=40000&models=gpt-4o-mini,gpt-4o"
             f"&price_date={DAY}&chat=1&system_tokens=800&user_tokens=120&output_tokens=250&turns=12"
             "&cache_hit_pct=25&growth_pct=15")
    page = open_app(APP, query=query, wait_for=READY, timeout_ms=90_000)
    wait_charts(page, "daily", "projection", "conversation")
    assert "Checkout assistant" in page.locator(".wb-app h1").first.inner_text()
    assert page.locator(".wb-in-chat input[type=checkbox]").is_checked()
    assert page.locator(".wb-in-system_tokens input").input_value() == "800"
    # recompute gpt-4o-mini's $/day: 12 turns, history resent, 25 % of input at the cached rate
    rec = book.price_on("gpt-4o-mini", DAY)
    turns = [800 + k * 120 + (k - 1) * 250 for k in range(1, 13)]
    per_turn = [(0.75 * t * rec.input + 0.25 * t * rec.cached_input + 250 * rec.output) / 1e6 for t in turns]
    expected = sum(per_turn) / 12 * 40_000
    wait_text(page, day_cell(page, "gpt-4o-mini"), usd(expected))
    assert float(day_cell(page, "gpt-4o-mini").get_attribute("data-value")) == pytest.approx(expected)
    assert page.locator("[data-testid='turns-table'] [data-testid='turn-12']").is_visible()
    shoot(page, screenshot, "cost_preview-chat-from-url")
    assert_offline(page)


def test_bad_link_is_reported_not_a_traceback(open_app, assert_offline):
    page = open_app(APP, query="requests_per_day=-5&models=nope&price_date=" + dt.date.today().isoformat(),
                    wait_for=READY, timeout_ms=90_000)
    note = page.locator("[data-testid='error-link']")
    note.wait_for(state="visible")
    assert "were not used" in note.inner_text() and "nope" in note.inner_text()
    assert page.locator(".wb-in-requests_per_day input").input_value() == "20,000"
    assert "Traceback" not in page.content()
    assert_offline(page)
