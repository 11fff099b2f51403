"""The local-vs-hosted Voila app in headless Chromium, run against the real local llama.cpp server."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from workbench.bench.local_server import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "apps" / "local_vs_hosted.ipynb"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is required for the browser tests (apt-get install chromium)", pytrace=False)


def _wait_port(port: int, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)  # polling interval, bounded by the deadline
    raise RuntimeError(f"voila did not listen on {port} within {timeout_s} s")


@pytest.fixture(scope="module")
def voila_app():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_BENCH_BASE_URL", "WORKBENCH_BENCH_MODEL")}
    log = open(ARTIFACTS.mkdir(exist_ok=True) or ARTIFACTS / "voila-local-vs-hosted.log", "wb")
    # `workbench app NAME` serves one app the way users get it: offline template, same-origin CSP.
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "app", NOTEBOOK.stem, "--port", str(port), "--no-browser"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, 60)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="module")
def page(voila_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1800})
        pg.requested_hosts = set()
        pg.requested_urls = []
        pg.on("request", lambda req: (pg.requested_hosts.add(urlsplit(req.url).hostname), pg.requested_urls.append(req.url)))
        pg.goto(voila_app, timeout=120_000, wait_until="domcontentloaded")
        pg.get_by_role("button", name="Run benchmark").wait_for(timeout=120_000)
        try:
            yield pg
        finally:
            browser.close()


def _input(page, label: str):
    return page.locator(".widget-inline-hbox", has=page.locator("label", has_text=re.compile(f"^{re.escape(label)}$"))
                        ).locator("input").first


def test_app_shows_the_recorded_sample_without_a_server(page):
    page.locator(".lvh-source", has_text="openai-llamacpp-smollm2-135m.json").wait_for(timeout=30_000)
    assert page.locator("table.lvh-summary tr").count() == 4  # header + c1, c2, c4
    page.locator(".lvh-usd-out").wait_for(timeout=30_000)
    # the offline charts rendered: latency, throughput, break-even
    page.wait_for_function("document.querySelectorAll('.vega-embed').length >= 3", timeout=60_000)
    assert "not comparable" in page.content()
    # everything, vega included, came from the local Voila server: no CDN
    assert page.requested_hosts <= {"127.0.0.1", None}, [u for u in page.requested_urls if "127.0.0.1" not in u]


def test_hardware_price_control_updates_the_cost(page):
    before = page.locator(".lvh-usd-out").inner_text()
    field = _input(page, "hardware $/hour")
    field.fill("3.5")
    field.press("Enter")
    page.wait_for_function(
        "b => document.querySelector('.lvh-usd-out') && document.querySelector('.lvh-usd-out').innerText !== b",
        arg=before, timeout=30_000)
    assert "$3.5/hour" in page.locator(".lvh-cost").inner_text()


def test_run_button_benchmarks_the_real_server(page, llama_server):
    _input(page, "base URL").fill(llama_server.base_url)
    _input(page, "model").fill(llama_server.alias)
    _input(page, "concurrency levels").fill("1,2")
    _input(page, "requests / level").fill("2")
    _input(page, "requests / level").press("Enter")
    _input(page, "max output tokens").fill("4")
    _input(page, "max output tokens").press("Enter")
    page.get_by_role("button", name="Run benchmark").click()
    page.locator(".lvh-status", has_text="done:").wait_for(timeout=180_000)
    status = page.locator(".lvh-status").inner_text()
    assert "4 requests, 0 errors" in status, status
    page.locator(".lvh-source", has_text="live run").wait_for(timeout=30_000)
    assert llama_server.base_url in page.locator(".lvh-source").inner_text()
    assert page.locator("table.lvh-summary tr").count() == 3  # header + c1, c2
    page.screenshot(path=str(ARTIFACTS / "local_vs_hosted.png"), full_page=True)
