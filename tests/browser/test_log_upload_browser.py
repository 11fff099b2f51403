"""An engineer's own traffic log uploaded in the page (the shared log source) into the cache replay
app and the cascade simulator, in headless Chromium: the figures change to that log's, computed
here with the core on the same file."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.voila_harness import NetworkRecorder, VoilaServer, running, upload, wait_rendered
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

BUTTON = ".wb-log-upload .wb-upload"


def buttons_in_view(page) -> None:
    """At 1024 px the row's buttons are whole and inside the page (never squeezed or cut off)."""
    for css in (".wb-log-source .wb-sample", BUTTON):
        box = page.locator(css).bounding_box()
        assert box["x"] + box["width"] <= 1024 and box["width"] >= 100, (css, box)


def log_csv(n: int, bad_lines: int = 0) -> bytes:
    """Four questions asked again and again by three tenants over two days, half on gpt-4.1."""
    rows = ["request_id,ts,tenant,feature,model,prompt,input_tokens,output_tokens,status"]
    for i in range(n):
        rows.append(f"u{i:04d},2025-11-1{2 + i % 2}T{8 + (i // 30) % 12:02d}:{i % 60:02d}:07Z,t{i % 3},"
                    f"{'chat' if i % 5 else 'search'},{('gpt-4.1-mini', 'gpt-4.1')[i % 2]},"
                    f"{['reset my password', 'refund policy', 'track order 17', 'cancel order'][i % 4]},"
                    f"{400 + 7 * i},{60 + i},ok")
    rows += [f"bad{j},2025-11-12T12:00:00Z,t0,chat,gpt-4.1,x,-5,1,ok" for j in range(bad_lines)]
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module")
def server(shared_data):
    """All apps, with the data mirror the cascade simulator's labelled sets come from."""
    yield from running(VoilaServer(env={"WORKBENCH_DATA_MIRROR": str(SHARED_DATA)}))


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory, real_book):
    """The uploaded file, and the canonical frame ``load_log`` reads from it."""
    from workbench.io.traffic import load_log
    path = tmp_path_factory.mktemp("log") / "helpdesk.csv"
    path.write_bytes(log_csv(240, bad_lines=2))
    return path, load_log(path, book=real_book).frame


def test_cache_replay_on_an_uploaded_log(server, browser_context, screenshot, uploaded, real_book):
    from workbench.core.cache import CacheConfig, replay_cache
    path, frame = uploaded
    want = replay_cache(frame, CacheConfig(kind="exact", ttl_s=3600), real_book).summary
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1024, "height": 900})
    net = NetworkRecorder(page)
    page.goto(server.app_url("cache_replay", "kind=exact&ttl=3600"))
    wait_rendered(page, ".wb-cache-replay", 120_000)
    hits = page.locator("[data-testid='hits']")
    expect(hits).not_to_have_text("", timeout=60_000)
    week = hits.inner_text()
    expect(page.locator("[data-testid='log-source']")).to_contain_text("Sample week")
    buttons_in_view(page)
    upload(page, BUTTON, [{"name": "helpdesk.csv", "mimeType": "text/csv", "buffer": path.read_bytes()}])
    expect(page.locator("[data-testid='log-source']")).to_contain_text("Uploaded helpdesk.csv", timeout=60_000)
    expect(hits).to_have_text(f"{want['cache_hits']:,}")
    assert week != f"{want['cache_hits']:,}"
    assert float(page.locator("[data-testid='saved']").get_attribute("data-value")) == pytest.approx(want["saved_usd"])
    expect(page.locator("[data-testid='log-rejected']")).to_have_text("2")
    expect(page.locator(".wb-log-report")).to_contain_text("helpdesk.csv:242: input_tokens")
    page.wait_for_selector(".wb-chart-hits svg .mark-line path", state="attached", timeout=60_000)
    screenshot(page, "cache_replay-uploaded-log")
    # a log without prompt text: a message naming it, and the figures stay
    no_prompts = log_csv(20).replace(b"reset my password", b"").replace(b"refund policy", b"") \
        .replace(b"track order 17", b"").replace(b"cancel order", b"")
    upload(page, BUTTON, [{"name": "tokens_only.csv", "mimeType": "text/csv", "buffer": no_prompts}])
    expect(page.locator("[data-testid='error-load']")).to_contain_text("tokens_only.csv: no row has 'prompt'")
    expect(hits).to_have_text(f"{want['cache_hits']:,}")
    net.assert_offline()
    page.close()


def test_cascade_projected_onto_an_uploaded_log(server, browser_context, screenshot, uploaded, real_book):
    from workbench.core.cascade.traffic import TrafficProjection
    from workbench.widgets.cascade import _usd
    path, frame = uploaded
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1024, "height": 900})
    net = NetworkRecorder(page)
    page.goto(server.app_url("cascade_simulator", "dataset=routellm-gsm8k&signal=rules&index=0"))
    wait_rendered(page, ".wb-frontier", 180_000)
    expect(page.locator("[data-testid='escalation']")).to_have_text("0.0%")     # index 0: nobody escalates
    month = page.locator("[data-testid='traffic-month']")
    expect(month).not_to_have_text("", timeout=60_000)
    week = month.inner_text()
    buttons_in_view(page)
    upload(page, BUTTON, [{"name": "helpdesk.csv", "mimeType": "text/csv", "buffer": path.read_bytes()}])
    expect(page.locator("[data-testid='log-source']")).to_contain_text("Uploaded helpdesk.csv", timeout=60_000)
    want = TrafficProjection(frame, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1").at(0.0)
    expect(month).to_have_text(_usd(abs(want["saved_usd_per_month"])))
    assert week != _usd(abs(want["saved_usd_per_month"]))
    expect(page.locator("[data-testid='traffic-day']")).to_have_text(_usd(abs(want["saved_usd_per_day"])))
    expect(page.locator(".wb-traffic-table")).to_contain_text("search")         # the uploaded log's feature
    expect(page.locator("[data-testid='log-rejected']")).to_have_text("2")
    screenshot(page, "cascade-uploaded-log")
    net.assert_offline()
    page.close()
