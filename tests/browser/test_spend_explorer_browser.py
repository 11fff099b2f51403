"""The spend & budget explorer in headless Chromium, served by `workbench app` (see conftest.py).

Numbers on the page are compared with :mod:`workbench.core.attribution` (and the replay engine)
computed here on the same sample week.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import pytest
from playwright.sync_api import expect

from workbench.core import attribution as attr
from workbench.core.frame_cost import price_frame
from workbench.widgets._html import usd

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
APP = ".wb-spend-explorer [data-testid='kpis']"
POLICIES = [{"policy": "batch", "features": ["nightly_summary"]}, {"policy": "output_cap", "max_output_tokens": 512}]


@pytest.fixture(scope="module")
def sample(real_book) -> pd.DataFrame:
    return price_frame(pd.read_parquet(ROOT / "sample_data" / "requests.parquet"), real_book)


def upload(page, files) -> None:
    """Choose ``files`` in the upload button's file dialog (its input is not in the DOM)."""
    with page.expect_file_chooser() as chooser:
        page.locator(".wb-upload").click()
    chooser.value.set_files(files)


def charts_rendered(page, css: str) -> None:
    expect(page.locator(f"{css} svg, {css} canvas").first).to_be_visible()


def test_dashboard_shows_the_attribution(open_app, screenshot, assert_offline, sample, network):
    page = open_app("spend_explorer", wait_for=APP)
    totals = attr.totals(sample)
    expect(page.locator("[data-testid='kpi-spend']")).to_have_text(usd(totals["spend_usd"]))
    expect(page.locator("[data-testid='kpi-requests']")).to_have_text(f"{totals['requests']:,}")
    expect(page.locator("[data-testid='kpi-amplification']")).to_have_text(f"{totals['retry_amplification']:.3f}×")
    expect(page.locator("[data-testid='kpi-cost-per-success']")).to_have_text(usd(totals["cost_per_success_usd"]))

    # yesterday = the log's last day, by feature and by tenant, against the previous 7 days
    yday = attr.day_summary(sample, by="feature").set_index("feature")
    expect(page.locator("[data-testid='yesterday-spend']")).to_have_text(
        usd(attr.day_summary(sample, by=()).iloc[0]["spend_usd"]))
    rag = page.locator("[data-testid='yday-feature-rag_answer']")
    expect(rag.locator("[data-testid='spend']")).to_have_text(usd(yday.loc["rag_answer", "spend_usd"]))
    expect(rag.locator("[data-testid='flag']")).to_be_visible()
    ytenant = attr.day_summary(sample, by="tenant").set_index("tenant")
    expect(page.locator("[data-testid='yday-tenant-initech'] [data-testid='spend']")).to_have_text(
        usd(ytenant.loc["initech", "spend_usd"]))

    # anomaly flags and the attribution table
    flags = attr.anomalies(sample, by="feature")
    hit = flags[flags["anomaly"]].iloc[0]
    row = page.locator("[data-testid='flag-feature-rag_answer']")
    expect(row).to_contain_text(f"{hit['ratio']:.2f}×")
    expect(row).to_contain_text(usd(hit["spend_usd"]))
    by_feature = attr.spend_by(sample, by="feature", period=None).set_index("feature")
    for feature, r in by_feature.iterrows():
        cells = page.locator(f"[data-testid='attr-{feature}']")
        expect(cells.locator("[data-testid='spend']")).to_have_text(usd(r["spend_usd"]))
        expect(cells.locator("[data-testid='amp']")).to_have_text(f"{r['retry_amplification']:.3f}")
        expect(cells.locator("[data-testid='cps']")).to_have_text(usd(r["cost_per_success_usd"]))

    for css in (".wb-chart-days", ".wb-chart-tenants", ".wb-chart-models", ".wb-chart-waterfall",
                ".wb-chart-timeline"):
        charts_rendered(page, css)
    bundles = [u for u in network(page).requests if "/workbench/static/jupyterchart-offline-" in u]
    assert len(bundles) == 1, bundles  # five charts, one Vega bundle fetched (issue 13: first render)
    screenshot(page, "spend_explorer-default")
    assert "Traceback" not in page.content()
    assert_offline(page)


def test_filters_change_the_numbers(open_app, screenshot, assert_offline, sample):
    page = open_app("spend_explorer", query="start=2025-11-06", wait_for=APP)
    page.locator(".wb-tenant select").select_option("initech")
    view = sample[(sample["tenant"] == "initech") & (sample["ts"] >= pd.Timestamp("2025-11-06", tz="UTC"))]
    t = attr.totals(view)
    expect(page.locator("[data-testid='kpi-spend']")).to_have_text(usd(t["spend_usd"]))
    expect(page.locator("[data-testid='kpi-requests']")).to_have_text(f"{t['requests']:,}")
    page.locator(".wb-breakdown").get_by_role("button", name="Model").click()
    by_model = attr.spend_by(view, by="model", period=None).set_index("model")
    model = by_model["spend_usd"].idxmax()
    expect(page.locator(f"[data-testid='attr-{model}'] [data-testid='spend']")).to_have_text(
        usd(by_model.loc[model, "spend_usd"]))
    charts_rendered(page, ".wb-chart-days")
    screenshot(page, "spend_explorer-initech")
    assert_offline(page)


