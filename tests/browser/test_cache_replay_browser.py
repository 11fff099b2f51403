"""The cache replay app end to end: Voila + headless Chromium, offline; figures recomputed here."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import expect

from workbench.core.cache import CacheConfig, replay_cache

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
READY = ".wb-cache-replay"


@pytest.fixture(scope="module")
def expected():
    from workbench.io.pricesheets import load_prices
    log = pd.read_parquet(ROOT / "sample_data" / "requests.parquet")
    book = load_prices()
    own = replay_cache(log, CacheConfig(kind="exact", ttl_s=3600), book).summary
    shared = replay_cache(log, CacheConfig(kind="exact", ttl_s=3600, namespaces=("model",), share_tenants=True),
                          book).summary
    short = replay_cache(log, CacheConfig(kind="exact", ttl_s=600, namespaces=("model",), share_tenants=True),
                         book).summary
    return own, shared, short


def test_hits_chart_tenants_prefix_and_sharing(open_app, screenshot, assert_offline, expected):
    own, shared, short = expected
    page = open_app("cache_replay", query="kind=exact&ttl=3600", wait_for=READY, timeout_ms=120_000)
    hits = page.locator("[data-testid='hits']")
    expect(hits).to_have_text(f"{own['cache_hits']:,}", timeout=60_000)
    assert float(page.locator("[data-testid='saved']").get_attribute("data-value")) == pytest.approx(own["saved_usd"])
    # the chart really rendered (an SVG with marks), offline
    page.wait_for_selector(".wb-chart-hits svg .mark-line path", state="attached", timeout=60_000)
    assert page.locator("[data-testid^='tenant-']").count() >= 10
    # the prefix what-if is computed after the first screen and appears without user action
    expect(page.locator("[data-testid='prefix-logged']")).to_be_visible(timeout=90_000)
    expect(page.locator("[data-testid='prefix-pending']")).to_have_count(0)
    assert page.locator("[data-testid='shared']").count() == 0          # namespaces on: nothing shared
    screenshot(page, "cache_replay-default")

    # share across tenants: drop tenant from the namespaces and allow sharing → flagged
    page.locator(".wb-in-share input").check()
    page.locator(".wb-in-namespaces select").select_option(["model"])
    expect(page.locator("[data-testid='shared']")).to_contain_text(f"{shared['cross_tenant_hits']:,} cross-tenant",
                                                                   timeout=60_000)
    expect(hits).to_have_text(f"{shared['cache_hits']:,}")
    screenshot(page, "cache_replay-shared")
    assert_offline(page)

    # the address bar follows the controls; that address opens the same settings and figures
    page.wait_for_function("() => window.location.search.includes('share=1')")
    ttl = page.locator(".wb-in-ttl input")
    ttl.fill("600")
    ttl.press("Enter")
    expect(hits).to_have_text(f"{short['cache_hits']:,}", timeout=60_000)
    page.wait_for_function("() => window.location.search.includes('ttl=600')")
    search = page.evaluate("window.location.search")
    assert "namespaces=model" in search and "share=1" in search and "kind=" not in search   # defaults left out
    page.reload(wait_until="commit")
    page.wait_for_selector(READY, state="visible", timeout=120_000)
    expect(hits).to_have_text(f"{short['cache_hits']:,}", timeout=60_000)
    assert page.evaluate("window.location.search") == search
    assert float(page.locator(".wb-in-ttl input").input_value()) == 600
    assert page.locator(".wb-in-share input").is_checked()
    assert page.locator(".wb-in-namespaces select").evaluate(
        "s => Array.from(s.selectedOptions).map(o => o.value)") == ["model"]
    assert_offline(page)
