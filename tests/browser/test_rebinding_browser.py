"""Issue 9.1: DNS rebinding. Chromium resolves ``evil.test`` (an attacker's name) to 127.0.0.1, as
it would after a rebinding attack; the app server refuses the page and the kernel websocket, while
its own loopback page and a name allowed with ``--allow-host`` keep working."""
from __future__ import annotations

import re

import pytest
from voila_harness import CHROMIUM, CHROMIUM_ARGS, VoilaServer, running, wait_rendered

WS_PROBE = """url => new Promise(done => {
  const ws = new WebSocket(url);
  const t = setTimeout(() => done('timeout'), 15000);
  ws.onopen = () => { clearTimeout(t); ws.close(); done('open'); };
  ws.onerror = () => { clearTimeout(t); done('refused'); };
})"""


@pytest.fixture(scope="module")
def guarded_server():
    yield from running(VoilaServer("token_counter", args=("--allow-host", "trusted.test")))


@pytest.mark.browser
def test_rebinding_page_and_kernel_websocket_are_refused(guarded_server, playwright_session, tmp_path):
    port = guarded_server.port
    rules = "--host-resolver-rules=MAP evil.test 127.0.0.1, MAP trusted.test 127.0.0.1"
    # Chromium's own private-network checks off: the server alone must refuse.
    no_pna = "--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessRespectPreflightResults"
    p = playwright_session
    # A browser of its own: the host-resolver rules are launch arguments.
    ctx = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                               headless=True, args=[*CHROMIUM_ARGS, rules, no_pna])
    try:
        ctx.set_default_timeout(60_000)
        own = ctx.new_page()
        own.goto(guarded_server.app_url("token_counter"), wait_until="domcontentloaded")
        wait_rendered(own, ".jupyter-widgets", 60_000)
        kernel = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', own.content())
        assert kernel, "no kernel id in the app page"
        channels = f"/api/kernels/{kernel.group(1)}/channels"
        # Control: the server's own page opens the kernel websocket.
        assert own.evaluate(WS_PROBE, f"ws://127.0.0.1:{port}{channels}") == "open"

        evil = ctx.new_page()
        resp = evil.goto(f"http://evil.test:{port}/", wait_until="domcontentloaded")
        assert resp.status == 403  # the app page (and a kernel) is never handed out
        # Scripts running on origin http://evil.test:PORT, its name now pointing at 127.0.0.1.
        assert evil.evaluate("location.origin") == f"http://evil.test:{port}"
        assert evil.evaluate(WS_PROBE, f"ws://evil.test:{port}{channels}") == "refused"
        assert evil.evaluate(WS_PROBE, f"ws://127.0.0.1:{port}{channels}") == "refused"  # Origin evil.test
        status = evil.evaluate(f"fetch('/api/kernels/{kernel.group(1)}').then(r => r.status)")
        assert status == 403

        trusted = ctx.new_page()
        assert trusted.goto(f"http://trusted.test:{port}/voila/static/voila.js").status == 200
    finally:
        ctx.close()
    assert "refused" in guarded_server.log_tail(200) and "evil.test" in guarded_server.log_tail(200)