def test_policy_stack_updates_waterfall_and_timeline(open_app, screenshot, assert_offline, sample, real_book):
    from workbench.core.replay import replay

    query = urlencode({"policies": json.dumps(POLICIES)})
    page = open_app("spend_explorer", query=query, wait_for=APP)
    cards = page.locator(".wb-policy-card")
    expect(cards).to_have_count(2)
    log = sample.drop(columns=["input_usd", "cached_input_usd", "cache_write_usd", "output_usd", "cost_usd"])
    expected = replay(log, POLICIES, real_book, bootstrap=0)
    expect(page.locator("[data-testid='replay-baseline']")).to_have_text(usd(expected.baseline_usd))
    expect(page.locator("[data-testid='replay-replayed']")).to_have_text(usd(expected.replayed_usd))
    charts_rendered(page, ".wb-chart-waterfall")
    charts_rendered(page, ".wb-chart-timeline")

    # add a daily budget from the controls: the summary and the charts follow
    page.locator(".wb-add-policy-name select").select_option("daily_budget")
    page.locator(".wb-add-policy").click()
    expect(cards).to_have_count(3)
    before = usd(expected.replayed_usd)
    expect(page.locator("[data-testid='replay-replayed']")).not_to_have_text(before)
    expect(page.locator("[data-testid='replay-summary']")).to_contain_text("hard stop")
    cap = page.locator(".wb-policy-daily_budget .wb-param-usd input")
    cap.fill("20")
    cap.press("Enter")
    with_cap = replay(log, POLICIES + [{"policy": "daily_budget", "usd": 20.0}], real_book, bootstrap=0)
    expect(page.locator("[data-testid='replay-replayed']")).to_have_text(usd(with_cap.replayed_usd))
    expect(page.locator(".wb-chart-timeline svg")).to_contain_text("daily cap $20.00")
    expect(page.locator(".wb-chart-waterfall svg")).to_contain_text("3. daily_budget")
    screenshot(page, "spend_explorer-policies")
    assert_offline(page)


def test_upload_a_log(open_app, screenshot, assert_offline, real_book):
    page = open_app("spend_explorer", wait_for=APP)
    preview = ROOT / "sample_data" / "requests_preview.csv"
    upload(page, str(preview))
    expect(page.locator("[data-testid='source']")).to_contain_text("Uploaded requests_preview.csv")
    from workbench.io.traffic import load_log

    frame = price_frame(load_log(preview, book=real_book).frame, real_book)
    expect(page.locator("[data-testid='kpi-spend']")).to_have_text(usd(attr.totals(frame)["spend_usd"]))
    upload(page, [{"name": "junk.parquet", "mimeType": "application/octet-stream", "buffer": b"not parquet"}])
    expect(page.locator("[data-testid='error-load']")).to_contain_text("junk.parquet")
    expect(page.locator("[data-testid='kpi-spend']")).to_have_text(usd(attr.totals(frame)["spend_usd"]))
    screenshot(page, "spend_explorer-upload")
    assert_offline(page)


def _big_jsonl(path: Path, target_bytes: int) -> int:
    """A valid OpenAI-style JSONL log of about ``target_bytes``: the fixture's lines, new ids."""
    lines = (ROOT / "tests" / "fixtures" / "logs" / "openai_chat.jsonl").read_text().splitlines()
    rows = []
    for x in lines:
        try:
            r = json.loads(x)
        except ValueError:
            continue  # the fixture has bad lines on purpose
        if isinstance(r.get("response"), dict) and r["response"].get("usage"):
            rows.append(r)
    n = 0
    with open(path, "w") as f:
        while f.tell() < target_bytes:
            r = dict(rows[n % len(rows)], request_id=f"big-{n:07d}")
            f.write(json.dumps(r) + "\n")
            n += 1
    return n


def test_uploads_over_ten_megabytes_load_and_never_break_the_next(open_app, assert_offline, tmp_path):
    """Issue 13 item 1: a 12 MB log (over tornado's 10 MiB websocket message) loads with progress,
    a file over the app's limit gets a message naming it, and the next upload still works."""
    page = open_app("spend_explorer", wait_for=APP)
    big = tmp_path / "big.jsonl"
    _big_jsonl(big, 12 * 2**20)
    from workbench.io.traffic import load_log

    rows = len(load_log(big).frame)
    upload(page, str(big))
    expect(page.locator("[data-testid='progress-label']")).to_contain_text("big.jsonl", timeout=30_000)
    expect(page.locator("[data-testid='source']")).to_contain_text("Uploaded big.jsonl", timeout=120_000)
    expect(page.locator("[data-testid='kpi-requests']")).to_have_text(f"{rows:,}")
    expect(page.locator(".wb-progress")).to_be_hidden()
    huge = tmp_path / "huge.jsonl"
    huge.write_bytes(b" " * 50_000_001)
    upload(page, str(huge))
    expect(page.locator("[data-testid='error-load']")).to_contain_text("huge.jsonl: 50,000,001 bytes is over")
    upload(page, str(ROOT / "sample_data" / "requests_preview.csv"))
    expect(page.locator("[data-testid='source']")).to_contain_text("Uploaded requests_preview.csv")
    expect(page.locator("[data-testid='error-load']")).to_have_count(0)
    assert_offline(page)
